//! A load generator for a running `barwatch record`: issues a known number of
//! ALSA-typed ioctls on `/dev/null` as fast as one thread can. Every call fails
//! with ENOTTY without touching any device, yet the probes on the ioctl
//! tracepoints record its entry and its exit, so `COUNT` calls make about
//! `2 * COUNT` records. `cargo xtask bench` uses it to drive the recorder and
//! the live TUI to a million records and more; a bench of the probes' cost in
//! the kernel can time the same loop with and without them attached.
//!
//! ```text
//! alsa_ioctls [--cpu N] [--mixed] [--call alsa|other-ioctl|getppid] [--rate R] [COUNT]
//! ```
//!
//! - `COUNT` (default 1000): the calls to issue.
//! - `--cpu N`: pin the calling thread to CPU `N` first, so the records come
//!   from one CPU and the loop does not migrate.
//! - `--mixed`: alternate SNDRV_CTL_IOCTL_PVERSION with SNDRV_PCM_IOCTL_INFO
//!   (two command names in the capture) instead of issuing PVERSION only.
//! - `--call`: what each call is: an ALSA ioctl (the default), a non-ALSA
//!   ioctl (`FIONREAD`, also refused by `/dev/null`), or `getppid`: the work a
//!   probe should not slow down, for the kernel benchmark.
//! - `--rate R`: issue at most `R` calls a second, evenly (checked against
//!   the monotonic clock every few calls, which reads it without a syscall,
//!   so the pacing adds no probed work): a known record rate held for as long
//!   as `COUNT / R` seconds, for the benchmark of sustained recording.
//!
//! It prints one JSON line of what it did: `{"pid":…,"tid":…,"cpu":…|null,
//! "call":…,"ioctls":…,"seconds":…,"ioctls_per_s":…,"ns_per_call":…}`
//! (`ioctls` counts the calls, whatever they are).

use std::{fs::File, os::fd::AsRawFd, time::Instant};

/// `_IOR('U', 0x00, int)`.
const SNDRV_CTL_IOCTL_PVERSION: u64 = 0x8004_5500;
/// `_IOR('A', 0x01, struct snd_pcm_info)`.
const SNDRV_PCM_IOCTL_INFO: u64 = 0x8120_4101;
/// `FIONREAD`: a terminal ioctl, no ALSA type.
const FIONREAD: u64 = 0x541b;

/// What each call of the loop is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Alsa,
    OtherIoctl,
    Getppid,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Alsa => "alsa",
            Call::OtherIoctl => "other-ioctl",
            Call::Getppid => "getppid",
        }
    }
}

/// The command line, validated.
struct Options {
    count: u64,
    cpu: Option<usize>,
    mixed: bool,
    call: Call,
    rate: Option<u64>,
}

const USAGE: &str =
    "usage: alsa_ioctls [--cpu N] [--mixed] [--call alsa|other-ioctl|getppid] [--rate R] [COUNT]";

/// Calls between two looks at the clock when pacing: few enough that a
/// burst stays under a hundred microseconds at any rate the bench asks for.
const PACE_EVERY: u64 = 64;

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        count: 1000,
        cpu: None,
        mixed: false,
        call: Call::Alsa,
        rate: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cpu" => {
                let cpu = args.next().ok_or("--cpu needs a CPU number")?;
                options.cpu = Some(
                    cpu.parse()
                        .map_err(|_| format!("not a CPU number: {cpu}"))?,
                );
            }
            "--mixed" => options.mixed = true,
            "--rate" => {
                let rate = args.next().ok_or("--rate needs calls per second")?;
                options.rate =
                    Some(rate.parse().ok().filter(|&r: &u64| r > 0).ok_or_else(|| {
                        format!("not a positive number of calls per second: {rate}")
                    })?);
            }
            "--call" => {
                let call = args
                    .next()
                    .ok_or("--call needs alsa, other-ioctl or getppid")?;
                options.call = [Call::Alsa, Call::OtherIoctl, Call::Getppid]
                    .into_iter()
                    .find(|c| c.name() == call)
                    .ok_or_else(|| format!("not a call: {call} (alsa, other-ioctl, getppid)"))?;
            }
            count => {
                options.count = count
                    .parse()
                    .map_err(|_| format!("not a number of ioctls: {count}"))?;
            }
        }
    }
    Ok(options)
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) -> std::io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET bounds-checks `cpu` against the set's size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a live, initialised cpu_set_t of the size passed; pid 0
    // is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn main() -> std::process::ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("alsa_ioctls: {why}\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    match issue(&options) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alsa_ioctls: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Waits until call `done` is due at `rate` calls a second from `started`:
/// sleeps while more than a millisecond early, then spins.
fn pace(started: Instant, done: u64, rate: u64) {
    let due = started + std::time::Duration::from_secs_f64(done as f64 / rate as f64);
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let early = due - now;
        if early > std::time::Duration::from_millis(1) {
            std::thread::sleep(early - std::time::Duration::from_micros(500));
        } else {
            std::hint::spin_loop();
        }
    }
}

fn issue(options: &Options) -> std::io::Result<()> {
    if let Some(cpu) = options.cpu {
        pin(cpu)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot pin to CPU {cpu}: {e}")))?;
    }
    let null = File::open("/dev/null")?;
    let fd = null.as_raw_fd();
    let mut buffer = [0u8; 512];
    let started = Instant::now();
    for i in 0..options.count {
        if let Some(rate) = options.rate
            && i % PACE_EVERY == 0
        {
            pace(started, i, rate);
        }
        let cmd = match options.call {
            Call::Getppid => {
                // SAFETY: getppid has no arguments and cannot fail.
                unsafe { libc::getppid() };
                continue;
            }
            Call::OtherIoctl => FIONREAD,
            Call::Alsa if options.mixed && i % 2 == 1 => SNDRV_PCM_IOCTL_INFO,
            Call::Alsa => SNDRV_CTL_IOCTL_PVERSION,
        };
        // SAFETY: the buffer outlives the call and is large enough for every
        // command; /dev/null rejects them all with ENOTTY without touching it.
        unsafe { libc::ioctl(fd, cmd, buffer.as_mut_ptr()) };
    }
    let seconds = started.elapsed().as_secs_f64();
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    let cpu = options
        .cpu
        .map_or_else(|| "null".to_owned(), |cpu| cpu.to_string());
    println!(
        r#"{{"pid":{},"tid":{tid},"cpu":{cpu},"call":"{}","ioctls":{},"seconds":{seconds:.6},"ioctls_per_s":{:.0},"ns_per_call":{:.1}}}"#,
        std::process::id(),
        options.call.name(),
        options.count,
        options.count as f64 / seconds.max(1e-9),
        seconds * 1e9 / options.count.max(1) as f64,
    );
    Ok(())
}
