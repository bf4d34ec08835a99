//! Reads captures back: validates the header, streams events, notices the trailer.
//!
//! Two ways in. [`CaptureReader`] is strict and streaming: it yields events one at
//! a time and reports every defect, including a final line cut off without its
//! newline. [`read_capture`] and [`read_capture_from`] load a whole capture and are
//! forgiving about exactly one thing: a cut final line, which is what a recorder
//! killed mid-write leaves behind. That capture stays readable up to its last
//! complete line and is marked [`CaptureEnd::Cut`].
//!
//! Lines are read with a bound: no line is buffered past
//! [`MAX_LINE_BYTES`](crate::capture::format::MAX_LINE_BYTES), so a corrupt or
//! hostile file cannot make the reader allocate without limit.
//!
//! Blank lines are errors ([`CaptureError::NotJson`]): the writer never produces
//! them, so one means the file was edited or corrupted.

use std::{
    fs::File,
    io::{self, BufRead, BufReader},
    path::{Path, PathBuf},
};

use serde::Serialize;
use thiserror::Error;

use crate::{
    capture::{
        event_line,
        event_scan::{self, PlainNames},
        format::{FORMAT_MAJOR, FORMAT_NAME, Header, Line, Trailer},
        lines::{LineEnd, Lines},
    },
    event::Event,
};

/// Why a capture could not be read. Every variant about content names the
/// 1-based line it is about.
#[derive(Debug, Error)]
pub enum CaptureError {
    /// The capture file could not be opened.
    #[error("cannot open capture {}; check the path and its permissions", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// Reading failed part way.
    #[error("line {line}: reading the capture failed; check that the file is readable")]
    Io {
        /// The line being read.
        line: usize,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// The input has no lines at all.
    #[error(
        "the capture is empty; the recorder stopped before writing its header, so record again"
    )]
    Empty,
    /// A line is not JSON.
    #[error("line {line}: not JSON ({message}); is this a barwatch capture?")]
    NotJson {
        /// The offending line.
        line: usize,
        /// What the JSON parser expected, and where.
        message: String,
    },
    /// A line is JSON but not a header, event or trailer this build understands.
    #[error(
        "line {line}: not a valid capture line ({message}); the file is corrupt or was written by an incompatible barwatch"
    )]
    InvalidLine {
        /// The offending line.
        line: usize,
        /// What was wrong with it.
        message: String,
    },
    /// The first line is JSON but not a header.
    #[error("line {line}: the first line is not a capture header; is this a barwatch capture?")]
    MissingHeader {
        /// The offending line (always 1).
        line: usize,
    },
    /// The header's `format` is not [`FORMAT_NAME`].
    #[error("line {line}: format {found:?} is not a barwatch capture (expected {FORMAT_NAME:?})")]
    WrongFormat {
        /// The header line.
        line: usize,
        /// The format name found.
        found: String,
    },
    /// The header's `version` is not `MAJOR.MINOR` with a major this build knows.
    #[error(
        "line {line}: capture version {found:?} is invalid (expected \"{FORMAT_MAJOR}.MINOR\"); the header is corrupt"
    )]
    BadVersion {
        /// The header line.
        line: usize,
        /// The version text found.
        found: String,
    },
    /// The capture was written by a newer, incompatible barwatch.
    #[error(
        "line {line}: capture version {found} is newer than this barwatch reads ({supported}.x); upgrade barwatch"
    )]
    NewerMajor {
        /// The header line.
        line: usize,
        /// The version found.
        found: String,
        /// The major version this build reads.
        supported: u32,
    },
    /// A line is longer than any barwatch writes.
    #[error(
        "line {line}: longer than {limit} bytes, which no barwatch line is; the capture is corrupt"
    )]
    LineTooLong {
        /// The offending line.
        line: usize,
        /// The limit, [`MAX_LINE_BYTES`](crate::capture::format::MAX_LINE_BYTES).
        limit: usize,
    },
    /// A line is not UTF-8 text.
    #[error("line {line}: not UTF-8 text; the capture is corrupt or not a barwatch capture")]
    NotUtf8 {
        /// The offending line.
        line: usize,
    },
    /// A second header.
    #[error(
        "line {line}: a second header; were two captures concatenated? split them and read each alone"
    )]
    DuplicateHeader {
        /// The offending line.
        line: usize,
    },
    /// A line after the trailer, which must be last.
    #[error(
        "line {line}: data after the trailer, which must be the last line; were two captures concatenated? remove the lines after the trailer"
    )]
    AfterTrailer {
        /// The first line after the trailer.
        line: usize,
    },
    /// The last line has no newline and does not parse: it was cut mid-write.
    #[error(
        "line {line}: cut off after {bytes} bytes with no newline (the recorder was killed or the disk filled); the lines before it are intact"
    )]
    TruncatedLine {
        /// The cut line.
        line: usize,
        /// How many bytes of it are present.
        bytes: usize,
    },
}

