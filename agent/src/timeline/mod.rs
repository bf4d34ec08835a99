//! Quiesce timelines: per PCI device, the cycles of Active → Quiescing → Unmapped →
//! Remapped → Active that a capture shows, with their windows and what triggered
//! them.
//!
//! The model is pure: it reads events in time order (see [`crate::analysis`]) and
//! the capture's probe table, never the running system. A marker names its device
//! when an argument leads to it (`azx_stop_chip`'s base); the PCI core's and the
//! driver's entry points (`pci_stop_and_remove_bus_device_locked`, `azx_remove`)
//! do not, so a cycle opened on a thread takes the earlier stop markers of that
//! same thread as its start: they are the path that led to it.
//!
//! The timelines grow one event at a time ([`Builder`]): an event updates its
//! device's track in place (a step joins the open cycle, a mapping its history),
//! and [`Builder::finish`] ends a copy of the tracks where the log ends so far, so
//! judging never reads the log again. Events must come in time order; only
//! mapping calls, markers and sysfs states change anything
//! ([`Builder::takes_in`]). [`crate::analysis`] applies them once they are older
//! than the newest event by its reorder slack, and builds the tracks again from
//! its kept log when a record lands before what they took in; a settle that
//! forgets events renumbers the tracks in place ([`Builder::renumber`]). Which probes map, unmap and mark comes from the
//! probe table ([`ProbeIndex`]), not from function names.
//!
//! A long run's closed cycles leave the tracks ([`Builder::take_cycles`]) once
//! they are judged for good, so what a track holds stays as small as its open
//! cycle; the analysis keeps the cycles taken out for the report.

pub mod history;
pub mod label;
pub mod mappings;
pub mod probes;
pub mod settled;

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use serde::{Deserialize, Serialize, ser::SerializeStruct as _};

use crate::{
    capture::format::WatchedDevice,
    event::{BarRange, Event, EventData, Name},
    probe_table::{Edge, MappingOp, Marker, Role, Trigger},
};
use history::History;
use label::StepLabel;
use mappings::{MappingHistory, Owner};
use probes::{Meaning, ProbeIndex};

/// How far back a thread's stop markers can open a cycle: a remove path runs in
/// well under this, and older markers belong to something else.
pub const LOOKBACK_NS: u64 = 30_000_000_000;

/// Where a device is in its quiesce story.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// No driver runs it (not yet bound, or unbound at the start).
    Unbound,
    /// The driver runs it and its BARs are mapped.
    Active,
    /// The driver is stopping it; the BARs are still mapped.
    Quiescing,
    /// A BAR mapping is gone; nothing may touch the device.
    Unmapped,
    /// The BAR is mapped again, the driver not yet running.
    Remapped,
    /// Removed and not back: an unmap without a remap that is expected.
    Removed,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Unbound => "unbound",
            State::Active => "active",
            State::Quiescing => "quiescing",
            State::Unmapped => "unmapped",
            State::Remapped => "remapped",
            State::Removed => "removed",
        })
    }
}

/// One step of a cycle: the event that made it, where in the log it is, and who
/// ran it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moment {
    /// When (CLOCK_MONOTONIC ns).
    pub ts_ns: u64,
    /// Index of the event in the analysis' time-ordered log.
    pub event: usize,
    /// What happened, e.g. `azx_stop_chip` or `iounmap(0xffffc90000300000)`.
    pub what: StepLabel,
    /// Thread that ran it.
    pub tid: u32,
    /// Its command name.
    pub comm: Name,
}

impl Moment {
    fn of(event: &Event, index: usize, mapping: Option<MappingOp>) -> Self {
        Moment {
            ts_ns: event.ts_ns,
            event: index,
            what: StepLabel::of(&event.data, mapping == Some(MappingOp::Unmap)),
            tid: event.tid,
            comm: event.comm.clone(),
        }
    }
}

/// A time span; `end_ns` is `None` while it is still open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start (inclusive).
    pub start_ns: u64,
    /// End (exclusive), when it closed.
    pub end_ns: Option<u64>,
}

impl Window {
    /// Whether `ts_ns` lies inside.
    pub fn contains(&self, ts_ns: u64) -> bool {
        ts_ns >= self.start_ns && self.end_ns.is_none_or(|end| ts_ns < end)
    }

    /// Its length, measured to `now_ns` when still open.
    pub fn length_ns(&self, now_ns: u64) -> u64 {
        self.end_ns.unwrap_or(now_ns).saturating_sub(self.start_ns)
    }
}

/// How a cycle ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CycleEnd {
    /// The driver runs the device again.
    Closed,
    /// Still open when the capture ended.
    Open,
    /// The device was removed and did not come back, as expected of a remove.
    Removed,
    /// The driver was unbound (unbind, `rmmod`) and the device stays, with no
    /// driver: a proper end once its BARs are unmapped.
    Unbound,
}

/// Something in a cycle that does not follow the story, for the `unbalanced` rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Where it happened.
    pub at: Moment,
    /// What is wrong, in words.
    pub problem: String,
}

