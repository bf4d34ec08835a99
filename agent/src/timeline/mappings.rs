//! The life of every MMIO mapping a capture shows: where it was mapped, from which
//! physical address, when it was unmapped. Rules ask it whether an address was
//! unmapped at a moment. [`MapCalls`] pairs a map call with its return, for this
//! history and for the device attribution alike.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::event::Hex;

/// One `ioremap`…`iounmap` life of a virtual range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MappingLife {
    /// First virtual address.
    pub virt: Hex,
    /// Length in bytes (for a mapping made before the capture: the device's
    /// largest BAR, the best bound known).
    pub size: u64,
    /// The physical address mapped, when the `ioremap` was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phys: Option<Hex>,
    /// The watched device it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Index of the `ioremap` return in the analysis' event log; `None` when it was
    /// mapped before the capture.
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
}

impl MappingLife {
    /// Whether virtual address `addr` lies in the range.
    pub fn contains(&self, addr: u64) -> bool {
        (self.virt.0..self.virt.0.saturating_add(self.size)).contains(&addr)
    }

    /// Whether the range was mapped at `ts_ns` (a mapping from before the capture
    /// counts as mapped from the start).
    fn live_at(&self, ts_ns: u64) -> bool {
        self.mapped_ns.is_none_or(|t| t <= ts_ns) && self.unmapped_ns.is_none_or(|t| ts_ns < t)
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
#[derive(Clone, Copy, Debug)]
struct MapEntry {
    phys: u64,
    size: u64,
    /// Its index in the event log.
    event: usize,
}

/// Every mapping life of a capture, in the order they were mapped or first seen.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MappingHistory {
    lives: Vec<MappingLife>,
    /// The lives by first virtual address, each list in the order of `lives`: an
    /// address is looked up among the ranges that can hold it, not all of them.
    #[serde(skip)]
    by_virt: BTreeMap<u64, Vec<usize>>,
    /// The longest range's size.
    #[serde(skip)]
    longest: u64,
    /// `ioremap` entries waiting for their return.
    #[serde(skip)]
    calls: MapCalls<MapEntry>,
}

impl MappingHistory {
    /// Notes a mapping that existed before the capture started.
    pub fn existing(&mut self, virt: u64, size: u64, phys: u64, device: &str) {
        self.add(MappingLife {
            virt: Hex(virt),
            size,
            phys: Some(Hex(phys)),
            device: Some(device.to_owned()),
            mapped: None,
            map_call: None,
            mapped_ns: None,
            unmapped: None,
            unmapped_ns: None,
        });
    }

    /// Notes an `ioremap` entry on thread `tid`, event `event` of the log.
    pub fn map_entry(&mut self, tid: u32, phys: u64, size: u64, event: usize) {
        self.calls.enter(tid, MapEntry { phys, size, event });
    }

    /// Notes an `ioremap` return on thread `tid`; returns the new life's index.
    pub fn map_return(
        &mut self,
        tid: u32,
        virt: u64,
        device: Option<String>,
        event: usize,
        ts_ns: u64,
    ) -> Option<usize> {
        let call = self.calls.leave(tid)?;
        if virt == 0 {
            return None;
        }
        Some(self.add(MappingLife {
            virt: Hex(virt),
            size: call.size,
            phys: Some(Hex(call.phys)),
            device,
            mapped: Some(event),
            map_call: Some(call.event),
            mapped_ns: Some(ts_ns),
            unmapped: None,
            unmapped_ns: None,
        }))
    }

    /// Adds a life; returns its index.
    fn add(&mut self, life: MappingLife) -> usize {
        let index = self.lives.len();
        self.longest = self.longest.max(life.size);
        self.by_virt.entry(life.virt.0).or_default().push(index);
        self.lives.push(life);
        index
    }

    /// Notes an `iounmap` of `virt`; a range never seen mapped was mapped before the
    /// capture and is assumed `fallback_size` long. Returns the life's index.
    pub fn unmap(
        &mut self,
        virt: u64,
        device: Option<String>,
        fallback_size: u64,
        event: usize,
        ts_ns: u64,
    ) -> usize {
        let live = self
            .lives
            .iter()
            .rposition(|l| l.unmapped.is_none() && l.contains(virt));
        let index = live.unwrap_or_else(|| {
            self.add(MappingLife {
                virt: Hex(virt),
                size: fallback_size,
                phys: None,
                device,
                mapped: None,
                map_call: None,
                mapped_ns: None,
                unmapped: None,
                unmapped_ns: None,
            })
        });
        let life = &mut self.lives[index];
        life.unmapped = Some(event);
        life.unmapped_ns = Some(ts_ns);
        index
    }

    /// The mapping `addr` was in and that was unmapped at `ts_ns`, when no live
    /// mapping held it then: an access there touches nothing the driver owns.
    pub fn unmapped_at(&self, addr: u64, ts_ns: u64) -> Option<&MappingLife> {
        let lowest = addr.saturating_sub(self.longest.saturating_sub(1));
        let mut latest_unmapped: Option<usize> = None;
        for lives in self.by_virt.range(lowest..=addr).map(|(_, lives)| lives) {
            // Newest first: the life that holds the address now is usually the
            // newest of its range.
            for &index in lives.iter().rev() {
                let life = &self.lives[index];
                if !life.contains(addr) {
                    continue;
                }
                if life.live_at(ts_ns) {
                    return None;
                }
                if life.unmapped_ns.is_some_and(|t| t <= ts_ns) {
                    latest_unmapped = latest_unmapped.max(Some(index));
                }
            }
        }
        latest_unmapped.map(|index| &self.lives[index])
    }

    /// The life at `index`.
    pub fn get(&self, index: usize) -> &MappingLife {
        &self.lives[index]
    }

    /// Every life, in order.
    pub fn lives(&self) -> &[MappingLife] {
        &self.lives
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_unmapped_between_iounmap_and_a_new_mapping_of_it() {
        let mut history = MappingHistory::default();
        history.map_entry(7, 0xfeb0_0000, 0x1000, 0);
        history.map_return(7, 0xc000_0000, Some("d".into()), 1, 10);
        assert!(history.unmapped_at(0xc000_0010, 15).is_none());
        history.unmap(0xc000_0000, Some("d".into()), 0, 2, 20);
        assert!(history.unmapped_at(0xc000_0010, 19).is_none());
        let life = history.unmapped_at(0xc000_0010, 25).unwrap();
        assert_eq!(life.phys, Some(Hex(0xfeb0_0000)));
        // The kernel hands the same range out again: it is mapped once more.
        history.map_entry(8, 0x4000_0000, 0x1000, 2);
        history.map_return(8, 0xc000_0000, Some("d".into()), 3, 30);
        assert!(history.unmapped_at(0xc000_0010, 35).is_none());
        assert!(history.unmapped_at(0xc000_0010, 25).is_some());
    }

    #[test]
    fn a_return_is_paired_with_its_own_threads_map_entry() {
        let mut history = MappingHistory::default();
        history.map_entry(7, 0xfeb0_0000, 0x1000, 0);
        history.map_entry(8, 0xfec0_0000, 0x2000, 1);
        let life = history.map_return(7, 0xc000_0000, None, 2, 10).unwrap();
        assert_eq!(history.get(life).phys, Some(Hex(0xfeb0_0000)));
        assert_eq!(history.get(life).map_call, Some(0));
        // One return per call: a second return on the thread pairs with nothing.
        assert!(history.map_return(7, 0xc000_1000, None, 3, 11).is_none());
        let life = history.map_return(8, 0xc000_2000, None, 4, 12).unwrap();
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
}
