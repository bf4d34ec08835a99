//! Running commands with their command line shown and their failures explained.

use std::process::{Command, Output};

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
