//! `barwatch-tui FILE` in a real pseudo-terminal (a tmux pane): keys go in, the
//! screen is read back, and on quit the terminal is given back as it was.

use std::{
    process::{Command, Output},
    thread,
    time::{Duration, Instant},
};

/// A tmux server of this test's own, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts a detached 80x24 session running `command`, on a server named
    /// after the test.
    fn start(test: &str, command: &str) -> Self {
        let tmux = Tmux {
            socket: format!("barwatch-tui-{test}-{}", std::process::id()),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "80",
            "-y",
            "24",
            command,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .env("TERM", "xterm-256color")
            .output()
            .expect("tmux runs")
    }

    /// The pane's text now.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            let out = self.run(&["send-keys", "-t", "t", key]);
            assert!(out.status.success(), "tmux send-keys {key}: {out:?}");
        }
    }

    /// Waits until the screen shows `text`, failing with the screen after 20 s.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} never showed:\n{screen}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the screen no longer shows `text`, failing after 20 s.
    fn wait_gone(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.screen().contains(text) {
            assert!(Instant::now() < deadline, "{text:?} never went away");
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the pane is on the alternate screen.
    fn alternate_screen(&self) -> bool {
        let out = self.run(&["display-message", "-p", "-t", "t", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Says why a test skips (counted as skipped), and returns `false` for it to;
/// under a non-empty `CI` a missing precondition fails the test instead.
fn skip(reason: &str) -> bool {
    barwatch::test_skip::skip(reason);
    false
}

/// Whether tmux can run here (`cargo xtask setup` installs it).
fn have_tmux() -> bool {
    Command::new("tmux").arg("-V").output().is_ok()
        || skip("tmux is not installed (cargo xtask setup installs it)")
}

#[test]
fn barwatch_tui_browses_a_real_capture_in_a_terminal_and_gives_it_back() {
    if !have_tmux() {
        return;
    }
    let capture = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/demo-capture.jsonl");
    // The terminal's settings before and after, to compare once it has quit.
    let dir = std::env::temp_dir().join(format!("barwatch-tui-pty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (before, after) = (dir.join("before"), dir.join("after"));
    let command = format!(
        "stty -g > {}; {} {capture}; status=$?; stty -g > {}; echo barwatch-tui exited $status; sleep 30",
        before.display(),
        env!("CARGO_BIN_EXE_barwatch-tui"),
        after.display()
    );
    let tmux = Tmux::start("replay", &command);
    let screen = tmux.wait_for("Violations (3)");
    assert!(screen.contains("┌ Events"), "{screen}");
    assert!(
        tmux.alternate_screen(),
        "the UI draws on the alternate screen"
    );

    tmux.keys(&["Tab"]);
    let screen = tmux.wait_for("┌ Devices");
    assert!(screen.contains("00:05.0 barwatch_fixture"), "{screen}");

    tmux.keys(&["Tab", "Tab"]);
    tmux.wait_for("┌ Violations");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("Evidence:");
    assert!(
        screen.contains("fixture_work+0x17 [barwatch_fixture]"),
        "{screen}"
    );

    // Escape and q sent together would read as Alt-q: close the evidence first.
    tmux.keys(&["Escape"]);
    tmux.wait_gone("Evidence:");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("barwatch-tui exited 0");
    assert!(
        !tmux.alternate_screen(),
        "the terminal left the alternate screen:\n{screen}"
    );
    assert!(
        !screen.contains("┌ Violations"),
        "the UI is gone from the screen:\n{screen}"
    );
    let settings = |path| std::fs::read_to_string(path).unwrap();
    assert_eq!(settings(&before), settings(&after), "raw mode is undone");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether this process may load BPF (root), as recording live needs.
fn can_record() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root || skip("not root: recording live needs CAP_BPF and CAP_PERFMON")
}

/// The barwatch binary the workspace's tests build next to this one, which
/// live mode runs underneath; `None` (skipped) when it is not built.
fn barwatch_binary() -> Option<std::path::PathBuf> {
    let barwatch =
        std::path::Path::new(env!("CARGO_BIN_EXE_barwatch-tui")).with_file_name("barwatch");
    (barwatch.exists()
        || skip(&format!(
            "{} is not built (run the workspace's tests)",
            barwatch.display()
        )))
    .then_some(barwatch)
}

#[test]
fn barwatch_tui_records_live_keeps_the_capture_and_stops_the_recorder_on_quit() {
    if !have_tmux() || !can_record() {
        return;
    }
    // The workspace's tests build the barwatch binary next to this one.
    let Some(barwatch) = barwatch_binary() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("barwatch-tui-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let capture = dir.join("live.jsonl");
    let command = format!(
        "BARWATCH_BIN={} {} -o {}; echo barwatch-tui exited $?; sleep 30",
        barwatch.display(),
        env!("CARGO_BIN_EXE_barwatch-tui"),
        capture.display()
    );
    let tmux = Tmux::start("live", &command);
    tmux.wait_for("LIVE");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("barwatch-tui exited 0");
    assert!(!tmux.alternate_screen(), "{screen}");
    let text = std::fs::read_to_string(&capture).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("\"type\":\"header\""), "{}", lines[0]);
    assert!(
        lines.last().unwrap().contains("\"type\":\"trailer\""),
        "quitting stops the recorder cleanly, so the capture has its trailer"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_ends_barwatch_tui_with_the_terminal_given_back() {
    if !have_tmux() {
        return;
    }
    let capture = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/demo-capture.jsonl");
    let dir = std::env::temp_dir().join(format!("barwatch-tui-sig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (before, after, pid) = (dir.join("before"), dir.join("after"), dir.join("pid"));
    // The shell runs the UI in the background to learn its pid, then waits for it
    // in the foreground's place.
    let command = format!(
        "stty -g > {}; {} {capture} & echo $! > {}; wait $!; stty -g > {}; echo barwatch-tui ended; sleep 30",
        before.display(),
        env!("CARGO_BIN_EXE_barwatch-tui"),
        pid.display(),
        after.display()
    );
    let tmux = Tmux::start("signal", &command);
    tmux.wait_for("Violations (3)");
    let pid = std::fs::read_to_string(&pid).unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success());
    let screen = tmux.wait_for("barwatch-tui ended");
    assert!(!tmux.alternate_screen(), "{screen}");
    let settings = |path| std::fs::read_to_string(path).unwrap();
    assert_eq!(settings(&before), settings(&after), "raw mode is undone");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// Waits up to `within` for process `pid` to end.
fn ends_within(pid: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if ended(pid) {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    ended(pid)
}

#[test]
fn barwatch_tui_ends_within_a_second_when_its_terminal_goes_away() {
    if !have_tmux() {
        return;
    }
    let capture = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/demo-capture.jsonl");
    let dir = std::env::temp_dir().join(format!("barwatch-tui-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid = dir.join("pid");
    let command = format!(
        "echo $$ > {}; exec {} {capture}",
        pid.display(),
        env!("CARGO_BIN_EXE_barwatch-tui")
    );
    let tmux = Tmux::start("hangup", &command);
    tmux.wait_for("Violations (3)");
    let pid = std::fs::read_to_string(&pid).unwrap().trim().to_owned();
    // The whole terminal goes, as when an SSH connection drops.
    let _ = tmux.run(&["kill-server"]);
    assert!(
        ends_within(&pid, Duration::from_secs(1)),
        "barwatch-tui {pid} still runs a second after its terminal went away"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_live_barwatch_tui_whose_terminal_goes_away_leaves_a_whole_capture() {
    if !have_tmux() || !can_record() {
        return;
    }
    let Some(barwatch) = barwatch_binary() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("barwatch-tui-live-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (capture, pid) = (dir.join("live.jsonl"), dir.join("pid"));
    let command = format!(
        "echo $$ > {}; BARWATCH_BIN={} exec {} -o {}",
        pid.display(),
        barwatch.display(),
        env!("CARGO_BIN_EXE_barwatch-tui"),
        capture.display()
    );
    let tmux = Tmux::start("live-hangup", &command);
    tmux.wait_for("LIVE");
    let pid = std::fs::read_to_string(&pid).unwrap().trim().to_owned();
    let _ = tmux.run(&["kill-server"]);
    // It stops the recorder and waits for its trailer, within its grace time.
    assert!(
        ends_within(&pid, Duration::from_secs(6)),
        "barwatch-tui {pid} still runs after its terminal went away"
    );
    let text = std::fs::read_to_string(&capture).unwrap();
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.contains("\"type\":\"trailer\"")),
        "the capture ends with its trailer"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
