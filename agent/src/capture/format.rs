//! The capture file format, line by line.
//!
//! A capture is UTF-8 JSON lines (one JSON object per line, `\n`-terminated), so it
//! can be streamed, tailed, grepped and piped to `jq`. Every line is an object with a
//! `type` field:
//!
//! 1. **`header`**, exactly once, first:
//!    `{"type":"header","format":"barwatch-capture","version":"1.0","kernel":"6.1.0-37-amd64",
//!    "hostname":"lab3","clock":"CLOCK_MONOTONIC","started_unix_ns":…,"started_monotonic_ns":…,
//!    "probes":[…]}`. `probes` is the probe table ([`ProbeStatus`]): every probe point with
//!    its role, the mechanism that attached (absent when blind) and each attempt's failure.
//!    `started_monotonic_ns` and `started_unix_ns` were read together, so an event's wall
//!    time is `started_unix_ns + (ts_ns - started_monotonic_ns)`. `devices` (1.1) lists
//!    the watched PCI devices as sysfs showed them at the start; since 1.4 their
//!    `bars` are objects (`{"index":0,"start":"0x…","end":"0x…"}`, as `device_state`
//!    events write them), before that strings (`"0: 0xSTART-0xEND"`), which are
//!    still read (one that does not parse is left out). Since 1.2 a marker's
//!    probe-table entry says what it means to the timeline (`marks`: its edge and
//!    trigger); older captures take that from the built-in profiles. Since 1.4 a
//!    mapping probe's entry says what a call does to the MMIO mappings (`mapping`:
//!    `map-entry`, `map-return` or `unmap`); older captures take that from the
//!    built-in profiles by probe name. Since 1.5 the probes of ALSA's ioctl file
//!    operations say when they carry the ALSA ioctls (`carries_ioctls`), the
//!    syscall hooks' entries then saying what carries them; their `ioctl_enter` and
//!    `ioctl_exit` events are named after those probes (`kprobe:snd_ctl_ioctl`).
//! 2. **`event`**, any number, in the order the agent received them (close to, but not
//!    strictly, time order across CPUs): the fields of [`Event`] flattened next to
//!    `"type":"event"`, with a `kind` tag selecting the rest (`ioctl_enter`, `irq_handler_exit`,
//!    …). Kernel addresses and ioctl numbers are `"0x…"` strings. Since 1.1 an event
//!    carries `device`, the watched PCI device it concerns (absent when none matched),
//!    ioctls their file's `dev` (`"116:3"`) and IRQ events their `handler`. Since 1.2
//!    barwatch writes a `device_state` event (probe `barwatch:sysfs`) when sysfs shows
//!    a watched device changed (BARs moved, gone), stamped with the time of the event
//!    that made it look.
//! 3. **`trailer`**, exactly once, last, when the recorder ended cleanly: totals per probe,
//!    records lost per probe because the ring buffer was full, and records that could not
//!    be decoded, and `final_probes`, the probe table at the end when points were
//!    attached after their module loaded. Since 1.3 `blind_spans` lists the spans in
//!    which a probe point was blind although it is attached in the end: a point that
//!    could not be armed before its module loaded, from the module's load to the
//!    attach (points armed before the load say so in their table `note` and have no
//!    span). Rules that need such a probe say "not checked" when a span meets a
//!    quiesce cycle. A capture without a trailer was cut (the recorder was killed or the disk
//!    filled): every complete line before the cut is still valid.
//!
//! Versioning: `version` is `MAJOR.MINOR`. Readers accept any minor of a major they know
//! (new fields are optional and unknown fields ignored) and refuse a newer major with a
//! message saying which version they read.

use std::collections::BTreeMap;

use serde::{
    Deserialize, Deserializer, Serialize,
    de::{MapAccess, Visitor, value::MapAccessDeserializer},
};

use crate::{
    event::{BarRange, Event, Hex},
    probe_table::ProbeStatus,
};

/// The `format` value of every barwatch capture header.
pub const FORMAT_NAME: &str = "barwatch-capture";
/// The major version this build writes and the newest it reads.
pub const FORMAT_MAJOR: u32 = 1;
/// The minor version this build writes.
pub const FORMAT_MINOR: u32 = 5;
/// The longest line a reader accepts; a longer one is corrupt input, not an event.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// The clock that event timestamps come from.
pub const CLOCK: &str = "CLOCK_MONOTONIC";

/// The first line: where, when and with which probes the capture was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// `MAJOR.MINOR`.
    pub version: String,
    /// `uname -r` of the traced kernel.
    pub kernel: String,
    /// Host name of the traced machine.
    pub hostname: String,
    /// The clock of `ts_ns`, always [`CLOCK`].
    pub clock: String,
    /// Wall-clock time at start, nanoseconds since the Unix epoch.
    pub started_unix_ns: u64,
    /// CLOCK_MONOTONIC at start, read together with `started_unix_ns`.
    pub started_monotonic_ns: u64,
    /// The probe table: every probe point and how it attached or why not.
    pub probes: Vec<ProbeStatus>,
    /// The watched PCI devices at the start (1.1; empty in older captures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<WatchedDevice>,
}

