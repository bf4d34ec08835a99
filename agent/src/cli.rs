//! Command-line flags, and their validation into what the commands run with.

use std::{path::PathBuf, time::Duration};

use barwatch::pipeline::plan::RecordingFlags;
use clap::{Args, Parser, Subcommand};

/// barwatch traces Linux PCI drivers while their MMIO BARs are unmapped and moved.
#[derive(Debug, Parser)]
#[command(name = "barwatch", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record probe events to a capture file (needs CAP_BPF + CAP_PERFMON, or root).
    Record(RecordArgs),
    /// Show every probe point, whether it attached, how, or why not (needs privileges).
    Probes(ProbesArgs),
    /// Summarise a capture file and judge it: timelines and rule verdicts (no privileges needed).
    Report(ReportArgs),
    /// Run a command while recording, then judge every rule: exit 0 pass, 1 violation,
    /// 2 incomplete (records lost, a required probe missing, a cycle left open),
    /// 3 usage or set-up error. With --capture, judge a capture instead.
    Check(CheckArgs),
}

/// Flags of `barwatch record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Write the capture here (mode 0600); without it, to standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Stop after this long (e.g. 10s, 500ms, 2m); without it, run until Ctrl-C or SIGTERM.
    #[arg(short, long, value_name = "D", value_parser = parse_period)]
    pub duration: Option<Duration>,
    /// What to record and how.
    #[command(flatten)]
    pub recording: RecordingArgs,
}

/// What to record and how: shared by `record` and `check`.
#[derive(Debug, Args)]
pub struct RecordingArgs {
    /// Attach only these probe points (repeatable), named as `barwatch probes` shows them.
    #[arg(long = "probe", value_name = "NAME")]
    pub probes: Vec<String>,
    /// Add a driver profile's probe points (TOML, repeatable) to the built-in ones.
    #[arg(long = "profile", value_name = "FILE")]
    pub profiles: Vec<PathBuf>,
    /// Record only these processes (repeatable); default: every process.
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Record only these IRQs (repeatable); default: the watched devices' IRQs
    /// (followed to new vectors by their handler), or every IRQ when every device is
    /// watched.
    #[arg(long = "irq", value_name = "N")]
    pub irqs: Vec<u32>,
    /// Watch these PCI devices (repeatable, e.g. 0000:00:04.0); default: every device
    /// bound to a driver a loaded profile names. Events are marked with the watched
    /// device they concern.
    #[arg(long = "device", value_name = "BDF", value_parser = barwatch::device::parse_bdf)]
    pub devices: Vec<String>,
    /// Ring buffer size, a power of two of at least 4096 bytes (e.g. 16777216).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_RING_BYTES, value_parser = parse_ring_size)]
    pub ring_size: u32,
    /// Attach vmlinux functions with fentry/fexit before trying kprobes: cheaper per
    /// call, but 8 functions each at most (module functions always use kprobes).
    #[arg(long)]
    pub prefer_fentry: bool,
}

impl RecordingArgs {
    /// The flags as the library's recording plan takes them.
    pub fn flags(&self) -> RecordingFlags {
        RecordingFlags {
            probes: self.probes.clone(),
            profiles: self.profiles.clone(),
            pids: self.pids.clone(),
            irqs: self.irqs.clone(),
            devices: self.devices.clone(),
            ring_size: self.ring_size,
            prefer_fentry: self.prefer_fentry,
        }
    }
}

/// Flags of `barwatch check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Judge this capture instead of recording (no privileges needed); no command.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["output", "command"])]
    pub capture: Option<PathBuf>,
    /// Expectations (TOML): devices, cycles that must happen, required rules,
    /// budgets, severities.
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// After the command exits, wait at most this long for open cycles to close.
    #[arg(long, value_name = "D", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Also write the verdict as JUnit XML here (one test case per rule).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print the verdict as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Keep the capture here (mode 0600).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// What to record and how.
    #[command(flatten)]
    pub recording: RecordingArgs,
    /// The command to run while recording, after `--` (run directly, no shell).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// The ring buffer a recording uses unless told otherwise: at a million
/// records a second it holds some 170 ms of them, so a recorder the machine
/// keeps off its CPU for a while catches up without a loss (with 4 MiB, 45 ms,
/// a 2-core machine's recorder lost records in one of two 10 s runs).
pub const DEFAULT_RING_BYTES: u32 = 16 << 20;

