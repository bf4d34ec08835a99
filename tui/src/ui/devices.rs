//! The devices screen: each watched PCI device with its state now, BAR0 before and
//! after it moved, its cycles and how many violations it has. Enter on one shows
//! its events.

use barwatch::timeline::{DeviceTimeline, State};
use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    style::Style,
    text::Span,
    widgets::{Block, Cell, Paragraph, Row, Table},
};

use super::short_bdf;
use crate::{app::App, theme::Theme};

/// Draws the device table.
pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(" Devices ", theme.header));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let devices = &app.judgement().devices;
    if devices.is_empty() {
        let message = "No watched device: start barwatch with --device or a profile's driver.";
        frame.render_widget(
            Paragraph::new(Span::styled(message, theme.dim)).centered(),
            inner,
        );
        return;
    }
    let titles = [
        "DEVICE",
        "DRIVER",
        "CARD",
        "STATE",
        "BAR0",
        "CYCLES",
        "VIOLATIONS",
    ];
    let header = Row::new(titles.map(|t| Cell::from(Span::styled(t, theme.column_titles))));
    let violations = app.violations();
    // What the fixed columns and the spaces between the seven leave to BAR0.
    let bar0_width = usize::from(inner.width).saturating_sub(7 + 16 + 4 + 9 + 6 + 10 + 6);
    let rows = devices.iter().enumerate().map(|(i, d)| {
        let count = violations.iter().filter(|(_, v)| v.device == d.bdf).count();
        let counted = if count == 0 {
            Span::styled("0", theme.dim)
        } else {
            Span::styled(count.to_string(), theme.warning)
        };
        Row::new(vec![
            Cell::from(short_bdf(&d.bdf).to_owned()),
            Cell::from(d.driver.clone().unwrap_or_else(|| "-".into())),
            Cell::from(cards(app, &d.bdf)),
            Cell::from(Span::styled(
                d.state.to_string(),
                state_style(d.state, theme),
            )),
            Cell::from(bar0(d, bar0_width)),
            Cell::from(d.cycle_count().to_string()),
            Cell::from(counted),
        ])
        .style(if app.device_position() == Some(i) {
            theme.selected
        } else {
            Style::default()
        })
    });
    let widths = [
        Constraint::Length(7),
        Constraint::Length(16),
        Constraint::Length(4),
        Constraint::Length(9),
        Constraint::Fill(1),
        Constraint::Length(6),
        Constraint::Length(10),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), inner);
}

/// The ALSA cards the device provided at the start (`0`, `0,1`), or `-`.
fn cards(app: &App, bdf: &str) -> String {
    let cards: Vec<String> = app
        .header()
        .devices
        .iter()
        .filter(|d| d.bdf == bdf)
        .flat_map(|d| d.cards.iter().map(u32::to_string))
        .collect();
    if cards.is_empty() {
        "-".to_owned()
    } else {
        cards.join(",")
    }
}

/// BAR0's start at the capture's start, and where it is now when it moved; in
/// `width` columns, the address now comes first.
fn bar0(d: &DeviceTimeline, width: usize) -> String {
    let bar0 = |bars: &[barwatch::event::BarRange]| {
        bars.iter()
            .find(|b| b.index == 0)
            .map(|b| b.start.to_string())
    };
    let first = d.bars.first().and_then(|(_, b)| bar0(b));
    let last = d.bars.last().and_then(|(_, b)| bar0(b));
    match (first, last) {
        (Some(first), Some(last)) if first != last => {
            let moved = format!("{first} → {last}");
            if moved.chars().count() <= width {
                moved
            } else {
                format!("{last} (moved)")
            }
        }
        (Some(first), _) => first,
        (None, Some(last)) => last,
        (None, None) => "-".to_owned(),
    }
}

/// Colour by how far from running the device is.
fn state_style(state: State, theme: &Theme) -> Style {
    match state {
        State::Active => Style::default(),
        State::Unbound | State::Removed => theme.dim,
        State::Quiescing | State::Unmapped | State::Remapped => theme.filter,
    }
}