/// A watched PCI device as the capture's header lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedDevice {
    /// Its PCI address, `DDDD:BB:DD.F`.
    pub bdf: String,
    /// The bound driver at the start, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Its ALSA card numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<u32>,
    /// Its memory BARs at the start.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "header_bars"
    )]
    pub bars: Vec<BarRange>,
    /// Mappings of its BARs that existed at the start, from `/proc/vmallocinfo`
    /// when the kernel shows real addresses (1.2): their unmap is then known whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mappings: Vec<KnownMapping>,
}

/// A header's BARs in either shape: objects (1.4), or strings before 1.4, of
/// which one that does not parse is left out, as readers always did.
fn header_bars<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BarRange>, D::Error> {
    let bars = Vec::<HeaderBar>::deserialize(d)?;
    Ok(bars.into_iter().filter_map(|bar| bar.0).collect())
}

/// One BAR of a header's list; `None` for a string that does not parse.
struct HeaderBar(Option<BarRange>);

impl<'de> Deserialize<'de> for HeaderBar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HeaderBarVisitor)
    }
}

/// Reads a [`HeaderBar`]. It expects "a string" in its errors, as readers
/// before 1.4 did, so a defective header is described as it always was.
struct HeaderBarVisitor;

impl<'de> Visitor<'de> for HeaderBarVisitor {
    type Value = HeaderBar;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<HeaderBar, E> {
        Ok(HeaderBar(BarRange::parse(text)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<HeaderBar, A::Error> {
        BarRange::deserialize(MapAccessDeserializer::new(map)).map(|bar| HeaderBar(Some(bar)))
    }
}

/// An MMIO mapping that existed when the capture started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownMapping {
    /// First virtual address.
    pub virt: Hex,
    /// Length in bytes.
    pub size: u64,
    /// The physical address mapped.
    pub phys: Hex,
}

/// Totals for one probe point, in the trailer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeTotals {
    /// Events written for this probe.
    pub events: u64,
    /// Records dropped in the kernel because the ring buffer was full.
    pub lost: u64,
}

/// The last line of a capture that ended cleanly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// Wall-clock time at the end, nanoseconds since the Unix epoch.
    pub ended_unix_ns: u64,
    /// Events written in all.
    pub events: u64,
    /// Records lost in all.
    pub lost: u64,
    /// Records the agent could not decode (a BPF object/agent mismatch).
    pub decode_errors: u64,
    /// Kernel stacks that could not be taken (stack map full, or a hash collision
    /// with a different stack): those events carry no stack (1.1).
    #[serde(default)]
    pub stacks_lost: u64,
    /// Per probe point name: events and losses.
    pub probes: BTreeMap<String, ProbeTotals>,
    /// The probe table at the end, when it changed during the capture (points
    /// attached after their module loaded); the header's otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub final_probes: Vec<ProbeStatus>,
    /// Spans in which an attached probe point was blind (1.3): calls in them were
    /// not recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blind_spans: Vec<BlindSpan>,
}

/// A span of the recording in which one probe point saw nothing, although it is
/// attached before and after (or from then on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlindSpan {
    /// The probe point, as the probe table names it.
    pub probe: String,
    /// CLOCK_MONOTONIC when it went blind (its module's load).
    pub from_ns: u64,
    /// CLOCK_MONOTONIC when it saw again (its attach).
    pub to_ns: u64,
    /// Why, in words.
    pub reason: String,
}

/// One line of a capture file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// The header line.
    Header(Header),
    /// An event line.
    Event(Event),
    /// The trailer line.
    Trailer(Trailer),
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAR0: BarRange = BarRange {
        index: 0,
        start: Hex(0xfebf_0000),
        end: Hex(0xfebf_3fff),
    };

    fn device(bars: serde_json::Value) -> Result<WatchedDevice, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "bdf": "0000:00:04.0", "bars": bars }))
    }

    #[test]
    fn a_header_writes_its_bars_as_device_state_events_do() {
        let watched = WatchedDevice {
            bdf: "0000:00:04.0".into(),
            driver: None,
            cards: Vec::new(),
            bars: vec![BAR0],
            mappings: Vec::new(),
        };
        let json = serde_json::to_value(&watched).unwrap();
        assert_eq!(
            json["bars"],
            serde_json::json!([{ "index": 0, "start": "0xfebf0000", "end": "0xfebf3fff" }])
        );
        assert_eq!(device(json["bars"].clone()).unwrap(), watched);
    }

    #[test]
    fn headers_before_1_4_with_bars_as_strings_still_read() {
        let old = device(serde_json::json!(["0: 0xfebf0000-0xfebf3fff"])).unwrap();
        assert_eq!(old.bars, [BAR0]);
        // A string that does not parse is left out, as readers always did.
        let odd = device(serde_json::json!(["bar zero", "0: 0xfebf0000-0xfebf3fff"])).unwrap();
        assert_eq!(odd.bars, [BAR0]);
    }

    #[test]
    fn a_bar_of_another_type_is_described_as_before() {
        let error = device(serde_json::json!([5])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid type: integer `5`, expected a string"
        );
        let error = device(serde_json::json!([{ "index": 0 }])).unwrap_err();
        assert_eq!(error.to_string(), "missing field `start`");
    }
}
