//! The build, test and demo tasks.

use std::{io::IsTerminal as _, path::PathBuf, process::Command};

use anyhow::{Context as _, Result};

use crate::shell;

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A cargo command (the one running xtask) run at the workspace root.
pub fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(args).current_dir(root());
    cmd
}

/// `cargo xtask build`: release binaries with the BPF object embedded.
pub fn build() -> Result<()> {
    shell::run(&mut cargo(&["build", "--release"]))
}

/// The sections of `cargo xtask bench`, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchSection {
    /// The analysis on a synthetic run (`agent/examples/judge_throughput.rs`).
    Judge,
    /// `check --capture` on a real capture repeated (`xtask/src/bench/replay.rs`).
    Replay,
    /// The recorder's and the TUI's memory (`xtask/src/bench/live.rs`).
    Live,
    /// What the probes cost the watched machine, next to bpftrace
    /// (`xtask/src/bench/kernel.rs`).
    Kernel,
    /// The record rate `barwatch record` holds without a loss, and its CPU
    /// use (`xtask/src/bench/sustained.rs`).
    Sustained,
}

/// `cargo xtask bench`: the analysis' throughput and memory per event on a
/// synthetic run, and the bounded live analysis' memory and judgement time over
/// a long one (`agent/examples/judge_throughput.rs` holds the targets); then the
/// replay of a real capture repeated to a million events (`large`: and to ten
/// million), `check --capture` next to `wc -l` and a serde_json line loop
/// (`xtask/src/bench/replay.rs` holds the targets); then the peak memory of
/// `barwatch record` and of the TUI, live and replaying those captures
/// (`xtask/src/bench/live.rs`); then the probes' cost per call next to
/// bpftrace's (`xtask/src/bench/kernel.rs`); then the record rate held for
/// ten seconds without a loss (`xtask/src/bench/sustained.rs`). `only` runs one section. Every section runs even
/// when one before misses a target; the task fails when any does.
pub fn bench(large: bool, only: Option<BenchSection>) -> Result<()> {
    let wanted = |section| only.is_none_or(|only| only == section);
    let mut failures = Vec::new();
    if wanted(BenchSection::Judge) {
        let judged = shell::run(&mut cargo(&[
            "run",
            "--release",
            "-p",
            "barwatch-agent",
            "--no-default-features",
            "--example",
            "judge_throughput",
        ]));
        failures.extend(judged.err());
    }
    if wanted(BenchSection::Replay) {
        failures.extend(crate::bench::replay::run(large).err());
    }
    if wanted(BenchSection::Live) {
        failures.extend(crate::bench::live::run(large).err());
    }
    if wanted(BenchSection::Kernel) {
        failures.extend(crate::bench::kernel::run().err());
    }
    if wanted(BenchSection::Sustained) {
        failures.extend(crate::bench::sustained::run().err());
    }
    match failures.len() {
        0 => Ok(()),
        1 => Err(failures.remove(0)),
        _ => Err(anyhow::anyhow!(
            "{}",
            failures
                .iter()
                .map(|e| format!("{e:#}"))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

/// Seconds each fuzz target runs in `cargo xtask test`.
const CI_FUZZ_SECONDS: u64 = 20;

/// `cargo xtask test`: formatting, lints, then every test (kernel tests included;
/// under a non-empty `CI` they fail rather than skip when their preconditions are
/// missing), then each fuzz target for a short while. Tests that skip are
/// counted as skipped, not passed.
pub fn test() -> Result<()> {
    shell::run(&mut cargo(&["fmt", "--all", "--check"]))
        .context("formatting differs; run `cargo fmt --all`")?;
    // The default members: the BPF crate only builds for the BPF target, through
    // agent/build.rs, which these commands run.
    shell::run(&mut cargo(&[
        "clippy",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The fuzz targets' libFuzzer binaries, which the default build leaves out.
    shell::run(&mut cargo(&[
        "clippy",
        "-p",
        "barwatch-fuzz",
        "--features",
        "libfuzzer",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let totals =
        shell::run_counting_tests(&mut cargo(&["test"]), &root().join("target/test-skips.log"))?;
    // A short run of every fuzz target: new inputs that crash fail the run.
    crate::fuzz::run(&crate::fuzz::Options {
        seconds: CI_FUZZ_SECONDS,
        target: None,
        merge: false,
    })?;
    println!("{}", totals.summary());
    Ok(())
}

/// `cargo xtask demo`: the bench's `demo` scenario (aplay plays while the HD-audio
/// controller is removed and rescanned, then the fixture reads its BAR after
/// iounmap), its capture brought back to `target/demo/capture.jsonl` and opened in
/// `barwatch-tui`; with `headless` (or without a terminal) the report is printed.
pub fn demo(headless: bool) -> Result<()> {
    build()?;
    eprintln!(
        "demo: booting the bench guest (Debian's kernel under QEMU); a few minutes the first time"
    );
    let report = crate::vm::run("demo", &[])?;
    crate::vm::print_report(&report);
    let problems = report.problems();
    if !problems.is_empty() {
        anyhow::bail!(
            "the demo scenario did not run as it should: {}",
            problems.join("; ")
        );
    }
    let dir = root().join("target/demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let capture = dir.join("capture.jsonl");
    std::fs::copy(report.file("capture.jsonl"), &capture)
        .with_context(|| format!("cannot copy the capture to {}", capture.display()))?;
    let capture_arg = capture.to_string_lossy().into_owned();
    let release = root().join("target/release");
    if headless || !std::io::stdout().is_terminal() {
        // The report ends with the verdict; its failing rules are the demo's point.
        shell::run(Command::new(release.join("barwatch")).args(["report", &capture_arg]))?;
        eprintln!(
            "demo: the capture is {capture_arg}; browse it with `target/release/barwatch-tui {capture_arg}`"
        );
        return Ok(());
    }
    shell::run(Command::new(release.join("barwatch-tui")).arg(&capture_arg))
}
