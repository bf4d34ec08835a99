//! Reading what a guest run left: the results archive, the serial log's kernel
//! complaints, and the ground-truth trace turned into per-phase call counts.

use std::{collections::BTreeMap, fmt, fs, path::Path, process::Command};

use anyhow::{Context as _, Result, bail};

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
    /// The thread it ran in (ftrace's `task-PID`), the current task under an IRQ.
    pub tid: u32,
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
    /// The events the kernel was set to trace, hit or not (e.g. `azx_interrupt`,
    /// `ioremap_ret`, `hda_send_cmd`).
    pub registered: Vec<String>,
    /// Event specifications the kernel refused to register: their calls were not
    /// counted, so the truth is partial.
    pub unregistered: Vec<String>,
}

/// The results files of one ground-truth source.
struct Source<'a> {
    /// The trace (`trace.txt`).
    trace: &'a str,
    /// The events it traced, one a line (`kprobe_events.txt`, `tp-events.txt`).
    events: &'a str,
    /// How to name an event from one of its lines.
    event_of: fn(&str) -> Option<String>,
}

/// The event name of a `kprobe_events` line: `p:bw/azx_interrupt snd_hda_codec:…`
/// and `r16:bw/ioremap_ret ioremap …` name `azx_interrupt` and `ioremap_ret`.
fn kprobe_event(line: &str) -> Option<String> {
    let definition = line.split_whitespace().next()?;
    let (_, name) = definition.split_once(':')?;
    Some(name.rsplit_once('/').map_or(name, |(_, n)| n).to_owned())
}

/// The event name of a `set_event` line: `hda:hda_send_cmd` names `hda_send_cmd`.
fn set_event(line: &str) -> Option<String> {
    let (_, name) = line.trim().split_once(':')?;
    Some(name.to_owned())
}

impl GroundTruth {
    /// Parses an ftrace `trace` file of `bw/*` kprobe events and
    /// `barwatch-phase: NAME` markers.
    pub fn parse(trace: &str) -> Self {
        let mut truth = GroundTruth {
            phases: vec!["boot".to_owned()],
            ..GroundTruth::default()
        };
        for line in trace.lines().filter(|l| !l.starts_with('#')) {
            let Some((tid, cpu, ts, event, rest)) = split_trace_line(line) else {
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
                tid,
                args,
            });
        }
        truth
    }

    /// Reads the kprobe events' ground truth a run left in `results`: `trace.txt`,
    /// the events registered (`kprobe_events.txt`) and those the kernel refused
    /// (`ground-truth-failed.txt`, absent when none was). A missing trace or event
    /// list is an error: an empty truth would agree with anything.
    pub fn read_kprobes(results: &Path) -> Result<Self> {
        let mut truth = Self::read(results, "trace.txt", "kprobe_events.txt", kprobe_event)?;
        truth.unregistered = match fs::read_to_string(results.join("ground-truth-failed.txt")) {
            Ok(text) => text.lines().map(str::to_owned).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => bail!("cannot read ground-truth-failed.txt: {e}"),
        };
        Ok(truth)
    }

    /// Reads the drivers' tracepoints' ground truth a run left in `results`:
    /// `trace-tp.txt` and the events enabled (`tp-events.txt`).
    pub fn read_tracepoints(results: &Path) -> Result<Self> {
        Self::read(results, "trace-tp.txt", "tp-events.txt", set_event)
    }

    fn read(
        results: &Path,
        trace: &str,
        events: &str,
        event_of: fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let text = |name: &str| {
            fs::read_to_string(results.join(name)).with_context(|| {
                format!(
                    "the ground truth {name} is missing from {}: the kernel's own count is the judge, without it nothing is compared",
                    results.display()
                )
            })
        };
        Ok(Self::from_source(&Source {
            trace: &text(trace)?,
            events: &text(events)?,
            event_of,
        }))
    }

    /// The ground truth of a trace and its event list.
    fn from_source(source: &Source<'_>) -> Self {
        let mut truth = Self::parse(source.trace);
        truth.registered = source.events.lines().filter_map(source.event_of).collect();
        truth.registered.sort_unstable();
        truth.registered.dedup();
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

/// Splits `task-pid [cpu] flags  12.345678: event: rest` into its thread, CPU,
/// timestamp, event name and the rest.
fn split_trace_line(line: &str) -> Option<(u32, u32, f64, &str, &str)> {
    let bracket = line.find("] ")?;
    let (task, cpu) = line[..bracket].rsplit_once('[')?;
    let cpu = cpu.trim().parse().ok()?;
    let tid = task.trim().rsplit_once('-')?.1.parse().ok()?;
    let after = &line[bracket + 2..];
    let (head, tail) = after.split_once(": ")?;
    let ts: f64 = head.split_whitespace().last()?.parse().ok()?;
    let (event, rest) = tail.split_once(':').unwrap_or((tail, ""));
    Some((tid, cpu, ts, event.trim(), rest))
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
        assert_eq!(truth.of("azx_interrupt").next().unwrap().tid, 90);
        let table = truth.to_string();
        assert!(table.lines().next().unwrap().contains("remove"));
    }

    #[test]
    fn knows_the_events_it_traced_hit_or_not() {
        let kprobes = GroundTruth::from_source(&Source {
            trace: TRACE,
            events: "p:bw/azx_interrupt snd_hda_codec:azx_interrupt\n\
                     r16:bw/ioremap_ret ioremap ret=$retval:x64\n",
            event_of: kprobe_event,
        });
        assert_eq!(kprobes.registered, ["azx_interrupt", "ioremap_ret"]);
        let tracepoints = GroundTruth::from_source(&Source {
            trace: "",
            events: "hda:hda_send_cmd\nhda_controller:azx_pcm_open\n",
            event_of: set_event,
        });
        assert_eq!(tracepoints.registered, ["azx_pcm_open", "hda_send_cmd"]);
    }

    #[test]
    fn a_missing_trace_is_an_error_not_an_empty_truth() {
        let dir = std::env::temp_dir().join(format!("xtask-truth-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("kprobe_events.txt"), "p:bw/iounmap iounmap\n").unwrap();
        let err = GroundTruth::read_kprobes(&dir).unwrap_err();
        assert!(
            format!("{err:#}").contains("trace.txt is missing"),
            "{err:#}"
        );
        fs::write(dir.join("trace.txt"), TRACE).unwrap();
        fs::write(dir.join("ground-truth-failed.txt"), "p:bw/x nosuch\n").unwrap();
        let truth = GroundTruth::read_kprobes(&dir).unwrap();
        assert_eq!(truth.registered, ["iounmap"]);
        assert_eq!(truth.unregistered, ["p:bw/x nosuch"]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn finds_oopses_in_the_serial_log() {
        let log = "[ 1.0] ok\n[ 9.1] BUG: unable to handle page fault for address: ffffc900\n[ 9.2] Oops: 0000 [#1] SMP\n";
        assert_eq!(kernel_complaints(log).len(), 2);
        assert!(kernel_complaints("[ 1.0] all quiet\n").is_empty());
    }
}
