//! Follows events to their PCI device.
//!
//! Each kind of event names its device differently (what a function probe does to
//! the MMIO mappings comes from the capture's probe table, not its name):
//! - `ioremap` by the physical address it maps, matched against the devices' BARs
//!   (current ones first, then any they had before a move), and its return by the
//!   same thread's entry; the mapping it creates is remembered;
//! - `iounmap` and MMIO accessors by a virtual address inside a mapping (live, or
//!   already unmapped: an access after unmap must still name its device). Mappings
//!   made before recording started come from `/proc/vmallocinfo` when the kernel
//!   shows its addresses; otherwise an accessor's base is learned the first time it
//!   runs inside an IRQ handler or ioctl of a known device, or when the accessor's
//!   module is the driver of exactly one watched device (accessors read the
//!   driver's one stored base);
//! - IRQ handler entry/exit by the IRQ number;
//! - ALSA ioctls by the device number of the file they were issued on;
//! - kernel page faults by the mapping the faulting address lies in;
//! - other function probes by the ioctl or IRQ handler they run inside, and function
//!   exits by their entry.
//!
//! When a physical address, IRQ or device number matches nothing, sysfs is read
//! again once for it (BARs and IRQs change at rescan); a key that still matches
//! nothing is not retried until the device set changes.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};

use super::{Bar, PciDevice, vmalloc::IoMapping};
use crate::{
    event::{BarRange, DevNum, Event, EventData, Name, SYSFS_PROBE},
    probe_table::{MappingOp, ProbeStatus},
    timeline::{
        mappings::{MappingHistory, Owner},
        probes::ProbeIndex,
    },
};

/// Which devices events may be attributed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Watch {
    /// These PCI addresses (`--device`).
    Devices(Vec<String>),
    /// Devices bound to one of these drivers (the loaded profiles' drivers).
    Drivers(Vec<String>),
    /// Every device with a driver.
    AllBound,
}

impl Watch {
    fn admits(&self, device: &PciDevice) -> bool {
        match self {
            Watch::Devices(bdfs) => bdfs.contains(&device.bdf),
            Watch::Drivers(drivers) => device
                .driver
                .as_ref()
                .is_some_and(|driver| drivers.contains(driver)),
            Watch::AllBound => device.driver.is_some(),
        }
    }
}

/// What is known of one watched device, across removals and rescans.
#[derive(Clone, Debug, Default)]
struct Known {
    /// The driver last seen bound to it.
    driver: Option<String>,
    /// Its BARs as last read.
    bars: Vec<Bar>,
    /// BARs it had before, newest first: a late access may use an old address.
    old_bars: Vec<Bar>,
    irqs: Vec<u32>,
    /// IRQs it had before: sysfs is read after the fact, so events of a vector
    /// the device has just given up (a suspend, a rescan) still arrive.
    old_irqs: Vec<u32>,
    char_devs: Vec<DevNum>,
    /// Device files it had before: ALSA disconnects a card's files on remove, and
    /// the ioctls still issued on them (routed to ALSA's stubs) are the device's.
    old_char_devs: Vec<DevNum>,
    /// Whether the last sysfs read listed it.
    present: bool,
    /// Whether a driver was bound to it at the last read.
    bound: bool,
}

impl Known {
    /// How the capture records this device's sysfs state.
    fn state(&self) -> EventData {
        EventData::DeviceState {
            present: self.present,
            driver: (self.present && self.bound)
                .then(|| self.driver.clone())
                .flatten(),
            bars: self.bars.iter().copied().map(BarRange::from).collect(),
        }
    }
}

/// A key that matched no device, remembered so sysfs is not re-read for it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Phys(u64),
    Irq(u32),
    Dev(DevNum),
}

