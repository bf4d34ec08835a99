//! The cycles a bounded analysis judged for good, kept out of memory.
//!
//! A lab records through hours of hot-plug stress: tens of thousands of cycles,
//! each closed, judged and never to change. The report still shows every one, so
//! they cannot be dropped; held as they are they made a replay's memory grow by
//! kilobytes per cycle. Here each goes to a [`Spill`] (an unnamed temporary
//! file), and memory keeps only its [`CycleOutline`]: what the rules, the
//! headline and the terminal UI ask of it. A report reads them back one at a
//! time as it writes them ([`DeviceSettled::cycles`]).

use std::{borrow::Cow, collections::BTreeMap};

use super::{Cycle, CycleOutline};
use crate::spill::{Kept, ReadBackError, Spill};

/// The cycles judged for good of every device, in the order they were taken
/// out of the timelines.
#[derive(Debug, Default)]
pub struct SettledCycles {
    spill: Spill,
    by_device: BTreeMap<String, DeviceSettled>,
}

/// One device's cycles judged for good: their outlines in memory, the cycles
/// themselves in the spill. What a judgement's timeline carries: cloning it
/// copies the outlines and handles, not the cycles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceSettled {
    outlines: Vec<CycleOutline>,
    cycles: Vec<Kept<Cycle>>,
}

impl SettledCycles {
    /// Keeps `cycle` of device `bdf`, judged for good: its outline in memory,
    /// the rest in the spill.
    pub fn push(&mut self, bdf: &str, cycle: Cycle) {
        let device = self.by_device.entry(bdf.to_owned()).or_default();
        device.outlines.push(cycle.outline());
        device.cycles.push(self.spill.keep(cycle));
    }

    /// The cycles of device `bdf`, as a judgement's timeline carries them.
    pub fn of_device(&self, bdf: &str) -> Option<&DeviceSettled> {
        self.by_device.get(bdf)
    }

    /// Takes the cycles of device `bdf` out, for the last judgement of a run.
    pub fn take_device(&mut self, bdf: &str) -> Option<DeviceSettled> {
        self.by_device.remove(bdf)
    }

    /// Every device's settled cycles, by PCI address.
    pub fn devices(&self) -> impl Iterator<Item = (&str, &DeviceSettled)> {
        self.by_device.iter().map(|(bdf, d)| (bdf.as_str(), d))
    }
}

impl DeviceSettled {
    /// How many cycles.
    pub fn len(&self) -> usize {
        self.outlines.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.outlines.is_empty()
    }

    /// Their outlines, in order.
    pub fn outlines(&self) -> &[CycleOutline] {
        &self.outlines
    }

    /// The outlines whose span may overlap `ts_ns`, found by binary search:
    /// a device's cycles follow one another.
    fn around(&self, ts_ns: u64) -> impl Iterator<Item = &CycleOutline> {
        let first = self.outlines.partition_point(|o| {
            o.span
                .is_some_and(|w| w.end_ns.is_some_and(|end| end <= ts_ns))
        });
        self.outlines[first..]
            .iter()
            .take_while(move |o| o.span.is_none_or(|w| w.start_ns <= ts_ns))
    }

    /// The outline of the cycle whose span holds `ts_ns`.
    pub fn outline_at(&self, ts_ns: u64) -> Option<&CycleOutline> {
        self.around(ts_ns)
            .find(|o| o.span.is_some_and(|w| w.contains(ts_ns)))
    }

    /// Whether `ts_ns` falls in the unmap window of one of them.
    pub fn unmapped_at(&self, ts_ns: u64) -> bool {
        self.around(ts_ns)
            .any(|o| o.unmap.is_some_and(|w| w.contains(ts_ns)))
    }

    /// The cycles read back one at a time, in order, each with its outline: a
    /// cycle read back carries what reports show, and its outline the windows
    /// it had.
    pub fn cycles(
        &self,
    ) -> impl Iterator<Item = Result<(&CycleOutline, Cow<'_, Cycle>), ReadBackError>> {
        self.outlines
            .iter()
            .zip(&self.cycles)
            .map(|(outline, cycle)| Ok((outline, cycle.get()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::SettledCycles;
    use crate::{
        analysis::Analysis,
        capture::reader::read_capture_from,
        timeline::{Cycle, CycleOutline},
    };

    /// The demo capture's cycles, as its timelines hold them.
    fn demo_cycles() -> Vec<Cycle> {
        let capture =
            read_capture_from(&include_bytes!("../../../tui/testdata/demo-capture.jsonl")[..])
                .unwrap();
        let timelines = Analysis::of_capture(&capture).timelines();
        let cycles = timelines.devices[0].cycles.clone();
        assert!(!cycles.is_empty(), "the demo has a cycle");
        cycles
    }

    /// What `store` gives back of `bdf`: each cycle as JSON, and its outline.
    fn read_back(store: &SettledCycles, bdf: &str) -> Vec<(CycleOutline, String)> {
        store
            .of_device(bdf)
            .unwrap()
            .cycles()
            .map(|c| {
                let (outline, cycle) = c.unwrap();
                (*outline, serde_json::to_string(&*cycle).unwrap())
            })
            .collect()
    }

    fn as_written(cycles: &[Cycle]) -> Vec<(CycleOutline, String)> {
        cycles
            .iter()
            .map(|c| (c.outline(), serde_json::to_string(c).unwrap()))
            .collect()
    }

    #[test]
    fn a_cycle_read_back_shows_what_it_showed_when_written() {
        let cycles = demo_cycles();
        let mut store = SettledCycles::default();
        for cycle in cycles.iter().chain(&cycles) {
            store.push("0000:00:04.0", cycle.clone());
        }
        let twice: Vec<Cycle> = cycles.iter().chain(&cycles).cloned().collect();
        assert_eq!(read_back(&store, "0000:00:04.0"), as_written(&twice));
        assert!(store.of_device("0000:00:05.0").is_none());
    }

    #[test]
    fn the_outlines_answer_where_a_time_falls() {
        let cycles = demo_cycles();
        let mut store = SettledCycles::default();
        for cycle in &cycles {
            store.push("0000:00:04.0", cycle.clone());
        }
        let device = store.of_device("0000:00:04.0").unwrap();
        let first = &cycles[0];
        let unmap = first.unmap_window().expect("the demo's cycle unmaps");
        assert!(device.unmapped_at(unmap.start_ns));
        assert!(!device.unmapped_at(unmap.start_ns - 1));
        let span = first.span().unwrap();
        assert_eq!(
            device.outline_at(span.start_ns).map(|o| o.number),
            Some(first.number)
        );
        assert_eq!(device.outline_at(span.start_ns - 1), None);
    }
}
