//! The one table that says which key does what, in which mode.
//!
//! Key handling and key help both come from [`BINDINGS`]: the event loop asks
//! [`action_for`] what a key press means, and the footer and help overlay list the
//! same entries, so the help can never disagree with the behaviour.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::{action::Action, app::Mode};

/// A key as the keymap names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A character typed without Ctrl or Alt (Shift is part of the character).
    Char(char),
    /// A character typed with Ctrl held.
    Ctrl(char),
    /// The up arrow.
    Up,
    /// The down arrow.
    Down,
    /// Page Up.
    PageUp,
    /// Page Down.
    PageDown,
    /// Home.
    Home,
    /// End.
    End,
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Backspace.
    Backspace,
    /// Tab.
    Tab,
    /// The left arrow.
    Left,
    /// The right arrow.
    Right,
    /// Any character typed without Ctrl or Alt: text entry.
    AnyChar,
}

impl Key {
    /// Whether a terminal key event is this key.
    fn matches(self, event: &KeyEvent) -> bool {
        let plain = !event
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        match (self, event.code) {
            (Key::Char(want), KeyCode::Char(got)) => plain && want == got,
            (Key::Ctrl(want), KeyCode::Char(got)) => {
                event.modifiers.contains(KeyModifiers::CONTROL) && want == got
            }
            (Key::AnyChar, KeyCode::Char(_)) => plain,
            (Key::Up, KeyCode::Up)
            | (Key::Down, KeyCode::Down)
            | (Key::PageUp, KeyCode::PageUp)
            | (Key::PageDown, KeyCode::PageDown)
            | (Key::Home, KeyCode::Home)
            | (Key::End, KeyCode::End)
            | (Key::Enter, KeyCode::Enter)
            | (Key::Esc, KeyCode::Esc)
            | (Key::Backspace, KeyCode::Backspace)
            | (Key::Tab, KeyCode::Tab)
            | (Key::Left, KeyCode::Left)
            | (Key::Right, KeyCode::Right) => true,
            _ => false,
        }
    }

    /// How the key is written in the help.
    pub fn label(self) -> String {
        match self {
            Key::Char(' ') => "Space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{c}"),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::PageUp => "PgUp".into(),
            Key::PageDown => "PgDn".into(),
            Key::Home => "Home".into(),
            Key::End => "End".into(),
            Key::Enter => "Enter".into(),
            Key::Esc => "Esc".into(),
            Key::Backspace => "Bksp".into(),
            Key::Tab => "Tab".into(),
            Key::Left => "←".into(),
            Key::Right => "→".into(),
            Key::AnyChar => "text".into(),
        }
    }
}

/// What pressing a bound key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Performs this action.
    Action(Action),
    /// Types the pressed character into the filter prompt.
    TypeChar,
}

/// One row of the keymap: keys, where they work, what they do and how that is described.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    /// The modes the binding works in.
    pub modes: &'static [Mode],
    /// The keys that trigger it; the first is the one the footer shows.
    pub keys: &'static [Key],
    /// What they do.
    pub effect: Effect,
    /// The description in the help overlay.
    pub help: &'static str,
    /// The short description in the footer, for the bindings worth a place there.
    pub footer: Option<&'static str>,
}

/// Every mode, for bindings that work everywhere.
pub const ANYWHERE: &[Mode] = &[
    Mode::List,
    Mode::Filter,
    Mode::Help,
    Mode::Evidence,
    Mode::Probes,
];

