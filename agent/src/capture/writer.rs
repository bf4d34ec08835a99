//! Writes captures: the header first, events as they arrive, the trailer last.
//!
//! Every line is serialized into memory and then written whole with its `\n`, so
//! a line is never half-written in the middle of the file: if the recorder is
//! killed (SIGKILL, OOM, power loss) only the last line can be cut, and the reader
//! keeps everything before it.

use std::{
    collections::BTreeMap,
    io::{self, BufWriter, Write},
};

use rustc_hash::FxHashMap;
use serde::Serialize;
use thiserror::Error;

use crate::{
    capture::format::{
        BlindSpan, CLOCK, FORMAT_MAJOR, FORMAT_MINOR, FORMAT_NAME, Header, ProbeTotals, Trailer,
    },
    event::Event,
    probe_table::ProbeStatus,
};

/// Why a capture line could not be written.
#[derive(Debug, Error)]
pub enum WriteError {
    /// The output refused the bytes (disk full, pipe closed, I/O error).
    #[error(
        "writing the capture's {part} failed; check that the disk has space and the output is still writable"
    )]
    Io {
        /// Which part was being written: `header`, `event`, `trailer` or `buffered lines`.
        part: &'static str,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// A line could not be turned into JSON.
    #[error(
        "encoding the capture's {part} as JSON failed; this is a barwatch bug, please report it"
    )]
    Encode {
        /// Which part was being encoded: `header`, `event` or `trailer`.
        part: &'static str,
        /// The underlying JSON error.
        source: serde_json::Error,
    },
}

impl Header {
    /// A header for a capture written by this build: fills in the format name,
    /// version and clock so callers only supply what they measured.
    pub fn new(
        kernel: impl Into<String>,
        hostname: impl Into<String>,
        started_unix_ns: u64,
        started_monotonic_ns: u64,
        probes: Vec<ProbeStatus>,
    ) -> Self {
        Header {
            format: FORMAT_NAME.to_owned(),
            version: format!("{FORMAT_MAJOR}.{FORMAT_MINOR}"),
            kernel: kernel.into(),
            hostname: hostname.into(),
            clock: CLOCK.to_owned(),
            started_unix_ns,
            started_monotonic_ns,
            probes,
            devices: Vec::new(),
        }
    }
}

