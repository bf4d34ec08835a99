//! What ran from when to when: ioctl calls and work items per thread, interrupt
//! handler runs per CPU and streams per device, paired once from the time-ordered
//! events and shared by everything that reads them (the rules, the skipped-handler
//! finder, retention).
//!
//! Pairing is the same everywhere: an opening event starts its lane's current
//! interval (a second opening on the same lane leaves the first one open for
//! good), and a closing event ends the lane's current interval, if there is one.
//! An interval also notes the events inside it that tell what it did: the driver's
//! ALSA entry point an ioctl reached, the probe of the handler an interrupt ran.
//! The same pass notes where the markers are, so no rule looks every event's
//! probe up again.

use std::{collections::BTreeMap, hash::Hash, ops::RangeBounds};

use rustc_hash::FxHashMap;

use crate::{
    event::{Event, EventData, Name},
    probe_table::{Edge, Role},
    timeline::probes::ProbeIndex,
};

/// One interval, as indexes into the events it was paired from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    /// The event that opened it.
    pub open: usize,
    /// The event that closed it; `None` while it runs (or ran on unseen).
    pub close: Option<usize>,
    /// Events inside it that tell what it did (see the module doc).
    pub inner: Vec<usize>,
}

impl Interval {
    /// Whether it had opened before event `at` and not closed before it.
    fn in_flight_at(&self, at: usize) -> bool {
        self.open < at && self.close.is_none_or(|c| c >= at)
    }
}

/// Intervals of one kind, each on its lane (a thread, a CPU, a stream).
#[derive(Clone, Debug)]
pub struct Lanes<K> {
    /// Every interval, in the order they opened.
    all: Vec<Interval>,
    /// Per lane, its intervals' positions in `all`, in the order they opened.
    by_lane: BTreeMap<K, Vec<usize>>,
    /// Per lane, the interval a closing event would close: looked up for most
    /// events, never walked in order.
    current: FxHashMap<K, usize>,
}

impl<K> Default for Lanes<K> {
    fn default() -> Self {
        Lanes {
            all: Vec::new(),
            by_lane: BTreeMap::new(),
            current: FxHashMap::default(),
        }
    }
}

impl<K: Ord + Hash + Clone> Lanes<K> {
    /// Every interval, in the order they opened.
    pub fn all(&self) -> &[Interval] {
        &self.all
    }

    /// The interval running on `lane` at event `at`: the last one opened there
    /// before it, unless that one closed before it.
    pub fn in_flight(&self, lane: &K, at: usize) -> Option<&Interval> {
        let on_lane = self.by_lane.get(lane)?;
        let opened_before = on_lane.partition_point(|&i| self.all[i].open < at);
        let last = &self.all[on_lane[opened_before.checked_sub(1)?]];
        last.in_flight_at(at).then_some(last)
    }

    /// The intervals running at event `at` on each lane in `lanes`, in lane order.
    pub fn in_flight_among(
        &self,
        lanes: impl RangeBounds<K>,
        at: usize,
    ) -> impl Iterator<Item = (&K, &Interval)> {
        self.by_lane
            .range(lanes)
            .filter_map(move |(lane, _)| Some((lane, self.in_flight(lane, at)?)))
    }

    /// The intervals still running at event `at` (opened before it, closed at it
    /// or later, or never), one per lane at most.
    pub fn open_at(&self, at: usize) -> impl Iterator<Item = (&K, &Interval)> {
        self.in_flight_among(.., at)
    }

    fn open(&mut self, lane: K, at: usize) {
        let position = self.all.len();
        self.all.push(Interval {
            open: at,
            ..Interval::default()
        });
        self.by_lane.entry(lane.clone()).or_default().push(position);
        self.current.insert(lane, position);
    }

    fn close(&mut self, lane: &K, at: usize) {
        if let Some(position) = self.current.remove(lane) {
            self.all[position].close = Some(at);
        }
    }

    /// The interval a closing event on `lane` would close now.
    fn current_mut(&mut self, lane: &K) -> Option<&mut Interval> {
        let position = *self.current.get(lane)?;
        Some(&mut self.all[position])
    }

    /// Marks in `keep` (the first `keep.len()` events) the rest of every interval
    /// whose opening it marks, after the openings that end the ones kept that
    /// never closed ([`Lanes::keep_endings`]).
    fn keep_whole(&self, keep: &mut [bool]) {
        for positions in self.by_lane.values() {
            self.keep_endings(positions, keep);
            for &position in positions {
                let interval = &self.all[position];
                if keep.get(interval.open) != Some(&true) {
                    continue;
                }
                for &i in interval.inner.iter().chain(&interval.close) {
                    if let Some(k) = keep.get_mut(i) {
                        *k = true;
                    }
                }
            }
        }
    }

