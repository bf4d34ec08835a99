//! `cargo xtask vm`: the real-kernel test bench. Debian's kernel boots under QEMU
//! with an emulated Intel HD-audio controller (the real snd_hda_intel binds) and
//! QEMU's `edu` device (for the fixture driver); a scenario script runs inside it
//! under `barwatch record`, with the kernel's own tracing counting the same
//! functions as ground truth, and everything comes back through a raw disk.

pub mod cache;
pub mod fixture;
pub mod initramfs;
pub mod qemu;
pub mod qmp;
pub mod results;
pub mod scenario;

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

pub use crate::tasks::root;
use crate::{shell, tasks};
pub use results::GroundTruth;
pub use scenario::{Expectation, Scenario};

/// The bench scripts folder.
pub fn bench_dir() -> PathBuf {
    root().join("xtask/bench")
}

/// `cargo xtask vm prepare`: host packages and the package cache.
pub fn prepare() -> Result<cache::Cache> {
    crate::setup::ensure_host_packages(cache::HOST_PACKAGES)?;
    cache::prepare(&root().join("target"))
}

/// Everything a boot needs, built fresh: fixture module, barwatch, initramfs.
fn build_guest(cache: &cache::Cache) -> Result<PathBuf> {
    let built = fixture::build(
        cache,
        &bench_dir().join("fixture"),
        &bench_dir().join("tools"),
    )?;
    shell::run(&mut tasks::cargo(&[
        "build",
        "--release",
        "-p",
        "barwatch-agent",
        "--bin",
        "barwatch",
    ]))?;
    let barwatch = root().join("target/release/barwatch");
    initramfs::build(
        cache,
        &initramfs::Contents {
            bench: &bench_dir(),
            barwatch: &barwatch,
            fixture: &built.module,
            tools: &built.tools,
        },
    )
}

/// The outcome of one scenario run.
#[derive(Debug)]
pub struct RunReport {
    /// The scenario that ran.
    pub scenario: Scenario,
    /// Where its results are (capture, ground truth, serial log, …).
    pub dir: PathBuf,
    /// The scenario script's exit status, if it finished.
    pub status: Option<i32>,
    /// Kernel complaints (Oops, BUG, WARNING) from the serial log.
    pub complaints: Vec<String>,
    /// Whether QEMU was killed at the timeout.
    pub timed_out: bool,
    /// The kernel's own per-phase call counts.
    pub truth: GroundTruth,
    /// The HD-audio drivers' own tracepoints as the kernel traced them (an ftrace
    /// instance of their own: their event names collide with the kprobe events').
    pub tracepoints: GroundTruth,
    /// Why part of the ground truth did not come back (a file missing), if it did not.
    pub truth_missing: Vec<String>,
}

impl RunReport {
    /// Problems that make the run fail, given what the scenario expects; empty when
    /// it passed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.timed_out {
            problems.push(format!(
                "timed out after {} s",
                self.scenario.timeout.as_secs()
            ));
        }
        match self.status {
            Some(0) => {}
            Some(code) => problems.push(format!("the scenario script failed with status {code}")),
            None => problems.push("the scenario script left no status".to_owned()),
        }
        problems.extend(self.truth_missing.iter().cloned());
        if !self.truth.unregistered.is_empty() {
            problems.push(format!(
                "the kernel refused ground-truth probes, so the kernel's count is partial: {}",
                self.truth.unregistered.join("; ")
            ));
        }
        match (self.scenario.expect, self.complaints.is_empty()) {
            (Expectation::Clean, false) => problems.push(format!(
                "the kernel complained:\n    {}",
                self.complaints.join("\n    ")
            )),
            (Expectation::Oops, true) => {
                problems.push("the scenario expects an Oops and the kernel reported none".into())
            }
            _ => {}
        }
        problems
    }

    /// A file of the results, by name.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// `cargo xtask vm run SCENARIO`: boots the guest, runs the scenario, brings the
/// results back and reads them.
pub fn run(name: &str, params: &[(String, String)]) -> Result<RunReport> {
    run_within(name, params, None)
}

