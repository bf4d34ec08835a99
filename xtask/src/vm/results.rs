//! Reading what a guest run left: the results archive, the serial log's kernel
//! complaints, and the ground-truth trace turned into per-phase call counts.

use std::{collections::BTreeMap, fmt, fs, path::Path, process::Command};

use anyhow::{Context as _, Result};

use crate::shell;

/// Unpacks the tar archive the guest wrote to the raw results disk.
pub fn unpack(disk: &Path, into: &Path) -> Result<()> {
    fs::create_dir_all(into)?;
    shell::run(Command::new("tar").arg("-xf").arg(disk).arg("-C").arg(into))
        .context("the results disk holds no archive: did the guest finish its scenario?")
}

/// Lines of the serial log in which the kernel reports a bug: Oops, BUG,
/// WARNING, panic, general protection fault.
pub fn kernel_complaints(serial: &str) -> Vec<String> {
    const MARKERS: [&str; 6] = [
        "BUG: ",
        "Oops",
        "WARNING: CPU",
        "Kernel panic",
        "general protection fault",
        "unable to handle page fault",
    ];
    serial
        .lines()
        .filter(|l| MARKERS.iter().any(|m| l.contains(m)))
        .map(str::to_owned)
        .collect()
}

/// One probe hit in the ground-truth trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The phase it happened in.
    pub phase: String,
    /// The probed function (the kprobe event's name).
    pub function: String,
    /// Trace timestamp in seconds.
    pub ts: f64,
    /// The CPU it ran on.
    pub cpu: u32,
    /// The fetched arguments, `name=value` pairs.
    pub args: BTreeMap<String, String>,
}

/// Calls per function per phase, counted by the kernel's own tracing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroundTruth {
    /// Phases in the order the scenario entered them.
    pub phases: Vec<String>,
    /// When each phase after `boot` started, in trace seconds (CLOCK_MONOTONIC).
    pub phase_starts: BTreeMap<String, f64>,
    /// Every hit, in trace order.
    pub hits: Vec<Hit>,
}

impl GroundTruth {
    /// Parses an ftrace `trace` file of `bw/*` kprobe events and
    /// `barwatch-phase: NAME` markers.
    pub fn parse(trace: &str) -> Self {
        let mut truth = GroundTruth {
            phases: vec!["boot".to_owned()],
            phase_starts: BTreeMap::new(),
            hits: Vec::new(),
        };
        for line in trace.lines().filter(|l| !l.starts_with('#')) {
            let Some((cpu, ts, event, rest)) = split_trace_line(line) else {
                continue;
            };
            if event == "tracing_mark_write" {
                if let Some(phase) = rest.trim().strip_prefix("barwatch-phase: ") {
                    let phase = phase.trim().to_owned();
                    truth.phase_starts.entry(phase.clone()).or_insert(ts);
                    truth.phases.push(phase);
                }
                continue;
            }
            let args = rest
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            truth.hits.push(Hit {
                phase: truth.phases.last().cloned().unwrap_or_default(),
                function: event.to_owned(),
                ts,
                cpu,
                args,
            });
        }
        truth
    }

    /// Calls of `function` in `phase`.
    pub fn count(&self, phase: &str, function: &str) -> usize {
        self.hits
            .iter()
            .filter(|h| h.phase == phase && h.function == function)
            .count()
    }

    /// Calls of `function` from the start of phase `from` to the start of `to`;
    /// 0 when either phase is missing.
    pub fn count_in(&self, function: &str, from: &str, to: &str) -> usize {
        let (Some(start), Some(end)) = (self.phase_starts.get(from), self.phase_starts.get(to))
        else {
            return 0;
        };
        self.of(function)
            .filter(|h| h.ts >= *start && h.ts < *end)
            .count()
    }

    /// Hits of `function`, in trace order.
    pub fn of<'a>(&'a self, function: &'a str) -> impl Iterator<Item = &'a Hit> + 'a {
        self.hits.iter().filter(move |h| h.function == function)
    }
}

/// Splits `task-pid [cpu] flags  12.345678: event: rest` into its CPU, timestamp,
/// event name and the rest.
fn split_trace_line(line: &str) -> Option<(u32, f64, &str, &str)> {
    let bracket = line.find("] ")?;
    let cpu = line[..bracket].rsplit_once('[')?.1.trim().parse().ok()?;
    let after = &line[bracket + 2..];
    let (head, tail) = after.split_once(": ")?;
    let ts: f64 = head.split_whitespace().last()?.parse().ok()?;
    let (event, rest) = tail.split_once(':').unwrap_or((tail, ""));
    Some((cpu, ts, event.trim(), rest))
}

impl fmt::Display for GroundTruth {
    /// The per-phase count table, functions as rows and phases as columns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut functions: Vec<&str> = self.hits.iter().map(|h| h.function.as_str()).collect();
        functions.sort_unstable();
        functions.dedup();
        let width = functions.iter().map(|n| n.len()).max().unwrap_or(8).max(8);
        write!(f, "{:width$}", "FUNCTION")?;
        for phase in &self.phases {
            write!(f, "  {phase:>10}")?;
        }
        writeln!(f)?;
        for function in functions {
            write!(f, "{function:width$}")?;
            for phase in &self.phases {
                write!(f, "  {:>10}", self.count(phase, function))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "\
# tracer: nop
#
           <...>-1       [000] .....     5.100000: tracing_mark_write: barwatch-phase: setup
           aplay-90      [001] d.h1.     5.200000: azx_interrupt: (azx_interrupt+0x0/0x190 [snd_hda_codec])
              sh-1       [000] .....     6.000000: tracing_mark_write: barwatch-phase: remove
              sh-1       [000] .....     6.100000: azx_stop_chip: (azx_stop_chip+0x0/0x40 [snd_hda_codec])
              sh-1       [000] .....     6.200000: iounmap: (iounmap+0x0/0x90) addr=0xffffc90000300000
";

    #[test]
    fn counts_calls_per_phase() {
        let truth = GroundTruth::parse(TRACE);
        assert_eq!(truth.phases, ["boot", "setup", "remove"]);
        assert_eq!(truth.count("setup", "azx_interrupt"), 1);
        assert_eq!(truth.count("remove", "azx_stop_chip"), 1);
        assert_eq!(truth.count("setup", "azx_stop_chip"), 0);
        assert_eq!(truth.count_in("azx_interrupt", "setup", "remove"), 1);
        assert_eq!(truth.count_in("azx_interrupt", "remove", "done"), 0);
        let unmap = truth.of("iounmap").next().unwrap();
        assert_eq!(unmap.args["addr"], "0xffffc90000300000");
        assert!((unmap.ts - 6.2).abs() < 1e-9);
        assert_eq!(truth.of("azx_interrupt").next().unwrap().cpu, 1);
        let table = truth.to_string();
        assert!(table.lines().next().unwrap().contains("remove"));
    }

    #[test]
    fn finds_oopses_in_the_serial_log() {
        let log = "[ 1.0] ok\n[ 9.1] BUG: unable to handle page fault for address: ffffc900\n[ 9.2] Oops: 0000 [#1] SMP\n";
        assert_eq!(kernel_complaints(log).len(), 2);
        assert!(kernel_complaints("[ 1.0] all quiet\n").is_empty());
    }
}