/// Flags of `barwatch probes`.
#[derive(Debug, Args)]
pub struct ProbesArgs {
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
    /// Add a driver profile's probe points (TOML, repeatable) to the built-in ones.
    #[arg(long = "profile", value_name = "FILE")]
    pub profiles: Vec<PathBuf>,
    /// Attach vmlinux functions with fentry/fexit before trying kprobes: cheaper per
    /// call, but 8 functions each at most (module functions always use kprobes).
    #[arg(long)]
    pub prefer_fentry: bool,
    /// Then measure each attached program's cost for this long (e.g. 5s), as
    /// the kernel counts it: runs per second, nanoseconds per run, CPU share.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub cost: Option<Duration>,
}

/// Flags of `barwatch report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The capture file to summarise.
    pub file: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses `10s`, `500ms`, `2m`, …
fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (try e.g. 10s, 500ms or 2m)"))
}

/// Parses a recording's length: a duration of more than zero.
fn parse_period(text: &str) -> Result<Duration, String> {
    let period = parse_duration(text)?;
    if period.is_zero() {
        return Err(
            "a recording of no time would stop before anything is seen; give e.g. 10s, or leave --duration out to record until Ctrl-C"
                .to_owned(),
        );
    }
    Ok(period)
}

/// Accepts powers of two of at least a page, as BPF ring buffers need.
fn parse_ring_size(text: &str) -> Result<u32, String> {
    let size: u32 = text
        .parse()
        .map_err(|e| format!("`{text}` is not a byte count: {e}"))?;
    if size < 4096 || !size.is_power_of_two() {
        return Err(format!(
            "{size} is not a power of two of at least 4096 (BPF ring buffers need that)"
        ));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_flags_parse() {
        let cli = Cli::try_parse_from([
            "barwatch",
            "record",
            "-o",
            "x.jsonl",
            "--duration",
            "5s",
            "--probe",
            "irq:irq_handler_entry",
            "--pid",
            "42",
            "--device",
            "0000:00:04.0",
        ])
        .unwrap();
        let Command::Record(args) = cli.command else {
            panic!("not record")
        };
        assert_eq!(args.duration, Some(Duration::from_secs(5)));
        let args = args.recording;
        assert_eq!(args.probes, ["irq:irq_handler_entry"]);
        assert_eq!(args.pids, [42]);
        assert_eq!(args.devices, ["0000:00:04.0"]);
        assert_eq!(args.ring_size, 16 << 20);
    }

    #[test]
    fn check_takes_its_command_after_a_double_dash() {
        let cli = Cli::try_parse_from([
            "barwatch",
            "check",
            "--expect",
            "e.toml",
            "--timeout",
            "3s",
            "--device",
            "0000:00:04.0",
            "--",
            "sh",
            "-c",
            "echo 1 > remove",
        ])
        .unwrap();
        let Command::Check(args) = cli.command else {
            panic!("not check")
        };
        assert_eq!(args.command, ["sh", "-c", "echo 1 > remove"]);
        assert_eq!(args.timeout, Duration::from_secs(3));
        assert_eq!(args.recording.devices, ["0000:00:04.0"]);
        assert!(
            Cli::try_parse_from(["barwatch", "check", "--capture", "c.jsonl", "--", "true"])
                .is_err()
        );
    }

    #[test]
    fn a_malformed_device_address_is_explained() {
        for bad in [
            "00:04.0",
            "0000:00:04.8",
            "0000:00:4.0",
            "0000:00:04.0x",
            "0000:0G:04.0",
        ] {
            let err = Cli::try_parse_from(["barwatch", "record", "--device", bad]).unwrap_err();
            assert!(
                err.to_string().contains("is not a PCI address"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn bad_values_are_explained() {
        let err = Cli::try_parse_from(["barwatch", "record", "--duration", "soon"]).unwrap_err();
        assert!(err.to_string().contains("try e.g. 10s"), "{err}");
        let err = Cli::try_parse_from(["barwatch", "record", "--ring-size", "5000"]).unwrap_err();
        assert!(err.to_string().contains("power of two"), "{err}");
        let err = Cli::try_parse_from(["barwatch", "record", "--duration", "0s"]).unwrap_err();
        assert!(err.to_string().contains("no time"), "{err}");
    }
}