/// The attribution state for one recording.
#[derive(Debug)]
pub struct DeviceMap {
    watch: Watch,
    devices: BTreeMap<String, Known>,
    /// Every mapping seen, with whose BAR it maps, and the map calls in flight.
    mappings: MappingHistory,
    /// How many events were attributed: the index of the next in the history.
    attributed: usize,
    /// What each probe does to the MMIO mappings.
    probes: ProbeIndex,
    /// The device of each thread's ALSA ioctl in flight.
    ioctls: FxHashMap<u32, Option<String>>,
    /// The device of each CPU's IRQ handler in flight.
    handlers: FxHashMap<u32, Option<String>>,
    /// The device of each function entry waiting for its exit, by thread and name.
    calls: FxHashMap<(u32, Name), Option<String>>,
    /// Keys sysfs was re-read for without a match, until the device set changes.
    tried: FxHashSet<Key>,
    /// Counts the sysfs readings that changed something.
    generation: u64,
    /// BARs of the devices not watched, so their mappings are known as theirs.
    other_bars: Vec<Bar>,
    /// Accessor bases seen inside mappings of devices not watched, all reported
    /// so far.
    ignored: FxHashSet<u64>,
    /// Those not yet taken by [`DeviceMap::take_ignored_bases`].
    newly_ignored: Vec<u64>,
    /// Watched devices sysfs showed differently, not yet taken by
    /// [`DeviceMap::take_changes`].
    changes: Vec<DeviceChange>,
}

/// A watched device as a sysfs reading showed it differently from the one before:
/// the capture records it, so a replay knows the device's BARs at each moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceChange {
    /// Its PCI address.
    pub bdf: String,
    /// What sysfs showed.
    pub state: EventData,
}

impl DeviceChange {
    /// The change as the capture records it: a sysfs state event at the time (and
    /// CPU) of the event that made barwatch read sysfs, or of the end.
    pub fn into_event(self, ts_ns: u64, cpu: u32) -> Event {
        Event {
            ts_ns,
            cpu,
            pid: 0,
            tid: 0,
            comm: "barwatch".into(),
            probe: SYSFS_PROBE.into(),
            device: Some(self.bdf.into()),
            data: self.state,
        }
    }
}

impl DeviceMap {
    /// Starts from a sysfs reading and the mappings that already existed.
    pub fn new(watch: Watch, devices: Vec<PciDevice>, mappings: &[IoMapping]) -> Self {
        let mut map = DeviceMap {
            watch,
            devices: BTreeMap::new(),
            mappings: MappingHistory::default(),
            attributed: 0,
            probes: ProbeIndex::default(),
            ioctls: FxHashMap::default(),
            handlers: FxHashMap::default(),
            calls: FxHashMap::default(),
            tried: FxHashSet::default(),
            generation: 0,
            other_bars: Vec::new(),
            ignored: FxHashSet::default(),
            newly_ignored: Vec::new(),
            changes: Vec::new(),
        };
        map.update(devices);
        // The capture's header lists the devices as they are at the start.
        map.changes.clear();
        // Mappings of no known device are left out: nothing asks about them.
        for m in mappings {
            match map.owner_of(map.bar_owner(m.phys), m.phys) {
                Owner::Unknown => {}
                owner => map.mappings.existing(m.virt, m.size, m.phys, owner),
            }
        }
        map
    }

    /// Takes in the recording's probe table (again after a module load attached
    /// more points): it says which probes map and unmap. Until then, probes map
    /// and unmap as the built-in profiles say of their name.
    pub fn index_probes(&mut self, table: &[ProbeStatus]) {
        self.probes = ProbeIndex::new(table);
    }

    /// The watched devices' PCI addresses, in order.
    pub fn watched(&self) -> impl Iterator<Item = &str> {
        self.devices.keys().map(String::as_str)
    }

    /// Whether every device with a driver is watched (no profile names drivers and
    /// no `--device` was given), so filtering IRQs by device would filter nothing.
    pub fn watches_every_bound_device(&self) -> bool {
        self.watch == Watch::AllBound
    }

    /// Changes whenever a sysfs reading changed what is known (new BARs, vectors
    /// or device files), so callers can refresh what they derived from it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The IRQs of the watched devices as last read.
    pub fn irqs(&self) -> Vec<u32> {
        let mut irqs: Vec<u32> = self
            .devices
            .values()
            .flat_map(|k| k.irqs.iter().copied())
            .collect();
        irqs.sort_unstable();
        irqs.dedup();
        irqs
    }

