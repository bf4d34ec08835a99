//! The verdict: events in, timelines and rule results out.
//!
//! Live recording and replay feed the same [`Analysis`], event by event, in the
//! order they arrive. The ring buffer delivers each CPU's records in order but
//! interleaves CPUs slightly out of time order; the analysis keeps its log sorted
//! by (time, CPU), inserting from the back, so any arrival order that keeps each
//! CPU's order gives the same log and the same verdict.
//!
//! The device timelines grow with the log ([`timeline::Builder`]): an event that
//! changes them (a mapping call, a marker, a sysfs state) is noted on arrival and
//! applied once it is [`REORDER_SLACK_NS`] older than the newest, when no other
//! CPU's record can be expected to land before it any more. A judgement applies
//! the newer rest to a copy. A record later than that lands before what the
//! timelines took in, and they are built again from the kept log, as they are
//! when a new probe table changes what the probes mean.
//!
//! A bounded analysis keeps its memory flat: a settle judges the past for good,
//! takes the closed cycles out of the timelines with their violations, forgets
//! the events nothing reads any more and renumbers what the timelines hold in
//! place. What the forgotten events built is kept as a base the timelines are
//! built again from, so no settle reads more than the events since the last.

pub mod render;
mod retention;
#[cfg(test)]
mod scenarios;
mod unearned;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use serde::Serialize;

pub use retention::Retention;
pub use unearned::{Unearned, UnearnedKind};

use crate::{
    capture::{
        format::{Header, Trailer},
        integrity::{self, Tally},
        reader::{Capture, CaptureEnd},
    },
    event::{Event, EventData},
    intervals::Intervals,
    probe_table::ProbeStatus,
    rules::{self, Context, Losses, RuleConfig, RuleResult, Severity, Verdict, Violation},
    skipped::{FirstCalls, SkippedHandler, skipped_handlers},
    timeline::{
        self, Cycle, CycleEnd, DeviceTimeline,
        probes::ProbeIndex,
        settled::{DeviceSettled, SettledCycles},
    },
};

/// How far behind the newest event the timelines follow the log: more than the
/// ring buffer interleaves CPUs (a bench capture's latest record came 1.2 ms
/// late), so a late record rarely lands before what they took in.
pub const REORDER_SLACK_NS: u64 = 10_000_000;

/// Events collected for judging.
#[derive(Debug)]
pub struct Analysis {
    started_monotonic_ns: u64,
    /// The probe table, indexed.
    probes: ProbeIndex,
    events: Vec<Event>,
    /// The timelines of the events before `base_cut`, forgotten ones included:
    /// what the timelines are built again from.
    base: timeline::Builder,
    /// The kept events before this index are in `base`.
    base_cut: usize,
    /// The timelines of the events before `applied`.
    timelines: timeline::Builder,
    /// The kept events before this index are in `timelines`: one after the last
    /// event applied.
    applied: usize,
    /// The indexes of the later kept events the timelines take in, in order.
    unapplied: VecDeque<usize>,
    /// Events that arrived after a later one of another CPU.
    reordered: u64,
    losses: Losses,
    /// How much of the past a live analysis keeps; `None` keeps everything.
    retention: Option<Retention>,
    /// The log's length at which to settle next.
    next_settle: usize,
    /// What the forgotten events contribute to the verdict.
    settled: Settled,
    /// Every event taken in, by probe, to hold against the trailer.
    tally: Tally,
}

/// What events an analysis has judged for good and forgotten contribute to its
/// verdict.
#[derive(Debug, Default)]
struct Settled {
    /// Violations they committed, by rule id, same paths merged.
    violations: BTreeMap<&'static str, Vec<Violation>>,
    /// Interrupt handler calls among them that the kernel hid from their probes.
    skipped: Vec<SkippedHandler>,
    /// The first call of each function among them.
    first_calls: FirstCalls,
    /// The cycles judged for good and taken out of the timelines, by device,
    /// with the indexes of the whole log, out of memory.
    cycles: SettledCycles,
    /// How many were forgotten.
    forgotten: u64,
    /// `(i, n)`: `n` events were forgotten before the kept event at index `i` and
    /// every later one; ordered by `i`.
    forgotten_before: Vec<(usize, u64)>,
}

