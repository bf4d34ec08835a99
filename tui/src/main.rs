//! `barwatch-tui [FILE]`: replay a capture, or watch a live recording, as its
//! events, devices, timeline and violations with their evidence.

/// mimalloc rather than glibc's malloc, as in `barwatch`: a replay parses on
/// one thread and the analysis frees the events on another.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{
    io::{self, IsTerminal},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{Context, bail};
use barwatch::capture::reader::CaptureError;
use barwatch_tui::{
    app::App,
    live::{LiveSource, barwatch_binary},
    theme::Theme,
};
use clap::Parser;

/// Browse a barwatch capture file in the terminal, or watch a live recording.
#[derive(Parser)]
#[command(name = "barwatch-tui", version, about)]
struct Cli {
    /// The capture file (JSON lines) to replay; without it, record live with
    /// `barwatch record` (which needs CAP_BPF and CAP_PERFMON, or root).
    file: Option<PathBuf>,
    /// Live: also keep the capture in this file (mode 0600).
    #[arg(short, long, value_name = "FILE", conflicts_with = "file")]
    output: Option<PathBuf>,
    /// Live: flags for `barwatch record`, after `--` (e.g. -- --device 0000:00:04.0).
    #[arg(last = true, value_name = "RECORD-FLAGS", conflicts_with = "file")]
    record: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match try_main(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("barwatch-tui: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main(cli: &Cli) -> anyhow::Result<()> {
    if !io::stdout().is_terminal() {
        let hint = match &cli.file {
            Some(file) => format!("for a text report run `barwatch report {}`", file.display()),
            None => "for a recording without one run `barwatch record`".to_owned(),
        };
        bail!("stdout is not a terminal, and the capture browser needs one; {hint}");
    }
    let Some(path) = &cli.file else {
        return live(cli);
    };
    let file = path.display();
    // An open failure already names the file; anything else gets the file in front.
    let mut app = App::replay(file.to_string(), path).map_err(|error| match error {
        CaptureError::Open { .. } => anyhow::Error::new(error),
        error => anyhow::Error::new(error).context(format!("cannot read capture {file}")),
    })?;
    if let Ok(metadata) = std::fs::metadata(path) {
        app.set_file_size(metadata.len());
    }
    barwatch_tui::run(&mut app, &Theme::from_env(), None)
}

/// Records live through `barwatch record` and shows it as it comes.
fn live(cli: &Cli) -> anyhow::Result<()> {
    let copy = cli
        .output
        .as_ref()
        .map(|path| barwatch::output::create(path).context("cannot create the capture file"))
        .transpose()?;
    let barwatch = barwatch_binary();
    let (header, mut source) = LiveSource::start(&barwatch, &cli.record, copy)?;
    let name = cli
        .output
        .as_ref()
        .map_or_else(|| "live".to_owned(), |p| format!("live → {}", p.display()));
    let mut app = App::live(name, header);
    // Dropping the source stops the recorder cleanly, so its capture ends with the
    // trailer however the UI ended.
    barwatch_tui::run(&mut app, &Theme::from_env(), Some(&mut source))
}
