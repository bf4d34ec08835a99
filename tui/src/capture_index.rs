//! A capture file replayed without holding it: one pass reads every event (for
//! the judgement) and keeps only the byte offset of every [`BLOCK`]th event's
//! line; the events the screens show are read back from the file on demand.
//! Memory grows by eight bytes per [`BLOCK`] events, not with the events.

use std::{
    cell::Cell,
    fs::File,
    io::{self, BufRead, BufReader, Read, Seek, SeekFrom},
    path::Path,
    rc::Rc,
};

use barwatch::{
    capture::{
        format::Header,
        reader::{CaptureEnd, CaptureError, CaptureReader, PartialLine},
    },
    event::Event,
};

use crate::event_store::Widest;

/// Events per indexed offset: reading one back reads at most this many lines.
pub const BLOCK: u64 = 64;

/// Where in the capture file each block of events starts.
pub struct CaptureIndex {
    file: File,
    /// The header line, newline included: read back before any event so the
    /// capture's own reader parses them.
    header_line: Vec<u8>,
    /// The byte offset of event `i * BLOCK`'s line.
    offsets: Vec<u64>,
    /// Events in the capture.
    len: u64,
    widest: Widest,
}

/// What one pass over a capture file found.
pub struct Indexed {
    /// The capture's header.
    pub header: Header,
    /// How the capture ended.
    pub end: CaptureEnd,
    /// Where its events are.
    pub index: CaptureIndex,
}

impl CaptureIndex {
    /// Reads the capture at `path` once: `begin` makes what takes in its events
    /// from the header, and `each` hands it every event in file order. A cut final
    /// line ends the capture as [`CaptureEnd::Cut`], as
    /// [`read_capture`](barwatch::capture::reader::read_capture) has it.
    pub fn read<S>(
        path: &Path,
        begin: impl FnOnce(&Header) -> S,
        mut each: impl FnMut(&mut S, Event),
    ) -> Result<(Indexed, S), CaptureError> {
        let open = || {
            File::open(path).map_err(|source| CaptureError::Open {
                path: path.to_owned(),
                source,
            })
        };
        let consumed = Rc::new(Cell::new(0));
        let input = Counted {
            inner: BufReader::new(open()?),
            consumed: Rc::clone(&consumed),
        };
        let mut reader = CaptureReader::new(input)?;
        let mut sink = begin(reader.header());
        let header_end = consumed.get();
        let mut offsets = Vec::new();
        let mut len = 0;
        let mut widest = Widest::default();
        let mut partial = None;
        loop {
            let offset = consumed.get();
            match reader.next() {
                Some(Ok(event)) => {
                    if len % BLOCK == 0 {
                        offsets.push(offset);
                    }
                    len += 1;
                    widest.take(&event);
                    each(&mut sink, event);
                }
                Some(Err(CaptureError::TruncatedLine { line, bytes })) => {
                    partial = Some(PartialLine { line, bytes });
                }
                Some(Err(error)) => return Err(error),
                None => break,
            }
        }
        let end = match reader.trailer() {
            Some(trailer) => CaptureEnd::Trailer(trailer.clone()),
            None => CaptureEnd::Cut {
                complete_lines: reader.lines_read(),
                partial,
            },
        };
        let header = reader.header().clone();
        let mut file = open()?;
        let mut header_line = vec![0; usize::try_from(header_end).unwrap_or(usize::MAX)];
        file.read_exact(&mut header_line)
            .map_err(|source| CaptureError::Io { line: 1, source })?;
        let indexed = Indexed {
            header,
            end,
            index: CaptureIndex {
                file,
                header_line,
                offsets,
                len,
                widest,
            },
        };
        Ok((indexed, sink))
    }

    /// Events in the capture.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the capture has no events.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How wide the event list's columns must be to fit every event.
    pub fn widest(&self) -> &Widest {
        &self.widest
    }

