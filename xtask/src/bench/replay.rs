//! The replay benchmark: `barwatch check --capture` on captures of a million
//! and ten million events (a real bench capture repeated), its wall time and
//! peak resident memory, next to what `wc -l` and a plain serde_json line loop
//! take on the same file in the same run. Fails when a target is missed.

use std::{
    fs,
    io::Read as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use super::synthetic::Source;
use crate::{shell, tasks};

/// The real capture the big ones repeat: three remove/rescan cycles during
/// playback, judged a pass.
const SOURCE: &str = "agent/tests/corpus/rescan-cycles.jsonl";

/// Events per second `check --capture` must reach end to end, at least.
pub const TARGET_EVENTS_PER_S: f64 = 3_000_000.0;
/// Events per second `check --capture` aims at.
pub const AIM_EVENTS_PER_S: f64 = 5_000_000.0;
/// Peak resident memory `check --capture` may use at any capture size, at most.
pub const TARGET_PEAK_RSS_BYTES: u64 = 100 << 20;

/// The capture sizes measured by default, and with `--large` in addition.
const SIZES: [u64; 1] = [1_000_000];
const LARGE_SIZES: [u64; 1] = [10_000_000];

/// How many times `check --capture` and `wc -l` run on each capture,
/// alternating: the figures are the medians, the spread is printed beside
/// them (these machines are noisy).
const REPETITIONS: usize = 3;

/// What one command did on one capture.
#[derive(Clone, Copy, Debug)]
struct Run {
    wall: Duration,
    peak_rss_bytes: u64,
}

/// The figures for one capture size.
#[derive(Debug)]
struct Measured {
    events: u64,
    bytes: u64,
    /// The median wall time, and the highest peak of resident memory.
    check: Run,
    /// Every run's wall time, in seconds, in the order they ran.
    check_runs_s: Vec<f64>,
    check_exit: i32,
    /// The median wall time.
    wc: Run,
    value_loop_s: f64,
    reader_s: f64,
    reader_on_a_thread_s: f64,
}

impl Measured {
    fn rate(&self, seconds: f64) -> f64 {
        self.events as f64 / seconds
    }

    fn check_rate(&self) -> f64 {
        self.rate(self.check.wall.as_secs_f64())
    }

    /// The targets this size misses, in words.
    fn misses(&self) -> Vec<String> {
        let mut misses = Vec::new();
        if self.check_rate() < TARGET_EVENTS_PER_S {
            misses.push(format!(
                "{} events: check --capture ran at {} events/s (target >= {})",
                self.events,
                millions(self.check_rate()),
                millions(TARGET_EVENTS_PER_S)
            ));
        }
        if self.check.peak_rss_bytes > TARGET_PEAK_RSS_BYTES {
            misses.push(format!(
                "{} events: check --capture peaked at {} MiB resident (target <= {} MiB)",
                self.events,
                mib(self.check.peak_rss_bytes),
                TARGET_PEAK_RSS_BYTES >> 20
            ));
        }
        misses
    }

    fn to_json(&self) -> Value {
        let wall = self.check.wall.as_secs_f64();
        let wc = self.wc.wall.as_secs_f64();
        json!({
            "events": self.events,
            "bytes": self.bytes,
            "check_capture": {
                "seconds": wall,
                "events_per_s": self.check_rate(),
                "peak_rss_bytes": self.check.peak_rss_bytes,
                "exit": self.check_exit,
                "runs_s": self.check_runs_s,
            },
            "wc_l": { "seconds": wc, "events_per_s": self.rate(wc) },
            "serde_json_value_loop": {
                "seconds": self.value_loop_s,
                "events_per_s": self.rate(self.value_loop_s),
            },
            "capture_reader": {
                "seconds": self.reader_s,
                "events_per_s": self.rate(self.reader_s),
            },
            "capture_reader_on_a_thread": {
                "seconds": self.reader_on_a_thread_s,
                "events_per_s": self.rate(self.reader_on_a_thread_s),
            },
            "check_vs_wc": wall / wc,
            "check_vs_value_loop": wall / self.value_loop_s,
        })
    }
}

/// Runs the replay benchmark (`large`: the ten-million-event capture too),
/// prints its figures, writes `target/bench/replay.json` and fails when a
/// target is missed.
pub fn run(large: bool) -> Result<()> {
    shell::run(&mut tasks::cargo(&[
        "build",
        "--release",
        "-p",
        "barwatch-agent",
        "--bin",
        "barwatch",
        "--example",
        "parse_throughput",
    ]))?;
    let root = tasks::root();
    let dir = root.join("target/bench");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let source = Source::read(&root.join(SOURCE))?;
    let sizes: Vec<u64> = SIZES
        .into_iter()
        .chain(LARGE_SIZES.into_iter().filter(|_| large))
        .collect();
    let mut results = Vec::new();
    for size in sizes {
        let repetitions = size.div_ceil(source.events() as u64);
        let path = capture_path(size);
        eprintln!(
            "replay: writing {} ({repetitions} repetitions of {SOURCE})",
            path.display()
        );
        let events = source.write(&path, repetitions)?;
        let measured = measure(&root, &path, events)?;
        print(&measured);
        results.push(measured);
    }
    let misses: Vec<String> = results.iter().flat_map(Measured::misses).collect();
    let report = json!({
        "source": SOURCE,
        "targets": {
            "check_events_per_s": TARGET_EVENTS_PER_S,
            "check_aim_events_per_s": AIM_EVENTS_PER_S,
            "check_peak_rss_bytes": TARGET_PEAK_RSS_BYTES,
        },
        "runs": results.iter().map(Measured::to_json).collect::<Vec<_>>(),
        "missed": misses,
    });
    super::conclude("replay", &dir, &report, &misses)
}

/// Every measure on the capture at `path` of `events` events.
fn measure(root: &Path, path: &Path, events: u64) -> Result<Measured> {
    let bytes = fs::metadata(path)
        .with_context(|| format!("cannot read the size of {}", path.display()))?
        .len();
    let release = root.join("target/release");
    let file = path.to_string_lossy().into_owned();
    let (parse, parse_out) =
        timed(Command::new(release.join("examples/parse_throughput")).args(["--json", &file]))?;
    if parse.exit != 0 {
        bail!("parse_throughput failed on {file} (exit {})", parse.exit);
    }
    let parsed: Value = serde_json::from_str(&parse_out)
        .with_context(|| format!("parse_throughput printed no JSON: {parse_out}"))?;
    let seconds = |key: &str| {
        parsed[key]
            .as_f64()
            .with_context(|| format!("parse_throughput printed no {key}"))
    };
    let (mut checks, mut wcs) = (Vec::new(), Vec::new());
    for _ in 0..REPETITIONS {
        wcs.push(timed(Command::new("wc").args(["-l", &file]))?.0.run);
        let (check, _) =
            timed(Command::new(release.join("barwatch")).args(["check", "--capture", &file]))?;
        if !matches!(check.exit, 0 | 1) {
            bail!(
                "barwatch check --capture {file} failed (exit {})",
                check.exit
            );
        }
        checks.push(check);
    }
    let check_runs_s = checks.iter().map(|c| c.run.wall.as_secs_f64()).collect();
    let check_exit = checks[0].exit;
    if checks.iter().any(|c| c.exit != check_exit) {
        bail!("barwatch check --capture {file} gave different verdicts from one run to the next");
    }
    let peak_rss_bytes = checks.iter().map(|c| c.run.peak_rss_bytes).max();
    let check = Run {
        wall: median(checks.iter().map(|c| c.run.wall).collect()),
        peak_rss_bytes: peak_rss_bytes.unwrap_or(0),
    };
    let wc = Run {
        wall: median(wcs.iter().map(|w| w.wall).collect()),
        peak_rss_bytes: 0,
    };
    Ok(Measured {
        events,
        bytes,
        check,
        check_runs_s,
        check_exit,
        wc,
        value_loop_s: seconds("value_loop_s")?,
        reader_s: seconds("reader_s")?,
        reader_on_a_thread_s: seconds("reader_on_a_thread_s")?,
    })
}

/// The middle one of `walls`.
fn median(mut walls: Vec<Duration>) -> Duration {
    walls.sort();
    walls[walls.len() / 2]
}

/// A finished child: its exit code (-1 when a signal ended it) and its costs.
struct Finished {
    run: Run,
    exit: i32,
}

/// Runs `cmd` to the end, its standard output captured, and measures its wall
/// time and peak resident memory (`wait4`'s `ru_maxrss`, the child's alone).
fn timed(cmd: &mut Command) -> Result<(Finished, String)> {
    let line = shell::describe(cmd);
    eprintln!("+ {line}");
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)
            .with_context(|| format!("cannot read the output of `{line}`"))?;
    }
    let pid = libc::pid_t::try_from(child.id()).context("a child's pid out of range")?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are to
    // live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if waited != pid {
        bail!(
            "cannot wait for `{line}`: {}",
            std::io::Error::last_os_error()
        );
    }
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let peak_rss_bytes = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
    Ok((
        Finished {
            run: Run {
                wall,
                peak_rss_bytes,
            },
            exit,
        },
        stdout,
    ))
}

