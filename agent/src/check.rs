//! `barwatch check`: run a command while recording (or read a capture), judge every
//! rule, print the verdict, and exit 0 pass, 1 violation, 2 incomplete.

use std::{
    fmt::Write as _,
    io::{self, Write},
    process::{ExitCode, ExitStatus},
    time::Duration,
};

use anyhow::{Context as _, Result};
use barwatch::{
    analysis::{
        Analysis, Judgement, Outcome, UnearnedKind,
        render::{headline, write_body},
    },
    capture::writer::CaptureWriter,
    expect::{self, Expectations, Unmet, exit_status},
    junit,
    live::record::{self, StopReason, Until},
    pipeline::{Pipeline, Replay, start::Started},
    visible::VisibleWriter,
};
use serde::Serialize;

use crate::{
    cli::CheckArgs,
    recording::{self, capture_output, event_loop, tell_fate},
    say::{is_broken_pipe, say},
};

/// How long records of the command's last moments may take to reach the ring
/// buffer's reader after it exits.
const SETTLE: Duration = Duration::from_millis(300);

/// `barwatch check`.
pub fn check(args: CheckArgs) -> Result<ExitCode> {
    let expectations = match &args.expect {
        Some(path) => Expectations::load(path)?,
        None => Expectations::default(),
    };
    // Opened first, so a path that cannot be written stops the check before its
    // command runs.
    let junit = args
        .junit
        .as_deref()
        .map(|path| {
            barwatch::output::create(path)
                .map(|file| (file, path))
                .context("cannot write the JUnit report")
        })
        .transpose()?;
    let (analysis, command) = match &args.capture {
        Some(path) => {
            let cannot_read = || format!("cannot read capture {}", path.display());
            let replay = Replay::open(path).with_context(cannot_read)?;
            let mut pipeline = Pipeline::new(replay.header());
            let end = replay.run(&mut pipeline).with_context(cannot_read)?;
            (pipeline.finish_replay(&end), None)
        }
        None => {
            if args.command.is_empty() {
                anyhow::bail!(
                    "no command to run: give it after `--` (e.g. barwatch check -- sh -c 'echo 1 > /sys/bus/pci/devices/0000:00:04.0/remove'), or judge a recording with --capture FILE"
                );
            }
            let (analysis, status) = live(&args)?;
            (analysis, Some(status))
        }
    };
    let mut judgement = analysis.into_judgement(&expectations.rules);
    if expectations.min_cycles == Some(0) {
        judgement.excuse(UnearnedKind::NoCycle);
    }
    let mut unmet = expectations.unmet(&judgement);
    if let Some(status) = command
        && !status.success()
    {
        unmet.push(Unmet {
            message: format!(
                "the command failed ({status}), so the run may not have done what it should"
            ),
            failure: false,
        });
    }
    let outcome = expect::outcome(&judgement, &unmet);
    let code = exit_status(outcome);
    if let Some((mut file, path)) = junit
        && let Err(e) = file.write_all(junit::report(&judgement, &unmet).as_bytes())
    {
        say(format_args!(
            "barwatch: cannot write the JUnit report {}: {e}",
            path.display()
        ));
    }
    // The exit status is the verdict whatever becomes of standard output: a
    // reader that went away (`| head`) or a full disk does not turn a failure
    // into a pass.
    if let Err(e) = print(&judgement, &unmet, outcome, code, args.json)
        && !is_broken_pipe(&e)
    {
        say(format_args!(
            "barwatch: cannot print the verdict ({e:#}); the exit status still says it"
        ));
    }
    Ok(ExitCode::from(code))
}

/// The verdict as `--json` prints it.
#[derive(Serialize)]
struct Verdict<'a> {
    outcome: Outcome,
    exit: u8,
    unmet: &'a [Unmet],
    #[serde(flatten)]
    judgement: &'a Judgement,
}

fn print(
    judgement: &Judgement,
    unmet: &[Unmet],
    outcome: Outcome,
    exit: u8,
    json: bool,
) -> Result<()> {
    let mut out = io::stdout().lock();
    if json {
        let verdict = Verdict {
            outcome,
            exit,
            unmet,
            judgement,
        };
        serde_json::to_writer_pretty(&mut out, &verdict)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(());
    }
    let mut text = VisibleWriter::new(io::BufWriter::new(out));
    let _ = text.write_str(&verdict_head(judgement, unmet, outcome));
    write_body(&mut text, judgement);
    text.finish()?;
    Ok(())
}

/// The verdict's text up to the report's body: the report's headline, led by
/// the expectations' verdict when it is worse than the rules' alone.
fn verdict_head(judgement: &Judgement, unmet: &[Unmet], outcome: Outcome) -> String {
    let head = headline(judgement);
    let (first, rest) = head.split_once('\n').unwrap_or((&head, ""));
    let mut out = String::new();
    if outcome > judgement.outcome() {
        let word = if outcome == Outcome::Violation {
            "FAIL"
        } else {
            "INCOMPLETE"
        };
        let messages: Vec<&str> = unmet.iter().map(|u| u.message.as_str()).collect();
        out.push_str(&format!("{word}: {}\n", messages.join("; ")));
        if judgement.outcome() != Outcome::Pass {
            out.push_str(&format!("{first}\n"));
        }
    } else {
        out.push_str(&format!("{first}\n"));
        for u in unmet {
            out.push_str(&format!("expectation: {}\n", u.message));
        }
    }
    out.push_str(rest);
    out
}

/// Records while the command runs and until its cycles close; returns the
/// analysis and the command's exit status.
fn live(args: &CheckArgs) -> Result<(Analysis, ExitStatus)> {
    let Started {
        probes,
        devices,
        header,
        attached,
    } = recording::start(&args.recording)?;
    let mut pipeline = Pipeline::new(&header);
    let mut status = None;
    let program = &args.command[0];
    let (mut out, target, placed) =
        capture_output(args.output.as_deref(), || Box::new(io::sink()))?;
    let writer = CaptureWriter::unbuffered(&mut out, &header)?;
    let recorded = event_loop()?.block_on(async {
        let mut child = tokio::process::Command::new(program)
            .args(&args.command[1..])
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!("cannot run `{program}` (it is run directly, not by a shell)")
            })?;
        let status = &mut status;
        let timeout = args.timeout;
        let until = async move {
            *status = child.wait().await.ok();
            tokio::time::sleep(SETTLE).await;
            Until::CyclesClosed {
                deadline: tokio::time::Instant::now() + timeout,
            }
        };
        anyhow::Ok(record::record(probes, devices, writer, until, Some(&mut pipeline)).await?)
    })?;
    out.close()
        .with_context(|| format!("cannot finish writing the capture to {target}"))?;
    tell_fate(placed.as_ref(), &target);
    let analysis = pipeline.finish(Some(&recorded.trailer));
    let status = status.context("the command was not waited for: barwatch was interrupted")?;
    let why = match recorded.reason {
        StopReason::WaitTimedOut => format!(
            "; a cycle was still open {} after the command exited",
            humantime::format_duration(args.timeout)
        ),
        _ => String::new(),
    };
    say(format_args!(
        "barwatch: {} events ({} lost) from {attached} probe points while `{program}` ran{why}",
        recorded.trailer.events, recorded.trailer.lost
    ));
    Ok((analysis, status))
}