/// One quiesce cycle of one device. One read back from a store of settled
/// cycles ([`settled`]) carries what reports show, not its stop markers: its
/// outline has its windows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    /// 1-based number among the device's cycles.
    pub number: usize,
    /// Why it happened, when a marker said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// The capture started inside it: its beginning is unknown.
    pub started_before_capture: bool,
    /// The first stop marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiesce: Option<Moment>,
    /// The first unmap of one of its BARs' mappings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmap: Option<Moment>,
    /// The mapping of its BAR again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remap: Option<Moment>,
    /// The driver runs it again (restart marker or probe done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<Moment>,
    /// Every step in order: markers, unmaps, remaps.
    pub steps: Vec<Moment>,
    /// The mappings unmapped in this cycle (indexes into the mapping history).
    pub unmapped: Vec<usize>,
    /// The mappings made in this cycle.
    pub remapped: Vec<usize>,
    /// How it ended.
    pub end: CycleEnd,
    /// Steps out of order.
    pub anomalies: Vec<Anomaly>,
    /// Its stop markers, from which the start and trigger are derived.
    #[serde(skip)]
    stops: Vec<StopStep>,
}

/// A cycle at a glance: its number, trigger, end and windows. All that the
/// rules, a report's headline and the terminal UI ask of a cycle judged for
/// good, kept in memory when the cycle itself is not ([`settled`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CycleOutline {
    /// 1-based number among the device's cycles.
    pub number: usize,
    /// Why it happened, when a marker said.
    pub trigger: Option<Trigger>,
    /// The capture started inside it.
    pub started_before_capture: bool,
    /// How it ended.
    pub end: CycleEnd,
    /// The whole cycle ([`Cycle::span`]).
    pub span: Option<Window>,
    /// Its quiesce window ([`Cycle::quiesce_window`]).
    pub quiesce: Option<Window>,
    /// Its unmap window ([`Cycle::unmap_window`]).
    pub unmap: Option<Window>,
}

impl CycleOutline {
    /// Whether it counts as a cycle watched whole: it ended, and began inside
    /// the capture.
    pub fn complete(&self) -> bool {
        self.end != CycleEnd::Open && !self.started_before_capture
    }
}

impl Cycle {
    /// Calls `visit` with every moment of the cycle.
    fn each_moment(&mut self, visit: &mut impl FnMut(&mut Moment)) {
        let moments = [
            &mut self.quiesce,
            &mut self.unmap,
            &mut self.remap,
            &mut self.active,
        ]
        .into_iter()
        .flatten()
        .chain(&mut self.steps)
        .chain(self.anomalies.iter_mut().map(|a| &mut a.at))
        .chain(self.stops.iter_mut().map(|s| &mut s.moment));
        for moment in moments {
            visit(moment);
        }
    }

    /// Its step indexes rewritten with `renumber`, for a cycle an analysis keeps
    /// after forgetting its events: the indexes of the whole log. Its lists are
    /// trimmed to their length, as a cycle kept for good grows no more.
    pub fn renumbered(mut self, renumber: impl Fn(usize) -> usize) -> Self {
        self.each_moment(&mut |moment| moment.event = renumber(moment.event));
        self.steps.shrink_to_fit();
        self.stops.shrink_to_fit();
        self.anomalies.shrink_to_fit();
        self.unmapped.shrink_to_fit();
        self.remapped.shrink_to_fit();
        self
    }

    fn new(number: usize) -> Self {
        Cycle {
            number,
            trigger: None,
            started_before_capture: false,
            quiesce: None,
            unmap: None,
            remap: None,
            active: None,
            steps: Vec::new(),
            unmapped: Vec::new(),
            remapped: Vec::new(),
            end: CycleEnd::Open,
            anomalies: Vec::new(),
            stops: Vec::new(),
        }
    }