fn print(m: &Measured) {
    let check = m.check.wall.as_secs_f64();
    let wc = m.wc.wall.as_secs_f64();
    println!(
        "replay: {} events, {} MiB ({} bytes/event)",
        m.events,
        mib(m.bytes),
        m.bytes / m.events.max(1)
    );
    println!(
        "replay:   check --capture        {check:>7.2} s  {:>6} events/s  peak RSS {} MiB  exit {}  (target >= {} events/s, aim {}; <= {} MiB)",
        millions(m.check_rate()),
        mib(m.check.peak_rss_bytes),
        m.check_exit,
        millions(TARGET_EVENTS_PER_S),
        millions(AIM_EVENTS_PER_S),
        TARGET_PEAK_RSS_BYTES >> 20
    );
    let (fastest, slowest) = m
        .check_runs_s
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    println!(
        "replay:     median of {} runs, {fastest:.2}-{slowest:.2} s",
        m.check_runs_s.len()
    );
    println!(
        "replay:   wc -l                  {wc:>7.2} s  {:>6} lines/s   check takes {:.1}x its time",
        millions(m.rate(wc)),
        check / wc
    );
    println!(
        "replay:   serde_json Value loop  {:>7.2} s  {:>6} lines/s   check takes {:.1}x its time",
        m.value_loop_s,
        millions(m.rate(m.value_loop_s)),
        check / m.value_loop_s
    );
    println!(
        "replay:   capture reader alone   {:>7.2} s  {:>6} events/s  ({:.2}x the Value loop's time)",
        m.reader_s,
        millions(m.rate(m.reader_s)),
        m.reader_s / m.value_loop_s
    );
    println!(
        "replay:   reader on a 2nd thread {:>7.2} s  {:>6} events/s  (batches handed to a consumer that only counts)",
        m.reader_on_a_thread_s,
        millions(m.rate(m.reader_on_a_thread_s)),
    );
}

/// A rate in millions, e.g. `3.2M`.
fn millions(rate: f64) -> String {
    format!("{:.2}M", rate / 1e6)
}

/// Bytes in MiB, one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1u64 << 20) as f64)
}

/// Where a capture of `size` events is written.
pub fn capture_path(size: u64) -> PathBuf {
    tasks::root().join(format!("target/bench/replay-{}M.jsonl", size / 1_000_000))
}
