//! Text from the traced system made safe to print on a terminal.
//!
//! Process names, kernel symbols, module names and file names come from the
//! machine under test, where anyone may name a process `"\x1b]2;…\x07"` and
//! retitle (or worse) the terminal that reads a report. Every text barwatch
//! prints goes through [`visible`], which writes each control character as an
//! escape (`\x1b`), keeping only line feeds and tabs. JSON output needs none of
//! this: its encoder escapes control characters already, and stays exact.

use std::borrow::Cow;

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

#[cfg(test)]
mod tests {
    use super::visible;

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