    /// Takes in stop markers that lead into this cycle (each once), and derives
    /// its start and trigger again. The quiesce window starts where the driver
    /// stops taking requests (a `disconnect` marker such as `snd_card_disconnect`:
    /// requests that entered before are waited for), else at the driver's own
    /// first marker, else at the PCI core's; the earliest marker that names a
    /// trigger names it.
    fn add_stops<'a>(&mut self, stops: impl IntoIterator<Item = &'a StopStep>) {
        for stop in stops {
            if self
                .stops
                .iter()
                .any(|s| s.moment.event == stop.moment.event)
            {
                continue;
            }
            self.stops.push(stop.clone());
            self.steps.push(stop.moment.clone());
        }
        self.stops.sort_by_key(|s| (s.moment.ts_ns, s.moment.event));
        self.steps.sort_by_key(|m| (m.ts_ns, m.event));
        self.quiesce = self
            .stops
            .iter()
            .find(|s| s.marker.edge == Edge::Disconnect)
            .or_else(|| self.stops.iter().find(|s| s.drivers))
            .or(self.stops.first())
            .map(|s| s.moment.clone());
        if let Some(trigger) = self.stops.iter().find_map(|s| s.marker.trigger) {
            self.trigger = Some(trigger);
        }
    }

    /// Its outline.
    pub fn outline(&self) -> CycleOutline {
        CycleOutline {
            number: self.number,
            trigger: self.trigger,
            started_before_capture: self.started_before_capture,
            end: self.end,
            span: self.span(),
            quiesce: self.quiesce_window(),
            unmap: self.unmap_window(),
        }
    }

    /// When the cycle began, when known.
    pub fn start_ns(&self) -> Option<u64> {
        [&self.quiesce, &self.unmap, &self.remap, &self.active]
            .into_iter()
            .flatten()
            .map(|m| m.ts_ns)
            .next()
            .filter(|_| !self.started_before_capture)
    }

    /// The quiesce window: from the first stop marker to the unmap. In a cycle
    /// that ran again without an unmap (suspend and resume) it ends with the last
    /// stop step: the device then rests, and a long sleep is not a long quiesce.
    pub fn quiesce_window(&self) -> Option<Window> {
        let start = self.quiesce.as_ref().or(self.unmap.as_ref())?;
        let end = self.unmap.as_ref().map(|m| m.ts_ns).or_else(|| {
            self.active.as_ref()?;
            self.stops.last().map(|s| s.moment.ts_ns)
        });
        Some(Window {
            start_ns: start.ts_ns,
            end_ns: end,
        })
    }

    /// The unmap window: from the unmap to the remap (or the restart).
    pub fn unmap_window(&self) -> Option<Window> {
        let start = self.unmap.as_ref()?;
        let end = self.remap.as_ref().or(self.active.as_ref());
        Some(Window {
            start_ns: start.ts_ns,
            end_ns: end.map(|m| m.ts_ns),
        })
    }

    /// The whole cycle as a window, from its first known step. A removed (or
    /// unbound) device's cycle lasts as long as the device stays away, like an open
    /// one: what runs on its behalf meanwhile belongs to it.
    pub fn span(&self) -> Option<Window> {
        let start = self.steps.first()?;
        Some(Window {
            start_ns: start.ts_ns,
            end_ns: match self.end {
                CycleEnd::Open | CycleEnd::Removed | CycleEnd::Unbound => None,
                CycleEnd::Closed => self.steps.last().map(|m| m.ts_ns.saturating_add(1)),
            },
        })
    }
}

/// One device's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceTimeline {
    /// PCI address.
    pub bdf: String,
    /// The driver last seen bound.
    pub driver: Option<String>,
    /// State at the end of the capture.
    pub state: State,
    /// The cycles a bounded analysis judged for good and took out of `cycles`,
    /// which follow them: in a judgement's timeline, out of memory.
    pub settled: settled::DeviceSettled,
    /// Its cycles, in order, after the settled ones.
    pub cycles: Vec<Cycle>,
    /// Its memory BARs as sysfs last showed them, with the time they were read
    /// (0: at the start). A reading that shows what the one before it did
    /// shares its list: a long run rereads the same BARs every cycle.
    pub bars: History<(u64, Arc<[BarRange]>)>,
    /// Where the device went away for good, when its timeline ends removed or
    /// unbound: the sysfs state that showed it gone or without a driver, else the
    /// last step of its last cycle.
    pub left: Option<Moment>,
    /// Where a device the capture's header did not list (not there when the
    /// capture began, or bound to no driver barwatch watched) was first seen (a
    /// rescan, a hot-add, a driver load). What came before is not in the
    /// capture: the end of a cycle begun before it (a remove whose rescan this
    /// is) is not judged as a cycle, and the report says so.
    pub watched_from: Option<Moment>,
}

/// The fields in order, the settled cycles read back before the others in
/// `cycles`: a bounded analysis' timeline serializes as a whole one does.
impl Serialize for DeviceTimeline {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = 5
            + usize::from(self.driver.is_some())
            + usize::from(self.left.is_some())
            + usize::from(self.watched_from.is_some());
        let mut out = s.serialize_struct("DeviceTimeline", fields)?;
        out.serialize_field("bdf", &self.bdf)?;
        if let Some(driver) = &self.driver {
            out.serialize_field("driver", driver)?;
        }
        out.serialize_field("state", &self.state)?;
        out.serialize_field("cycles", &AllCycles(self))?;
        out.serialize_field("bars", &self.bars)?;
        if let Some(left) = &self.left {
            out.serialize_field("left", left)?;
        }
        if let Some(watched_from) = &self.watched_from {
            out.serialize_field("watched_from", watched_from)?;
        }
        out.end()
    }
}

/// A timeline's cycles, settled and kept, as one list.
struct AllCycles<'a>(&'a DeviceTimeline);

impl Serialize for AllCycles<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let mut out = s.serialize_seq(Some(self.0.cycle_count()))?;
        for cycle in self.0.all_cycles() {
            let (_, cycle) = cycle.map_err(S::Error::custom)?;
            out.serialize_element(&*cycle)?;
        }
        out.end()
    }
}

impl DeviceTimeline {
    /// How many cycles, the settled ones included.
    pub fn cycle_count(&self) -> usize {
        self.settled.len() + self.cycles.len()
    }