impl Settled {
    /// The index event `i` of the kept log had in the whole log.
    fn whole_index(&self, i: usize) -> usize {
        let entries = &self.forgotten_before;
        let after = entries.partition_point(|(at, _)| *at <= i);
        let before = after.checked_sub(1).map_or(0, |e| entries[e].1);
        i + before as usize
    }

    /// An event was inserted at index `at` of the kept log. Late events land near
    /// the end, so usually no entry moves.
    fn inserted(&mut self, at: usize) {
        let after = self.forgotten_before.partition_point(|(i, _)| *i <= at);
        for (i, _) in &mut self.forgotten_before[after..] {
            *i += 1;
        }
    }
}

impl Analysis {
    /// Starts from a capture's header: its watched devices and probe table.
    pub fn new(header: &Header) -> Self {
        Analysis {
            started_monotonic_ns: header.started_monotonic_ns,
            probes: ProbeIndex::new(&header.probes),
            events: Vec::new(),
            base: timeline::Builder::new(&header.devices),
            base_cut: 0,
            timelines: timeline::Builder::new(&header.devices),
            applied: 0,
            unapplied: VecDeque::new(),
            reordered: 0,
            // Until the recording ends cleanly, how much was lost is unknown.
            losses: Losses {
                cut: true,
                ..Losses::default()
            },
            retention: None,
            next_settle: usize::MAX,
            settled: Settled::default(),
            tally: Tally::default(),
        }
    }

