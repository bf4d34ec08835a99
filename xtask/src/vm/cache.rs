//! The bench's package cache: Debian's own kernel, its headers, ALSA's tools and
//! the C library, fetched with `apt-get download` and unpacked with `dpkg -x`
//! under `target/vm/`, never installed on the host.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::shell;

/// Host packages the bench needs to build and boot the guest.
pub const HOST_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "busybox-static",
    "cpio",
    "kmod",
    "make",
    "gcc-12",
    "libc6-dev",
];

/// Userspace packages whose files go into the guest.
const GUEST_PACKAGES: &[&str] = &[
    "alsa-utils",
    "libasound2",
    "libasound2-data",
    "libc6",
    "libgcc-s1",
];

/// What the cache holds once prepared.
#[derive(Clone, Debug)]
pub struct Cache {
    /// `target/vm`.
    pub dir: PathBuf,
    /// The kernel ABI, e.g. `6.1.0-56-amd64`.
    pub abi: String,
    /// Unpacked guest root: kernel, modules, ALSA tools, libraries.
    pub root: PathBuf,
    /// Unpacked kernel headers and kbuild, for the fixture module.
    pub headers: PathBuf,
}

impl Cache {
    /// The kernel image.
    pub fn vmlinuz(&self) -> PathBuf {
        self.root.join(format!("boot/vmlinuz-{}", self.abi))
    }

    /// The guest's module tree.
    pub fn modules(&self) -> PathBuf {
        self.root.join(format!("lib/modules/{}", self.abi))
    }

    /// The headers tree that `make -C` builds external modules against.
    pub fn kbuild_dir(&self) -> PathBuf {
        self.headers
            .join(format!("usr/src/linux-headers-{}", self.abi))
    }
}

/// The kernel ABI that `linux-image-amd64` currently depends on.
pub fn current_abi() -> Result<String> {
    let depends = shell::stdout(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
    parse_abi(&depends)
        .context("linux-image-amd64 depends on no linux-image-<abi> package; run `apt-get update`")
}

/// Reads `Depends: linux-image-6.1.0-56-amd64` out of `apt-cache depends`.
fn parse_abi(depends: &str) -> Option<String> {
    depends.lines().find_map(|l| {
        let package = l.trim().strip_prefix("Depends:")?.trim();
        let abi = package.strip_prefix("linux-image-")?;
        abi.ends_with("-amd64").then(|| abi.to_owned())
    })
}

/// The `linux-kbuild-X.Y` package the headers depend on.
fn kbuild_package(abi: &str) -> Result<String> {
    let depends = shell::stdout(
        Command::new("apt-cache").args(["depends", &format!("linux-headers-{abi}")]),
    )?;
    depends
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-kbuild-"))
        .map(str::to_owned)
        .with_context(|| format!("linux-headers-{abi} names no linux-kbuild package"))
}

/// Prepares the cache, reusing what a previous run left (and saying so).
pub fn prepare(target: &Path) -> Result<Cache> {
    let dir = target.join("vm");
    let abi = current_abi()?;
    let cache = Cache {
        root: dir.join(format!("root-{abi}")),
        headers: dir.join(format!("headers-{abi}")),
        dir: dir.clone(),
        abi: abi.clone(),
    };
    let stamp = dir.join(format!("prepared-{abi}"));
    if stamp.exists() && cache.vmlinuz().exists() && cache.kbuild_dir().exists() {
        eprintln!(
            "vm: reusing the prepared cache for kernel {abi} in {}",
            dir.display()
        );
        return Ok(cache);
    }
    let debs = dir.join("debs");
    fs::create_dir_all(&debs).with_context(|| format!("cannot create {}", debs.display()))?;
    let image = format!("linux-image-{abi}");
    let mut guest: Vec<String> = vec![image];
    guest.extend(GUEST_PACKAGES.iter().map(|p| (*p).to_owned()));
    let headers = vec![
        format!("linux-headers-{abi}"),
        format!("linux-headers-{}-common", abi.trim_end_matches("-amd64")),
        kbuild_package(&abi)?,
    ];
    download(&debs, guest.iter().chain(&headers))?;
    for (packages, into) in [(&guest, &cache.root), (&headers, &cache.headers)] {
        if into.exists() {
            fs::remove_dir_all(into).with_context(|| format!("cannot clear {}", into.display()))?;
        }
        for package in packages {
            let deb = find_deb(&debs, package)?;
            shell::run(Command::new("dpkg").arg("-x").arg(&deb).arg(into))?;
        }
    }
    fix_headers(&cache)?;
    shell::run(Command::new("depmod").arg("-b").arg(&cache.root).arg(&abi))
        .context("depmod failed on the guest's module tree")?;
    fs::write(&stamp, "").with_context(|| format!("cannot write {}", stamp.display()))?;
    eprintln!("vm: prepared kernel {abi} in {}", dir.display());
    Ok(cache)
}

/// `apt-get download` the packages into `debs` (apt-get skips files it has).
fn download<'a>(debs: &Path, packages: impl Iterator<Item = &'a String>) -> Result<()> {
    let packages: Vec<&String> = packages.collect();
    let mut cmd = Command::new("apt-get");
    cmd.arg("download").args(&packages).current_dir(debs);
    if shell::run(&mut cmd).is_err() {
        shell::run(Command::new("apt-get").args(["update", "-q"]))?;
        shell::run(&mut cmd).context("apt-get download failed even after apt-get update")?;
    }
    Ok(())
}

/// The downloaded `.deb` of `package`.
fn find_deb(debs: &Path, package: &str) -> Result<PathBuf> {
    let prefix = format!("{package}_");
    let mut found: Vec<PathBuf> = fs::read_dir(debs)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some(deb) => Ok(deb),
        None => bail!("no .deb of {package} in {}", debs.display()),
    }
}

/// Points the unpacked headers at each other instead of at `/usr/src` and
/// `/usr/lib/linux-kbuild-*`, where Debian would have installed them.
fn fix_headers(cache: &Cache) -> Result<()> {
    let root = &cache.headers;
    let makefile = cache.kbuild_dir().join("Makefile");
    let text = fs::read_to_string(&makefile)
        .with_context(|| format!("cannot read {}", makefile.display()))?;
    let fixed: String = text
        .lines()
        .map(|l| match l.strip_prefix("include /usr/src/") {
            Some(rest) => format!("include {}/usr/src/{rest}", root.display()),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    fs::write(&makefile, fixed).with_context(|| format!("cannot write {}", makefile.display()))?;
    relink_absolute(root, root)
}

/// Re-points every symlink under `dir` whose target is absolute into `root`.
fn relink_absolute(dir: &Path, root: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let meta = fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path)?;
            if let Ok(inside) = target.strip_prefix("/") {
                fs::remove_file(&path)?;
                std::os::unix::fs::symlink(root.join(inside), &path)?;
            }
        } else if meta.is_dir() {
            relink_absolute(&path, root)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernel_abi_from_apt_cache() {
        let text = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n";
        assert_eq!(parse_abi(text).as_deref(), Some("6.1.0-56-amd64"));
        assert_eq!(parse_abi("linux-image-amd64\n"), None);
    }
}
