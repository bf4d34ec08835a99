//! The footer: the filter prompt or the applied filter, and the keys of the current mode.

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Position, Rect},
    text::{Line, Span},
    widgets::Paragraph,
};

use crate::{
    app::{App, Mode},
    keymap,
    theme::Theme,
};

/// What an empty filter prompt suggests typing.
const PROMPT_HINT: &str = "  e.g. dev:05.0 role:irq pid:1234 comm:aplay -role:work";

/// Draws the filter state on the left and the key help on the right.
pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let help = key_help(app.mode(), theme);
    let width = u16::try_from(help.width()).unwrap_or(u16::MAX);
    let [status_area, help_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(width)]).areas(area);

    let status = match app.mode() {
        Mode::Filter => {
            let prompt = format!("/{}", app.input());
            let end = u16::try_from(prompt.chars().count()).unwrap_or(u16::MAX);
            if end < status_area.width {
                frame.set_cursor_position(Position::new(status_area.x + end, status_area.y));
            }
            let mut spans = vec![Span::styled(prompt, theme.filter)];
            if let Some(error) = app.filter_error() {
                spans.push(Span::styled(format!("  {error}"), theme.warning));
            } else if app.input().is_empty() {
                spans.push(Span::styled(PROMPT_HINT, theme.dim));
            }
            Line::from(spans)
        }
        Mode::List | Mode::Help if !app.filter().is_empty() => Line::from(vec![
            Span::styled("filter: ", theme.dim),
            Span::styled(app.filter(), theme.filter),
        ]),
        Mode::List | Mode::Help | Mode::Evidence | Mode::Probes => Line::default(),
    };
    frame.render_widget(Paragraph::new(status), status_area);
    frame.render_widget(Paragraph::new(help), help_area);
}

/// `key description` for each binding of `mode` that has a footer description.
fn key_help(mode: Mode, theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for binding in keymap::bindings_in(mode) {
        let (Some(description), Some(key)) = (binding.footer, binding.keys.first()) else {
            continue;
        };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(key.label(), theme.key));
        spans.push(Span::styled(format!(" {description}"), theme.dim));
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}