    /// Every cycle's outline, in order, the settled ones first.
    pub fn outlines(&self) -> impl Iterator<Item = CycleOutline> + '_ {
        let settled = self.settled.outlines().iter().copied();
        settled.chain(self.cycles.iter().map(Cycle::outline))
    }

    /// The outline of cycle `number`.
    pub fn outline(&self, number: usize) -> Option<CycleOutline> {
        let index = number.checked_sub(1)?;
        match self.settled.outlines().get(index) {
            Some(outline) => Some(*outline),
            None => self
                .cycles
                .get(index - self.settled.len())
                .map(Cycle::outline),
        }
    }

    /// The outline of the cycle whose span holds `ts_ns`.
    pub fn outline_at(&self, ts_ns: u64) -> Option<CycleOutline> {
        match self.cycle_at(ts_ns) {
            Some(cycle) => Some(cycle.outline()),
            None => self.settled.outline_at(ts_ns).copied(),
        }
    }

    /// Every cycle with its outline, in order: the settled ones read back one
    /// at a time, then the others.
    pub fn all_cycles(
        &self,
    ) -> impl Iterator<Item = Result<(CycleOutline, Cow<'_, Cycle>), crate::spill::ReadBackError>> + '_
    {
        let settled = self.settled.cycles().map(|c| c.map(|(o, c)| (*o, c)));
        settled.chain(
            self.cycles
                .iter()
                .map(|c| Ok((c.outline(), Cow::Borrowed(c)))),
        )
    }

    /// Whether `module` is the device's driver (module names use `_` where
    /// driver names may use `-`).
    pub fn drives(&self, module: &str) -> bool {
        let unify = |b: u8| if b == b'-' { b'_' } else { b };
        self.driver.as_deref().is_some_and(|driver| {
            driver.len() == module.len()
                && driver
                    .bytes()
                    .zip(module.bytes())
                    .all(|(d, m)| unify(d) == unify(m))
        })
    }

    /// The BARs sysfs showed last at or before `ts_ns`, found by binary search:
    /// the readings are in time order.
    pub fn bars_at(&self, ts_ns: u64) -> &[BarRange] {
        let until = self.bars.partition_point(|(t, _)| *t <= ts_ns);
        until
            .checked_sub(1)
            .and_then(|last| self.bars.get(last))
            .or(self.bars.first())
            .map_or(&[], |(_, bars)| &**bars)
    }

    /// The cycles whose span may overlap `from_ns..=to_ns`, found by binary
    /// search: a device's cycles follow one another, and every window of a cycle
    /// lies within its span.
    pub fn cycles_around(&self, from_ns: u64, to_ns: u64) -> impl Iterator<Item = &Cycle> {
        cycles_around(&self.cycles, from_ns, to_ns)
    }

    /// The cycle whose unmap window holds `ts_ns`, with its unmap.
    pub fn unmapped_at(&self, ts_ns: u64) -> Option<(&Cycle, &Moment)> {
        unmapped_in(&self.cycles, ts_ns)
    }

    /// Rewrites every step's event index with `renumber`: an analysis that has
    /// forgotten settled events gives the indexes of the whole log.
    pub fn renumber(&mut self, renumber: impl Fn(usize) -> usize) {
        self.each_moment(&mut |moment| moment.event = renumber(moment.event));
    }

    /// Calls `visit` with every moment of the timeline: its cycles' steps,
    /// anomalies and stop markers, where it went away and where it was first seen.
    fn each_moment(&mut self, visit: &mut impl FnMut(&mut Moment)) {
        for cycle in &mut self.cycles {
            cycle.each_moment(visit);
        }
        for moment in [&mut self.left, &mut self.watched_from]
            .into_iter()
            .flatten()
        {
            visit(moment);
        }
    }

    /// The cycle whose span holds `ts_ns`.
    pub fn cycle_at(&self, ts_ns: u64) -> Option<&Cycle> {
        self.cycles_around(ts_ns, ts_ns)
            .find(|c| c.span().is_some_and(|w| w.contains(ts_ns)))
    }
}

/// Of one device's `cycles`, in order, those whose span may overlap
/// `from_ns..=to_ns`, found by binary search.
fn cycles_around(cycles: &[Cycle], from_ns: u64, to_ns: u64) -> impl Iterator<Item = &Cycle> {
    let first = cycles.partition_point(|c| {
        c.span()
            .is_some_and(|w| w.end_ns.is_some_and(|end| end <= from_ns))
    });
    cycles[first..]
        .iter()
        .take_while(move |c| c.span().is_none_or(|w| w.start_ns <= to_ns))
}

/// Of one device's `cycles`, in order, the one whose unmap window holds
/// `ts_ns`, with its unmap.
pub fn unmapped_in(cycles: &[Cycle], ts_ns: u64) -> Option<(&Cycle, &Moment)> {
    cycles_around(cycles, ts_ns, ts_ns).find_map(|c| {
        let unmap = c.unmap.as_ref()?;
        c.unmap_window()?.contains(ts_ns).then_some((c, unmap))
    })
}

/// Every watched device's timeline and every mapping's life.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timelines {
    /// One per device, by PCI address.
    pub devices: Vec<DeviceTimeline>,
    /// Every MMIO mapping seen.
    #[serde(skip)]
    pub mappings: MappingHistory,
    /// The earliest stop marker that named no device and has not yet led into a
    /// cycle (within [`LOOKBACK_NS`] of the last event): a cycle that opens later
    /// may start its quiesce window there.
    #[serde(skip)]
    pub pending_since: Option<u64>,
}

