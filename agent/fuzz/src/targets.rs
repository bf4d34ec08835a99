//! The fuzz targets' bodies: each takes arbitrary bytes through one reader and
//! on through what real input of that kind reaches next.
//!
//! A target returns quietly when its reader refuses the input with an error;
//! it panics (which libFuzzer reports as a crash) when anything panics on the
//! way, or when a property that must hold for every accepted input does not.

use std::{collections::BTreeMap, sync::OnceLock};

use barwatch::{
    analysis::{Analysis, Retention, render::render},
    capture::{
        format::Header,
        reader::{CaptureEnd, CaptureReader, read_capture_from},
        writer::CaptureWriter,
    },
    decode::{parse, to_event},
    device::{
        Bar, PciDevice,
        attribution::{DeviceMap, Watch},
        vmalloc::IoMapping,
    },
    event::{BarRange, DevNum, Event, EventData, Name},
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

/// The bench the records come from: the playback capture's header, and its
/// watched devices as sysfs showed them (BARs from the header, IRQs and
/// device numbers from its events), at the start and after the rescan that
/// moved the controller's BAR.
struct Bench {
    header: Header,
    devices: Vec<PciDevice>,
    after_rescan: Vec<PciDevice>,
    mappings: Vec<IoMapping>,
}

/// `bars` as sysfs lists them.
fn sysfs_bars(bars: impl IntoIterator<Item = BarRange>) -> Vec<Bar> {
    bars.into_iter()
        .map(|b| Bar {
            index: b.index,
            start: b.start.0,
            end: b.end.0,
        })
        .collect()
}

/// The bench of [`record`], read once.
fn bench() -> &'static Bench {
    static BENCH: OnceLock<Bench> = OnceLock::new();
    BENCH.get_or_init(|| {
        let capture = read_capture_from(crate::seeds::PLAYBACK_CAPTURE.as_bytes())
            .expect("the checked-in bench capture reads");
        let devices = capture
            .header
            .devices
            .iter()
            .map(|watched| {
                let own = || {
                    capture
                        .events
                        .iter()
                        .filter(|e| e.device.as_deref() == Some(watched.bdf.as_str()))
                };
                let mut irqs: Vec<u32> = own()
                    .filter_map(|e| match e.data {
                        EventData::IrqHandlerEntry { irq, .. } => Some(irq),
                        _ => None,
                    })
                    .collect();
                irqs.sort_unstable();
                irqs.dedup();
                let mut char_devs: Vec<DevNum> = own()
                    .filter_map(|e| match e.data {
                        EventData::IoctlEnter { dev, .. } => dev,
                        _ => None,
                    })
                    .collect();
                char_devs.sort_unstable();
                char_devs.dedup();
                PciDevice {
                    bdf: watched.bdf.clone(),
                    driver: watched.driver.clone(),
                    bars: sysfs_bars(watched.bars.iter().copied()),
                    irqs,
                    cards: watched.cards.clone(),
                    char_devs,
                }
            })
            .collect::<Vec<PciDevice>>();
        let mut after_rescan = devices.clone();
        for event in &capture.events {
            if let (Some(bdf), EventData::DeviceState { bars, .. }) = (&event.device, &event.data)
                && let Some(device) = after_rescan.iter_mut().find(|d| *bdf == d.bdf)
            {
                device.bars = sysfs_bars(bars.iter().copied());
            }
        }
        let mappings = capture
            .header
            .devices
            .iter()
            .flat_map(|d| &d.mappings)
            .map(|m| IoMapping {
                virt: m.virt.0,
                size: m.size,
                phys: m.phys.0,
            })
            .collect();
        Bench {
            header: capture.header,
            devices,
            after_rescan,
            mappings,
        }
    })
}

/// The ring buffer's samples in `data`: records one after another, each as
/// long as its header's `len` says (at least one byte, at most what is left),
/// so a sequence of real records splits into them and any other bytes still
/// reach the decoder.
pub fn samples(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let declared = data.get(4..8).map_or(data.len(), |len| {
            u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize
        });
        let (sample, rest) = data.split_at(declared.clamp(1, data.len()));
        data = rest;
        Some(sample)
    })
}

