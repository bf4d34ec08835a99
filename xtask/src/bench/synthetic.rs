//! Big captures made from a real one: its events repeated, each repetition
//! shifted in time to follow the one before, with a trailer whose totals count
//! every repetition. The result replays as a real recording that ran that many
//! times as long (its cycles follow one another), not as a cut capture.
//!
//! Lines are copied as text and only their `ts_ns` is rewritten, so making a
//! capture of ten million events costs little more than writing it.
//!
//! A repetition after the first also starts where the one before ended: the
//! mappings the header lists were unmapped in the source and the device mapped
//! again elsewhere, so in later repetitions the header's mapping addresses are
//! those of the device's last mapping. Without that, every repetition after the
//! first would touch an address the one before unmapped, and the verdict would
//! be a true report of an impossible run.

use std::{
    fs::File,
    io::{BufWriter, Write as _},
    path::Path,
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

/// The gap between the last event of one repetition and the first of the next.
const GAP_NS: u64 = 1_000_000_000;

/// A real capture split into what a repetition copies.
#[derive(Debug)]
pub struct Source {
    /// The header line, as written.
    header: String,
    /// The event lines, each with where its `ts_ns` digits are and their value.
    events: Vec<EventLine>,
    /// The trailer.
    trailer: Value,
    /// How far apart two repetitions start.
    period_ns: u64,
}

/// One event line and its timestamp's place in it.
#[derive(Debug)]
struct EventLine {
    text: String,
    digits: std::ops::Range<usize>,
    ts_ns: u64,
    /// The line as later repetitions write it, where its addresses move.
    later: Option<Box<EventLine>>,
}

/// Addresses in `[from, from + size)` move to `to + (address - from)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Relocation {
    from: u64,
    size: u64,
    to: u64,
}

impl Relocation {
    /// Where `address` goes, if it moves.
    fn apply(&self, address: u64) -> Option<u64> {
        let offset = address.checked_sub(self.from)?;
        (offset < self.size).then(|| self.to + offset)
    }
}

/// For each watched device whose header lists a mapping: that mapping moved to
/// the one its last `ioremap*` return in the capture made (a bench tool's
/// reading of a capture, so it may name the function).
fn relocations(header: &Value, events: &[Value]) -> Vec<Relocation> {
    let hex = |v: &Value| {
        v.as_str()
            .and_then(|s| s.strip_prefix("0x"))
            .and_then(|s| u64::from_str_radix(s, 16).ok())
    };
    let devices = header["devices"].as_array().cloned().unwrap_or_default();
    devices
        .iter()
        .filter_map(|device| {
            let bdf = device["bdf"].as_str()?;
            let mapping = device["mappings"].as_array()?.first()?;
            let last = events.iter().rev().find(|e| {
                e["kind"] == "func_exit"
                    && e["device"] == bdf
                    && e["function"]
                        .as_str()
                        .is_some_and(|f| f.starts_with("ioremap"))
            })?;
            Some(Relocation {
                from: hex(&mapping["virt"])?,
                size: mapping["size"].as_u64()?,
                to: hex(&last["ret"])?,
            })
        })
        .filter(|r| r.from != r.to)
        .collect()
}

/// `line` with every `0x…` number a relocation moves rewritten.
fn relocated(line: &str, relocations: &[Relocation]) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at]);
        let digits = rest[at + 2..]
            .bytes()
            .take_while(u8::is_ascii_hexdigit)
            .count();
        let token = &rest[at..at + 2 + digits];
        let moved = u64::from_str_radix(&token[2..], 16)
            .ok()
            .and_then(|v| relocations.iter().find_map(|r| r.apply(v)));
        match moved {
            Some(v) => out.push_str(&format!("{v:#x}")),
            None => out.push_str(token),
        }
        rest = &rest[at + 2 + digits..];
    }
    out.push_str(rest);
    out
}

