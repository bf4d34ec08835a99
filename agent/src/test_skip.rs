//! How this workspace's tests that need root, a tool or a kernel feature skip: one
//! strictness rule for all of them, and a trace of every skip that the test runner
//! (`cargo xtask test`) counts as skipped rather than passed.
//!
//! `cargo test` sees a test that returns early as passed. A test that cannot run
//! calls [`skip`] before it returns: under a non-empty `CI` that is a failure;
//! otherwise it says why on stderr and appends its name to the file named by
//! [`SKIP_LOG_ENV`], when the runner set it.

use std::{ffi::OsStr, fs::OpenOptions, io::Write as _};

/// The environment variable naming the file skipped tests append to: one line per
/// skip, `TEST<TAB>REASON`, where TEST is the test binary and the test's name.
pub const SKIP_LOG_ENV: &str = "BARWATCH_SKIP_LOG";

/// Whether a missing precondition fails a test instead of skipping it: `CI` is set
/// to anything but the empty string (`true`, `1`, `yes`, …).
pub fn strict() -> bool {
    strict_under(std::env::var_os("CI").as_deref())
}

/// Whether a `CI` of `value` (unset: `None`) makes tests strict.
fn strict_under(value: Option<&OsStr>) -> bool {
    value.is_some_and(|value| !value.is_empty())
}

/// Skips the calling test because `reason` (e.g. "not root: …"): panics under
/// [`strict`], otherwise prints `skipped because REASON` and records the skip.
/// The test returns right after.
pub fn skip(reason: &str) {
    assert!(
        !strict(),
        "{reason} (CI is set, so a missing precondition is a failure, not a skip)"
    );
    eprintln!("skipped because {reason}");
    let Some(path) = std::env::var_os(SKIP_LOG_ENV) else {
        return;
    };
    let line = format!("{}\t{}\n", test_name(), reason.replace(['\n', '\t'], " "));
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!(
            "cannot record the skip in {} ({SKIP_LOG_ENV}): {e}",
            path.to_string_lossy()
        );
    }
}

/// The running test: its binary's name (without cargo's hash suffix) and the
/// test's (libtest names each test's thread after the test).
fn test_name() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| without_hash(&stem).to_owned())
        .unwrap_or_default();
    let thread = std::thread::current();
    format!("{binary} {}", thread.name().unwrap_or("unnamed"))
}

/// `pty-afeae4206662a404` without its `-` and 16 hex digits.
fn without_hash(stem: &str) -> &str {
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name
        }
        _ => stem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_non_empty_ci_is_strict() {
        for value in ["true", "1", "yes", "false"] {
            assert!(strict_under(Some(OsStr::new(value))), "CI={value}");
        }
        assert!(!strict_under(Some(OsStr::new(""))));
        assert!(!strict_under(None));
    }

    #[test]
    fn drops_cargo_s_hash_from_the_binary_s_name() {
        assert_eq!(without_hash("pty-afeae4206662a404"), "pty");
        assert_eq!(without_hash("barwatch-tui"), "barwatch-tui");
    }

    #[test]
    fn names_the_test_by_its_binary_and_its_thread() {
        let name = test_name();
        assert!(
            name.ends_with(" test_skip::tests::names_the_test_by_its_binary_and_its_thread"),
            "{name}"
        );
    }
}
