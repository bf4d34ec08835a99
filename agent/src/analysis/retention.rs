//! Bounded memory for long live runs: which events an analysis may forget once
//! they are judged for good, and which it must keep because a later event still
//! depends on them.
//!
//! An event before the *horizon* can no longer change its verdict: every window it
//! could fall into is settled (closed, or open only towards the future), no stop
//! marker that could start an earlier window is pending, and later events of other
//! CPUs have had time to arrive. Its violations are kept with the analysis; the
//! event itself is forgotten unless it is *structural* (mappings, markers, sysfs
//! states: the timelines are rebuilt from them) or part of something still open
//! at the horizon (an ioctl, a work item, an interrupt, a running stream), or the
//! first of a kind that later judgements compare against.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::{
    event::{Event, EventData},
    probe_table::Edge,
    rules::own_handlers,
    timeline::{CycleEnd, State, Timelines, probes::ProbeIndex},
};

/// How much of its past a live analysis keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// The analysis settles its past when it holds this many events.
    pub max_events: usize,
    /// Events this close to the newest are never settled: another CPU's earlier
    /// records may still arrive, and a page fault's stack follows its accessor.
    pub settle_ns: u64,
}

impl Default for Retention {
    /// Settles from 4 096 events, half a second behind the newest: far more
    /// than the ring buffers reorder. That is two or three remove/rescan cycles
    /// of HD-audio playback on the bench (about 1 500 events each) and a few MB
    /// (the bench guest's `barwatch check` grew about 350 bytes per event kept),
    /// so a soak's memory levels off within its first cycles; at 100 000 the
    /// first settle came after some 70 cycles and the memory of a 50-cycle soak
    /// grew all along (20 MB from cycle 10 to 50).
    fn default() -> Self {
        Retention {
            max_events: 4_096,
            settle_ns: 500_000_000,
        }
    }
}

/// What identifies an event across a settle: its time, CPU, thread and probe (one
/// probe cannot fire twice on one thread in the same nanosecond).
pub(super) type EventKey = (u64, u32, u32, String);

/// The key of `event`.
pub(super) fn key(event: &Event) -> EventKey {
    (event.ts_ns, event.cpu, event.tid, event.probe.clone())
}

/// The time before which events are judged for good: `settle_ns` before the
/// newest event, and no later than the start of a cycle whose windows can still
/// reach back (quiescing, or mapped again and not yet running) or a stop marker
/// that may still open one.
pub(super) fn horizon(newest_ns: u64, settle_ns: u64, timelines: &Timelines) -> u64 {
    let unsettled_cycles = timelines.devices.iter().filter_map(|d| {
        let cycle = d.cycles.last()?;
        let reaches_back =
            cycle.end == CycleEnd::Open && matches!(d.state, State::Quiescing | State::Remapped);
        reaches_back.then(|| cycle.steps.first().map(|m| m.ts_ns))?
    });
    unsettled_cycles
        .chain(timelines.pending_since)
        .fold(newest_ns.saturating_sub(settle_ns), u64::min)
}

