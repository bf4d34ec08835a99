//! `cargo xtask bench`'s kernel section: what watching costs the machine
//! watched. A tight loop pinned to one CPU times three kinds of call (the
//! watched path, an ALSA ioctl; unwatched work, a non-ALSA ioctl and
//! `getppid`) with nothing attached, under `barwatch record`, and under the
//! reference, bpftrace 0.17 on the same syscall tracepoint: counting
//! (`count()`) and printing the same fields (`printf`). Every contender runs in
//! each of several rounds, in turn, so the machine's drift falls on all alike;
//! the table shows medians, their spread, and each contender's added cost as a
//! ratio to bpftrace's. The kernel's own measure of each of barwatch's
//! programs (`run_time_ns` / `run_cnt`, with `kernel.bpf_stats_enabled`) comes
//! from a run of its own, as collecting it costs time too. Then the same
//! calls in the bench guest, where ALSA ioctls are not taken from the syscall
//! tracepoints ([`super::guest`]). Fails when a target is missed.

use std::{
    collections::BTreeMap,
    fs,
    io::{BufRead as _, BufReader, Read as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use super::live::{has_header, recording_missing, remove, skip_or_fail, trailer_counts};
use crate::{shell, tasks};

/// Calls per timed loop.
const ITERATIONS: u64 = 2_000_000;
/// Rounds of every contender.
const ROUNDS: usize = 3;
/// The CPU the loop is pinned to.
const LOOP_CPU: usize = 0;
/// The CPU every watcher's user side is pinned to (`taskset`): the other one,
/// so a watcher that drains fast does not take the loop's CPU, and each
/// contender's cost is the kernel side's alone.
const WATCHER_CPU: &str = "1";
/// The calls timed, as the load generator names them.
const CALLS: [&str; 3] = ["alsa", "other-ioctl", "getppid"];
/// How long a watcher may take to attach.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);
/// bpftrace says it attaches before it has; what it takes after.
const BPFTRACE_SETTLE: Duration = Duration::from_secs(1);
/// The added cost of a recorded ALSA ioctl, at most this times bpftrace's
/// `count()` on the same tracepoint.
const TARGET_VS_COUNT: f64 = 1.5;
/// ... and at most this times bpftrace's `printf` of the same fields.
const TARGET_VS_PRINTF: f64 = 0.1;

/// bpftrace counting every ioctl entry.
const BPFTRACE_COUNT: &str = "tracepoint:syscalls:sys_enter_ioctl { @c = count(); }";
/// bpftrace printing the ALSA ones (ioctl types 'U', control, and 'A', PCM).
const BPFTRACE_PRINTF: &str = "tracepoint:syscalls:sys_enter_ioctl \
     /((args->cmd >> 8) & 0xff) == 0x55 || ((args->cmd >> 8) & 0xff) == 0x41/ \
     { printf(\"%d %d %s %x\\n\", pid, tid, comm, args->cmd); }";

/// Who watches while the loop runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Contender {
    Nothing,
    Barwatch,
    BpftraceCount,
    BpftracePrintf,
}

impl Contender {
    const ALL: [Contender; 4] = [
        Contender::Nothing,
        Contender::Barwatch,
        Contender::BpftraceCount,
        Contender::BpftracePrintf,
    ];

    fn label(self) -> &'static str {
        match self {
            Contender::Nothing => "no probe",
            Contender::Barwatch => "barwatch record",
            Contender::BpftraceCount => "bpftrace count()",
            Contender::BpftracePrintf => "bpftrace printf, ALSA only",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Contender::Nothing => "none",
            Contender::Barwatch => "barwatch",
            Contender::BpftraceCount => "bpftrace_count",
            Contender::BpftracePrintf => "bpftrace_printf",
        }
    }
}

/// A watcher attached for a round.
struct Watcher {
    child: Option<Child>,
    /// barwatch's capture, to read its losses from.
    capture: Option<PathBuf>,
    /// What drains bpftrace's output.
    drain: Option<thread::JoinHandle<()>>,
}

/// The recorder and the load generator, built for the bench.
pub(super) struct Binaries {
    pub(super) barwatch: PathBuf,
    pub(super) load: PathBuf,
}

/// Builds `barwatch` and the load generator (`agent/examples/alsa_ioctls.rs`)
/// with release settings.
pub(super) fn build() -> Result<Binaries> {
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
    let release = tasks::root().join("target/release");
    Ok(Binaries {
        barwatch: release.join("barwatch"),
        load: release.join("examples/alsa_ioctls"),
    })
}

