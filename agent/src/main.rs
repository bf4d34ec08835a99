//! The `barwatch` binary: record, probes, report, check.
//!
//! Exit codes: 0 success, 1 error (the message says what went wrong and what to do),
//! 2 usage error (from clap). A closed output pipe (`barwatch record | head`) ends
//! quietly with 0. `check` has its own: 0 pass, 1 violation, 2 incomplete, 3 usage
//! or set-up error.

mod check;
mod cli;
mod recording;
mod say;

/// mimalloc rather than glibc's malloc: replay parses on one thread and the
/// analysis frees the events on another, and glibc's cross-thread frees made
/// handing events over cost more than parsing them (`check --capture` of 10M
/// events: 15.2 s with glibc, 6.7 s with mimalloc).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's `mi_option_set` (mimalloc.h), from the library the allocator
    /// links.
    fn mi_option_set(option: libc::c_int, value: libc::c_long);
    /// mimalloc's `mi_option_get`: what the tests hold the option numbers to.
    #[cfg(test)]
    fn mi_option_get(option: libc::c_int) -> libc::c_long;
}

/// `mi_option_purge_delay` and `mi_option_arena_purge_mult` in mimalloc 2's
/// `mi_option_e` (libmimalloc-sys 0.1.49's v2 sources).
const MI_OPTION_PURGE_DELAY: libc::c_int = 15;
const MI_OPTION_ARENA_PURGE_MULT: libc::c_int = 24;

/// Whether `command` records for as long as it is left running: `record`, and
/// `check` without `--capture`.
fn records_live(command: &Command) -> bool {
    match command {
        Command::Record(_) => true,
        Command::Check(args) => args.capture.is_none(),
        _ => false,
    }
}

/// Has mimalloc hand freed memory back to the kernel at once rather than 10 ms
/// later (100 ms for its arenas), for the commands that record for hours: a
/// live `check` frees its settled past in bursts, and with the delays its heap
/// (RssAnon) grew in 7–11 MB steps over a 30-cycle soak while the events it
/// keeps stay bounded (flat at 16 MB with glibc's allocator; with this, 8 MB
/// from the start and 13 MB once the analysis' window has its size). A replay
/// keeps the delays: purging at once cost `check --capture` 37% of its speed
/// (3.67M → 2.31M events/s, `cargo xtask bench --only replay`).
fn return_freed_memory_at_once() {
    // SAFETY: mi_option_set is not thread safe: it runs before `run` starts
    // any thread of barwatch's; both options take a number.
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        mi_option_set(MI_OPTION_ARENA_PURGE_MULT, 1);
    }
}

use std::{
    fmt::Write as _,
    io::{self, BufWriter, Write},
    os::fd::AsFd as _,
    process::ExitCode,
};

use anyhow::{Context as _, Result};
use barwatch::{
    analysis::render::{headline, write_body},
    capture::writer::CaptureWriter,
    live::{
        cost,
        loader::{Filters, LiveOptions, LiveProbes},
        record::{self, StopReason},
    },
    pipeline::{Pipeline, Replay, plan, start::Started},
    probe_table,
    report::{Summary, SummaryBuilder},
    rules::RuleConfig,
    visible::{VisibleWriter, visible},
};
use clap::Parser as _;
use cli::{Cli, Command, ProbesArgs, RecordArgs, ReportArgs};
use recording::{capture_output, event_loop, tell_fate};
use say::{is_broken_pipe, say};

/// `barwatch check`'s exit status for usage and set-up errors.
const CHECK_SETUP_ERROR: u8 = 3;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let checking = std::env::args().nth(1).as_deref() == Some("check");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match (e.use_stderr(), checking) {
                (false, _) => ExitCode::SUCCESS,
                (true, true) => ExitCode::from(CHECK_SETUP_ERROR),
                (true, false) => ExitCode::from(2),
            };
        }
    };
    if records_live(&cli.command) {
        return_freed_memory_at_once();
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            say(format_args!("barwatch: {e:#}"));
            if checking {
                ExitCode::from(CHECK_SETUP_ERROR)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Runs one subcommand.
fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Record(args) => record(args).map(|()| ExitCode::SUCCESS),
        Command::Probes(args) => probes(args).map(|()| ExitCode::SUCCESS),
        Command::Report(args) => report(args).map(|()| ExitCode::SUCCESS),
        Command::Check(args) => check::check(args),
    }
}

