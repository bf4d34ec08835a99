//! `cargo xtask bench`'s replay and live sections: big captures made from a
//! real one, how fast and in how much memory barwatch replays them, and how
//! much memory the recorder and the TUI take under a million records and more.

pub mod live;
mod process;
pub mod replay;
pub mod synthetic;
