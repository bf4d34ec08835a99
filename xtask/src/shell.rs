//! Running commands with their command line shown and their failures explained.

use std::{
    collections::BTreeMap,
    fs,
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Command, Output, Stdio},
};

use anyhow::{Context as _, Result, bail};

/// Runs `cmd` with inherited output, failing with the command line if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = describe(cmd);
    eprintln!("+ {line}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` and returns its output, whether or not it succeeded.
pub fn output(cmd: &mut Command) -> Result<Output> {
    let line = describe(cmd);
    cmd.output()
        .with_context(|| format!("cannot start `{line}`"))
}

/// Runs `cmd` and returns its standard output as text, failing if it fails.
pub fn stdout(cmd: &mut Command) -> Result<String> {
    let line = describe(cmd);
    let out = output(cmd)?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The command line, for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The environment variable a test's skip is recorded through: the file skipped
/// tests append `TEST<TAB>REASON` lines to (`barwatch::test_skip::SKIP_LOG_ENV`;
/// xtask's library does not depend on the agent's, so the name is repeated here).
pub const SKIP_LOG_ENV: &str = "BARWATCH_SKIP_LOG";

/// Test counts summed over every `test result:` line of a `cargo test` run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TestTotals {
    /// Tests that passed, as `cargo test` counts them (early skips included).
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests marked `#[ignore]`.
    pub ignored: u64,
    /// Tests that returned early because a precondition was missing (root, tmux,
    /// BTF), which `cargo test` counted as passed: test name and reason.
    pub skipped_early: BTreeMap<String, String>,
}

impl TestTotals {
    /// The closing line: `tests: N passed, N failed, N skipped`, where tests that
    /// skipped early count as skipped and not as passed.
    pub fn summary(&self) -> String {
        let early = self.skipped_early.len() as u64;
        format!(
            "tests: {} passed, {} failed, {} skipped",
            self.passed.saturating_sub(early),
            self.failed,
            self.ignored + early
        )
    }

    /// Adds the skips recorded in `log` (lines `TEST<TAB>REASON`), once per test.
    fn add_skips(&mut self, log: &str) {
        for line in log.lines() {
            let (test, reason) = line.split_once('\t').unwrap_or((line, ""));
            if !test.trim().is_empty() {
                self.skipped_early
                    .entry(test.to_owned())
                    .or_insert_with(|| reason.to_owned());
            }
        }
    }

    /// Adds the counts of one `test result: ok. 3 passed; 0 failed; 1 ignored; …` line.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result:") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }
}

/// Runs a `cargo test` command, echoing its output, and sums its test counts, so
/// the run can end with one line that says how many tests ran in all. Tests that
/// skip record themselves in `skip_log` (through [`SKIP_LOG_ENV`]), which is
/// emptied first; they are listed and counted as skipped.
pub fn run_counting_tests(cmd: &mut Command, skip_log: &Path) -> Result<TestTotals> {
    let line = describe(cmd);
    eprintln!("+ {line}");
    match fs::remove_file(skip_log) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e)
                .with_context(|| format!("cannot clear the skip log {}", skip_log.display()));
        }
        _ => {}
    }
    let mut child = cmd
        .env(SKIP_LOG_ENV, skip_log)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    let mut totals = TestTotals::default();
    if let Some(stdout) = child.stdout.take() {
        for text in BufReader::new(stdout).lines() {
            let text = text.context("reading the test output failed")?;
            println!("{text}");
            totals.add_line(&text);
        }
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for `{line}`"))?;
    match fs::read_to_string(skip_log) {
        Ok(log) => totals.add_skips(&log),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the skip log {}", skip_log.display()));
        }
    }
    for (test, reason) in &totals.skipped_early {
        println!("skipped: {test}: {reason}");
    }
    if !status.success() {
        println!("{}", totals.summary());
        bail!("`{line}` failed ({status})");
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cargo_test_result_lines() {
        let mut totals = TestTotals::default();
        totals.add_line("test result: ok. 63 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.38s");
        totals.add_line(
            "test result: FAILED. 1 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        totals.add_line("running 5 tests");
        assert_eq!((totals.passed, totals.failed, totals.ignored), (64, 3, 2));
    }

    #[test]
    fn tests_that_skipped_early_count_as_skipped_not_passed() {
        let mut totals = TestTotals::default();
        totals.add_line("test result: ok. 10 passed; 0 failed; 1 ignored; 0 measured");
        totals.add_skips(
            "bench run_a\tnot root: the bench needs root\n\
             pty live\ttmux is not installed\n\
             bench run_a\tnot root: the bench needs root\n",
        );
        assert_eq!(totals.skipped_early.len(), 2, "one count per test");
        assert_eq!(totals.summary(), "tests: 8 passed, 0 failed, 3 skipped");
    }

    #[test]
    fn a_run_counts_the_skips_its_tests_record() {
        let dir = std::env::temp_dir().join(format!("xtask-skips-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("skips.log");
        fs::write(&log, "left over from an earlier run\tx\n").unwrap();
        // A stand-in for `cargo test`: one test passes, one records its skip.
        let script = format!(
            "printf 'bin skipper\\tnot root\\n' >> \"${SKIP_LOG_ENV}\"; \
             echo 'test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured'"
        );
        let totals = run_counting_tests(Command::new("sh").args(["-c", &script]), &log).unwrap();
        assert_eq!(totals.summary(), "tests: 1 passed, 0 failed, 1 skipped");
        assert_eq!(totals.skipped_early["bin skipper"], "not root");
        let _ = fs::remove_dir_all(&dir);
    }
}
