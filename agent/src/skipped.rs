//! Interrupt handler calls the kernel ran but whose function probe did not fire.
//!
//! Kprobe and classic-tracepoint BPF programs share one per-CPU "a BPF program is
//! running" guard (`bpf_prog_active` in `trace_call_bpf`). When a device interrupt
//! arrives while any of them runs on that CPU (an ioctl's tracepoint, an accessor's
//! kprobe), the kernel silently skips every kprobe program in the interrupt: the
//! call happened, the record never exists, and kernels before 6.7 count it nowhere.
//!
//! Raw tracepoints have a per-program guard instead, so `irq_handler_entry/exit`
//! still fire around the skipped handler. Their records carry the handler's address;
//! when the handler is a function barwatch probes and that function's entry is
//! missing between the two on the same CPU, the call was skipped. Every other kprobe
//! and classic tracepoint the handler passed in that span was skipped too (raw
//! tracepoints and fentry were not), so the span is reported whole.

use std::collections::{BTreeMap, HashMap, VecDeque};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::{
    capture::reader::Capture,
    event::{Event, EventData, Name},
    intervals::{Interval, Intervals},
    timeline::probes::ProbeIndex,
};

/// One interrupt whose handler's probe the kernel skipped: a span on one CPU in
/// which barwatch is blind to the handler and to everything it called.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedHandler {
    /// The CPU the interrupt ran on.
    pub cpu: u32,
    /// The IRQ number.
    pub irq: u32,
    /// The handler function, e.g. `azx_interrupt`.
    pub handler: Name,
    /// The probe that should have recorded it, e.g. `kprobe:azx_interrupt`.
    pub probe: Name,
    /// `irq_handler_entry`'s timestamp.
    pub start_ns: u64,
    /// `irq_handler_exit`'s timestamp.
    pub end_ns: u64,
}

impl SkippedHandler {
    /// Whether `ts_ns` on `cpu` falls inside this blind span.
    pub fn covers(&self, cpu: u32, ts_ns: u64) -> bool {
        cpu == self.cpu && (self.start_ns..=self.end_ns).contains(&ts_ns)
    }
}

/// The first call of each function among events an analysis has forgotten,
/// with the probe that saw it: a handler counts as probed from there on.
#[derive(Clone, Debug, Default)]
pub struct FirstCalls(FxHashMap<Name, (u64, Name)>);

impl FirstCalls {
    /// Takes in the function entries among `events`, keeping each function's
    /// earliest.
    pub fn note(&mut self, events: &[Event]) {
        for event in events {
            if let EventData::FuncEntry { function, .. } = &event.data {
                let earlier = self
                    .0
                    .get(function)
                    .is_some_and(|(ts, _)| *ts <= event.ts_ns);
                if !earlier {
                    self.0
                        .insert(function.clone(), (event.ts_ns, event.probe.clone()));
                }
            }
        }
    }
}

/// Finds every handler call that was skipped, in time order; `earlier` holds
/// the first calls among events no longer in `events`.
///
/// A handler counts as probed from the first time its function probe fired: before
/// that the probe may not have been attached yet (a module's functions attach when
/// the module loads), and a miss there would be a guess.
pub fn skipped_handlers(
    events: &[Event],
    intervals: &Intervals,
    earlier: &FirstCalls,
) -> Vec<SkippedHandler> {
    let runs: Vec<Run> = intervals
        .handler_runs
        .all()
        .iter()
        .filter_map(|run| Run::of(events, run))
        .collect();
    let first_entry = first_calls(events, runs.iter().map(|run| run.handler), earlier);
    let mut skipped: Vec<(usize, SkippedHandler)> = runs
        .into_iter()
        .filter_map(|run| {
            let &(first_ts, probe) = first_entry.get(run.handler)?.as_ref()?;
            let (entry, exit) = (&events[run.open], &events[run.close]);
            (!run.probed && first_ts < entry.ts_ns).then(|| {
                let call = SkippedHandler {
                    cpu: exit.cpu,
                    irq: run.irq,
                    handler: run.handler.into(),
                    probe: probe.into(),
                    start_ns: entry.ts_ns,
                    end_ns: exit.ts_ns,
                };
                (run.close, call)
            })
        })
        .collect();
    skipped.sort_by_key(|(close, call)| (call.end_ns, *close));
    skipped.into_iter().map(|(_, call)| call).collect()
}