/// The events of the records in `data`, attributed to the bench's devices,
/// and how many samples could not be decoded.
fn decode(data: &[u8]) -> (Vec<Event>, u64) {
    let bench = bench();
    let bdfs = bench.devices.iter().map(|d| d.bdf.clone()).collect();
    let mut devices = DeviceMap::new(Watch::Devices(bdfs), bench.devices.clone(), &bench.mappings);
    devices.index_probes(&bench.header.probes);
    let mut events = Vec::new();
    let mut decode_errors = 0;
    for sample in samples(data) {
        match parse(sample) {
            Ok(record) => {
                let mut event = to_event(&record, &FuzzSymbols);
                event.device = devices
                    .attribute(&event, &mut || Some(bench.after_rescan.clone()))
                    .map(Name::from);
                for change in devices.take_changes() {
                    events.push(change.into_event(event.ts_ns, event.cpu));
                }
                events.push(event);
            }
            Err(_) => decode_errors += 1,
        }
    }
    (events, decode_errors)
}

/// A stretch of ring-buffer records, as the live recorder handles them: each
/// checked and decoded to an event, attributed to the bench's watched
/// devices, written to a capture and analysed as `check` does live (bounded),
/// then the capture replayed. The capture must read back the very events
/// that were written, since replay must judge what live judged.
pub fn record(data: &[u8]) {
    let bench = bench();
    let (events, decode_errors) = decode(data);
    let mut file = Vec::new();
    let mut writer =
        CaptureWriter::new(&mut file, &bench.header).expect("a header writes to memory");
    let mut live = Analysis::bounded(&bench.header, LIVE_RETENTION);
    for event in &events {
        writer
            .write_event(event)
            .expect("an event writes to memory");
        live.push(event.clone());
    }
    let trailer = writer
        .finish(
            BTreeMap::new(),
            decode_errors,
            0,
            bench.header.started_unix_ns,
        )
        .expect("a trailer writes to memory");
    live.finish(&trailer);
    render(&live.judge(&RuleConfig::default()));
    let capture = read_capture_from(file.as_slice()).expect("a written capture reads back");
    assert_eq!(capture.events, events, "the capture changed the events");
    assert_eq!(capture.end, CaptureEnd::Trailer(trailer));
    render(&Analysis::of_capture(&capture).judge(&RuleConfig::default()));
}

/// How much the live analysis of [`record`] keeps: little, so that settling
/// and forgetting run on short inputs too.
const LIVE_RETENTION: Retention = Retention {
    max_events: 16,
    settle_ns: 1_000_000,
};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remove_cycle_seed_decodes_to_a_whole_cycle_of_the_hda_controller() {
        let seed = crate::seeds::records()
            .into_iter()
            .find(|(name, _)| name == "playback-remove-cycle")
            .expect("the remove cycle is a seed")
            .1;
        let (events, decode_errors) = decode(&seed);
        assert_eq!(decode_errors, 0);
        let mut analysis = Analysis::new(&bench().header);
        for event in events {
            analysis.push(event);
        }
        let timelines = analysis.timelines();
        let hda = timelines
            .devices
            .iter()
            .find(|d| d.bdf == "0000:00:04.0")
            .expect("the controller has a timeline");
        let cycle = hda
            .cycles
            .first()
            .expect("the controller went through a cycle");
        assert!(cycle.unmap.is_some() && cycle.remap.is_some(), "{cycle:?}");
    }

    #[test]
    fn samples_split_records_by_their_declared_length() {
        let mut data = vec![0u8; 4];
        data.extend_from_slice(&12u32.to_le_bytes());
        data.extend_from_slice(&[1; 4]);
        data.extend_from_slice(&[9, 9, 9]);
        let split: Vec<&[u8]> = samples(&data).collect();
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].len(), 12);
        assert_eq!(split[1], [9, 9, 9]);
    }
}