    /// Takes in a fresh sysfs reading; returns whether anything changed.
    pub fn update(&mut self, devices: Vec<PciDevice>) -> bool {
        let before: BTreeMap<String, EventData> = self
            .devices
            .iter()
            .map(|(bdf, known)| (bdf.clone(), known.state()))
            .collect();
        let changed = self.take_reading(devices);
        for (bdf, known) in &self.devices {
            let state = known.state();
            if before.get(bdf) != Some(&state) {
                self.changes.push(DeviceChange {
                    bdf: bdf.clone(),
                    state,
                });
            }
        }
        changed
    }

    /// The watched devices sysfs showed differently since the last call, for the
    /// capture.
    pub fn take_changes(&mut self) -> Vec<DeviceChange> {
        std::mem::take(&mut self.changes)
    }

    fn take_reading(&mut self, devices: Vec<PciDevice>) -> bool {
        let mut changed = false;
        for known in self.devices.values_mut() {
            known.present = false;
        }
        for device in devices {
            if !self.devices.contains_key(&device.bdf) && !self.watch.admits(&device) {
                for bar in device.bars {
                    if !self.other_bars.contains(&bar) {
                        self.other_bars.push(bar);
                    }
                }
                continue;
            }
            let known = self.devices.entry(device.bdf.clone()).or_default();
            if known.bars != device.bars {
                let old = std::mem::replace(&mut known.bars, device.bars);
                known.old_bars.splice(0..0, old);
                changed = true;
            }
            changed |= known.irqs != device.irqs || known.char_devs != device.char_devs;
            let given_up: Vec<u32> = known
                .irqs
                .iter()
                .filter(|irq| !device.irqs.contains(irq))
                .copied()
                .collect();
            known.old_irqs.retain(|irq| !device.irqs.contains(irq));
            known.old_irqs.extend(given_up);
            known.irqs = device.irqs;
            known.bound = device.driver.is_some();
            if device.driver.is_some() {
                known.driver = device.driver;
            }
            let gone_files: Vec<DevNum> = known
                .char_devs
                .iter()
                .filter(|dev| !device.char_devs.contains(dev))
                .copied()
                .collect();
            known
                .old_char_devs
                .retain(|dev| !device.char_devs.contains(dev));
            known.old_char_devs.extend(gone_files);
            known.char_devs = device.char_devs;
            known.present = true;
        }
        if changed {
            self.tried.clear();
            self.generation += 1;
        }
        changed
    }

