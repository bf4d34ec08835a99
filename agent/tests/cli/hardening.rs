//! barwatch runs as root next to kernels under test: its outputs do not follow
//! a planted link or change a file that is not theirs, text from the traced
//! system cannot drive the reader's terminal, and `check`'s exit status is its
//! verdict whatever becomes of standard output.

use std::{
    fs::Permissions,
    os::unix::fs::{MetadataExt, PermissionsExt, symlink},
    path::Path,
    process::{Command, Output, Stdio},
};

use crate::util;

/// A real bench capture in which every rule holds.
const CLEAN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/playback-remove-rescan.jsonl"
);
/// A real bench capture with violations (the fixture reads after its unmap).
const FAILING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tui/testdata/demo-capture.jsonl"
);

#[test]
fn an_output_planted_as_a_link_in_a_shared_folder_is_refused_and_its_target_untouched() {
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), Permissions::from_mode(0o1777)).unwrap();
    let precious = shared.path().join("precious");
    std::fs::write(&precious, "keep me\n").unwrap();
    std::fs::set_permissions(&precious, Permissions::from_mode(0o644)).unwrap();
    let planted = shared.path().join("report.xml");
    symlink(&precious, &planted).unwrap();

    let out = util::barwatch(&[
        "check",
        "--capture",
        CLEAN,
        "--junit",
        planted.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("is a symbolic link in a folder other users can write to"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me\n");
    assert_eq!(std::fs::metadata(&precious).unwrap().mode() & 0o7777, 0o644);

    if util::require_privileges() {
        let out = util::barwatch(&[
            "record",
            "-o",
            planted.to_str().unwrap(),
            "--duration",
            "1s",
        ]);
        assert_ne!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me\n");
        assert_eq!(std::fs::metadata(&precious).unwrap().mode() & 0o7777, 0o644);
    }
}

#[test]
fn dev_null_as_an_output_keeps_its_mode() {
    let before = std::fs::metadata("/dev/null").unwrap();
    let out = util::barwatch(&["check", "--capture", CLEAN, "--junit", "/dev/null"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let after = std::fs::metadata("/dev/null").unwrap();
    assert_eq!(before.mode(), after.mode());
    assert_eq!(before.uid(), after.uid());
}

/// The failing capture with every process renamed to a terminal escape that
/// retitles the window.
fn capture_with_hostile_names(dir: &Path) -> std::path::PathBuf {
    let hostile = "\u{1b}]2;PWNED\u{7}";
    let text: String = std::fs::read_to_string(FAILING)
        .unwrap()
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            if value["type"] == "event" {
                value["comm"] = hostile.into();
            }
            format!("{value}\n")
        })
        .collect();
    let path = dir.join("hostile.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn process_names_that_are_terminal_escapes_are_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = capture_with_hostile_names(dir.path());
    let hostile = hostile.to_str().unwrap();
    for args in [
        &["check", "--capture", hostile][..],
        &["report", hostile][..],
    ] {
        let out = util::barwatch(args);
        assert!(
            !out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07),
            "{args:?} printed a control character"
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("\\x1b]2;PWNED\\x07"), "{args:?}: {text}");
    }
    // JSON stays exact: its encoder escapes the characters itself.
    let out = util::barwatch(&["check", "--json", "--capture", hostile]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let violation = &json["rules"][0]["violations"][0];
    assert_eq!(violation["comm"], "\u{1b}]2;PWNED\u{7}");
}

/// Runs `barwatch ARGS` with standard output a pipe nobody reads.
fn into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_barwatch"))
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_reader_that_went_away_does_not_change_the_verdict() {
    for json in [false, true] {
        let mut args = vec!["check", "--capture", FAILING];
        if json {
            args.push("--json");
        }
        let out = into_closed_pipe(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
    }
    // report and record treat a closed pipe as a quiet end.
    for args in [&["report", FAILING][..], &["report", "--json", FAILING][..]] {
        let out = into_closed_pipe(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        assert!(out.stderr.is_empty(), "{args:?}: {out:?}");
    }
}