impl Timelines {
    /// The timeline of device `bdf`.
    pub fn device(&self, bdf: &str) -> Option<&DeviceTimeline> {
        self.devices.iter().find(|d| d.bdf == bdf)
    }
}

/// A stop marker's call: a cycle's own, or one that named no device, kept on its
/// thread for the cycle it leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct StopStep {
    moment: Moment,
    marker: Marker,
    /// The driver's own marker, not the PCI core's.
    drivers: bool,
}

/// What the last sysfs state of a device in the log showed.
#[derive(Clone, Debug)]
struct Reading {
    /// The state event.
    moment: Moment,
    /// The device was in sysfs.
    present: bool,
    /// A driver was bound to it.
    bound: bool,
}

/// A device being followed through the log.
#[derive(Clone, Debug)]
struct Track {
    timeline: DeviceTimeline,
    present: bool,
    /// The last sysfs state the log recorded for it.
    reading: Option<Reading>,
    /// Stop markers before this are not the next cycle's: the last cycle's end.
    boundary_ns: u64,
    /// Thread of the last remap, whose probe-done marker makes the device active.
    remap_tid: Option<u32>,
    /// Whether an edge (map, unmap, marker) of this device was seen.
    seen_edge: bool,
    /// Listed by the capture's header as bound at the start.
    bound_at_start: bool,
    /// How many of its first cycles were taken out ([`Builder::take_cycles`]).
    taken: usize,
    /// The largest length of a BAR it ever showed (0: none yet).
    largest_bar: u64,
}

impl Track {
    fn new(bdf: &str, driver: Option<String>, bars: &[BarRange]) -> Self {
        let bound = driver.is_some();
        Track {
            timeline: DeviceTimeline {
                bdf: bdf.to_owned(),
                driver,
                state: if bound { State::Active } else { State::Unbound },
                settled: settled::DeviceSettled::default(),
                cycles: Vec::new(),
                bars: History::default(),
                left: None,
                watched_from: None,
            },
            present: true,
            reading: None,
            boundary_ns: 0,
            remap_tid: None,
            seen_edge: false,
            bound_at_start: bound,
            taken: 0,
            largest_bar: 0,
        }
        .showing(0, bars)
    }

    fn state(&self) -> State {
        self.timeline.state
    }

    fn cycle(&mut self) -> &mut Cycle {
        if self
            .timeline
            .cycles
            .last()
            .is_none_or(|c| c.end != CycleEnd::Open)
        {
            let number = self.taken + self.timeline.cycles.len() + 1;
            self.timeline.cycles.push(Cycle::new(number));
        }
        self.timeline.cycles.last_mut().expect("just ensured")
    }

