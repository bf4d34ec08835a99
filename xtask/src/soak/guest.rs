//! What the soak scenarios write inside the guest (see `soak_begin` and friends
//! in `bench/lib.sh`): barwatch's memory samples and each cycle's kernel
//! complaints.

use std::{fs, path::Path};

use anyhow::{Context as _, Result, bail};

/// barwatch's memory at one point of the soak, from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The cycles done when it was taken (0: before the first).
    pub cycle: usize,
    /// Resident set size (VmRSS), kB.
    pub rss_kb: u64,
    /// Peak resident set size so far (VmHWM), kB.
    pub hwm_kb: u64,
    /// Its anonymous part (RssAnon: the heap), kB.
    pub anon_kb: u64,
}

/// One finished cycle, as the guest saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CycleLog {
    /// Its number, from 1.
    pub cycle: usize,
    /// Lines of the kernel log it added that say Oops, WARNING, BUG: or Call Trace.
    pub complaints: usize,
}

/// Parses `soak-rss.txt`: `CYCLE RSS HWM ANON` lines. A sample of a barwatch that was
/// gone (`gone`) is an error: its memory is unknown.
pub fn parse_samples(text: &str) -> Result<Vec<Sample>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [cycle, rss, hwm, anon] = fields[..] else {
                bail!("`{line}` is not `CYCLE RSS HWM ANON`");
            };
            let number = |field: &str| {
                field.parse::<u64>().with_context(|| {
                    format!("`{line}`: barwatch's memory was not readable (was it still running?)")
                })
            };
            Ok(Sample {
                cycle: cycle
                    .parse()
                    .with_context(|| format!("`{line}`: no cycle number"))?,
                rss_kb: number(rss)?,
                hwm_kb: number(hwm)?,
                anon_kb: number(anon)?,
            })
        })
        .collect()
}

/// Parses `soak-cycles.txt`: `CYCLE COMPLAINTS` lines.
pub fn parse_cycles(text: &str) -> Result<Vec<CycleLog>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (cycle, complaints) = line
                .split_once(' ')
                .with_context(|| format!("`{line}` is not `CYCLE COMPLAINTS`"))?;
            Ok(CycleLog {
                cycle: cycle
                    .trim()
                    .parse()
                    .with_context(|| format!("`{line}`: no cycle"))?,
                complaints: complaints
                    .trim()
                    .parse()
                    .with_context(|| format!("`{line}`: no count"))?,
            })
        })
        .collect()
}

/// Reads a results file the soak scenario must have written.
pub fn read(results: &Path, name: &str) -> Result<String> {
    fs::read_to_string(results.join(name)).with_context(|| {
        format!(
            "the soak left no {name} in {}: did the scenario start its cycles? (see its serial.log)",
            results.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_samples() {
        let samples = parse_samples("0 9000 9100 8000\n10 9400 9800 8100\n").unwrap();
        assert_eq!(
            samples[1],
            Sample {
                cycle: 10,
                rss_kb: 9400,
                hwm_kb: 9800,
                anon_kb: 8100,
            }
        );
        let gone = parse_samples("0 9000 9100 8000\n10 gone gone gone\n").unwrap_err();
        assert!(format!("{gone:#}").contains("still running"), "{gone:#}");
        assert!(parse_samples("10 9400 9800\n").is_err());
    }

    #[test]
    fn reads_cycle_complaints() {
        let cycles = parse_cycles("1 0\n2 3\n").unwrap();
        assert_eq!(cycles.len(), 2);
        assert_eq!(cycles[1].complaints, 3);
        assert!(parse_cycles("1\n").is_err());
    }
}
