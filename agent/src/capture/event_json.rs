//! The quickest way to an event line: the writer's bytes for an event, put
//! down by hand.
//!
//! A recording at a million records a second spends most of its time turning
//! events into their lines, and serde's derive writes them slowly: the data is
//! flattened into the event, so every field goes through a map serializer, and
//! every address and device number through `fmt`. [`write`] puts down the same
//! bytes directly: the fields in the order the derive writes them, numbers by
//! `itoa`, addresses as lowercase `"0x…"`, strings escaped exactly as
//! `serde_json` escapes them. The tests hold it to serde's output for every
//! kind of event, so the capture format stays what the derive defines.

use crate::event::{BarRange, DevNum, Event, EventData, Hex};

/// Appends the line of `event` (without its newline) to `out`: the bytes
/// `serde_json` writes for the capture line of that event.
pub(crate) fn write(out: &mut Vec<u8>, event: &Event) {
    let mut line = Line { out };
    line.raw(br#"{"type":"event""#);
    line.unsigned(b"ts_ns", event.ts_ns);
    line.unsigned(b"cpu", event.cpu.into());
    line.unsigned(b"pid", event.pid.into());
    line.unsigned(b"tid", event.tid.into());
    line.string(b"comm", &event.comm);
    line.string(b"probe", &event.probe);
    if let Some(device) = &event.device {
        line.string(b"device", device);
    }
    line.key(b"kind");
    line.out.push(b'"');
    line.raw(event.data.kind().as_bytes());
    line.out.push(b'"');
    data(&mut line, &event.data);
    line.out.push(b'}');
}

/// The fields of `data`, each after a comma, in its variant's order.
fn data(line: &mut Line<'_>, data: &EventData) {
    match data {
        EventData::IrqHandlerEntry {
            irq,
            handler,
            handler_name,
            thread,
        } => {
            line.unsigned(b"irq", (*irq).into());
            line.hex(b"handler", *handler);
            line.optional_string(b"handler_name", handler_name.as_deref());
            line.optional_string(b"thread", thread.as_deref());
        }
        EventData::IrqHandlerExit {
            irq,
            handler,
            handler_name,
            handled,
        } => {
            line.unsigned(b"irq", (*irq).into());
            line.hex(b"handler", *handler);
            line.optional_string(b"handler_name", handler_name.as_deref());
            line.boolean(b"handled", *handled);
        }
        EventData::WorkStart {
            work,
            function,
            symbol,
        }
        | EventData::WorkEnd {
            work,
            function,
            symbol,
        } => {
            line.hex(b"work", *work);
            line.hex(b"function", *function);
            line.optional_string(b"symbol", symbol.as_deref());
        }
        EventData::IoctlEnter {
            fd,
            cmd,
            cmd_name,
            arg,
            dev,
        } => {
            line.unsigned(b"fd", (*fd).into());
            line.hex(b"cmd", *cmd);
            line.string(b"cmd_name", cmd_name);
            line.hex(b"arg", *arg);
            line.dev(*dev);
        }
        EventData::IoctlExit {
            fd,
            cmd,
            cmd_name,
            ret,
            dev,
        } => {
            line.unsigned(b"fd", (*fd).into());
            line.hex(b"cmd", *cmd);
            line.string(b"cmd_name", cmd_name);
            line.key(b"ret");
            line.raw(itoa::Buffer::new().format(*ret).as_bytes());
            line.dev(*dev);
        }
        EventData::PageFault {
            address,
            ip,
            function,
            write,
            stack,
        } => {
            line.hex(b"address", *address);
            line.hex(b"ip", *ip);
            line.optional_string(b"function", function.as_deref());
            line.boolean(b"write", *write);
            line.stack(stack);
        }
        EventData::Tracepoint { args, base } => {
            line.key(b"args");
            line.hexes(args);
            line.optional_hex(b"base", *base);
        }
        EventData::DeviceState {
            present,
            driver,
            bars,
        } => {
            line.boolean(b"present", *present);
            line.optional_string(b"driver", driver.as_deref());
            if !bars.is_empty() {
                line.key(b"bars");
                line.bars(bars);
            }
        }
        EventData::ModuleLoad { module } => line.string(b"module", module),
        EventData::FuncEntry {
            function,
            module,
            ip,
            args,
            base,
            stack,
        } => {
            line.string(b"function", function);
            line.optional_string(b"module", module.as_deref());
            line.hex(b"ip", *ip);
            line.key(b"args");
            line.hexes(args);
            line.optional_hex(b"base", *base);
            line.stack(stack);
        }
        EventData::FuncExit {
            function,
            module,
            ip,
            ret,
            stack,
        } => {
            line.string(b"function", function);
            line.optional_string(b"module", module.as_deref());
            line.hex(b"ip", *ip);
            line.hex(b"ret", *ret);
            line.stack(stack);
        }
    }
}

/// A line being written: each field goes after a comma, as every line opens
/// with its `type` before any of them.
struct Line<'a> {
    out: &'a mut Vec<u8>,
}

