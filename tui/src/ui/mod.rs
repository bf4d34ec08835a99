//! Drawing: turns an [`App`] into a frame and nothing else.
//!
//! The screen is a stack of components, each in its own module with a `render`
//! function that reads the state and draws into its area: the [`header`] line, the
//! [`event_list`], the [`footer`] and, on top when asked for, the [`help`] overlay.
//! New panes slot into [`layout`] without touching the others.

mod event_list;
mod footer;
mod header;
mod help;

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
};

use crate::{
    app::{App, Mode},
    theme::Theme,
};

/// Draws the whole screen for the current state.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let [header_area, list_area, footer_area] = layout(frame.area());
    header::render(frame, header_area, app, theme);
    event_list::render(frame, list_area, app, theme);
    footer::render(frame, footer_area, app, theme);
    if app.mode() == Mode::Help {
        help::render(frame, frame.area(), theme);
    }
}

/// How many events the list shows on a screen of this size, so that paging and
/// scrolling in the state move by what the user actually sees.
pub fn list_rows(screen: Rect) -> usize {
    let [_, list_area, _] = layout(screen);
    usize::from(event_list::rows(list_area))
}

/// Splits the screen into header, event list and footer.
fn layout(screen: Rect) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(screen)
}

/// `text` cut to `width` columns, ending in `…` when it was cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        cut.push('…');
    }
    cut
}