    /// The watched device `event` concerns, updating what later events need;
    /// `refresh` reads sysfs again when a key matches nothing.
    pub fn attribute(
        &mut self,
        event: &Event,
        refresh: &mut dyn FnMut() -> Option<Vec<PciDevice>>,
    ) -> Option<String> {
        let tid = event.tid;
        let index = self.attributed;
        self.attributed += 1;
        let mapping = match &event.data {
            EventData::FuncEntry { .. } | EventData::FuncExit { .. } => {
                self.probes.mapping(&event.probe)
            }
            _ => None,
        };
        match (&event.data, mapping) {
            (EventData::FuncEntry { args, .. }, Some(MappingOp::MapEntry)) => {
                let (phys, size) = (args[0].0, args[1].0);
                // A watched device's BAR being mapped is a probe, often after a
                // rescan that moved BARs: read sysfs, so the capture has the BARs
                // the mapping is judged against.
                if self.owner(Key::Phys(phys)).is_some()
                    && let Some(devices) = refresh()
                {
                    self.update(devices);
                }
                let device = self.lookup(Key::Phys(phys), refresh);
                let owner = self.owner_of(device.clone(), phys);
                self.mappings.map_entry(tid, phys, size, owner, index);
                device
            }
            (EventData::FuncExit { ret, .. }, Some(MappingOp::MapReturn)) => {
                let made = self
                    .mappings
                    .map_return(tid, ret.0, None, index, event.ts_ns)?;
                if made.life.is_some() {
                    // A new mapping here: a base ignored before is no longer known to
                    // be another device's (the kernel forgets it too).
                    self.ignored.remove(&ret.0);
                }
                match made.owner {
                    Owner::Device(bdf) => Some(bdf.into()),
                    Owner::Unwatched | Owner::Unknown => None,
                }
            }
            (EventData::FuncEntry { args, .. }, Some(MappingOp::Unmap)) => self
                .mappings
                .unmap_attributed(args[0].0, index, event.ts_ns)
                .map(String::from),
            (
                EventData::FuncEntry {
                    function,
                    base,
                    module,
                    ..
                },
                _,
            ) => {
                let device = match base {
                    Some(base) => self.base_owner(base.0, module.as_deref(), event),
                    None => self.context(event),
                };
                self.calls.insert((tid, function.clone()), device.clone());
                device
            }
            (EventData::FuncExit { function, .. }, _) => {
                self.calls.remove(&(tid, function.clone()))?
            }
            (EventData::IoctlEnter { dev, .. }, _) => {
                let device = dev.and_then(|dev| self.lookup(Key::Dev(dev), refresh));
                self.ioctls.insert(tid, device.clone());
                device
            }
            (EventData::IoctlExit { dev, .. }, _) => {
                let device = self.ioctls.remove(&tid).flatten();
                device.or_else(|| dev.and_then(|dev| self.lookup(Key::Dev(dev), refresh)))
            }
            (EventData::IrqHandlerEntry { irq, .. }, _) => {
                let device = self.lookup(Key::Irq(*irq), refresh);
                self.handlers.insert(event.cpu, device.clone());
                device
            }
            (EventData::IrqHandlerExit { irq, .. }, _) => self
                .handlers
                .remove(&event.cpu)
                .flatten()
                .or_else(|| self.owner(Key::Irq(*irq))),
            (EventData::PageFault { address, .. }, _) => self.mapping_owner(address.0),
            (EventData::Tracepoint { base, .. }, _) => match base {
                Some(base) => self.base_owner(base.0, None, event),
                None => self.context(event),
            },
            (EventData::WorkStart { .. } | EventData::WorkEnd { .. }, _) => None,
            (EventData::ModuleLoad { .. } | EventData::DeviceState { .. }, _) => None,
        }
    }

    /// The watched device MMIO `base` belongs to, learning it when it can; a base
    /// known to be another device's is noted for the kernel's base filter.
    fn base_owner(&mut self, base: u64, module: Option<&str>, event: &Event) -> Option<String> {
        let device = self
            .mapping_owner(base)
            .or_else(|| self.learn_base(base, module, event));
        let other = self.mappings.unwatched_holds(base);
        if device.is_none() && other && self.ignored.insert(base) {
            self.newly_ignored.push(base);
        }
        device
    }

