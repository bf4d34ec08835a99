//! The live benchmark: peak resident memory of `barwatch record -o FILE` and of
//! the live TUI (`barwatch-tui -o FILE`) while the load generator
//! (`agent/examples/alsa_ioctls.rs`) makes a million records (ten million with
//! `--large`), and of `barwatch-tui FILE` replaying the replay section's
//! captures. Each line says the records written and lost (from the capture's
//! trailer) and the wall time. Fails when a process exceeds the memory target,
//! at any size: memory must stay flat, not grow with the records.
//!
//! Recording needs root (or CAP_BPF and CAP_PERFMON) and the TUI a terminal
//! (tmux, on a server of its own). Without them the runs that need them are
//! skipped with the reason, or fail under a non-empty `CI`.

use std::{
    fs,
    io::{BufRead as _, Read as _, Seek as _, SeekFrom},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use super::process::{self, Peaks};
use crate::{shell, tasks};

/// Peak resident memory any process of the live benchmark may use, at most.
pub const TARGET_PEAK_RSS_BYTES: u64 = super::replay::TARGET_PEAK_RSS_BYTES;

/// The record counts asked of the load generator by default, and with `--large`
/// in addition (each ioctl makes an entry and an exit record).
const SIZES: [u64; 1] = [1_000_000];
const LARGE_SIZES: [u64; 1] = [10_000_000];

/// The tmux server the TUI runs under: a socket of its own, so no one else's
/// sessions are touched.
const TMUX_SOCKET: &str = "barwatch-bench";

/// How long a recorder gets to attach its probes and write its header.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a capture must grow by less than [`SETTLED_BYTES`] before the
/// recorder is done draining: the machine's own IRQs and work items still
/// trickle in, flushed every second.
const SETTLED_AFTER: Duration = Duration::from_secs(2);
const SETTLED_BYTES: u64 = 256 << 10;
/// How long a process gets to end after it was asked to.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often peaks, sizes and CPU times are read.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Which program was measured, and how.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// `barwatch record -o FILE`.
    Record,
    /// `barwatch-tui -o FILE`, which runs `barwatch record` itself.
    TuiLive,
    /// `barwatch-tui FILE`.
    TuiReplay,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Record => "record -o FILE",
            Mode::TuiLive => "barwatch-tui -o FILE (live)",
            Mode::TuiReplay => "barwatch-tui FILE (replay)",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Mode::Record => "record",
            Mode::TuiLive => "tui_live",
            Mode::TuiReplay => "tui_replay",
        }
    }
}

/// What the load generator did.
#[derive(Clone, Copy, Debug)]
struct Load {
    ioctls: u64,
    seconds: f64,
}

/// The figures of one run.
#[derive(Debug)]
struct Measured {
    mode: Mode,
    /// The records asked for (live) or the capture's events (replay).
    size: u64,
    load: Option<Load>,
    /// Events written (the trailer's count), and records lost.
    written: u64,
    lost: u64,
    /// From start until the process was done: stopped (live), or idle with
    /// the whole capture read (replay).
    wall: Duration,
    /// Each process's peak resident memory, in bytes, by name.
    peaks: Vec<(&'static str, u64)>,
}

impl Measured {
    fn misses(&self) -> Vec<String> {
        self.peaks
            .iter()
            .filter(|(_, peak)| *peak > TARGET_PEAK_RSS_BYTES)
            .map(|(name, peak)| {
                format!(
                    "{} at {}: {name} peaked at {} MiB resident (target <= {} MiB)",
                    self.mode.label(),
                    count(self.size),
                    mib(*peak),
                    TARGET_PEAK_RSS_BYTES >> 20
                )
            })
            .collect()
    }

