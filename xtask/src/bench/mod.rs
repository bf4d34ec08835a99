//! `cargo xtask bench`'s replay section: big captures made from a real one, and
//! how fast and in how much memory barwatch replays them.

pub mod replay;
pub mod synthetic;
