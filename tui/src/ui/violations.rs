//! The violations screen: every rule failure with its device, time and process;
//! Enter opens the evidence.

use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    text::{Line, Span},
    widgets::{Block, Cell, Paragraph, Row, Table},
};

use super::short_bdf;
use crate::{app::App, theme::Theme};

/// How many violation rows fit: the borders and column titles take three.
pub(super) fn rows(area: Rect) -> u16 {
    area.height.saturating_sub(3)
}

/// Draws the violation list, the selected one highlighted.
pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let violations = app.violations();
    let position = app
        .violation_position()
        .map(|p| format!(" {}/{} ", p + 1, violations.len()))
        .unwrap_or_default();
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(" Violations ", theme.header))
        .title_top(Line::from(position).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if violations.is_empty() {
        let lines: Vec<Line> = summary(app)
            .into_iter()
            .map(|text| Line::from(Span::styled(text, theme.dim)))
            .collect();
        frame.render_widget(
            Paragraph::new(lines)
                .centered()
                .wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
        return;
    }
    let visible = usize::from(rows(area));
    let selected = app.violation_position().unwrap_or(0);
    let first = selected.saturating_sub(visible.saturating_sub(1));
    let header = Row::new(
        ["RULE", "DEVICE", "TIME", "PROCESS", "WHAT"]
            .map(|t| Cell::from(Span::styled(t, theme.column_titles))),
    );
    let rows = violations
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, (rule, v))| {
            let row = Row::new(vec![
                Cell::from(Span::styled(rule.id.clone(), theme.warning)),
                Cell::from(short_bdf(&v.device).to_owned()),
                Cell::from(Span::styled(super::at(app, v.ts_ns), theme.time)),
                Cell::from(format!("{} {}", v.pid, v.comm)),
                Cell::from(v.what.clone()),
            ]);
            if i == selected {
                row.style(theme.selected)
            } else {
                row
            }
        });
    // The time column fits the longest time, so the screen can be long.
    let time = violations
        .iter()
        .map(|(_, v)| super::at(app, v.ts_ns).len())
        .max()
        .unwrap_or(0);
    let widths = [
        Constraint::Length(20),
        Constraint::Length(7),
        Constraint::Length(u16::try_from(time).unwrap_or(u16::MAX)),
        Constraint::Length(18),
        Constraint::Fill(1),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), inner);
}

/// What to say when nothing failed: every rule kept, or why the verdict is not
/// a pass, a line per reason.
fn summary(app: &App) -> Vec<String> {
    let judgement = app.judgement();
    match judgement.outcome() {
        barwatch::analysis::Outcome::Incomplete if !judgement.unearned.is_empty() => {
            let mut lines = vec!["No violation seen, but this is not a pass:".to_owned()];
            lines.extend(judgement.unearned.iter().map(|u| u.message.clone()));
            lines
        }
        barwatch::analysis::Outcome::Incomplete => {
            vec![
                "No violation seen, but the record has gaps: `barwatch report` says which."
                    .to_owned(),
            ]
        }
        _ => vec!["No violation: every checked rule kept.".to_owned()],
    }
}