impl CaptureError {
    /// Whether this is a failure to parse a line's bytes, which for a final
    /// line without a newline means the line was cut rather than corrupt.
    fn is_parse_failure(&self) -> bool {
        matches!(
            self,
            CaptureError::NotJson { .. }
                | CaptureError::InvalidLine { .. }
                | CaptureError::NotUtf8 { .. }
        )
    }
}

/// The line as text, or why it is not text. Blank lines are refused here.
fn line_text(bytes: &[u8], line: usize) -> Result<&str, CaptureError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CaptureError::NotUtf8 { line })?;
    if text.trim().is_empty() {
        return Err(CaptureError::NotJson {
            line,
            message: "blank line".to_owned(),
        });
    }
    Ok(text)
}

/// A serde_json error as a reader-facing message: the parser's words and the
/// column, without serde_json's "line 1" (each capture line is parsed alone).
fn json_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if error.line() == 0 {
        return text;
    }
    let position = format!(" at line {} column {}", error.line(), error.column());
    let words = text.strip_suffix(&position).unwrap_or(&text);
    format!("{words} at column {}", error.column())
}

/// Maps a failure to parse `Line`/`Value` JSON to the matching error.
fn json_error(error: &serde_json::Error, line: usize) -> CaptureError {
    let message = json_message(error);
    if error.is_data() {
        CaptureError::InvalidLine { line, message }
    } else {
        CaptureError::NotJson { line, message }
    }
}

/// Parses and validates a header line, checking the format name and version
/// before the fields so that a foreign or newer file gets the error that says so.
fn parse_header(bytes: &[u8], line: usize) -> Result<Header, CaptureError> {
    let text = line_text(bytes, line)?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| json_error(&error, line))?;
    if value.get("type").and_then(serde_json::Value::as_str) != Some("header") {
        return Err(CaptureError::MissingHeader { line });
    }
    if let Some(found) = value.get("format").and_then(serde_json::Value::as_str)
        && found != FORMAT_NAME
    {
        return Err(CaptureError::WrongFormat {
            line,
            found: found.to_owned(),
        });
    }
    match value.get("version") {
        Some(serde_json::Value::String(version)) => check_version(version, line)?,
        Some(other) => {
            return Err(CaptureError::BadVersion {
                line,
                found: other.to_string(),
            });
        }
        None => {}
    }
    serde_json::from_value(value).map_err(|error| CaptureError::InvalidLine {
        line,
        message: json_message(&error),
    })
}

/// Accepts `MAJOR.MINOR` with this build's major and any minor.
fn check_version(version: &str, line: usize) -> Result<(), CaptureError> {
    let number = |part: &str| {
        if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        part.parse::<u32>().ok()
    };
    let parsed = version
        .split_once('.')
        .and_then(|(major, minor)| Some((number(major)?, number(minor)?)));
    match parsed {
        Some((major, _)) if major == FORMAT_MAJOR => Ok(()),
        Some((major, _)) if major > FORMAT_MAJOR => Err(CaptureError::NewerMajor {
            line,
            found: version.to_owned(),
            supported: FORMAT_MAJOR,
        }),
        _ => Err(CaptureError::BadVersion {
            line,
            found: version.to_owned(),
        }),
    }
}