    /// Starts like [`Analysis::new`], keeping memory bounded by `retention`: once
    /// it holds `max_events`, it judges the events it can no longer change for
    /// good, keeps their violations and forgets them. The verdict is the same as
    /// keeping everything; the timelines keep every cycle.
    pub fn bounded(header: &Header, retention: Retention) -> Self {
        Analysis {
            retention: Some(retention),
            next_settle: retention.max_events,
            ..Analysis::new(header)
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
        self.tally.count(&event.probe);
        let key = |e: &Event| (e.ts_ns, e.cpu);
        let at = self
            .events
            .iter()
            .rposition(|e| key(e) <= key(&event))
            .map_or(0, |i| i + 1);
        if at < self.events.len() {
            self.reordered += 1;
            self.settled.inserted(at);
        }
        if at < self.base_cut {
            // More than a settle's margin late: what it built is lost with the
            // forgotten events it lands among, but the base's indexes move.
            self.base
                .renumber(|i| Some(if i >= at { i + 1 } else { i }));
            self.base_cut += 1;
        }
        for index in self.unapplied.iter_mut().rev() {
            if *index < at {
                break;
            }
            *index += 1;
        }
        let landed_before_applied = at < self.applied;
        if !landed_before_applied && timeline::Builder::takes_in(&event, &self.probes) {
            let place = self.unapplied.partition_point(|&i| i < at);
            self.unapplied.insert(place, at);
        }
        self.events.insert(at, event);
        if landed_before_applied {
            self.rebuild_timelines();
        }
        self.follow_log();
        if let Some(retention) = self.retention
            && self.events.len() >= self.next_settle
        {
            self.settle(retention);
            // Settle again once the log has doubled, so what a settle costs
            // (the whole log) stays proportional to the events since the last:
            // a long run keeps many events that never settle (mappings,
            // markers), and settling every 2 048 events over all of them
            // slowed the bounded benchmark (judge_throughput) to 5 000 events/s.
            let kept = self.events.len();
            self.next_settle = retention
                .max_events
                .max(kept + retention.max_events / 2)
                .max(2 * kept);
        }
    }

    /// Applies to the timelines the events waiting for it that are
    /// [`REORDER_SLACK_NS`] older than the newest.
    fn follow_log(&mut self) {
        let Some(newest_ns) = self.events.last().map(|e| e.ts_ns) else {
            return;
        };
        let settled_ns = newest_ns.saturating_sub(REORDER_SLACK_NS);
        while let Some(&index) = self.unapplied.front()
            && self.events[index].ts_ns <= settled_ns
        {
            self.timelines
                .apply(&self.events[index], index, &self.probes);
            self.applied = index + 1;
            self.unapplied.pop_front();
        }
    }

    /// Drops what the timelines took in after the base, to build them again
    /// from the kept log: an event landed before it, or the probes' meaning
    /// changed.
    fn rebuild_timelines(&mut self) {
        self.timelines = self.base.clone();
        self.applied = self.base_cut;
        self.unapplied = (self.base_cut..self.events.len())
            .filter(|&i| timeline::Builder::takes_in(&self.events[i], &self.probes))
            .collect();
    }

    /// The timelines of every kept event, with the steps' indexes into the kept
    /// log.
    fn current_timelines(&self) -> timeline::Timelines {
        let mut timelines = self.timelines.clone();
        for &index in &self.unapplied {
            timelines.apply(&self.events[index], index, &self.probes);
        }
        timelines.finish(self.events.last().map_or(0, |e| e.ts_ns))
    }

    /// Takes in a new probe table; the timelines are built again when what it
    /// says of the probes changed.
    fn set_probe_table(&mut self, table: &[ProbeStatus]) {
        let probes = ProbeIndex::new(table);
        if probes != self.probes {
            self.probes = probes;
            self.rebuild_timelines();
            self.follow_log();
        }
    }

    /// Judges for good the events before the horizon (see [`retention`]): takes
    /// the closed cycles out of the timelines, keeps their violations and those
    /// of the events forgotten, with the skipped handler calls among them, and
    /// forgets what neither a rule nor the timelines still read.
    fn settle(&mut self, retention: Retention) {
        let Some(newest_ns) = self.events.last().map(|e| e.ts_ns) else {
            return;
        };
        let timelines = self.current_timelines();
        let margin_ns = retention.margin_ns(&self.events);
        let horizon = retention::horizon(newest_ns, margin_ns, &timelines);
        let cut = self.events.partition_point(|e| e.ts_ns < horizon);
        // The base follows the timelines, never ahead of what they took in: a
        // cycle it finds closed is closed in them too.
        self.advance_base(cut.min(self.applied));
        let probes = &self.probes;
        let intervals = Intervals::of(&self.events, probes);
        let current = skipped_handlers(&self.events, &intervals, &self.settled.first_calls);
        let config = RuleConfig::default();
        // Violations and pins read no skipped calls (only the gaps a
        // judgement reports do), so the settled ones are not gathered here.
        let ctx = self.context(&timelines, &intervals, probes, &current, &config);
        let rules = rules::all();
        let mut keep = retention::pinned(&ctx, cut, &rules);
        let found: Vec<(&'static str, Vec<Violation>)> = rules
            .iter()
            .map(|rule| (rule.id(), rule.violations(&ctx)))
            .collect();
        let pinned = |event: &Event| {
            !retention::is_structural(event, probes)
                && !retention::forgets(ctx.events, &keep, event)
        };
        // A cycle stays while a violation of it rests on a kept event (its
        // verdict may still change), or a kept event falls in it (a rule may
        // still look it up there).
        let held_cycles: BTreeSet<(&str, usize)> = found
            .iter()
            .flat_map(|(_, violations)| violations)
            .filter(|v| v.events.first().is_some_and(pinned))
            .filter_map(|v| Some((v.device.as_str(), v.cycle?)))
            .collect();
        let settled_events = &ctx.events[..cut];
        let holds_kept = |cycle: &Cycle| {
            let Some(span) = cycle.span() else {
                return false;
            };
            let from = settled_events.partition_point(|e| e.ts_ns < span.start_ns);
            settled_events[from..]
                .iter()
                .zip(&keep[from..])
                .take_while(|(e, _)| span.contains(e.ts_ns))
                .any(|(e, kept)| *kept && !retention::is_structural(e, probes))
        };
        let taking: Vec<(String, Vec<usize>)> = self
            .base
            .closed_before(horizon)
            .map(|(bdf, cycles)| {
                let numbers = cycles
                    .iter()
                    .take_while(|c| !held_cycles.contains(&(bdf, c.number)) && !holds_kept(c))
                    .map(|c| c.number)
                    .collect();
                (bdf.to_owned(), numbers)
            })
            .filter(|(_, numbers): &(String, Vec<usize>)| !numbers.is_empty())
            .collect();
        for (bdf, numbers) in &taking {
            for cycle in self.base.take_cycles(bdf, numbers.len()) {
                let whole = cycle.renumbered(|i| self.settled.whole_index(i));
                self.settled.cycles.push(bdf, whole);
            }
        }
        for i in self.base.held() {
            if let Some(kept) = keep.get_mut(i) {
                *kept = true;
            }
        }
        // What the timelines are built again from, after the base.
        let after_base = self.base_cut.min(cut);
        for (kept, event) in keep[after_base..]
            .iter_mut()
            .zip(&self.events[after_base..cut])
        {
            *kept |= timeline::Builder::takes_in(event, &self.probes);
        }
        if taking.is_empty() && keep.iter().all(|kept| *kept) {
            return;
        }
        let taken = |v: &Violation| {
            taking.iter().any(|(bdf, numbers)| {
                *bdf == v.device && v.cycle.is_some_and(|n| numbers.contains(&n))
            })
        };
        let events = &self.events;
        let forgotten = |event: &Event| retention::forgets(events, &keep, event);
        for (rule, violations) in found {
            let settled: Vec<Violation> = violations
                .into_iter()
                .filter(|v| taken(v) || v.events.first().is_some_and(forgotten))
                .collect();
            if !settled.is_empty() {
                let list = self.settled.violations.entry(rule).or_default();
                list.extend(settled);
                *list = rules::merge(std::mem::take(list));
            }
        }
        let hidden_entries: HashSet<(u32, u64)> = self.events[..cut]
            .iter()
            .zip(&keep)
            .filter(|(e, keep)| !**keep && matches!(e.data, EventData::IrqHandlerEntry { .. }))
            .map(|(e, _)| (e.cpu, e.ts_ns))
            .collect();
        let hidden = current
            .into_iter()
            .filter(|s| hidden_entries.contains(&(s.cpu, s.start_ns)));
        self.settled.skipped.extend(hidden);
        self.settled.first_calls.note(&self.events[..cut]);
        self.forget(cut, &keep);
    }

    /// Applies to the base the kept events before `until` it has not taken in.
    fn advance_base(&mut self, until: usize) {
        for index in self.base_cut..until.max(self.base_cut) {
            let event = &self.events[index];
            if timeline::Builder::takes_in(event, &self.probes) {
                self.base.apply(event, index, &self.probes);
            }
        }
        self.base_cut = self.base_cut.max(until);
    }

    /// Forgets the first `cut` events but those `keep` marks, noting how many
    /// went before each one kept, renumbers what the base holds and builds the
    /// timelines again from it.
    fn forget(&mut self, cut: usize, keep: &[bool]) {
        let whole: Vec<usize> = (0..self.events.len())
            .map(|i| self.settled.whole_index(i))
            .collect();
        let mut forgotten_before: Vec<(usize, u64)> = Vec::new();
        let mut new_index: Vec<Option<usize>> = Vec::with_capacity(self.events.len());
        let (mut i, mut kept) = (0, 0);
        let settled = &mut self.settled;
        // In place: the log's memory is reused rather than another as big
        // taken fresh (and zeroed by the kernel) on every settle.
        self.events.retain(|_| {
            let at = i;
            i += 1;
            if at < cut && !keep[at] {
                settled.forgotten += 1;
                new_index.push(None);
                return false;
            }
            let n = (whole[at] - kept) as u64;
            if forgotten_before.last().is_none_or(|(_, last)| *last != n) {
                forgotten_before.push((kept, n));
            }
            new_index.push(Some(kept));
            kept += 1;
            true
        });
        self.base
            .renumber(|i: usize| new_index.get(i).copied().flatten());
        self.base_cut = new_index[..self.base_cut].iter().flatten().count();
        self.settled.forgotten_before = forgotten_before;
        // What a burst of events grew the log to is given back once it has
        // settled: a long recording holds the log it needs now, not the most
        // it ever needed.
        self.events.shrink_to_fit();
        // From the base, whose histories the copy shares: the events since
        // the base are fewer than a settle's margin.
        self.rebuild_timelines();
        self.follow_log();
    }

    /// Takes in the probe table as it changed during recording (late attaches).
    pub fn update_probe_table(&mut self, table: &[ProbeStatus]) {
        self.set_probe_table(table);
    }

    /// The recording ended cleanly with `trailer`: its losses are known, and
    /// where the events taken in differ from what it counts, the record is
    /// damaged.
    pub fn finish(&mut self, trailer: &Trailer) {
        if !trailer.final_probes.is_empty() {
            self.set_probe_table(&trailer.final_probes);
        }
        self.losses = Losses {
            by_probe: trailer
                .probes
                .iter()
                .map(|(name, totals)| (name.clone(), totals.lost))
                .collect(),
            cut: false,
            damage: integrity::check(trailer, &self.tally),
            blind_spans: trailer.blind_spans.clone(),
        };
    }

    /// The events kept, in time order: all of them, unless the analysis is
    /// bounded and has forgotten settled ones.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// How many settled events a bounded analysis has forgotten.
    pub fn forgotten(&self) -> u64 {
        self.settled.forgotten
    }

    /// Interrupt handler calls the kernel hid from their probes: `current`, those
    /// among the kept events, and those among the forgotten ones, in time order.
    fn with_settled_skipped(&self, current: &[SkippedHandler]) -> Vec<SkippedHandler> {
        let mut skipped = self.settled.skipped.clone();
        skipped.extend_from_slice(current);
        skipped.sort_by_key(|s| s.start_ns);
        skipped
    }

    /// What the rules read, over the kept events; open windows are measured to
    /// the last of them.
    fn context<'a>(
        &'a self,
        timelines: &'a timeline::Timelines,
        intervals: &'a Intervals<'a>,
        probes: &'a ProbeIndex,
        skipped: &'a [SkippedHandler],
        config: &'a RuleConfig,
    ) -> Context<'a> {
        Context {
            events: &self.events,
            timelines,
            intervals,
            probes,
            losses: &self.losses,
            skipped,
            config,
            end_ns: self.end_ns(),
            settled_cycles: &self.settled.cycles,
        }
    }

