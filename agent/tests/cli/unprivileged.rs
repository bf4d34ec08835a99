//! What works without privileges: reading captures. What does not (recording)
//! must say plainly what is missing.

use std::{os::unix::fs::PermissionsExt, process::Command};

use crate::util::{self, fixture_capture};

/// Runs the barwatch binary as the unprivileged `nobody` user, if this process may
/// switch users (it is root); `None` otherwise.
fn as_nobody(args: &[&str]) -> Option<std::process::Output> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    Some(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(env!("CARGO_BIN_EXE_barwatch"))
            .args(args)
            .output()
            .expect("setpriv (util-linux) runs"),
    )
}

#[test]
fn report_runs_unprivileged_and_record_explains_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("capture.jsonl");
    std::fs::write(&path, fixture_capture()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let Some(report) = as_nobody(&["report", path.to_str().unwrap()]) else {
        // Not root: this process is itself unprivileged, so run directly.
        let report = util::barwatch(&["report", path.to_str().unwrap()]);
        assert!(report.status.success(), "{report:?}");
        let record = util::barwatch(&["record", "--duration", "1s"]);
        assert!(!record.status.success());
        assert!(String::from_utf8_lossy(&record.stderr).contains("CAP_BPF"));
        return;
    };
    assert!(report.status.success(), "{report:?}");
    assert!(String::from_utf8_lossy(&report.stdout).contains("SNDRV_PCM_IOCTL_INFO"));

    let record = as_nobody(&["record", "--duration", "1s"]).unwrap();
    assert_eq!(record.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&record.stderr);
    assert!(
        stderr.contains("missing CAP_BPF and CAP_PERFMON") && stderr.contains("Run as root"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_capture_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    let mut lines: Vec<String> = fixture_capture().lines().map(str::to_owned).collect();
    lines[2] = "{not json".to_owned();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let out = util::barwatch(&["report", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("not JSON"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
