//! The verdict: events in, timelines and rule results out.
//!
//! Live recording and replay feed the same [`Analysis`], event by event, in the
//! order they arrive. The ring buffer delivers each CPU's records in order but
//! interleaves CPUs slightly out of time order; the analysis keeps its log sorted
//! by (time, CPU), inserting from the back, so any arrival order that keeps each
//! CPU's order gives the same log and the same verdict.

pub mod render;
#[cfg(test)]
mod scenarios;

use serde::Serialize;

use crate::{
    capture::{
        format::{Header, Trailer, WatchedDevice},
        reader::{Capture, CaptureEnd},
    },
    event::Event,
    probe_table::ProbeStatus,
    rules::{self, Context, Losses, RuleConfig, RuleResult, Severity, Verdict},
    skipped::skipped_handlers,
    timeline::{self, CycleEnd, DeviceTimeline, probes::ProbeIndex},
};

/// Events collected for judging.
#[derive(Clone, Debug)]
pub struct Analysis {
    started_monotonic_ns: u64,
    watched: Vec<WatchedDevice>,
    table: Vec<ProbeStatus>,
    events: Vec<Event>,
    /// Events that arrived after a later one of another CPU.
    reordered: u64,
    losses: Losses,
}

impl Analysis {
    /// Starts from a capture's header: its watched devices and probe table.
    pub fn new(header: &Header) -> Self {
        Analysis {
            started_monotonic_ns: header.started_monotonic_ns,
            watched: header.devices.clone(),
            table: header.probes.clone(),
            events: Vec::new(),
            reordered: 0,
            // Until the recording ends cleanly, how much was lost is unknown.
            losses: Losses {
                cut: true,
                ..Losses::default()
            },
        }
    }

    /// Analyses a whole capture.
    pub fn of_capture(capture: &Capture) -> Self {
        let mut analysis = Analysis::new(&capture.header);
        for event in &capture.events {
            analysis.push(event.clone());
        }
        match &capture.end {
            CaptureEnd::Trailer(trailer) => analysis.finish(trailer),
            CaptureEnd::Cut { .. } => {}
        }
        analysis
    }

    /// Adds one event, in arrival order.
    pub fn push(&mut self, event: Event) {
        let key = |e: &Event| (e.ts_ns, e.cpu);
        let at = self
            .events
            .iter()
            .rposition(|e| key(e) <= key(&event))
            .map_or(0, |i| i + 1);
        if at < self.events.len() {
            self.reordered += 1;
        }
        self.events.insert(at, event);
    }

    /// Takes in the probe table as it changed during recording (late attaches).
    pub fn update_probe_table(&mut self, table: &[ProbeStatus]) {
        self.table = table.to_vec();
    }

    /// The recording ended cleanly with `trailer`: its losses are known.
    pub fn finish(&mut self, trailer: &Trailer) {
        if !trailer.final_probes.is_empty() {
            self.table = trailer.final_probes.clone();
        }
        self.losses = Losses {
            by_probe: trailer
                .probes
                .iter()
                .map(|(name, totals)| (name.clone(), totals.lost))
                .collect(),
            cut: false,
        };
    }

    /// The events in time order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// How many events arrived out of time order (and were put in place).
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// The timelines so far: what a live view shows and what `check` waits on.
    pub fn timelines(&self) -> timeline::Timelines {
        timeline::build(&self.events, &ProbeIndex::new(&self.table), &self.watched)
    }

    /// Judges the events with every rule.
    pub fn judge(&self, config: &RuleConfig) -> Judgement {
        let probes = ProbeIndex::new(&self.table);
        let timelines = timeline::build(&self.events, &probes, &self.watched);
        let skipped = skipped_handlers(&self.events);
        let end_ns = self
            .events
            .last()
            .map_or(self.started_monotonic_ns, |e| e.ts_ns);
        let ctx = Context {
            events: &self.events,
            timelines: &timelines,
            probes: &probes,
            losses: &self.losses,
            skipped: &skipped,
            config,
            end_ns,
        };
        let rules = rules::all()
            .iter()
            .map(|rule| rules::evaluate(rule.as_ref(), &ctx))
            .collect();
        Judgement {
            started_monotonic_ns: self.started_monotonic_ns,
            end_ns,
            events: self.events.len() as u64,
            lost: self.losses.by_probe.values().sum(),
            cut: self.losses.cut,
            devices: timelines.devices,
            rules,
        }
    }
}

/// Every rule's result and every device's timeline: what `report`, `check` and
/// the terminal UI show.
#[derive(Clone, Debug, Serialize)]
pub struct Judgement {
    /// CLOCK_MONOTONIC at the start of the capture; times are shown from here.
    pub started_monotonic_ns: u64,
    /// The time of the last event.
    pub end_ns: u64,
    /// Events judged.
    pub events: u64,
    /// Records lost in the kernel.
    pub lost: u64,
    /// Whether the capture was cut (no trailer).
    pub cut: bool,
    /// One timeline per watched device.
    pub devices: Vec<DeviceTimeline>,
    /// One result per rule.
    pub rules: Vec<RuleResult>,
}

/// The overall outcome, ordered by severity: a violation outweighs a gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every rule passed (or was not checked).
    Pass,
    /// Nothing failed, but records were lost or a cycle never closed.
    Incomplete,
    /// A rule failed.
    Violation,
}

impl Judgement {
    /// The rule failures that count: those of rules with severity error.
    pub fn failures(&self) -> impl Iterator<Item = &RuleResult> {
        self.rules
            .iter()
            .filter(|r| r.verdict == Verdict::Fail && r.severity == Severity::Error)
    }

    /// The cycles still open at the end, with their device.
    pub fn open_cycles(&self) -> impl Iterator<Item = (&DeviceTimeline, &timeline::Cycle)> {
        self.devices.iter().flat_map(|d| {
            d.cycles
                .iter()
                .filter(|c| c.end == CycleEnd::Open)
                .map(move |c| (d, c))
        })
    }

    /// Pass, violation or incomplete, from the rules alone.
    pub fn outcome(&self) -> Outcome {
        if self.failures().next().is_some() {
            Outcome::Violation
        } else if self.rules.iter().any(|r| r.verdict == Verdict::Incomplete)
            || self.open_cycles().next().is_some()
        {
            Outcome::Incomplete
        } else {
            Outcome::Pass
        }
    }

    /// A time as an offset from the capture's start, `+1.234 s`.
    pub fn at(&self, ts_ns: u64) -> String {
        let offset = ts_ns.saturating_sub(self.started_monotonic_ns);
        format!("+{:.3} s", offset as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn a_violation_outweighs_a_gap_and_a_gap_a_pass() {
        assert_eq!(
            Outcome::Violation.max(Outcome::Incomplete),
            Outcome::Violation
        );
        assert_eq!(Outcome::Pass.max(Outcome::Incomplete), Outcome::Incomplete);
    }
}
