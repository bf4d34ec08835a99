//! `barwatch check --capture`: the verdict of a recording, its exit status, its
//! JUnit and JSON forms, and clear errors (exit 3) for bad input. No privileges.

use std::{collections::BTreeMap, path::Path};

use barwatch::{
    capture::{
        format::{Header, WatchedDevice},
        writer::CaptureWriter,
    },
    event::{BarRange, Event, EventData, Hex},
    probe_table::{Mechanism, ProbeStatus, Role},
    profile::Profile,
};

use crate::util;

const FIXTURE: &str = "0000:00:05.0";
const BAR: u64 = 0xfeb0_0000;
const VIRT: u64 = 0xffff_c900_0060_0000;

/// The probe table of a recording with the built-in profiles and the fixture's
/// accessor, everything attached.
fn probes() -> Vec<ProbeStatus> {
    let mut table = Profile::attached_table(&Profile::builtin());
    table.push(ProbeStatus {
        name: "kprobe:barwatch_fixture_read".into(),
        role: Role::MmioAccessor,
        attached: Some(Mechanism::Kprobe),
        attempts: Vec::new(),
        note: None,
        marks: None,
        mapping: None,
        carries_ioctls: false,
    });
    table
}

fn event(
    ms: u64,
    tid: u32,
    comm: &str,
    function: &str,
    args: [u64; 4],
    base: Option<u64>,
) -> Event {
    Event {
        ts_ns: 1_000_000_000 + ms * 1_000_000,
        cpu: tid % 2,
        pid: tid,
        tid,
        comm: comm.into(),
        probe: format!("kprobe:{function}").into(),
        device: Some(FIXTURE.into()),
        data: EventData::FuncEntry {
            function: function.into(),
            module: None,
            ip: Hex(0xffff_ffff_c000_0000),
            args: args.map(Hex),
            base: base.map(Hex),
            stack: vec![
                format!("{function}+0x1 [barwatch_fixture]").into(),
                "fixture_work+0x17 [barwatch_fixture]".into(),
            ],
        },
    }
}

fn returned(ms: u64, tid: u32, function: &str, ret: u64) -> Event {
    Event {
        data: EventData::FuncExit {
            function: function.into(),
            module: None,
            ip: Hex(0xffff_ffff_c000_0000),
            ret: Hex(ret),
            stack: Vec::new(),
        },
        probe: format!("kretprobe:{function}").into(),
        device: Some(FIXTURE.into()),
        ..event(ms, tid, "sh", function, [0; 4], None)
    }
}

/// A fixture remove and rescan; with `touch`, its work reads BAR0 after iounmap.
fn write_capture(path: &Path, touch: bool, trailer: bool) {
    let mut header = Header::new("6.1.0", "bench", 0, 1_000_000_000, probes());
    header.devices = vec![WatchedDevice {
        bdf: FIXTURE.into(),
        driver: Some("barwatch_fixture".into()),
        cards: Vec::new(),
        bars: vec![BarRange {
            index: 0,
            start: Hex(BAR),
            end: Hex(BAR + 0xfffff),
        }],
        mappings: Vec::new(),
    }];
    let mut events = vec![
        event(
            10,
            7,
            "sh",
            "barwatch_fixture_read",
            [VIRT, 4, 0, 0],
            Some(VIRT),
        ),
        event(
            20,
            8,
            "sh",
            "pci_stop_and_remove_bus_device_locked",
            [0; 4],
            None,
        ),
        event(21, 8, "sh", "iounmap", [VIRT, 0, 0, 0], None),
        event(900, 8, "sh", "ioremap", [BAR, 0x100000, 0, 0], None),
        returned(900, 8, "ioremap", VIRT),
        returned(901, 8, "local_pci_probe", 0),
    ];
    events[1].device = None;
    events[5].device = None;
    if touch {
        events.insert(
            3,
            event(
                30,
                7,
                "kworker/u4:3",
                "barwatch_fixture_read",
                [VIRT, 4, 0, 0],
                Some(VIRT),
            ),
        );
    }
    let mut writer = CaptureWriter::new(std::fs::File::create(path).unwrap(), &header).unwrap();
    for e in &events {
        writer.write_event(e).unwrap();
    }
    if trailer {
        writer.finish(BTreeMap::new(), 0, 0, 2).unwrap();
    } else {
        writer.flush().unwrap();
    }
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_capture_with_a_touch_after_unmap_fails_and_says_where_first() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.jsonl");
    let junit = dir.path().join("junit.xml");
    write_capture(&capture, true, true);
    let out = util::barwatch(&[
        "check",
        "--capture",
        capture.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("FAIL: 1 violation (mmio-after-unmap) on 0000:00:05.0 (barwatch_fixture)")
    );
    lines.next();
    assert_eq!(
        lines.next(),
        Some(
            "violation mmio-after-unmap: 0000:00:05.0 (barwatch_fixture) cycle 1 (remove) at +0.030 s, pid 7 tid 7 kworker/u4:3"
        )
    );
    assert!(text.contains("9.0 ms after its iounmap"), "{text}");
    assert!(
        text.contains("    fixture_work+0x17 [barwatch_fixture]"),
        "{text}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testcase name=\"mmio-after-unmap\""), "{xml}");
    assert!(
        xml.contains("<failure") && xml.contains("type=\"mmio-after-unmap\""),
        "{xml}"
    );
    // One test case per rule.
    assert_eq!(
        xml.matches("<testcase").count(),
        barwatch::rules::ids().len(),
        "{xml}"
    );
}

