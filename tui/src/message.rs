//! The one message type the [`App`](crate::app::App) takes in: what the user
//! pressed, time passing, and what a live recorder sent.
//!
//! Keys become [`Action`]s through the [`keymap`](crate::keymap); the event loop
//! adds the ticks and the recorder's batches, so every change of state, and so
//! every test, goes through [`App::update`](crate::app::App::update).

use barwatch::{capture::format::Trailer, event::Event};

use crate::action::Action;

/// One thing that happened, for the application to take in.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// The user asked for something (or the terminal was resized).
    Key(Action),
    /// Wall-clock time passed, in nanoseconds: a frame.
    Tick(u64),
    /// A live recorder sent these events, in arrival order.
    Batch(Vec<Event>),
    /// The live recorder ended: with its trailer when it ended cleanly.
    Ended(Option<Trailer>),
}

impl From<Action> for Message {
    fn from(action: Action) -> Self {
        Message::Key(action)
    }
}