impl Source {
    /// Reads the capture at `path`, which must have ended cleanly (a trailer).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("{} is not a usable capture", path.display()))
    }

    /// Splits a capture's text into header, events and trailer.
    fn parse(text: &str) -> Result<Self> {
        let mut lines = text.lines();
        let header = lines.next().context("the capture is empty")?.to_owned();
        let mut events = Vec::new();
        let mut trailer = None;
        for line in lines {
            if trailer.is_some() {
                bail!("a line follows the trailer");
            }
            if line.starts_with(r#"{"type":"trailer""#) {
                trailer = Some(serde_json::from_str(line).context("the trailer is not JSON")?);
                continue;
            }
            events.push(EventLine::parse(line)?);
        }
        let trailer: Value = trailer.context("the capture has no trailer")?;
        let parsed: Vec<Value> = events
            .iter()
            .map(|e| serde_json::from_str(&e.text).unwrap_or(Value::Null))
            .collect();
        let header_value: Value = serde_json::from_str(&header).unwrap_or(Value::Null);
        let moves = relocations(&header_value, &parsed);
        for event in &mut events {
            let text = relocated(&event.text, &moves);
            if text != event.text {
                event.later = Some(Box::new(EventLine::parse(&text)?));
            }
        }
        let first = events.iter().map(|e| e.ts_ns).min().context("no events")?;
        let last = events.iter().map(|e| e.ts_ns).max().unwrap_or(first);
        Ok(Source {
            header,
            events,
            trailer,
            period_ns: last - first + GAP_NS,
        })
    }

    /// Events in one repetition.
    pub fn events(&self) -> usize {
        self.events.len()
    }

    /// Writes `repetitions` repetitions to `path` and returns the events written.
    pub fn write(&self, path: &Path, repetitions: u64) -> Result<u64> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let written = self
            .write_to(&mut out, repetitions)
            .and_then(|count| out.flush().map(|()| count));
        written.with_context(|| format!("cannot write {}", path.display()))
    }

    fn write_to(&self, out: &mut impl std::io::Write, repetitions: u64) -> std::io::Result<u64> {
        writeln!(out, "{}", self.header)?;
        for repetition in 0..repetitions {
            let shift = repetition * self.period_ns;
            for event in &self.events {
                let event = match &event.later {
                    Some(later) if repetition > 0 => later,
                    _ => event,
                };
                out.write_all(&event.text.as_bytes()[..event.digits.start])?;
                write!(out, "{}", event.ts_ns + shift)?;
                out.write_all(&event.text.as_bytes()[event.digits.end..])?;
                out.write_all(b"\n")?;
            }
        }
        serde_json::to_writer(&mut *out, &self.trailer_for(repetitions))?;
        out.write_all(b"\n")?;
        Ok(repetitions * self.events.len() as u64)
    }

    /// The trailer of `repetitions` repetitions: every count times `repetitions`,
    /// blind spans repeated with their repetition's shift, the end shifted to the
    /// last repetition's.
    fn trailer_for(&self, repetitions: u64) -> Value {
        let mut trailer = self.trailer.clone();
        let times = |value: &mut Value| {
            if let Some(n) = value.as_u64() {
                *value = (n * repetitions).into();
            }
        };
        for total in ["events", "lost", "decode_errors", "stacks_lost"] {
            if let Some(value) = trailer.get_mut(total) {
                times(value);
            }
        }
        if let Some(Value::Object(probes)) = trailer.get_mut("probes") {
            for totals in probes.values_mut() {
                for count in ["events", "lost"] {
                    if let Some(value) = totals.get_mut(count) {
                        times(value);
                    }
                }
            }
        }
        let last_shift = repetitions.saturating_sub(1) * self.period_ns;
        if let Some(ended) = trailer.get_mut("ended_unix_ns")
            && let Some(n) = ended.as_u64()
        {
            *ended = (n + last_shift).into();
        }
        if let Some(Value::Array(spans)) = trailer.get_mut("blind_spans") {
            let once = std::mem::take(spans);
            for repetition in 0..repetitions {
                for span in &once {
                    let mut span = span.clone();
                    for bound in ["from_ns", "to_ns"] {
                        if let Some(n) = span.get(bound).and_then(Value::as_u64) {
                            span[bound] = (n + repetition * self.period_ns).into();
                        }
                    }
                    spans.push(span);
                }
            }
        }
        trailer
    }
}

