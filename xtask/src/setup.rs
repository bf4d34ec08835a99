//! `cargo xtask setup`: installs the toolchain the BPF build needs, idempotently,
//! one line per step.
//!
//! Debian's security archive ships `rustc-web` with a precompiled `core` for the BPF
//! targets (`libstd-rust-web-dev-bpf`), so no rust-src or build-std is needed; the
//! archive replaces those packages over time, so the LLVM major that bpf-linker must
//! match is read from the installed compiler, never hard-coded.

use std::{path::Path, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::shell;

/// The rustup name under which Debian's compiler is linked (agent/build.rs uses it).
pub const TOOLCHAIN: &str = "barwatch-debian";
/// The bpf-linker release this project builds with.
const BPF_LINKER_VERSION: &str = "0.13.0";
/// Debian's BPF-capable compiler.
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";

/// Runs every set-up step.
pub fn run() -> Result<()> {
    let mut apt_updated = false;
    // cargo-web pairs with rustc-web: without it rustup falls back to whatever other
    // toolchain's cargo it finds, or fails on a machine that has none.
    // tmux: the terminal UI's test drives barwatch-tui in a real pseudo-terminal.
    // g++: libfuzzer-sys compiles libFuzzer for the fuzz targets.
    // bpftrace: the reference the kernel benchmark measures the probes against.
    ensure_packages(
        &[
            "rustc-web",
            "cargo-web",
            "libstd-rust-web-dev-bpf",
            "tmux",
            "g++",
            "bpftrace",
        ],
        &mut apt_updated,
    )?;
    let llvm = llvm_major()?;
    step(&format!("rustc-web uses LLVM {llvm}"), "found");
    ensure_packages(&[&format!("llvm-{llvm}-dev")], &mut apt_updated)?;
    ensure_bpf_linker(llvm)?;
    ensure_toolchain_link()?;
    Ok(())
}

/// Installs the Debian packages in `packages` that are missing.
pub fn ensure_host_packages(packages: &[&str]) -> Result<()> {
    ensure_packages(packages, &mut false)
}

/// Prints one set-up line.
fn step(what: &str, outcome: &str) {
    eprintln!("setup: {what}: {outcome}");
}

/// Whether a Debian package is installed.
fn installed(package: &str) -> bool {
    shell::output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs the packages that are missing, running `apt-get update` once first.
fn ensure_packages(packages: &[&str], apt_updated: &mut bool) -> Result<()> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    for p in packages.iter().filter(|p| !missing.contains(p)) {
        step(&format!("package {p}"), "already installed");
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !*apt_updated {
        shell::run(Command::new("apt-get").args(["update", "-q"])).context(
            "apt-get update failed; is this a Debian bookworm machine with network to its archive?",
        )?;
        *apt_updated = true;
    }
    shell::run(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .with_context(|| {
        format!(
            "installing {} failed; they come from Debian's bookworm-security archive",
            missing.join(" ")
        )
    })?;
    for p in missing {
        step(&format!("package {p}"), "installed");
    }
    Ok(())
}

/// The LLVM major version of Debian's rustc, from `rustc -vV`.
fn llvm_major() -> Result<u32> {
    let text = shell::stdout(Command::new(DEBIAN_RUSTC).arg("-vV"))?;
    parse_llvm_major(&text).with_context(|| {
        format!("`{DEBIAN_RUSTC} -vV` names no LLVM version; cannot pick llvm-N-dev for bpf-linker")
    })
}

/// Reads `LLVM version: 22.1.8` out of `rustc -vV`.
fn parse_llvm_major(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("LLVM version:"))
        .and_then(|v| v.trim().split('.').next()?.parse().ok())
}

/// Installs bpf-linker built against the same LLVM as the compiler, unless present.
fn ensure_bpf_linker(llvm: u32) -> Result<()> {
    let current = shell::output(Command::new("bpf-linker").arg("--version"))
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let wanted = format!("bpf-linker {BPF_LINKER_VERSION}");
    if current.as_deref().is_some_and(|v| v.contains(&wanted)) {
        step(&wanted, "already installed");
        return Ok(());
    }
    let prefix = format!("/usr/lib/llvm-{llvm}");
    if !Path::new(&prefix).join("bin/llvm-config").exists() {
        bail!("{prefix}/bin/llvm-config is missing: llvm-{llvm}-dev did not install it");
    }
    shell::run(
        Command::new("cargo")
            .args(["install", "--locked", &format!("bpf-linker@{BPF_LINKER_VERSION}")])
            .args(["--no-default-features", "--features", &format!("llvm-{llvm}")])
            .env("LLVM_PREFIX", &prefix),
    )
    .with_context(|| {
        format!("building bpf-linker {BPF_LINKER_VERSION} against LLVM {llvm} failed; does bpf-linker support llvm-{llvm}?")
    })?;
    step(&wanted, "installed");
    Ok(())
}

/// Links Debian's compiler (sysroot /usr, with the BPF `core`) as a rustup toolchain.
fn ensure_toolchain_link() -> Result<()> {
    let list = shell::stdout(Command::new("rustup").args(["toolchain", "list"]))
        .context("rustup is needed to hand Debian's compiler to aya-build")?;
    if list
        .lines()
        .any(|l| l.split_whitespace().next() == Some(TOOLCHAIN))
    {
        step(&format!("rustup toolchain {TOOLCHAIN}"), "already linked");
        return Ok(());
    }
    shell::run(Command::new("rustup").args(["toolchain", "link", TOOLCHAIN, "/usr"]))?;
    step(&format!("rustup toolchain {TOOLCHAIN} -> /usr"), "linked");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_llvm_major_from_rustc() {
        let text = "rustc 1.96.0 (ac68faa20 2026-05-25)\nhost: x86_64-unknown-linux-gnu\nLLVM version: 22.1.8\n";
        assert_eq!(parse_llvm_major(text), Some(22));
        assert_eq!(parse_llvm_major("rustc 1.0"), None);
    }
}