/// The keymap. Within a mode the first binding whose key matches wins.
pub const BINDINGS: &[Binding] = &[
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('q')],
        effect: Effect::Action(Action::Quit),
        help: "quit",
        footer: Some("quit"),
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Esc],
        effect: Effect::Action(Action::ClearFilterOrQuit),
        help: "clear the filter, or quit",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('/')],
        effect: Effect::Action(Action::OpenFilter),
        help: "filter events",
        footer: Some("filter"),
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('j'), Key::Down],
        effect: Effect::Action(Action::Down),
        help: "next event",
        footer: Some("down"),
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('k'), Key::Up],
        effect: Effect::Action(Action::Up),
        help: "previous event",
        footer: Some("up"),
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::PageDown],
        effect: Effect::Action(Action::PageDown),
        help: "one page down",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::PageUp],
        effect: Effect::Action(Action::PageUp),
        help: "one page up",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('g'), Key::Home],
        effect: Effect::Action(Action::Top),
        help: "first event",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('G'), Key::End],
        effect: Effect::Action(Action::Bottom),
        help: "last event",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Tab],
        effect: Effect::Action(Action::NextScreen),
        help: "next screen",
        footer: Some("screens"),
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('h'), Key::Left],
        effect: Effect::Action(Action::Earlier),
        help: "cursor earlier",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('l'), Key::Right],
        effect: Effect::Action(Action::Later),
        help: "cursor later",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('+'), Key::Char('=')],
        effect: Effect::Action(Action::ZoomIn),
        help: "zoom in",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('-')],
        effect: Effect::Action(Action::ZoomOut),
        help: "zoom out",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('n')],
        effect: Effect::Action(Action::NextViolation),
        help: "next violation",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('N')],
        effect: Effect::Action(Action::PreviousViolation),
        help: "previous violation",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char(']')],
        effect: Effect::Action(Action::NextCycle),
        help: "next cycle",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('[')],
        effect: Effect::Action(Action::PreviousCycle),
        help: "previous cycle",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char(' ')],
        effect: Effect::Action(Action::PlayPause),
        help: "play, pause (live: hold)",
        footer: Some("play"),
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('>')],
        effect: Effect::Action(Action::Faster),
        help: "replay faster",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('<')],
        effect: Effect::Action(Action::Slower),
        help: "replay slower",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('p')],
        effect: Effect::Action(Action::ShowProbes),
        help: "probe table",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Enter],
        effect: Effect::Action(Action::Open),
        help: "evidence; a device's events",
        footer: None,
    },
    Binding {
        modes: &[Mode::List],
        keys: &[Key::Char('?')],
        effect: Effect::Action(Action::ToggleHelp),
        help: "show this help",
        footer: Some("help"),
    },
    Binding {
        modes: &[Mode::Filter],
        keys: &[Key::Enter],
        effect: Effect::Action(Action::ApplyFilter),
        help: "apply the filter",
        footer: Some("apply"),
    },
    Binding {
        modes: &[Mode::Filter],
        keys: &[Key::Esc],
        effect: Effect::Action(Action::ClearFilter),
        help: "clear the filter",
        footer: Some("clear"),
    },
    Binding {
        modes: &[Mode::Filter],
        keys: &[Key::Backspace],
        effect: Effect::Action(Action::FilterBackspace),
        help: "delete a character",
        footer: None,
    },
    Binding {
        modes: &[Mode::Filter],
        keys: &[Key::AnyChar],
        effect: Effect::TypeChar,
        help: "dev: role: pid: comm: words",
        footer: None,
    },
    Binding {
        modes: &[Mode::Help, Mode::Evidence, Mode::Probes],
        keys: &[Key::Char('?'), Key::Esc, Key::Char('q')],
        effect: Effect::Action(Action::Close),
        help: "close this view",
        footer: Some("close"),
    },
    Binding {
        modes: ANYWHERE,
        keys: &[Key::Ctrl('c')],
        effect: Effect::Action(Action::Quit),
        help: "quit",
        footer: None,
    },
];

/// What a key press means in `mode`, or `None` when the key is not bound there.
pub fn action_for(mode: Mode, event: &KeyEvent) -> Option<Action> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    BINDINGS
        .iter()
        .filter(|binding| binding.modes.contains(&mode))
        .filter(|binding| binding.keys.iter().any(|key| key.matches(event)))
        .find_map(|binding| match (binding.effect, event.code) {
            (Effect::Action(action), _) => Some(action),
            (Effect::TypeChar, KeyCode::Char(c)) => Some(Action::FilterChar(c)),
            (Effect::TypeChar, _) => None,
        })
}

/// The bindings that work in `mode`, in table order, for the footer and the help.
pub fn bindings_in(mode: Mode) -> impl Iterator<Item = &'static Binding> {
    BINDINGS
        .iter()
        .filter(move |binding| binding.modes.contains(&mode))
}
