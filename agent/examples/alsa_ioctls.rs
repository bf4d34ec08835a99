//! Issues a known number of ALSA-typed ioctls on a file that is not an ALSA device,
//! so a running `barwatch record` can be checked end to end on any machine: every
//! call fails with ENOTTY, yet each one must appear in the capture.
//!
//! `cargo run --example alsa_ioctls -- 1000` prints its pid and tid, then issues
//! 1000 calls alternating SNDRV_CTL_IOCTL_PVERSION and SNDRV_PCM_IOCTL_INFO.

use std::{fs::File, os::fd::AsRawFd};

/// `_IOR('U', 0x00, int)`.
const SNDRV_CTL_IOCTL_PVERSION: u64 = 0x8004_5500;
/// `_IOR('A', 0x01, struct snd_pcm_info)`.
const SNDRV_PCM_IOCTL_INFO: u64 = 0x8120_4101;

fn main() -> std::io::Result<()> {
    let count: u32 = std::env::args()
        .nth(1)
        .map(|a| {
            a.parse()
                .expect("the argument is the number of ioctls to issue")
        })
        .unwrap_or(1000);
    let null = File::open("/dev/null")?;
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    println!(
        "pid {} tid {tid} issuing {count} ALSA-typed ioctls",
        std::process::id()
    );
    let mut buffer = [0u8; 512];
    for i in 0..count {
        let cmd = if i % 2 == 0 {
            SNDRV_CTL_IOCTL_PVERSION
        } else {
            SNDRV_PCM_IOCTL_INFO
        };
        // SAFETY: the buffer outlives the call and is large enough for either command;
        // /dev/null rejects both with ENOTTY without touching it.
        unsafe { libc::ioctl(null.as_raw_fd(), cmd, buffer.as_mut_ptr()) };
    }
    Ok(())
}
