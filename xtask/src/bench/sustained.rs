//! `cargo xtask bench`'s sustained section: the record rate `barwatch record`
//! holds. A paced loop of ALSA ioctls pinned to one CPU asks for a known
//! record rate (each call is recorded entering and returning) for ten seconds
//! while the recorder, pinned to the other CPU, writes its capture; the rate
//! climbs until records are lost or the loop cannot go faster. Each step gives
//! what the trailer counts (written, lost, per probe) and the recorder's CPU
//! time over the step. Then a step past the limit: a loop on each CPU, the
//! recorder sharing its CPU with one. The first step that loses records is
//! judged with `barwatch check --capture`: what a user past the limit sees.
//! Fails when a record is lost at the target rate, or when the recorder needs
//! more than one core for it.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use super::{
    kernel,
    live::{recording_missing, remove, skip_or_fail, trailer},
    process,
};
use crate::{shell, tasks};

/// How long each rate is held.
const HOLD: Duration = Duration::from_secs(10);
/// The record rates asked for, in order (records a second: two per ioctl).
const RATES: [u64; 8] = [
    100_000, 250_000, 500_000, 750_000, 1_000_000, 1_250_000, 1_500_000, 2_000_000,
];
/// The rate asked for past the limit, from a loop on each CPU: what a user
/// whose machine makes more records than the recorder takes sees.
const OVERLOAD: u64 = 2_000_000;
/// The rate at which no record may be lost.
const TARGET_RATE: u64 = 1_000_000;
/// The recorder's CPU use at [`TARGET_RATE`], at most this many cores.
const TARGET_CORES: f64 = 1.0;
/// The rate at which the recorder's CPU use is also reported.
const LOW_RATE: u64 = 100_000;
/// A step holds its rate when the loop made at least this share of it.
const HELD: f64 = 0.95;
/// The CPU the loop is pinned to.
const LOOP_CPU: &str = "0";
/// The CPU the recorder is pinned to.
const RECORDER_CPU: &str = "1";

/// One rate held for [`HOLD`].
struct Step {
    asked: u64,
    /// How many loops shared the rate, one per CPU from the first.
    loops: usize,
    /// Records a second the loops made (two per call).
    made: f64,
    written: u64,
    lost: u64,
    /// Per probe point that lost records: its name and how many.
    lost_by_probe: Vec<(String, u64)>,
    /// The recorder's CPU time over the step divided by its length.
    cores: f64,
    /// `barwatch check --capture` on a lossy step: its exit code and headline.
    verdict: Option<(i32, String)>,
}

impl Step {
    fn held(&self) -> bool {
        self.made >= HELD * self.asked as f64
    }

    fn to_json(&self) -> Value {
        json!({
            "asked_records_per_s": self.asked,
            "loops": self.loops,
            "made_records_per_s": self.made,
            "held": self.held(),
            "written": self.written,
            "lost": self.lost,
            "lost_by_probe": self.lost_by_probe.iter().map(|(p, n)| json!({"probe": p, "lost": n})).collect::<Vec<_>>(),
            "recorder_cores": self.cores,
            "check": self.verdict.as_ref().map(|(code, headline)| json!({"exit": code, "headline": headline})),
        })
    }
}

/// The sustained section: prints the steps, writes `target/bench/sustained.json`.
pub fn run() -> Result<()> {
    let kernel::Binaries { barwatch, load } = kernel::build()?;
    let root = tasks::root();
    let dir = root.join("target/bench");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if let Some(why) = skip_or_fail(recording_missing())? {
        eprintln!("sustained: skipped: {why}");
        return Ok(());
    }
    let capture = dir.join("sustained-record.jsonl");
    let mut steps: Vec<Step> = Vec::new();
    for asked in RATES {
        let past_target = asked > TARGET_RATE;
        if past_target && steps.last().is_some_and(|s| s.lost > 0 || !s.held()) {
            break;
        }
        eprintln!("sustained: {asked} records/s for {} s", HOLD.as_secs());
        let first_loss = steps.iter().all(|s| s.lost == 0);
        let step = hold(&barwatch, &load, &capture, asked, &[LOOP_CPU], first_loss)?;
        print(&step);
        steps.push(step);
    }
    eprintln!(
        "sustained: past the limit: {OVERLOAD} records/s from a loop on each CPU, the recorder sharing CPU {RECORDER_CPU} with one, for {} s",
        HOLD.as_secs()
    );
    let overload = hold(
        &barwatch,
        &load,
        &capture,
        OVERLOAD,
        &[LOOP_CPU, RECORDER_CPU],
        true,
    )?;
    print(&overload);
    let _ = remove(&capture);
    let best = steps
        .iter()
        .filter(|s| s.lost == 0 && s.held())
        .map(|s| s.asked)
        .max();
    let limit = steps.iter().find(|s| s.lost > 0).map(|s| s.asked);
    match (best, limit) {
        (Some(best), Some(limit)) => eprintln!(
            "sustained: held {best} records/s for {} s without a loss; lost records at {limit}",
            HOLD.as_secs()
        ),
        (Some(best), None) => eprintln!(
            "sustained: held {best} records/s for {} s without a loss, the loop's limit on one CPU",
            HOLD.as_secs()
        ),
        (None, _) => eprintln!("sustained: no rate was held without a loss"),
    }
    let cores_at = |rate: u64| steps.iter().find(|s| s.asked == rate).map(|s| s.cores);
    for rate in [LOW_RATE, TARGET_RATE] {
        if let Some(cores) = cores_at(rate) {
            eprintln!("sustained: the recorder used {cores:.2} cores at {rate} records/s");
        }
    }
    let misses = misses(&steps);
    let report = json!({
        "hold_s": HOLD.as_secs(),
        "loop_cpu": LOOP_CPU,
        "recorder_cpu": RECORDER_CPU,
        "steps": steps.iter().map(Step::to_json).collect::<Vec<_>>(),
        "overload": overload.to_json(),
        "held_without_loss_records_per_s": best,
        "first_loss_records_per_s": limit,
        "recorder_cores_at_100k": cores_at(LOW_RATE),
        "recorder_cores_at_1m": cores_at(TARGET_RATE),
        "targets": {"zero_loss_records_per_s": TARGET_RATE, "recorder_cores": TARGET_CORES},
        "missed": misses,
    });
    super::conclude("sustained", &dir, &report, &misses)
}