    /// An interval that never closed runs until the next one opens on its lane
    /// (see [`Lanes::in_flight`]). Where `keep` keeps one, the kept log must end
    /// it where the whole log does, for every event kept after it and for the
    /// events still to come: marks the last opening on the lane before each of
    /// them (but its own). Only those: a lane whose intervals never close (an
    /// interrupt handler seen entering, never leaving) keeps one opening per
    /// kept event, not all of them.
    fn keep_endings(&self, positions: &[usize], keep: &mut [bool]) {
        let kept_open = |p: &usize| {
            let interval = &self.all[*p];
            interval.close.is_none() && keep.get(interval.open) == Some(&true)
        };
        let Some(first) = positions.iter().position(kept_open) else {
            return;
        };
        if first + 1 == positions.len() {
            return;
        }
        // The lane's own events ask nothing of it: were they looks, each
        // opening kept would keep the one before it at the next settle, and
        // the lane would be kept back to its start.
        let mut own: Vec<usize> = positions
            .iter()
            .flat_map(|&p| {
                let interval = &self.all[p];
                [interval.open]
                    .into_iter()
                    .chain(interval.inner.iter().copied())
                    .chain(interval.close)
            })
            .collect();
        own.sort_unstable();
        let after = self.all[positions[first]].open + 1;
        let looks: Vec<usize> = (after..keep.len())
            .filter(|&i| keep[i] && own.binary_search(&i).is_err())
            .chain([keep.len()])
            .collect();
        for at in looks {
            let before = positions.partition_point(|&p| self.all[p].open < at);
            if let Some(last) = before.checked_sub(1).filter(|&last| last > first)
                && let Some(k) = keep.get_mut(self.all[positions[last]].open)
            {
                *k = true;
            }
        }
    }
}

/// Every interval of the events, by kind.
#[derive(Clone, Debug, Default)]
pub struct Intervals<'a> {
    /// ALSA ioctl calls per thread, from `IoctlEnter` to `IoctlExit`; inside, the
    /// calls of functions with the alsa-entry role (the driver was reached).
    pub ioctls: Lanes<u32>,
    /// Work items per thread, from `WorkStart` to `WorkEnd`.
    pub works: Lanes<u32>,
    /// Interrupt handler runs per CPU, from `IrqHandlerEntry` to
    /// `IrqHandlerExit`; inside, the calls of the function the entry names.
    pub handler_runs: Lanes<u32>,
    /// Streams per device and stream (a `stream-start` marker's first argument),
    /// from their `stream-start` to their `stream-stop` marker.
    pub streams: Lanes<(&'a str, u64)>,
    /// The calls of marker probes that name a device, in log order, with the
    /// edge each marks: a rule looking for one edge reads these, not every event.
    pub marks: Vec<(usize, Edge)>,
}

impl<'a> Intervals<'a> {
    /// Pairs `events`, which are in time order on each thread and CPU.
    pub fn of(events: &'a [Event], probes: &ProbeIndex) -> Self {
        let mut intervals = Intervals::default();
        for i in 0..events.len() {
            intervals.take(events, i, probes);
        }
        intervals
    }