    /// The events numbered `numbers` (ascending), read back from the file; fewer
    /// if the file changed under it.
    pub fn read_events(&self, numbers: &[u64]) -> Vec<Event> {
        let mut events = Vec::with_capacity(numbers.len());
        let mut at: Option<(u64, CaptureReader<Box<dyn BufRead + '_>>)> = None;
        for &number in numbers {
            let reusable = at
                .as_ref()
                .is_some_and(|(next, _)| *next <= number && number - *next < BLOCK);
            if !reusable {
                let block = number / BLOCK;
                let Some(reader) = self.reader_at(block) else {
                    break;
                };
                at = Some((block * BLOCK, reader));
            }
            let Some((next, reader)) = at.as_mut() else {
                break;
            };
            let skip = usize::try_from(number - *next).unwrap_or(usize::MAX);
            match reader.nth(skip) {
                Some(Ok(event)) => events.push(event),
                _ => break,
            }
            *next = number + 1;
        }
        events
    }

    /// Every event from number `from` on, read back in order.
    pub fn events_from(&self, from: u64) -> impl Iterator<Item = (u64, Event)> + '_ {
        let block = from / BLOCK;
        let skip = usize::try_from(from - block * BLOCK).unwrap_or(usize::MAX);
        self.reader_at(block)
            .into_iter()
            .flatten()
            .map_while(Result::ok)
            .skip(skip)
            .zip(from..)
            .map(|(event, number)| (number, event))
    }

    /// A reader of the capture from the start of block `block`'s first line.
    fn reader_at(&self, block: u64) -> Option<CaptureReader<Box<dyn BufRead + '_>>> {
        let offset = *self.offsets.get(usize::try_from(block).ok()?)?;
        let mut file = &self.file;
        file.seek(SeekFrom::Start(offset)).ok()?;
        let input: Box<dyn BufRead + '_> = Box::new(BufReader::new(
            io::Cursor::new(&self.header_line[..]).chain(file),
        ));
        CaptureReader::new(input).ok()
    }
}

/// A buffered reader that counts the bytes taken from it: the offset of the line
/// the capture's reader reads next.
struct Counted {
    inner: BufReader<File>,
    consumed: Rc<Cell<u64>>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.set(self.consumed.get() + n as u64);
        Ok(n)
    }
}

impl BufRead for Counted {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.consumed.set(self.consumed.get() + amount as u64);
        self.inner.consume(amount);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use barwatch::capture::reader::read_capture;

    use super::*;

    fn demo() -> &'static Path {
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/demo-capture.jsonl"
        ))
    }

    /// Indexes `path`, counting the events handed over.
    fn index(path: &Path) -> (Indexed, u64) {
        CaptureIndex::read(path, |_| 0, |count, _| *count += 1).unwrap()
    }

    #[test]
    fn events_read_back_are_the_events_of_the_file_across_blocks() {
        let whole = read_capture(demo()).unwrap();
        let (indexed, handed) = index(demo());
        assert_eq!(handed, whole.events.len() as u64);
        assert_eq!(indexed.index.len(), handed);
        assert_eq!((indexed.header, indexed.end), (whole.header, whole.end));
        let last = handed - 1;
        let numbers = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 7, last];
        let expected: Vec<&Event> = numbers.iter().map(|&n| &whole.events[n as usize]).collect();
        let read = indexed.index.read_events(&numbers);
        assert_eq!(read.iter().collect::<Vec<_>>(), expected);
        let tail: Vec<Event> = indexed
            .index
            .events_from(last - 2)
            .map(|(_, e)| e)
            .collect();
        assert_eq!(tail, whole.events[whole.events.len() - 3..]);
    }

    #[test]
    fn a_cut_final_line_ends_the_capture_as_reading_it_whole_does() {
        let text = std::fs::read_to_string(demo()).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.pop(); // the trailer
        let cut_line = lines.pop().unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        for line in &lines {
            writeln!(file, "{line}").unwrap();
        }
        write!(file, "{}", &cut_line[..cut_line.len() / 2]).unwrap();
        file.flush().unwrap();
        let whole = read_capture(file.path()).unwrap();
        let (indexed, handed) = index(file.path());
        assert!(matches!(
            whole.end,
            CaptureEnd::Cut {
                partial: Some(_),
                ..
            }
        ));
        assert_eq!(indexed.end, whole.end);
        assert_eq!(handed, whole.events.len() as u64);
        let last = handed - 1;
        assert_eq!(
            indexed.index.read_events(&[last]),
            [whole.events.last().unwrap().clone()]
        );
        assert!(indexed.index.read_events(&[handed]).is_empty());
    }
}
