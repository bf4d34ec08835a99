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

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::{
    capture::reader::Capture,
    event::{Event, EventData},
    intervals::Intervals,
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
    pub handler: String,
    /// The probe that should have recorded it, e.g. `kprobe:azx_interrupt`.
    pub probe: String,
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

/// Finds every handler call that was skipped, in time order.
///
/// A handler counts as probed from the first time its function probe fired: before
/// that the probe may not have been attached yet (a module's functions attach when
/// the module loads), and a miss there would be a guess.
pub fn skipped_handlers(events: &[Event], intervals: &Intervals) -> Vec<SkippedHandler> {
    let first_entry = first_calls(events);
    let mut skipped: Vec<(usize, SkippedHandler)> = intervals
        .handler_runs
        .all()
        .iter()
        .filter_map(|run| {
            let close = run.close?;
            let (entry, exit) = (&events[run.open], &events[close]);
            let (
                EventData::IrqHandlerEntry {
                    irq,
                    handler_name: Some(handler),
                    ..
                },
                EventData::IrqHandlerExit { irq: exit_irq, .. },
            ) = (&entry.data, &exit.data)
            else {
                return None;
            };
            let &(first_ts, probe) = first_entry.get(handler.as_str())?;
            let probed = !run.inner.is_empty();
            (irq == exit_irq && !probed && first_ts < entry.ts_ns).then(|| {
                let call = SkippedHandler {
                    cpu: exit.cpu,
                    irq: *irq,
                    handler: handler.clone(),
                    probe: probe.to_owned(),
                    start_ns: entry.ts_ns,
                    end_ns: exit.ts_ns,
                };
                (close, call)
            })
        })
        .collect();
    skipped.sort_by_key(|(close, call)| (call.end_ns, *close));
    skipped.into_iter().map(|(_, call)| call).collect()
}

/// Every handler call the kernel skipped in a whole capture, in time order: what
/// `report` and the benchmark count.
pub fn skipped_in_capture(capture: &Capture) -> Vec<SkippedHandler> {
    let probes = ProbeIndex::new(&capture.header.probes);
    skipped_handlers(&capture.events, &Intervals::of(&capture.events, &probes))
}

/// Each function's first call: its time and the probe that saw it.
fn first_calls(events: &[Event]) -> BTreeMap<&str, (u64, &str)> {
    let mut first_entry: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
    for event in events {
        if let EventData::FuncEntry { function, .. } = &event.data {
            let first = first_entry
                .entry(function)
                .or_insert((event.ts_ns, &event.probe));
            if event.ts_ns < first.0 {
                *first = (event.ts_ns, &event.probe);
            }
        }
    }
    first_entry
}

/// Marks in `keep` the events before the horizon (the first `keep.len()` of the
/// time-ordered `events`) that later searches for skipped calls still read: each
/// function's first call (a handler counts as probed from it on) and the handler
/// runs still open at the horizon, whose exit is yet to come.
pub fn pins(events: &[Event], intervals: &Intervals, keep: &mut [bool]) {
    let mut called: HashSet<&str> = HashSet::new();
    for (event, keep) in events.iter().zip(keep.iter_mut()) {
        if let EventData::FuncEntry { function, .. } = &event.data
            && called.insert(function)
        {
            *keep = true;
        }
    }
    for (_, run) in intervals.handler_runs.open_at(keep.len()) {
        keep[run.open] = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{event::Hex, story::Story};

    /// The skipped calls among `events`, paired as the analysis pairs them.
    fn skipped_among(events: &[Event]) -> Vec<SkippedHandler> {
        skipped_handlers(events, &Intervals::of(events, &ProbeIndex::new(&[])))
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
        assert_eq!(skipped_among(&story.0), []);
    }

    #[test]
    fn a_handler_call_without_its_probe_is_a_blind_span_on_that_cpu() {
        let story = Story::default()
            .irq_enters(10, 0)
            .handler_probe_fires(11, 0)
            .irq_exits(12, 0)
            .irq_enters(20, 1)
            .irq_exits(25, 1);
        let skipped = skipped_among(&story.0);
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
        assert_eq!(skipped_among(&story.0).len(), 1);
    }

    #[test]
    fn calls_before_the_probe_first_fired_are_not_guessed_at() {
        let story = Story::default()
            .irq_enters(10, 0)
            .irq_exits(12, 0)
            .irq_enters(20, 0)
            .handler_probe_fires(21, 0)
            .irq_exits(22, 0);
        assert_eq!(skipped_among(&story.0), []);
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
        assert_eq!(skipped_among(&story.0).len(), 1);
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
        assert_eq!(skipped_among(&story.0), []);
    }
}