impl Line<'_> {
    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// `,"key":` (keys are plain ASCII: nothing to escape).
    fn key(&mut self, key: &[u8]) {
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(key);
        self.out.extend_from_slice(b"\":");
    }

    fn unsigned(&mut self, key: &[u8], value: u64) {
        self.key(key);
        self.raw(itoa::Buffer::new().format(value).as_bytes());
    }

    fn boolean(&mut self, key: &[u8], value: bool) {
        self.key(key);
        self.raw(if value { b"true" } else { b"false" });
    }

    fn string(&mut self, key: &[u8], value: &str) {
        self.key(key);
        escaped(self.out, value);
    }

    fn optional_string(&mut self, key: &[u8], value: Option<&str>) {
        if let Some(value) = value {
            self.string(key, value);
        }
    }

    fn hex(&mut self, key: &[u8], value: Hex) {
        self.key(key);
        hex(self.out, value);
    }

    fn optional_hex(&mut self, key: &[u8], value: Option<Hex>) {
        if let Some(value) = value {
            self.hex(key, value);
        }
    }

    fn hexes(&mut self, values: &[Hex]) {
        self.out.push(b'[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            hex(self.out, *value);
        }
        self.out.push(b']');
    }

    fn dev(&mut self, dev: Option<DevNum>) {
        let Some(DevNum { major, minor }) = dev else {
            return;
        };
        self.key(b"dev");
        self.out.push(b'"');
        self.raw(itoa::Buffer::new().format(major).as_bytes());
        self.out.push(b':');
        self.raw(itoa::Buffer::new().format(minor).as_bytes());
        self.out.push(b'"');
    }

    /// A kernel stack, left out when empty.
    fn stack(&mut self, stack: &[crate::event::Name]) {
        if stack.is_empty() {
            return;
        }
        self.key(b"stack");
        self.out.push(b'[');
        for (i, frame) in stack.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            escaped(self.out, frame);
        }
        self.out.push(b']');
    }

    fn bars(&mut self, bars: &[BarRange]) {
        self.out.push(b'[');
        for (i, bar) in bars.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.raw(b"{\"index\":");
            self.raw(itoa::Buffer::new().format(bar.index).as_bytes());
            self.raw(b",\"start\":");
            hex(self.out, bar.start);
            self.raw(b",\"end\":");
            hex(self.out, bar.end);
            self.out.push(b'}');
        }
        self.out.push(b']');
    }
}

/// `"0x…"`: lowercase digits, no leading zeros, `"0x0"` for zero.
fn hex(out: &mut Vec<u8>, Hex(value): Hex) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = DIGITS[(rest & 0xf) as usize];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(b"\"0x");
    out.extend_from_slice(&digits[at..]);
    out.push(b'"');
}

/// `text` as a JSON string, escaped as `serde_json` escapes it: `"` and `\`
/// with a backslash, backspace, form feed, newline, carriage return and tab by
/// their letters, every other control character below 0x20 as `\u00XX` in
/// lowercase hex; everything else (DEL and all of UTF-8 included) as it is.
fn escaped(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    // Nearly every string needs no escape: one pass the compiler vectorizes
    // tells, and the text goes out whole.
    if !bytes
        .iter()
        .any(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')
    {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut plain_from = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain_from..at]);
        plain_from = at + 1;
        if escape.is_empty() {
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(DIGITS[usize::from(byte >> 4)]);
            out.push(DIGITS[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{
        capture::{arbitrary, format::Line},
        testkit,
    };

    /// What serde's derive writes for `event`'s capture line.
    fn by_serde(event: &Event) -> Vec<u8> {
        serde_json::to_vec(&Line::Event(event.clone())).unwrap()
    }

    fn by_hand(event: &Event) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, event);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn every_event_is_written_as_serde_writes_it(event in arbitrary::event()) {
            let (hand, serde) = (by_hand(&event), by_serde(&event));
            prop_assert_eq!(
                String::from_utf8_lossy(&hand),
                String::from_utf8_lossy(&serde)
            );
            prop_assert_eq!(hand, serde);
        }
    }

    #[test]
    fn every_event_of_the_real_captures_is_written_as_serde_writes_it() {
        let mut written = 0;
        for path in testkit::real_captures() {
            let bytes = std::fs::read(&path).unwrap();
            for line in bytes.split(|&byte| byte == b'\n') {
                let Ok(Line::Event(event)) = serde_json::from_slice(line) else {
                    continue;
                };
                assert_eq!(
                    String::from_utf8_lossy(&by_hand(&event)),
                    String::from_utf8_lossy(&by_serde(&event)),
                    "{}",
                    path.display()
                );
                written += 1;
            }
        }
        assert!(written > 10_000, "{written} event lines");
    }

    #[test]
    fn every_control_character_is_escaped_as_serde_escapes_it() {
        let text: String = (0u8..0x80).map(char::from).collect();
        let mut hand = Vec::new();
        escaped(&mut hand, &text);
        assert_eq!(hand, serde_json::to_vec(&text).unwrap());
    }

    #[test]
    fn addresses_are_lowercase_without_leading_zeros() {
        for (value, text) in [
            (0, "\"0x0\""),
            (0xa, "\"0xa\""),
            (0x10, "\"0x10\""),
            (u64::MAX, "\"0xffffffffffffffff\""),
        ] {
            let mut out = Vec::new();
            hex(&mut out, Hex(value));
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }
}
