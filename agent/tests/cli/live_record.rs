//! Recording on the real kernel of this machine: the BPF object loads, the
//! tracepoints attach, and exactly the ALSA ioctls a thread issued arrive.
//!
//! These tests need root (or CAP_BPF + CAP_PERFMON). Without it they say why they
//! skipped, except under `CI=true`, where a missing precondition is a failure.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::util::{
    self, Recorder, issue_alsa_ioctls, issue_alsa_ioctls_on_null, require_privileges,
};
use barwatch::{
    capture::reader::{Capture, CaptureEnd, read_capture},
    event::{DevNum, EventData},
    probe_table::Mechanism,
};

/// How many ALSA ioctl entries of thread `tid` a capture holds.
fn ioctl_entries(capture: &Capture, tid: u32) -> usize {
    capture
        .events
        .iter()
        .filter(|e| e.tid == tid && matches!(e.data, EventData::IoctlEnter { .. }))
        .count()
}

#[test]
fn records_exactly_the_alsa_ioctls_a_thread_issued() {
    if !require_privileges() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture.jsonl");
    let recorder = Recorder::start(&path);

    let issued = issue_alsa_ioctls_on_null(1000);
    let tid = issued.tid;
    thread::sleep(Duration::from_millis(1500));
    recorder.terminate();

    let capture = read_capture(&path).expect("the capture reads back");
    let CaptureEnd::Trailer(trailer) = &capture.end else {
        panic!(
            "a terminated recorder writes its trailer: {:?}",
            capture.end
        )
    };
    assert_eq!(trailer.lost, 0, "no record may be lost: {trailer:?}");
    assert_eq!(trailer.decode_errors, 0);

    let ours: Vec<_> = capture.events.iter().filter(|e| e.tid == tid).collect();
    // /dev/null is character device 1:3, opened first by the issuing thread.
    let null = Some(DevNum { major: 1, minor: 3 });
    let names_of = |want_exit: bool| -> Vec<String> {
        ours.iter()
            .filter_map(|e| match &e.data {
                EventData::IoctlEnter {
                    cmd_name, dev, fd, ..
                } if !want_exit => {
                    assert_eq!((*dev, *fd), (null, issued.fd), "the entry names the file");
                    Some(cmd_name.to_string())
                }
                EventData::IoctlExit {
                    cmd_name,
                    ret,
                    dev,
                    fd,
                    ..
                } if want_exit => {
                    assert_eq!(*ret, -i64::from(libc::ENOTTY), "/dev/null answers ENOTTY");
                    assert_eq!((*dev, *fd), (null, issued.fd), "the exit names the file");
                    Some(cmd_name.to_string())
                }
                _ => None,
            })
            .collect()
    };
    for exits in [false, true] {
        let names = names_of(exits);
        assert_eq!(
            names.len(),
            1000,
            "ioctl {} records",
            if exits { "exit" } else { "entry" }
        );
        let pversion = names
            .iter()
            .filter(|n| *n == "SNDRV_CTL_IOCTL_PVERSION")
            .count();
        let info = names
            .iter()
            .filter(|n| *n == "SNDRV_PCM_IOCTL_INFO")
            .count();
        assert_eq!((pversion, info), (500, 500));
    }
    assert!(
        ours.iter().all(|e| e.pid == std::process::id()),
        "records carry the issuing process's pid"
    );
    assert!(
        capture.events.iter().any(|e| matches!(
            e.data,
            EventData::IrqHandlerEntry { .. } | EventData::WorkStart { .. }
        )),
        "an IRQ or work item runs within 1.5 s on any machine"
    );
    assert_eq!(
        capture.events.len() as u64,
        trailer.events,
        "the trailer counts every event line"
    );
}

#[test]
fn a_capture_cut_by_sigkill_stays_readable() {
    if !require_privileges() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.jsonl");
    let recorder = Recorder::start(&path);
    let tid = issue_alsa_ioctls(100);
    // The recorder flushes at least every second; give it two.
    thread::sleep(Duration::from_millis(2200));
    recorder.kill();

    let capture = read_capture(&path).expect("a cut capture reads up to its last complete line");
    assert!(
        matches!(capture.end, CaptureEnd::Cut { .. }),
        "no trailer after SIGKILL: {:?}",
        capture.end
    );
    let entries = ioctl_entries(&capture, tid);
    assert_eq!(entries, 100, "every ioctl flushed before the kill is there");

    let report = util::barwatch(&["report", path.to_str().unwrap()]);
    assert!(report.status.success(), "{report:?}");
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.contains("no trailer"),
        "the report says the capture was cut:\n{text}"
    );
}

