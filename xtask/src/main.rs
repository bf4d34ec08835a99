//! `cargo xtask`: the project's tasks, so a fresh machine needs two commands.

use anyhow::Result;
use clap::{Parser, Subcommand};
use xtask::{fuzz, setup, soak, tasks, vm};

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
    /// Benchmarks with their speed and memory targets (fails when one is missed):
    /// the analysis on a synthetic run, then `barwatch check --capture` on a
    /// real capture repeated to a million events, then the memory of
    /// `barwatch record` and of the TUI under a million records.
    Bench {
        /// Also replay a capture of ten million events (a few GB in target/bench),
        /// and record ten million records live.
        #[arg(long)]
        large: bool,
        /// Run only this section.
        #[arg(long, value_enum)]
        only: Option<tasks::BenchSection>,
    },
    /// Coverage-guided fuzzing of the capture reader, the ring-buffer record
    /// decoder, the expectations parser and the profile parser (agent/fuzz):
    /// builds the libFuzzer targets and runs each in turn; fails on a crash.
    Fuzz {
        /// Seconds each target runs.
        #[arg(long, default_value_t = 60)]
        time: u64,
        /// Afterwards, add what grew the coverage to the checked-in corpus.
        #[arg(long)]
        merge: bool,
        /// Only this target (capture, expectations, profile, record).
        target: Option<String>,
    },
    /// The real-kernel test bench: Debian's kernel under QEMU with snd_hda_intel.
    Vm {
        #[command(subcommand)]
        command: VmCommand,
    },
    /// The soak on the bench: the clean soak (HD-audio playback and a mixer loop)
    /// and the buggy one (the fixture touching its BAR after
    /// iounmap), each N remove/rescan cycles under `barwatch check`; prints a table
    /// and writes target/soak/soak.json; fails when a criterion is missed.
    Soak {
        /// Remove/rescan cycles per soak.
        #[arg(long, default_value_t = soak::DEFAULT_CYCLES)]
        cycles: usize,
    },
    /// Set up, build, boot the bench guest, play audio while the HD-audio device is
    /// removed and rescanned and the fixture commits a violation, then open the
    /// capture in barwatch-tui.
    Demo {
        /// Print the report instead of opening the terminal UI.
        #[arg(long)]
        headless: bool,
    },
}

/// The bench's commands.
#[derive(Debug, Subcommand)]
enum VmCommand {
    /// Install QEMU and friends, fetch and unpack the guest kernel, headers and tools.
    Prepare,
    /// Boot the guest and run a scenario (see xtask/bench/scenarios).
    Run {
        /// The scenario's name, e.g. playback-remove-rescan.
        scenario: String,
        /// Scenario parameters, KEY=VALUE (e.g. cycles=5).
        #[arg(long = "param", value_parser = vm::parse_param)]
        params: Vec<(String, String)>,
    },
    /// Boot the guest with an interactive shell on the serial console.
    Shell,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Setup => setup::run(),
        Task::Build => setup::run().and_then(|()| tasks::build()),
        Task::Test => setup::run().and_then(|()| tasks::test()),
        Task::Bench { large, only } => tasks::bench(large, only),
        Task::Fuzz {
            time,
            merge,
            target,
        } => fuzz::run(&fuzz::Options {
            seconds: time,
            target,
            merge,
        }),
        Task::Vm { command } => match command {
            VmCommand::Prepare => vm::prepare().map(drop),
            VmCommand::Run { scenario, params } => vm::run_command(&scenario, &params),
            VmCommand::Shell => vm::shell(),
        },
        Task::Soak { cycles } => soak::command(cycles),
        Task::Demo { headless } => setup::run().and_then(|()| tasks::demo(headless)),
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