/// `barwatch record`.
fn record(args: RecordArgs) -> Result<()> {
    let Started {
        probes,
        devices,
        header,
        attached,
    } = recording::start(&args.recording)?;
    let (mut out, target, placed) =
        capture_output(args.output.as_deref(), || Box::new(io::stdout()))?;
    let output = match &placed {
        Some(placed) => placed.descriptor(),
        None => io::stdout().as_fd().try_clone_to_owned(),
    }
    .context("cannot watch the capture's output for a reader that went away")?;
    let until = async {
        tokio::select! {
            reason = record::after(args.duration) => reason,
            reason = record::reader_gone(output) => reason,
        }
    };
    let recorded = event_loop()?.block_on(record::record(
        probes,
        devices,
        CaptureWriter::unbuffered(&mut out, &header)?,
        until,
        None,
    ))?;
    out.close()
        .with_context(|| format!("cannot finish writing the capture to {target}"))?;
    tell_fate(placed.as_ref(), &target);
    let why = match recorded.reason {
        StopReason::Duration => "duration reached",
        StopReason::Interrupt => "interrupted",
        StopReason::Terminate => "terminated",
        StopReason::CommandDone | StopReason::WaitTimedOut => "done",
        StopReason::ReaderGone => "its reader went away",
    };
    say(format_args!(
        "barwatch: recorded {} events ({} lost, {} undecodable) from {attached} probe points to {target}; {why}",
        recorded.trailer.events, recorded.trailer.lost, recorded.trailer.decode_errors
    ));
    if recorded.trailer.lost > 0 {
        say(format_args!(
            "barwatch: records were lost because the ring buffer was full; try a larger --ring-size"
        ));
    }
    Ok(())
}

/// `barwatch probes`.
fn probes(args: ProbesArgs) -> Result<()> {
    let profiles = plan::load_profiles(&args.profiles)?;
    let mut probes = LiveProbes::start(&LiveOptions {
        points: plan::probe_points(&profiles, &[])?,
        filters: Filters::default(),
        // Measured, the programs write into a buffer of a recording's size.
        ring_bytes: if args.cost.is_some() {
            cli::DEFAULT_RING_BYTES
        } else {
            4096 * 16
        },
        order: plan::mechanism_order(args.prefer_fentry),
    })?;
    let cost = match args.cost {
        Some(window) => Some(probes.measure_cost(window, || {
            say(format_args!(
                "barwatch: probes attached; measuring what each program costs for {}",
                humantime::format_duration(window)
            ));
        })?),
        None => None,
    };
    let mut out = io::stdout().lock();
    match (&cost, args.json) {
        (None, true) => {
            serde_json::to_writer_pretty(&mut out, &probes.table)?;
            writeln!(out)?;
        }
        (Some((costs, _)), true) => {
            let both = serde_json::json!({ "probes": &probes.table, "cost": costs });
            serde_json::to_writer_pretty(&mut out, &both)?;
            writeln!(out)?;
        }
        (_, false) => {
            out.write_all(visible(&probe_table::table_text(&probes.table)).as_bytes())?;
            if let Some((costs, elapsed)) = &cost {
                writeln!(out)?;
                out.write_all(visible(&cost::cost_text(costs, *elapsed)).as_bytes())?;
            }
        }
    }
    Ok(())
}

/// `barwatch report`.
fn report(args: ReportArgs) -> Result<()> {
    let cannot_read = || format!("cannot read capture {}", args.file.display());
    let replay = Replay::open(&args.file).with_context(cannot_read)?;
    let mut summary = SummaryBuilder::new(replay.header());
    let mut pipeline = Pipeline::new(replay.header()).with(&mut summary);
    let end = replay.run(&mut pipeline).with_context(cannot_read)?;
    let verdict = pipeline
        .finish_replay(&end)
        .into_judgement(&RuleConfig::default());
    let summary = summary.finish(&end);
    let mut out = io::stdout().lock();
    if args.json {
        #[derive(serde::Serialize)]
        struct Report<'a> {
            #[serde(flatten)]
            summary: &'a Summary,
            verdict: &'a barwatch::analysis::Judgement,
        }
        let report = Report {
            summary: &summary,
            verdict: &verdict,
        };
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        let mut text = VisibleWriter::new(BufWriter::new(out));
        let _ = write!(text, "{summary}\n{}", headline(&verdict));
        write_body(&mut text, &verdict);
        text.finish()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_numbers_are_mimallocs_purge_delays() {
        // Both default to 10 in mimalloc 2, and no option next to them does:
        // a mimalloc that renumbered its options fails here, not silently.
        // SAFETY: reading options; no test of this binary sets them.
        let (delay, mult, before, after) = unsafe {
            (
                mi_option_get(MI_OPTION_PURGE_DELAY),
                mi_option_get(MI_OPTION_ARENA_PURGE_MULT),
                mi_option_get(MI_OPTION_PURGE_DELAY - 1),
                mi_option_get(MI_OPTION_ARENA_PURGE_MULT + 1),
            )
        };
        assert_eq!((delay, mult), (10, 10));
        assert_ne!(before, 10, "eager_commit_delay");
        assert_ne!(after, 10, "purge_extend_delay");
    }
}
