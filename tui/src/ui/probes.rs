//! The probe table overlay: every probe point, its role, how it attached or why
//! not, so a blind rule can be traced to the probe it misses.

use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    text::Span,
    widgets::{Block, Cell, Clear, Row, Table},
};

use crate::{app::App, theme::Theme};

/// Draws the table over `area`.
pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let table = app.probe_table();
    let attached = table.iter().filter(|p| p.is_attached()).count();
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(
            format!(" Probes: {attached}/{} attached ", table.len()),
            theme.header,
        ));
    let header = Row::new(
        ["PROBE", "ROLE", "ATTACHED", "WHY NOT / NOTE"]
            .map(|t| Cell::from(Span::styled(t, theme.column_titles))),
    );
    let rows = table.iter().map(|p| {
        let (how, style) = match p.attached {
            Some(m) => (m.to_string(), ratatui::style::Style::default()),
            None => ("no".to_owned(), theme.warning),
        };
        let detail = p.reason().or_else(|| p.note.clone()).unwrap_or_default();
        Row::new(vec![
            Cell::from(p.name.clone()),
            Cell::from(Span::styled(p.role.to_string(), theme.dim)),
            Cell::from(Span::styled(how, style)),
            Cell::from(detail),
        ])
    });
    let widths = [
        Constraint::Length(34),
        Constraint::Length(14),
        Constraint::Length(14),
        Constraint::Fill(1),
    ];
    frame.render_widget(Clear, area);
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}
