//! The events the Events screen can show, each addressed by its number in the
//! capture (0 for the first event). Live, the most recent ones are held; replayed
//! from a file, they are read back on demand through a [`CaptureIndex`].

use std::collections::VecDeque;

use barwatch::event::Event;

use crate::capture_index::CaptureIndex;

/// Where the event list's events are.
pub enum EventStore {
    /// In memory: the most recent ones (all of them for a capture given whole).
    Recent(RecentEvents),
    /// In the capture file, read back on demand.
    Indexed(CaptureIndex),
}

impl EventStore {
    /// The number of the oldest event still held.
    pub fn first(&self) -> u64 {
        match self {
            EventStore::Recent(recent) => recent.first(),
            EventStore::Indexed(_) => 0,
        }
    }

    /// One past the number of the newest event.
    pub fn end(&self) -> u64 {
        match self {
            EventStore::Recent(recent) => recent.end(),
            EventStore::Indexed(index) => index.len(),
        }
    }

    /// Takes in a newly arrived event; a replayed file takes none.
    pub fn push(&mut self, event: Event) {
        match self {
            EventStore::Recent(recent) => recent.push(event),
            EventStore::Indexed(_) => {}
        }
    }

    /// How wide the list's columns must be.
    pub fn widest(&self) -> &Widest {
        match self {
            EventStore::Recent(recent) => recent.widest(),
            EventStore::Indexed(index) => index.widest(),
        }
    }

    /// The events numbered `numbers` (ascending) that are still held.
    pub fn read(&self, numbers: &[u64]) -> Vec<Event> {
        match self {
            EventStore::Recent(recent) => numbers
                .iter()
                .filter_map(|&n| recent.get(n).cloned())
                .collect(),
            EventStore::Indexed(index) => index.read_events(numbers),
        }
    }

    /// The timestamp of event `number`, if it is held.
    pub fn ts_of(&self, number: u64) -> Option<u64> {
        match self {
            EventStore::Recent(recent) => recent.get(number).map(|e| e.ts_ns),
            EventStore::Indexed(index) => index.read_events(&[number]).first().map(|e| e.ts_ns),
        }
    }

    /// Every event held, with its number, oldest first.
    pub fn scan(&self) -> Box<dyn Iterator<Item = (u64, Event)> + '_> {
        match self {
            EventStore::Recent(recent) => Box::new(recent.iter().map(|(n, e)| (n, e.clone()))),
            EventStore::Indexed(index) => Box::new(index.events_from(0)),
        }
    }

    /// Every event held whose time is in `span` (start and end, inclusive), from
    /// the first event at or after its start on, oldest first.
    pub fn in_span(&self, span: (u64, u64)) -> Box<dyn Iterator<Item = Event> + '_> {
        let (start, end) = span;
        match self {
            EventStore::Recent(recent) => Box::new(
                recent
                    .iter()
                    .map(|(_, e)| e)
                    .filter(move |e| start <= e.ts_ns && e.ts_ns <= end)
                    .cloned(),
            ),
            EventStore::Indexed(index) => {
                let from = first_at_or_after(index.len(), start, |n| self.ts_of(n));
                Box::new(
                    index
                        .events_from(from)
                        .map(|(_, e)| e)
                        .take_while(move |e| e.ts_ns <= end)
                        .filter(move |e| start <= e.ts_ns),
                )
            }
        }
    }
}

/// The first of `len` events, in time order, whose time is at least `ts_ns`.
fn first_at_or_after(len: u64, ts_ns: u64, ts_of: impl Fn(u64) -> Option<u64>) -> u64 {
    let (mut low, mut high) = (0, len);
    while low < high {
        let mid = low + (high - low) / 2;
        if ts_of(mid).is_some_and(|ts| ts < ts_ns) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    low
}

/// How wide each fixed column of the event list must be, in characters, over
/// every event taken in, so the columns stay put while scrolling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Widest {
    /// The earliest and latest timestamps (the time column is widest at one of
    /// them).
    pub first_ts_ns: u64,
    /// The latest timestamp.
    pub last_ts_ns: u64,
    /// Digits of the CPU number.
    pub cpu: usize,
    /// Characters of `pid/tid`.
    pub task: usize,
    /// Characters of the command name.
    pub comm: usize,
    /// Characters of the probe name.
    pub probe: usize,
}