    fn to_json(&self) -> Value {
        json!({
            "mode": self.mode.key(),
            "size": self.size,
            "ioctls": self.load.map(|l| l.ioctls),
            "load_seconds": self.load.map(|l| l.seconds),
            "written": self.written,
            "lost": self.lost,
            "seconds": self.wall.as_secs_f64(),
            "peak_rss_bytes": self.peaks.iter().map(|(name, peak)| (name.to_string(), json!(peak))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// The binaries the runs use.
struct Binaries {
    barwatch: PathBuf,
    tui: PathBuf,
    load: PathBuf,
}

/// Runs the live benchmark (`large`: ten million records too), prints its
/// figures, writes `target/bench/live.json` and fails when a process exceeds
/// the memory target.
pub fn run(large: bool) -> Result<()> {
    shell::run(&mut tasks::cargo(&[
        "build",
        "--release",
        "-p",
        "barwatch-agent",
        "--bin",
        "barwatch",
        "--example",
        "alsa_ioctls",
    ]))?;
    shell::run(&mut tasks::cargo(&[
        "build",
        "--release",
        "-p",
        "barwatch-tui",
        "--bin",
        "barwatch-tui",
    ]))?;
    let root = tasks::root();
    let release = root.join("target/release");
    let bins = Binaries {
        barwatch: release.join("barwatch"),
        tui: release.join("barwatch-tui"),
        load: release.join("examples/alsa_ioctls"),
    };
    let dir = root.join("target/bench");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let sizes: Vec<u64> = SIZES
        .into_iter()
        .chain(LARGE_SIZES.into_iter().filter(|_| large))
        .collect();
    let recording = skip_or_fail(recording_missing())?;
    let terminal = skip_or_fail(tmux_missing())?;
    let mut results = Vec::new();
    let mut skipped = Vec::new();
    for &size in &sizes {
        match &recording {
            Some(why) => skipped.push(format!("record and the live TUI: {why}")),
            None => {
                results.push(record(&bins, &dir, size)?);
                print(results.last().expect("just pushed"));
                match &terminal {
                    Some(why) => skipped.push(format!("the live TUI: {why}")),
                    None => {
                        results.push(tui_live(&bins, &dir, size)?);
                        print(results.last().expect("just pushed"));
                    }
                }
            }
        }
        let capture = super::replay::capture_path(size);
        match (&terminal, capture.exists()) {
            (Some(why), _) => skipped.push(format!("the TUI's replay: {why}")),
            (None, false) => skipped.push(
                skip_or_fail(Some(format!(
                    "{} is missing (the replay section writes it)",
                    capture.display()
                )))?
                .unwrap_or_default(),
            ),
            (None, true) => {
                results.push(tui_replay(&bins, &capture)?);
                print(results.last().expect("just pushed"));
            }
        }
    }
    skipped.dedup();
    for why in &skipped {
        eprintln!("live: skipped {why}");
    }
    let misses: Vec<String> = results.iter().flat_map(Measured::misses).collect();
    let report = json!({
        "targets": { "peak_rss_bytes": TARGET_PEAK_RSS_BYTES },
        "runs": results.iter().map(Measured::to_json).collect::<Vec<_>>(),
        "skipped": skipped,
        "missed": misses,
    });
    super::conclude("live", &dir, &report, &misses)
}

/// A missing precondition: an error under a non-empty `CI`, else the reason to
/// skip.
pub(super) fn skip_or_fail(missing: Option<String>) -> Result<Option<String>> {
    match missing {
        Some(why) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            bail!("the benchmark cannot run under CI: {why}")
        }
        other => Ok(other),
    }
}

/// Why `barwatch record` cannot run here, if it cannot: it loads BPF.
pub(super) fn recording_missing() -> Option<String> {
    // CAP_PERFMON is 38, CAP_BPF 39, CAP_SYS_ADMIN 21.
    const NEEDED: u64 = (1 << 38) | (1 << 39);
    const ADMIN: u64 = 1 << 21;
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    if effective & NEEDED == NEEDED || effective & ADMIN != 0 {
        None
    } else {
        Some("recording needs root, or CAP_BPF and CAP_PERFMON".to_owned())
    }
}

/// Why the TUI cannot be given a terminal here, if it cannot.
fn tmux_missing() -> Option<String> {
    match Command::new("tmux").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        _ => {
            Some("the TUI needs a terminal, and tmux (which gives it one) is not installed".into())
        }
    }
}

/// Where a run's capture goes.
fn capture_for(dir: &Path, mode: Mode, size: u64) -> PathBuf {
    dir.join(format!("live-{}-{}.jsonl", mode.key(), count(size)))
}

/// `barwatch record -o FILE` while the load generator makes `size` records.
fn record(bins: &Binaries, dir: &Path, size: u64) -> Result<Measured> {
    let file = capture_for(dir, Mode::Record, size);
    remove(&file)?;
    let log = dir.join("live-record.log");
    let mut cmd = Command::new(&bins.barwatch);
    cmd.arg("record").arg("-o").arg(&file);
    eprintln!("+ {} 2> {}", shell::describe(&cmd), log.display());
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?)
        .spawn()
        .with_context(|| format!("cannot start {}", bins.barwatch.display()))?;
    let pid = child.id();
    let mut peaks = Peaks::default();
    peaks.watch(pid);
    let load = drive(bins, &file, size, &mut peaks, |_| {
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "barwatch record ended early ({status}); see {}",
                log.display()
            );
        }
        Ok(())
    });
    // SAFETY: kill has no memory preconditions; the pid is our child's, not yet reaped.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let (exit, peak) = wait_peak(&mut child)?;
    let wall = started.elapsed();
    let load = load?;
    if exit != 0 {
        bail!(
            "barwatch record failed (exit {exit}); see {}",
            log.display()
        );
    }
    let (written, lost) = trailer_counts(&file)?;
    Ok(Measured {
        mode: Mode::Record,
        size,
        load: Some(load),
        written,
        lost,
        wall,
        peaks: vec![("record", peak.max(peaks.of(pid)))],
    })
}

/// `barwatch-tui -o FILE` under tmux while the load generator makes `size`
/// records, ended with `q`.
fn tui_live(bins: &Binaries, dir: &Path, size: u64) -> Result<Measured> {
    let file = capture_for(dir, Mode::TuiLive, size);
    remove(&file)?;
    let session = format!("live-{}", count(size));
    let started = Instant::now();
    let tui = Tmux::start(
        &session,
        &format!("{} -o {}", quoted(&bins.tui), quoted(&file)),
    )?;
    let mut peaks = Peaks::default();
    peaks.watch(tui.pid);
    let load = drive(bins, &file, size, &mut peaks, |peaks| {
        for child in process::children(tui.pid) {
            peaks.watch(child);
        }
        if !process::alive(tui.pid) {
            bail!("barwatch-tui ended early: {}", tui.screen());
        }
        Ok(())
    });
    let recorders = process::children(tui.pid);
    for &recorder in &recorders {
        peaks.watch(recorder);
    }
    peaks.sample();
    let stopped = tui.quit(&mut peaks, &recorders);
    let wall = started.elapsed();
    let load = load?;
    stopped?;
    let (written, lost) = trailer_counts(&file)?;
    let recorder = recorders
        .iter()
        .map(|&pid| peaks.of(pid))
        .max()
        .unwrap_or(0);
    Ok(Measured {
        mode: Mode::TuiLive,
        size,
        load: Some(load),
        written,
        lost,
        wall,
        peaks: vec![
            ("barwatch-tui", peaks.of(tui.pid)),
            ("its record", recorder),
        ],
    })
}

/// `barwatch-tui CAPTURE` under tmux until it has read the whole capture (it
/// stops using the CPU), ended with `q`.
fn tui_replay(bins: &Binaries, capture: &Path) -> Result<Measured> {
    let (written, lost) = trailer_counts(capture)?;
    let session = format!("replay-{}", count(written));
    let started = Instant::now();
    let tui = Tmux::start(
        &session,
        &format!("{} {}", quoted(&bins.tui), quoted(capture)),
    )?;
    let mut peaks = Peaks::default();
    peaks.watch(tui.pid);
    let idle = wait_idle(&tui, &mut peaks);
    let wall = started.elapsed();
    let stopped = tui.quit(&mut peaks, &[]);
    let idle = idle?;
    stopped?;
    Ok(Measured {
        mode: Mode::TuiReplay,
        size: written,
        load: None,
        written,
        lost,
        wall: wall.saturating_sub(idle),
        peaks: vec![("barwatch-tui", peaks.of(tui.pid))],
    })
}

/// How long a window of CPU time is looked at to call a process idle, and the
/// CPU time it may use in it: an idle TUI still redraws its screen.
const IDLE_WINDOW: Duration = Duration::from_secs(1);
const IDLE_CPU: Duration = Duration::from_millis(100);
/// How long a replay may take at most before the benchmark gives up.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(1800);

/// Waits until the TUI has used less than [`IDLE_CPU`] in an [`IDLE_WINDOW`];
/// returns that window's length, to take off the wall time.
fn wait_idle(tui: &Tmux, peaks: &mut Peaks) -> Result<Duration> {
    let deadline = Instant::now() + REPLAY_TIMEOUT;
    let mut window = (Instant::now(), Duration::ZERO);
    loop {
        thread::sleep(SAMPLE_EVERY);
        peaks.sample();
        let Some(used) = process::cpu_time(tui.pid).filter(|_| process::alive(tui.pid)) else {
            bail!("barwatch-tui ended before it was idle: {}", tui.screen());
        };
        let elapsed = window.0.elapsed();
        if elapsed >= IDLE_WINDOW {
            if used.saturating_sub(window.1) < IDLE_CPU {
                return Ok(elapsed);
            }
            window = (Instant::now(), used);
        }
        if Instant::now() > deadline {
            bail!("barwatch-tui was still busy after {REPLAY_TIMEOUT:?}");
        }
    }
}

/// Waits for the capture at `file` to get its header, runs the load generator
/// for `size` records, then waits for the capture to stop growing; `check`
/// fails when a watched process ended and may watch more, `peaks` follows
/// them all along.
fn drive(
    bins: &Binaries,
    file: &Path,
    size: u64,
    peaks: &mut Peaks,
    mut check: impl FnMut(&mut Peaks) -> Result<()>,
) -> Result<Load> {
    let deadline = Instant::now() + START_TIMEOUT;
    while !has_header(file) {
        check(peaks)?;
        if Instant::now() > deadline {
            bail!(
                "no capture header in {} after {START_TIMEOUT:?}",
                file.display()
            );
        }
        peaks.sample();
        thread::sleep(SAMPLE_EVERY);
    }
    check(peaks)?;
    let load = generate(bins, size / 2, peaks)?;
    let mut last = (file_size(file), Instant::now());
    loop {
        check(peaks)?;
        peaks.sample();
        thread::sleep(SAMPLE_EVERY);
        if last.1.elapsed() >= SETTLED_AFTER {
            let now = file_size(file);
            if now.saturating_sub(last.0) < SETTLED_BYTES {
                return Ok(load);
            }
            last = (now, Instant::now());
        }
    }
}

/// Runs the load generator for `ioctls` calls, pinned to the last CPU, and
/// reads what it says it did.
fn generate(bins: &Binaries, ioctls: u64, peaks: &mut Peaks) -> Result<Load> {
    let cpu = thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    let mut cmd = Command::new(&bins.load);
    cmd.args(["--cpu", &cpu.to_string(), &ioctls.to_string()]);
    eprintln!("+ {}", shell::describe(&cmd));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", bins.load.display()))?;
    while child.try_wait()?.is_none() {
        peaks.sample();
        thread::sleep(SAMPLE_EVERY);
    }
    let mut said = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut said)?;
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("the load generator failed ({status})");
    }
    let said: Value = serde_json::from_str(said.trim())
        .with_context(|| format!("the load generator printed no JSON: {said}"))?;
    Ok(Load {
        ioctls: said["ioctls"].as_u64().context("no ioctls in its output")?,
        seconds: said["seconds"]
            .as_f64()
            .context("no seconds in its output")?,
    })
}

