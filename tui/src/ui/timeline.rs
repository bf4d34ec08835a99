//! The timeline: one lane per device on a shared time axis. Quiesce windows are
//! `▒`, unmap windows `█`, violations `!`; the device's events are marks drawn
//! over them (`u` unmap, `m` map, `c` ioctl, `w` the driver's work, `I`
//! interrupt, `·` accessor or other; when several share a column the rarer wins).
//! The cursor is a `│` whose time, and the windows of the cycle under it, are
//! written below the lanes.

use barwatch::{
    analysis::Judgement,
    event::{Event, EventData},
    probe_table::MappingOp,
    time::human_duration,
    timeline::{DeviceTimeline, Window, probes::ProbeIndex},
};
use ratatui::{
    Frame,
    layout::Rect,
    style::Style,
    text::{Line, Span},
    widgets::{Block, Paragraph},
};

use super::short_bdf;
use crate::{app::App, theme::Theme};

/// Columns of a lane's label: a short PCI address and a space.
const LABEL: usize = 8;

/// Draws the lanes, the axis and the cursor's details.
pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let (start, end) = app.view();
    let judgement = app.judgement();
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(" Timeline ", theme.header))
        .title_top(
            Line::from(format!(
                " {} – {} ",
                super::at(app, start),
                super::at(app, end)
            ))
            .right_aligned(),
        );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if judgement.devices.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("No watched device to draw.", theme.dim)).centered(),
            inner,
        );
        return;
    }
    let width = usize::from(inner.width).saturating_sub(LABEL).max(1);
    let scale = Scale { start, end, width };
    let cursor = scale.column(app.cursor_ns());
    let mut lines = vec![axis(&scale, app, theme)];
    let marks = app.timeline_marks(scale.width, || marks(app, &judgement.devices, &scale));
    for (device, marks) in judgement.devices.iter().zip(&marks) {
        lines.push(lane(device, marks, app, &scale, cursor, theme));
    }
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled("cursor ", theme.dim),
        Span::styled(super::at(app, app.cursor_ns()), theme.time),
    ]));
    for device in &judgement.devices {
        if let Some(text) = under_cursor(device, app.cursor_ns(), judgement) {
            lines.push(Line::raw(format!("{} {text}", short_bdf(&device.bdf))));
        }
    }
    lines.push(Line::from(vec![
        Span::styled("▒", theme.filter),
        Span::styled(" quiesce  ", theme.dim),
        Span::styled("█", theme.warning),
        Span::styled(" unmap  ", theme.dim),
        Span::styled("!", theme.warning),
        Span::styled(
            " violation  u/m un/map  c ioctl  w work  I irq  · access",
            theme.dim,
        ),
    ]));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Maps times in the view to lane columns.
struct Scale {
    start: u64,
    end: u64,
    width: usize,
}

impl Scale {
    /// The column of `ts_ns`, if it is in view.
    fn column(&self, ts_ns: u64) -> Option<usize> {
        if ts_ns < self.start || ts_ns > self.end {
            return None;
        }
        let offset = u128::from(ts_ns - self.start) * self.width as u128;
        let span = u128::from((self.end - self.start).max(1));
        Some(((offset / span) as usize).min(self.width - 1))
    }

    /// The time span column `col` covers.
    fn bucket(&self, col: usize) -> (u64, u64) {
        let span = (self.end - self.start).max(1) as u128;
        let at = |c: usize| self.start + (span * c as u128 / self.width as u128) as u64;
        (at(col), at(col + 1))
    }
}

/// The axis: the view's start, middle and end times.
fn axis(scale: &Scale, app: &App, theme: &Theme) -> Line<'static> {
    let mut text = vec![' '; LABEL + scale.width];
    let mid = scale.start + (scale.end - scale.start) / 2;
    let labels = [
        (0, super::at(app, scale.start)),
        (scale.width / 2, super::at(app, mid)),
    ];
    for (col, label) in labels {
        for (i, c) in label.chars().enumerate() {
            if let Some(slot) = text.get_mut(LABEL + col + i) {
                *slot = c;
            }
        }
    }
    Line::styled(text.into_iter().collect::<String>(), theme.dim)
}

