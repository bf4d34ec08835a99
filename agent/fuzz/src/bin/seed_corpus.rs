//! Writes the seed corpus (`corpus/<target>/`) from the bench captures, the
//! profiles and the bench's expectations; run again after they change:
//! `cargo run -p barwatch-fuzz --bin seed-corpus`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use barwatch_fuzz::seeds::{self, Seed};

fn main() -> Result<()> {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let expect = fuzz.join("../../xtask/bench/expect");
    let corpora = [
        ("capture", seeds::captures()),
        ("record", seeds::records()),
        (
            "expectations",
            seeds::expectations(&expect)
                .with_context(|| format!("cannot read {}", expect.display()))?,
        ),
        ("profile", seeds::profiles()),
    ];
    for (target, seeds) in corpora {
        write(&fuzz.join("corpus").join(target), &seeds)?;
        println!("{target}: {} seeds", seeds.len());
    }
    Ok(())
}

/// Writes each seed into `dir`, leaving other files there alone.
fn write(dir: &Path, seeds: &[Seed]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, bytes) in seeds {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
