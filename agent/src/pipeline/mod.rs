//! One pipeline from a source of events to the verdict, run the same way by
//! `record`, `check` and `report`.
//!
//! ```text
//! flags ──▶ RecordingPlan ──▶ Started (probes attached, header)
//!
//! source ──▶ attribute ──▶ Pipeline ──▶ sinks (summary, …)
//!  live ring buffer         │
//!  (live::record, which     └──▶ bounded Analysis ──▶ Judgement
//!   also writes the capture)
//!  capture file (Replay)
//! ```
//!
//! [`plan`] turns a recording's flags into what to attach and watch, checked
//! against the machine; [`start`] attaches it.
//!
//! A live source attributes each record to its device while recording (the
//! capture stores the attribution), so a replayed capture arrives attributed.
//! Either way the events reach one [`Pipeline`]: every [`Sink`] sees each event
//! in arrival order, and the analysis, bounded as in a live run, judges them.
//! Nothing along the way holds the whole capture.

#[cfg(feature = "live")]
pub mod plan;
mod replay;
mod sink;
#[cfg(feature = "live")]
pub mod start;

pub use replay::Replay;
pub use sink::Sink;

use crate::{
    analysis::{Analysis, Retention},
    capture::{format::Header, format::Trailer, reader::CaptureEnd},
    event::Event,
    timeline::CycleEnd,
};

/// The events' way from their source to the analysis and the sinks.
pub struct Pipeline<'s> {
    analysis: Analysis,
    sinks: Vec<&'s mut dyn Sink>,
}

impl<'s> Pipeline<'s> {
    /// A pipeline that judges what `header` starts, in the bounded memory of a
    /// live run ([`Retention::default`]), however long the source goes on.
    pub fn new(header: &Header) -> Self {
        Pipeline {
            analysis: Analysis::bounded(header, Retention::default()),
            sinks: Vec::new(),
        }
    }

    /// Also hands every event to `sink`.
    pub fn with(mut self, sink: &'s mut dyn Sink) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Takes one event, in arrival order.
    pub fn push(&mut self, event: Event) {
        for sink in &mut self.sinks {
            sink.take(&event);
        }
        self.analysis.push(event);
    }

    /// Whether some device's last cycle is still open: what `check` waits on
    /// after its command exits.
    pub fn has_open_cycle(&self) -> bool {
        self.analysis
            .timelines()
            .devices
            .iter()
            .any(|d| d.cycles.last().is_some_and(|c| c.end == CycleEnd::Open))
    }

    /// The analysis so far: what a view that goes on judging while the source
    /// runs (the terminal UI, once a second) judges.
    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }

    /// The source ended, cleanly with `trailer` or cut without one: the
    /// analysis, ready for its judgement.
    pub fn finish(mut self, trailer: Option<&Trailer>) -> Analysis {
        if let Some(trailer) = trailer {
            self.analysis.finish(trailer);
        }
        self.analysis
    }

    /// Like [`Pipeline::finish`], for a replayed capture's end.
    pub fn finish_replay(self, end: &CaptureEnd) -> Analysis {
        self.finish(match end {
            CaptureEnd::Trailer(trailer) => Some(trailer),
            CaptureEnd::Cut { .. } => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::reader::read_capture_from;

    /// Counts what it is handed.
    #[derive(Default)]
    struct Counter(u64);

    impl Sink for Counter {
        fn take(&mut self, _event: &Event) {
            self.0 += 1;
        }
    }

    #[test]
    fn every_sink_sees_every_event_and_an_open_cycle_shows_until_it_closes() {
        // The demo's capture: one remove and rescan of the fixture, closed by
        // its probe returning.
        let capture =
            read_capture_from(&include_bytes!("../../../tui/testdata/demo-capture.jsonl")[..])
                .unwrap();
        let mut counter = Counter::default();
        let mut pipeline = Pipeline::new(&capture.header).with(&mut counter);
        assert!(!pipeline.has_open_cycle(), "open before any event");
        let mut seen_open = false;
        for (i, event) in capture.events.iter().enumerate() {
            pipeline.push(event.clone());
            if i % 25 == 0 {
                seen_open |= pipeline.has_open_cycle();
            }
        }
        assert!(seen_open, "the remove's cycle never showed as open");
        assert!(!pipeline.has_open_cycle(), "the rescan did not close it");
        let CaptureEnd::Trailer(trailer) = &capture.end else {
            panic!("the demo capture has its trailer")
        };
        let judgement = pipeline
            .finish(Some(trailer))
            .judge(&crate::rules::RuleConfig::default());
        assert_eq!(judgement.events, capture.events.len() as u64);
        assert_eq!(counter.0, capture.events.len() as u64);
    }
}