#[test]
fn a_clean_capture_passes_and_its_json_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.jsonl");
    write_capture(&capture, false, true);
    let out = util::barwatch(&["check", "--capture", capture.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout(&out).starts_with("PASS: 1 quiesce cycle on 1 device"),
        "{}",
        stdout(&out)
    );
    let out = util::barwatch(&["check", "--json", "--capture", capture.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (json["outcome"].as_str(), json["exit"].as_u64()),
        (Some("pass"), Some(0))
    );
    assert_eq!(json["devices"][0]["cycles"][0]["trigger"], "remove");
}

#[test]
fn expectations_the_run_does_not_meet_fail_it_and_a_cut_capture_is_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.jsonl");
    write_capture(&capture, false, true);
    let expect = dir.path().join("e.toml");
    std::fs::write(&expect, "min_cycles = 2\ntrigger = \"remove\"\n").unwrap();
    let out = util::barwatch(&[
        "check",
        "--capture",
        capture.to_str().unwrap(),
        "--expect",
        expect.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stdout(&out)
            .starts_with("FAIL: 0000:00:05.0 completed 1 remove cycle(s), expected at least 2"),
        "{}",
        stdout(&out)
    );

    write_capture(&capture, false, false);
    let out = util::barwatch(&["check", "--capture", capture.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stdout(&out).starts_with("INCOMPLETE"), "{}", stdout(&out));
}

#[test]
fn bad_input_is_a_set_up_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.jsonl");
    write_capture(&capture, false, true);
    let expect = dir.path().join("e.toml");
    std::fs::write(&expect, "required = [\"mmio-after-umap\"]\n").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "check",
                "--capture",
                capture.to_str().unwrap(),
                "--expect",
                expect.to_str().unwrap(),
            ],
            "unknown rule `mmio-after-umap`",
        ),
        (
            &["check", "--capture", "/nonexistent.jsonl"],
            "cannot read capture /nonexistent.jsonl",
        ),
        (
            &["check", "--timeout", "soon", "--", "true"],
            "invalid value 'soon'",
        ),
        (&["check"], "no command to run: give it after `--`"),
    ];
    for (args, says) in cases {
        let out = util::barwatch(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn a_live_check_runs_its_command_directly_and_reports_how_it_went() {
    if !util::require_privileges() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("live.jsonl");
    // Nothing quiesces here: no cycle is seen, so nothing was checked and the
    // run is not a pass, though the capture is complete.
    let out = util::barwatch(&[
        "check",
        "-o",
        capture.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stdout(&out).starts_with("INCOMPLETE: ") && stdout(&out).contains("nothing was checked"),
        "{}",
        stdout(&out)
    );
    let text = std::fs::read_to_string(&capture).unwrap();
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains("\"type\":\"trailer\""),
        "{text}"
    );
    // A command that fails leaves the run incomplete; one that cannot start is a
    // set-up error.
    let out = util::barwatch(&["check", "--", "false"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stdout(&out).contains("the command failed"),
        "{}",
        stdout(&out)
    );
    let out = util::barwatch(&["check", "--", "/nonexistent/command"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot run `/nonexistent/command` (it is run directly, not by a shell)"),
        "{out:?}"
    );
}

#[test]
fn expectations_naming_devices_judge_only_those() {
    // The demo: the HD-audio controller quiesces cleanly, the fixture (00:05.0)
    // reads its BAR after the unmap.
    let demo = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tui/testdata/demo-capture.jsonl"
    );
    let dir = tempfile::tempdir().unwrap();
    let expect = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let run = |expect: &Path| {
        util::barwatch(&[
            "check",
            "--expect",
            expect.to_str().unwrap(),
            "--capture",
            demo,
        ])
    };
    let hda = run(&expect("hda.toml", "devices = [\"0000:00:04.0\"]\n"));
    assert_eq!(hda.status.code(), Some(0), "{}", stdout(&hda));
    assert!(!stdout(&hda).contains("0000:00:05.0"), "{}", stdout(&hda));
    let fixture = run(&expect("fixture.toml", "devices = [\"0000:00:05.0\"]\n"));
    assert_eq!(fixture.status.code(), Some(1), "{}", stdout(&fixture));
    let garbage = run(&expect("garbage.toml", "devices = [\"garbage\"]\n"));
    assert_eq!(garbage.status.code(), Some(3), "{garbage:?}");
    assert!(
        String::from_utf8_lossy(&garbage.stderr).contains("`garbage` is not a PCI address"),
        "{garbage:?}"
    );
}
