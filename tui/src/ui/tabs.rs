//! The tab bar: the screens Tab cycles through, the current one stressed and the
//! violations counted, with the capture's verdict on the right.

use barwatch::analysis::Outcome;
use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    text::{Line, Span},
    widgets::Paragraph,
};

use crate::{
    app::{App, Screen},
    theme::Theme,
};

/// Draws the tabs on the left and the verdict on the right.
pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = Vec::new();
    for screen in Screen::ALL {
        let mut title = format!(" {} ", screen.title());
        if screen == Screen::Violations {
            title = format!(" {} ({}) ", screen.title(), app.violation_count());
        }
        let style = if screen == app.screen() {
            theme.selected
        } else {
            theme.dim
        };
        spans.push(Span::styled(title, style));
        spans.push(Span::raw(" "));
    }
    let verdict = match app.judgement().outcome() {
        Outcome::Pass => Span::styled(" PASS ", theme.header),
        Outcome::Violation => Span::styled(" FAIL ", theme.warning),
        Outcome::Incomplete => Span::styled(" INCOMPLETE ", theme.warning),
    };
    let replay = if app.is_live() && app.is_paused() {
        Span::styled("‖ LIVE, paused ", theme.warning)
    } else if app.is_live() {
        Span::styled("● LIVE ", theme.warning)
    } else if app.playing() {
        Span::styled(format!("▶ ×{} ", app.speed()), theme.time)
    } else {
        Span::styled(format!("⏸ ×{} ", app.speed()), theme.dim)
    };
    let right = Line::from(vec![replay, verdict]);
    let width = u16::try_from(right.width()).unwrap_or(u16::MAX);
    let [tabs_area, verdict_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(width)]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs_area);
    frame.render_widget(Paragraph::new(right), verdict_area);
}
