//! Big captures made from a real one: its events repeated, each repetition
//! shifted in time to follow the one before, with a trailer whose totals count
//! every repetition. The result replays as a real recording that ran that many
//! times as long (its cycles follow one another), not as a cut capture.
//!
//! Lines are copied as text and only their `ts_ns` is rewritten, so making a
//! capture of ten million events costs little more than writing it.

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
    fn a_capture_without_a_trailer_is_refused() {
        let cut = CAPTURE.lines().take(3).collect::<Vec<_>>().join("\n");
        let error = Source::parse(&cut).unwrap_err();
        assert!(error.to_string().contains("no trailer"), "{error}");
    }
}