    /// The thread's earlier stop markers since the last cycle ended, up to `ts_ns`:
    /// the path that led to a step of this device on that thread.
    fn leading<'a>(&self, ts_ns: u64, earlier: &'a [StopStep]) -> Vec<&'a StopStep> {
        earlier
            .iter()
            .filter(|e| e.moment.ts_ns >= self.boundary_ns && e.moment.ts_ns <= ts_ns)
            .collect()
    }

    /// Takes in a stop marker of this device; returns whether it joined a cycle
    /// (and with it the thread's earlier markers).
    fn stop(&mut self, stop: StopStep, earlier: &[StopStep]) -> bool {
        self.seen_edge = true;
        match self.state() {
            State::Active | State::Quiescing => {
                let leading = self.leading(stop.moment.ts_ns, earlier);
                let cycle = self.cycle();
                cycle.add_stops(leading.into_iter().chain([&stop]));
                self.timeline.state = State::Quiescing;
                true
            }
            // Stops while the driver re-probes, or of an unbound device.
            State::Unmapped | State::Remapped | State::Unbound | State::Removed => false,
        }
    }

    fn unmap(&mut self, moment: Moment, life: usize, earlier: &[StopStep]) {
        self.seen_edge = true;
        if self.state() == State::Remapped {
            let cycle = self.cycle();
            cycle.anomalies.push(Anomaly {
                at: moment.clone(),
                problem:
                    "unmapped again after the remap, before the driver ran it (a failed probe?)"
                        .to_owned(),
            });
            cycle.remap = None;
        }
        let leading = self.leading(moment.ts_ns, earlier);
        let cycle = self.cycle();
        if cycle.unmap.is_none() {
            cycle.add_stops(leading);
            cycle.unmap = Some(moment.clone());
        }
        cycle.unmapped.push(life);
        cycle.steps.push(moment);
        self.timeline.state = State::Unmapped;
    }

    fn remap(&mut self, moment: Moment, life: usize) {
        let first_edge = !self.seen_edge;
        self.seen_edge = true;
        match self.state() {
            State::Unbound => {
                // The driver binds: the device runs from here on.
                self.timeline.state = State::Active;
                self.boundary_ns = moment.ts_ns;
            }
            State::Active if first_edge && self.bound_at_start => {
                // The capture began inside a cycle, after its unmap.
                let cycle = self.cycle();
                cycle.started_before_capture = true;
                self.remapped(moment, life);
            }
            State::Active | State::Remapped => {}
            State::Quiescing => {
                self.cycle().anomalies.push(Anomaly {
                    at: moment.clone(),
                    problem: "mapped its BAR again without unmapping it first".to_owned(),
                });
                self.remapped(moment, life);
            }
            State::Unmapped | State::Removed => self.remapped(moment, life),
        }
    }

    fn remapped(&mut self, moment: Moment, life: usize) {
        self.remap_tid = Some(moment.tid);
        let cycle = self.cycle();
        cycle.remap = Some(moment.clone());
        cycle.remapped.push(life);
        cycle.steps.push(moment);
        self.timeline.state = State::Remapped;
    }

    fn restart(&mut self, moment: Moment) {
        let first_edge = !self.seen_edge;
        self.seen_edge = true;
        match self.state() {
            State::Remapped | State::Quiescing => self.close(moment),
            State::Active if first_edge && self.bound_at_start => {
                self.cycle().started_before_capture = true;
                self.close(moment);
            }
            State::Unmapped => self.cycle().anomalies.push(Anomaly {
                at: moment,
                problem: "restarted while its BAR was unmapped".to_owned(),
            }),
            State::Active | State::Unbound | State::Removed => {}
        }
    }

    fn close(&mut self, moment: Moment) {
        self.boundary_ns = moment.ts_ns;
        self.remap_tid = None;
        let cycle = self.cycle();
        cycle.active = Some(moment.clone());
        cycle.steps.push(moment);
        cycle.end = CycleEnd::Closed;
        self.timeline.state = State::Active;
    }

    /// Ends the timeline where the log ends: an open last cycle ends removed when
    /// the device is gone (or a remove unmapped it), unbound when its driver let
    /// it go; a device gone without a cycle is removed too.
    fn finish(mut self) -> DeviceTimeline {
        let ending = self.ending();
        let last = self.timeline.cycles.last_mut();
        let end = match (ending, last) {
            (Some(end), Some(cycle)) if cycle.end == CycleEnd::Open => {
                cycle.end = end;
                Some((end, cycle.steps.last().cloned()))
            }
            (_, _) if !self.present => Some((CycleEnd::Removed, None)),
            _ => None,
        };
        if let Some((end, last_step)) = end {
            self.timeline.state = if end == CycleEnd::Unbound {
                State::Unbound
            } else {
                State::Removed
            };
            let shown = self.reading.as_ref().filter(|r| !r.present || !r.bound);
            self.timeline.left = shown.map(|r| r.moment.clone()).or(last_step);
        }
        self.timeline
    }

    /// How the open last cycle ends with the log, if it ends: removed when sysfs
    /// shows the device gone or a remove unmapped it; unbound when the driver let
    /// it go (sysfs shows it without a driver, or an unbind unmapped it) and the
    /// device stays; `None` while the driver still holds it or is probing again.
    fn ending(&self) -> Option<CycleEnd> {
        let cycle = self
            .timeline
            .cycles
            .last()
            .filter(|c| c.end == CycleEnd::Open)?;
        if !self.present {
            return Some(CycleEnd::Removed);
        }
        let unmapped = self.state() == State::Unmapped;
        if !matches!(self.state(), State::Unmapped | State::Quiescing) {
            return None;
        }
        // Only what sysfs showed during the cycle says how it ends.
        let since = cycle.steps.first().map_or(0, |m| m.ts_ns);
        let reading = self.reading.as_ref().filter(|r| r.moment.ts_ns >= since);
        if reading.is_some_and(|r| r.bound) {
            return None;
        }
        let removing = matches!(cycle.trigger, Some(Trigger::Remove | Trigger::HotUnplug));
        if unmapped && removing {
            return Some(CycleEnd::Removed);
        }
        let unbinding = unmapped && cycle.trigger == Some(Trigger::DriverUnbind);
        match reading {
            Some(_) => Some(CycleEnd::Unbound),
            None => unbinding.then_some(CycleEnd::Unbound),
        }
    }

    /// Notes the BARs sysfs showed at `ts_ns`.
    fn showing(mut self, ts_ns: u64, bars: &[BarRange]) -> Self {
        self.show(ts_ns, bars);
        self
    }

    /// Notes the BARs sysfs showed at `ts_ns`, and the largest one's length.
    fn show(&mut self, ts_ns: u64, bars: &[BarRange]) {
        let lengths = bars.iter().map(|b| b.end.0.saturating_sub(b.start.0) + 1);
        self.largest_bar = lengths.fold(self.largest_bar, u64::max);
        let shown = match self.timeline.bars.last() {
            Some((_, last)) if **last == *bars => last.clone(),
            _ => Arc::from(bars),
        };
        self.timeline.bars.push((ts_ns, shown));
    }

    /// The largest BAR's length: the size assumed for a mapping made before the
    /// capture.
    fn largest_bar(&self) -> u64 {
        if self.largest_bar == 0 {
            0x1000
        } else {
            self.largest_bar
        }
    }
}

/// Builds the timelines from `events` in time order, the header's watched devices
/// and the probe table, all at once.
pub fn build(events: &[Event], probes: &ProbeIndex, watched: &[WatchedDevice]) -> Timelines {
    let mut builder = Builder::new(watched);
    for (index, event) in events.iter().enumerate() {
        builder.apply(event, index, probes);
    }
    builder.finish(events.last().map_or(0, |e| e.ts_ns))
}