/// The targets missed, in words.
fn misses(steps: &[Step]) -> Vec<String> {
    let mut misses = Vec::new();
    match steps.iter().find(|s| s.asked == TARGET_RATE) {
        None => misses.push(format!("the {TARGET_RATE} records/s step did not run")),
        Some(step) => {
            if !step.held() {
                misses.push(format!(
                    "the loop made {:.0} records/s of the {TARGET_RATE} asked",
                    step.made
                ));
            }
            if step.lost > 0 {
                misses.push(format!(
                    "{} of {} records lost at {TARGET_RATE} records/s (target: none)",
                    step.lost,
                    step.lost + step.written
                ));
            }
            if step.cores > TARGET_CORES {
                misses.push(format!(
                    "the recorder used {:.2} cores at {TARGET_RATE} records/s (target <= {TARGET_CORES})",
                    step.cores
                ));
            }
        }
    }
    misses
}

/// Holds `asked` records a second for [`HOLD`] under `barwatch record`,
/// shared among loops on `loop_cpus`; a lossy step is judged when
/// `judge_loss`.
fn hold(
    barwatch: &Path,
    load: &Path,
    capture: &Path,
    asked: u64,
    loop_cpus: &[&str],
    judge_loss: bool,
) -> Result<Step> {
    let recorder = kernel::start_recorder(barwatch, capture, RECORDER_CPU)?;
    let pid = recorder.id();
    let calls_per_s = asked / 2 / loop_cpus.len() as u64;
    let calls = calls_per_s * HOLD.as_secs();
    let cpu_before = process::cpu_time(pid).unwrap_or_default();
    let started = Instant::now();
    let said: Vec<Result<Value>> = thread::scope(|scope| {
        let loops: Vec<_> = loop_cpus
            .iter()
            .map(|cpu| {
                scope.spawn(move || {
                    let (rate, calls) = (calls_per_s.to_string(), calls.to_string());
                    kernel::run_load(load, &["--cpu", cpu, "--rate", &rate, &calls])
                })
            })
            .collect();
        loops
            .into_iter()
            .map(|l| l.join().unwrap_or_else(|_| bail!("a load thread panicked")))
            .collect()
    });
    let wall = started.elapsed();
    let cpu_after = process::cpu_time(pid).unwrap_or_default();
    let status = kernel::interrupt(recorder)?;
    if !status.success() {
        bail!("barwatch record failed ({status})");
    }
    let mut made = 0.0;
    for said in said {
        let seconds = said?["seconds"]
            .as_f64()
            .context("no seconds in the load's output")?;
        made += 2.0 * calls as f64 / seconds.max(1e-9);
    }
    let trailer = trailer(capture)?;
    let lost = trailer["lost"]
        .as_u64()
        .context("the trailer has no lost")?;
    let written = trailer["events"]
        .as_u64()
        .context("the trailer has no events")?;
    let lost_by_probe = trailer["probes"]
        .as_object()
        .map(|probes| {
            probes
                .iter()
                .filter_map(|(name, totals)| {
                    let lost = totals["lost"].as_u64()?;
                    (lost > 0).then(|| (name.clone(), lost))
                })
                .collect()
        })
        .unwrap_or_default();
    let verdict = if lost > 0 && judge_loss {
        Some(judge(barwatch, capture)?)
    } else {
        None
    };
    Ok(Step {
        asked,
        loops: loop_cpus.len(),
        made,
        written,
        lost,
        lost_by_probe,
        cores: cpu_after.saturating_sub(cpu_before).as_secs_f64() / wall.as_secs_f64(),
        verdict,
    })
}

/// `barwatch check --capture` on a lossy capture: its exit code, its first
/// line and the losses it reports.
fn judge(barwatch: &Path, capture: &Path) -> Result<(i32, String)> {
    let out = shell::output(
        Command::new(barwatch)
            .args(["check", "--capture"])
            .arg(PathBuf::from(capture)),
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let mut said = lines.next().unwrap_or_default().to_owned();
    if let Some(lost) = lines.find(|l| l.trim_start().starts_with("records lost")) {
        said.push_str(" [");
        said.push_str(lost.trim());
        said.push(']');
    }
    let headline = said;
    Ok((out.status.code().unwrap_or(-1), headline))
}

fn print(step: &Step) {
    eprintln!(
        "sustained:   asked {} records/s, made {:.0}{}; wrote {}, lost {}; recorder {:.2} cores",
        step.asked,
        step.made,
        if step.held() { "" } else { " (not held)" },
        step.written,
        step.lost,
        step.cores
    );
    for (probe, lost) in &step.lost_by_probe {
        eprintln!("sustained:     lost by {probe}: {lost}");
    }
    if let Some((code, headline)) = &step.verdict {
        eprintln!("sustained:     barwatch check --capture: exit {code}: {headline}");
    }
}
