//! `barwatch-tui FILE`: replay a capture as its events, devices and violations with their evidence.

use std::{
    io::{self, IsTerminal},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::bail;
use barwatch::capture::reader::{CaptureError, read_capture};
use barwatch_tui::{app::App, theme::Theme};
use clap::Parser;

/// Browse a barwatch capture file in the terminal.
#[derive(Parser)]
#[command(name = "barwatch-tui", version, about)]
struct Cli {
    /// The capture file (JSON lines) that barwatch recorded.
    file: PathBuf,
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
    let file = cli.file.display();
    // An open failure already names the file; anything else gets the file in front.
    let capture = read_capture(&cli.file).map_err(|error| match error {
        CaptureError::Open { .. } => anyhow::Error::new(error),
        error => anyhow::Error::new(error).context(format!("cannot read capture {file}")),
    })?;
    if !io::stdout().is_terminal() {
        bail!(
            "stdout is not a terminal, and the capture browser needs one; \
             for a text summary run `barwatch report {file}`"
        );
    }
    let mut app = App::new(file.to_string(), capture);
    if let Ok(metadata) = std::fs::metadata(&cli.file) {
        app.set_file_size(metadata.len());
    }
    barwatch_tui::run(&mut app, &Theme::from_env())
}
