//! Scenario scripts and what they declare about themselves in header comments:
//! `# expect: clean` (no Oops allowed), `# expect: oops` (the fixture commits one
//! on purpose), `# expect: maybe-oops` (the fixture touches unmapped MMIO, but
//! whether that faults depends on when the CPU's stale TLB entry goes),
//! `# timeout: SECONDS`, `# machine: pc|q35-hotplug` (see [`Machine`]) and
//! `# ground-truth: none` (the script traces no ground truth: a soak, whose
//! many cycles would wrap the kernel's trace buffer, judges by barwatch's
//! verdict and the kernel log alone). Each
//! also states what its run must show in an expectations file,
//! `bench/expect/NAME.toml` (`barwatch check --expect`), which the guest's check
//! and the tests' replay both judge by.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

pub use super::qemu::Machine;

/// What the serial log may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// No Oops, BUG or WARNING.
    Clean,
    /// At least one Oops: the fixture touches an unmapped BAR on purpose.
    Oops,
    /// An Oops or none: x86 flushes the TLB lazily after iounmap, so a read
    /// through the stale mapping may still succeed for a while.
    MaybeOops,
}

/// One scenario script.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its name (the script's file stem).
    pub name: String,
    /// The script.
    pub path: PathBuf,
    /// What the kernel log may hold.
    pub expect: Expectation,
    /// How long the whole boot may take.
    pub timeout: Duration,
    /// Its expectations file: the devices, cycles and rules its run must show.
    pub expectations: PathBuf,
    /// The machine QEMU models.
    pub machine: Machine,
    /// Whether the script traces the kernel's ground truth (the default), which
    /// the run then requires.
    pub ground_truth: bool,
}

impl Scenario {
    /// Loads `bench/scenarios/NAME.sh` and its header.
    pub fn load(bench: &Path, name: &str) -> Result<Self> {
        let path = bench.join("scenarios").join(format!("{name}.sh"));
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no scenario {name} ({} missing); the scenarios are: {}",
                path.display(),
                Self::names(bench).unwrap_or_default().join(", ")
            )
        })?;
        let Header {
            expect,
            timeout,
            machine,
            ground_truth,
        } = parse_header(&text)?;
        let expectations = bench.join("expect").join(format!("{name}.toml"));
        if !expectations.is_file() {
            bail!(
                "scenario {name} has no expectations file {}: write what its run must show \
                 (devices, min_cycles, trigger, required rules; see `barwatch check --expect`)",
                expectations.display()
            );
        }
        Ok(Self {
            name: name.to_owned(),
            path,
            expect,
            timeout,
            expectations,
            machine,
            ground_truth,
        })
    }

    /// Every scenario's name.
    pub fn names(bench: &Path) -> Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(bench.join("scenarios"))?
            .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }
}

/// What a script's header comments declare.
struct Header {
    expect: Expectation,
    timeout: Duration,
    machine: Machine,
    ground_truth: bool,
}

/// Reads `# expect:`, `# timeout:`, `# machine:` and `# ground-truth:` from a
/// script's comments.
fn parse_header(text: &str) -> Result<Header> {
    let mut expect = Expectation::Clean;
    let mut timeout = super::DEFAULT_TIMEOUT;
    let mut machine = Machine::Pc;
    let mut ground_truth = true;
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some(value) = line.strip_prefix("# expect:") {
            expect = match value.trim() {
                "clean" => Expectation::Clean,
                "oops" => Expectation::Oops,
                "maybe-oops" => Expectation::MaybeOops,
                other => bail!("`# expect: {other}` is not clean, oops or maybe-oops"),
            };
        } else if let Some(value) = line.strip_prefix("# timeout:") {
            let seconds: u64 = value
                .trim()
                .parse()
                .with_context(|| format!("`# timeout:{value}` is not a number of seconds"))?;
            timeout = Duration::from_secs(seconds);
        } else if let Some(value) = line.strip_prefix("# machine:") {
            machine = match value.trim() {
                "pc" => Machine::Pc,
                "q35-hotplug" => Machine::Q35Hotplug,
                other => bail!("`# machine: {other}` is not pc or q35-hotplug"),
            };
        } else if let Some(value) = line.strip_prefix("# ground-truth:") {
            ground_truth = match value.trim() {
                "none" => false,
                other => {
                    bail!("`# ground-truth: {other}` is not none (leave the line out to trace it)")
                }
            };
        }
    }
    Ok(Header {
        expect,
        timeout,
        machine,
        ground_truth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_header() {
        let header = parse_header("#!/bin/sh\n# expect: oops\n# timeout: 90\necho hi\n").unwrap();
        assert_eq!(header.expect, Expectation::Oops);
        assert_eq!(header.timeout, Duration::from_secs(90));
        assert_eq!(header.machine, Machine::Pc);
        let header = parse_header("# machine: q35-hotplug\n").unwrap();
        assert_eq!(header.machine, Machine::Q35Hotplug);
        assert!(parse_header("# expect: maybe\n").is_err());
        assert!(parse_header("# machine: arm\n").is_err());
        assert!(header.ground_truth);
        assert!(!parse_header("# ground-truth: none\n").unwrap().ground_truth);
        assert!(parse_header("# ground-truth: some\n").is_err());
    }

    #[test]
    fn every_bench_scenario_has_a_valid_header_and_an_expectations_file() {
        let bench = super::super::bench_dir();
        let names = Scenario::names(&bench).unwrap();
        assert!(
            names.contains(&"playback-remove-rescan".to_owned()),
            "{names:?}"
        );
        for name in names {
            Scenario::load(&bench, &name).unwrap();
        }
    }
}
