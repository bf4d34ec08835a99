//! `cargo xtask soak`: long runs on the real-kernel bench with barwatch checking
//! throughout. The clean soak removes and rescans the HD-audio controller during
//! playback N times under a mixer loop; the buggy
//! soak cycles the fixture in touch-after-unmap mode N times. Each is judged on
//! what a soak must show: every cycle run and closed, no record lost, the
//! kernel quiet (clean) or barwatch finding a violation in every cycle (buggy),
//! barwatch's memory flat, and the verdict and exit code it should give.

pub mod guest;
pub mod table;
pub mod verdict;

use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::vm;
use guest::Sample;

/// Cycles `cargo xtask soak` runs when not told.
pub const DEFAULT_CYCLES: usize = 50;

/// Cycles between two memory samples in a long soak (`barwatch.sample_every`).
pub const SAMPLE_EVERY: usize = 10;

/// Cycles between two memory samples in a soak of `cycles`: every
/// [`SAMPLE_EVERY`], or, in a soak too short for two such samples after the
/// first cycles, every fifth of it, so growth is still judged over most of it.
pub fn sample_every(cycles: usize) -> usize {
    if cycles >= 2 * SAMPLE_EVERY {
        SAMPLE_EVERY
    } else {
        (cycles / 5).max(1)
    }
}

/// How much barwatch's heap (RssAnon) may grow from the first sample past
/// [`WARM_UP_CYCLES`] to the last, in kB. The heap is where a leak shows: the rest of VmRSS is
/// mappings of a fixed size (the binary, and the BPF ring buffer, whose 16 MiB
/// are mapped twice: with 4 MiB, VmRSS rose by 8 MiB of file-backed pages once
/// in each 50-cycle soak, at a different cycle in each). Past the first cycles (probes attached, buffers and
/// maps at their size) a barwatch that keeps only a bounded window of events
/// holds per cycle just the cycle's summary (its steps: a few kB). Retaining
/// the events themselves cost about 350 bytes each in the bench guest, at some
/// 1 500 events per clean cycle: 40 cycles added 20 MB; 4 MiB leaves room for
/// the allocator's noise and catches a leak of a few hundred events a cycle.
pub const HEAP_GROWTH_BOUND_KB: u64 = 4096;

/// Cycles before the heap is at the size it keeps: the live analysis settles
/// its past from 4 096 events and again once its log has doubled, and a clean
/// cycle is some 1 200 to 1 500 events, so its window of events reaches its
/// size within the first six. Measured on 2026-12-04 (ten clean cycles, a
/// sample every second one, RssAnon kB): 8 516 / 8 408 / 13 848 / 13 584 /
/// 13 428 at cycles 2 to 10, one step as the window grew, then flat.
pub const WARM_UP_CYCLES: usize = 6;

/// Which soak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// HD-audio playback and a mixer loop: must pass.
    Clean,
    /// The fixture in touch-after-unmap mode: must fail in every cycle.
    Buggy,
}

impl Kind {
    /// The bench scenario that runs it.
    pub fn scenario(self) -> &'static str {
        match self {
            Kind::Clean => "soak-clean",
            Kind::Buggy => "soak-buggy",
        }
    }

    /// Its name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Clean => "clean",
            Kind::Buggy => "buggy (touch-after-unmap)",
        }
    }

    /// The guest's longest plausible time for one cycle, with room for a loaded
    /// host: the boot's timeout grows with the cycles asked.
    fn seconds_per_cycle(self) -> u64 {
        match self {
            Kind::Clean => 30,
            Kind::Buggy => 20,
        }
    }

    /// The facts (`bench/results/facts` keys) naming the devices whose every
    /// cycle must close; the first is the one whose violations are counted per
    /// cycle.
    fn device_facts(self) -> &'static [&'static str] {
        match self {
            Kind::Clean => &["bdf"],
            Kind::Buggy => &["fixture_bdf"],
        }
    }
}

/// How one watched device's cycles ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCycles {
    /// Its PCI address.
    pub bdf: String,
    /// How each of its cycles ended, in order (`closed`, `open`, …).
    pub ends: Vec<String>,
}