/// A header or trailer line by reference, written without being cloned.
/// (Event lines, nearly all of a capture, are written by hand:
/// [`super::event_json`].)
///
/// It serializes exactly like [`crate::capture::format::Line`]; the round-trip
/// tests read what it writes back through `Line`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum LineRef<'a> {
    Header(&'a Header),
    Trailer(&'a Trailer),
}

/// How many bytes of lines are written at once. Writes of 8 KiB (the
/// standard buffer) cost the recorder three times what 64 KiB ones do on ext4
/// (each write finds, zeroes and fills page-cache blocks), and the recorder
/// writes hundreds of megabytes a second at a million records a second.
const WRITE_BUFFER: usize = 64 * 1024;

/// Streams a capture to any [`Write`], counting events per probe for the trailer.
///
/// Output is buffered; call [`CaptureWriter::flush`] to push lines out (for
/// example periodically, so a killed recorder loses little) and
/// [`CaptureWriter::finish`] to end the capture cleanly. To keep the sink after
/// finishing (say, to `fsync` a file), pass `&File` or `&mut W` as `W`.
pub struct CaptureWriter<W: Write> {
    out: BufWriter<W>,
    /// Events written per probe name; header probes start at zero. Hashed,
    /// not ordered: looking a name up per event by comparisons took a tenth of
    /// the recorder's time; the trailer orders them.
    events: FxHashMap<String, u64>,
    /// Reused serialization buffer for one line.
    line: Vec<u8>,
    /// The probe table to close the capture with, when it changed.
    final_probes: Vec<ProbeStatus>,
    /// Spans in which attached probes were blind, for the trailer.
    blind_spans: Vec<BlindSpan>,
}

impl<W: Write> CaptureWriter<W> {
    /// Starts a capture by writing its header line.
    pub fn new(out: W, header: &Header) -> Result<Self, WriteError> {
        Self::buffered(out, header, WRITE_BUFFER)
    }

    /// Starts a capture on a sink that buffers its writes itself (such as
    /// [`crate::write_behind::WriteBehind`]): each line goes straight to it,
    /// not copied through a buffer of the writer's own first.
    pub fn unbuffered(out: W, header: &Header) -> Result<Self, WriteError> {
        Self::buffered(out, header, 0)
    }

    /// Starts a capture whose lines are gathered `capacity` bytes at a time.
    fn buffered(out: W, header: &Header, capacity: usize) -> Result<Self, WriteError> {
        let mut writer = CaptureWriter {
            out: BufWriter::with_capacity(capacity, out),
            events: header
                .probes
                .iter()
                .map(|probe| (probe.name.clone(), 0))
                .collect(),
            line: Vec::new(),
            final_probes: Vec::new(),
            blind_spans: Vec::new(),
        };
        writer.write_line(&LineRef::Header(header), "header")?;
        Ok(writer)
    }

    /// Appends one event line.
    pub fn write_event(&mut self, event: &Event) -> Result<(), WriteError> {
        self.put_line("event", |line| {
            super::event_json::write(line, event);
            Ok(())
        })?;
        match self.events.get_mut(event.probe.as_str()) {
            Some(count) => *count += 1,
            None => {
                self.events.insert(event.probe.to_string(), 1);
            }
        }
        Ok(())
    }

    /// Pushes buffered lines to the underlying writer.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.out.flush().map_err(|source| WriteError::Io {
            part: "buffered lines",
            source,
        })
    }

    /// Records the probe table as it stands now (points attached late), for the
    /// trailer; new probe names start counting at zero.
    pub fn update_probe_table(&mut self, table: &[ProbeStatus]) {
        for status in table {
            self.events.entry(status.name.clone()).or_insert(0);
        }
        self.final_probes = table.to_vec();
    }

    /// Records a span in which an attached probe was blind, for the trailer.
    pub fn add_blind_span(&mut self, span: BlindSpan) {
        self.blind_spans.push(span);
    }

    /// Ends the capture: writes the trailer with per-probe totals and flushes.
    ///
    /// The trailer's `probes` has every probe of the header, every probe that
    /// produced events and every probe in `lost_by_probe`; `events` and `lost` are
    /// the sums. Returns the trailer written, for the recorder's closing message.
    pub fn finish(
        mut self,
        lost_by_probe: BTreeMap<String, u64>,
        decode_errors: u64,
        stacks_lost: u64,
        ended_unix_ns: u64,
    ) -> Result<Trailer, WriteError> {
        let mut probes: BTreeMap<String, ProbeTotals> = std::mem::take(&mut self.events)
            .into_iter()
            .map(|(name, events)| (name, ProbeTotals { events, lost: 0 }))
            .collect();
        for (name, lost) in lost_by_probe {
            probes.entry(name).or_default().lost += lost;
        }
        let trailer = Trailer {
            ended_unix_ns,
            events: probes.values().map(|totals| totals.events).sum(),
            lost: probes.values().map(|totals| totals.lost).sum(),
            decode_errors,
            stacks_lost,
            probes,
            final_probes: std::mem::take(&mut self.final_probes),
            blind_spans: std::mem::take(&mut self.blind_spans),
        };
        self.write_line(&LineRef::Trailer(&trailer), "trailer")?;
        self.flush()?;
        Ok(trailer)
    }

    /// Serializes a header or trailer line with serde.
    fn write_line(&mut self, line: &LineRef<'_>, part: &'static str) -> Result<(), WriteError> {
        self.put_line(part, |out| {
            serde_json::to_writer(out, line).map_err(|source| WriteError::Encode { part, source })
        })
    }

    /// Has `fill` put one line into memory, then writes it and its newline in
    /// one go.
    fn put_line(
        &mut self,
        part: &'static str,
        fill: impl FnOnce(&mut Vec<u8>) -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        self.line.clear();
        fill(&mut self.line)?;
        self.line.push(b'\n');
        self.out
            .write_all(&self.line)
            .map_err(|source| WriteError::Io { part, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        capture::format::Line,
        event::{EventData, Hex},
        probe_table::{Mechanism, Role},
        testkit,
    };

    fn header() -> Header {
        testkit::header(vec![testkit::attached(
            "irq:irq_handler_entry",
            Role::Irq,
            Mechanism::RawTracepoint,
        )])
    }

    fn irq(ts_ns: u64, probe: &str) -> Event {
        Event {
            cpu: 0,
            pid: 0,
            tid: 0,
            comm: "swapper/0".into(),
            ..testkit::event(
                ts_ns,
                probe,
                EventData::IrqHandlerEntry {
                    irq: 42,
                    handler: Hex(0xffffffffc0a01230),
                    handler_name: Some("azx_interrupt".into()),
                    thread: None,
                },
            )
        }
    }

    #[test]
    fn header_new_fills_the_format_constants() {
        let header = header();
        assert_eq!(header.format, "barwatch-capture");
        assert_eq!(header.version, "1.5");
        assert_eq!(header.clock, "CLOCK_MONOTONIC");
    }

    #[test]
    fn lines_are_whole_json_objects_and_the_trailer_has_totals() {
        let mut out = Vec::new();
        let mut writer = CaptureWriter::new(&mut out, &header()).unwrap();
        writer
            .write_event(&irq(2_000, "irq:irq_handler_entry"))
            .unwrap();
        writer
            .write_event(&irq(3_000, "irq:irq_handler_entry"))
            .unwrap();
        let ioctl = Event {
            data: EventData::IoctlEnter {
                fd: 3,
                cmd: Hex(0x4140),
                cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
                arg: Hex(0),
                dev: None,
            },
            ..irq(4_000, "syscalls:sys_enter_ioctl")
        };
        writer.write_event(&ioctl).unwrap();
        let lost = BTreeMap::from([
            ("syscalls:sys_enter_ioctl".to_owned(), 2),
            ("kprobe:azx_stop_chip".to_owned(), 5),
        ]);
        let trailer = writer.finish(lost, 1, 0, 9_000).unwrap();

        assert_eq!(trailer.events, 3);
        assert_eq!(trailer.lost, 7);
        assert_eq!(trailer.decode_errors, 1);
        assert_eq!(trailer.ended_unix_ns, 9_000);
        assert_eq!(
            trailer.probes,
            BTreeMap::from([
                (
                    "irq:irq_handler_entry".to_owned(),
                    ProbeTotals { events: 2, lost: 0 }
                ),
                (
                    "kprobe:azx_stop_chip".to_owned(),
                    ProbeTotals { events: 0, lost: 5 }
                ),
                (
                    "syscalls:sys_enter_ioctl".to_owned(),
                    ProbeTotals { events: 1, lost: 2 }
                ),
            ])
        );

        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n'));
        let lines: Vec<Line> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], Line::Header(header()));
        assert_eq!(lines[3], Line::Event(ioctl));
        assert_eq!(lines[4], Line::Trailer(trailer));
    }
}
