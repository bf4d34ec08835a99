//! The one kit the tests of the model, the capture format and the terminal UI
//! build their inputs from: probe table rows, a capture header, single events
//! and [`Story`], which tells event sequences the way the kernel would emit them.
//!
//! It exists so a fixture is written once: a change to `ProbeStatus`, `Header` or
//! `Event` is one edit here, not one in every test module. Compiled for this
//! crate's tests and, with the `testkit` feature, for other crates' tests.

mod story;

pub use story::{AZX_INTERRUPT, Story};

use std::path::{Path, PathBuf};

use crate::{
    capture::format::Header,
    event::{Event, EventData},
    probe_table::{Attempt, Mechanism, ProbeStatus, Role},
};

/// The kernel release the kit's headers name.
pub const KERNEL: &str = "6.1.0-37-amd64";
/// The host name the kit's headers name.
pub const HOSTNAME: &str = "lab3";

/// A probe point attached by `mechanism` at its first attempt.
pub fn attached(name: &str, role: Role, mechanism: Mechanism) -> ProbeStatus {
    ProbeStatus {
        name: name.into(),
        role,
        attached: Some(mechanism),
        attempts: vec![Attempt {
            mechanism,
            failure: None,
        }],
        note: None,
        marks: None,
        mapping: None,
        carries_ioctls: false,
    }
}

/// A probe point that `mechanism` could not attach, for `why`.
pub fn refused(name: &str, role: Role, mechanism: Mechanism, why: &str) -> ProbeStatus {
    ProbeStatus {
        name: name.into(),
        role,
        attached: None,
        attempts: vec![Attempt {
            mechanism,
            failure: Some(why.into()),
        }],
        note: None,
        marks: None,
        mapping: None,
        carries_ioctls: false,
    }
}

/// A header as `record` writes it on the kit's machine, started at CLOCK_MONOTONIC
/// 1 µs, with `probes` and no watched devices.
pub fn header(probes: Vec<ProbeStatus>) -> Header {
    Header::new(KERNEL, HOSTNAME, 1_700_000_000_000_000_000, 1_000, probes)
}

/// An event of `probe` at `ts_ns`, in an `aplay` thread on CPU 1 that concerns no
/// device; tests change the fields they care about with `Event { .., ..event() }`.
pub fn event(ts_ns: u64, probe: &str, data: EventData) -> Event {
    Event {
        ts_ns,
        cpu: 1,
        pid: 4242,
        tid: 4243,
        comm: "aplay".into(),
        probe: probe.into(),
        device: None,
        data,
    }
}

/// Every real bench capture the repository keeps: the corpus
/// (`agent/tests/corpus`), the agent's test capture and the demo's; for tests
/// that hold a streaming path to the whole-log one on real records.
pub fn real_captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join("tests/corpus"))
        .expect("the corpus directory is readable")
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    paths.push(root.join("testdata/playback-remove-rescan.jsonl"));
    paths.push(root.join("../tui/testdata/demo-capture.jsonl"));
    paths.sort();
    paths
}
