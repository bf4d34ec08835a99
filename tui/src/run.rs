//! The event loop: the only place where the terminal, the keymap, the state and
//! the drawing meet.

use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self, Event as TermEvent};

use crate::{
    action::Action,
    app::App,
    keymap,
    live::{LiveSource, Update},
    message::Message,
    terminal::{Input, TerminalGuard, wait_for_input},
    theme::Theme,
    ui,
};

/// How often the screen is redrawn at most while nothing is typed: the replay's
/// frame rate.
const FRAME: Duration = Duration::from_millis(100);

/// Takes over the terminal and runs the UI until the user quits, taking in the
/// `live` recorder's events as they come.
pub fn run(app: &mut App, theme: &Theme, mut live: Option<&mut LiveSource>) -> anyhow::Result<()> {
    let mut guard = TerminalGuard::enter().context("cannot set up the terminal")?;
    let terminal = guard.terminal();
    let mut last = Instant::now();
    while !app.should_quit() && !crate::terminal::signalled() {
        let size = terminal.size().context("cannot read the terminal size")?;
        app.update(Action::Resize(ui::list_rows(size.into())));
        terminal
            .draw(|frame| ui::draw(frame, app, theme))
            .context("cannot draw")?;
        // Anything but a key (a resize, focus, paste) just redraws on the next
        // turn. A terminal that went away ends the UI as a quit does.
        match wait_for_input(FRAME) {
            Input::Gone => break,
            Input::Quiet => {}
            Input::Ready => {
                while event::poll(Duration::ZERO).context("cannot read the keyboard")? {
                    if let TermEvent::Key(key) =
                        event::read().context("cannot read the keyboard")?
                        && let Some(action) = keymap::action_for(app.mode(), &key)
                    {
                        app.update(action);
                    }
                }
            }
        }
        if let Some(source) = live.as_deref_mut() {
            for update in source.poll() {
                match update {
                    Update::Events(events) => app.update(Message::Batch(events)),
                    Update::Ended(trailer) => app.update(Message::Ended(trailer)),
                }
            }
        }
        let now = Instant::now();
        let elapsed = u64::try_from((now - last).as_nanos()).unwrap_or(u64::MAX);
        app.update(Message::Tick(elapsed));
        last = now;
    }
    Ok(())
}
