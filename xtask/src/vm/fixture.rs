//! Building the fixture driver against the guest kernel's own headers, and the
//! bench's small static helper programs.

use std::{fs, path::Path, path::PathBuf, process::Command};

use anyhow::{Context as _, Result};

use super::cache::Cache;
use crate::shell;

/// What the fixture build produces.
pub struct Built {
    /// The fixture module.
    pub module: PathBuf,
    /// Static helper programs for the guest's `/usr/bin`.
    pub tools: Vec<PathBuf>,
}

/// Builds `barwatch_fixture.ko` from `sources` and every `tools/*.c` as a static
/// program.
pub fn build(cache: &Cache, sources: &Path, tools: &Path) -> Result<Built> {
    let work = cache.dir.join("fixture-build");
    if work.exists() {
        fs::remove_dir_all(&work)?;
    }
    fs::create_dir_all(&work)?;
    for file in ["barwatch_fixture.c", "Kbuild"] {
        fs::copy(sources.join(file), work.join(file))
            .with_context(|| format!("cannot copy {file} from {}", sources.display()))?;
    }
    shell::run(
        Command::new("make")
            .arg("-C")
            .arg(cache.kbuild_dir())
            .arg(format!("M={}", work.display()))
            .arg("modules"),
    )
    .context("building the fixture module against the guest kernel's headers failed")?;
    let mut built = Built {
        module: work.join("barwatch_fixture.ko"),
        tools: Vec::new(),
    };
    for entry in fs::read_dir(tools).with_context(|| format!("cannot list {}", tools.display()))? {
        let source = entry?.path();
        if source.extension().and_then(|e| e.to_str()) != Some("c") {
            continue;
        }
        let program = work.join(source.file_stem().context("tool without a name")?);
        shell::run(
            Command::new("gcc")
                .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
                .arg(&program)
                .arg(&source),
        )?;
        built.tools.push(program);
    }
    Ok(built)
}