/// A handler run that closed with the exit of the IRQ it entered, naming its
/// handler: one whose handler's probe may have been skipped.
struct Run<'a> {
    open: usize,
    close: usize,
    irq: u32,
    handler: &'a str,
    /// The handler's probe fired inside it.
    probed: bool,
}

impl<'a> Run<'a> {
    fn of(events: &'a [Event], run: &Interval) -> Option<Self> {
        let close = run.close?;
        let (
            EventData::IrqHandlerEntry {
                irq,
                handler_name: Some(handler),
                ..
            },
            EventData::IrqHandlerExit { irq: exit_irq, .. },
        ) = (&events[run.open].data, &events[close].data)
        else {
            return None;
        };
        (irq == exit_irq).then_some(Run {
            open: run.open,
            close,
            irq: *irq,
            handler,
            probed: !run.inner.is_empty(),
        })
    }
}

/// Every handler call the kernel skipped in a whole capture, in time order: what
/// `report` and the benchmark count.
pub fn skipped_in_capture(capture: &Capture) -> Vec<SkippedHandler> {
    let probes = ProbeIndex::new(&capture.header.probes);
    skipped_handlers(
        &capture.events,
        &Intervals::of(&capture.events, &probes),
        &FirstCalls::default(),
    )
}

/// The first call of each of `functions`, when one was seen in `events` or
/// `earlier`: its time and the probe that saw it. Only the handlers' functions
/// are looked for, and not at all without a handler run.
fn first_calls<'a>(
    events: &'a [Event],
    functions: impl Iterator<Item = &'a str>,
    earlier: &'a FirstCalls,
) -> FxHashMap<&'a str, Option<(u64, &'a str)>> {
    let mut first_entry: FxHashMap<&str, Option<(u64, &str)>> = functions
        .map(|f| {
            let first = earlier.0.get(f).map(|(ts, probe)| (*ts, probe.as_str()));
            (f, first)
        })
        .collect();
    if first_entry.is_empty() {
        return first_entry;
    }
    for event in events {
        if let EventData::FuncEntry { function, .. } = &event.data
            && let Some(first) = first_entry.get_mut(function.as_str())
            && first.is_none_or(|(ts, _)| event.ts_ns < ts)
        {
            *first = Some((event.ts_ns, &event.probe));
        }
    }
    first_entry
}

/// Marks in `keep` the events before the horizon (the first `keep.len()` of the
/// time-ordered events) that later searches for skipped calls still read: the
/// handler runs still open at the horizon, whose exit is yet to come. The
/// first calls of functions are remembered ([`FirstCalls`]), not kept.
pub fn pins(intervals: &Intervals, keep: &mut [bool]) {
    for (_, run) in intervals.handler_runs.open_at(keep.len()) {
        keep[run.open] = true;
    }
}

/// How far behind the newest event another CPU's earlier record may still
/// arrive: the analysis' own settle margin, far more than the ring buffers reorder.
const LATE_RECORDS_NS: u64 = 500_000_000;

/// Finds the same handler calls as [`skipped_handlers`] in one pass over events
/// in arrival order, holding only what is still open: per CPU the handler being
/// run, per function its first entry, and the calls not yet known to be probed.
///
/// It exists so a capture can be summarised as it streams by. Like the analysis,
/// it relies on each CPU's records arriving in time order, and on a record of
/// another CPU arriving at most [`LATE_RECORDS_NS`] behind the newest.
#[derive(Debug, Default)]
pub struct SkippedHandlerFinder {
    /// Each probed function's earliest entry: its time and probe.
    first_entry: HashMap<Name, (u64, Name)>,
    /// The handler running on each CPU.
    open: BTreeMap<u32, RunningHandler>,
    /// Calls whose handler had fired before them: skipped for certain.
    found: Vec<Candidate>,
    /// Calls whose handler had not yet been seen firing earlier, in arrival order;
    /// an earlier entry of another CPU may still arrive.
    pending: VecDeque<Candidate>,
    /// The newest event time seen.
    newest_ns: u64,
    /// Events seen, to keep the order of exits at the same time.
    seen: u64,
}

