//! Drawing: turns an [`App`] into a frame and nothing else.
//!
//! The screen is a stack of components, each in its own module with a `render`
//! function that reads the state and draws into its area: the [`header`] line, the
//! [`tabs`], the current screen ([`event_list`], [`devices`], [`timeline`] or
//! [`violations`]),
//! the [`footer`] and, on top when asked for, the [`evidence`] or [`help`] overlay.
//! New panes slot into [`layout`] without touching the others.

mod devices;
mod event_list;
mod evidence;
mod footer;
mod header;
mod help;
mod probes;
mod tabs;
mod timeline;
mod violations;

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
};

use crate::{
    app::{App, Mode, Screen},
    theme::Theme,
};

/// Draws the whole screen for the current state.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let [header_area, tabs_area, list_area, footer_area] = layout(frame.area());
    header::render(frame, header_area, app, theme);
    tabs::render(frame, tabs_area, app, theme);
    match app.screen() {
        Screen::Events => event_list::render(frame, list_area, app, theme),
        Screen::Devices => devices::render(frame, list_area, app, theme),
        Screen::Timeline => timeline::render(frame, list_area, app, theme),
        Screen::Violations => violations::render(frame, list_area, app, theme),
    }
    match app.mode() {
        Mode::Evidence => evidence::render(frame, list_area, app, theme),
        Mode::Probes => probes::render(frame, list_area, app, theme),
        Mode::List | Mode::Filter | Mode::Help => {}
    }
    footer::render(frame, footer_area, app, theme);
    if app.mode() == Mode::Help {
        help::render(frame, frame.area(), theme);
    }
}

/// How many events the list shows on a screen of this size, so that paging and
/// scrolling in the state move by what the user actually sees.
pub fn list_rows(screen: Rect) -> usize {
    let [_, _, list_area, _] = layout(screen);
    usize::from(event_list::rows(list_area).min(violations::rows(list_area)))
}

/// Splits the screen into header, tab bar, the current screen and footer.
fn layout(screen: Rect) -> [Rect; 4] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(screen)
}

/// A time as every screen shows it: from the capture's start, to the microsecond.
fn at(app: &App, ts_ns: u64) -> String {
    barwatch::time::since_start_micros(ts_ns, app.started_ns())
}

/// A PCI address as lspci prints it: without the domain when it is 0000.
fn short_bdf(bdf: &str) -> &str {
    bdf.strip_prefix("0000:").unwrap_or(bdf)
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
