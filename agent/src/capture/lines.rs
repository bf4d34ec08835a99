//! Splits a capture into lines where they lie in the input's buffer.
//!
//! A line that lies whole in the buffer of a [`BufRead`] is handed to its
//! parser right there; only a line that a refill splits is copied, into a
//! buffer kept for the purpose. The input is consumed exactly up to and
//! including each line's `\n`, so what counts the bytes consumed (the terminal
//! UI's index of line offsets) sees every line start where it is in the file.
//!
//! No line is held past [`MAX_LINE_BYTES`], so a corrupt or hostile file
//! cannot make the reader allocate without limit.

use std::io::{self, BufRead};

use crate::capture::{format::MAX_LINE_BYTES, reader::CaptureError};

/// How a line read from the input ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineEnd {
    /// With a `\n`.
    Newline,
    /// At end of input, without a `\n`.
    Eof,
}

/// The line splitter of one input: the copy of a line split across refills.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    /// The start of a line the buffer held only part of; reused across lines.
    split: Vec<u8>,
}

impl Lines {
    /// Hands the next line of `input` (without its `\n`) and how it ended to
    /// `parse`, then consumes it; `None` at end of input. `line` is its 1-based
    /// number, for errors.
    pub(crate) fn next<T>(
        &mut self,
        input: &mut impl BufRead,
        line: usize,
        parse: impl FnOnce(&[u8], LineEnd) -> T,
    ) -> Result<Option<T>, CaptureError> {
        self.split.clear();
        loop {
            let available = match input.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(CaptureError::Io { line, source }),
            };
            if available.is_empty() {
                return Ok((!self.split.is_empty()).then(|| parse(&self.split, LineEnd::Eof)));
            }
            let newline = memchr::memchr(b'\n', available);
            let content = newline.unwrap_or(available.len());
            if self.split.len() + content > MAX_LINE_BYTES {
                return Err(CaptureError::LineTooLong {
                    line,
                    limit: MAX_LINE_BYTES,
                });
            }
            let Some(newline) = newline else {
                self.split.extend_from_slice(available);
                input.consume(content);
                continue;
            };
            let parsed = if self.split.is_empty() {
                parse(&available[..newline], LineEnd::Newline)
            } else {
                self.split.extend_from_slice(&available[..newline]);
                parse(&self.split, LineEnd::Newline)
            };
            input.consume(newline + 1);
            return Ok(Some(parsed));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read};

    use super::*;

    /// Every line of `input` with how it ended, read through a buffer of
    /// `capacity` bytes, and the bytes consumed before each line.
    fn split(input: &[u8], capacity: usize) -> Vec<(Vec<u8>, LineEnd, u64)> {
        let mut reader = Counted {
            inner: BufReader::with_capacity(capacity, input),
            consumed: 0,
        };
        let mut lines = Lines::default();
        let mut found = Vec::new();
        for number in 1.. {
            let at = reader.consumed;
            let Some((line, end)) = lines
                .next(&mut reader, number, |bytes, end| (bytes.to_vec(), end))
                .unwrap()
            else {
                break;
            };
            found.push((line, end, at));
        }
        found
    }

    /// A buffered reader that counts what is consumed from it.
    struct Counted<R> {
        inner: BufReader<R>,
        consumed: u64,
    }

    impl<R: Read> Read for Counted<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.inner.read(buf)
        }
    }

    impl<R: Read> BufRead for Counted<R> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            self.inner.fill_buf()
        }

        fn consume(&mut self, amount: usize) {
            self.consumed += amount as u64;
            self.inner.consume(amount);
        }
    }

    /// What [`split`] should find: `input`'s lines and where each starts.
    fn expected(input: &[u8]) -> Vec<(Vec<u8>, LineEnd, u64)> {
        let mut lines = Vec::new();
        let mut at = 0;
        while at < input.len() {
            let (line, end, next) = match input[at..].iter().position(|&b| b == b'\n') {
                Some(length) => (&input[at..at + length], LineEnd::Newline, at + length + 1),
                None => (&input[at..], LineEnd::Eof, input.len()),
            };
            lines.push((line.to_vec(), end, at as u64));
            at = next;
        }
        lines
    }

    #[test]
    fn lines_split_by_any_buffer_are_whole_and_start_where_they_lie() {
        let input = b"{\"a\":1}\n\n{\"bb\":[1,2,3]}\nxyz\n{\"type\":\"event\"}\nlast";
        for capacity in 1..=input.len() + 1 {
            assert_eq!(split(input, capacity), expected(input), "{capacity}");
        }
    }

    #[test]
    fn a_last_line_without_a_newline_ends_at_the_end_of_input() {
        let found = split(b"one\ntwo", 3);
        assert_eq!(
            found,
            [
                (b"one".to_vec(), LineEnd::Newline, 0),
                (b"two".to_vec(), LineEnd::Eof, 4)
            ]
        );
        assert_eq!(split(b"one\n", 2), [(b"one".to_vec(), LineEnd::Newline, 0)]);
        assert_eq!(split(b"", 2), []);
    }

    #[test]
    fn a_split_line_over_the_limit_is_refused() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 1];
        input.push(b'\n');
        for capacity in [7, 1 << 16, 2 * MAX_LINE_BYTES] {
            let mut reader = BufReader::with_capacity(capacity, &input[..]);
            let error = Lines::default()
                .next(&mut reader, 3, |_, _| ())
                .unwrap_err();
            assert!(
                matches!(error, CaptureError::LineTooLong { line: 3, .. }),
                "{capacity}: {error}"
            );
        }
        let exact = [&input[1..], b"y"].concat();
        let mut reader = BufReader::with_capacity(1 << 16, &exact[..]);
        let length = Lines::default()
            .next(&mut reader, 1, |bytes, _| bytes.len())
            .unwrap();
        assert_eq!(length, Some(MAX_LINE_BYTES));
    }
}