impl Default for Widest {
    /// Fits no event yet: the first one taken in sets the earliest time.
    fn default() -> Self {
        Widest {
            first_ts_ns: u64::MAX,
            last_ts_ns: 0,
            cpu: 0,
            task: 0,
            comm: 0,
            probe: 0,
        }
    }
}

impl Widest {
    /// Widens the columns to fit `event`.
    pub fn take(&mut self, event: &Event) {
        self.first_ts_ns = self.first_ts_ns.min(event.ts_ns);
        self.last_ts_ns = self.last_ts_ns.max(event.ts_ns);
        self.cpu = self.cpu.max(digits(event.cpu.into()));
        self.task = self
            .task
            .max(digits(event.pid.into()) + 1 + digits(event.tid.into()));
        self.comm = self.comm.max(event.comm.chars().count());
        self.probe = self.probe.max(event.probe.chars().count());
    }
}

/// Decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// The most recent events, at most `capacity`; older ones leave, and their
/// numbers with them.
pub struct RecentEvents {
    events: VecDeque<Event>,
    /// The number of the oldest event held.
    first: u64,
    capacity: usize,
    widest: Widest,
}

impl RecentEvents {
    /// Holds at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        RecentEvents {
            events: VecDeque::new(),
            first: 0,
            capacity,
            widest: Widest::default(),
        }
    }

    /// Takes in the next event, letting the oldest go when full.
    pub fn push(&mut self, event: Event) {
        self.widest.take(&event);
        self.events.push_back(event);
        if self.events.len() > self.capacity {
            self.events.pop_front();
            self.first += 1;
        }
    }

    /// The number of the oldest event still held.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// One past the number of the newest event.
    pub fn end(&self) -> u64 {
        self.first + self.events.len() as u64
    }

    /// The event numbered `number`, if it is still held.
    pub fn get(&self, number: u64) -> Option<&Event> {
        let index = usize::try_from(number.checked_sub(self.first)?).ok()?;
        self.events.get(index)
    }

    /// Every event held, with its number, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Event)> {
        (self.first..).zip(&self.events)
    }

    /// How wide the list's columns must be.
    pub fn widest(&self) -> &Widest {
        &self.widest
    }
}

#[cfg(test)]
mod tests {
    use barwatch::{
        event::{EventData, Hex},
        testkit,
    };

    use super::*;

    fn event(ts_ns: u64, cpu: u32, comm: &str) -> Event {
        Event {
            cpu,
            pid: 7,
            tid: 1234,
            comm: comm.into(),
            ..testkit::event(
                ts_ns,
                "kprobe:iounmap",
                EventData::IrqHandlerEntry {
                    irq: 1,
                    handler: Hex(0),
                    handler_name: None,
                    thread: None,
                },
            )
        }
    }

    #[test]
    fn a_full_store_lets_the_oldest_go_and_keeps_the_numbers() {
        let mut store = RecentEvents::new(2);
        for ts in [10, 20, 30] {
            store.push(event(ts, 0, "a"));
        }
        assert_eq!((store.first(), store.end()), (1, 3));
        assert!(store.get(0).is_none());
        assert_eq!(store.get(2).map(|e| e.ts_ns), Some(30));
        let numbers: Vec<u64> = store.iter().map(|(n, _)| n).collect();
        assert_eq!(numbers, [1, 2]);
    }

    #[test]
    fn the_columns_fit_every_event_taken_in_even_those_let_go() {
        let mut store = RecentEvents::new(1);
        store.push(event(10, 12, "kworker/u4:1"));
        store.push(event(20, 3, "sh"));
        assert_eq!(
            *store.widest(),
            Widest {
                first_ts_ns: 10,
                last_ts_ns: 20,
                cpu: 2,
                task: 6,
                comm: 12,
                probe: 14,
            }
        );
    }
}