/// Parses a line after the header that the scanner did not read: an event
/// line in the writer's field order the fast serde way, any other line (and
/// any line that refuses) the general way.
fn parse_line(bytes: &[u8], line: usize) -> Result<Line, CaptureError> {
    let text = line_text(bytes, line)?;
    if let Some(event) = event_line::parse(text) {
        return Ok(Line::Event(event));
    }
    serde_json::from_str(text).map_err(|error| json_error(&error, line))
}

/// A final line without a newline that failed to parse was cut, not corrupt.
fn cut_if_unterminated<T>(
    result: Result<T, CaptureError>,
    end: LineEnd,
    line: usize,
    bytes: usize,
) -> Result<T, CaptureError> {
    match result {
        Err(error) if end == LineEnd::Eof && error.is_parse_failure() => {
            Err(CaptureError::TruncatedLine { line, bytes })
        }
        other => other,
    }
}

/// A strict, streaming capture reader: the header up front, then events one by one.
///
/// It stops at the first error (the iterator returns `None` after yielding it).
/// A final line without a newline is accepted when it parses and is
/// [`CaptureError::TruncatedLine`] when it does not.
pub struct CaptureReader<R: BufRead> {
    input: R,
    header: Header,
    trailer: Option<Trailer>,
    /// Complete, accepted lines so far, the header included.
    lines_read: usize,
    /// Splits the input into lines.
    lines: Lines,
    /// The names events share.
    names: PlainNames,
    /// Set at end of input or after an error.
    done: bool,
}

impl<R: BufRead> CaptureReader<R> {
    /// Reads and validates the header line.
    pub fn new(mut input: R) -> Result<Self, CaptureError> {
        let mut lines = Lines::default();
        let header = lines
            .next(&mut input, 1, |bytes, end| {
                cut_if_unterminated(parse_header(bytes, 1), end, 1, bytes.len())
            })?
            .ok_or(CaptureError::Empty)??;
        Ok(CaptureReader {
            input,
            header,
            trailer: None,
            lines_read: 1,
            lines,
            names: PlainNames::default(),
            done: false,
        })
    }

    /// The capture's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The trailer, once the iterator has read it.
    pub fn trailer(&self) -> Option<&Trailer> {
        self.trailer.as_ref()
    }

    /// How many complete lines have been accepted, the header included.
    pub fn lines_read(&self) -> usize {
        self.lines_read
    }

    /// What the iterator's `next` is, with the event handed to `take` rather
    /// than returned: `Some(Ok(()))` when `take` got one. An event the scanner
    /// reads goes to `take` straight from its line, without being moved
    /// through the layers a returned one passes (a capture is millions of
    /// them, each a couple of hundred bytes).
    pub fn next_to(&mut self, take: &mut impl FnMut(Event)) -> Option<Result<(), CaptureError>> {
        if self.done {
            return None;
        }
        let next = self.next_event_to(take);
        if !matches!(next, Ok(true)) {
            self.done = true;
        }
        match next {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(error) => Some(Err(error)),
        }
    }

    /// Hands the next event to `take`; `Ok(false)` at end of input. Records
    /// the trailer on the way.
    fn next_event_to(&mut self, take: &mut impl FnMut(Event)) -> Result<bool, CaptureError> {
        loop {
            let line = self.lines_read + 1;
            let after_trailer = self.trailer.is_some();
            let names = &mut self.names;
            let parsed = self.lines.next(&mut self.input, line, |bytes, end| {
                if after_trailer {
                    return Err(CaptureError::AfterTrailer { line });
                }
                if let Some(event) = event_scan::scan(bytes, names) {
                    take(event);
                    return Ok(None);
                }
                cut_if_unterminated(parse_line(bytes, line), end, line, bytes.len()).map(Some)
            })?;
            let Some(parsed) = parsed else {
                return Ok(false);
            };
            match parsed? {
                None => {
                    self.lines_read = line;
                    return Ok(true);
                }
                Some(Line::Event(event)) => {
                    self.lines_read = line;
                    take(event);
                    return Ok(true);
                }
                Some(Line::Trailer(trailer)) => {
                    self.lines_read = line;
                    self.trailer = Some(trailer);
                }
                Some(Line::Header(_)) => return Err(CaptureError::DuplicateHeader { line }),
            }
        }
    }
}

