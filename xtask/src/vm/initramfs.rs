//! The guest's initramfs: busybox, the modules in dependency order, ALSA's tools
//! with their libraries, the barwatch binary, the bench scripts and the fixture
//! module, packed as an uncompressed newc cpio archive.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use super::cache::Cache;
use crate::shell;

/// Modules the guest loads at boot; their dependencies are resolved from modules.dep.
const BOOT_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "snd-hda-codec-generic",
    "snd-hda-intel",
];

/// Guest binaries taken from the unpacked packages.
const GUEST_TOOLS: &[&str] = &["usr/bin/aplay", "usr/bin/amixer"];

/// Directories searched for shared libraries, inside the unpacked root.
const LIBRARY_DIRS: &[&str] = &["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64"];

/// What goes into the initramfs besides the cache.
pub struct Contents<'a> {
    /// The bench scripts folder (`xtask/bench`).
    pub bench: &'a Path,
    /// The barwatch binary to run inside the guest.
    pub barwatch: &'a Path,
    /// The fixture module built against the guest kernel.
    pub fixture: &'a Path,
    /// Static helper programs for `/usr/bin`.
    pub tools: &'a [PathBuf],
}

/// Builds the initramfs and returns its path.
pub fn build(cache: &Cache, contents: &Contents<'_>) -> Result<PathBuf> {
    let staging = cache.dir.join("initramfs");
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot clear {}", staging.display()))?;
    }
    for dir in [
        "bin",
        "sbin",
        "etc/barwatch",
        "proc",
        "sys",
        "dev",
        "tmp",
        "results",
        "lib64",
        "bench/fixture",
    ] {
        fs::create_dir_all(staging.join(dir))?;
    }
    copy(Path::new("/bin/busybox"), &staging.join("bin/busybox"))
        .context("busybox-static is needed on the host (`cargo xtask vm prepare` installs it)")?;

    let order = module_order(&cache.modules(), BOOT_MODULES)?;
    let mut list = String::new();
    for relative in &order {
        let inside = Path::new("lib/modules").join(&cache.abi).join(relative);
        copy(&cache.modules().join(relative), &staging.join(&inside))?;
        list.push_str(&format!("/{}\n", inside.display()));
    }
    fs::write(staging.join("etc/barwatch/modules"), list)?;

    let mut libraries = BTreeSet::new();
    for tool in GUEST_TOOLS {
        let from = cache.root.join(tool);
        copy(&from, &staging.join(tool))?;
        needed_libraries(&from, &cache.root, &mut libraries)?;
    }
    copy(contents.barwatch, &staging.join("usr/bin/barwatch"))?;
    for tool in contents.tools {
        let name = tool.file_name().context("tool without a name")?;
        copy(tool, &staging.join("usr/bin").join(name))?;
    }
    needed_libraries(contents.barwatch, &cache.root, &mut libraries)?;
    for lib in &libraries {
        let name = lib.file_name().context("library without a name")?;
        let dest = if name == "ld-linux-x86-64.so.2" {
            staging.join("lib64").join(name)
        } else {
            staging.join("lib/x86_64-linux-gnu").join(name)
        };
        copy(lib, &dest)?;
    }
    copy_tree(
        &cache.root.join("usr/share/alsa"),
        &staging.join("usr/share/alsa"),
    )?;

    copy_tree(contents.bench, &staging.join("bench"))?;
    fs::remove_dir_all(staging.join("bench/fixture"))?;
    fs::create_dir_all(staging.join("bench/fixture"))?;
    copy(
        contents.fixture,
        &staging.join("bench/fixture/barwatch_fixture.ko"),
    )?;
    let init = staging.join("init");
    copy(&contents.bench.join("init.sh"), &init)?;
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755))?;

    let archive = cache.dir.join("initramfs.cpio");
    let listing = shell::stdout(Command::new("find").arg(".").current_dir(&staging))?;
    let out = fs::File::create(&archive)?;
    let mut cpio = Command::new("cpio")
        .args(["-o", "-H", "newc", "-R", "0:0", "--quiet"])
        .current_dir(&staging)
        .stdin(std::process::Stdio::piped())
        .stdout(out)
        .spawn()
        .context("cpio is needed on the host (`cargo xtask vm prepare` installs it)")?;
    std::io::Write::write_all(
        cpio.stdin.as_mut().context("cpio stdin")?,
        listing.as_bytes(),
    )?;
    drop(cpio.stdin.take());
    if !cpio.wait()?.success() {
        bail!("cpio failed to pack {}", staging.display());
    }
    Ok(archive)
}

/// Module file paths (relative to the module tree) in an order that `insmod` can
/// load them: every module after all it depends on, from `modules.dep`.
pub fn module_order(tree: &Path, wanted: &[&str]) -> Result<Vec<String>> {
    let text = fs::read_to_string(tree.join("modules.dep"))
        .with_context(|| format!("no modules.dep in {}: did depmod run?", tree.display()))?;
    order_from_dep(&text, wanted)
}

