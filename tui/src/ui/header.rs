//! The status line: which capture this is and how big, where it was taken, how
//! many events at what rate, how many probes attached, and what was lost (per
//! probe, never hidden when something was).

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
    let table = app.probe_table();
    let attached = table.iter().filter(|p| p.is_attached()).count();
    let mut facts = vec![
        Span::raw(format!("{} {}", header.hostname, header.kernel)),
        Span::styled(" · ", theme.dim),
        Span::raw(format!("{} events", app.total())),
        Span::styled(format!(" {:.0}/s", app.event_rate()), theme.dim),
        Span::styled(" · ", theme.dim),
        Span::raw(format!("probes {attached}/{}", table.len())),
        Span::styled(" · ", theme.dim),
    ];
    let by_probe = app.lost_by_probe();
    if by_probe.is_empty() {
        facts.push(Span::raw(format!("lost {lost}")));
    } else {
        let each: Vec<String> = by_probe.iter().map(|(p, n)| format!("{p} {n}")).collect();
        facts.push(Span::styled(
            format!("lost {lost}: {}", each.join(", ")),
            theme.warning,
        ));
    }
    if app.is_cut() && !app.is_live() {
        facts.push(Span::raw(" "));
        facts.push(Span::styled(" CUT: no trailer ", theme.warning));
    }
    let facts = Line::from(facts);
    let width = u16::try_from(facts.width()).unwrap_or(u16::MAX);
    let [file_area, facts_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(width)]).areas(area);
    let source = match app.file_size() {
        Some(bytes) => format!("{} ({})", app.source(), size(bytes)),
        None => app.source().to_owned(),
    };
    let file = fit_tail(&source, usize::from(file_area.width.saturating_sub(1)));
    frame.render_widget(Paragraph::new(Span::styled(file, theme.header)), file_area);
    frame.render_widget(Paragraph::new(facts), facts_area);
}

/// A file size as people read it: `812 B`, `230 KiB`, `16 MiB`.
fn size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{} KiB", bytes / 1024),
        _ => format!("{} MiB", bytes / 1_048_576),
    }
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