/// Each device's marks by column, from one pass over the events: the mark of
/// the rarest event there, with its rank (0: none).
fn marks(app: &App, devices: &[DeviceTimeline], scale: &Scale) -> Vec<Vec<(char, u8)>> {
    let mut marks = vec![vec![(' ', 0); scale.width]; devices.len()];
    let judgement = app.judgement();
    let probes = ProbeIndex::new(app.probe_table());
    for event in app.events_in((scale.start, scale.end)) {
        let Some(col) = scale.column(event.ts_ns) else {
            continue;
        };
        let Some(lane) = judgement
            .device_of(&event)
            .and_then(|bdf| devices.iter().position(|d| d.bdf == bdf))
        else {
            continue;
        };
        let (mark, rank) = mark_of(&event, &probes);
        if rank > marks[lane][col].1 {
            marks[lane][col] = (mark, rank);
        }
    }
    marks
}

/// One device's lane: its windows, then its events' `marks` over them (a mark
/// in a window keeps the window's style, so what ran there stands out), then its
/// violations and the cursor.
fn lane(
    device: &DeviceTimeline,
    marks: &[(char, u8)],
    app: &App,
    scale: &Scale,
    cursor: Option<usize>,
    theme: &Theme,
) -> Line<'static> {
    let mut cells: Vec<(char, Style)> = vec![(' ', Style::default()); scale.width];
    let mut windows: Vec<Option<Style>> = vec![None; scale.width];
    for cycle in device.outlines() {
        let quiesce = ('▒', theme.filter);
        let unmap = ('█', theme.warning);
        paint(&mut cells, &mut windows, scale, cycle.quiesce, quiesce);
        paint(&mut cells, &mut windows, scale, cycle.unmap, unmap);
    }
    for (col, &(mark, rank)) in marks.iter().enumerate() {
        if rank > 0 {
            cells[col] = (mark, windows[col].unwrap_or(theme.dim));
        }
    }
    for (_, v) in app.violations() {
        if v.device == device.bdf
            && let Some(col) = scale.column(v.ts_ns)
        {
            cells[col] = ('!', theme.warning);
        }
    }
    if let Some(col) = cursor {
        let (c, style) = cells[col];
        cells[col] = if c == ' ' {
            ('│', theme.time)
        } else {
            (c, style.patch(theme.selected))
        };
    }
    let mut spans = vec![Span::styled(
        format!("{:<LABEL$}", short_bdf(&device.bdf)),
        theme.column_titles,
    )];
    spans.extend(
        cells
            .into_iter()
            .map(|(c, style)| Span::styled(c.to_string(), style)),
    );
    Line::from(spans)
}

/// The mark for an event, and its rank: rarer, more telling events win a column.
fn mark_of(event: &Event, probes: &ProbeIndex) -> (char, u8) {
    let mapping = || probes.mapping(&event.probe);
    match &event.data {
        EventData::FuncEntry { .. } if mapping() == Some(MappingOp::Unmap) => ('u', 6),
        EventData::FuncExit { .. } if mapping() == Some(MappingOp::MapReturn) => ('m', 5),
        EventData::IoctlEnter { .. } | EventData::IoctlExit { .. } => ('c', 4),
        EventData::WorkStart { .. } | EventData::WorkEnd { .. } => ('w', 3),
        EventData::IrqHandlerEntry { .. } | EventData::IrqHandlerExit { .. } => ('I', 2),
        _ => ('·', 1),
    }
}

/// Fills the columns a window covers (to the view's end while it is open) with
/// its mark, and notes its style for the marks drawn over it.
fn paint(
    cells: &mut [(char, Style)],
    windows: &mut [Option<Style>],
    scale: &Scale,
    window: Option<Window>,
    mark: (char, Style),
) {
    let Some(window) = window else { return };
    let end = window.end_ns.unwrap_or(scale.end).max(window.start_ns + 1);
    for (col, (cell, style)) in cells.iter_mut().zip(windows.iter_mut()).enumerate() {
        let (from, to) = scale.bucket(col);
        if from < end && to > window.start_ns {
            *cell = mark;
            *style = Some(mark.1);
        }
    }
}

/// What the device's cycle under the cursor is: its windows' lengths.
fn under_cursor(device: &DeviceTimeline, ts_ns: u64, judgement: &Judgement) -> Option<String> {
    let cycle = device.outline_at(ts_ns)?;
    let trigger = cycle
        .trigger
        .map_or_else(|| "trigger unknown".to_owned(), |t| t.to_string());
    let mut text = format!("cycle {} ({trigger})", cycle.number);
    for (name, window) in [("quiesce", cycle.quiesce), ("unmap", cycle.unmap)] {
        if let Some(w) = window {
            text.push_str(&format!(
                ", {name} {}",
                human_duration(w.length_ns(judgement.end_ns))
            ));
        }
    }
    Some(text)
}
