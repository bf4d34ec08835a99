//! The capture source: a recording read back line by line, from a file or
//! from any stream of capture lines (a recorder's pipe).

use std::{
    fs::File,
    io::{BufRead, BufReader},
    mem,
    path::Path,
    sync::mpsc,
    thread,
};

use super::Pipeline;
use crate::{
    capture::{
        format::Header,
        reader::{CaptureEnd, CaptureError, CaptureReader, PartialLine},
    },
    event::Event,
};

/// How many events the reader thread parses before it hands them to the
/// analysis: one channel message per event would cost more than the parse.
const BATCH: usize = 1024;

/// How many batches the reader may parse ahead of the analysis: enough to keep
/// both threads busy, few enough that memory stays bounded.
const BATCHES_AHEAD: usize = 4;

/// The read buffer of a capture file: lines are parsed where they lie in it,
/// so a bigger one splits (and copies) fewer of them and reads the file in
/// fewer calls.
const READ_BUFFER_BYTES: usize = 256 << 10;

/// A capture being read back, one event at a time.
pub struct Replay<R: BufRead = BufReader<File>> {
    reader: CaptureReader<R>,
}

impl Replay {
    /// Opens the capture at `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let file = File::open(path).map_err(|source| CaptureError::Open {
            path: path.to_owned(),
            source,
        })?;
        Replay::new(BufReader::with_capacity(READ_BUFFER_BYTES, file))
    }
}

impl<R: BufRead> Replay<R> {
    /// Reads the header of the capture `input` holds.
    pub fn new(input: R) -> Result<Self, CaptureError> {
        Ok(Replay {
            reader: CaptureReader::new(input)?,
        })
    }

    /// The capture's header, to start the pipeline's analysis and sinks from.
    pub fn header(&self) -> &Header {
        self.reader.header()
    }