impl<R: BufRead> Iterator for CaptureReader<R> {
    type Item = Result<Event, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut event = None;
        let next = self.next_to(&mut |taken| event = Some(taken))?;
        Some(next.map(|()| event.expect("next_to took an event")))
    }
}

/// A whole capture in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// The header line.
    pub header: Header,
    /// Every event, in file order.
    pub events: Vec<Event>,
    /// Whether the capture ended cleanly, and if not, where it was cut.
    pub end: CaptureEnd,
}

/// How a capture ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureEnd {
    /// Cleanly, with this trailer.
    Trailer(Trailer),
    /// Without a trailer: the recorder was killed or the disk filled.
    Cut {
        /// Complete lines read, the header included.
        complete_lines: usize,
        /// The unparseable final line without a newline, if there was one.
        partial: Option<PartialLine>,
    },
}

/// A final line cut off mid-write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PartialLine {
    /// Its 1-based line number.
    pub line: usize,
    /// How many bytes of it are present.
    pub bytes: usize,
}

/// Loads the capture at `path`; see [`read_capture_from`].
pub fn read_capture(path: &Path) -> Result<Capture, CaptureError> {
    let file = File::open(path).map_err(|source| CaptureError::Open {
        path: path.to_owned(),
        source,
    })?;
    read_capture_from(BufReader::new(file))
}

