//! barwatch-tui: browse a barwatch capture in the terminal.
//!
//! Laid out like gitui and bpftop so it can grow into the multi-pane UI: keys map
//! to [`action::Action`]s through the single [`keymap`] table; keys, ticks and a
//! live recorder's batches are one [`message::Message`] type that [`app::App`]
//! takes in its `update` and routes to the [`screens`] (each owning its state and
//! keys) and the [`judge`]; [`ui`] draws from the state alone, [`terminal`] owns
//! the terminal and [`run`] wires them into a loop.
//! Captures are replayed through the agent's pure model, so no privileges are needed.

pub mod action;
pub mod app;
pub mod capture_index;
pub mod event_store;
pub mod filter;
pub mod judge;
pub mod keymap;
pub mod live;
pub mod memo;
pub mod message;
pub mod run;
pub mod screens;
pub mod terminal;
pub mod theme;
pub mod ui;

pub use run::run;

#[cfg(test)]
mod tests;
