//! `cargo xtask`: the project's tasks, so a fresh machine needs two commands.

mod setup;
mod shell;
mod tasks;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// barwatch's project tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

/// The tasks.
#[derive(Debug, Subcommand)]
enum Task {
    /// Install everything the build needs (idempotent): Debian's BPF-capable rustc,
    /// LLVM, bpf-linker and the rustup link of that compiler.
    Setup,
    /// Build the release binaries (runs setup first).
    Build,
    /// Set up, then run every test: formatting, clippy, unit, integration and kernel tests.
    Test,
    /// Set up, build, record this machine for a while and print the capture's report.
    Demo {
        /// How long to record.
        #[arg(long, default_value = "10s")]
        duration: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Setup => setup::run(),
        Task::Build => setup::run().and_then(|()| tasks::build()),
        Task::Test => setup::run().and_then(|()| tasks::test()),
        Task::Demo { duration } => setup::run().and_then(|()| tasks::demo(&duration)),
    };
    report(result)
}

/// Prints a failure with its causes and turns it into the exit code.
fn report(result: Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
