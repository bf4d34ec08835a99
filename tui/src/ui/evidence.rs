//! The evidence of one violation: what happened, where, the kernel stack, the
//! events that show it and what to change.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
    widgets::{Block, Clear, Paragraph, Wrap},
};

use crate::{app::App, theme::Theme};

/// Draws the selected violation's evidence over `area`.
pub(super) fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some((rule, v)) = app.selected_violation() else {
        return;
    };
    let cycle = v.cycle.map(|n| format!(" cycle {n}")).unwrap_or_default();
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{} ", rule.id), theme.warning),
            Span::raw(format!(
                "{}{cycle} at {}, pid {} tid {} {}",
                v.device,
                super::at(app, v.ts_ns),
                v.pid,
                v.tid,
                v.comm
            )),
        ]),
        Line::raw(v.what.clone()),
    ];
    if v.count > 1 {
        lines.push(Line::styled(
            format!(
                "the same path did it {} times, last at {}",
                v.count,
                super::at(app, v.last_ns)
            ),
            theme.dim,
        ));
    }
    if !v.stack.is_empty() {
        lines.push(Line::styled("kernel stack", theme.column_titles));
        lines.extend(v.stack.iter().map(|f| Line::raw(format!("  {f}"))));
    }
    lines.push(Line::styled("evidence", theme.column_titles));
    lines.extend(v.events.iter().map(|e| {
        Line::from(vec![
            Span::styled(format!("  {} ", super::at(app, e.ts_ns)), theme.time),
            Span::raw(format!(
                "cpu {} {} {}/{}: {}",
                e.cpu, e.comm, e.pid, e.tid, e.data
            )),
        ])
    }));
    lines.push(Line::styled("fix", theme.column_titles));
    lines.push(Line::raw(format!("  {}", v.advice)));
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(
            format!(" Evidence: {} ", rule.meaning),
            theme.header,
        ));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}
