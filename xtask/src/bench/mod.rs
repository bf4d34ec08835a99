//! `cargo xtask bench`'s replay, live and kernel sections: big captures made
//! from a real one, how fast and in how much memory barwatch replays them, how
//! much memory the recorder and the TUI take under a million records and more,
//! what its probes cost the machine watched next to bpftrace's, and the record
//! rate the recorder holds without a loss.

pub mod guest;
pub mod kernel;
pub mod live;
mod process;
pub mod replay;
pub mod sustained;
pub mod synthetic;

use std::{fs, path::Path};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

/// Ends a section the same way for each: writes its `report` as
/// `dir/SECTION.json`, says where, and fails naming the targets it `misses`.
fn conclude(section: &str, dir: &Path, report: &Value, misses: &[String]) -> Result<()> {
    let out = dir.join(format!("{section}.json"));
    fs::write(&out, format!("{report:#}\n"))
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("{section}: results in {}", out.display());
    if !misses.is_empty() {
        bail!("{section} targets missed: {}", misses.join("; "));
    }
    Ok(())
}