/// For each of the first `cut` events (those before the horizon), whether it must
/// be kept; `events` is the whole log in time order.
pub(super) fn keep_mask(
    events: &[Event],
    cut: usize,
    timelines: &Timelines,
    probes: &ProbeIndex,
) -> Vec<bool> {
    let settled = &events[..cut];
    let own = own_handlers(events, timelines);
    let mut keep: Vec<bool> = settled.iter().map(|e| is_structural(e, probes)).collect();
    let mut first_call: HashSet<&str> = HashSet::new();
    let mut first_own_irq: HashSet<(&str, u64)> = HashSet::new();
    let mut ioctl_open: HashMap<u32, usize> = HashMap::new();
    let mut work_open: HashMap<u32, usize> = HashMap::new();
    let mut irq_open: HashMap<u32, usize> = HashMap::new();
    // Running streams: where each started, and whether a chip stop saw it running.
    let mut streams: HashMap<(&str, u64), (usize, bool)> = HashMap::new();
    for (i, event) in settled.iter().enumerate() {
        let device = event.device.as_deref();
        match &event.data {
            EventData::FuncEntry { function, args, .. } => {
                // Interrupt handlers count as probed from their probe's first call.
                if first_call.insert(function) {
                    keep[i] = true;
                }
                match (device, probes.marker(&event.probe).map(|m| m.edge)) {
                    (Some(d), Some(Edge::StreamStart)) => {
                        streams.insert((d, args[0].0), (i, false));
                    }
                    (Some(d), Some(Edge::StreamStop)) => {
                        // A start kept for any reason (a chip stop saw it
                        // running, or it is its function's first call) keeps
                        // its stop: alone it would run on for good.
                        if let Some((start, seen)) = streams.remove(&(d, args[0].0))
                            && (seen || keep[start])
                        {
                            keep[start] = true;
                            keep[i] = true;
                        }
                    }
                    (Some(d), Some(Edge::ChipStop)) => {
                        // stop-while-streaming names the streams running here.
                        for ((device, _), (_, seen)) in &mut streams {
                            *seen |= *device == d;
                        }
                    }
                    _ => {}
                }
            }
            EventData::IoctlEnter { .. } => {
                ioctl_open.insert(event.tid, i);
            }
            EventData::IoctlExit { .. } => {
                ioctl_open.remove(&event.tid);
            }
            EventData::WorkStart { .. } => {
                work_open.insert(event.tid, i);
            }
            EventData::WorkEnd { .. } => {
                work_open.remove(&event.tid);
            }
            EventData::IrqHandlerEntry { handler, .. } => {
                irq_open.insert(event.cpu, i);
                if let Some(d) = device
                    && irq_verdict_may_change(timelines, &own, d, handler.0, event.ts_ns)
                {
                    keep[i] = true;
                }
                let outside_cycles = device
                    .and_then(|d| timelines.device(d))
                    .is_some_and(|t| handler.0 != 0 && t.cycle_at(event.ts_ns).is_none());
                if outside_cycles && first_own_irq.insert((device.unwrap_or(""), handler.0)) {
                    keep[i] = true;
                }
            }
            EventData::IrqHandlerExit { .. } => {
                irq_open.remove(&event.cpu);
            }
            _ => {}
        }
    }
    // What is still open at the horizon stays whole: the call and what its thread
    // (or the interrupt's CPU) did since.
    for &from in ioctl_open.values().chain(work_open.values()) {
        let tid = settled[from].tid;
        for (i, e) in settled.iter().enumerate().skip(from) {
            keep[i] |= e.tid == tid;
        }
    }
    for &from in irq_open.values() {
        let cpu = settled[from].cpu;
        for (i, e) in settled.iter().enumerate().skip(from) {
            keep[i] |= e.cpu == cpu;
        }
    }
    for &(start, _) in streams.values() {
        keep[start] = true;
    }
    keep
}

/// Whether the timelines are rebuilt from `event`: mappings, cycle markers and
/// sysfs states.
fn is_structural(event: &Event, probes: &ProbeIndex) -> bool {
    match &event.data {
        EventData::DeviceState { .. } => true,
        EventData::FuncEntry { .. } | EventData::FuncExit { .. } => {
            let meaning = probes.meaning(&event.probe);
            meaning.mapping.is_some()
                || meaning
                    .marks
                    .is_some_and(|m| !matches!(m.edge, Edge::StreamStart | Edge::StreamStop))
        }
        _ => false,
    }
}

/// Whether an interrupt of `device` in its unmap window may still change its
/// verdict: irq-in-window passes over handlers the device never ran outside its
/// cycles once it ran others there (the vector went to another device), and which
/// handlers those are is only known later. A handler the device is known to run
/// stays a violation for good.
fn irq_verdict_may_change(
    timelines: &Timelines,
    own: &BTreeMap<&str, BTreeSet<u64>>,
    device: &str,
    handler: u64,
    ts_ns: u64,
) -> bool {
    handler != 0
        && timelines
            .device(device)
            .is_some_and(|t| t.unmapped_at(ts_ns).is_some())
        && !own.get(device).is_some_and(|h| h.contains(&handler))
}
