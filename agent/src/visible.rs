//! Text from the traced system made safe to print on a terminal.
//!
//! Process names, kernel symbols, module names and file names come from the
//! machine under test, where anyone may name a process `"\x1b]2;…\x07"` and
//! retitle (or worse) the terminal that reads a report. Every text barwatch
//! prints goes through [`visible`], which writes each control character as an
//! escape (`\x1b`), keeping only line feeds and tabs. JSON output needs none of
//! this: its encoder escapes control characters already, and stays exact.

use std::{borrow::Cow, fmt, io};

/// `text` with every control character but `\n` and `\t` written as an escape:
/// C0 and DEL as `\xNN`, C1 (which some terminals also obey) as `\u{NN}`.
pub fn visible(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

/// A text sink that writes what it is given to `out` through [`visible`]: a
/// report written piece by piece (its timelines cycle by cycle) reaches the
/// terminal as safe as one made whole first, without being held whole. The
/// first write error is kept and every later write skipped; [`finish`] hands
/// it back.
///
/// [`finish`]: VisibleWriter::finish
pub struct VisibleWriter<W: io::Write> {
    out: W,
    error: Option<io::Error>,
}

impl<W: io::Write> VisibleWriter<W> {
    /// Writes to `out` (best buffered: reports come in small pieces).
    pub fn new(out: W) -> Self {
        VisibleWriter { out, error: None }
    }

    /// Flushes `out`; the first error any write met, else the flush's.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: io::Write> fmt::Write for VisibleWriter<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.error.is_some() {
            return Err(fmt::Error);
        }
        self.out.write_all(visible(text).as_bytes()).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::{VisibleWriter, visible};

    #[test]
    fn text_written_in_pieces_comes_out_as_visible_as_written_whole() {
        let mut out = VisibleWriter::new(Vec::new());
        for piece in ["aplay\x1b", "]2;PWNED", "\x07\n"] {
            out.write_str(piece).unwrap();
        }
        assert_eq!(
            String::from_utf8(out.finish().unwrap()).unwrap(),
            visible("aplay\x1b]2;PWNED\x07\n")
        );
    }

    #[test]
    fn a_write_error_is_kept_and_later_writes_skipped() {
        #[derive(Debug)]
        struct Full;
        impl std::io::Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut out = VisibleWriter::new(Full);
        assert!(out.write_str("PASS").is_err());
        assert!(out.write_str("more").is_err());
        assert_eq!(
            out.finish().unwrap_err().kind(),
            std::io::ErrorKind::StorageFull
        );
    }

    #[test]
    fn plain_text_is_borrowed_as_it_is() {
        let text = "aplay 4242\tkworker/0:1\n";
        assert!(matches!(visible(text), std::borrow::Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn escapes_and_c1_controls_are_written_out() {
        assert_eq!(visible("\x1b]2;PWNED\x07"), "\\x1b]2;PWNED\\x07");
        assert_eq!(visible("a\rb\x7f\u{9b}31m"), "a\\x0db\\x7f\\u{9b}31m");
    }
}
