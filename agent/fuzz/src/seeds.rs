//! The seed corpus, cut from real bench captures and the project's own
//! profiles and expectations; `seed-corpus` writes it to `corpus/`.

use std::collections::BTreeSet;

use barwatch::capture::reader::read_capture_from;

use crate::records;

/// A bench capture: aplay plays while the HD-audio controller is removed and
/// rescanned (`playback-remove-rescan`).
pub const PLAYBACK_CAPTURE: &str = include_str!("../../testdata/playback-remove-rescan.jsonl");

/// The demo's capture: the controller's clean cycle and the fixture's read
/// after iounmap, with its page fault.
pub const DEMO_CAPTURE: &str = include_str!("../../../tui/testdata/demo-capture.jsonl");

/// The captures seeds are cut from, by name.
const CAPTURES: [(&str, &str); 2] = [("playback", PLAYBACK_CAPTURE), ("demo", DEMO_CAPTURE)];

/// The capture whose watched devices' events make a seed whole: the demo's
/// two devices each go through a whole cycle in about 100 kB (playback's own
/// take three times that, which would slow every run of the fuzzer).
const WHOLE_CYCLES: &str = "demo";

/// Lines that start the windows cut around them: each a part of the quiesce
/// story (or its noise) a window should show the fuzzer.
const WINDOW_MARKS: [(&str, &str); 8] = [
    ("disconnect", "snd_card_disconnect"),
    ("iounmap", "\"probe\":\"kprobe:iounmap\""),
    ("ioremap", "\"probe\":\"kretprobe:ioremap"),
    ("ioctl", "\"kind\":\"ioctl_enter\""),
    ("irq", "\"kind\":\"irq_handler_entry\""),
    ("sysfs", "\"kind\":\"device_state\""),
    ("page-fault", "\"kind\":\"page_fault\""),
    ("tracepoint", "\"kind\":\"tracepoint\""),
];

/// Events kept on each side of a window's mark.
const WINDOW_HALF: usize = 12;

/// One seed file: its name within the target's corpus folder and its bytes.
pub type Seed = (String, Vec<u8>);

/// `lines` joined as a capture file, each ended by a newline.
fn file(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| [l.as_bytes(), b"\n"])
        .flatten()
        .copied()
        .collect()
}

/// Capture seeds: for each bench capture, its header alone and with its
/// trailer, windows of events around each kind of mark (with the trailer,
/// whose counts then disagree, as a damaged capture's do), the demo's watched
/// devices' own events, and a capture cut in the middle of a line.
pub fn captures() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for (name, text) in CAPTURES {
        let lines: Vec<&str> = text.lines().collect();
        let (header, events, trailer) =
            (lines[0], &lines[1..lines.len() - 1], lines[lines.len() - 1]);
        seeds.push((format!("{name}-header"), file(&[header])));
        seeds.push((format!("{name}-header-trailer"), file(&[header, trailer])));
        for (label, mark) in WINDOW_MARKS {
            let Some(at) = events.iter().position(|l| l.contains(mark)) else {
                continue;
            };
            let window =
                &events[at.saturating_sub(WINDOW_HALF)..(at + WINDOW_HALF).min(events.len())];
            let cut: Vec<&str> = [header]
                .into_iter()
                .chain(window.iter().copied())
                .chain([trailer])
                .collect();
            seeds.push((format!("{name}-{label}"), file(&cut)));
        }
        if name == WHOLE_CYCLES {
            let watched: Vec<&str> = [header]
                .into_iter()
                .chain(events.iter().copied().filter(|l| l.contains("\"device\":")))
                .chain([trailer])
                .collect();
            seeds.push((format!("{name}-watched"), file(&watched)));
        }
        let mut cut = file(&[&[header], &events[..10]].concat());
        cut.extend_from_slice(&events[10].as_bytes()[..events[10].len() / 2]);
        seeds.push((format!("{name}-cut"), cut));
    }
    seeds
}

/// Record seeds: the ring-buffer record behind the first event of each kind
/// and probe in the bench captures, and a whole remove cycle's records.
pub fn records() -> Vec<Seed> {
    let mut seen = BTreeSet::new();
    let mut seeds = Vec::new();
    for (name, text) in CAPTURES {
        let capture = read_capture_from(text.as_bytes()).expect("a checked-in capture reads");
        for event in &capture.events {
            let key = (event.data.kind().to_owned(), event.probe.clone());
            if seen.contains(&key) {
                continue;
            }
            let Some(bytes) = records::encode(event) else {
                continue;
            };
            let probe: String = event
                .probe
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            seeds.push((format!("{name}-{}-{probe}", key.0), bytes));
            seen.insert(key);
        }
    }
    seeds.push(("playback-remove-cycle".to_owned(), remove_cycle()));
    seeds
}

/// The events of the playback capture from the sysfs remove to the driver's
/// restart after the rescan, each as its record, one after another as the
/// ring buffer hands them over.
fn remove_cycle() -> Vec<u8> {
    let capture =
        read_capture_from(PLAYBACK_CAPTURE.as_bytes()).expect("a checked-in capture reads");
    let probe_at = |probe: &str| {
        capture
            .events
            .iter()
            .position(|e| e.probe == probe)
            .expect("the playback capture shows a whole remove cycle")
    };
    let from = probe_at("kprobe:pci_stop_and_remove_bus_device_locked");
    let to = probe_at("kprobe:snd_hdac_bus_init_chip");
    capture.events[from..=to]
        .iter()
        .filter_map(records::encode)
        .flatten()
        .collect()
}

/// Profile seeds: the built-in profiles and the bench's fixture profiles.
pub fn profiles() -> Vec<Seed> {
    [
        ("hda", include_str!("../../profiles/hda.toml")),
        ("pci", include_str!("../../profiles/pci.toml")),
        (
            "fixture",
            include_str!("../../../xtask/bench/profiles/fixture.toml"),
        ),
        (
            "fixture-no-module",
            include_str!("../../../xtask/bench/profiles/fixture-no-module.toml"),
        ),
    ]
    .map(|(name, text)| (name.to_owned(), text.as_bytes().to_vec()))
    .into()
}

/// Expectations seeds: every bench scenario's expectations file.
pub fn expectations(expect_dir: &std::path::Path) -> std::io::Result<Vec<Seed>> {
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(expect_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml")
            && let Some(stem) = path.file_stem()
        {
            seeds.push((stem.to_string_lossy().into_owned(), std::fs::read(&path)?));
        }
    }
    seeds.sort();
    Ok(seeds)
}