/// The timelines of a log being read in time order, one event at a time: each
/// event updates its device's track in place, and [`Builder::finish`] ends the
/// tracks where the log ends so far. Only the events [`Builder::takes_in`] change
/// anything; the others need not be applied.
#[derive(Clone, Debug)]
pub struct Builder {
    tracks: BTreeMap<String, Track>,
    mappings: MappingHistory,
    /// Stop markers that named no device, by thread, for the cycle they lead to.
    earlier: HashMap<u32, Vec<StopStep>>,
}

impl Builder {
    /// Starts from the capture header's watched devices and the mappings they had.
    pub fn new(watched: &[WatchedDevice]) -> Self {
        let tracks = watched
            .iter()
            .map(|d| (d.bdf.clone(), Track::new(&d.bdf, d.driver.clone(), &d.bars)))
            .collect();
        let mut mappings = MappingHistory::default();
        for device in watched {
            for m in &device.mappings {
                mappings.existing(
                    m.virt.0,
                    m.size,
                    m.phys.0,
                    Owner::Device(device.bdf.as_str().into()),
                );
            }
        }
        Builder {
            tracks,
            mappings,
            earlier: HashMap::new(),
        }
    }

    /// Whether applying `event` changes the timelines: a mapping probe's call, a
    /// marker's, a sysfs state.
    pub fn takes_in(event: &Event, probes: &ProbeIndex) -> bool {
        match &event.data {
            EventData::FuncEntry { .. } | EventData::FuncExit { .. } => {
                let meaning = probes.meaning(&event.probe);
                meaning.mapping.is_some() || meaning.marks.is_some()
            }
            EventData::DeviceState { .. } => true,
            _ => false,
        }
    }

    /// Takes in `event`, the one at `index` of the log and no earlier than any
    /// event applied before it.
    pub fn apply(&mut self, event: &Event, index: usize, probes: &ProbeIndex) {
        let device = event.device.as_deref();
        let meaning = match &event.data {
            EventData::FuncEntry { .. } | EventData::FuncExit { .. } => {
                probes.meaning(&event.probe)
            }
            _ => Meaning::default(),
        };
        let mapping = meaning.mapping;
        let moment = || Moment::of(event, index, mapping);
        let tracks = &mut self.tracks;
        let earlier = &mut self.earlier;
        let thread_markers = |earlier: &mut HashMap<u32, Vec<StopStep>>| {
            let list = earlier.entry(event.tid).or_default();
            list.retain(|e| e.moment.ts_ns.saturating_add(LOOKBACK_NS) >= event.ts_ns);
            list.clone()
        };
        match (&event.data, mapping) {
            (EventData::FuncEntry { args, .. }, Some(MappingOp::MapEntry)) => {
                // The life takes the device the capture gives the return.
                self.mappings
                    .map_entry(event.tid, args[0].0, args[1].0, Owner::Unknown, index);
            }
            (EventData::FuncExit { ret, .. }, Some(MappingOp::MapReturn)) => {
                let life = self
                    .mappings
                    .map_return(
                        event.tid,
                        ret.0,
                        Some(Owner::from(event.device.clone())),
                        index,
                        event.ts_ns,
                    )
                    .and_then(|made| made.life);
                if let (Some(life), Some(bdf)) = (life, device) {
                    let m = Moment {
                        what: StepLabel::mapped(ret.0),
                        ..moment()
                    };
                    entry(tracks, bdf, || m.clone()).remap(m, life);
                }
            }
            (EventData::FuncEntry { args, .. }, Some(MappingOp::Unmap)) => {
                let fallback =
                    device.map_or(0x1000, |bdf| entry(tracks, bdf, moment).largest_bar());
                let life = self.mappings.unmap(
                    args[0].0,
                    event.device.clone(),
                    fallback,
                    index,
                    event.ts_ns,
                );
                self.mappings.keep_unmap(life, event);
                if let Some(bdf) = device {
                    let before = thread_markers(earlier);
                    entry(tracks, bdf, moment).unmap(moment(), life, &before);
                    consume(earlier, event);
                }
            }
            (
                EventData::DeviceState {
                    present,
                    driver,
                    bars,
                },
                _,
            ) => {
                if let Some(bdf) = device {
                    let track = entry(tracks, bdf, moment);
                    track.present = *present;
                    track.reading = Some(Reading {
                        moment: moment(),
                        present: *present,
                        bound: *present && driver.is_some(),
                    });
                    if driver.is_some() {
                        track.timeline.driver = driver.clone();
                    }
                    if *present {
                        track.show(event.ts_ns, bars);
                    }
                }
            }
            (EventData::FuncEntry { .. } | EventData::FuncExit { .. }, _) => {
                let Some(marker) = meaning.marks else {
                    return;
                };
                let stop = || StopStep {
                    moment: moment(),
                    marker,
                    drivers: probes.role(&event.probe) == Some(Role::QuiesceMarker),
                };
                match (device, marker.edge) {
                    (Some(bdf), Edge::Stop | Edge::Disconnect | Edge::ChipStop) => {
                        let before = thread_markers(earlier);
                        if entry(tracks, bdf, moment).stop(stop(), &before) {
                            consume(earlier, event);
                        }
                    }
                    (None, Edge::Stop | Edge::Disconnect | Edge::ChipStop) => {
                        earlier.entry(event.tid).or_default().push(stop());
                    }
                    (Some(bdf), Edge::Restart) => entry(tracks, bdf, moment).restart(moment()),
                    (None, Edge::Restart) => {
                        // Probe done on the thread that mapped the BAR.
                        for track in tracks.values_mut() {
                            if track.state() == State::Remapped
                                && track.remap_tid == Some(event.tid)
                            {
                                track.restart(moment());
                            }
                        }
                    }
                    (_, Edge::StreamStart | Edge::StreamStop) => {}
                }
            }
            _ => {}
        }
    }