    /// The time of the last event, or the start when there is none.
    fn end_ns(&self) -> u64 {
        self.events
            .last()
            .map_or(self.started_monotonic_ns, |e| e.ts_ns)
    }

    /// How many events arrived out of time order (and were put in place).
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// The timelines so far: what a live view shows and what `check` waits on.
    pub fn timelines(&self) -> timeline::Timelines {
        let mut timelines = self.current_timelines();
        self.whole(&mut timelines.devices);
        timelines
    }

    /// Makes the timelines of the kept events those of the whole log: their
    /// steps get the indexes they have in it, and the cycles taken out go
    /// before theirs.
    fn whole(&self, devices: &mut [DeviceTimeline]) {
        self.whole_with(devices, |bdf| self.settled.cycles.of_device(bdf).cloned());
    }

    /// [`Analysis::whole`], with the cycles taken out of device `bdf` from
    /// `settled(bdf)`.
    fn whole_with(
        &self,
        devices: &mut [DeviceTimeline],
        mut settled: impl FnMut(&str) -> Option<DeviceSettled>,
    ) {
        for device in devices {
            if self.settled.forgotten > 0 {
                device.renumber(|i| self.settled.whole_index(i));
            }
            if let Some(cycles) = settled(&device.bdf) {
                device.settled = cycles;
            }
        }
    }

