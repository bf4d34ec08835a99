//! The verdict of a bench run, twice: what `barwatch check` decided live in the
//! guest around the scenario, and what `barwatch check --capture` decides from
//! the capture alone on the host, as an unprivileged user. They must agree, both
//! judged by the scenario's expectations file, and show what it asks for: every
//! required rule checked, and the cycles it names.

use std::{fs, os::unix::fs::PermissionsExt, path::Path, process::Command};

use barwatch::expect::Expectations;
use serde_json::Value;
use xtask::vm::RunReport;

/// One verdict: the exit status and the JSON `check --json` printed.
pub struct Verdict {
    /// `barwatch check`'s exit status.
    pub status: i32,
    /// Its `--json` output.
    pub json: Value,
}

impl Verdict {
    /// Each rule's id and verdict, in report order.
    pub fn rules(&self) -> Vec<(String, String)> {
        self.json["rules"]
            .as_array()
            .expect("rules in the verdict")
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_owned(),
                    r["verdict"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The ids of the rules that failed.
    pub fn failed(&self) -> Vec<String> {
        self.rules()
            .into_iter()
            .filter(|(_, v)| v == "fail")
            .map(|(id, _)| id)
            .collect()
    }

    /// The violations of rule `id`.
    pub fn violations(&self, id: &str) -> Vec<&Value> {
        self.json["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["id"] == id)
            .flat_map(|r| r["violations"].as_array().into_iter().flatten())
            .collect()
    }

    /// Everything a violation says of itself, for searching: its line and stack.
    pub fn told(violation: &Value) -> String {
        let stack: Vec<&str> = violation["stack"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        format!("{}\n{}", violation["what"], stack.join("\n"))
    }
}

/// The live verdict from the guest.
pub fn live(report: &RunReport) -> Verdict {
    let status = fs::read_to_string(report.file("check-status"))
        .expect("the scenario stopped barwatch check")
        .trim()
        .parse()
        .expect("an exit status");
    let text = fs::read_to_string(report.file("verdict.json")).expect("check wrote its verdict");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("check's verdict is not JSON ({e}):\n{text}"));
    Verdict { status, json }
}

/// The verdict of judging the run's capture again on the host, as `nobody`, by
/// the scenario's expectations file.
pub fn replayed(report: &RunReport) -> Verdict {
    let dir = tempfile_dir();
    let capture = dir.join("capture.jsonl");
    let expect = dir.join("expect.toml");
    fs::copy(report.file("capture.jsonl"), &capture).expect("the run left a capture");
    fs::copy(&report.scenario.expectations, &expect).expect("the scenario's expectations file");
    for file in [&capture, &expect] {
        fs::set_permissions(file, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let output = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(xtask::tasks::root().join("target/release/barwatch"))
        .args(["check", "--json", "--expect"])
        .arg(&expect)
        .arg("--capture")
        .arg(&capture)
        .output()
        .expect("setpriv (util-linux) runs barwatch");
    let _ = fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "replayed verdict is not JSON ({e}):\n{text}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    Verdict {
        status: output.status.code().expect("barwatch exited"),
        json,
    }
}

/// A fresh folder `nobody` can read.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("barwatch-replay-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Checks that `check` exited with `status` live and on replay, that both judged
/// every rule alike, that exactly the rules `failing` failed, and that the run
/// shows what the scenario's expectations ask (see [`assert_shows_expected`]);
/// prints the human report either way. Returns the live verdict.
pub fn assert_verdict(report: &RunReport, status: i32, failing: &[&str]) -> Verdict {
    let live = live(report);
    let replay = replayed(report);
    print_report(&report.file("capture.jsonl"), &report.scenario.expectations);
    assert_eq!(
        live.json["unmet"], replay.json["unmet"],
        "live and replayed expectations differ"
    );
    assert_eq!(
        live.rules(),
        replay.rules(),
        "live and replayed verdicts differ"
    );
    assert_eq!(
        serde_json::to_string(&live.json["rules"]).unwrap(),
        serde_json::to_string(&replay.json["rules"]).unwrap(),
        "live and replayed evidence differ"
    );
    assert_eq!(live.failed(), failing, "failed rules");
    assert_eq!(
        live.status, status,
        "barwatch check's exit status in the guest"
    );
    assert_eq!(
        replay.status, status,
        "check --capture's exit status on the host"
    );
    assert_shows_expected(&live, &report.scenario.expectations);
    live
}

/// Checks, from the verdict's JSON, that the run shows what the expectations file
/// at `path` asks, whatever the exit status says: it names rules, each of them was
/// checked ("pass" or "fail", never "not-checked" or "incomplete"), each device it
/// names (every device, when it names none) completed at least `min_cycles` cycles
/// of its trigger, and check itself found nothing unmet.
pub fn assert_shows_expected(verdict: &Verdict, path: &Path) {
    let expected = Expectations::load(path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !expected.required.is_empty(),
        "{} names no required rule: a run that checked nothing would pass",
        path.display()
    );
    let rules = verdict.rules();
    for id in &expected.required {
        let judged = rules.iter().find(|(rule, _)| rule == id).map(|(_, v)| v);
        assert!(
            judged.is_some_and(|v| v == "pass" || v == "fail"),
            "required rule {id} was not checked: {judged:?}\n{:#}",
            verdict.json["rules"]
        );
    }
    let devices = verdict.json["devices"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let bdfs: Vec<String> = if expected.devices.is_empty() {
        devices
            .iter()
            .filter_map(|d| d["bdf"].as_str().map(str::to_owned))
            .collect()
    } else {
        expected.devices.clone()
    };
    let min_cycles = expected.min_cycles.unwrap_or(0);
    assert!(
        min_cycles == 0 || !bdfs.is_empty(),
        "no device to show {min_cycles} cycle(s)"
    );
    let trigger = expected.trigger.map(|t| t.to_string());
    for bdf in bdfs {
        let cycles: Vec<&Value> = devices
            .iter()
            .filter(|d| d["bdf"] == bdf.as_str())
            .flat_map(|d| d["cycles"].as_array().into_iter().flatten())
            .collect();
        let complete = cycles
            .iter()
            .filter(|c| c["end"] != "open" && c["started_before_capture"] != true)
            .filter(|c| trigger.as_ref().is_none_or(|t| c["trigger"] == t.as_str()))
            .count();
        assert!(
            complete >= min_cycles,
            "{bdf} completed {complete} {} cycle(s), the scenario expects at least {min_cycles}: {:?}",
            trigger.as_deref().unwrap_or("any"),
            cycles
                .iter()
                .map(|c| (&c["trigger"], &c["end"]))
                .collect::<Vec<_>>()
        );
    }
    assert_eq!(
        verdict.json["unmet"],
        Value::Array(Vec::new()),
        "barwatch check found expectations unmet"
    );
}

/// Prints `barwatch check --capture`'s human report, judged by the expectations
/// file `expect`, for the test log.
fn print_report(capture: &Path, expect: &Path) {
    println!("{}", text_of(capture, expect));
}

/// The text report of `check --capture` on the run's capture, by the scenario's
/// expectations: what a person reads.
pub fn text(report: &RunReport) -> String {
    text_of(&report.file("capture.jsonl"), &report.scenario.expectations)
}

fn text_of(capture: &Path, expect: &Path) -> String {
    let output = Command::new(xtask::tasks::root().join("target/release/barwatch"))
        .args(["check", "--expect"])
        .arg(expect)
        .arg("--capture")
        .arg(capture)
        .output()
        .expect("barwatch runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
