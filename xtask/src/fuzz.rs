//! `cargo xtask fuzz`: builds the libFuzzer targets of `agent/fuzz` with
//! coverage instrumentation on the stable compiler and runs each for a while.
//!
//! No nightly, no cargo-fuzz: rustc's stable `-C passes=sancov-module` and
//! LLVM's sanitizer-coverage options give libFuzzer its edge counters, PC
//! table and comparison hooks, which is all its feedback needs. There is no
//! AddressSanitizer on stable; the targets are safe Rust built with debug
//! assertions and overflow checks, so a bug shows as a panic, which libFuzzer
//! reports as a crash.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context as _, Result, bail};

use crate::{shell, tasks};

/// What to fuzz, and for how long.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seconds each target runs.
    pub seconds: u64,
    /// Only this target; every target when `None`.
    pub target: Option<String>,
    /// Afterwards, merge what added coverage into the checked-in corpus.
    pub merge: bool,
}

/// Code generation flags that give libFuzzer its coverage feedback, as
/// cargo-fuzz passes them, plus the checks that turn bugs into panics.
const RUSTFLAGS: [&str; 9] = [
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cdebug-assertions",
    "-Coverflow-checks",
    "-Cdebuginfo=line-tables-only",
    "--cfg=fuzzing",
];

/// Seconds one input may take before libFuzzer calls it a hang.
const INPUT_TIMEOUT_S: u64 = 10;
/// Resident memory past which libFuzzer calls an input out-of-memory.
const RSS_LIMIT_MB: u64 = 2048;

/// The fuzz crate's folder.
fn fuzz_dir() -> PathBuf {
    tasks::root().join("agent/fuzz")
}

/// Where builds, the growing corpus, artifacts and logs go.
fn work_dir() -> PathBuf {
    tasks::root().join("target/fuzz")
}