/// Starts `barwatch record -o capture` pinned to `cpu` and waits until it has
/// attached (its capture has its header).
pub(super) fn start_recorder(barwatch: &Path, capture: &Path, cpu: &str) -> Result<Child> {
    remove(capture)?;
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", cpu])
        .arg(barwatch)
        .arg("record")
        .arg("-o")
        .arg(capture);
    eprintln!("+ {}", shell::describe(&cmd));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", barwatch.display()))?;
    let deadline = Instant::now() + ATTACH_TIMEOUT;
    while !has_header(capture) {
        if let Some(status) = child.try_wait()? {
            bail!("barwatch record ended before it attached ({status})");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("barwatch record did not attach in {ATTACH_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(child)
}

/// The kernel section: prints the table, writes `target/bench/kernel.json`.
pub fn run() -> Result<()> {
    let bins = build()?;
    let root = tasks::root();
    let dir = root.join("target/bench");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let missing = recording_missing().or_else(bpftrace_missing);
    if let Some(why) = skip_or_fail(missing)? {
        eprintln!("kernel: skipped: {why}");
        return Ok(());
    }
    let capture = dir.join("kernel-record.jsonl");
    let mut ns: BTreeMap<(Contender, &str), Vec<f64>> = BTreeMap::new();
    let mut losses = Vec::new();
    for round in 1..=ROUNDS {
        for contender in Contender::ALL {
            eprintln!("kernel: round {round}/{ROUNDS}: {}", contender.label());
            let watcher = attach(&bins, contender, &capture)?;
            let timed: Result<Vec<f64>> = CALLS.iter().map(|call| time_loop(&bins, call)).collect();
            let lost = detach(watcher)?;
            for (call, took) in CALLS.iter().zip(timed?) {
                ns.entry((contender, call)).or_default().push(took);
            }
            if let Some(counts) = lost {
                losses.push(counts);
            }
        }
    }
    let programs = program_costs(&bins, &capture)?;
    let table = Table::of(&ns);
    table.print();
    for (written, lost) in &losses {
        eprintln!("kernel:   barwatch wrote {written} events, lost {lost} records in a round");
    }
    for p in &programs {
        eprintln!(
            "kernel:   barwatch program {} (type {}): {} runs, {:.0} ns per run (kernel.bpf_stats_enabled)",
            p.id,
            p.kind,
            p.runs,
            p.ns_per_run()
        );
    }
    let mut misses = table.misses();
    let guest = match super::guest::measure() {
        Ok(guest) => {
            guest.print();
            misses.extend(guest.misses());
            Some(guest.to_json())
        }
        Err(e) => {
            let why = skip_or_fail(Some(format!("the guest's columns: {e:#}")))?;
            eprintln!("kernel: guest columns skipped: {}", why.unwrap_or_default());
            None
        }
    };
    let report = json!({
        "iterations": ITERATIONS,
        "rounds": ROUNDS,
        "loop_cpu": LOOP_CPU,
        "watcher_cpu": WATCHER_CPU,
        "ns_per_call": table.to_json(),
        "barwatch_losses": losses.iter().map(|(w, l)| json!({"written": w, "lost": l})).collect::<Vec<_>>(),
        "barwatch_programs": programs.iter().map(Program::to_json).collect::<Vec<_>>(),
        "guest": guest,
        "targets": {
            "alsa_added_vs_bpftrace_count": TARGET_VS_COUNT,
            "alsa_added_vs_bpftrace_printf": TARGET_VS_PRINTF,
            "unwatched_added_vs_bpftrace_count": 1.0,
            "guest_unwatched_added_share": super::guest::TARGET_UNWATCHED_SHARE,
        },
        "missed": misses,
    });
    let _ = remove(&capture);
    super::conclude("kernel", &dir, &report, &misses)
}

/// Why bpftrace cannot be the reference here, if it cannot.
fn bpftrace_missing() -> Option<String> {
    let version = shell::output(Command::new("bpftrace").arg("--version")).ok();
    match version {
        Some(out) if out.status.success() => None,
        _ => Some("bpftrace is not installed (cargo xtask setup installs it)".to_owned()),
    }
}

/// Starts `contender` and waits until its probes are attached.
fn attach(bins: &Binaries, contender: Contender, capture: &Path) -> Result<Watcher> {
    match contender {
        Contender::Nothing => Ok(Watcher {
            child: None,
            capture: None,
            drain: None,
        }),
        Contender::Barwatch => Ok(Watcher {
            child: Some(start_recorder(&bins.barwatch, capture, WATCHER_CPU)?),
            capture: Some(capture.to_owned()),
            drain: None,
        }),
        Contender::BpftraceCount | Contender::BpftracePrintf => {
            let program = if contender == Contender::BpftraceCount {
                BPFTRACE_COUNT
            } else {
                BPFTRACE_PRINTF
            };
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", WATCHER_CPU, "bpftrace", "-e", program]);
            eprintln!("+ {}", shell::describe(&cmd));
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start bpftrace")?;
            let mut out = BufReader::new(child.stdout.take().context("bpftrace's output")?);
            let mut line = String::new();
            while !line.starts_with("Attaching") {
                line.clear();
                if out.read_line(&mut line)? == 0 {
                    bail!("bpftrace ended before it attached ({:?})", child.wait()?);
                }
            }
            // What it prints goes nowhere, as fast as it comes.
            let drain = thread::spawn(move || {
                let _ = std::io::copy(&mut out, &mut std::io::sink());
            });
            thread::sleep(BPFTRACE_SETTLE);
            Ok(Watcher {
                child: Some(child),
                capture: None,
                drain: Some(drain),
            })
        }
    }
}

/// Stops a watcher; for barwatch, what its capture's trailer says it wrote
/// and lost.
fn detach(watcher: Watcher) -> Result<Option<(u64, u64)>> {
    let Some(child) = watcher.child else {
        return Ok(None);
    };
    let status = interrupt(child)?;
    if let Some(drain) = watcher.drain {
        let _ = drain.join();
    }
    match watcher.capture {
        Some(capture) => {
            if !status.success() {
                bail!("barwatch record failed ({status})");
            }
            trailer_counts(&capture).map(Some)
        }
        None => Ok(None),
    }
}

/// Times one loop of [`ITERATIONS`] calls of `call`: ns per call.
fn time_loop(bins: &Binaries, call: &str) -> Result<f64> {
    let said = run_load(
        &bins.load,
        &[
            "--cpu",
            &LOOP_CPU.to_string(),
            "--call",
            call,
            &ITERATIONS.to_string(),
        ],
    )?;
    said["ns_per_call"]
        .as_f64()
        .context("no ns_per_call in the load generator's output")
}

/// Runs the load generator with `args`: the JSON line it printed of what it did.
pub(super) fn run_load(load: &Path, args: &[&str]) -> Result<Value> {
    let out = shell::output(Command::new(load).args(args))?;
    if !out.status.success() {
        bail!("the load generator failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "the load generator printed no JSON: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Ends a watcher with SIGINT, as Ctrl-C would, and waits for it.
pub(super) fn interrupt(mut child: Child) -> Result<std::process::ExitStatus> {
    // SAFETY: kill has no memory preconditions; the pid is our child's, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    Ok(child.wait()?)
}

/// One of barwatch's programs as the kernel measured it.
struct Program {
    id: u64,
    kind: u64,
    runs: u64,
    run_time_ns: u64,
}

impl Program {
    fn ns_per_run(&self) -> f64 {
        self.run_time_ns as f64 / self.runs.max(1) as f64
    }

    fn to_json(&self) -> Value {
        json!({
            "prog_id": self.id,
            "prog_type": self.kind,
            "run_cnt": self.runs,
            "run_time_ns": self.run_time_ns,
            "ns_per_run": self.ns_per_run(),
        })
    }
}

/// Runs the ALSA loop once more under `barwatch record` with the kernel's BPF
/// statistics on, and reads each program's run count and time from the
/// recorder's descriptors (`/proc/PID/fdinfo`). The setting is put back.
fn program_costs(bins: &Binaries, capture: &Path) -> Result<Vec<Program>> {
    const STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";
    let before = fs::read_to_string(STATS).with_context(|| format!("cannot read {STATS}"))?;
    fs::write(STATS, "1").with_context(|| format!("cannot write {STATS}"))?;
    let measured = (|| {
        let watcher = attach(bins, Contender::Barwatch, capture)?;
        let pid = watcher.child.as_ref().map_or(0, Child::id);
        let timed = time_loop(bins, "alsa");
        let programs = programs_of(pid);
        detach(watcher)?;
        timed?;
        Ok(programs)
    })();
    fs::write(STATS, before.trim()).with_context(|| format!("cannot restore {STATS}"))?;
    measured
}

/// The BPF programs process `pid` holds, with the statistics their fdinfo
/// carries, those that ran.
fn programs_of(pid: u32) -> Vec<Program> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut programs: Vec<Program> = fds
        .filter_map(|fd| {
            let fd = fd.ok()?;
            let target = fs::read_link(fd.path()).ok()?;
            if target.to_str() != Some("anon_inode:bpf-prog") {
                return None;
            }
            let mut info = String::new();
            fs::File::open(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_str()?))
                .ok()?
                .read_to_string(&mut info)
                .ok()?;
            let field = |name: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
            };
            Some(Program {
                id: field("prog_id:")?,
                kind: field("prog_type:")?,
                runs: field("run_cnt:")?,
                run_time_ns: field("run_time_ns:")?,
            })
        })
        .filter(|p| p.runs > 0)
        .collect();
    programs.sort_by_key(|p| std::cmp::Reverse(p.runs));
    programs.dedup_by_key(|p| p.id);
    programs
}

/// Medians and spreads of every contender and call.
struct Table {
    cells: BTreeMap<(Contender, &'static str), Cell>,
}

struct Cell {
    median: f64,
    min: f64,
    max: f64,
}

impl Table {
    fn of(ns: &BTreeMap<(Contender, &'static str), Vec<f64>>) -> Self {
        let cells = ns
            .iter()
            .map(|(key, runs)| {
                let mut sorted = runs.clone();
                sorted.sort_by(f64::total_cmp);
                let cell = Cell {
                    median: sorted[sorted.len() / 2],
                    min: sorted[0],
                    max: sorted[sorted.len() - 1],
                };
                (*key, cell)
            })
            .collect();
        Table { cells }
    }

    fn median(&self, contender: Contender, call: &str) -> f64 {
        self.cells
            .iter()
            .find(|((c, k), _)| *c == contender && *k == call)
            .map_or(f64::NAN, |(_, cell)| cell.median)
    }

    /// What `contender` adds to a call, over nothing attached.
    fn added(&self, contender: Contender, call: &str) -> f64 {
        self.median(contender, call) - self.median(Contender::Nothing, call)
    }

    fn print(&self) {
        eprintln!(
            "kernel: ns per call, median of {ROUNDS} rounds of {ITERATIONS} calls on CPU {LOOP_CPU} (added over no probe)"
        );
        eprintln!(
            "kernel:   {:<28} {:>22} {:>22} {:>22}",
            "", "ALSA ioctl", "non-ALSA ioctl", "getppid"
        );
        for contender in Contender::ALL {
            let cells: Vec<String> = CALLS
                .iter()
                .map(|call| {
                    let median = self.median(contender, call);
                    match contender {
                        Contender::Nothing => format!("{median:.0}"),
                        _ => format!("{median:.0} (+{:.0})", self.added(contender, call)),
                    }
                })
                .collect();
            eprintln!(
                "kernel:   {:<28} {:>22} {:>22} {:>22}",
                contender.label(),
                cells[0],
                cells[1],
                cells[2]
            );
        }
        for ((contender, call), cell) in &self.cells {
            eprintln!(
                "kernel:     spread {} {call}: {:.0}-{:.0}",
                contender.key(),
                cell.min,
                cell.max
            );
        }
    }

    /// The targets missed, in words.
    fn misses(&self) -> Vec<String> {
        let mut misses = Vec::new();
        let ours = self.added(Contender::Barwatch, "alsa");
        let count = self.added(Contender::BpftraceCount, "alsa");
        let printf = self.added(Contender::BpftracePrintf, "alsa");
        if ours > TARGET_VS_COUNT * count {
            misses.push(format!(
                "an ALSA ioctl costs barwatch +{ours:.0} ns, {:.1}x bpftrace count()'s +{count:.0} (target <= {TARGET_VS_COUNT}x)",
                ours / count
            ));
        }
        if ours > TARGET_VS_PRINTF * printf {
            misses.push(format!(
                "an ALSA ioctl costs barwatch +{ours:.0} ns, {:.2}x bpftrace printf's +{printf:.0} (target <= {TARGET_VS_PRINTF}x)",
                ours / printf
            ));
        }
        for call in ["other-ioctl", "getppid"] {
            let ours = self.added(Contender::Barwatch, call);
            let count = self.added(Contender::BpftraceCount, call);
            if ours > count {
                misses.push(format!(
                    "{call} costs barwatch +{ours:.0} ns, bpftrace count() +{count:.0} (target: no more)"
                ));
            }
        }
        misses
    }

    fn to_json(&self) -> Value {
        let by_contender: serde_json::Map<String, Value> = Contender::ALL
            .iter()
            .map(|&contender| {
                let calls: serde_json::Map<String, Value> = CALLS
                    .iter()
                    .filter_map(|call| {
                        let ((_, _), cell) = self
                            .cells
                            .iter()
                            .find(|((c, k), _)| *c == contender && k == call)?;
                        Some((
                            (*call).to_owned(),
                            json!({
                                "median": cell.median,
                                "min": cell.min,
                                "max": cell.max,
                                "added": self.added(contender, call),
                            }),
                        ))
                    })
                    .collect();
                (contender.key().to_owned(), Value::Object(calls))
            })
            .collect();
        Value::Object(by_contender)
    }
}