    /// Judges the events with every rule.
    pub fn judge(&self, config: &RuleConfig) -> Judgement {
        let (rules, mut devices) = self.judge_kept(config);
        self.whole(&mut devices);
        self.judgement(rules, devices)
    }

    /// Judges like [`Analysis::judge`], handing the outlines of the cycles
    /// judged for good to the judgement instead of copying them.
    pub fn into_judgement(mut self, config: &RuleConfig) -> Judgement {
        let (rules, mut devices) = self.judge_kept(config);
        let mut settled = std::mem::take(&mut self.settled.cycles);
        self.whole_with(&mut devices, |bdf| settled.take_device(bdf));
        self.judgement(rules, devices)
    }

    /// Every rule's result, and the timelines of the kept events of the
    /// devices `config` judges.
    fn judge_kept(&self, config: &RuleConfig) -> (Vec<RuleResult>, Vec<DeviceTimeline>) {
        let timelines = self.current_timelines();
        let intervals = Intervals::of(&self.events, &self.probes);
        let skipped = self.with_settled_skipped(&skipped_handlers(
            &self.events,
            &intervals,
            &self.settled.first_calls,
        ));
        let ctx = self.context(&timelines, &intervals, &self.probes, &skipped, config);
        let rules: Vec<RuleResult> = rules::all()
            .iter()
            .map(|rule| {
                let settled = self.settled.violations.get(rule.id());
                rules::evaluate(rule.as_ref(), &ctx, settled.map_or(&[], Vec::as_slice))
            })
            .collect();
        let mut devices = timelines.devices;
        devices.retain(|d| config.judges(&d.bdf));
        (rules, devices)
    }

