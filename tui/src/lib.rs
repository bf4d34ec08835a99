//! barwatch-tui: browse a barwatch capture in the terminal.
//!
//! Laid out like gitui and bpftop so it can grow into the multi-pane UI: keys map
//! to [`action::Action`]s through the single [`keymap`] table, [`app::App`] holds
//! all state and changes only in its pure `update`, [`ui`] draws from the state
//! alone, [`terminal`] owns the terminal and [`run`] wires them into a loop.
//! Captures are replayed through the agent's pure model, so no privileges are needed.

pub mod action;
pub mod app;
pub mod filter;
pub mod keymap;
pub mod live;
pub mod run;
pub mod terminal;
pub mod theme;
pub mod ui;

pub use run::run;

#[cfg(test)]
mod tests;
