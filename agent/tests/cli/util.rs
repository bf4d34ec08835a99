//! Helpers for driving the real `barwatch` binary from tests.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    os::fd::AsRawFd,
    path::Path,
    process::{Child, Command, Output, Stdio},
    sync::{Mutex, MutexGuard},
    thread,
    time::{Duration, Instant},
};

/// Whether live tests can run. Without privileges they skip with a reason
/// (counted as skipped), except under a non-empty `CI`, where that is a failure.
pub fn require_privileges() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    barwatch::test_skip::skip("not root: loading BPF needs CAP_BPF and CAP_PERFMON");
    false
}

/// Runs `barwatch ARGS` to completion.
pub fn barwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_barwatch"))
        .args(args)
        .output()
        .expect("the barwatch binary runs")
}

/// Serialises recordings: each recorder sees every ALSA ioctl on the machine, so
/// two tests recording at once would count each other's calls.
static RECORDING: Mutex<()> = Mutex::new(());

/// Holds the machine's ALSA ioctls for the caller alone, as a [`Recorder`] does.
pub fn recording_alone() -> MutexGuard<'static, ()> {
    RECORDING.lock().unwrap_or_else(|p| p.into_inner())
}

/// A `barwatch record -o PATH` running in the background.
pub struct Recorder {
    child: Child,
    _exclusive: MutexGuard<'static, ()>,
}

impl Recorder {
    /// Starts recording into `path` and waits until the probes are attached (the
    /// header line is on disk).
    pub fn start(path: &Path) -> Self {
        Self::start_with(path, &[])
    }

    /// Like [`Recorder::start`], with extra `record` flags.
    pub fn start_with(path: &Path, extra: &[&str]) -> Self {
        let exclusive = RECORDING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut child = Command::new(env!("CARGO_BIN_EXE_barwatch"))
            .args(["record", "-o", path.to_str().unwrap()])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("barwatch record starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(file) = File::open(path) {
                let mut first = String::new();
                if BufReader::new(file).read_line(&mut first).is_ok() && first.ends_with('\n') {
                    return Self {
                        child,
                        _exclusive: exclusive,
                    };
                }
            }
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).ok();
                panic!("barwatch record exited early ({status}): {stderr}");
            }
            assert!(
                Instant::now() < deadline,
                "barwatch record wrote no header in 60 s"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns what it said.
    pub fn terminate(self) -> String {
        let (status, stderr) = self.stop(libc::SIGTERM);
        assert!(
            status.success(),
            "barwatch record failed on SIGTERM: {stderr}"
        );
        stderr
    }

    /// Sends `signal` and waits for the recorder to end; returns its exit status
    /// and what it said.
    pub fn stop(mut self, signal: i32) -> (std::process::ExitStatus, String) {
        self.signal(signal);
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr).ok();
        (status, stderr)
    }

    /// Waits up to `within` for the recorder to end by itself; returns its exit
    /// status and what it said, or `None` (killing it) if it did not end.
    pub fn ends_within(mut self, within: Duration) -> Option<(std::process::ExitStatus, String)> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr)
                    .ok();
                return Some((status, stderr));
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        None
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(mut self) {
        self.signal(libc::SIGKILL);
        self.child.wait().unwrap();
    }

    fn signal(&self, signal: i32) {
        // SAFETY: the pid is our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }
}

/// `_IOR('U', 0x00, int)`.
pub const SNDRV_CTL_IOCTL_PVERSION: u64 = 0x8004_5500;
/// `_IOR('A', 0x01, struct snd_pcm_info)`.
pub const SNDRV_PCM_IOCTL_INFO: u64 = 0x8120_4101;

/// Issues `count` ALSA-typed ioctls (alternating SNDRV_CTL_IOCTL_PVERSION and
/// SNDRV_PCM_IOCTL_INFO) on /dev/null from a new thread; returns that thread's tid.
pub fn issue_alsa_ioctls(count: u32) -> u32 {
    issue_alsa_ioctls_on_null(count).tid
}

/// The thread and file of [`issue_alsa_ioctls_on_null`].
pub struct Issued {
    /// The thread that issued the ioctls.
    pub tid: u32,
    /// The descriptor of `/dev/null` they were issued on.
    pub fd: u32,
}

/// [`issue_alsa_ioctls`], telling also the descriptor the ioctls went to.
pub fn issue_alsa_ioctls_on_null(count: u32) -> Issued {
    thread::spawn(move || {
        let null = File::open("/dev/null").unwrap();
        let mut buffer = [0u8; 512];
        for i in 0..count {
            let cmd = if i % 2 == 0 {
                SNDRV_CTL_IOCTL_PVERSION
            } else {
                SNDRV_PCM_IOCTL_INFO
            };
            // SAFETY: the buffer outlives the call; /dev/null rejects the command.
            let rc = unsafe { libc::ioctl(null.as_raw_fd(), cmd, buffer.as_mut_ptr()) };
            assert_eq!(rc, -1, "/dev/null must reject ALSA ioctls");
        }
        Issued {
            // SAFETY: gettid has no preconditions.
            tid: unsafe { libc::gettid() as u32 },
            fd: null.as_raw_fd() as u32,
        }
    })
    .join()
    .unwrap()
}

/// A small valid capture: header, two ioctl events, trailer.
pub fn fixture_capture() -> String {
    [
        r#"{"type":"header","format":"barwatch-capture","version":"1.0","kernel":"6.1.0-test","hostname":"bench","clock":"CLOCK_MONOTONIC","started_unix_ns":1000,"started_monotonic_ns":100,"probes":[{"name":"syscalls:sys_enter_ioctl","role":"alsa-entry","attached":"tracepoint","attempts":[{"mechanism":"tracepoint"}]}]}"#,
        r#"{"type":"event","ts_ns":200,"cpu":0,"pid":7,"tid":7,"comm":"aplay","probe":"syscalls:sys_enter_ioctl","kind":"ioctl_enter","fd":3,"cmd":"0x81204101","cmd_name":"SNDRV_PCM_IOCTL_INFO","arg":"0x7ffd0000"}"#,
        r#"{"type":"event","ts_ns":300,"cpu":0,"pid":7,"tid":7,"comm":"aplay","probe":"syscalls:sys_exit_ioctl","kind":"ioctl_exit","fd":3,"cmd":"0x81204101","cmd_name":"SNDRV_PCM_IOCTL_INFO","ret":0}"#,
        r#"{"type":"trailer","ended_unix_ns":2000,"events":2,"lost":0,"decode_errors":0,"probes":{"syscalls:sys_enter_ioctl":{"events":1,"lost":0},"syscalls:sys_exit_ioctl":{"events":1,"lost":0}}}"#,
    ]
    .join("\n")
        + "\n"
}