/// The targets: one `fuzz_targets/NAME.rs` each, built as `fuzz-NAME`.
pub fn targets() -> Result<Vec<String>> {
    let dir = fuzz_dir().join("fuzz_targets");
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem()
        {
            names.push(stem.to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The host's target triple: instrumentation flags given with an explicit
/// `--target` reach the targets' code but not build scripts.
fn host_triple() -> Result<String> {
    let text = shell::stdout(Command::new("rustc").arg("-vV"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("`rustc -vV` names no host triple")
}

/// Builds the fuzz targets `names` with coverage instrumentation; returns the
/// folder holding the binaries. Only those: the crate's other binaries have no
/// libFuzzer to provide the coverage hooks.
fn build(triple: &str, names: &[String]) -> Result<PathBuf> {
    let target_dir = work_dir().join("build");
    let target_dir_arg = target_dir.to_string_lossy().into_owned();
    let mut cmd = tasks::cargo(&[
        "build",
        "--release",
        "-p",
        "barwatch-fuzz",
        "--features",
        "libfuzzer",
        "--target",
        triple,
        "--target-dir",
        &target_dir_arg,
    ]);
    for name in names {
        cmd.arg("--bin").arg(format!("fuzz-{name}"));
    }
    shell::run(
        cmd.env("RUSTFLAGS", RUSTFLAGS.join(" "))
            .env_remove("CARGO_ENCODED_RUSTFLAGS"),
    )
    .context(
        "building the fuzz targets failed; is a C++ compiler (g++) installed for libFuzzer?",
    )?;
    Ok(target_dir.join(triple).join("release"))
}

/// What one target's run showed, from libFuzzer's own lines.
#[derive(Debug, Default, PartialEq, Eq)]
struct Stats {
    /// Inputs executed.
    runs: u64,
    /// Coverage: edges (`cov:`) and features (`ft:`) at the end.
    cov: u64,
    ft: u64,
    /// Inputs in the corpus at the end.
    corpus: u64,
}

/// Reads the last `#N ... cov: C ft: F corp: K/...` line of a libFuzzer log.
fn parse_stats(log: &str) -> Option<Stats> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.starts_with('#') && l.contains(" cov: "))?;
    let field = |name: &str| -> Option<u64> {
        let rest = line.split(name).nth(1)?;
        let value = rest.split_whitespace().next()?;
        value.split('/').next()?.parse().ok()
    };
    let runs = line
        .strip_prefix('#')?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(Stats {
        runs,
        cov: field(" cov: ")?,
        ft: field(" ft: ")?,
        corpus: field(" corp: ")?,
    })
}

/// The crash, hang and out-of-memory inputs libFuzzer left in `dir`.
fn artifacts(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    found.sort();
    found
}

/// Runs one target for `seconds`; fails naming every artifact it left.
fn run_target(binaries: &Path, name: &str, seconds: u64, merge: bool) -> Result<()> {
    let binary = binaries.join(format!("fuzz-{name}"));
    let work = work_dir();
    let grown = work.join("corpus").join(name);
    let found = work.join("artifacts").join(name);
    let log = work.join("logs").join(format!("{name}.log"));
    for dir in [&grown, &found, &work.join("logs")] {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let before = artifacts(&found);
    let seeds = fuzz_dir().join("corpus").join(name);
    let regressions = fuzz_dir().join("regressions").join(name);
    let dict = fuzz_dir().join("dict").join(format!("{name}.dict"));
    let mut cmd = Command::new(&binary);
    cmd.arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_S}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-artifact_prefix={}/", found.display()))
        .arg("-print_final_stats=1");
    if dict.is_file() {
        cmd.arg(format!("-dict={}", dict.display()));
    }
    // The first folder receives what libFuzzer finds; the others seed it.
    cmd.arg(&grown).arg(&seeds);
    if regressions.is_dir() {
        cmd.arg(&regressions);
    }
    let log_file =
        fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    eprintln!("+ {} 2> {}", shell::describe(&cmd), log.display());
    let started = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(log_file)
        .status()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let elapsed = started.elapsed().as_secs();
    let text = fs::read_to_string(&log).unwrap_or_default();
    let stats = parse_stats(&text).unwrap_or_default();
    println!(
        "fuzz: {name}: {elapsed} s, {} runs, cov {}, ft {}, corpus {}",
        stats.runs, stats.cov, stats.ft, stats.corpus
    );
    let new: Vec<PathBuf> = artifacts(&found)
        .into_iter()
        .filter(|a| !before.contains(a))
        .collect();
    if !status.success() || !new.is_empty() {
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        for line in tail.into_iter().rev() {
            eprintln!("  {line}");
        }
        for artifact in &new {
            eprintln!(
                "fuzz: {name} found {}\n  reproduce: {} {}\n  keep it: copy it to {}/ and run `cargo test -p barwatch-fuzz --test replay`",
                artifact.display(),
                binary.display(),
                artifact.display(),
                regressions.display()
            );
        }
        bail!(
            "fuzz target {name} failed ({status}); its log is {}",
            log.display()
        );
    }
    if merge {
        shell::run(
            Command::new(&binary)
                .arg("-merge=1")
                .arg(&seeds)
                .arg(&grown),
        )
        .with_context(|| format!("merging {name}'s findings into {}", seeds.display()))?;
    }
    Ok(())
}

/// `cargo xtask fuzz`: builds, then runs each chosen target in turn.
pub fn run(options: &Options) -> Result<()> {
    let all = targets()?;
    let chosen: Vec<String> = match &options.target {
        Some(name) if all.contains(name) => vec![name.clone()],
        Some(name) => bail!(
            "no fuzz target {name:?}; the targets are {}",
            all.join(", ")
        ),
        None => all,
    };
    let binaries = build(&host_triple()?, &chosen)?;
    let mut failed = Vec::new();
    for name in &chosen {
        if let Err(e) = run_target(&binaries, name, options.seconds, options.merge) {
            eprintln!("xtask: {e:#}");
            failed.push(name.as_str());
        }
    }
    if !failed.is_empty() {
        bail!("fuzz targets failed: {}", failed.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_final_coverage_line() {
        let log = "INFO: Seed: 1\n#2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #4096\tpulse  cov: 120 ft: 300 corp: 40/2Kb lim: 43 exec/s: 2048 rss: 40Mb\n\
                   #60211\tDONE   cov: 130 ft: 321 corp: 44/3Kb lim: 90 exec/s: 1003 rss: 41Mb\n\
                   Done 60211 runs in 61 second(s)\n";
        assert_eq!(
            parse_stats(log),
            Some(Stats {
                runs: 60211,
                cov: 130,
                ft: 321,
                corpus: 44
            })
        );
        assert_eq!(parse_stats("INFO: Seed: 1\n"), None);
    }

    #[test]
    fn every_target_has_a_seed_corpus_and_a_dictionary() {
        let names = targets().unwrap();
        assert!(names.len() >= 4, "targets: {names:?}");
        for name in names {
            let seeds = fuzz_dir().join("corpus").join(&name);
            assert!(
                artifacts(&seeds).len() > 1,
                "{} holds no seeds",
                seeds.display()
            );
            if name != "record" {
                let dict = fuzz_dir().join("dict").join(format!("{name}.dict"));
                assert!(dict.is_file(), "{} is missing", dict.display());
            }
        }
    }
}