    fn take(&mut self, events: &'a [Event], i: usize, probes: &ProbeIndex) {
        let event = &events[i];
        match &event.data {
            EventData::IoctlEnter { .. } => self.ioctls.open(event.tid, i),
            EventData::IoctlExit { .. } => self.ioctls.close(&event.tid, i),
            EventData::WorkStart { .. } => self.works.open(event.tid, i),
            EventData::WorkEnd { .. } => self.works.close(&event.tid, i),
            EventData::IrqHandlerEntry { .. } => self.handler_runs.open(event.cpu, i),
            EventData::IrqHandlerExit { .. } => self.handler_runs.close(&event.cpu, i),
            EventData::FuncEntry { function, args, .. } => {
                let facts = probes.facts(&event.probe);
                if facts.role == Some(Role::AlsaEntry)
                    && let Some(call) = self.ioctls.current_mut(&event.tid)
                {
                    call.inner.push(i);
                }
                if let Some(run) = self.handler_runs.current_mut(&event.cpu)
                    && handler_name(&events[run.open]) == Some(function)
                {
                    run.inner.push(i);
                }
                let Some(device) = event.device.as_deref() else {
                    return;
                };
                let Some(marker) = facts.meaning.marks else {
                    return;
                };
                self.marks.push((i, marker.edge));
                let stream = (device, args[0].0);
                match marker.edge {
                    Edge::StreamStart => self.streams.open(stream, i),
                    Edge::StreamStop => self.streams.close(&stream, i),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Marks in `keep` (the first `keep.len()` events) the rest of every interval
    /// whose opening it marks: its closing event and the events inside that tell
    /// what it did. Kept alone, an opening would look as if it ran on for good.
    pub fn keep_whole(&self, keep: &mut [bool]) {
        self.ioctls.keep_whole(keep);
        self.works.keep_whole(keep);
        self.handler_runs.keep_whole(keep);
        self.streams.keep_whole(keep);
    }
}

/// The handler function an `IrqHandlerEntry` names.
fn handler_name(event: &Event) -> Option<&Name> {
    match &event.data {
        EventData::IrqHandlerEntry { handler_name, .. } => handler_name.as_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{event::DevNum, testkit::Story};

    const PCM: DevNum = DevNum {
        major: 116,
        minor: 3,
    };

    #[test]
    fn a_lane_that_never_closes_keeps_the_openings_that_end_a_kept_one_and_no_more() {
        // An interrupt handler seen entering at every even event, never
        // leaving; the first entry is pinned, and event 7 (another kind) kept.
        let mut lanes: Lanes<u32> = Lanes::default();
        for at in (0..10).step_by(2) {
            lanes.open(0, at);
        }
        let mut keep = vec![false; 10];
        keep[0] = true;
        keep[7] = true;
        lanes.keep_whole(&mut keep);
        let kept = |keep: &[bool]| (0..10).filter(|&i| keep[i]).collect::<Vec<_>>();
        // What ends the first where event 7 looks (6), and where the events to
        // come will (8).
        assert_eq!(kept(&keep), [0, 6, 7, 8]);
        // The next settle keeps no more: the openings kept ask nothing of
        // their own lane.
        lanes.keep_whole(&mut keep);
        assert_eq!(kept(&keep), [0, 6, 7, 8]);
    }

    fn paired(story: &Story) -> Intervals<'_> {
        Intervals::of(&story.0, &ProbeIndex::new(&[]))
    }

    #[test]
    fn a_second_call_on_a_thread_leaves_the_first_open_for_good_and_takes_the_exit() {
        let story = Story::default()
            .ioctl_enters(10, 1, PCM)
            .ioctl_enters(20, 1, PCM)
            .ioctl_exits(30, 1, PCM)
            .ioctl_exits(40, 1, PCM);
        let intervals = paired(&story);
        let calls = intervals.ioctls.all();
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].open, calls[0].close), (0, None));
        assert_eq!((calls[1].open, calls[1].close), (1, Some(2)));
        // At its exit the second call is still in flight; after it nothing is.
        assert_eq!(intervals.ioctls.in_flight(&1, 2), Some(&calls[1]));
        assert_eq!(intervals.ioctls.in_flight(&1, 3), None);
        assert_eq!(intervals.ioctls.in_flight(&2, 2), None);
        let open: Vec<usize> = intervals.ioctls.open_at(2).map(|(_, c)| c.open).collect();
        assert_eq!(open, [1]);
        assert_eq!(intervals.ioctls.open_at(3).count(), 0);
    }

    #[test]
    fn a_handler_run_notes_its_handlers_probe_firing_on_its_own_cpu_only() {
        let story = Story::default()
            .irq_enters(10, 0)
            .handler_probe_fires(11, 1)
            .irq_exits(12, 0)
            .irq_enters(20, 0)
            .handler_probe_fires(21, 0)
            .irq_exits(22, 0);
        let intervals = paired(&story);
        let runs = intervals.handler_runs.all();
        assert_eq!(runs.len(), 2);
        assert_eq!(
            (runs[0].close, runs[0].inner.as_slice()),
            (Some(2), &[][..])
        );
        assert_eq!(
            (runs[1].close, runs[1].inner.as_slice()),
            (Some(5), &[4][..])
        );
    }

    #[test]
    fn an_interval_kept_at_its_opening_is_kept_whole() {
        let story = Story::default()
            .irq_enters(10, 0)
            .handler_probe_fires(11, 0)
            .irq_exits(12, 0)
            .irq_enters(20, 0)
            .handler_probe_fires(21, 0)
            .irq_exits(22, 0);
        let intervals = paired(&story);
        let mut keep = [false, false, false, true, false, false];
        intervals.keep_whole(&mut keep);
        assert_eq!(keep, [false, false, false, true, true, true]);
        // Only the events before the horizon are marked.
        let mut before_the_exit = [false, false, false, true, false];
        intervals.keep_whole(&mut before_the_exit);
        assert_eq!(before_the_exit, [false, false, false, true, true]);
    }
}
