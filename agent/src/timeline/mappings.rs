//! The life of every MMIO mapping seen: where it was mapped, from which physical
//! address, whose BAR it maps, when it was unmapped. One history serves both
//! readers of mappings: the device attribution while recording (which device an
//! address names) and the analysis' timelines (whether an address was unmapped
//! at a moment). Each builds its own from the events it sees; both keep the same
//! records and ask the queries below, indexed so each answer costs O(log n) in
//! the lives of a range. [`MapCalls`] pairs a map call with its return.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::history::History;
use crate::{
    event::{Event, Hex, Name},
    spill::{Kept, Spill},
};

/// Whose BAR a mapping maps, as far as the one who saw it mapped knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A watched device, by PCI address.
    Device(Name),
    /// A device that is not watched: accessor calls on it can be filtered out.
    Unwatched,
    /// No device known.
    Unknown,
}

impl From<Option<Name>> for Owner {
    fn from(device: Option<Name>) -> Self {
        device.map_or(Owner::Unknown, Owner::Device)
    }
}

/// One `ioremap`…`iounmap` life of a virtual range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MappingLife {
    /// First virtual address.
    pub virt: Hex,
    /// Length in bytes (for a mapping made before the capture: the device's
    /// largest BAR, the best bound known; for a base learned from an accessor:
    /// one byte, all that is known to lie inside).
    pub size: u64,
    /// The physical address mapped, when the `ioremap` was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phys: Option<Hex>,
    /// The watched device it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Name>,
    /// Whether it maps a BAR of a device that is not watched.
    #[serde(skip)]
    pub unwatched: bool,
    /// Index of the `ioremap` return in the event log the history is built from;
    /// `None` when it was mapped before the capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapped: Option<usize>,
    /// Index of the `ioremap` entry that return answers: the call's stack is there.
    #[serde(skip)]
    pub map_call: Option<usize>,
    /// When it was mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapped_ns: Option<u64>,
    /// Index of the `iounmap` in the event log, once unmapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmapped: Option<usize>,
    /// When it was unmapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmapped_ns: Option<u64>,
    /// The `iounmap` itself, for the timelines: an access long after it still
    /// names it, when the log it was in has forgotten it. Out of memory: one
    /// is kept for every unmap of a long run, and read only for a violation.
    #[serde(skip)]
    pub unmap_event: Option<Kept<Event>>,
}

impl MappingLife {
    /// A life of `owner`'s not (yet) seen mapped or unmapped.
    fn new(virt: u64, size: u64, phys: Option<u64>, owner: Owner) -> Self {
        let (device, unwatched) = match owner {
            Owner::Device(bdf) => (Some(bdf), false),
            Owner::Unwatched => (None, true),
            Owner::Unknown => (None, false),
        };
        MappingLife {
            virt: Hex(virt),
            size,
            phys: phys.map(Hex),
            device,
            unwatched,
            mapped: None,
            map_call: None,
            mapped_ns: None,
            unmapped: None,
            unmapped_ns: None,
            unmap_event: None,
        }
    }

    /// Whether virtual address `addr` lies in the range.
    pub fn contains(&self, addr: u64) -> bool {
        (self.virt.0..self.virt.0.saturating_add(self.size)).contains(&addr)
    }

    /// The owner it was recorded with.
    fn owner(&self) -> Owner {
        match (&self.device, self.unwatched) {
            (Some(bdf), _) => Owner::Device(bdf.clone()),
            (None, true) => Owner::Unwatched,
            (None, false) => Owner::Unknown,
        }
    }

    /// When it was mapped, a mapping from before the capture counting as mapped
    /// from the start.
    fn start_ns(&self) -> u64 {
        self.mapped_ns.unwrap_or(0)
    }

    /// When it was unmapped, above every timestamp while it is not.
    fn end_ns(&self) -> u128 {
        self.unmapped_ns.map_or(u128::MAX, u128::from)
    }
}