/// Loads a whole capture. A cut final line becomes [`CaptureEnd::Cut`] with
/// `partial` set rather than an error, so a capture whose recorder was killed
/// stays readable up to its last complete line; every other defect is an error.
pub fn read_capture_from(input: impl BufRead) -> Result<Capture, CaptureError> {
    let mut reader = CaptureReader::new(input)?;
    let mut events = Vec::new();
    let mut partial = None;
    for event in reader.by_ref() {
        match event {
            Ok(event) => events.push(event),
            Err(CaptureError::TruncatedLine { line, bytes }) => {
                partial = Some(PartialLine { line, bytes });
            }
            Err(error) => return Err(error),
        }
    }
    let end = match reader.trailer {
        Some(trailer) => CaptureEnd::Trailer(trailer),
        None => CaptureEnd::Cut {
            complete_lines: reader.lines_read,
            partial,
        },
    };
    Ok(Capture {
        header: reader.header,
        events,
        end,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{
        capture::{
            format::{MAX_LINE_BYTES, ProbeTotals},
            writer::CaptureWriter,
        },
        event::{EventData, Hex},
        probe_table::{Mechanism, Role},
        testkit::{self, event},
    };

    fn header() -> Header {
        testkit::header(vec![
            testkit::attached("irq:irq_handler_entry", Role::Irq, Mechanism::RawTracepoint),
            testkit::refused(
                "kprobe:azx_stop_chip",
                Role::QuiesceMarker,
                Mechanism::Kprobe,
                "symbol not in kallsyms",
            ),
        ])
    }

    fn events() -> Vec<Event> {
        vec![
            event(
                2_000,
                "irq:irq_handler_entry",
                EventData::IrqHandlerEntry {
                    irq: 42,
                    handler: Hex(0xffffffffc0a01230),
                    handler_name: Some("azx_interrupt".into()),
                    thread: None,
                },
            ),
            event(
                2_500,
                "irq:irq_handler_exit",
                EventData::IrqHandlerExit {
                    irq: 42,
                    handler: Hex(0xffffffffc0a01230),
                    handler_name: Some("azx_interrupt".into()),
                    handled: true,
                },
            ),
            event(
                3_000,
                "workqueue:workqueue_execute_start",
                EventData::WorkStart {
                    work: Hex(0xffff_8880_0123_4000),
                    function: Hex(0xffff_ffff_c0a1_2345),
                    symbol: Some("azx_probe_work".into()),
                },
            ),
            event(
                3_500,
                "syscalls:sys_enter_ioctl",
                EventData::IoctlEnter {
                    fd: 3,
                    cmd: Hex(0x4140),
                    cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
                    arg: Hex(0),
                    dev: None,
                },
            ),
            event(
                3_600,
                "syscalls:sys_exit_ioctl",
                EventData::IoctlExit {
                    fd: 3,
                    cmd: Hex(0x4140),
                    cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
                    ret: -19,
                    dev: None,
                },
            ),
            event(
                4_000,
                "kprobe:azx_stop_chip",
                EventData::FuncEntry {
                    function: "azx_stop_chip".into(),
                    module: Some("snd_hda_codec".into()),
                    ip: Hex(0xffff_ffff_c0a0_0000),
                    args: [Hex(1), Hex(2), Hex(3), Hex(4)],
                    base: None,
                    stack: Vec::new(),
                },
            ),
            event(
                4_100,
                "kretprobe:azx_stop_chip",
                EventData::FuncExit {
                    function: "azx_stop_chip".into(),
                    module: None,
                    ip: Hex(0xffff_ffff_c0a0_0000),
                    ret: Hex(0),
                    stack: vec!["azx_stop_chip".into(), "azx_remove [snd_hda_intel]".into()],
                },
            ),
        ]
    }

    /// A complete capture of [`events`], with 3 lost on the irq probe.
    fn written() -> (Vec<u8>, Trailer) {
        let mut out = Vec::new();
        let mut writer = CaptureWriter::new(&mut out, &header()).unwrap();
        for event in events() {
            writer.write_event(&event).unwrap();
        }
        let lost = BTreeMap::from([("irq:irq_handler_entry".to_owned(), 3)]);
        let trailer = writer.finish(lost, 2, 0, 99).unwrap();
        (out, trailer)
    }

    /// The first `n` lines of `bytes`, each with its newline.
    fn first_lines(bytes: &[u8], n: usize) -> Vec<u8> {
        bytes
            .split_inclusive(|&byte| byte == b'\n')
            .take(n)
            .flatten()
            .copied()
            .collect()
    }

    fn strict(bytes: &[u8]) -> Result<Vec<Event>, CaptureError> {
        CaptureReader::new(bytes)?.collect()
    }

    #[test]
    fn round_trip_keeps_every_event_and_the_trailer() {
        let (bytes, trailer) = written();
        assert_eq!(trailer.events, 7);
        assert_eq!(trailer.lost, 3);
        assert_eq!(
            trailer.probes["irq:irq_handler_entry"],
            ProbeTotals { events: 1, lost: 3 }
        );
        assert_eq!(
            trailer.probes["kprobe:azx_stop_chip"],
            ProbeTotals { events: 1, lost: 0 }
        );
        assert_eq!(trailer.probes.len(), 7);

        let capture = read_capture_from(&bytes[..]).unwrap();
        assert_eq!(capture.header, header());
        assert_eq!(capture.events, events());
        assert_eq!(capture.end, CaptureEnd::Trailer(trailer.clone()));

        let mut reader = CaptureReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.header(), &header());
        let streamed: Vec<Event> = reader.by_ref().map(Result::unwrap).collect();
        assert_eq!(streamed, events());
        assert_eq!(reader.trailer(), Some(&trailer));
        assert_eq!(reader.lines_read(), 9);
    }

    #[test]
    fn any_buffer_size_reads_the_same_capture() {
        let (bytes, trailer) = written();
        let cut = &bytes[..bytes.len() - 1];
        for capacity in [1, 2, 7, 64, 333, bytes.len()] {
            let mut reader =
                CaptureReader::new(BufReader::with_capacity(capacity, &bytes[..])).unwrap();
            let streamed: Vec<Event> = reader.by_ref().map(Result::unwrap).collect();
            assert_eq!(streamed, events(), "{capacity}");
            assert_eq!(reader.trailer(), Some(&trailer), "{capacity}");
            let unterminated = read_capture_from(BufReader::with_capacity(capacity, cut)).unwrap();
            assert_eq!(unterminated.events, events(), "{capacity}");
            assert_eq!(unterminated.end, CaptureEnd::Trailer(trailer.clone()));
        }
    }

    #[test]
    fn round_trip_through_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.jsonl");
        let (bytes, trailer) = written();
        let mut file = crate::output::create(&path).unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        drop(file);

        let capture = read_capture(&path).unwrap();
        assert_eq!(capture.events, events());
        assert_eq!(capture.end, CaptureEnd::Trailer(trailer));

        let missing = read_capture(&dir.path().join("nope.jsonl")).unwrap_err();
        assert!(matches!(missing, CaptureError::Open { .. }));
        assert!(missing.to_string().starts_with("cannot open capture /"));
    }

    #[test]
    fn a_cut_capture_keeps_its_complete_lines() {
        let (bytes, _) = written();
        // Header and four events, then a fifth event cut mid-line.
        let mut cut = first_lines(&bytes, 5);
        let sixth = first_lines(&bytes, 6)[cut.len()..].to_vec();
        cut.extend_from_slice(&sixth[..sixth.len() / 2]);

        let capture = read_capture_from(&cut[..]).unwrap();
        assert_eq!(capture.events, events()[..4]);
        assert_eq!(
            capture.end,
            CaptureEnd::Cut {
                complete_lines: 5,
                partial: Some(PartialLine {
                    line: 6,
                    bytes: sixth.len() / 2
                }),
            }
        );

        let error = strict(&cut).unwrap_err();
        assert!(
            matches!(error, CaptureError::TruncatedLine { line: 6, bytes } if bytes == sixth.len() / 2)
        );
        assert_eq!(
            error.to_string(),
            format!(
                "line 6: cut off after {} bytes with no newline (the recorder was killed or the disk filled); the lines before it are intact",
                sixth.len() / 2
            )
        );

        // Cut cleanly between lines: no partial line.
        let clean_cut = first_lines(&bytes, 5);
        let capture = read_capture_from(&clean_cut[..]).unwrap();
        assert_eq!(capture.events, events()[..4]);
        assert_eq!(
            capture.end,
            CaptureEnd::Cut {
                complete_lines: 5,
                partial: None
            }
        );
        assert_eq!(strict(&clean_cut).unwrap(), events()[..4]);
    }

    #[test]
    fn a_final_line_without_newline_that_parses_is_accepted() {
        let (bytes, trailer) = written();
        let unterminated = &bytes[..bytes.len() - 1];
        let capture = read_capture_from(unterminated).unwrap();
        assert_eq!(capture.events, events());
        assert_eq!(capture.end, CaptureEnd::Trailer(trailer));
        assert_eq!(strict(unterminated).unwrap(), events());
    }

    #[test]
    fn a_cut_header_is_an_error_even_for_read_capture() {
        let (bytes, _) = written();
        let error = read_capture_from(&bytes[..40]).unwrap_err();
        assert!(matches!(
            error,
            CaptureError::TruncatedLine { line: 1, bytes: 40 }
        ));
    }

    #[test]
    fn empty_input() {
        let error = read_capture_from(&b""[..]).unwrap_err();
        assert!(matches!(error, CaptureError::Empty));
        assert_eq!(
            error.to_string(),
            "the capture is empty; the recorder stopped before writing its header, so record again"
        );
    }

    #[test]
    fn not_json() {
        let (bytes, _) = written();
        let mut input = first_lines(&bytes, 6);
        input.extend_from_slice(b"hello\n");
        let error = read_capture_from(&input[..]).unwrap_err();
        assert!(matches!(error, CaptureError::NotJson { line: 7, .. }));
        assert_eq!(
            error.to_string(),
            "line 7: not JSON (expected value at column 1); is this a barwatch capture?"
        );

        let error = read_capture_from(&b"PK\x03\x04 zip\n"[..]).unwrap_err();
        assert!(matches!(error, CaptureError::NotJson { line: 1, .. }));

        let mut blank = first_lines(&bytes, 2);
        blank.extend_from_slice(b"\n");
        blank.extend_from_slice(&first_lines(&bytes, 3)[blank.len() - 1..]);
        let error = read_capture_from(&blank[..]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 3: not JSON (blank line); is this a barwatch capture?"
        );
    }

    #[test]
    fn json_that_is_not_a_capture_line() {
        let (bytes, _) = written();
        let mut input = first_lines(&bytes, 2);
        input.extend_from_slice(b"{\"type\":\"event\",\"ts_ns\":1}\n");
        let error = read_capture_from(&input[..]).unwrap_err();
        assert!(matches!(error, CaptureError::InvalidLine { line: 3, .. }));
        assert!(
            error
                .to_string()
                .starts_with("line 3: not a valid capture line (missing field"),
            "{error}"
        );
    }

    #[test]
    fn missing_header() {
        let (bytes, _) = written();
        let without_header = &bytes[first_lines(&bytes, 1).len()..];
        let error = read_capture_from(without_header).unwrap_err();
        assert!(matches!(error, CaptureError::MissingHeader { line: 1 }));
        assert_eq!(
            error.to_string(),
            "line 1: the first line is not a capture header; is this a barwatch capture?"
        );
    }

    /// The header line with one field replaced, followed by the rest of a capture.
    fn with_header_field(field: &str, value: serde_json::Value) -> Vec<u8> {
        let (bytes, _) = written();
        let first = first_lines(&bytes, 1);
        let mut header: serde_json::Value = serde_json::from_slice(&first).unwrap();
        header[field] = value;
        let mut input = serde_json::to_vec(&header).unwrap();
        input.push(b'\n');
        input.extend_from_slice(&bytes[first.len()..]);
        input
    }

    #[test]
    fn wrong_format_name() {
        let input = with_header_field("format", "foo".into());
        let error = read_capture_from(&input[..]).unwrap_err();
        assert!(
            matches!(error, CaptureError::WrongFormat { line: 1, ref found } if found == "foo")
        );
        assert_eq!(
            error.to_string(),
            "line 1: format \"foo\" is not a barwatch capture (expected \"barwatch-capture\")"
        );
    }

    #[test]
    fn newer_major_version() {
        let input = with_header_field("version", "2.0".into());
        let error = read_capture_from(&input[..]).unwrap_err();
        assert!(matches!(
            error,
            CaptureError::NewerMajor { line: 1, supported: 1, ref found } if found == "2.0"
        ));
        assert_eq!(
            error.to_string(),
            "line 1: capture version 2.0 is newer than this barwatch reads (1.x); upgrade barwatch"
        );
    }

    #[test]
    fn newer_minor_version_is_read() {
        let input = with_header_field("version", "1.7".into());
        let capture = read_capture_from(&input[..]).unwrap();
        assert_eq!(capture.events, events());
    }

    #[test]
    fn bad_version_strings() {
        for bad in ["1", "1.", ".1", "1.0.0", "one.zero", "+1.0", "0.9", ""] {
            let input = with_header_field("version", bad.into());
            let error = read_capture_from(&input[..]).unwrap_err();
            assert!(
                matches!(error, CaptureError::BadVersion { line: 1, ref found } if found == bad),
                "{bad:?}: {error}"
            );
        }
        let input = with_header_field("version", 1.into());
        let error = read_capture_from(&input[..]).unwrap_err();
        assert!(matches!(error, CaptureError::BadVersion { line: 1, ref found } if found == "1"));
        let input = with_header_field("version", "banana".into());
        assert_eq!(
            read_capture_from(&input[..]).unwrap_err().to_string(),
            "line 1: capture version \"banana\" is invalid (expected \"1.MINOR\"); the header is corrupt"
        );
    }

    #[test]
    fn line_over_the_size_limit() {
        let (bytes, _) = written();
        let mut input = first_lines(&bytes, 2);
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 1));
        input.push(b'\n');
        let error = read_capture_from(&input[..]).unwrap_err();
        assert!(matches!(
            error,
            CaptureError::LineTooLong {
                line: 3,
                limit: MAX_LINE_BYTES
            }
        ));
        assert_eq!(
            error.to_string(),
            "line 3: longer than 1048576 bytes, which no barwatch line is; the capture is corrupt"
        );
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_read() {
        let (bytes, _) = written();
        let mut input = first_lines(&bytes, 1);
        let mut event = serde_json::to_vec(&Line::Event(events()[0].clone())).unwrap();
        let padding = MAX_LINE_BYTES - event.len();
        event.extend(std::iter::repeat_n(b' ', padding));
        assert_eq!(event.len(), MAX_LINE_BYTES);
        input.extend_from_slice(&event);
        input.push(b'\n');
        assert_eq!(strict(&input).unwrap(), events()[..1]);
    }

    #[test]
    fn the_limit_is_enforced_without_reading_the_whole_line() {
        /// Endless `x`s: reading a whole line would never return.
        struct Endless;
        impl io::Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                buf.fill(b'x');
                Ok(buf.len())
            }
        }
        let (bytes, _) = written();
        let input = io::Read::chain(io::Cursor::new(first_lines(&bytes, 1)), Endless);
        let mut reader = CaptureReader::new(BufReader::new(input)).unwrap();
        assert!(matches!(
            reader.next(),
            Some(Err(CaptureError::LineTooLong { line: 2, .. }))
        ));
        assert!(reader.next().is_none());
    }

    #[test]
    fn not_utf8() {
        let (bytes, _) = written();
        let mut input = first_lines(&bytes, 3);
        input.extend_from_slice(b"{\"type\":\"ev\xffnt\"}\n");
        let error = read_capture_from(&input[..]).unwrap_err();
        assert!(matches!(error, CaptureError::NotUtf8 { line: 4 }));
        assert_eq!(
            error.to_string(),
            "line 4: not UTF-8 text; the capture is corrupt or not a barwatch capture"
        );
    }

    #[test]
    fn duplicate_header() {
        let (bytes, _) = written();
        let mut input = first_lines(&bytes, 3);
        input.extend_from_slice(&first_lines(&bytes, 1));
        let error = read_capture_from(&input[..]).unwrap_err();
        assert!(matches!(error, CaptureError::DuplicateHeader { line: 4 }));
    }

    #[test]
    fn lines_after_the_trailer() {
        let (bytes, _) = written();
        let mut input = bytes.clone();
        input.extend_from_slice(&first_lines(&bytes, 2)[first_lines(&bytes, 1).len()..]);
        let error = read_capture_from(&input[..]).unwrap_err();
        assert!(matches!(error, CaptureError::AfterTrailer { line: 10 }));

        // Even a cut line after the trailer is a defect, not a cut.
        let mut input = bytes.clone();
        input.extend_from_slice(b"{\"type\":");
        let error = read_capture_from(&input[..]).unwrap_err();
        assert!(matches!(error, CaptureError::AfterTrailer { line: 10 }));

        // Two captures concatenated.
        let mut input = bytes.clone();
        input.extend_from_slice(&bytes);
        assert!(matches!(
            strict(&input).unwrap_err(),
            CaptureError::AfterTrailer { line: 10 }
        ));
    }

    #[test]
    fn the_iterator_stops_after_an_error() {
        let (bytes, _) = written();
        let mut input = first_lines(&bytes, 2);
        input.extend_from_slice(b"garbage\n");
        input.extend_from_slice(&first_lines(&bytes, 3)[first_lines(&bytes, 2).len()..]);
        let mut reader = CaptureReader::new(&input[..]).unwrap();
        assert!(matches!(reader.next(), Some(Ok(_))));
        assert!(matches!(
            reader.next(),
            Some(Err(CaptureError::NotJson { line: 3, .. }))
        ));
        assert!(reader.next().is_none());
    }
}
