//! The help overlay: every binding of the keymap, grouped by the modes it works in.

use ratatui::{
    Frame,
    layout::{Constraint, Flex, Layout, Rect},
    text::{Line, Span},
    widgets::{Block, Clear, Paragraph},
};

use crate::{app::Mode, keymap, theme::Theme};

/// Draws the overlay centred on `area`, in two columns when one is too tall for it.
pub(super) fn render(frame: &mut Frame, area: Rect, theme: &Theme) {
    let mut left = lines(theme);
    let room = usize::from(area.height.saturating_sub(2));
    let right = if left.len() > room {
        // Split at a heading where both columns fit, nearest the middle, so no
        // group is cut in two; else in the middle.
        let middle = left.len().div_ceil(2);
        let fits = |i: &usize| *i <= room && left.len() - *i <= room;
        let split = (1..left.len())
            .filter(|i| is_heading(&left[*i]) && fits(i))
            .min_by_key(|i| i.abs_diff(middle))
            .unwrap_or(middle);
        left.split_off(split)
    } else {
        Vec::new()
    };
    let column = |lines: &[Line]| lines.iter().map(Line::width).max().unwrap_or(0);
    let (left_width, right_width) = (column(&left), column(&right));
    let gap = if right.is_empty() { 0 } else { 2 };
    let width = left_width + gap + right_width + 2;
    let height = left.len().max(right.len()) + 2;
    let [area] = Layout::horizontal([Constraint::Length(to_u16(width))])
        .flex(Flex::Center)
        .areas(area);
    let [area] = Layout::vertical([Constraint::Length(to_u16(height))])
        .flex(Flex::Center)
        .areas(area);
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(" Keys ", theme.header));
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let [left_area, right_area] = Layout::horizontal([
        Constraint::Length(to_u16(left_width + gap)),
        Constraint::Fill(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(left), left_area);
    frame.render_widget(Paragraph::new(right), right_area);
}

/// Whether a help line is a group's heading (it does not start with spaces).
fn is_heading(line: &Line) -> bool {
    line.spans
        .first()
        .is_some_and(|s| !s.content.starts_with(' '))
}

/// One heading per run of bindings that share their modes, then a line per binding.
fn lines(theme: &Theme) -> Vec<Line<'static>> {
    let keys_of = |binding: &keymap::Binding| {
        binding
            .keys
            .iter()
            .map(|key| key.label())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let key_width = keymap::BINDINGS
        .iter()
        .map(|binding| keys_of(binding).chars().count())
        .max()
        .unwrap_or(0);
    let mut lines = Vec::new();
    let mut modes: &[Mode] = &[];
    for binding in keymap::BINDINGS {
        if binding.modes != modes {
            modes = binding.modes;
            lines.push(Line::from(Span::styled(heading(modes), theme.header)));
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<key_width$}  ", keys_of(binding)), theme.key),
            Span::raw(format!("{} ", binding.help)),
        ]));
    }
    lines
}

/// The name of the group of bindings that work in `modes`.
fn heading(modes: &[Mode]) -> String {
    let name = |mode: &Mode| match mode {
        Mode::List => "Any screen",
        Mode::Filter => "Filter prompt",
        Mode::Help => "This help",
        Mode::Evidence => "Evidence",
        Mode::Probes => "Probes",
    };
    if modes == keymap::ANYWHERE {
        "Anywhere".to_owned()
    } else {
        modes.iter().map(name).collect::<Vec<_>>().join(", ")
    }
}

/// A length for a layout constraint, saturating on absurd sizes.
fn to_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}
