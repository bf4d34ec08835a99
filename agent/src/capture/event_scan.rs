//! The quickest way through an event line: a hand scanner for the exact bytes
//! the writer emits.
//!
//! Nearly every line of a capture is an event line the writer wrote, and the
//! writer's output is narrow: its fields always in one order, numbers without
//! sign or leading zeros unless negative, addresses as lowercase `"0x…"` with no
//! leading zeros, no whitespace, and strings escaped only as `serde_json`
//! escapes them. A line in exactly that shape is read here byte by byte, with
//! no generic JSON machinery in between.
//!
//! [`scan`] answers only for such a line, and for it the answer is the event
//! the general path reads from it (the writer's output reads back as the event
//! written). Anything else (another order, whitespace, an escape the writer
//! does not write, an unknown kind or field, a number out of range, text that
//! is not UTF-8) is `None`, and the reader parses the line the slower ways,
//! which give every other line its value and every defect its message.

use crate::{
    event::{BarRange, DevNum, Event, EventData, Hex, Name},
    name::Interner,
};

/// The event on `line` (without its newline) when the line is exactly as the
/// writer writes that event; `None` otherwise. Its names come from `names`.
pub(crate) fn scan(line: &[u8], names: &mut PlainNames) -> Option<Event> {
    let mut cursor = Cursor { rest: line, names };
    let event = cursor.event()?;
    cursor.rest.is_empty().then_some(event)
}

/// The names of the strings [`scan`] has read, each one a string the writer
/// wrote without an escape: no quote, backslash or control character in it.
/// So text up to the next quote that is among them is a whole string.
#[derive(Default)]
pub(crate) struct PlainNames {
    interner: Interner,
    /// The last name read into each [`Slot`].
    last: [Option<Name>; SLOTS],
}

/// A field whose value often repeats from one event to the next (the same
/// process, the same device): its last name is tried before any lookup.
#[derive(Clone, Copy)]
enum Slot {
    Comm,
    Device,
    Handler,
    Symbol,
    Command,
    Module,
}

/// How many [`Slot`]s there are.
const SLOTS: usize = 6;

/// What [`NIBBLES`] holds for a byte that is no lowercase hex digit.
const NOT_A_DIGIT: u8 = 0xff;

/// The value of each lowercase hex digit, by byte.
const NIBBLES: [u8; 256] = {
    let mut nibbles = [NOT_A_DIGIT; 256];
    let mut digit = 0;
    while digit < 16 {
        nibbles[b"0123456789abcdef"[digit] as usize] = digit as u8;
        digit += 1;
    }
    nibbles
};

/// The unread part of a line, and where its names come from.
struct Cursor<'a> {
    rest: &'a [u8],
    names: &'a mut PlainNames,
}