impl EventLine {
    /// An event line as the writer writes it: `ts_ns` among its fields.
    fn parse(line: &str) -> Result<Self> {
        const KEY: &str = "\"ts_ns\":";
        let start = line
            .find(KEY)
            .map(|at| at + KEY.len())
            .with_context(|| format!("an event line without ts_ns: {line}"))?;
        let length = line[start..].bytes().take_while(u8::is_ascii_digit).count();
        let digits = start..start + length;
        let ts_ns = line[digits.clone()]
            .parse()
            .with_context(|| format!("an event line whose ts_ns is not a number: {line}"))?;
        Ok(EventLine {
            text: line.to_owned(),
            digits,
            ts_ns,
            later: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURE: &str = concat!(
        r#"{"type":"header","version":"1.3"}"#,
        "\n",
        r#"{"type":"event","ts_ns":100,"probe":"a","kind":"x"}"#,
        "\n",
        r#"{"type":"event","ts_ns":300,"probe":"b","kind":"x"}"#,
        "\n",
        r#"{"type":"trailer","ended_unix_ns":5,"events":2,"lost":1,"decode_errors":0,"probes":{"a":{"events":1,"lost":1},"b":{"events":1,"lost":0}},"blind_spans":[{"probe":"b","from_ns":150,"to_ns":200,"reason":"r"}]}"#,
        "\n",
    );

    fn written(repetitions: u64) -> Vec<String> {
        let source = Source::parse(CAPTURE).unwrap();
        let mut out = Vec::new();
        let count = source.write_to(&mut out, repetitions).unwrap();
        assert_eq!(count, 2 * repetitions);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn repetitions_follow_one_another_in_time() {
        let lines = written(3);
        assert_eq!(lines.len(), 1 + 6 + 1);
        assert_eq!(lines[0], r#"{"type":"header","version":"1.3"}"#);
        let period = 200 + GAP_NS;
        let stamps: Vec<u64> = lines[1..7]
            .iter()
            .map(|l| EventLine::parse(l).unwrap().ts_ns)
            .collect();
        assert_eq!(
            stamps,
            [
                100,
                300,
                100 + period,
                300 + period,
                100 + 2 * period,
                300 + 2 * period
            ]
        );
        assert_eq!(
            lines[3],
            format!(
                r#"{{"type":"event","ts_ns":{},"probe":"a","kind":"x"}}"#,
                100 + period
            )
        );
    }

    #[test]
    fn the_trailer_counts_every_repetition() {
        let lines = written(3);
        let trailer: Value = serde_json::from_str(&lines[7]).unwrap();
        assert_eq!(trailer["type"], "trailer");
        assert_eq!(trailer["events"], 6);
        assert_eq!(trailer["lost"], 3);
        assert_eq!(trailer["probes"]["a"]["events"], 3);
        assert_eq!(trailer["probes"]["a"]["lost"], 3);
        assert_eq!(trailer["probes"]["b"]["events"], 3);
        assert_eq!(trailer["ended_unix_ns"], 5 + 2 * (200 + GAP_NS));
        let spans = trailer["blind_spans"].as_array().unwrap();
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[2]["from_ns"], 150 + 2 * (200 + GAP_NS));
    }

    #[test]
    fn later_repetitions_use_the_mapping_the_one_before_ended_with() {
        let capture = concat!(
            r#"{"type":"header","devices":[{"bdf":"d","mappings":[{"virt":"0x1000","size":4096,"phys":"0xfe000000"}]}]}"#,
            "\n",
            r#"{"type":"event","ts_ns":100,"device":"d","kind":"func_entry","function":"iounmap","args":["0x1000"],"base":"0x1010"}"#,
            "\n",
            r#"{"type":"event","ts_ns":200,"device":"d","kind":"func_exit","function":"ioremap","ret":"0x9000"}"#,
            "\n",
            r#"{"type":"trailer","events":2}"#,
            "\n",
        );
        let source = Source::parse(capture).unwrap();
        let mut out = Vec::new();
        source.write_to(&mut out, 2).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].contains(r#""args":["0x1000"],"base":"0x1010""#),
            "{}",
            lines[1]
        );
        assert!(
            lines[3].contains(r#""args":["0x9000"],"base":"0x9010""#),
            "{}",
            lines[3]
        );
        assert!(lines[4].contains(r#""ret":"0x9000""#), "{}", lines[4]);
    }

    #[test]
    fn a_capture_without_a_trailer_is_refused() {
        let cut = CAPTURE.lines().take(3).collect::<Vec<_>>().join("\n");
        let error = Source::parse(&cut).unwrap_err();
        assert!(error.to_string().contains("no trailer"), "{error}");
    }
}