/// Waits for our child to end (SIGKILL after [`STOP_TIMEOUT`]); its exit code
/// (-1 for a signal) and peak resident memory (`wait4`'s `ru_maxrss`).
fn wait_peak(child: &mut Child) -> Result<(i32, u64)> {
    let deadline = Instant::now() + STOP_TIMEOUT;
    let pid = libc::pid_t::try_from(child.id()).context("a child's pid out of range")?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet reaped; both pointers are to
        // live locals.
        let waited = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if waited == pid {
            break;
        }
        if waited < 0 {
            bail!(
                "cannot wait for pid {pid}: {}",
                std::io::Error::last_os_error()
            );
        }
        if Instant::now() > deadline {
            // SAFETY: as above; the child is still ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        thread::sleep(SAMPLE_EVERY);
    }
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok((exit, u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024))
}

/// A program running in a tmux session of [`TMUX_SOCKET`]'s server.
struct Tmux {
    session: String,
    /// The program's pid (the pane runs it with `exec`).
    pid: u32,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a new detached session.
    fn start(session: &str, command: &str) -> Result<Self> {
        // A session left over from a run that was interrupted.
        let _ = tmux(&["kill-session", "-t", session]).output();
        let line = format!("exec {command}");
        shell::run(&mut tmux(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "200",
            "-y",
            "50",
            &line,
        ]))?;
        let pid = shell::stdout(&mut tmux(&[
            "list-panes",
            "-t",
            session,
            "-F",
            "#{pane_pid}",
        ]))?
        .trim()
        .parse()
        .context("tmux gave no pane pid")?;
        Ok(Tmux {
            session: session.to_owned(),
            pid,
        })
    }

    /// What the pane shows now, for an error message.
    fn screen(&self) -> String {
        tmux(&["capture-pane", "-p", "-t", &self.session])
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    /// Presses `q` and waits for the program and `also` (its children) to end,
    /// reading their peaks until then.
    fn quit(&self, peaks: &mut Peaks, also: &[u32]) -> Result<()> {
        shell::run(&mut tmux(&["send-keys", "-t", &self.session, "q"]))?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        let result = loop {
            peaks.sample();
            if !process::alive(self.pid) && also.iter().all(|&pid| !process::alive(pid)) {
                break Ok(());
            }
            if Instant::now() > deadline {
                break Err(anyhow::anyhow!(
                    "barwatch-tui did not end within {STOP_TIMEOUT:?} of `q`"
                ));
            }
            thread::sleep(SAMPLE_EVERY);
        };
        let _ = tmux(&["kill-session", "-t", &self.session]).output();
        result
    }
}