#[test]
fn probes_lists_every_point_with_how_or_why_not() {
    if !require_privileges() {
        return;
    }
    let out = util::barwatch(&["probes", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table: Vec<barwatch::probe_table::ProbeStatus> =
        serde_json::from_slice(&out.stdout).expect("probes --json is a JSON table");
    let irq = table
        .iter()
        .find(|p| p.name == "irq:irq_handler_entry")
        .expect("the IRQ tracepoint is in the table");
    assert_eq!(
        irq.attached,
        Some(barwatch::probe_table::Mechanism::RawTracepoint),
        "raw tracepoints are preferred"
    );
    for p in &table {
        if !p.is_attached() {
            assert!(p.reason().is_some(), "{} is blind without a reason", p.name);
        }
    }
    // ALSA ioctls are taken at the ioctl syscall's own function first, not
    // from the syscall tracepoints that slow every syscall down; a kernel that
    // refuses BTF trampolines (this machine's does) gets the tracepoints and
    // the table says why.
    if cfg!(target_arch = "x86_64") {
        for (name, mechanism) in [
            ("syscalls:sys_enter_ioctl", Mechanism::Fentry),
            ("syscalls:sys_exit_ioctl", Mechanism::Fexit),
        ] {
            let point = table.iter().find(|p| p.name == name).unwrap();
            assert_eq!(point.attempts[0].mechanism, mechanism, "{point:?}");
            match point.attached {
                Some(m) if m == mechanism => assert!(
                    point
                        .note
                        .as_deref()
                        .is_some_and(|n| n.starts_with("on __x64_sys_ioctl")),
                    "{point:?}"
                ),
                Some(Mechanism::Tracepoint) => assert!(
                    point.attempts[0].failure.is_some() && point.note.is_none(),
                    "{point:?}"
                ),
                other => panic!("{name} attached by {other:?}: {point:?}"),
            }
        }
    }
    let kprobes_built_in = std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists();
    if !kprobes_built_in {
        let ioremap = table.iter().find(|p| p.name == "kprobe:ioremap").unwrap();
        assert!(
            ioremap.attempts[0]
                .failure
                .as_deref()
                .is_some_and(|f| f.starts_with("kprobes compiled out")),
            "{ioremap:?}"
        );
    }
}

#[test]
fn a_full_ring_buffer_loses_records_and_counts_every_one() {
    if !require_privileges() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lossy.jsonl");
    // One page holds about 56 ioctl records; a tight loop of 20000 overruns it.
    let recorder = Recorder::start_with(&path, &["--ring-size", "4096"]);
    let issued = 20_000;
    let tid = issue_alsa_ioctls(issued);
    thread::sleep(Duration::from_millis(1500));
    recorder.terminate();

    let capture = read_capture(&path).unwrap();
    let CaptureEnd::Trailer(trailer) = &capture.end else {
        panic!("no trailer: {:?}", capture.end)
    };
    let lost_entries = trailer.probes["syscalls:sys_enter_ioctl"].lost;
    assert!(
        lost_entries > 0,
        "a one-page ring must overflow: {trailer:?}"
    );
    let recorded_entries = capture
        .events
        .iter()
        .filter(|e| e.tid == tid && matches!(e.data, EventData::IoctlEnter { .. }))
        .count() as u64;
    assert_eq!(
        recorded_entries + lost_entries,
        u64::from(issued),
        "every ioctl is either recorded or counted lost"
    );
    let report = util::barwatch(&["report", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.contains(&format!("lost {}", trailer.lost)),
        "the report's headline shows the losses:\n{text}"
    );
}

#[test]
fn a_full_disk_ends_the_recording_with_a_clear_error_and_a_readable_capture() {
    if !require_privileges() {
        return;
    }
    // A 64 KiB tmpfs of the test's own fills after a few hundred events.
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a small tmpfs");
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(dir.path());
    let path = dir.path().join("full.jsonl");
    let recorder = Recorder::start(&path);
    issue_alsa_ioctls(5000);
    let (status, said) = recorder
        .ends_within(Duration::from_secs(30))
        .expect("the recorder stops when the disk is full");
    assert_eq!(status.code(), Some(1), "{said}");
    assert!(
        said.contains("check that the disk has space"),
        "it says what went wrong and what to do: {said}"
    );
    let capture = read_capture(&path).expect("what fitted on the disk reads back");
    assert!(
        matches!(capture.end, CaptureEnd::Cut { .. }),
        "{:?}",
        capture.end
    );
    assert!(
        !capture.events.is_empty(),
        "the events that fitted are kept"
    );
    let check = util::barwatch(&["check", "--capture", path.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(2), "a cut capture is incomplete");
}

#[test]
fn a_capture_deleted_while_recording_is_written_back_whole() {
    if !require_privileges() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deleted.jsonl");
    let recorder = Recorder::start(&path);
    std::fs::remove_file(&path).unwrap();
    let tid = issue_alsa_ioctls(50);
    thread::sleep(Duration::from_millis(500));
    let said = recorder.terminate();
    assert!(said.contains("wrote it back there whole"), "{said}");
    let capture = read_capture(&path).expect("the capture is back at its path");
    assert!(
        matches!(capture.end, CaptureEnd::Trailer(_)),
        "{:?}",
        capture.end
    );
    let entries = ioctl_entries(&capture, tid);
    assert_eq!(entries, 50, "nothing recorded after the deletion is lost");
}

#[test]
fn two_recorders_at_once_each_see_every_ioctl() {
    if !require_privileges() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        dir.path().join("first.jsonl"),
        dir.path().join("second.jsonl"),
    );
    let a = Recorder::start(&first);
    // The second one starts while the first records: its own programs, maps and
    // ring buffer.
    let b = std::process::Command::new(env!("CARGO_BIN_EXE_barwatch"))
        .args(["record", "--duration", "4s", "-o", second.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&second).map_or(true, |t| !t.contains('\n')) {
        assert!(
            std::time::Instant::now() < deadline,
            "the second recorder never started"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let tid = issue_alsa_ioctls(40);
    thread::sleep(Duration::from_millis(500));
    a.terminate();
    let out = b.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for path in [&first, &second] {
        let capture = read_capture(path).unwrap();
        assert!(matches!(capture.end, CaptureEnd::Trailer(_)), "{path:?}");
        let entries = ioctl_entries(&capture, tid);
        assert_eq!(entries, 40, "{path:?} has every ioctl");
    }
}

#[test]
fn sigterm_and_sigint_each_end_a_recording_with_its_trailer() {
    if !require_privileges() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (signal, name, why) in [
        (libc::SIGTERM, "SIGTERM", "terminated"),
        (libc::SIGINT, "SIGINT", "interrupted"),
    ] {
        let path = dir.path().join(format!("{name}.jsonl"));
        let recorder = Recorder::start(&path);
        let tid = issue_alsa_ioctls(200);
        thread::sleep(Duration::from_millis(300));
        let (status, said) = recorder.stop(signal);
        assert_eq!(status.code(), Some(0), "{name} is a clean stop: {said}");
        assert!(
            said.contains(&format!("; {why}")),
            "it says why it stopped on {name}: {said}"
        );

        let capture = read_capture(&path).expect("the capture reads back");
        let CaptureEnd::Trailer(trailer) = &capture.end else {
            panic!(
                "{name} ends the capture with its trailer: {:?}",
                capture.end
            )
        };
        assert_eq!(ioctl_entries(&capture, tid), 200, "{name}: every ioctl");
        assert_eq!(capture.events.len() as u64, trailer.events, "{name}");

        let file = path.to_str().unwrap();
        let report = util::barwatch(&["report", file]);
        let text = String::from_utf8_lossy(&report.stdout);
        assert_eq!(report.status.code(), Some(0), "{name}: {report:?}");
        assert!(
            !text.contains("no trailer") && text.contains("lost 0"),
            "{name}: the report reads a whole capture:\n{text}"
        );
        // This machine has no watched device: a whole record on which nothing
        // quiesced is incomplete, not a pass.
        let check = util::barwatch(&["check", "--capture", file]);
        let verdict = String::from_utf8_lossy(&check.stdout);
        assert_eq!(check.status.code(), Some(2), "{name}:\n{verdict}");
        assert!(
            verdict.starts_with("INCOMPLETE") && !verdict.contains("was cut"),
            "{name}: incomplete for what was not seen, not for the record:\n{verdict}"
        );
    }
}

#[test]
fn a_recording_whose_pipe_reader_went_away_ends_quietly_and_promptly() {
    if !require_privileges() {
        return;
    }
    // Recording only an idle process, barwatch has nothing to write, so no
    // failed write tells it that `head -1` has gone.
    let mut idle = Command::new("sleep").arg("120").spawn().unwrap();
    let mut recorder = Command::new(env!("CARGO_BIN_EXE_barwatch"))
        .args(["record", "--pid", &idle.id().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(recorder.stdout.take().unwrap());
    let mut header = String::new();
    stdout.read_line(&mut header).unwrap();
    assert!(header.contains(r#""type":"header""#), "{header}");
    drop(stdout);

    let gone = Instant::now();
    let status = loop {
        if let Some(status) = recorder.try_wait().unwrap() {
            break Some(status);
        }
        if gone.elapsed() > Duration::from_secs(10) {
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let waited = gone.elapsed();
    if status.is_none() {
        recorder.kill().unwrap();
    }
    let out = recorder.wait_with_output().unwrap();
    idle.kill().unwrap();
    idle.wait().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    let status = status.unwrap_or_else(|| {
        panic!("barwatch record went on recording for nobody 10 s after its reader left: {said}")
    });
    assert_eq!(
        status.code(),
        Some(0),
        "a closed pipe is a quiet end: {said}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "it ended {waited:?} after the reader left"
    );
    for noise in ["Broken pipe", "panicked", "error"] {
        assert!(!said.contains(noise), "no {noise:?} on stderr: {said}");
    }
}

#[test]
fn a_capture_moved_while_recording_is_told_and_whole_at_its_new_place() {
    if !require_privileges() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moving.jsonl");
    let moved = dir.path().join("moved.jsonl");
    let recorder = Recorder::start(&path);
    std::fs::rename(&path, &moved).unwrap();
    let tid = issue_alsa_ioctls(50);
    thread::sleep(Duration::from_millis(500));
    let said = recorder.terminate();
    assert!(
        said.contains("was moved away from") && said.contains("went on in the moved file"),
        "the move is told: {said}"
    );
    assert!(!path.exists(), "nothing is written back at the old name");
    let capture = read_capture(&moved).expect("the moved capture reads back");
    assert!(
        matches!(capture.end, CaptureEnd::Trailer(_)),
        "{:?}",
        capture.end
    );
    assert_eq!(
        ioctl_entries(&capture, tid),
        50,
        "nothing after the move is lost"
    );
}

#[test]
fn probes_cost_counts_the_runs_of_each_program_as_the_kernel_does() {
    if !require_privileges() {
        return;
    }
    let _alone = util::recording_alone();
    let stats_before = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_barwatch"))
        .args(["probes", "--cost", "3s", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // barwatch says when the window opens; the ioctls fall in it.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("measuring what each program costs for 3s") {
        said.clear();
        assert_ne!(
            stderr.read_line(&mut said).unwrap(),
            0,
            "barwatch probes --cost ended before its window opened"
        );
    }
    issue_alsa_ioctls(20_000);
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(out.status.success(), "{rest}");
    let both: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        both["probes"].is_array(),
        "the probe table comes along: {both}"
    );
    let cost = both["cost"].as_array().expect("a cost per program");
    let enter = cost
        .iter()
        .find(|c| c["program"] == "sys_enter_ioctl" || c["program"] == "sys_ioctl_fentry")
        .unwrap_or_else(|| panic!("the ioctl entry program is measured: {cost:?}"));
    assert!(
        enter["runs"].as_u64().unwrap() >= 20_000,
        "every ioctl ran it: {enter}"
    );
    assert!(enter["ns_per_run"].as_f64().unwrap() > 0.0, "{enter}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").unwrap(),
        stats_before,
        "statistics are on for the window only"
    );
}