/// The name a module is known by (`snd_hda_intel` for `.../snd-hda-intel.ko`).
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file).replace('-', "_")
}

/// Topological order of `wanted` and their dependencies from modules.dep text.
fn order_from_dep(text: &str, wanted: &[&str]) -> Result<Vec<String>> {
    let mut deps: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in text.lines() {
        let Some((module, rest)) = line.split_once(':') else {
            continue;
        };
        let requires = rest.split_whitespace().map(module_name).collect();
        deps.insert(module_name(module), (module.to_owned(), requires));
    }
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    for name in wanted {
        visit(&module_name(name), &deps, &mut done, &mut order, 0)?;
    }
    Ok(order)
}

/// Depth-first: dependencies first, each module once.
fn visit(
    name: &str,
    deps: &BTreeMap<String, (String, Vec<String>)>,
    done: &mut BTreeSet<String>,
    order: &mut Vec<String>,
    depth: usize,
) -> Result<()> {
    if done.contains(name) {
        return Ok(());
    }
    if depth > 64 {
        bail!("module dependencies of {name} loop");
    }
    let (path, requires) = deps
        .get(name)
        .with_context(|| format!("module {name} is not in modules.dep"))?;
    for dep in requires {
        visit(dep, deps, done, order, depth + 1)?;
    }
    done.insert(name.to_owned());
    order.push(path.clone());
    Ok(())
}

/// Adds the shared libraries `binary` needs (transitively) to `found`, looking in
/// the unpacked root first and the host's library directories after.
fn needed_libraries(binary: &Path, root: &Path, found: &mut BTreeSet<PathBuf>) -> Result<()> {
    let dynamic = shell::stdout(Command::new("readelf").arg("-d").arg(binary))
        .with_context(|| format!("readelf (binutils) cannot read {}", binary.display()))?;
    for soname in parse_needed(&dynamic) {
        let lib = LIBRARY_DIRS
            .iter()
            .map(|d| root.join(d).join(&soname))
            .chain(
                LIBRARY_DIRS
                    .iter()
                    .map(|d| Path::new("/").join(d).join(&soname)),
            )
            .find(|p| p.exists())
            .with_context(|| {
                format!(
                    "{} needs {soname}, found in no library directory",
                    binary.display()
                )
            })?;
        if found.insert(lib.clone()) {
            needed_libraries(&lib, root, found)?;
        }
    }
    Ok(())
}

/// The `NEEDED` entries of `readelf -d` output.
fn parse_needed(dynamic: &str) -> Vec<String> {
    dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_owned()))
        .collect()
}

/// Copies one file (following symlinks), creating parent directories and keeping
/// its permission bits.
fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, to)
        .map(drop)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))
}

/// Copies a directory tree (following symlinks).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let path = entry?.path();
        let dest = to.join(path.file_name().context("entry without a name")?);
        if path.is_dir() {
            copy_tree(&path, &dest)?;
        } else if path.exists() {
            copy(&path, &dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/sound/core/snd.ko: kernel/sound/soundcore.ko
kernel/sound/soundcore.ko:
kernel/sound/core/snd-pcm.ko: kernel/sound/core/snd-timer.ko kernel/sound/core/snd.ko kernel/sound/soundcore.ko
kernel/sound/core/snd-timer.ko: kernel/sound/core/snd.ko kernel/sound/soundcore.ko
kernel/sound/pci/hda/snd-hda-intel.ko: kernel/sound/core/snd-pcm.ko kernel/sound/core/snd-timer.ko kernel/sound/core/snd.ko kernel/sound/soundcore.ko
";

    #[test]
    fn modules_load_after_their_dependencies() {
        let order = order_from_dep(DEP, &["snd-hda-intel"]).unwrap();
        let position = |m: &str| order.iter().position(|p| p.ends_with(m)).unwrap();
        assert!(position("soundcore.ko") < position("snd.ko"));
        assert!(position("snd.ko") < position("snd-timer.ko"));
        assert!(position("snd-timer.ko") < position("snd-pcm.ko"));
        assert!(position("snd-pcm.ko") < position("snd-hda-intel.ko"));
        assert_eq!(order.len(), 5, "each module once: {order:?}");
    }

    #[test]
    fn unknown_modules_are_an_error() {
        assert!(order_from_dep(DEP, &["snd-nope"]).is_err());
    }

    #[test]
    fn reads_needed_libraries() {
        let text = " 0x0000000000000001 (NEEDED)             Shared library: [libasound.so.2]\n 0x000000000000000c (INIT)               0x4000\n";
        assert_eq!(parse_needed(text), ["libasound.so.2"]);
    }
}
