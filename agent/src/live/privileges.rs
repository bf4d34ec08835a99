//! Whether this process may load and attach BPF tracing programs.

use std::fs;

use thiserror::Error;

/// `CAP_SYS_ADMIN`: implies every BPF and perf permission.
const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_PERFMON`: attach tracing programs, read kernel memory from BPF.
const CAP_PERFMON: u32 = 38;
/// `CAP_BPF`: create maps and load programs.
const CAP_BPF: u32 = 39;

/// Why the live commands cannot run with this process's privileges.
#[derive(Debug, Error)]
pub enum PrivilegeError {
    /// The capability set could not be read.
    #[error("cannot read this process's capabilities from /proc/self/status")]
    Unreadable(#[source] std::io::Error),
    /// Capabilities are missing.
    #[error(
        "missing {missing}: loading and attaching BPF tracing programs needs CAP_BPF and \
         CAP_PERFMON (or CAP_SYS_ADMIN). Run as root (sudo barwatch …) or grant them with \
         `setcap cap_bpf,cap_perfmon+ep $(command -v barwatch)`; `barwatch report` and \
         `barwatch-tui FILE` need no privileges"
    )]
    Missing {
        /// The missing capabilities, by name.
        missing: String,
    },
}

/// The effective capability mask from `/proc/self/status`.
fn effective_capabilities(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

/// Which needed capabilities the mask lacks, by name; empty when nothing is missing.
fn missing_capabilities(mask: u64) -> Vec<&'static str> {
    let has = |cap: u32| mask & (1 << cap) != 0;
    if has(CAP_SYS_ADMIN) {
        return Vec::new();
    }
    [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .into_iter()
        .filter(|(cap, _)| !has(*cap))
        .map(|(_, name)| name)
        .collect()
}

/// Checks that this process may load and attach BPF tracing programs.
pub fn check() -> Result<(), PrivilegeError> {
    let status = fs::read_to_string("/proc/self/status").map_err(PrivilegeError::Unreadable)?;
    let mask = effective_capabilities(&status).unwrap_or(0);
    let missing = missing_capabilities(mask);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PrivilegeError::Missing {
            missing: missing.join(" and "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_everything() {
        let status = "Name:\tx\nCapEff:\t000001ffffffffff\n";
        let mask = effective_capabilities(status).unwrap();
        assert!(missing_capabilities(mask).is_empty());
    }

    #[test]
    fn bpf_and_perfmon_suffice_without_sys_admin() {
        let mask = (1 << CAP_BPF) | (1 << CAP_PERFMON);
        assert!(missing_capabilities(mask).is_empty());
    }

    #[test]
    fn an_unprivileged_process_lacks_both() {
        let status = "CapEff:\t0000000000000000\n";
        let mask = effective_capabilities(status).unwrap();
        assert_eq!(missing_capabilities(mask), ["CAP_BPF", "CAP_PERFMON"]);
        assert_eq!(missing_capabilities(1 << CAP_BPF), ["CAP_PERFMON"]);
    }
}
