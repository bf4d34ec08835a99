//! Never a false pass: captures derived from a real bench capture that passes
//! (HD-audio played while its controller was removed and rescanned, in the
//! bench guest), each changed the way a record can be damaged or a run can see
//! nothing. `barwatch check --capture` must not exit 0 on any of them, and must
//! say why in its text, its JSON and its JUnit report.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util;

/// The bench capture every case starts from.
const CLEAN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/playback-remove-rescan.jsonl"
);

/// The clean capture's lines as JSON values.
fn lines() -> Vec<Value> {
    lines_of(CLEAN)
}

/// The lines of the capture at `path` as JSON values.
fn lines_of(path: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("the bench capture is checked in")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn is(line: &Value, kind: &str) -> bool {
    line["type"] == kind
}

/// Whether `line` is an event of probe `probe`.
fn of_probe(line: &Value, probe: &str) -> bool {
    is(line, "event") && line["probe"] == probe
}

/// The trailer line, to change.
fn trailer(lines: &mut [Value]) -> &mut Value {
    lines
        .iter_mut()
        .find(|l| is(l, "trailer"))
        .expect("the bench capture ended cleanly")
}

/// Writes `lines` as a capture in `dir`.
fn write(dir: &Path, name: &str, lines: &[Value]) -> PathBuf {
    let path = dir.join(format!("{name}.jsonl"));
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// What `check --capture` answers on `path`: exit status, text, JSON and JUnit.
struct Answer {
    status: i32,
    text: String,
    json: Value,
    junit: String,
}

fn check(path: &Path) -> Answer {
    let capture = path.to_str().unwrap();
    let text = util::barwatch(&["check", "--capture", capture]);
    let json = util::barwatch(&["check", "--json", "--capture", capture]);
    let scratch = tempfile::tempdir().unwrap();
    let junit_path = scratch.path().join("junit.xml");
    let junit = util::barwatch(&[
        "check",
        "--capture",
        capture,
        "--junit",
        junit_path.to_str().unwrap(),
    ]);
    assert_eq!(text.status.code(), json.status.code());
    assert_eq!(text.status.code(), junit.status.code());
    Answer {
        status: text.status.code().expect("an exit status"),
        text: String::from_utf8_lossy(&text.stdout).into_owned(),
        json: serde_json::from_slice(&json.stdout).expect("check --json prints JSON"),
        junit: std::fs::read_to_string(junit_path).expect("check wrote its JUnit report"),
    }
}

impl Answer {
    /// The kinds of reason the JSON gives for not passing.
    fn unearned(&self) -> Vec<String> {
        self.json["unearned"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| u["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Asserts an incomplete answer whose reason, of `kind`, says `says`
    /// everywhere it is shown.
    fn is_incomplete_because(&self, kind: &str, says: &str) {
        assert_eq!(self.status, 2, "{}", self.text);
        assert_eq!(self.json["outcome"], "incomplete");
        assert!(
            self.unearned().contains(&kind.to_owned()),
            "{kind} in {:?}",
            self.unearned()
        );
        let headline = self.text.lines().next().unwrap_or_default();
        assert!(
            headline.starts_with("INCOMPLETE: ") && headline.contains(says),
            "the headline says {says:?}: {headline}"
        );
        assert!(
            self.junit.contains("barwatch.record") && self.junit.contains(says),
            "the JUnit report says {says:?}:\n{}",
            self.junit
        );
    }
}

#[test]
fn the_real_capture_these_cases_start_from_passes() {
    let answer = check(Path::new(CLEAN));
    assert_eq!(answer.status, 0, "{}", answer.text);
    assert!(answer.text.starts_with("PASS: 1 quiesce cycle"));
    assert_eq!(answer.unearned(), Vec::<String>::new());
}

#[test]
fn a_capture_without_its_trailer_is_cut_not_passed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cut = lines();
    cut.retain(|l| !is(l, "trailer"));
    check(&write(dir.path(), "cut", &cut)).is_incomplete_because("cut", "the capture was cut");
}

#[test]
fn one_deleted_iounmap_line_damages_the_record_and_names_the_rules_it_hides() {
    let dir = tempfile::tempdir().unwrap();
    let mut damaged = lines();
    let at = damaged
        .iter()
        .position(|l| of_probe(l, "kprobe:iounmap"))
        .expect("the remove unmapped BAR0");
    damaged.remove(at);
    let answer = check(&write(dir.path(), "deleted", &damaged));
    // Without its unmap the remap looks unbalanced: not a pass, and the text
    // says the record is damaged beside the failure it may have made up.
    assert_ne!(answer.status, 0, "{}", answer.text);
    assert_eq!(answer.unearned(), ["damaged"]);
    assert!(
        answer.text.contains("kprobe:iounmap event missing"),
        "{}",
        answer.text
    );
    let reason = &answer.json["unearned"][0];
    let rules: Vec<&str> = reason["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        rules.contains(&"mmio-after-unmap") && rules.contains(&"irq-in-window"),
        "the rules that rely on the unmap are named: {reason}"
    );
}

#[test]
fn deleting_the_unmap_from_a_failing_capture_does_not_turn_it_into_a_pass() {
    // The demo's capture: the fixture reads its BAR after the iounmap. Without
    // that iounmap line the read looks harmless, but the record is damaged.
    let dir = tempfile::tempdir().unwrap();
    let demo = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tui/testdata/demo-capture.jsonl"
    );
    assert_eq!(check(Path::new(demo)).status, 1, "the demo fails as it is");
    let mut damaged = lines_of(demo);
    let fixture_unmap = damaged
        .iter()
        .rposition(|l| of_probe(l, "kprobe:iounmap"))
        .expect("the fixture's unmap");
    damaged.remove(fixture_unmap);
    let answer = check(&write(dir.path(), "demo-deleted", &damaged));
    assert_ne!(answer.status, 0, "{}", answer.text);
    assert!(
        answer.unearned().contains(&"damaged".to_owned()),
        "{}",
        answer.text
    );
}

#[test]
fn altered_trailer_counts_damage_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut total = lines();
    let events = trailer(&mut total)["events"].as_u64().unwrap();
    trailer(&mut total)["events"] = (events + 1).into();
    check(&write(dir.path(), "total", &total))
        .is_incomplete_because("damaged", "the file was altered");

    let mut per_probe = lines();
    let probes = trailer(&mut per_probe)["probes"].as_object_mut().unwrap();
    let (_, totals) = probes
        .iter_mut()
        .find(|(name, _)| name.as_str() == "kprobe:iounmap")
        .unwrap();
    totals["events"] = (totals["events"].as_u64().unwrap() + 1).into();
    trailer(&mut per_probe)["events"] = (events + 1).into();
    check(&write(dir.path(), "per-probe", &per_probe))
        .is_incomplete_because("damaged", "kprobe:iounmap event missing");
}

#[test]
fn decode_errors_and_losses_no_probe_explains_damage_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut undecoded = lines();
    trailer(&mut undecoded)["decode_errors"] = 2.into();
    check(&write(dir.path(), "undecoded", &undecoded))
        .is_incomplete_because("damaged", "2 records could not be decoded");

    let mut unexplained = lines();
    trailer(&mut unexplained)["lost"] = 3.into();
    check(&write(dir.path(), "unexplained", &unexplained))
        .is_incomplete_because("damaged", "its probes account for 0");
}

#[test]
fn a_record_of_no_watched_device_checked_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut unwatched = lines();
    for line in &mut unwatched {
        let object = line.as_object_mut().unwrap();
        object.remove("devices");
        object.remove("device");
    }
    unwatched.retain(|l| !of_probe(l, "barwatch:sysfs"));
    let sysfs = trailer(&mut unwatched)["probes"]
        .as_object_mut()
        .unwrap()
        .remove("barwatch:sysfs")
        .map_or(0, |t| t["events"].as_u64().unwrap());
    let events = trailer(&mut unwatched)["events"].as_u64().unwrap();
    trailer(&mut unwatched)["events"] = (events - sysfs).into();
    let answer = check(&write(dir.path(), "unwatched", &unwatched));
    answer.is_incomplete_because("no-cycle", "no watched device was seen");
    assert_eq!(answer.unearned(), ["no-cycle"], "and nothing else is wrong");
}

