//! What the live benchmark reads about processes it does not wait for itself
//! (a TUI under tmux, the recorder the TUI started): their peak resident memory,
//! CPU time and children, from `/proc`.

use std::{collections::BTreeMap, fs, time::Duration};

/// A process's peak resident set so far (`VmHWM`), in bytes; `None` once it is gone.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Whether process `pid` still runs (a zombie no longer does).
pub fn alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|fields| fields.first().is_none_or(|state| state != "Z"))
}

/// The CPU time process `pid` used so far (user and system), `None` once it is gone.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let fields = stat_fields(pid)?;
    // After the command: state is field 3, utime 14 and stime 15 (1-based).
    let ticks = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    // SAFETY: sysconf has no memory preconditions.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .unwrap_or(100)
        .max(1);
    let total = ticks(14)? + ticks(15)?;
    Some(Duration::from_millis(total * 1000 / per_second))
}

/// The processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| {
            stat_fields(child)
                .and_then(|fields| fields.get(1)?.parse::<u32>().ok())
                .is_some_and(|parent| parent == pid)
        })
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces):
/// state first, then the parent's pid, and so on.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// The highest peak resident set seen of each watched process, read again on
/// every [`Peaks::sample`]: `VmHWM` only grows, so the last reading before a
/// process exits is its peak.
#[derive(Debug, Default)]
pub struct Peaks {
    seen: BTreeMap<u32, u64>,
}

impl Peaks {
    /// Starts watching `pid`.
    pub fn watch(&mut self, pid: u32) {
        self.seen.entry(pid).or_insert(0);
    }

    /// Reads every watched process's peak again.
    pub fn sample(&mut self) {
        for (pid, peak) in &mut self.seen {
            if let Some(now) = peak_rss_bytes(*pid) {
                *peak = (*peak).max(now);
            }
        }
    }

    /// The highest peak seen of `pid`, in bytes (0 if never read).
    pub fn of(&self, pid: u32) -> u64 {
        self.seen.get(&pid).copied().unwrap_or(0)
    }
}