/// A handler running on one CPU, as the finder follows it.
#[derive(Debug)]
struct RunningHandler {
    irq: u32,
    handler: Name,
    start_ns: u64,
    probed: bool,
}

/// A handler call whose probe did not fire, before its probe's name is known.
#[derive(Debug)]
struct Candidate {
    cpu: u32,
    irq: u32,
    handler: Name,
    start_ns: u64,
    end_ns: u64,
    /// The exit's place in arrival order.
    seq: u64,
}

impl SkippedHandlerFinder {
    /// Takes the next event, in arrival order.
    pub fn push(&mut self, event: &Event) {
        self.seen += 1;
        self.newest_ns = self.newest_ns.max(event.ts_ns);
        match &event.data {
            EventData::IrqHandlerEntry {
                irq,
                handler_name: Some(handler),
                ..
            } => {
                self.open.insert(
                    event.cpu,
                    RunningHandler {
                        irq: *irq,
                        handler: handler.clone(),
                        start_ns: event.ts_ns,
                        probed: false,
                    },
                );
            }
            EventData::FuncEntry { function, .. } => {
                match self.first_entry.get_mut(function.as_str()) {
                    Some(first) if event.ts_ns < first.0 => {
                        *first = (event.ts_ns, event.probe.clone());
                    }
                    Some(_) => {}
                    None => {
                        self.first_entry
                            .insert(function.clone(), (event.ts_ns, event.probe.clone()));
                    }
                }
                if let Some(running) = self.open.get_mut(&event.cpu)
                    && running.handler == *function
                {
                    running.probed = true;
                }
            }
            EventData::IrqHandlerExit { irq, .. } => {
                if let Some(running) = self.open.remove(&event.cpu)
                    && running.irq == *irq
                    && !running.probed
                {
                    let candidate = Candidate {
                        cpu: event.cpu,
                        irq: *irq,
                        handler: running.handler,
                        start_ns: running.start_ns,
                        end_ns: event.ts_ns,
                        seq: self.seen,
                    };
                    if self.fired_before(&candidate) {
                        self.found.push(candidate);
                    } else {
                        self.pending.push_back(candidate);
                    }
                }
            }
            _ => {}
        }
        self.settle_pending();
    }

    /// Whether the call's handler function had fired before the call started.
    fn fired_before(&self, candidate: &Candidate) -> bool {
        self.first_entry
            .get(&candidate.handler)
            .is_some_and(|(first_ns, _)| *first_ns < candidate.start_ns)
    }

    /// Decides the pending calls no late record can change any more.
    fn settle_pending(&mut self) {
        while let Some(oldest) = self.pending.front()
            && oldest.start_ns.saturating_add(LATE_RECORDS_NS) < self.newest_ns
        {
            let oldest = self.pending.pop_front().expect("looked at above");
            if self.fired_before(&oldest) {
                self.found.push(oldest);
            }
        }
    }