/// A tmux command on the benchmark's own server.
fn tmux(args: &[&str]) -> Command {
    let mut cmd = Command::new("tmux");
    cmd.args(["-L", TMUX_SOCKET]).args(args);
    cmd
}

/// `path` single-quoted for the shell tmux runs the command line with.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// Removes the capture a previous run left.
pub(super) fn remove(file: &Path) -> Result<()> {
    match fs::remove_file(file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", file.display()))
        }
        _ => Ok(()),
    }
}

/// Whether the capture at `file` has its first line (the header, which lists
/// the whole probe table) yet.
pub(super) fn has_header(file: &Path) -> bool {
    let mut line = Vec::new();
    fs::File::open(file)
        .and_then(|f| std::io::BufReader::new(f).read_until(b'\n', &mut line))
        .is_ok_and(|_| line.last() == Some(&b'\n'))
}

fn file_size(file: &Path) -> u64 {
    fs::metadata(file).map_or(0, |m| m.len())
}

/// The events written and records lost that the capture's trailer (its last
/// line) says.
pub(super) fn trailer_counts(file: &Path) -> Result<(u64, u64)> {
    let trailer = trailer(file)?;
    let field = |key: &str| {
        trailer[key]
            .as_u64()
            .with_context(|| format!("the trailer of {} has no {key}", file.display()))
    };
    Ok((field("events")?, field("lost")?))
}