    /// Feeds every event into `pipeline` and says how the capture ended.
    ///
    /// Forgiving about exactly what [`crate::capture::reader::read_capture`] is:
    /// a final line cut off mid-write ends the capture as
    /// [`CaptureEnd::Cut`]; every other defect is an error.
    ///
    /// The capture is parsed on a thread of its own while the pipeline takes
    /// in what it parsed, so parsing and analysis run side by side; the events
    /// reach the pipeline in file order all the same, every event before a
    /// defect included.
    pub fn run(self, pipeline: &mut Pipeline<'_>) -> Result<CaptureEnd, CaptureError>
    where
        R: Send,
    {
        let (sender, batches) = mpsc::sync_channel(BATCHES_AHEAD);
        let (give_back, emptied) = mpsc::channel();
        thread::scope(|scope| {
            let reader = scope.spawn(move || self.feed_batches(&sender, &emptied));
            for mut batch in batches {
                batch.drain(..).for_each(|event| pipeline.push(event));
                // The reader may be done and gone: the batch is then dropped.
                let _ = give_back.send(batch);
            }
            reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Sends every event to `sender` in batches of [`BATCH`] and says how the
    /// capture ended, as [`Replay::feed`] does. The batches the analysis has
    /// emptied come back through `emptied` and are filled again: a fresh one
    /// for every batch would cost the allocator fresh pages all the time.
    fn feed_batches(
        self,
        sender: &mpsc::SyncSender<Vec<Event>>,
        emptied: &mpsc::Receiver<Vec<Event>>,
    ) -> Result<CaptureEnd, CaptureError> {
        let next_batch = || {
            emptied
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BATCH))
        };
        let mut batch = next_batch();
        // A send fails only when the analysis is gone (it panicked): the
        // scope then ends with its panic, whatever the reader reads.
        let end = self.feed(|event| {
            batch.push(event);
            if batch.len() == BATCH {
                let _ = sender.send(mem::replace(&mut batch, next_batch()));
            }
        });
        if !batch.is_empty() {
            let _ = sender.send(batch);
        }
        end
    }

    /// Hands every event to `take`, in file order, and says how the capture
    /// ended, as [`Replay::run`] does: for a consumer that judges by itself
    /// (a view that keeps its own analysis).
    pub fn feed(mut self, mut take: impl FnMut(Event)) -> Result<CaptureEnd, CaptureError> {
        let mut partial = None;
        while let Some(next) = self.reader.next_to(&mut take) {
            match next {
                Ok(()) => {}
                Err(CaptureError::TruncatedLine { line, bytes }) => {
                    partial = Some(PartialLine { line, bytes });
                }
                Err(error) => return Err(error),
            }
        }
        Ok(match self.reader.trailer() {
            Some(trailer) => CaptureEnd::Trailer(trailer.clone()),
            None => CaptureEnd::Cut {
                complete_lines: self.reader.lines_read(),
                partial,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        analysis::Analysis,
        capture::reader::read_capture,
        report::{Summary, SummaryBuilder},
        rules::RuleConfig,
    };

    /// The demo's capture: the fixture touches its BAR after the iounmap.
    fn demo() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tui/testdata/demo-capture.jsonl")
    }

    #[test]
    fn a_streamed_capture_gets_the_summary_and_verdict_of_the_loaded_one() {
        let loaded = read_capture(&demo()).unwrap();
        let replay = Replay::open(&demo()).unwrap();
        let mut summary = SummaryBuilder::new(replay.header());
        let mut pipeline = Pipeline::new(replay.header()).with(&mut summary);
        let end = replay.run(&mut pipeline).unwrap();
        let analysis = pipeline.finish_replay(&end);
        assert_eq!(end, loaded.end);
        assert_eq!(summary.finish(&end), Summary::of(&loaded));
        assert_eq!(
            serde_json::to_value(analysis.judge(&RuleConfig::default())).unwrap(),
            serde_json::to_value(Analysis::of_capture(&loaded).judge(&RuleConfig::default()))
                .unwrap()
        );
    }

    #[test]
    fn every_real_capture_settled_early_and_often_gets_its_whole_verdict() {
        // Replay judges in bounded memory; no real capture is long enough to
        // settle at the default retention, so settle them from 200 events.
        let paths = crate::testkit::real_captures();
        for path in &paths {
            let loaded = read_capture(path).unwrap();
            let mut bounded = Analysis::bounded(
                &loaded.header,
                crate::analysis::Retention {
                    max_events: 200,
                    ..crate::analysis::Retention::default()
                },
            );
            let replay = Replay::open(path).unwrap();
            let end = replay.feed(&mut |event| bounded.push(event)).unwrap();
            if let CaptureEnd::Trailer(trailer) = &end {
                bounded.finish(trailer);
            }
            assert!(bounded.forgotten() > 0, "{} never settled", path.display());
            assert_eq!(
                serde_json::to_value(bounded.judge(&RuleConfig::default())).unwrap(),
                serde_json::to_value(Analysis::of_capture(&loaded).judge(&RuleConfig::default()))
                    .unwrap(),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn a_capture_cut_mid_line_streams_up_to_its_last_complete_line() {
        let text = std::fs::read_to_string(demo()).unwrap();
        let cut_at = text.len() - text.lines().last().unwrap().len() / 2 - 1;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.jsonl");
        std::fs::write(&path, &text[..cut_at]).unwrap();
        let replay = Replay::open(&path).unwrap();
        let mut pipeline = Pipeline::new(replay.header());
        let end = replay.run(&mut pipeline).unwrap();
        assert_eq!(end, read_capture(&path).unwrap().end);
        assert!(
            matches!(
                end,
                CaptureEnd::Cut {
                    partial: Some(_),
                    ..
                }
            ),
            "{end:?}"
        );
    }

    #[test]
    fn a_corrupt_line_stops_the_replay_with_its_line_number() {
        let mut text = std::fs::read_to_string(demo()).unwrap();
        let second = text.find('\n').unwrap() + 1;
        text.insert_str(second, "not json\n");
        let replay = Replay::new(text.as_bytes()).unwrap();
        let mut pipeline = Pipeline::new(replay.header());
        let error = replay.run(&mut pipeline);
        assert!(
            matches!(error, Err(CaptureError::NotJson { line: 2, .. })),
            "{:?}",
            error.err()
        );
    }
}
