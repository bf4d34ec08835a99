//! The styles the UI draws with, in colour or, when `NO_COLOR` is set, without.
//!
//! Every style the UI uses is a field here, so honouring <https://no-color.org>
//! is one switch rather than a check at every draw call. The monochrome theme
//! still uses bold and reverse video, which are not colours.

use ratatui::style::{Color, Modifier, Style};

/// The styles of every part of the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    /// The header line.
    pub header: Style,
    /// The warning that the capture was cut.
    pub warning: Style,
    /// Borders and block titles.
    pub border: Style,
    /// The column titles of the event list.
    pub column_titles: Style,
    /// The time column.
    pub time: Style,
    /// The probe column.
    pub probe: Style,
    /// The selected row.
    pub selected: Style,
    /// Key names in the footer and the help.
    pub key: Style,
    /// Descriptions next to key names, and quiet text.
    pub dim: Style,
    /// The filter prompt and the applied filter.
    pub filter: Style,
}

impl Theme {
    /// The theme for this process: monochrome when `NO_COLOR` is set and not empty.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        if no_color {
            Theme::monochrome()
        } else {
            Theme::colour()
        }
    }

    /// The default, coloured theme.
    pub fn colour() -> Self {
        Theme {
            header: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            warning: Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            border: Style::new().fg(Color::DarkGray),
            column_titles: Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            time: Style::new().fg(Color::Green),
            probe: Style::new().fg(Color::Magenta),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            key: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            dim: Style::new().fg(Color::DarkGray),
            filter: Style::new().fg(Color::Yellow),
        }
    }

    /// The theme without colours, for `NO_COLOR`.
    pub fn monochrome() -> Self {
        let plain = Style::new();
        let bold = Style::new().add_modifier(Modifier::BOLD);
        Theme {
            header: bold,
            warning: Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            border: plain,
            column_titles: bold,
            time: plain,
            probe: plain,
            selected: Style::new().add_modifier(Modifier::REVERSED),
            key: bold,
            dim: plain,
            filter: bold,
        }
    }
}
