//! The scrolling event list: one row per matching event, the selected one highlighted.

use barwatch::{event::Event, time::since_start_micros};
use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    text::{Line, Span},
    widgets::{Block, Cell, Paragraph, Row, Table},
};

use crate::{app::App, theme::Theme};

/// Column titles, in column order.
const TITLES: [&str; 6] = ["TIME", "CPU", "PID/TID", "COMM", "PROBE", "EVENT"];
/// The kernel keeps at most 15 characters of a command name.
const COMM_MAX: usize = 15;
/// The probe column never shrinks below this.
const PROBE_MIN: usize = 10;
/// The probe column gives way to keep at least this much room for the event text.
const EVENT_MIN: usize = 28;
/// Blank columns between table columns.
const SPACING: usize = 1;

/// How many event rows fit in the list's area: the borders and column titles take three.
pub(super) fn rows(area: Rect) -> u16 {
    area.height.saturating_sub(3)
}

/// Draws the bordered list with the selection position in its title.
pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(" Events ", theme.header))
        .title_top(Line::from(position(app)).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);

    if app.matching() == 0 {
        let message = if app.total() == 0 {
            "The capture has no events.".to_owned()
        } else {
            format!("No event matches \"{}\".", app.filter())
        };
        frame.render_widget(
            Paragraph::new(Span::styled(message, theme.dim)).centered(),
            inner,
        );
        return;
    }

    let widths = Widths::measure(app, usize::from(inner.width));
    let rows = app
        .window(usize::from(rows(area)))
        .into_iter()
        .map(|(selected, event)| {
            let row = widths.row(&event, app.started_ns(), theme);
            if selected {
                row.style(theme.selected)
            } else {
                row
            }
        });
    let table = Table::new(rows, widths.constraints())
        .header(Row::new(TITLES).style(theme.column_titles))
        .column_spacing(SPACING as u16);
    frame.render_widget(table, inner);
}

/// `3/40`, or `3/12 of 40` when a filter hides some events.
fn position(app: &App) -> String {
    let at = app.selected().map_or(0, |selected| selected + 1);
    if app.filter().is_empty() {
        format!(" {at}/{} ", app.total())
    } else {
        format!(" {at}/{} of {} ", app.matching(), app.total())
    }
}

/// The width of each fixed column, measured over the whole capture so that the
/// columns stay put while scrolling.
struct Widths {
    time: usize,
    cpu: usize,
    task: usize,
    comm: usize,
    probe: usize,
}

impl Widths {
    /// Measures every event, then narrows the probe column to leave the event text
    /// room on a `width`-column list.
    fn measure(app: &App, width: usize) -> Self {
        let widest = app.widest();
        let mut widths = Widths {
            time: [widest.first_ts_ns, widest.last_ts_ns]
                .map(|ts| since_start_micros(ts, app.started_ns()).len())
                .into_iter()
                .chain([TITLES[0].len()])
                .max()
                .unwrap_or(0),
            cpu: widest.cpu.max(TITLES[1].len()),
            task: widest.task.max(TITLES[2].len()),
            comm: widest.comm.max(TITLES[3].len()).min(COMM_MAX),
            probe: widest.probe.max(TITLES[4].len()),
        };
        let fixed = widths.time + widths.cpu + widths.task + widths.comm + SPACING * 5;
        let room = width.saturating_sub(fixed + EVENT_MIN).max(PROBE_MIN);
        widths.probe = widths.probe.min(room);
        widths
    }

    /// Column constraints: the fixed columns, then the event text taking the rest.
    fn constraints(&self) -> [Constraint; 6] {
        let length = |width: usize| Constraint::Length(u16::try_from(width).unwrap_or(u16::MAX));
        [
            length(self.time),
            length(self.cpu),
            length(self.task),
            length(self.comm),
            length(self.probe),
            Constraint::Fill(1),
        ]
    }

    /// One event as a table row.
    fn row(&self, event: &Event, started_ns: u64, theme: &Theme) -> Row<'static> {
        Row::new([
            Cell::from(Span::styled(
                format!(
                    "{:>width$}",
                    since_start_micros(event.ts_ns, started_ns),
                    width = self.time
                ),
                theme.time,
            )),
            Cell::from(format!("{:>width$}", event.cpu, width = self.cpu)),
            Cell::from(format!("{}/{}", event.pid, event.tid)),
            Cell::from(super::fit(&event.comm, self.comm)),
            Cell::from(Span::styled(
                super::fit(&event.probe, self.probe),
                theme.probe,
            )),
            Cell::from(event.data.to_string()),
        ])
    }
}
