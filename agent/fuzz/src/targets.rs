//! The fuzz targets' bodies: each takes arbitrary bytes through one reader and
//! on through what real input of that kind reaches next.
//!
//! A target returns quietly when its reader refuses the input with an error;
//! it panics (which libFuzzer reports as a crash) when anything panics on the
//! way, or when a property that must hold for every accepted input does not.

use std::{collections::BTreeMap, sync::OnceLock};

use barwatch::{
    analysis::{Analysis, render::render},
    capture::{
        format::{CLOCK, FORMAT_MAJOR, FORMAT_MINOR, FORMAT_NAME, Header},
        reader::{CaptureEnd, CaptureReader, read_capture_from},
        writer::CaptureWriter,
    },
    decode::{parse, to_event},
    expect::{self, Expectations},
    junit,
    profile::{BasePath, Profile},
    report::Summary,
    rules::RuleConfig,
    visible::visible,
};

use crate::symbols::FuzzSymbols;

/// A fuzz target: its name (the corpus folder's and the binary's `fuzz-NAME`)
/// and its body.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// Runs one input.
    pub run: fn(&[u8]),
}

/// Every target, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: [Target; 4] = [
    Target {
        name: "capture",
        run: capture,
    },
    Target {
        name: "record",
        run: record,
    },
    Target {
        name: "expectations",
        run: expectations,
    },
    Target {
        name: "profile",
        run: profile,
    },
];

/// A capture file, read as `report` and `check --capture` read it: streamed by
/// the strict reader, loaded whole, summarized, analysed, judged and rendered
/// as text, JSON and JUnit.
pub fn capture(data: &[u8]) {
    if let Ok(reader) = CaptureReader::new(data) {
        for event in reader {
            if event.is_err() {
                break;
            }
        }
    }
    let Ok(capture) = read_capture_from(data) else {
        return;
    };
    let summary = Summary::of(&capture);
    let judgement = Analysis::of_capture(&capture).judge(&RuleConfig::default());
    let unmet = Expectations::default().unmet(&judgement);
    expect::exit_status(expect::outcome(&judgement, &unmet));
    let text = format!("{summary}\n{}", render(&judgement));
    visible(&text);
    junit::report(&judgement, &unmet);
    serde_json::to_string(&summary).expect("a summary serializes");
    serde_json::to_string(&judgement).expect("a judgement serializes");
}

/// The header of the capture a decoded record is written to: the built-in
/// profiles' probe table, as a recording that attached everything has.
fn record_header() -> &'static Header {
    static HEADER: OnceLock<Header> = OnceLock::new();
    HEADER.get_or_init(|| Header {
        format: FORMAT_NAME.to_owned(),
        version: format!("{FORMAT_MAJOR}.{FORMAT_MINOR}"),
        kernel: "6.1.0-37-amd64".to_owned(),
        hostname: "bench".to_owned(),
        clock: CLOCK.to_owned(),
        started_unix_ns: 1_764_633_600_000_000_000,
        started_monotonic_ns: 0,
        probes: Profile::attached_table(&Profile::builtin()),
        devices: Vec::new(),
    })
}

/// One ring-buffer record, as the live recorder handles it: checked, decoded
/// to an event, written to a capture and analysed. The capture must read back
/// the very event that was written, since replay must judge what live judged.
pub fn record(data: &[u8]) {
    let Ok(record) = parse(data) else {
        return;
    };
    let event = to_event(&record, &FuzzSymbols);
    let header = record_header();
    let mut file = Vec::new();
    let mut writer = CaptureWriter::new(&mut file, header).expect("a header writes to memory");
    writer
        .write_event(&event)
        .expect("an event writes to memory");
    writer
        .finish(BTreeMap::new(), 0, 0, header.started_unix_ns)
        .expect("a trailer writes to memory");
    let capture = read_capture_from(file.as_slice()).expect("a written capture reads back");
    assert_eq!(capture.events, [event], "the capture changed the event");
    assert!(matches!(capture.end, CaptureEnd::Trailer(_)));
    render(&Analysis::of_capture(&capture).judge(&RuleConfig::default()));
}

/// The capture expectations files are judged against in [`expectations`]: a
/// real remove/rescan during playback, analysed once.
fn judged_capture() -> &'static Analysis {
    static ANALYSIS: OnceLock<Analysis> = OnceLock::new();
    ANALYSIS.get_or_init(|| {
        let capture = read_capture_from(crate::seeds::PLAYBACK_CAPTURE.as_bytes())
            .expect("the checked-in bench capture reads");
        Analysis::of_capture(&capture)
    })
}

/// An expectations file (`check --expect`): parsed, then used to judge a real
/// bench capture, as `check` does.
pub fn expectations(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expectations) = Expectations::parse("fuzz.toml", text) else {
        return;
    };
    let judgement = judged_capture().judge(&expectations.rules);
    let unmet = expectations.unmet(&judgement);
    expect::exit_status(expect::outcome(&judgement, &unmet));
    render(&judgement);
    junit::report(&judgement, &unmet);
}

/// A driver profile (`--profile`): parsed, turned into the probe table a
/// recording would have, and every base path must print as text that parses
/// back to itself, since captures and messages show it that way.
pub fn profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(profile) = Profile::parse("fuzz.toml", text) else {
        return;
    };
    for base in profile.functions.iter().filter_map(|f| f.base.as_ref()) {
        let shown = base.to_string();
        let again: BasePath = shown
            .parse()
            .unwrap_or_else(|e| panic!("base `{shown}` does not parse back: {e}"));
        assert_eq!(&again, base, "base `{shown}` parses back to another path");
    }
    let table = Profile::attached_table(std::slice::from_ref(&profile));
    serde_json::to_string(&table).expect("a probe table serializes");
}
