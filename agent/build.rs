//! Builds the BPF programs with aya-build and leaves the object in OUT_DIR, where the
//! agent embeds it. Only with the `live` feature: the pure model needs no BPF.
use anyhow::{Context as _, anyhow};

/// The rustup name under which `cargo xtask setup` links Debian's compiler, whose
/// precompiled `core` for bpfel-unknown-none makes build-std unnecessary.
const DEFAULT_TOOLCHAIN: &str = "barwatch-debian";

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=BARWATCH_BPF_TOOLCHAIN");
    if std::env::var_os("CARGO_FEATURE_LIVE").is_none() {
        return Ok(());
    }
    let toolchain =
        std::env::var("BARWATCH_BPF_TOOLCHAIN").unwrap_or_else(|_| DEFAULT_TOOLCHAIN.into());
    let metadata = cargo_metadata_ebpf_dir()?;
    // aya-ebpf uses unstable features; allow them for that crate alone, since a
    // global value would make aya-build ask for build-std, which needs rust-src.
    // SAFETY: build scripts are single-threaded at this point.
    unsafe { std::env::set_var("RUSTC_BOOTSTRAP", "aya_ebpf") };
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "barwatch-ebpf",
            root_dir: &metadata,
            ..Default::default()
        }],
        aya_build::Toolchain::Custom(&toolchain),
    )
    .map_err(|e| {
        anyhow!(
            "building the BPF programs with toolchain `{toolchain}` failed: {e:#}\n\
             run `cargo xtask setup` to install Debian's BPF-capable rustc, bpf-linker \
             and the rustup link, or set BARWATCH_BPF_TOOLCHAIN"
        )
    })
}

/// The BPF crate's directory, next to this one in the workspace.
fn cargo_metadata_ebpf_dir() -> anyhow::Result<String> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR not set")?;
    let dir = std::path::Path::new(&manifest).join("../ebpf");
    let dir = dir
        .canonicalize()
        .with_context(|| format!("BPF crate not found at {}", dir.display()))?;
    dir.to_str()
        .map(str::to_owned)
        .context("BPF crate path is not UTF-8")
}