    /// Every skipped call, in time order, with the probe that should have seen it.
    pub fn finish(mut self) -> Vec<SkippedHandler> {
        let pending = std::mem::take(&mut self.pending);
        let mut found: Vec<Candidate> = std::mem::take(&mut self.found);
        found.extend(pending.into_iter().filter(|c| self.fired_before(c)));
        found.sort_by_key(|c| (c.end_ns, c.seq));
        found
            .into_iter()
            .map(|c| SkippedHandler {
                probe: self.first_entry[&c.handler].1.clone(),
                cpu: c.cpu,
                irq: c.irq,
                handler: c.handler,
                start_ns: c.start_ns,
                end_ns: c.end_ns,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{capture::reader::read_capture, event::Hex, testkit::Story};

    /// The skipped calls among `events`, found over the whole log and in one
    /// streaming pass, which must agree.
    fn found(events: &[Event]) -> Vec<SkippedHandler> {
        let whole = skipped_among(events);
        let mut finder = SkippedHandlerFinder::default();
        for event in events {
            finder.push(event);
        }
        assert_eq!(finder.finish(), whole, "the streaming pass disagrees");
        whole
    }

    #[test]
    fn the_streaming_pass_finds_what_the_whole_log_shows_in_every_real_capture() {
        let paths = crate::testkit::real_captures();
        let mut skipped = 0;
        for path in &paths {
            skipped += found(&read_capture(path).unwrap().events).len();
        }
        assert!(skipped > 0, "no capture has a skipped call to compare");
    }

    #[test]
    fn a_late_earlier_entry_of_another_cpu_still_counts() {
        let story = Story::default()
            .irq_enters(20, 1)
            .irq_exits(25, 1)
            .handler_probe_fires(5, 0);
        assert_eq!(found(&story.0).len(), 1);
    }

    /// The skipped calls among `events`, paired as the analysis pairs them.
    fn skipped_among(events: &[Event]) -> Vec<SkippedHandler> {
        skipped_handlers(
            events,
            &Intervals::of(events, &ProbeIndex::new(&[])),
            &FirstCalls::default(),
        )
    }

    #[test]
    fn a_handler_whose_probe_fired_every_time_was_not_skipped() {
        let story = Story::default()
            .irq_enters(10, 0)
            .handler_probe_fires(11, 0)
            .irq_exits(12, 0)
            .irq_enters(20, 1)
            .handler_probe_fires(21, 1)
            .irq_exits(22, 1);
        assert_eq!(found(&story.0), []);
    }

    #[test]
    fn a_handler_call_without_its_probe_is_a_blind_span_on_that_cpu() {
        let story = Story::default()
            .irq_enters(10, 0)
            .handler_probe_fires(11, 0)
            .irq_exits(12, 0)
            .irq_enters(20, 1)
            .irq_exits(25, 1);
        let skipped = found(&story.0);
        assert_eq!(
            skipped,
            [SkippedHandler {
                cpu: 1,
                irq: 27,
                handler: "azx_interrupt".into(),
                probe: "kprobe:azx_interrupt".into(),
                start_ns: 20_000,
                end_ns: 25_000,
            }]
        );
        assert!(skipped[0].covers(1, 22_000));
        assert!(!skipped[0].covers(0, 22_000));
    }

    #[test]
    fn the_probe_firing_on_another_cpu_does_not_count_for_this_one() {
        let story = Story::default()
            .handler_probe_fires(5, 0)
            .irq_enters(10, 1)
            .handler_probe_fires(11, 0)
            .irq_exits(12, 1);
        assert_eq!(found(&story.0).len(), 1);
    }

    #[test]
    fn calls_before_the_probe_first_fired_are_not_guessed_at() {
        let story = Story::default()
            .irq_enters(10, 0)
            .irq_exits(12, 0)
            .irq_enters(20, 0)
            .handler_probe_fires(21, 0)
            .irq_exits(22, 0);
        assert_eq!(found(&story.0), []);
    }

    #[test]
    fn arrival_order_across_cpus_does_not_matter() {
        let story = Story::default()
            .irq_enters(20, 1)
            .handler_probe_fires(5, 0)
            .irq_exits(25, 1)
            .irq_enters(10, 0)
            .handler_probe_fires(11, 0)
            .irq_exits(12, 0);
        assert_eq!(found(&story.0).len(), 1);
    }

    #[test]
    fn handlers_barwatch_does_not_probe_are_ignored() {
        let story = Story::default()
            .handler_probe_fires(5, 0)
            .at(
                10,
                0,
                EventData::IrqHandlerEntry {
                    irq: 4,
                    handler: Hex(0xffff_ffff_8100_0000),
                    handler_name: Some("serial8250_interrupt".into()),
                    thread: None,
                },
                "irq:irq_handler_entry",
            )
            .at(
                12,
                0,
                EventData::IrqHandlerExit {
                    irq: 4,
                    handler: Hex(0xffff_ffff_8100_0000),
                    handler_name: Some("serial8250_interrupt".into()),
                    handled: true,
                },
                "irq:irq_handler_exit",
            );
        assert_eq!(found(&story.0), []);
    }
}
