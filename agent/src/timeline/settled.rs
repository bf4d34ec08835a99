//! The cycles a bounded analysis judged for good, kept out of memory.
//!
//! A lab records through hours of hot-plug stress: tens of thousands of cycles,
//! each closed, judged and never to change. The report still shows every one, so
//! they cannot be dropped; held as they are they made a replay's memory grow by
//! kilobytes per cycle. Here each is written once, as a JSON line, to an unnamed
//! temporary file (gone with the process, never a path another user could plant),
//! and memory keeps only its [`CycleOutline`]: what the rules, the headline and
//! the terminal UI ask of it. A report reads them back one at a time as it writes
//! them ([`DeviceSettled::cycles`]). Where no temporary file can be made, the
//! lines stay in memory: the same report, at the old cost.

use std::{
    borrow::Cow,
    collections::BTreeMap,
    fs::File,
    io,
    os::unix::fs::FileExt,
    sync::{Arc, Mutex},
};

use super::{Cycle, CycleOutline};

/// Where the cycles' lines are kept.
#[derive(Debug)]
enum Backing {
    /// An unnamed temporary file.
    File(File),
    /// Memory, where no temporary file could be made.
    Memory(Mutex<Vec<u8>>),
}

impl Backing {
    fn new() -> Self {
        tempfile::tempfile().map_or_else(|_| Backing::Memory(Mutex::default()), Backing::File)
    }

    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        match self {
            Backing::File(file) => file.write_all_at(bytes, offset),
            Backing::Memory(memory) => {
                let mut memory = memory.lock().unwrap_or_else(|e| e.into_inner());
                memory.truncate(offset as usize);
                memory.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    fn read_at(&self, offset: u64, bytes: &mut [u8]) -> io::Result<()> {
        match self {
            Backing::File(file) => file.read_exact_at(bytes, offset),
            Backing::Memory(memory) => {
                let memory = memory.lock().unwrap_or_else(|e| e.into_inner());
                let start = offset as usize;
                let line = memory
                    .get(start..start + bytes.len())
                    .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                bytes.copy_from_slice(line);
                Ok(())
            }
        }
    }
}

/// Where one settled cycle is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stored {
    /// A line of the store.
    Line { offset: u64, len: u32 },
    /// Held in memory: the store refused its line (a full disk).
    Held(Arc<Cycle>),
}

/// The cycles judged for good of every device, in the order they were taken
/// out of the timelines.
#[derive(Debug, Default)]
pub struct SettledCycles {
    /// Made with the first cycle: an analysis that never settles makes no file.
    backing: Option<Arc<Backing>>,
    /// Where the next line goes.
    end: u64,
    by_device: BTreeMap<String, DeviceSettled>,
}

/// One device's cycles judged for good: their outlines in memory, the cycles
/// themselves in the store. What a judgement's timeline carries: cloning it
/// copies the outlines, not the cycles.
#[derive(Clone, Debug, Default)]
pub struct DeviceSettled {
    backing: Option<Arc<Backing>>,
    outlines: Vec<CycleOutline>,
    stored: Vec<Stored>,
}

/// A cycle read back could not be: the store failed under the report.
#[derive(Debug, thiserror::Error)]
pub enum ReadBackError {
    /// Reading the temporary file failed.
    #[error("cannot read back a settled cycle from its temporary file: {0}")]
    Io(#[from] io::Error),
    /// What was read is not the line that was written.
    #[error("a settled cycle read back from its temporary file is damaged: {0}")]
    Damaged(#[from] serde_json::Error),
}

impl SettledCycles {
    /// Keeps `cycle` of device `bdf`, judged for good: its outline in memory,
    /// the rest in the store (in memory too, where the store refuses it, so
    /// nothing judged is lost).
    pub fn push(&mut self, bdf: &str, cycle: Cycle) {
        let backing = self
            .backing
            .get_or_insert_with(|| Arc::new(Backing::new()));
        let mut line = serde_json::to_vec(&cycle).expect("a cycle serializes");
        line.push(b'\n');
        let outline = cycle.outline();
        let stored = match (backing.write_at(self.end, &line), u32::try_from(line.len())) {
            (Ok(()), Ok(len)) => {
                let offset = self.end;
                self.end += line.len() as u64;
                Stored::Line { offset, len }
            }
            _ => Stored::Held(Arc::new(cycle)),
        };
        let device = self.by_device.entry(bdf.to_owned()).or_default();
        device.backing = Some(backing.clone());
        device.outlines.push(outline);
        device.stored.push(stored);
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
        self.outlines.iter().zip(&self.stored).map(|(outline, stored)| {
            let cycle = match stored {
                Stored::Held(cycle) => Cow::Borrowed(&**cycle),
                Stored::Line { offset, len } => {
                    let backing = self.backing.as_deref().expect("a stored line has a store");
                    let mut line = vec![0; *len as usize];
                    backing.read_at(*offset, &mut line)?;
                    Cow::Owned(serde_json::from_slice(&line)?)
                }
            };
            Ok((outline, cycle))
        })
    }
}

/// Equal when they hold the same cycles of the same store.
impl PartialEq for DeviceSettled {
    fn eq(&self, other: &Self) -> bool {
        let same_store = match (&self.backing, &other.backing) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_store && self.outlines == other.outlines && self.stored == other.stored
    }
}

impl Eq for DeviceSettled {}

#[cfg(test)]
mod tests {
    use std::{fs::File, sync::Arc};

    use super::{Backing, SettledCycles};
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
        assert!(
            matches!(store.backing.as_deref(), Some(Backing::File(_))),
            "a temporary file holds them"
        );
        let twice: Vec<Cycle> = cycles.iter().chain(&cycles).cloned().collect();
        assert_eq!(read_back(&store, "0000:00:04.0"), as_written(&twice));
        assert!(store.of_device("0000:00:05.0").is_none());
    }

    #[test]
    fn cycles_a_store_refuses_stay_in_memory_and_read_back_the_same() {
        // A file opened read-only refuses every line, as a full disk would.
        let refusing = File::open(env!("CARGO_MANIFEST_DIR")).unwrap();
        let cycles = demo_cycles();
        let mut store = SettledCycles {
            backing: Some(Arc::new(Backing::File(refusing))),
            ..SettledCycles::default()
        };
        for cycle in &cycles {
            store.push("0000:00:04.0", cycle.clone());
        }
        assert_eq!(store.end, 0, "nothing was written");
        assert_eq!(read_back(&store, "0000:00:04.0"), as_written(&cycles));
    }

    #[test]
    fn a_store_in_memory_reads_back_like_a_file() {
        let cycles = demo_cycles();
        let mut store = SettledCycles {
            backing: Some(Arc::new(Backing::Memory(Default::default()))),
            ..SettledCycles::default()
        };
        for cycle in &cycles {
            store.push("0000:00:04.0", cycle.clone());
        }
        assert!(store.end > 0);
        assert_eq!(read_back(&store, "0000:00:04.0"), as_written(&cycles));
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