    /// The judgement of `rules` over the whole timelines `devices`.
    fn judgement(&self, rules: Vec<RuleResult>, devices: Vec<DeviceTimeline>) -> Judgement {
        Judgement {
            unearned: unearned::unearned(&self.losses, &rules, &devices),
            started_monotonic_ns: self.started_monotonic_ns,
            end_ns: self.end_ns(),
            events: self.events.len() as u64 + self.settled.forgotten,
            lost: self.losses.by_probe.values().sum(),
            cut: self.losses.cut,
            devices,
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
    /// Why, failures aside, the record has not earned a pass.
    pub unearned: Vec<Unearned>,
}

/// The overall outcome, ordered by severity: a violation outweighs a gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Something was watched through a whole cycle on an intact record, and
    /// every rule that could be checked passed.
    Pass,
    /// Nothing failed, but records were lost or damaged, a cycle never closed,
    /// or nothing was checked.
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
            || !self.unearned.is_empty()
        {
            Outcome::Incomplete
        } else {
            Outcome::Pass
        }
    }

    /// Accepts what an expectations file says is no reason to withhold a pass
    /// (`min_cycles = 0` accepts a run without a cycle).
    pub fn excuse(&mut self, kind: UnearnedKind) {
        self.unearned.retain(|u| u.kind != kind);
    }

    /// The device an event is about: the one it names, else, for a work item of
    /// a module that drives exactly one watched device, that device.
    pub fn device_of<'a>(&'a self, event: &'a Event) -> Option<&'a str> {
        if let Some(device) = event.device.as_deref() {
            return Some(device);
        }
        let module = event.data.work_module()?;
        let mut driven = self.devices.iter().filter(|d| d.drives(module));
        match (driven.next(), driven.next()) {
            (Some(device), None) => Some(&device.bdf),
            _ => None,
        }
    }

    /// A time as an offset from the capture's start, `+1.234 s`.
    pub fn at(&self, ts_ns: u64) -> String {
        crate::time::since_start(ts_ns, self.started_monotonic_ns)
    }
}

#[cfg(test)]
mod tests {
    use std::{fs, io::BufReader, path::Path};

    use super::{Analysis, CaptureEnd, Judgement, Outcome, Retention};
    use crate::{
        capture::reader::{Capture, read_capture_from},
        rules::RuleConfig,
    };

    /// Judges `capture` whole and in bounded memory, settling from a few dozen
    /// events on; asserts both verdicts are the same and returns the whole one and
    /// how many events the bounded analysis forgot.
    fn judged_whole_and_bounded(capture: &Capture, name: &str) -> (Judgement, u64) {
        let whole = Analysis::of_capture(capture).judge(&RuleConfig::default());
        let mut bounded = Analysis::bounded(
            &capture.header,
            Retention {
                max_events: 50,
                settle_ns: 1_000_000,
            },
        );
        for event in &capture.events {
            bounded.push(event.clone());
        }
        if let CaptureEnd::Trailer(trailer) = &capture.end {
            bounded.finish(trailer);
        }
        // Byte for byte, as text and as JSON: the cycles the bounded analysis
        // took out of memory are read back in their place.
        let forgotten = bounded.forgotten();
        let bounded = bounded.judge(&RuleConfig::default());
        assert_eq!(
            serde_json::to_string_pretty(&bounded).unwrap(),
            serde_json::to_string_pretty(&whole).unwrap(),
            "{name}: the bounded verdict differs from the whole one"
        );
        assert_eq!(
            super::render::render(&bounded),
            super::render::render(&whole),
            "{name}: the bounded report differs from the whole one"
        );
        (whole, forgotten)
    }

