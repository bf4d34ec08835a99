//! Coverage-guided fuzzing of barwatch's readers: what a capture file, a BPF
//! ring-buffer record, an expectations file or a driver profile can hold when it
//! is corrupt or hostile must give an error, never a panic, a hang or an
//! unbounded allocation.
//!
//! [`targets`] holds each fuzz target's body, which the libFuzzer binaries in
//! `fuzz_targets/` and the corpus replay test (`tests/replay.rs`) both call, so a
//! crash found once stays caught without libFuzzer. [`records`] and [`seeds`]
//! make the checked-in seed corpus from real bench captures.

pub mod records;
pub mod seeds;
pub mod symbols;
pub mod targets;