/// Map calls waiting for their return, by thread: a map function's entry carries
/// what is mapped, its return the virtual address, and a thread has one call in
/// flight at a time. `T` is what the caller needs of the entry at the return.
#[derive(Clone, Debug)]
pub struct MapCalls<T> {
    pending: HashMap<u32, T>,
}

impl<T> Default for MapCalls<T> {
    fn default() -> Self {
        Self {
            pending: HashMap::new(),
        }
    }
}

impl<T> MapCalls<T> {
    /// Notes the entry of a map call on thread `tid`; a call the thread left
    /// without a seen return is forgotten.
    pub fn enter(&mut self, tid: u32, call: T) {
        self.pending.insert(tid, call);
    }

    /// The entry thread `tid`'s map call returns from, if one was seen.
    pub fn leave(&mut self, tid: u32) -> Option<T> {
        self.pending.remove(&tid)
    }
}

/// What a map entry tells of the mapping its return makes.
#[derive(Clone, Debug)]
struct MapEntry {
    phys: u64,
    size: u64,
    owner: Owner,
    /// Its index in the event log.
    event: usize,
}

/// What a map return made of the call it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapReturn {
    /// The owner the mapping was given.
    pub owner: Owner,
    /// The new life's index; `None` when the call failed (returned 0).
    pub life: Option<usize>,
}

/// The lives of one virtual range (first address and size), indexed for the
/// questions asked of an address in it.
#[derive(Clone, Debug, Default)]
struct Range {
    /// Its lives as `(start_ns, index)`, in that order.
    by_start: Vec<(u64, usize)>,
    /// For each prefix of `by_start`: the latest end among its lives.
    latest_end: Vec<u128>,
    /// For each prefix of `by_start`: the newest life's index.
    newest: Vec<usize>,
    /// Its lives not yet unmapped.
    open: BTreeSet<usize>,
    /// The watched device's life unmapped last, with the order of that unmap.
    last_unmapped_watched: Option<(u64, usize)>,
}

impl Range {
    /// Adds life `index`, mapped at `start_ns`.
    fn add(&mut self, lives: &History<MappingLife>, index: usize) {
        let key = (lives[index].start_ns(), index);
        let at = self.by_start.partition_point(|&k| k < key);
        self.by_start.insert(at, key);
        self.latest_end.insert(at, 0);
        self.newest.insert(at, 0);
        if lives[index].unmapped.is_none() {
            self.open.insert(index);
        }
        self.reindex_from(lives, at);
    }

    /// Notes that life `index` was unmapped, the `order`th unmap seen.
    fn close(&mut self, lives: &History<MappingLife>, index: usize, order: u64) {
        self.open.remove(&index);
        if lives[index].device.is_some() {
            self.last_unmapped_watched = Some((order, index));
        }
        let key = (lives[index].start_ns(), index);
        let at = self.by_start.partition_point(|&k| k < key);
        self.reindex_from(lives, at);
    }

    /// Recomputes the prefix maxima from position `at` on.
    fn reindex_from(&mut self, lives: &History<MappingLife>, at: usize) {
        for i in at..self.by_start.len() {
            let index = self.by_start[i].1;
            let (end, newest) = match i.checked_sub(1) {
                Some(before) => (self.latest_end[before], self.newest[before]),
                None => (0, 0),
            };
            self.latest_end[i] = end.max(lives[index].end_ns());
            self.newest[i] = newest.max(index);
        }
    }

    /// Of the lives mapped by `ts_ns`: `None` when one is still mapped at
    /// `ts_ns`, else the newest, if any (all are unmapped by then).
    fn unmapped_by(&self, ts_ns: u64) -> Option<Option<usize>> {
        let mapped = self.by_start.partition_point(|&(start, _)| start <= ts_ns);
        let Some(last) = mapped.checked_sub(1) else {
            return Some(None);
        };
        (self.latest_end[last] <= u128::from(ts_ns)).then_some(Some(self.newest[last]))
    }
}