/// [`run`], with QEMU killed after `timeout` instead of the script's `# timeout:`
/// when given: for runs whose length a parameter sets (a soak's cycles).
pub fn run_within(
    name: &str,
    params: &[(String, String)],
    timeout: Option<Duration>,
) -> Result<RunReport> {
    let mut scenario = Scenario::load(&bench_dir(), name)?;
    if let Some(timeout) = timeout {
        scenario.timeout = timeout;
    }
    let cache = prepare()?;
    let initramfs = build_guest(&cache)?;
    let dir = root().join("target/vm/runs").join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let mut cmdline = format!("barwatch.scenario={name}");
    for (key, value) in params {
        cmdline.push_str(&format!(" barwatch.{key}={value}"));
    }
    let booted = qemu::run(
        &qemu::Boot {
            kernel: &cache.vmlinuz(),
            initramfs: &initramfs,
            cmdline,
            out: &dir,
            machine: scenario.machine,
        },
        scenario.timeout,
    )?;
    let serial = fs::read_to_string(&booted.serial).unwrap_or_default();
    let results = dir.join("results");
    let unpacked = results::unpack(&booted.disk, &results);
    let status = fs::read_to_string(results.join("status"))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let mut truth_missing = Vec::new();
    let mut or_missing = |read: Result<GroundTruth>| {
        read.unwrap_or_else(|e| {
            truth_missing.push(format!("{e:#}"));
            GroundTruth::default()
        })
    };
    let (truth, tracepoints) = if scenario.ground_truth {
        (
            or_missing(GroundTruth::read_kprobes(&results)),
            or_missing(GroundTruth::read_tracepoints(&results)),
        )
    } else {
        (GroundTruth::default(), GroundTruth::default())
    };
    fs::write(dir.join("ground-truth.txt"), truth.to_string())?;
    let report = RunReport {
        scenario,
        dir: results,
        status,
        complaints: results::kernel_complaints(&serial),
        timed_out: booted.timed_out,
        truth,
        tracepoints,
        truth_missing,
    };
    if let Err(e) = unpacked {
        eprintln!("vm: {e:#}");
    }
    Ok(report)
}

/// Prints a run's verdict and where its results are.
pub fn print_report(report: &RunReport) {
    let problems = report.problems();
    let verdict = if problems.is_empty() { "PASS" } else { "FAIL" };
    eprintln!("vm: scenario {}: {verdict}", report.scenario.name);
    for p in &problems {
        eprintln!("vm:   {p}");
    }
    let parent = report.dir.parent().unwrap_or(Path::new("."));
    eprintln!(
        "vm:   capture:      {}",
        report.file("capture.jsonl").display()
    );
    eprintln!(
        "vm:   ground truth: {}",
        parent.join("ground-truth.txt").display()
    );
    eprintln!(
        "vm:   serial log:   {}",
        parent.join("serial.log").display()
    );
    eprintln!("vm:   all results:  {}", report.dir.display());
}

/// `cargo xtask vm run`, as a command: fails when the scenario did.
pub fn run_command(name: &str, params: &[(String, String)]) -> Result<()> {
    let report = run(name, params)?;
    print_report(&report);
    if !report.problems().is_empty() {
        bail!("scenario {name} failed");
    }
    Ok(())
}

/// `cargo xtask vm shell`: the same guest with a shell on the serial console.
pub fn shell() -> Result<()> {
    let cache = prepare()?;
    let initramfs = build_guest(&cache)?;
    let dir = root().join("target/vm/runs/shell");
    qemu::interactive(&qemu::Boot {
        kernel: &cache.vmlinuz(),
        initramfs: &initramfs,
        cmdline: "barwatch.scenario=shell".to_owned(),
        out: &dir,
        machine: qemu::Machine::Pc,
    })
}

/// Parses `KEY=VALUE` scenario parameters.
pub fn parse_param(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}

/// The default timeout when a scenario does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

#[cfg(test)]
mod tests {
    use super::*;

    fn report(truth: GroundTruth, truth_missing: Vec<String>) -> RunReport {
        RunReport {
            scenario: Scenario {
                name: "idle-remove-rescan".to_owned(),
                path: PathBuf::from("idle-remove-rescan.sh"),
                expect: Expectation::Clean,
                timeout: DEFAULT_TIMEOUT,
                expectations: PathBuf::from("idle-remove-rescan.toml"),
                machine: crate::vm::qemu::Machine::Pc,
                ground_truth: true,
            },
            dir: PathBuf::from("results"),
            status: Some(0),
            complaints: Vec::new(),
            timed_out: false,
            truth,
            tracepoints: GroundTruth::default(),
            truth_missing,
        }
    }

    #[test]
    fn a_run_without_its_whole_ground_truth_fails() {
        assert!(
            report(GroundTruth::default(), Vec::new())
                .problems()
                .is_empty()
        );
        let missing = report(GroundTruth::default(), vec!["trace.txt is missing".into()]);
        assert_eq!(missing.problems(), ["trace.txt is missing"]);
        let refused = report(
            GroundTruth {
                unregistered: vec!["p:bw/azx_nosuch snd_hda_codec:azx_nosuch".into()],
                ..GroundTruth::default()
            },
            Vec::new(),
        );
        assert!(
            refused.problems()[0].contains("azx_nosuch"),
            "{:?}",
            refused.problems()
        );
    }
}