    #[test]
    fn a_real_bench_capture_judged_in_bounded_memory_gets_the_whole_verdict() {
        // The demo's capture: the fixture touches its BAR after the iounmap.
        let capture =
            read_capture_from(&include_bytes!("../../../tui/testdata/demo-capture.jsonl")[..])
                .unwrap();
        let (whole, forgotten) = judged_whole_and_bounded(&capture, "demo");
        // Of 774 events it forgets all but the mappings, markers and sysfs states.
        assert!(
            forgotten > 700,
            "forgot only {forgotten} of {}",
            capture.events.len()
        );
        assert_eq!(whole.outcome(), Outcome::Violation);
    }

    #[test]
    fn every_corpus_capture_judged_in_bounded_memory_gets_the_whole_verdict() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
        let mut judged = 0;
        let (mut events, mut forgotten_in_all) = (0, 0);
        for entry in fs::read_dir(&corpus).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            let name = path.display().to_string();
            let file = BufReader::new(fs::File::open(&path).unwrap());
            let capture = read_capture_from(file).unwrap();
            let (_, forgotten) = judged_whole_and_bounded(&capture, &name);
            // Settling happened in every capture.
            assert!(forgotten > 0, "{name}: forgot nothing");
            events += capture.events.len() as u64;
            forgotten_in_all += forgotten;
            judged += 1;
        }
        // Most of the corpus is forgotten; a suspend keeps more than most, as its
        // many markers and device states are what the timelines are made of.
        assert!(
            forgotten_in_all > events / 2,
            "forgot only {forgotten_in_all} of {events}"
        );
        assert!(
            judged >= 12,
            "only {judged} captures in {}",
            corpus.display()
        );
    }

    #[test]
    fn a_record_later_than_the_reorder_slack_gives_the_timelines_of_the_ordered_log() {
        let capture =
            read_capture_from(&include_bytes!("../../../tui/testdata/demo-capture.jsonl")[..])
                .unwrap();
        let in_order = Analysis::of_capture(&capture);
        // The remove that starts the cycle arrives only after every event up to
        // 100 ms after it, the cycle's markers and unmap (40 ms later) among
        // them: the timelines have taken those in and are built again.
        let mut events = capture.events.clone();
        let remove = events
            .iter()
            .position(|e| e.probe == "kprobe:pci_stop_and_remove_bus_device_locked")
            .unwrap();
        let late = events.remove(remove);
        let after =
            events.partition_point(|e| e.ts_ns <= late.ts_ns + 10 * super::REORDER_SLACK_NS);
        assert!(after < events.len(), "the capture goes on after the unmap");
        events.insert(after, late);
        let mut delayed = Analysis::new(&capture.header);
        for event in events {
            delayed.push(event);
        }
        if let super::CaptureEnd::Trailer(trailer) = &capture.end {
            delayed.finish(trailer);
        }
        assert_eq!(delayed.reordered(), 1);
        let devices = |a: &Analysis| serde_json::to_value(a.timelines()).unwrap();
        assert_eq!(devices(&delayed), devices(&in_order));
        assert!(
            in_order.timelines().devices[0].cycles[0].trigger.is_some(),
            "the late remove names the cycle's trigger"
        );
        assert_eq!(
            serde_json::to_value(delayed.judge(&RuleConfig::default())).unwrap(),
            serde_json::to_value(in_order.judge(&RuleConfig::default())).unwrap()
        );
    }

    #[test]
    fn a_violation_outweighs_a_gap_and_a_gap_a_pass() {
        assert_eq!(
            Outcome::Violation.max(Outcome::Incomplete),
            Outcome::Violation
        );
        assert_eq!(Outcome::Pass.max(Outcome::Incomplete), Outcome::Incomplete);
    }
}