/// The capture's trailer (its last line), whole.
pub(super) fn trailer(file: &Path) -> Result<Value> {
    const TAIL: u64 = 1 << 20;
    let mut f = fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL)))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let text = String::from_utf8_lossy(&tail);
    let last = text.trim_end().rsplit('\n').next().unwrap_or_default();
    serde_json::from_str(last)
        .ok()
        .filter(|v: &Value| v["type"] == "trailer")
        .with_context(|| format!("{} does not end with a trailer", file.display()))
}

fn print(m: &Measured) {
    let load = m.load.map_or_else(String::new, |l| {
        format!(
            "  load {} ioctls in {:.2} s ({}/s)",
            l.ioctls,
            l.seconds,
            millions(l.ioctls as f64 / l.seconds.max(1e-9))
        )
    });
    let peaks: Vec<String> = m
        .peaks
        .iter()
        .map(|(name, peak)| format!("{name} {} MiB", mib(*peak)))
        .collect();
    println!(
        "live:   {:<28} {:>4}  written {:>9}  lost {:>9}  {:>7.2} s  peak RSS {}  (<= {} MiB){load}",
        m.mode.label(),
        count(m.size),
        m.written,
        m.lost,
        m.wall.as_secs_f64(),
        peaks.join(", "),
        TARGET_PEAK_RSS_BYTES >> 20
    );
}

/// A size in millions, e.g. `10M`.
fn count(size: u64) -> String {
    if size >= 1_000_000 {
        format!("{}M", size / 1_000_000)
    } else {
        size.to_string()
    }
}

/// A rate in millions, e.g. `3.2M`.
fn millions(rate: f64) -> String {
    format!("{:.2}M", rate / 1e6)
}

/// Bytes in MiB, one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1u64 << 20) as f64)
}
