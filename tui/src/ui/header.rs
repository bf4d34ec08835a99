//! The header line: which capture this is, where it was taken and how complete it is.

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    text::{Line, Span},
    widgets::Paragraph,
};

use crate::{app::App, theme::Theme};

/// Draws the file name on the left and the capture's facts on the right.
pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let header = app.header();
    let lost = app
        .lost()
        .map_or_else(|| "?".to_owned(), |lost| lost.to_string());
    let mut facts = vec![
        Span::raw(format!("kernel {}", header.kernel)),
        Span::styled(" · ", theme.dim),
        Span::raw(format!("host {}", header.hostname)),
        Span::styled(" · ", theme.dim),
        Span::raw(format!("{} events", app.total())),
        Span::styled(" · ", theme.dim),
        Span::raw(format!("lost {lost}")),
    ];
    if app.is_cut() {
        facts.push(Span::raw(" "));
        facts.push(Span::styled(" CUT: no trailer ", theme.warning));
    }
    let facts = Line::from(facts);
    let width = u16::try_from(facts.width()).unwrap_or(u16::MAX);
    let [file_area, facts_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(width)]).areas(area);
    let file = fit_tail(app.source(), usize::from(file_area.width.saturating_sub(1)));
    frame.render_widget(Paragraph::new(Span::styled(file, theme.header)), file_area);
    frame.render_widget(Paragraph::new(facts), facts_area);
}

/// `path` cut to `width` columns from the front, starting with `…` when it was cut:
/// the end of a path names the file.
fn fit_tail(path: &str, width: usize) -> String {
    let len = path.chars().count();
    if len <= width {
        return path.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    std::iter::once('…')
        .chain(path.chars().skip(len + 1 - width))
        .collect()
}
