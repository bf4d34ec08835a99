//! The build, test and demo tasks.

use std::{path::PathBuf, process::Command};

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

/// `cargo xtask bench`: the analysis' throughput and memory per event on a
/// synthetic run (`agent/examples/judge_throughput.rs` holds the targets). The
/// model needs no BPF toolchain, so this needs no setup.
pub fn bench() -> Result<()> {
    shell::run(&mut cargo(&[
        "run",
        "--release",
        "-p",
        "barwatch-agent",
        "--no-default-features",
        "--example",
        "judge_throughput",
    ]))
}

/// `cargo xtask test`: formatting, lints, then every test (kernel tests included;
/// under `CI=true` they fail rather than skip when their preconditions are missing).
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
    let totals = shell::run_counting_tests(&mut cargo(&["test"]))?;
    println!(
        "tests: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    );
    Ok(())
}

/// `cargo xtask demo`: record this machine for `duration` and print the report.
pub fn demo(duration: &str) -> Result<()> {
    build()?;
    let dir = root().join("target/demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let capture = dir.join("capture.jsonl");
    let barwatch = root().join("target/release/barwatch");
    let capture_arg = capture.to_string_lossy().into_owned();
    eprintln!("demo: recording this machine for {duration} (needs root for BPF)");
    shell::run(Command::new(&barwatch).args([
        "record",
        "--duration",
        duration,
        "-o",
        &capture_arg,
    ]))?;
    shell::run(Command::new(&barwatch).args(["report", &capture_arg]))?;
    eprintln!(
        "demo: the capture is {capture_arg}; replay it with `target/release/barwatch-tui {capture_arg}`"
    );
    Ok(())
}