    /// Each device's first cycles that are closed and ended before `before_ns`:
    /// no later event can change them.
    pub fn closed_before(&self, before_ns: u64) -> impl Iterator<Item = (&str, &[Cycle])> {
        self.tracks.iter().map(move |(bdf, track)| {
            let cycles = &track.timeline.cycles;
            let closed = cycles
                .iter()
                .take_while(|c| {
                    c.end == CycleEnd::Closed
                        && c.span()
                            .and_then(|w| w.end_ns)
                            .is_some_and(|end| end <= before_ns)
                })
                .count();
            (bdf.as_str(), &cycles[..closed])
        })
    }

    /// Takes the first `count` cycles out of device `bdf`'s track: they are
    /// judged for good, and later cycles keep their numbers.
    pub fn take_cycles(&mut self, bdf: &str, count: usize) -> Vec<Cycle> {
        let Some(track) = self.tracks.get_mut(bdf) else {
            return Vec::new();
        };
        let count = count.min(track.timeline.cycles.len());
        track.taken += count;
        track.timeline.cycles.drain(..count).collect()
    }

    /// The indexes of the events the tracks still read: every moment of their
    /// cycles, sysfs readings and pending stop markers, and what the mapping
    /// history still answers with (see [`MappingHistory::held`]) and the cycles'
    /// mappings. An analysis must keep these events when it forgets others.
    pub fn held(&mut self) -> Vec<usize> {
        let mut held = Vec::new();
        self.each_moment(&mut |moment| held.push(moment.event));
        let lives = self.tracks.values().flat_map(|t| {
            t.timeline
                .cycles
                .iter()
                .flat_map(|c| c.unmapped.iter().chain(&c.remapped))
        });
        for &life in lives {
            let life = self.mappings.get(life);
            held.extend(
                [life.mapped, life.map_call, life.unmapped]
                    .into_iter()
                    .flatten(),
            );
        }
        held.extend(self.mappings.held());
        held
    }

    /// Rewrites every event index the tracks hold with `renumber`, after the
    /// log they index changed (events forgotten or inserted). An index it maps
    /// to `None` is of an event forgotten: a moment must not be (see
    /// [`Builder::held`]); the mapping history forgets where such a life was
    /// mapped or unmapped.
    pub fn renumber(&mut self, renumber: impl Fn(usize) -> Option<usize>) {
        let moved = |index: usize| renumber(index).expect("the tracks hold only kept events");
        self.each_moment(&mut |moment| moment.event = moved(moment.event));
        self.mappings.renumber(renumber);
    }

    /// Calls `visit` with every moment the tracks hold: their timelines', their
    /// sysfs readings' and the pending stop markers'.
    fn each_moment(&mut self, visit: &mut impl FnMut(&mut Moment)) {
        for track in self.tracks.values_mut() {
            track.timeline.each_moment(visit);
            if let Some(reading) = &mut track.reading {
                visit(&mut reading.moment);
            }
        }
        for step in self.earlier.values_mut().flatten() {
            visit(&mut step.moment);
        }
    }

    /// The timelines as they stand, every track ended where the log ends, at
    /// `last_ns` (the time of its last event).
    pub fn finish(self, last_ns: u64) -> Timelines {
        let pending_since = self
            .earlier
            .values()
            .flatten()
            .map(|s| s.moment.ts_ns)
            .filter(|ts| ts.saturating_add(LOOKBACK_NS) >= last_ns)
            .min();
        Timelines {
            devices: self.tracks.into_values().map(Track::finish).collect(),
            mappings: self.mappings,
            pending_since,
        }
    }
}

/// Forgets the stop markers of `event`'s thread up to it: a cycle took them in, so
/// they cannot also start the next device's cycle on that thread (a shell that
/// removes two devices in turn).
fn consume(earlier: &mut HashMap<u32, Vec<StopStep>>, event: &Event) {
    if let Some(list) = earlier.get_mut(&event.tid) {
        list.retain(|e| e.moment.ts_ns > event.ts_ns);
    }
}

/// The track of device `bdf`, created on first sight (`at`) when the capture's
/// header did not list it: the device is watched from there on.
fn entry<'a>(
    tracks: &'a mut BTreeMap<String, Track>,
    bdf: &str,
    at: impl FnOnce() -> Moment,
) -> &'a mut Track {
    tracks.entry(bdf.to_owned()).or_insert_with(|| {
        let mut track = Track::new(bdf, None, &[]);
        track.timeline.watched_from = Some(at());
        track
    })
}