#[test]
fn a_record_with_every_probe_blind_checked_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut blind = lines();
    for line in &mut blind {
        // The header's probe table, and the trailer's when points came late.
        let table = if is(line, "header") {
            line.get_mut("probes")
        } else {
            line.get_mut("final_probes")
        };
        for probe in table.and_then(Value::as_array_mut).into_iter().flatten() {
            probe.as_object_mut().unwrap().remove("attached");
        }
    }
    check(&write(dir.path(), "blind", &blind))
        .is_incomplete_because("nothing-checked", "no rule could be checked");
}

#[test]
fn expectations_that_accept_no_cycle_still_refuse_a_blind_record() {
    let dir = tempfile::tempdir().unwrap();
    let expect = dir.path().join("expect.toml");
    std::fs::write(&expect, "min_cycles = 0\n").unwrap();
    let mut blind = lines();
    for line in blind.iter_mut().filter(|l| is(l, "header")) {
        for probe in line["probes"].as_array_mut().unwrap() {
            probe.as_object_mut().unwrap().remove("attached");
        }
    }
    let path = write(dir.path(), "blind", &blind);
    let out = util::barwatch(&[
        "check",
        "--expect",
        expect.to_str().unwrap(),
        "--capture",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_remove_whose_unmap_the_record_does_not_show_is_not_a_pass() {
    // The iounmap lines are gone and the trailer agrees: the record is whole,
    // but the BAR was mapped again without an unmap the record shows.
    let dir = tempfile::tempdir().unwrap();
    let mut unmapless = lines();
    let unmaps = unmapless
        .iter()
        .filter(|l| of_probe(l, "kprobe:iounmap"))
        .count() as u64;
    unmapless.retain(|l| !of_probe(l, "kprobe:iounmap"));
    let events = trailer(&mut unmapless)["events"].as_u64().unwrap();
    trailer(&mut unmapless)["events"] = (events - unmaps).into();
    trailer(&mut unmapless)["probes"]["kprobe:iounmap"]["events"] = 0.into();
    let answer = check(&write(dir.path(), "unmapless", &unmapless));
    assert_ne!(answer.status, 0, "{}", answer.text);
    assert!(
        !answer.unearned().contains(&"damaged".to_owned()),
        "the record is whole: {:?}",
        answer.unearned()
    );
}