impl Cursor<'_> {
    /// One event line, up to and including its closing brace.
    fn event(&mut self) -> Option<Event> {
        self.expect(br#"{"type":"event","ts_ns":"#)?;
        let ts_ns = self.u64()?;
        self.expect(br#","cpu":"#)?;
        let cpu = self.u32()?;
        self.expect(br#","pid":"#)?;
        let pid = self.u32()?;
        self.expect(br#","tid":"#)?;
        let tid = self.u32()?;
        self.expect(br#","comm":"#)?;
        let comm = self.repeated(Slot::Comm)?;
        self.expect(br#","probe":"#)?;
        let probe = self.string()?;
        let device = self.optional(br#","device":"#, |c| c.repeated(Slot::Device))?;
        self.expect(br#","kind":""#)?;
        let end = self.rest.iter().position(|&byte| byte == b'"')?;
        let (kind, rest) = self.rest.split_at(end);
        self.rest = &rest[1..];
        let data = self.data(kind)?;
        self.expect(b"}")?;
        Some(Event {
            ts_ns,
            cpu,
            pid,
            tid,
            comm,
            probe,
            device,
            data,
        })
    }

    /// The data fields of `kind`, in the order its variant declares them.
    fn data(&mut self, kind: &[u8]) -> Option<EventData> {
        Some(match kind {
            b"irq_handler_entry" => EventData::IrqHandlerEntry {
                irq: self.field(br#","irq":"#, Self::u32)?,
                handler: self.field(br#","handler":"#, Self::hex)?,
                handler_name: self
                    .optional(br#","handler_name":"#, |c| c.repeated(Slot::Handler))?,
                thread: self.optional(br#","thread":"#, Self::string)?,
            },
            b"irq_handler_exit" => EventData::IrqHandlerExit {
                irq: self.field(br#","irq":"#, Self::u32)?,
                handler: self.field(br#","handler":"#, Self::hex)?,
                handler_name: self
                    .optional(br#","handler_name":"#, |c| c.repeated(Slot::Handler))?,
                handled: self.field(br#","handled":"#, Self::bool)?,
            },
            b"work_start" => EventData::WorkStart {
                work: self.field(br#","work":"#, Self::hex)?,
                function: self.field(br#","function":"#, Self::hex)?,
                symbol: self.optional(br#","symbol":"#, |c| c.repeated(Slot::Symbol))?,
            },
            b"work_end" => EventData::WorkEnd {
                work: self.field(br#","work":"#, Self::hex)?,
                function: self.field(br#","function":"#, Self::hex)?,
                symbol: self.optional(br#","symbol":"#, |c| c.repeated(Slot::Symbol))?,
            },
            b"ioctl_enter" => EventData::IoctlEnter {
                fd: self.field(br#","fd":"#, Self::u32)?,
                cmd: self.field(br#","cmd":"#, Self::hex)?,
                cmd_name: self.field(br#","cmd_name":"#, |c| c.repeated(Slot::Command))?,
                arg: self.field(br#","arg":"#, Self::hex)?,
                dev: self.optional(br#","dev":"#, Self::dev)?,
            },
            b"ioctl_exit" => EventData::IoctlExit {
                fd: self.field(br#","fd":"#, Self::u32)?,
                cmd: self.field(br#","cmd":"#, Self::hex)?,
                cmd_name: self.field(br#","cmd_name":"#, |c| c.repeated(Slot::Command))?,
                ret: self.field(br#","ret":"#, Self::i64)?,
                dev: self.optional(br#","dev":"#, Self::dev)?,
            },
            b"page_fault" => EventData::PageFault {
                address: self.field(br#","address":"#, Self::hex)?,
                ip: self.field(br#","ip":"#, Self::hex)?,
                function: self.optional(br#","function":"#, Self::string)?,
                write: self.field(br#","write":"#, Self::bool)?,
                stack: self.stack()?,
            },
            b"tracepoint" => EventData::Tracepoint {
                args: self.field(br#","args":"#, |c| c.list(Self::hex))?,
                base: self.optional(br#","base":"#, Self::hex)?,
            },
            b"device_state" => EventData::DeviceState {
                present: self.field(br#","present":"#, Self::bool)?,
                driver: self.optional(br#","driver":"#, Self::text)?,
                bars: self.nonempty(br#","bars":"#, Self::bar)?,
            },
            b"module_load" => EventData::ModuleLoad {
                module: self.field(br#","module":"#, Self::text)?,
            },
            b"func_entry" => EventData::FuncEntry {
                function: self.field(br#","function":"#, Self::string)?,
                module: self.optional(br#","module":"#, |c| c.repeated(Slot::Module))?,
                ip: self.field(br#","ip":"#, Self::hex)?,
                args: self.field(br#","args":"#, Self::four_hex)?,
                base: self.optional(br#","base":"#, Self::hex)?,
                stack: self.stack()?,
            },
            b"func_exit" => EventData::FuncExit {
                function: self.field(br#","function":"#, Self::string)?,
                module: self.optional(br#","module":"#, |c| c.repeated(Slot::Module))?,
                ip: self.field(br#","ip":"#, Self::hex)?,
                ret: self.field(br#","ret":"#, Self::hex)?,
                stack: self.stack()?,
            },
            _ => return None,
        })
    }

    /// Consumes `text`, which must come next.
    fn expect(&mut self, text: &[u8]) -> Option<()> {
        self.rest = self.rest.strip_prefix(text)?;
        Some(())
    }

    /// A field the writer always writes: its key (with the comma before it and
    /// the colon after it) and its value.
    fn field<T>(&mut self, key: &[u8], value: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        self.expect(key)?;
        value(self)
    }

    /// A field the writer leaves out when it has no value: `Some(None)` when
    /// the key does not come next.
    fn optional<T>(
        &mut self,
        key: &[u8],
        value: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        match self.rest.strip_prefix(key) {
            Some(rest) => {
                self.rest = rest;
                value(self).map(Some)
            }
            None => Some(None),
        }
    }

    /// A list field the writer leaves out when empty, so never `[]`.
    fn nonempty<T>(
        &mut self,
        key: &[u8],
        item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        match self.optional(key, |c| c.list(item))? {
            Some(list) if list.is_empty() => None,
            list => Some(list.unwrap_or_default()),
        }
    }

    /// A kernel stack, left out when empty.
    fn stack(&mut self) -> Option<Vec<Name>> {
        self.nonempty(br#","stack":"#, Self::string)
    }

    /// A JSON array of `item`s, without spaces.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.expect(b"[")?;
        let mut list = Vec::new();
        if self.expect(b"]").is_some() {
            return Some(list);
        }
        loop {
            list.push(item(self)?);
            match self.rest.split_first()? {
                (b',', rest) => self.rest = rest,
                (b']', rest) => {
                    self.rest = rest;
                    return Some(list);
                }
                _ => return None,
            }
        }
    }

    /// Exactly four addresses, as a probed function's arguments, read into
    /// their array (nearly every event has them: no list on the way).
    fn four_hex(&mut self) -> Option<[Hex; 4]> {
        self.expect(b"[")?;
        let mut args = [Hex(0); 4];
        for (n, arg) in args.iter_mut().enumerate() {
            if n > 0 {
                self.expect(b",")?;
            }
            *arg = self.hex()?;
        }
        self.expect(b"]")?;
        Some(args)
    }

    /// A BAR as `device_state` writes it.
    fn bar(&mut self) -> Option<BarRange> {
        self.expect(br#"{"index":"#)?;
        let index = u8::try_from(self.u64()?).ok()?;
        self.expect(br#","start":"#)?;
        let start = self.hex()?;
        self.expect(br#","end":"#)?;
        let end = self.hex()?;
        self.expect(b"}")?;
        Some(BarRange { index, start, end })
    }

    /// An unsigned number as the writer writes one: decimal digits, no leading
    /// zero unless it is 0, in range.
    fn u64(&mut self) -> Option<u64> {
        let digits = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (number, rest) = self.rest.split_at(digits);
        if digits == 0 || (digits > 1 && number[0] == b'0') {
            return None;
        }
        let mut value = 0u64;
        for &digit in number {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
        }
        self.rest = rest;
        Some(value)
    }

    /// A `u32` as the writer writes one.
    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.u64()?).ok()
    }

    /// A signed number as the writer writes one: `-` only before a nonzero
    /// magnitude.
    fn i64(&mut self) -> Option<i64> {
        match self.rest.strip_prefix(b"-") {
            Some(rest) => {
                self.rest = rest;
                let magnitude = self.u64()?;
                if magnitude == 0 {
                    return None;
                }
                0i64.checked_sub_unsigned(magnitude)
            }
            None => i64::try_from(self.u64()?).ok(),
        }
    }

    /// `true` or `false`.
    fn bool(&mut self) -> Option<bool> {
        if let Some(rest) = self.rest.strip_prefix(b"true") {
            self.rest = rest;
            Some(true)
        } else {
            self.expect(b"false")?;
            Some(false)
        }
    }

    /// A [`Hex`] as the writer writes one: `"0x"` and lowercase digits with no
    /// leading zero unless the value is 0, at most 16 of them.
    fn hex(&mut self) -> Option<Hex> {
        self.expect(b"\"0x")?;
        let window = &self.rest[..self.rest.len().min(17)];
        let digits = window.iter().position(|&byte| byte == b'"')?;
        if digits == 0 || (digits > 1 && self.rest[0] == b'0') {
            return None;
        }
        let mut value = 0u64;
        for &digit in &self.rest[..digits] {
            let nibble = NIBBLES[usize::from(digit)];
            if nibble == NOT_A_DIGIT {
                return None;
            }
            value = value << 4 | u64::from(nibble);
        }
        self.rest = &self.rest[digits + 1..];
        Some(Hex(value))
    }

    /// A device number as the writer writes one, `"MAJOR:MINOR"`.
    fn dev(&mut self) -> Option<DevNum> {
        self.expect(b"\"")?;
        let major = self.u32()?;
        self.expect(b":")?;
        let minor = self.u32()?;
        self.expect(b"\"")?;
        Some(DevNum { major, minor })
    }

    /// A string as the writer writes one: UTF-8, with `"`, `\` and the control
    /// characters escaped as `serde_json` escapes them, and nothing else.
    ///
    /// Nearly every string is one read before: the text up to the next quote,
    /// when it is among the [`PlainNames`], is the whole string, with no byte
    /// of it to check.
    fn string(&mut self) -> Option<Name> {
        self.expect(b"\"")?;
        let quote = memchr::memchr(b'"', self.rest)?;
        if let Some(name) = self.names.interner.known(&self.rest[..quote]) {
            self.rest = &self.rest[quote + 1..];
            return Some(name);
        }
        let plain = self
            .rest
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
        let (head, rest) = self.rest.split_at(plain);
        if let Some(rest) = rest.strip_prefix(b"\"") {
            let name = self.names.interner.name(head)?;
            self.rest = rest;
            return Some(name);
        }
        let mut text = std::str::from_utf8(head).ok()?.to_owned();
        self.rest = rest;
        loop {
            match self.rest.split_first()? {
                (b'"', rest) => {
                    self.rest = rest;
                    return Some(text.into());
                }
                (b'\\', rest) => {
                    self.rest = rest;
                    text.push(self.escape()?);
                }
                (&byte, _) if byte < 0x20 => return None,
                _ => {
                    let run = self
                        .rest
                        .iter()
                        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
                    let (part, rest) = self.rest.split_at(run);
                    text.push_str(std::str::from_utf8(part).ok()?);
                    self.rest = rest;
                }
            }
        }
    }

    /// A string in a field whose value often repeats: the last one read there
    /// when the line holds it again (and its closing quote), else [`string`].
    ///
    /// [`string`]: Cursor::string
    fn repeated(&mut self, slot: Slot) -> Option<Name> {
        if let Some(last) = &self.names.last[slot as usize]
            && let Some(rest) = self.rest.strip_prefix(b"\"")
            && let Some(rest) = rest.strip_prefix(last.as_bytes())
            && let Some(rest) = rest.strip_prefix(b"\"")
        {
            let name = last.clone();
            self.rest = rest;
            return Some(name);
        }
        let before = self.rest.len();
        let name = self.string()?;
        // Only a string written without escapes is its own bytes again.
        let plain = before - self.rest.len() == name.len() + 2;
        self.names.last[slot as usize] = plain.then(|| name.clone());
        Some(name)
    }

    /// A string the event owns rather than shares (the rare ones).
    fn text(&mut self) -> Option<String> {
        self.string().map(String::from)
    }

    /// The character of one escape after its `\`, when the writer escapes that
    /// character that way: the short forms, and `\u00xx` (lowercase) for the
    /// other control characters.
    fn escape(&mut self) -> Option<char> {
        let (&letter, rest) = self.rest.split_first()?;
        self.rest = rest;
        let short = match letter {
            b'"' => '"',
            b'\\' => '\\',
            b'b' => '\u{8}',
            b't' => '\t',
            b'n' => '\n',
            b'f' => '\u{c}',
            b'r' => '\r',
            b'u' => {
                self.expect(b"00")?;
                let (digits, rest) = self.rest.split_at_checked(2)?;
                let high = match digits[0] {
                    b'0' => 0,
                    b'1' => 0x10,
                    _ => return None,
                };
                let low = match digits[1] {
                    digit @ b'0'..=b'9' => digit - b'0',
                    digit @ b'a'..=b'f' => digit - b'a' + 10,
                    _ => return None,
                };
                self.rest = rest;
                let code = high | low;
                return (!matches!(code, 0x8 | 0x9 | 0xa | 0xc | 0xd)).then(|| char::from(code));
            }
            _ => return None,
        };
        Some(short)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{
        capture::{arbitrary::event, format::Line, reader::CaptureReader, writer::CaptureWriter},
        testkit,
    };

    /// The general path's reading of a line.
    fn general(line: &[u8]) -> Line {
        serde_json::from_slice(line).unwrap()
    }

    /// The lines the capture writer writes for `events`, without their newlines.
    fn written(events: &[Event]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut writer = CaptureWriter::new(&mut out, &testkit::header(Vec::new())).unwrap();
        for event in events {
            writer.write_event(event).unwrap();
        }
        writer.finish(Default::default(), 0, 0, 0).unwrap();
        out.split(|&byte| byte == b'\n')
            .map(<[u8]>::to_vec)
            .filter(|line| !line.is_empty())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn every_line_the_writer_writes_scans_to_what_serde_reads(
            events in prop::collection::vec(event(), 1..8),
        ) {
            let lines = written(&events);
            prop_assert_eq!(lines.len(), events.len() + 2);
            prop_assert_eq!(scan(&lines[0], &mut PlainNames::default()), None);
            prop_assert_eq!(scan(&lines[lines.len() - 1], &mut PlainNames::default()), None);
            // Twice with the same names: the second time every plain string
            // is a known one, and those with escapes must still read whole.
            let mut names = PlainNames::default();
            for _ in 0..2 {
                for (line, event) in lines[1..lines.len() - 1].iter().zip(&events) {
                    let text = String::from_utf8_lossy(line);
                    prop_assert_eq!(general(line), Line::Event(event.clone()), "{}", text);
                    prop_assert_eq!(scan(line, &mut names), Some(event.clone()), "{}", text);
                }
            }
        }
    }

    #[test]
    fn every_event_line_of_the_real_captures_scans_to_what_serde_reads() {
        let mut scanned = 0;
        for path in testkit::real_captures() {
            let bytes = std::fs::read(&path).unwrap();
            for line in bytes.split(|&byte| byte == b'\n') {
                let Ok(Line::Event(want)) = serde_json::from_slice(line) else {
                    assert_eq!(
                        scan(line, &mut PlainNames::default()),
                        None,
                        "{}",
                        path.display()
                    );
                    continue;
                };
                let text = String::from_utf8_lossy(line);
                assert_eq!(
                    scan(line, &mut PlainNames::default()),
                    Some(want),
                    "{}: {text}",
                    path.display()
                );
                scanned += 1;
            }
        }
        assert!(scanned > 10_000, "{scanned} event lines");
    }

    /// A written event line with `edit` applied to its text.
    fn edited(event: &Event, edit: impl Fn(&str) -> String) -> String {
        let line = &written(std::slice::from_ref(event))[1];
        edit(std::str::from_utf8(line).unwrap())
    }

    fn ioctl() -> Event {
        Event {
            device: Some("0000:00:04.0".into()),
            ..testkit::event(
                3_600,
                "syscalls:sys_exit_ioctl",
                EventData::IoctlExit {
                    fd: 3,
                    cmd: Hex(0x4140),
                    cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
                    ret: -19,
                    dev: Some(DevNum {
                        major: 116,
                        minor: 3,
                    }),
                },
            )
        }
    }

    fn func_entry() -> Event {
        testkit::event(
            4_000,
            "kprobe:azx_stop_chip",
            EventData::FuncEntry {
                function: "azx_stop_chip".into(),
                module: Some("snd_hda_codec".into()),
                ip: Hex(0xffff_ffff_c0a0_0000),
                args: [Hex(1), Hex(2), Hex(3), Hex(4)],
                base: None,
                stack: vec!["azx_stop_chip".into()],
            },
        )
    }

    /// Valid event lines in shapes the writer does not write.
    fn other_shapes() -> Vec<String> {
        let (ioctl, func) = (ioctl(), func_entry());
        vec![
            // Whitespace.
            edited(&ioctl, |l| l.replace(",", ", ")),
            edited(&ioctl, |l| format!(" {l}")),
            edited(&ioctl, |l| format!("{l} ")),
            edited(&ioctl, |l| format!("{l}\r")),
            // Another key order.
            edited(&ioctl, |l| {
                l.replacen(r#""cpu":1,"pid":4242"#, r#""pid":4242,"cpu":1"#, 1)
            }),
            edited(&ioctl, |l| {
                l.replacen(r#","fd":3"#, "", 1)
                    .replacen(r#","ret":-19"#, r#","ret":-19,"fd":3"#, 1)
            }),
            // Escapes the writer does not write.
            edited(&ioctl, |l| l.replacen("aplay", r"\u0061play", 1)),
            edited(&ioctl, |l| l.replacen("syscalls:", r"syscalls\/", 1)),
            edited(&ioctl, |l| l.replacen("aplay", r"a\u00E9play", 1)),
            // Numbers and addresses written another way.
            edited(&ioctl, |l| l.replacen("0x4140", "0x04140", 1)),
            edited(&ioctl, |l| l.replacen("0x4140", "0x4A40", 1)),
            edited(&func, |l| l.replacen(r#""0x1""#, r#""0x+1""#, 1)),
            // Optional fields spelled out with their empty values.
            edited(&ioctl, |l| l.replacen(r#""0000:00:04.0""#, "null", 1)),
            edited(&ioctl, |l| {
                l.replacen(r#","dev":"116:3""#, r#","dev":null"#, 1)
            }),
            edited(&func, |l| {
                l.replacen(r#","stack":["azx_stop_chip"]"#, r#","stack":[]"#, 1)
            }),
            edited(&func, |l| l.replacen(r#","ip""#, r#","base":null,"ip""#, 1)),
            // A field unknown to the kind.
            edited(&ioctl, |l| l.replacen('}', r#","extra":1}"#, 1)),
        ]
    }

    #[test]
    fn lines_in_another_shape_are_not_scanned_but_still_read() {
        let header = written(&[]).swap_remove(0);
        for line in other_shapes() {
            assert_eq!(
                scan(line.as_bytes(), &mut PlainNames::default()),
                None,
                "{line}"
            );
            let Line::Event(want) = general(line.as_bytes()) else {
                panic!("not an event line: {line}");
            };
            let input = [&header[..], b"\n", line.as_bytes(), b"\n"].concat();
            let read: Vec<Event> = CaptureReader::new(&input[..])
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(read, [want], "{line}");
        }
    }

    #[test]
    fn a_repeated_name_read_with_escapes_is_never_matched_by_its_raw_bytes() {
        let mut ioctl = ioctl();
        ioctl.comm = "ap\"lay".into();
        let line = edited(&ioctl, str::to_owned);
        let mut names = PlainNames::default();
        assert_eq!(scan(line.as_bytes(), &mut names), Some(ioctl.clone()));
        let raw = line.replacen(r#"ap\"lay"#, r#"ap"lay"#, 1);
        assert_eq!(scan(raw.as_bytes(), &mut names), None, "{raw}");
        assert_eq!(scan(line.as_bytes(), &mut names), Some(ioctl));
    }

    #[test]
    fn lines_that_are_no_event_are_not_scanned() {
        let (ioctl, func) = (ioctl(), func_entry());
        let refused = [
            edited(&func, |l| l.replacen(r#","0x4"]"#, "]", 1)),
            edited(&func, |l| l.replacen(r#","0x4"]"#, r#","0x4","0x5"]"#, 1)),
            edited(&func, |l| {
                l.replacen(r#""args":["0x1""#, r#""args":["0x""#, 1)
            }),
            edited(&func, |l| l.replacen(r#""0x1""#, r#""0x1"#, 1)),
            edited(&ioctl, |l| l.replacen("ioctl_exit", "ioctl_sideways", 1)),
            edited(&ioctl, |l| l.replacen("-19", "-0", 1)),
            edited(&ioctl, |l| l.replacen("-19", "019", 1)),
            edited(&ioctl, |l| l.replacen(":3,", ":4294967296,", 1)),
            edited(&ioctl, |l| l.replacen("3600", "18446744073709551616", 1)),
            edited(&ioctl, |l| l.replacen("0x4140", "0x10000000000000000", 1)),
            edited(&ioctl, |l| l.replacen("0x4140", "0X4140", 1)),
            edited(&ioctl, |l| l.replacen("aplay", "ap\tlay", 1)),
            edited(&ioctl, |l| l.replacen("aplay", r"ap\u000alay", 1)),
            edited(&ioctl, |l| l.replacen("aplay", r"ap\xlay", 1)),
            edited(&ioctl, |l| l[..l.len() - 1].to_owned()),
            edited(&ioctl, |l| format!("{l}}}")),
            String::new(),
            r#"{"type":"trailer"}"#.to_owned(),
        ];
        for line in refused {
            assert_eq!(
                scan(line.as_bytes(), &mut PlainNames::default()),
                None,
                "{line}"
            );
        }
        let mut bytes = edited(&ioctl, str::to_owned).into_bytes();
        let at = bytes.iter().position(|&b| b == b'p').unwrap();
        bytes[at] = 0xff;
        assert_eq!(scan(&bytes, &mut PlainNames::default()), None);
    }

    #[test]
    fn the_escapes_the_writer_writes_are_scanned() {
        let text = "\"\\\u{8}\t\n\u{c}\r\u{0}\u{1f}\u{7f}\u{e9}/";
        let event = Event {
            comm: text.into(),
            ..ioctl()
        };
        let line = edited(&event, str::to_owned);
        assert!(line.contains(r#""\"\\\b\t\n\f\r\u0000\u001f"#), "{line}");
        assert_eq!(
            scan(line.as_bytes(), &mut PlainNames::default()),
            Some(event)
        );
    }
}
