//! Bounded memory for long live runs: which events an analysis may forget once
//! they are judged for good, and which it must keep because a later event still
//! depends on them.
//!
//! An event before the *horizon* can no longer change its verdict: every window it
//! could fall into is settled (closed, or open only towards the future), no stop
//! marker that could start an earlier window is pending, and later events of other
//! CPUs have had time to arrive. Its violations are kept with the analysis; the
//! event itself is forgotten unless the timelines still hold it (a step of an
//! open cycle, a mapping that can still be touched after its unmap: see
//! [`Builder::held`](crate::timeline::Builder::held)) or it is *pinned*: a rule,
//! or the search for skipped handler calls, still reads it in a later judgement
//! (see [`Rule::pins`](crate::rules::Rule::pins)). What an interval kept at its
//! opening did is kept with it. A cycle closed before the horizon leaves the
//! timelines with its violations once none of them rests on a pinned event.

use crate::{
    event::{Event, EventData},
    probe_table::Edge,
    rules::{Context, Rule},
    skipped,
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

/// How many times `max_events` the margin behind the newest event may hold
/// before it shrinks (see [`Retention::margin_ns`]).
const MARGIN_EVENTS_PER_MAX: usize = 16;

impl Retention {
    /// How far behind the newest of the time-ordered `events` the settled past
    /// ends: `settle_ns`, unless more than 16 × `max_events` events lie that
    /// close (a flood of records, as a live run under load sees: half a second
    /// of them was hundreds of thousands). Then only those are kept back,
    /// never fewer than the reorder slack's worth, so the margin's memory stays
    /// bounded at any rate.
    pub(super) fn margin_ns(&self, events: &[Event]) -> u64 {
        let Some(newest) = events.last() else {
            return self.settle_ns;
        };
        let most = self.max_events.saturating_mul(MARGIN_EVENTS_PER_MAX);
        match events.len().checked_sub(most) {
            Some(oldest_kept) => (newest.ts_ns - events[oldest_kept].ts_ns)
                .clamp(super::REORDER_SLACK_NS.min(self.settle_ns), self.settle_ns),
            None => self.settle_ns,
        }
    }
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

/// For each of the first `cut` events of `ctx` (those before the horizon),
/// whether a later judgement still reads it: `rules` or the skipped-handler
/// search pin it, or it belongs to an interval whose opening is kept. What the
/// timelines hold is not marked here.
pub(super) fn pinned(ctx: &Context, cut: usize, rules: &[Box<dyn Rule>]) -> Vec<bool> {
    let mut keep = vec![false; cut];
    skipped::pins(ctx.intervals, &mut keep);
    for rule in rules {
        rule.pins(ctx, &mut keep);
    }
    ctx.intervals.keep_whole(&mut keep);
    keep
}

/// Whether `event`, one of the time-ordered `events`, is among the first
/// `keep.len()` of them and `keep` does not keep it: it is about to be forgotten.
pub(super) fn forgets(events: &[Event], keep: &[bool], event: &Event) -> bool {
    let at = (event.ts_ns, event.cpu);
    let from = events.partition_point(|e| (e.ts_ns, e.cpu) < at);
    events[from..keep.len().max(from)]
        .iter()
        .zip(&keep[from.min(keep.len())..])
        .take_while(|(e, _)| (e.ts_ns, e.cpu) == at)
        .any(|(e, kept)| !kept && e.tid == event.tid && e.probe == event.probe)
}

/// Whether the timelines are built from `event`: mappings, cycle markers and
/// sysfs states.
pub(super) fn is_structural(event: &Event, probes: &ProbeIndex) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{analysis::REORDER_SLACK_NS, testkit};

    /// `n` events, `gap_ns` apart.
    fn events(n: u64, gap_ns: u64) -> Vec<Event> {
        (0..n)
            .map(|i| {
                let data = EventData::Tracepoint {
                    args: Vec::new(),
                    base: None,
                };
                testkit::event(1_000_000_000 + i * gap_ns, "tracepoint:x:y", data)
            })
            .collect()
    }

    const RETENTION: Retention = Retention {
        max_events: 100,
        settle_ns: 500_000_000,
    };

    #[test]
    fn a_sparse_log_keeps_the_whole_margin_back() {
        // 1 000 events a millisecond apart: a second, fewer than 16 x 100.
        assert_eq!(RETENTION.margin_ns(&events(1_000, 1_000_000)), 500_000_000);
        assert_eq!(RETENTION.margin_ns(&[]), 500_000_000);
    }

    #[test]
    fn a_flood_keeps_back_only_the_newest_events_it_may_hold() {
        // 20 µs apart: half a second would be 25 000 events.
        let flood = events(10_000, 20_000);
        let margin = RETENTION.margin_ns(&flood);
        assert_eq!(margin, 1_599 * 20_000);
        let back = flood.partition_point(|e| e.ts_ns < flood[9_999].ts_ns - margin);
        assert_eq!(flood.len() - back, 1_600, "16 x max_events stay back");
    }

    #[test]
    fn the_margin_never_shrinks_below_the_reorder_slack() {
        let flood = events(100_000, 1_000);
        assert_eq!(RETENTION.margin_ns(&flood), REORDER_SLACK_NS);
    }
}