    /// The MMIO bases found to be those of devices not watched since the last call:
    /// the kernel can stop recording accessor calls on them.
    pub fn take_ignored_bases(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.newly_ignored)
    }

    /// Whether physical address `phys` lies in a BAR of a device not watched.
    fn other_bar(&self, phys: u64) -> bool {
        self.other_bars.iter().any(|bar| bar.contains(phys))
    }

    /// Whose BAR a mapping of `phys` maps: the watched `device` found for it,
    /// else a device not watched, else nobody known.
    fn owner_of(&self, device: Option<String>, phys: u64) -> Owner {
        match device {
            Some(bdf) => Owner::Device(bdf.into()),
            None if self.other_bar(phys) => Owner::Unwatched,
            None => Owner::Unknown,
        }
    }

    /// Learns that MMIO `base` belongs to the device of the IRQ handler or ioctl
    /// `event` runs inside, or else to the one watched device whose driver is the
    /// accessor's `module`.
    fn learn_base(&mut self, base: u64, module: Option<&str>, event: &Event) -> Option<String> {
        let device = self.context(event).or_else(|| {
            let mut bound = self
                .devices
                .iter()
                .filter(|(_, known)| module.is_some() && known.driver.as_deref() == module);
            match (bound.next(), bound.next()) {
                (Some((bdf, _)), None) => Some(bdf.clone()),
                _ => None,
            }
        })?;
        self.mappings.learned(base, device.clone());
        Some(device)
    }

    /// The device of the ioctl or IRQ handler `event` runs inside, if any.
    fn context(&self, event: &Event) -> Option<String> {
        self.ioctls
            .get(&event.tid)
            .cloned()
            .flatten()
            .or_else(|| self.handlers.get(&event.cpu).cloned().flatten())
    }

    /// The owner of `key`, reading sysfs once more when nothing matches.
    fn lookup(
        &mut self,
        key: Key,
        refresh: &mut dyn FnMut() -> Option<Vec<PciDevice>>,
    ) -> Option<String> {
        if let Some(device) = self.owner(key) {
            return Some(device);
        }
        if self.tried.insert(key)
            && let Some(devices) = refresh()
            && self.update(devices)
        {
            self.tried.insert(key);
            return self.owner(key);
        }
        None
    }

    /// The watched device `key` names; present devices win over removed ones.
    fn owner(&self, key: Key) -> Option<String> {
        let matches = |known: &Known| match key {
            Key::Phys(phys) => known.bars.iter().any(|bar| bar.contains(phys)),
            Key::Irq(irq) => known.irqs.contains(&irq),
            Key::Dev(dev) => known.char_devs.contains(&dev),
        };
        let pick = |present: bool| {
            self.devices
                .iter()
                .find(|(_, known)| known.present == present && matches(known))
                .map(|(bdf, _)| bdf.clone())
        };
        let had = |known: &Known| match key {
            Key::Phys(phys) => known.old_bars.iter().any(|bar| bar.contains(phys)),
            Key::Irq(irq) => known.old_irqs.contains(&irq),
            Key::Dev(dev) => known.old_char_devs.contains(&dev),
        };
        pick(true).or_else(|| pick(false)).or_else(|| {
            self.devices
                .iter()
                .find(|(_, known)| had(known))
                .map(|(bdf, _)| bdf.clone())
        })
    }

    /// The device of the mapping containing `virt`: live ones first, then the most
    /// recently unmapped.
    fn mapping_owner(&self, virt: u64) -> Option<String> {
        self.mappings.device_holding(virt).map(str::to_owned)
    }

    /// Looks up the device whose BAR contains `phys` without reading sysfs.
    fn bar_owner(&self, phys: u64) -> Option<String> {
        self.owner(Key::Phys(phys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Story;

    const HDA: &str = "0000:00:04.0";
    const OLD_BAR: u64 = 0xfebf_0000;
    const NEW_BAR: u64 = 0xfebf_8000;
    const OLD_VIRT: u64 = 0xffff_c900_0030_0000;
    const NEW_VIRT: u64 = 0xffff_c900_0040_0000;
    const PCM: DevNum = DevNum {
        major: 116,
        minor: 3,
    };

    fn hda(bar: u64, irq: u32) -> PciDevice {
        PciDevice {
            bdf: HDA.into(),
            driver: Some("snd_hda_intel".into()),
            bars: vec![Bar {
                index: 0,
                start: bar,
                end: bar + 0x3fff,
            }],
            irqs: vec![irq],
            cards: vec![0],
            char_devs: vec![PCM],
        }
    }

    fn network_card() -> PciDevice {
        PciDevice {
            bdf: "0000:00:03.0".into(),
            driver: Some("e1000".into()),
            bars: vec![Bar {
                index: 0,
                start: 0xfeb8_0000,
                end: 0xfeb9_ffff,
            }],
            irqs: vec![11],
            cards: Vec::new(),
            char_devs: Vec::new(),
        }
    }

    /// Attributes every event of `story`, answering re-reads of sysfs from `after`.
    fn attribute(map: &mut DeviceMap, story: Story, after: &[PciDevice]) -> Vec<Option<String>> {
        story
            .0
            .iter()
            .map(|event| map.attribute(event, &mut || Some(after.to_vec())))
            .collect()
    }

    fn watching_hda(devices: Vec<PciDevice>) -> DeviceMap {
        let existing = [IoMapping {
            virt: OLD_VIRT,
            size: 0x5000,
            phys: OLD_BAR,
        }];
        DeviceMap::new(
            Watch::Drivers(vec!["snd_hda_intel".into()]),
            devices,
            &existing,
        )
    }

    #[test]
    fn a_remove_and_rescan_that_moves_bar0_keeps_every_event_on_the_device() {
        let mut map = watching_hda(vec![hda(OLD_BAR, 27), network_card()]);
        let story = Story::default()
            .enters(10, 7, "azx_stop_chip", [0; 4], Some(OLD_VIRT))
            .enters(11, 7, "iounmap", [OLD_VIRT, 0, 0, 0], None)
            // The device is gone from sysfs, then rescanned at a new address.
            .enters(20, 7, "ioremap", [NEW_BAR, 0x4000, 0, 0], None)
            .returns(21, 7, "ioremap", NEW_VIRT)
            .enters(
                30,
                9,
                "snd_hdac_bus_send_cmd",
                [0; 4],
                Some(NEW_VIRT + 0x60),
            );
        let seen = attribute(&mut map, story, &[hda(NEW_BAR, 24), network_card()]);
        assert_eq!(seen, vec![Some(HDA.to_owned()); 5]);
    }

    #[test]
    fn an_access_or_fault_after_unmap_still_names_its_device() {
        let mut map = watching_hda(vec![hda(OLD_BAR, 27)]);
        let story = Story::default()
            .enters(11, 7, "iounmap", [OLD_VIRT, 0, 0, 0], None)
            .enters(12, 8, "azx_interrupt", [27, 0, 0, 0], Some(OLD_VIRT))
            .on_thread(
                13,
                8,
                EventData::PageFault {
                    address: crate::event::Hex(OLD_VIRT + 0x24),
                    ip: crate::event::Hex(0),
                    function: None,
                    write: false,
                    stack: Vec::new(),
                },
                "exceptions:page_fault_kernel",
            );
        assert_eq!(
            attribute(&mut map, story, &[]),
            vec![Some(HDA.to_owned()); 3]
        );
    }

    #[test]
    fn irqs_follow_sysfs_after_a_rescan_changes_the_vector() {
        let mut map = watching_hda(vec![hda(OLD_BAR, 27)]);
        let story = Story::default()
            .vector_enters(1, 0, 27)
            .vector_enters(2, 0, 24)
            .vector_enters(3, 0, 11);
        let seen = attribute(&mut map, story, &[hda(NEW_BAR, 24), network_card()]);
        assert_eq!(seen, [Some(HDA.to_owned()), Some(HDA.to_owned()), None]);
    }

    #[test]
    fn a_vector_given_up_before_sysfs_was_read_still_names_its_device() {
        let mut map = watching_hda(vec![hda(OLD_BAR, 27)]);
        // Resume moved the device to vector 24; the network card's IRQ made
        // barwatch re-read sysfs before the last vector-27 events were processed.
        let story = Story::default()
            .vector_enters(1, 0, 11)
            .vector_enters(2, 1, 27)
            .vector_enters(3, 0, 24);
        let seen = attribute(&mut map, story, &[hda(OLD_BAR, 24), network_card()]);
        assert_eq!(seen, [None, Some(HDA.to_owned()), Some(HDA.to_owned())]);
    }

    fn mapping_probe(name: &str, mapping: MappingOp) -> ProbeStatus {
        ProbeStatus {
            name: name.into(),
            role: crate::probe_table::Role::Mapping,
            attached: Some(crate::probe_table::Mechanism::Kprobe),
            attempts: Vec::new(),
            note: None,
            marks: None,
            mapping: Some(mapping),
            carries_ioctls: false,
        }
    }

    #[test]
    fn the_probe_table_not_the_function_name_says_what_maps_and_unmaps() {
        let mut map = watching_hda(vec![hda(OLD_BAR, 27)]);
        map.index_probes(&[
            mapping_probe("kprobe:hda_map_bar", MappingOp::MapEntry),
            mapping_probe("kretprobe:hda_map_bar", MappingOp::MapReturn),
            mapping_probe("kprobe:hda_unmap_bar", MappingOp::Unmap),
        ]);
        let story = Story::default()
            .enters(1, 7, "hda_map_bar", [OLD_BAR, 0x4000, 0, 0], None)
            .returns(2, 7, "hda_map_bar", NEW_VIRT)
            // An accessor outside any handler or ioctl: only the mapping names it.
            .enters(3, 9, "azx_readl", [0; 4], Some(NEW_VIRT + 0x10))
            .enters(4, 7, "hda_unmap_bar", [NEW_VIRT, 0, 0, 0], None)
            .enters(5, 9, "azx_readl", [0; 4], Some(NEW_VIRT + 0x10));
        let hda = Some(HDA.to_owned());
        assert_eq!(
            attribute(&mut map, story, &[]),
            [hda.clone(), hda.clone(), hda.clone(), hda.clone(), hda]
        );
    }

    #[test]
    fn alsa_ioctls_and_the_functions_inside_them_name_the_card_device() {
        let mut map = watching_hda(vec![hda(OLD_BAR, 27)]);
        let story = Story::default()
            .ioctl_enters(1, 50, PCM)
            .enters(2, 50, "snd_pcm_ioctl", [0; 4], None)
            .returns(3, 50, "snd_pcm_ioctl", 0)
            .ioctl_exits(4, 50, PCM)
            .enters(5, 50, "snd_pcm_ioctl", [0; 4], None);
        let hda = Some(HDA.to_owned());
        assert_eq!(
            attribute(&mut map, story, &[]),
            [hda.clone(), hda.clone(), hda.clone(), hda, None]
        );
    }

    #[test]
    fn unwatched_devices_are_not_named_and_sysfs_is_read_once_per_unknown_key() {
        let mut map = watching_hda(vec![hda(OLD_BAR, 27), network_card()]);
        assert_eq!(map.watched().collect::<Vec<_>>(), [HDA]);
        let story = Story::default()
            .enters(1, 7, "ioremap", [0xfeb8_0000, 0x1000, 0, 0], None)
            .returns(2, 7, "ioremap", 0xffff_c900_0050_0000)
            .enters(3, 7, "ioremap", [0xfeb8_0000, 0x1000, 0, 0], None);
        let mut reads = 0;
        let seen: Vec<Option<String>> = story
            .0
            .iter()
            .map(|event| {
                map.attribute(event, &mut || {
                    reads += 1;
                    Some(vec![hda(OLD_BAR, 27), network_card()])
                })
            })
            .collect();
        assert_eq!(seen, [None, None, None]);
        assert_eq!(reads, 1);
    }

    #[test]
    fn a_base_mapped_before_the_start_is_learned_from_its_irq_handler() {
        let mut map = DeviceMap::new(
            Watch::Drivers(vec!["snd_hda_intel".into()]),
            vec![hda(OLD_BAR, 27)],
            &[],
        );
        let story = Story::default()
            .enters(1, 9, "snd_hdac_bus_send_cmd", [0; 4], Some(OLD_VIRT))
            .vector_enters(2, 0, 27)
            .enters(3, 0, "azx_interrupt", [27, 0, 0, 0], Some(OLD_VIRT))
            .enters(4, 9, "snd_hdac_bus_send_cmd", [0; 4], Some(OLD_VIRT));
        let hda = Some(HDA.to_owned());
        assert_eq!(
            attribute(&mut map, story, &[]),
            [None, hda.clone(), hda.clone(), hda]
        );
    }

    #[test]
    fn a_base_mapped_before_the_start_is_learned_from_the_drivers_own_module() {
        let fixture = PciDevice {
            bdf: "0000:00:05.0".into(),
            driver: Some("barwatch_fixture".into()),
            ..hda(OLD_BAR, 27)
        };
        let mut map = DeviceMap::new(
            Watch::Drivers(vec!["barwatch_fixture".into()]),
            vec![fixture],
            &[],
        );
        let read = |base| EventData::FuncEntry {
            function: "barwatch_fixture_read".into(),
            module: Some("barwatch_fixture".into()),
            ip: crate::event::Hex(0),
            args: [crate::event::Hex(base); 4],
            base: Some(crate::event::Hex(base)),
            stack: Vec::new(),
        };
        let story = Story::default()
            .on_thread(1, 40, read(OLD_VIRT), "kprobe:barwatch_fixture_read")
            .enters(2, 41, "iounmap", [OLD_VIRT, 0, 0, 0], None);
        let fixture = Some("0000:00:05.0".to_owned());
        assert_eq!(attribute(&mut map, story, &[]), [fixture.clone(), fixture]);
    }

    #[test]
    fn bases_of_devices_not_watched_are_reported_once_and_forgotten_when_remapped() {
        let nic_virt = 0xffff_c900_0050_0000;
        let mut map = DeviceMap::new(
            Watch::Devices(vec![HDA.into()]),
            vec![hda(OLD_BAR, 27), network_card()],
            &[IoMapping {
                virt: nic_virt,
                size: 0x2_0000,
                phys: 0xfeb8_0000,
            }],
        );
        let story = Story::default()
            .enters(1, 7, "e1000_read", [0; 4], Some(nic_virt))
            .enters(2, 7, "e1000_read", [0; 4], Some(nic_virt))
            .enters(
                3,
                7,
                "unknown_accessor",
                [0; 4],
                Some(0xffff_c900_0070_0000),
            );
        assert_eq!(attribute(&mut map, story, &[]), [None, None, None]);
        assert_eq!(map.take_ignored_bases(), [nic_virt]);
        assert_eq!(map.take_ignored_bases(), Vec::<u64>::new());

        // The network card is unmapped and the address reused by the controller.
        let story = Story::default()
            .enters(4, 7, "iounmap", [nic_virt, 0, 0, 0], None)
            .enters(5, 8, "ioremap", [NEW_BAR, 0x4000, 0, 0], None)
            .returns(6, 8, "ioremap", nic_virt)
            .enters(7, 8, "azx_send_cmd", [0; 4], Some(nic_virt));
        let seen = attribute(&mut map, story, &[hda(NEW_BAR, 27), network_card()]);
        assert_eq!(seen[3], Some(HDA.to_owned()));
        assert_eq!(map.take_ignored_bases(), Vec::<u64>::new());
    }

    #[test]
    fn an_explicit_device_list_watches_only_those() {
        let map = DeviceMap::new(
            Watch::Devices(vec!["0000:00:03.0".into()]),
            vec![hda(OLD_BAR, 27), network_card()],
            &[],
        );
        assert_eq!(map.watched().collect::<Vec<_>>(), ["0000:00:03.0"]);
        assert_eq!(map.irqs(), [11]);
    }

    #[test]
    fn a_reading_records_the_driver_unbound_then_the_device_gone() {
        let mut map = watching_hda(vec![hda(OLD_BAR, 27)]);
        let unbound = PciDevice {
            driver: None,
            ..hda(OLD_BAR, 27)
        };
        map.update(vec![unbound]);
        map.update(Vec::new());
        let states: Vec<EventData> = map.take_changes().into_iter().map(|c| c.state).collect();
        let bars = vec![BarRange::from(Bar {
            index: 0,
            start: OLD_BAR,
            end: OLD_BAR + 0x3fff,
        })];
        assert_eq!(
            states,
            [
                EventData::DeviceState {
                    present: true,
                    driver: None,
                    bars: bars.clone(),
                },
                EventData::DeviceState {
                    present: false,
                    driver: None,
                    bars,
                },
            ]
        );
        // The driver's name is still known, for the accessors of its module.
        assert_eq!(map.devices[HDA].driver.as_deref(), Some("snd_hda_intel"));
    }

    #[test]
    fn an_ioctl_on_a_file_of_a_card_disconnected_by_remove_still_names_the_device() {
        let mut map = watching_hda(vec![hda(OLD_BAR, 27)]);
        let disconnected = PciDevice {
            driver: None,
            cards: Vec::new(),
            char_devs: Vec::new(),
            ..hda(OLD_BAR, 27)
        };
        map.update(vec![disconnected]);
        assert_eq!(map.owner(Key::Dev(PCM)), Some(HDA.to_owned()));
    }
}