/// Every mapping life seen, in the order they were mapped or first seen.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MappingHistory {
    lives: History<MappingLife>,
    /// The lives by range: an address is looked up among the ranges that can
    /// hold it, not all of them.
    #[serde(skip)]
    ranges: BTreeMap<(u64, u64), Range>,
    /// The longest range's size.
    #[serde(skip)]
    longest: u64,
    /// How many lives were unmapped.
    #[serde(skip)]
    unmaps: u64,
    /// Map entries waiting for their return.
    #[serde(skip)]
    calls: MapCalls<MapEntry>,
    /// The lives that may still name an event of the log by index: the others
    /// have had theirs forgotten ([`MappingHistory::renumber`]).
    #[serde(skip)]
    indexed: BTreeSet<usize>,
    /// Where the lives' `iounmap`s are kept, shared by every copy.
    #[serde(skip)]
    spill: Spill,
}

impl MappingHistory {
    /// Notes a mapping that existed before the capture started.
    pub fn existing(&mut self, virt: u64, size: u64, phys: u64, owner: Owner) {
        self.add(MappingLife::new(virt, size, Some(phys), owner));
    }

    /// Notes a base an accessor of `device` was seen using, mapped before the
    /// capture where it could not be seen: a one-byte life, as all that is known
    /// is that the base lies inside.
    pub fn learned(&mut self, base: u64, device: String) {
        self.add(MappingLife::new(
            base,
            1,
            None,
            Owner::Device(device.into()),
        ));
    }

    /// Notes a map call's entry on thread `tid`, event `event` of the log, and
    /// whose BAR it maps as far as known there.
    pub fn map_entry(&mut self, tid: u32, phys: u64, size: u64, owner: Owner, event: usize) {
        let call = MapEntry {
            phys,
            size,
            owner,
            event,
        };
        self.calls.enter(tid, call);
    }

    /// Notes a map call's return on thread `tid`: the mapping at `virt` gets the
    /// owner named at the return when `owner` is given (the timelines take the
    /// device the capture gave the return), else the entry's. `None` when no
    /// entry was seen on the thread.
    pub fn map_return(
        &mut self,
        tid: u32,
        virt: u64,
        owner: Option<Owner>,
        event: usize,
        ts_ns: u64,
    ) -> Option<MapReturn> {
        let call = self.calls.leave(tid)?;
        let owner = owner.unwrap_or(call.owner);
        let life = (virt != 0).then(|| {
            self.add(MappingLife {
                mapped: Some(event),
                map_call: Some(call.event),
                mapped_ns: Some(ts_ns),
                ..MappingLife::new(virt, call.size, Some(call.phys), owner.clone())
            })
        });
        Some(MapReturn { owner, life })
    }

    /// Adds a life; returns its index.
    fn add(&mut self, life: MappingLife) -> usize {
        let index = self.lives.len();
        let key = (life.virt.0, life.size);
        self.longest = self.longest.max(life.size);
        if life.mapped.is_some() || life.map_call.is_some() {
            self.indexed.insert(index);
        }
        self.lives.push(life);
        self.ranges.entry(key).or_default().add(&self.lives, index);
        index
    }

    /// Ends life `index` with the `iounmap` at `event`.
    fn close(&mut self, index: usize, event: usize, ts_ns: u64) {
        let life = self.lives.get_mut(index).expect("a life the history holds");
        life.unmapped = Some(event);
        life.unmapped_ns = Some(ts_ns);
        self.indexed.insert(index);
        let key = (life.virt.0, life.size);
        self.unmaps += 1;
        if let Some(range) = self.ranges.get_mut(&key) {
            range.close(&self.lives, index, self.unmaps);
        }
    }

    /// The ranges that hold `addr`.
    fn holding(&self, addr: u64) -> impl Iterator<Item = &Range> {
        let lowest = addr.saturating_sub(self.longest.saturating_sub(1));
        self.ranges
            .range((lowest, 0)..=(addr, u64::MAX))
            .filter(move |((virt, size), _)| (*virt..virt.saturating_add(*size)).contains(&addr))
            .map(|(_, range)| range)
    }