impl DeviceCycles {
    /// Its cycles that closed.
    pub fn closed(&self) -> usize {
        self.ends.iter().filter(|e| *e == "closed").count()
    }

    /// Its cycles counted by how they ended: `49 closed, 1 open`.
    pub fn tally(&self) -> String {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for end in &self.ends {
            *counts.entry(end).or_default() += 1;
        }
        if counts.is_empty() {
            return "no cycle".to_owned();
        }
        counts
            .iter()
            .map(|(end, n)| format!("{n} {end}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One soak run's outcome: what the table shows and the criteria judge.
#[derive(Clone, Debug)]
pub struct SoakRun {
    /// Which soak.
    pub kind: Kind,
    /// The cycles asked for.
    pub cycles_asked: usize,
    /// The cycles the guest finished.
    pub cycles_run: usize,
    /// How the watched devices' cycles ended.
    pub devices: Vec<DeviceCycles>,
    /// Records lost in the kernel, by the capture's trailer.
    pub lost: u64,
    /// Whether the capture was cut (no trailer).
    pub cut: bool,
    /// Kernel log lines of the cycles saying Oops, WARNING, BUG: or Call Trace.
    pub complaints: usize,
    /// Cycles whose kernel log had such a line.
    pub cycles_with_complaints: usize,
    /// Kernel complaints anywhere in the serial log (boot and teardown too).
    pub serial_complaints: usize,
    /// barwatch's memory over the run.
    pub samples: Vec<Sample>,
    /// Cycles of the soaked device with at least one violation.
    pub violating_cycles: usize,
    /// The soaked device's violations in no cycle.
    pub violations_outside: usize,
    /// barwatch's outcome (`pass`, `incomplete`, `violation`).
    pub outcome: String,
    /// `barwatch check`'s exit status in the guest.
    pub exit: Option<i32>,
    /// Where judging the capture again on the host (`check --capture`, the whole
    /// record at once) gave other rule verdicts or evidence than the guest's
    /// live check, which forgets settled events as it goes; `None` when they agree.
    pub replay_differs: Option<String>,
    /// The scenario script's exit status.
    pub script_status: Option<i32>,
    /// Whether QEMU was killed at the timeout.
    pub timed_out: bool,
    /// How long the boot took, in seconds.
    pub seconds: u64,
    /// What could not be read back from the guest.
    pub unread: Vec<String>,
    /// Where the run's results are.
    pub results: PathBuf,
}

impl SoakRun {
    /// The first sample past [`WARM_UP_CYCLES`] (the baseline: the first cycles
    /// set up probes and buffers and bring the analysis' window of events to
    /// its size) and the last one.
    pub fn memory_span(&self) -> Option<(Sample, Sample)> {
        let first = self.samples.iter().find(|s| s.cycle >= WARM_UP_CYCLES)?;
        let last = self.samples.last()?;
        Some((*first, *last))
    }

    /// Growth of resident memory over [`Self::memory_span`], in kB (negative
    /// when it shrank).
    pub fn rss_growth_kb(&self) -> Option<i64> {
        self.memory_span()
            .map(|(first, last)| last.rss_kb as i64 - first.rss_kb as i64)
    }

    /// Growth of the heap (RssAnon) over [`Self::memory_span`], in kB.
    pub fn heap_growth_kb(&self) -> Option<i64> {
        self.memory_span()
            .map(|(first, last)| last.anon_kb as i64 - first.anon_kb as i64)
    }

    /// Every criterion the run missed; empty when it met them all.
    pub fn failures(&self) -> Vec<String> {
        let mut failed = self.unread.clone();
        if self.timed_out {
            failed.push("the guest timed out".to_owned());
        }
        if self.script_status != Some(0) {
            failed.push(format!(
                "the scenario script ended with {:?}, not 0",
                self.script_status
            ));
        }
        if self.cycles_run != self.cycles_asked {
            failed.push(format!(
                "{} of {} cycles ran",
                self.cycles_run, self.cycles_asked
            ));
        }
        for d in &self.devices {
            if d.closed() != self.cycles_run || d.ends.len() != self.cycles_run {
                failed.push(format!(
                    "{}: {} of {} cycles closed ({})",
                    d.bdf,
                    d.closed(),
                    self.cycles_run,
                    d.tally()
                ));
            }
        }
        if self.lost != 0 {
            failed.push(format!("{} records lost", self.lost));
        }
        if self.cut {
            failed.push("the capture was cut (no trailer)".to_owned());
        }
        match self.heap_growth_kb() {
            None => failed.push("too few memory samples to judge growth".to_owned()),
            Some(grown) if grown > HEAP_GROWTH_BOUND_KB as i64 => failed.push(format!(
                "barwatch's heap (RssAnon) grew {grown} kB from the first sample past cycle {WARM_UP_CYCLES} to the last (bound {HEAP_GROWTH_BOUND_KB} kB)"
            )),
            Some(_) => {}
        }
        let (outcome, exit) = match self.kind {
            Kind::Clean => {
                if self.complaints + self.serial_complaints != 0 {
                    failed.push(format!(
                        "the kernel complained: {} lines in {} cycles, {} in the serial log",
                        self.complaints, self.cycles_with_complaints, self.serial_complaints
                    ));
                }
                if self.violating_cycles != 0 {
                    failed.push(format!("{} cycles had a violation", self.violating_cycles));
                }
                ("pass", 0)
            }
            Kind::Buggy => {
                if self.violating_cycles != self.cycles_run || self.violations_outside != 0 {
                    failed.push(format!(
                        "a violation in {} of {} cycles ({} outside any): every cycle must fail",
                        self.violating_cycles, self.cycles_run, self.violations_outside
                    ));
                }
                ("violation", 1)
            }
        };
        if let Some(difference) = &self.replay_differs {
            failed.push(format!(
                "the capture judged again on the host disagrees with the live check: {difference}"
            ));
        }
        if self.outcome != outcome || self.exit != Some(exit) {
            failed.push(format!(
                "barwatch said {} with exit {:?}; expected {outcome} with exit {exit}",
                self.outcome, self.exit
            ));
        }
        failed
    }

    /// The run as JSON, for `target/soak/soak.json`.
    pub fn to_json(&self) -> Value {
        json!({
            "soak": self.kind.scenario(),
            "cycles_asked": self.cycles_asked,
            "cycles_run": self.cycles_run,
            "devices": self.devices.iter().map(|d| json!({
                "bdf": d.bdf,
                "cycles": d.ends.len(),
                "closed": d.closed(),
            })).collect::<Vec<_>>(),
            "lost_records": self.lost,
            "capture_cut": self.cut,
            "kernel_complaint_lines": self.complaints,
            "cycles_with_kernel_complaints": self.cycles_with_complaints,
            "serial_complaint_lines": self.serial_complaints,
            "rss_kb": self.samples.iter().map(|s| json!({
                "cycle": s.cycle,
                "vm_rss_kb": s.rss_kb,
                "vm_hwm_kb": s.hwm_kb,
                "rss_anon_kb": s.anon_kb,
            })).collect::<Vec<_>>(),
            "rss_growth_kb": self.rss_growth_kb(),
            "heap_growth_kb": self.heap_growth_kb(),
            "heap_growth_bound_kb": HEAP_GROWTH_BOUND_KB,
            "violating_cycles": self.violating_cycles,
            "violations_outside_cycles": self.violations_outside,
            "outcome": self.outcome,
            "exit": self.exit,
            "replay_agrees": self.replay_differs.is_none(),
            "seconds": self.seconds,
            "failures": self.failures(),
            "results": self.results,
        })
    }
}

/// Boots the guest and runs one soak of `cycles` cycles, sampling barwatch's
/// memory every `sample_every` cycles; reads back what it can, noting what it
/// cannot, so a broken run is still reported.
pub fn run(kind: Kind, cycles: usize, sample_every: usize) -> Result<SoakRun> {
    if cycles == 0 || sample_every == 0 {
        bail!("a soak needs at least one cycle and a sample interval of at least one");
    }
    let timeout = Duration::from_secs(180 + kind.seconds_per_cycle() * cycles as u64);
    let started = Instant::now();
    let report = vm::run_within(
        kind.scenario(),
        &[
            ("cycles".to_owned(), cycles.to_string()),
            ("sample_every".to_owned(), sample_every.to_string()),
        ],
        Some(timeout),
    )?;
    let seconds = started.elapsed().as_secs();
    let mut unread = Vec::new();
    let mut or_note = |what: Result<String>| {
        what.unwrap_or_else(|e| {
            unread.push(format!("{e:#}"));
            String::new()
        })
    };
    let results = report.dir.clone();
    let samples_text = or_note(guest::read(&results, "soak-rss.txt"));
    let cycles_text = or_note(guest::read(&results, "soak-cycles.txt"));
    let verdict_text = or_note(guest::read(&results, "verdict.json"));
    let facts = facts(&or_note(guest::read(&results, "facts")));
    let exit = or_note(guest::read(&results, "check-status"))
        .trim()
        .parse()
        .ok();
    let samples = guest::parse_samples(&samples_text).unwrap_or_else(|e| {
        unread.push(format!("{e:#}"));
        Vec::new()
    });
    let cycle_logs = guest::parse_cycles(&cycles_text).unwrap_or_else(|e| {
        unread.push(format!("{e:#}"));
        Vec::new()
    });
    let verdict: Value = serde_json::from_str(&verdict_text).unwrap_or_else(|e| {
        unread.push(format!("barwatch's verdict.json is not JSON: {e}"));
        Value::Null
    });
    let devices = kind
        .device_facts()
        .iter()
        .map(|key| {
            let bdf = facts.get(*key).cloned().unwrap_or_else(|| {
                unread.push(format!("the scenario's facts name no {key}"));
                String::new()
            });
            DeviceCycles {
                ends: verdict::cycle_ends(&verdict, &bdf),
                bdf,
            }
        })
        .collect();
    let replay_differs = match replay(&results, &report.scenario.expectations) {
        Ok(replayed) => differences(&verdict, &replayed),
        Err(e) => Some(format!("{e:#}")),
    };
    let judged = kind.device_facts()[0];
    let judged = facts.get(judged).map(String::as_str).unwrap_or("");
    let (violating, outside) = verdict::violating_cycles(&verdict, judged);
    Ok(SoakRun {
        kind,
        cycles_asked: cycles,
        cycles_run: cycle_logs.len(),
        devices,
        lost: verdict["lost"].as_u64().unwrap_or(0),
        cut: verdict["cut"].as_bool().unwrap_or(true),
        complaints: cycle_logs.iter().map(|c| c.complaints).sum(),
        cycles_with_complaints: cycle_logs.iter().filter(|c| c.complaints > 0).count(),
        serial_complaints: report.complaints.len(),
        samples,
        violating_cycles: violating.len(),
        violations_outside: outside,
        outcome: verdict["outcome"].as_str().unwrap_or("none").to_owned(),
        exit,
        replay_differs,
        script_status: report.status,
        timed_out: report.timed_out,
        seconds,
        unread,
        results,
    })
}

/// The verdict of the run's capture judged whole on the host by the scenario's
/// expectations (`barwatch check --json --capture`).
fn replay(results: &Path, expectations: &Path) -> Result<Value> {
    let barwatch = vm::root().join("target/release/barwatch");
    let output = crate::shell::output(
        std::process::Command::new(&barwatch)
            .args(["check", "--json", "--expect"])
            .arg(expectations)
            .arg("--capture")
            .arg(results.join("capture.jsonl")),
    )?;
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "{} check --capture printed no JSON verdict: {}",
            barwatch.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })
}

/// What differs between the live and the replayed verdict: the outcome, or a
/// rule's verdict or evidence.
fn differences(live: &Value, replayed: &Value) -> Option<String> {
    if live["outcome"] != replayed["outcome"] {
        return Some(format!(
            "outcome {} live, {} replayed",
            live["outcome"], replayed["outcome"]
        ));
    }
    let rules = |v: &Value| v["rules"].as_array().cloned().unwrap_or_default();
    let (live, replayed) = (rules(live), rules(replayed));
    if live.len() != replayed.len() {
        return Some(format!(
            "{} rules live, {} replayed",
            live.len(),
            replayed.len()
        ));
    }
    live.iter()
        .zip(&replayed)
        .find(|(l, r)| l != r)
        .map(|(l, r)| {
            let count = |v: &Value| v["violations"].as_array().map_or(0, Vec::len);
            format!(
                "rule {}: {} with {} violations live, {} with {} replayed",
                l["id"],
                l["verdict"],
                count(l),
                r["verdict"],
                count(r)
            )
        })
}

/// `KEY=VALUE` lines of a scenario's facts file.
fn facts(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `cargo xtask soak`: the clean and the buggy soak of `cycles` cycles each, a
/// table of both, their JSON in `target/soak/soak.json`; fails when either
/// missed a criterion.
pub fn command(cycles: usize) -> Result<()> {
    crate::setup::run()?;
    let runs = [Kind::Clean, Kind::Buggy]
        .into_iter()
        .map(|kind| {
            eprintln!("soak: {} soak, {cycles} cycles", kind.label());
            run(kind, cycles, sample_every(cycles))
        })
        .collect::<Result<Vec<_>>>()?;
    print!("{}", table::render(&runs));
    let out = vm::root().join("target/soak/soak.json");
    write_new(
        &out,
        &serde_json::to_string_pretty(&json!({
            "command": format!("cargo xtask soak --cycles {cycles}"),
            "runs": runs.iter().map(SoakRun::to_json).collect::<Vec<_>>(),
        }))?,
    )?;
    println!("soak: the results are in {}", out.display());
    let failed: Vec<String> = runs
        .iter()
        .flat_map(|r| {
            r.failures()
                .into_iter()
                .map(|f| format!("{}: {f}", r.kind.scenario()))
        })
        .collect();
    if !failed.is_empty() {
        bail!("the soak missed its criteria:\n  {}", failed.join("\n  "));
    }
    Ok(())
}

/// Writes `text` to a fresh file at `path`, replacing what was there (a file or a
/// planted link, never followed).
fn write_new(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().context("the result file has no folder")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot replace {}", path.display())),
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(cycles: usize) -> SoakRun {
        SoakRun {
            kind: Kind::Clean,
            cycles_asked: cycles,
            cycles_run: cycles,
            devices: vec![DeviceCycles {
                bdf: "0000:00:04.0".to_owned(),
                ends: vec!["closed".to_owned(); cycles],
            }],
            lost: 0,
            cut: false,
            complaints: 0,
            cycles_with_complaints: 0,
            serial_complaints: 0,
            samples: (0..=cycles / 10)
                .map(|i| Sample {
                    cycle: i * 10,
                    rss_kb: 20_000 + i as u64,
                    hwm_kb: 21_000,
                    anon_kb: 15_000 + i as u64,
                })
                .collect(),
            violating_cycles: 0,
            violations_outside: 0,
            outcome: "pass".to_owned(),
            exit: Some(0),
            replay_differs: None,
            script_status: Some(0),
            timed_out: false,
            seconds: 600,
            unread: Vec::new(),
            results: PathBuf::from("results"),
        }
    }

    fn buggy(cycles: usize, violating: usize) -> SoakRun {
        SoakRun {
            kind: Kind::Buggy,
            violating_cycles: violating,
            outcome: "violation".to_owned(),
            exit: Some(1),
            complaints: cycles * 3,
            cycles_with_complaints: cycles,
            ..clean(cycles)
        }
    }

    #[test]
    fn a_clean_soak_that_did_everything_passes_and_its_table_says_so() {
        let run = clean(50);
        assert_eq!(run.failures(), Vec::<String>::new());
        assert_eq!(run.rss_growth_kb(), Some(4));
        let table = table::render(&[run, buggy(50, 50)]);
        assert!(table.contains("RSS kB at cycle 50"), "{table}");
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("result") && l.matches("PASS").count() == 2),
            "{table}"
        );
    }

    /// A ten-cycle clean run sampled every second cycle, with these heaps.
    fn ten_cycles_with_heaps(heaps: [u64; 6]) -> SoakRun {
        SoakRun {
            samples: heaps
                .iter()
                .enumerate()
                .map(|(i, &anon_kb)| Sample {
                    cycle: i * 2,
                    rss_kb: anon_kb + 8_000,
                    hwm_kb: 60_000,
                    anon_kb,
                })
                .collect(),
            ..clean(10)
        }
    }

    #[test]
    fn the_heap_is_judged_once_the_window_of_events_has_its_size() {
        // One step while the analysis' window grows, then flat: no leak.
        let warming = ten_cycles_with_heaps([8_100, 8_516, 8_408, 13_848, 13_584, 13_428]);
        assert_eq!(warming.heap_growth_kb(), Some(13_428 - 13_848));
        assert_eq!(warming.failures(), Vec::<String>::new());
        // Growing after it: a leak.
        let leaking = ten_cycles_with_heaps([8_100, 8_516, 8_408, 9_000, 11_600, 14_200]);
        assert_eq!(leaking.heap_growth_kb(), Some(5_200));
        assert_eq!(leaking.failures().len(), 1, "{:?}", leaking.failures());
    }

    #[test]
    fn a_replay_that_judges_otherwise_than_the_live_check_is_told() {
        let live = json!({"outcome": "violation", "rules": [
            {"id": "work-in-window", "verdict": "fail", "violations": [{"cycle": 1}, {"cycle": 2}]},
        ]});
        assert_eq!(differences(&live, &live), None);
        let fewer = json!({"outcome": "violation", "rules": [
            {"id": "work-in-window", "verdict": "fail", "violations": [{"cycle": 1}]},
        ]});
        assert_eq!(
            differences(&live, &fewer).as_deref(),
            Some(
                "rule \"work-in-window\": \"fail\" with 2 violations live, \"fail\" with 1 replayed"
            )
        );
        let passed = json!({"outcome": "pass", "rules": []});
        assert!(differences(&live, &passed).unwrap().starts_with("outcome"));
        let mut run = buggy(10, 10);
        run.replay_differs = differences(&live, &fewer);
        assert!(run.failures()[0].contains("disagrees with the live check"));
    }

    #[test]
    fn short_soaks_sample_memory_often_enough_to_judge_it() {
        assert_eq!(sample_every(50), 10);
        assert_eq!(sample_every(20), 10);
        assert_eq!(sample_every(10), 2);
        assert_eq!(sample_every(3), 1);
    }

    #[test]
    fn a_buggy_soak_must_fail_every_cycle_not_only_some() {
        assert!(buggy(50, 50).failures().is_empty());
        let some = buggy(50, 49).failures();
        assert!(some[0].contains("49 of 50 cycles"), "{some:?}");
    }

    #[test]
    fn a_lost_record_an_open_cycle_a_warning_or_growing_memory_fails_the_clean_soak() {
        let mut run = clean(50);
        run.lost = 3;
        run.devices[0].ends[49] = "open".to_owned();
        run.complaints = 1;
        run.cycles_with_complaints = 1;
        run.samples.last_mut().unwrap().anon_kb = 15_002 + HEAP_GROWTH_BOUND_KB;
        let failures = run.failures();
        assert_eq!(failures.len(), 4, "{failures:?}");
        assert!(
            failures[0].contains("49 of 50 cycles closed (49 closed, 1 open)"),
            "{failures:?}"
        );
        assert!(failures[1].contains("3 records lost"), "{failures:?}");
        assert!(failures[2].contains("heap (RssAnon) grew"), "{failures:?}");
        assert!(failures[3].contains("kernel complained"), "{failures:?}");
    }

    #[test]
    fn a_pass_from_a_buggy_soak_or_a_cut_capture_fails() {
        let mut run = buggy(10, 10);
        run.outcome = "pass".to_owned();
        run.exit = Some(0);
        run.cut = true;
        let failures = run.failures();
        assert!(failures.iter().any(|f| f.contains("cut")), "{failures:?}");
        assert!(
            failures
                .iter()
                .any(|f| f.contains("expected violation with exit 1")),
            "{failures:?}"
        );
    }
}