    /// The lives holding `addr` that are not unmapped, oldest first within each
    /// range.
    fn open_holding(&self, addr: u64) -> impl Iterator<Item = usize> + '_ {
        self.holding(addr)
            .flat_map(|range| range.open.iter().copied())
    }

    /// Notes an `iounmap` of `virt` for the timelines: it ends the newest life
    /// holding `virt` (the one the driver got last); a range never seen mapped was
    /// mapped before the capture and is assumed `fallback_size` long. Returns the
    /// life's index.
    pub fn unmap(
        &mut self,
        virt: u64,
        device: Option<Name>,
        fallback_size: u64,
        event: usize,
        ts_ns: u64,
    ) -> usize {
        let index = self.open_holding(virt).max().unwrap_or_else(|| {
            self.add(MappingLife::new(
                virt,
                fallback_size,
                None,
                Owner::from(device),
            ))
        });
        self.close(index, event, ts_ns);
        index
    }

    /// Notes an `iounmap` of `virt` for the device attribution, which must name
    /// the device even for an address it never saw mapped: every mapping of a
    /// device not watched holding `virt` ends, and the oldest watched one (else
    /// the newest of no known device). Returns the device of the watched
    /// mapping ended, else of [`MappingHistory::device_holding`]; a range never
    /// seen mapped gets no life, as nothing is known of its size.
    pub fn unmap_attributed(&mut self, virt: u64, event: usize, ts_ns: u64) -> Option<Name> {
        let open: Vec<usize> = self.open_holding(virt).collect();
        let owner = |index: &usize| self.lives[*index].owner();
        let unwatched: Vec<usize> = open
            .iter()
            .copied()
            .filter(|i| owner(i) == Owner::Unwatched)
            .collect();
        let watched = open
            .iter()
            .copied()
            .filter(|i| matches!(owner(i), Owner::Device(_)))
            .min();
        let unknown = open
            .iter()
            .copied()
            .filter(|i| owner(i) == Owner::Unknown)
            .max();
        for index in unwatched {
            self.close(index, event, ts_ns);
        }
        match watched {
            Some(index) => {
                self.close(index, event, ts_ns);
                self.lives[index].device.clone()
            }
            None => {
                if let Some(index) = unknown {
                    self.close(index, event, ts_ns);
                }
                self.device_holding(virt).map(Name::from)
            }
        }
    }

    /// The watched device whose mapping holds `virt`, for the attribution: the
    /// oldest still mapped (the first the driver made), else the one unmapped
    /// last (an access after unmap must still name its device).
    pub fn device_holding(&self, virt: u64) -> Option<&str> {
        let watched = |index: &usize| self.lives[*index].device.is_some();
        let index = self.open_holding(virt).filter(watched).min().or_else(|| {
            self.holding(virt)
                .filter_map(|range| range.last_unmapped_watched)
                .max()
                .map(|(_, index)| index)
        })?;
        self.lives[index].device.as_deref()
    }

    /// Whether a mapping of a device not watched holds `virt` now.
    pub fn unwatched_holds(&self, virt: u64) -> bool {
        self.open_holding(virt)
            .any(|index| self.lives[index].unwatched)
    }

    /// The mapping `addr` was in and that was unmapped at `ts_ns`, when no live
    /// mapping held it then: an access there touches nothing the driver owns.
    pub fn unmapped_at(&self, addr: u64, ts_ns: u64) -> Option<&MappingLife> {
        let mut latest_unmapped: Option<usize> = None;
        for range in self.holding(addr) {
            latest_unmapped = latest_unmapped.max(range.unmapped_by(ts_ns)?);
        }
        latest_unmapped.map(|index| &self.lives[index])
    }

    /// Keeps the `iounmap` that ended life `index` with the life.
    pub fn keep_unmap(&mut self, index: usize, event: &Event) {
        if let Some(life) = self.lives.get_mut(index) {
            life.unmap_event = Some(self.spill.keep(event.clone()));
        }
    }

    /// The indexes of the events the history still answers with: where each
    /// open life was mapped (a leaked mapping's evidence), and the map calls
    /// waiting for their return.
    pub fn held(&self) -> Vec<usize> {
        let mut held: Vec<usize> = self.calls.pending.values().map(|c| c.event).collect();
        for &index in &self.indexed {
            let life = &self.lives[index];
            if life.unmapped_ns.is_none() {
                held.extend([life.mapped, life.map_call].into_iter().flatten());
            }
        }
        held
    }

    /// Rewrites the event indexes of every life and pending call with
    /// `renumber`, after the log they index changed; a life whose event was
    /// forgotten (`None`) no longer names it.
    pub fn renumber(&mut self, renumber: impl Fn(usize) -> Option<usize>) {
        let mut unindexed = Vec::new();
        for &index in &self.indexed {
            let life = self.lives.get_mut(index).expect("a life the history holds");
            for event in [&mut life.mapped, &mut life.map_call, &mut life.unmapped] {
                *event = event.and_then(&renumber);
            }
            if life.mapped.is_none() && life.map_call.is_none() && life.unmapped.is_none() {
                unindexed.push(index);
            }
        }
        for index in unindexed {
            self.indexed.remove(&index);
        }
        for call in self.calls.pending.values_mut() {
            call.event = renumber(call.event).expect("a pending map call is held");
        }
    }

    /// The life at `index`.
    pub fn get(&self, index: usize) -> &MappingLife {
        &self.lives[index]
    }

    /// Every life, in order.
    pub fn lives(&self) -> &History<MappingLife> {
        &self.lives
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_unmapped_between_iounmap_and_a_new_mapping_of_it() {
        let mut history = MappingHistory::default();
        history.map_entry(7, 0xfeb0_0000, 0x1000, Owner::Unknown, 0);
        history.map_return(7, 0xc000_0000, Some(Owner::Device("d".into())), 1, 10);
        assert!(history.unmapped_at(0xc000_0010, 15).is_none());
        history.unmap(0xc000_0000, Some("d".into()), 0, 2, 20);
        assert!(history.unmapped_at(0xc000_0010, 19).is_none());
        let life = history.unmapped_at(0xc000_0010, 25).unwrap();
        assert_eq!(life.phys, Some(Hex(0xfeb0_0000)));
        // The kernel hands the same range out again: it is mapped once more.
        history.map_entry(8, 0x4000_0000, 0x1000, Owner::Unknown, 2);
        history.map_return(8, 0xc000_0000, Some(Owner::Device("d".into())), 3, 30);
        assert!(history.unmapped_at(0xc000_0010, 35).is_none());
        assert!(history.unmapped_at(0xc000_0010, 25).is_some());
    }

    #[test]
    fn a_return_is_paired_with_its_own_threads_map_entry() {
        let mut history = MappingHistory::default();
        history.map_entry(7, 0xfeb0_0000, 0x1000, Owner::Unknown, 0);
        history.map_entry(8, 0xfec0_0000, 0x2000, Owner::Unknown, 1);
        let life = history
            .map_return(7, 0xc000_0000, None, 2, 10)
            .unwrap()
            .life
            .unwrap();
        assert_eq!(history.get(life).phys, Some(Hex(0xfeb0_0000)));
        assert_eq!(history.get(life).map_call, Some(0));
        // One return per call: a second return on the thread pairs with nothing.
        assert!(history.map_return(7, 0xc000_1000, None, 3, 11).is_none());
        let life = history
            .map_return(8, 0xc000_2000, None, 4, 12)
            .unwrap()
            .life
            .unwrap();
        assert_eq!(history.get(life).size, 0x2000);
        assert_eq!(history.get(life).map_call, Some(1));
    }

    #[test]
    fn a_mapping_from_before_the_capture_gets_the_fallback_size() {
        let mut history = MappingHistory::default();
        let index = history.unmap(0xc000_0000, Some("d".into()), 0x4000, 0, 5);
        assert_eq!(history.get(index).size, 0x4000);
        assert!(history.unmapped_at(0xc000_3ffc, 6).is_some());
        assert!(history.unmapped_at(0xc000_4000, 6).is_none());
        assert!(history.unmapped_at(0xc000_0000, 4).is_none());
    }

    /// What `unmapped_at` answers, by looking at every life.
    fn unmapped_at_by_scan(history: &MappingHistory, addr: u64, ts_ns: u64) -> Option<usize> {
        let holding = || {
            history
                .lives()
                .iter()
                .enumerate()
                .filter(|(_, l)| l.contains(addr))
        };
        let live = |l: &MappingLife| {
            l.mapped_ns.is_none_or(|t| t <= ts_ns) && l.unmapped_ns.is_none_or(|t| ts_ns < t)
        };
        if holding().any(|(_, l)| live(l)) {
            return None;
        }
        holding()
            .filter(|(_, l)| l.unmapped_ns.is_some_and(|t| t <= ts_ns))
            .map(|(i, _)| i)
            .max()
    }

    #[test]
    fn the_indexed_lookup_answers_as_a_scan_of_every_life() {
        // A fixed pseudo-random run of maps, unmaps (some of ranges never seen
        // mapped) and overlapping ranges, asked about at every moment.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut history = MappingHistory::default();
        let virt = |k: u64| 0xc000_0000 + k * 0x800;
        for step in 0..400_u64 {
            let ts = step * 10;
            let (tid, base) = (u32::try_from(next(3)).unwrap(), virt(next(4)));
            match next(3) {
                0 => history.map_entry(tid, 0xfe00_0000, 0x800 << next(2), Owner::Unknown, 0),
                1 => {
                    history.map_return(tid, base, None, 0, ts);
                }
                _ => {
                    history.unmap(base + next(0x800), None, 0x1000, 0, ts);
                }
            }
            for probe in 0..6 {
                let addr = virt(probe) + 0x10;
                for at in [ts / 2, ts, ts + 5] {
                    assert_eq!(
                        history.unmapped_at(addr, at).map(std::ptr::from_ref),
                        unmapped_at_by_scan(&history, addr, at)
                            .map(|i| std::ptr::from_ref(history.get(i))),
                        "step {step}, {addr:#x} at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn attribution_names_the_oldest_live_device_mapping_then_the_last_unmapped() {
        let mut history = MappingHistory::default();
        history.existing(0xc000_0000, 0x4000, 0xfeb0_0000, Owner::Device("a".into()));
        history.existing(0xc000_0000, 0x1000, 0xfeb8_0000, Owner::Unwatched);
        history.learned(0xc000_0100, "b".into());
        assert_eq!(history.device_holding(0xc000_0100), Some("a"));
        assert!(history.unwatched_holds(0xc000_0010));
        // An unmap ends the other device's mapping and the oldest watched one.
        assert_eq!(
            history.unmap_attributed(0xc000_0100, 1, 10).as_deref(),
            Some("a")
        );
        assert!(!history.unwatched_holds(0xc000_0010));
        assert_eq!(history.device_holding(0xc000_0100), Some("b"));
        assert_eq!(
            history.unmap_attributed(0xc000_0100, 2, 20).as_deref(),
            Some("b")
        );
        // Unmapped all: the one unmapped last names the device.
        assert_eq!(history.device_holding(0xc000_0100), Some("b"));
        assert_eq!(history.device_holding(0xc000_0200), Some("a"));
        // An unmap of an address never seen mapped adds nothing.
        let lives = history.lives().len();
        assert_eq!(history.unmap_attributed(0xd000_0000, 3, 30), None);
        assert_eq!(history.lives().len(), lives);
    }

    #[test]
    fn a_map_return_keeps_the_entrys_owner_unless_the_return_names_one() {
        let mut history = MappingHistory::default();
        history.map_entry(7, 0xfeb0_0000, 0x1000, Owner::Unwatched, 0);
        let made = history.map_return(7, 0xc000_0000, None, 1, 10).unwrap();
        assert_eq!(made.owner, Owner::Unwatched);
        assert!(history.get(made.life.unwrap()).unwatched);
        history.map_entry(7, 0xfeb0_0000, 0x1000, Owner::Unknown, 2);
        let made = history
            .map_return(7, 0, Some(Owner::Device("d".into())), 3, 11)
            .unwrap();
        assert_eq!((made.owner, made.life), (Owner::Device("d".into()), None));
    }
}
