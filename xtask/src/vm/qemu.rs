//! Booting the guest under QEMU (TCG), with the HD-audio controller, the `edu`
//! device and a raw results disk, always reaping QEMU. On the hot-plug machine
//! the controller sits in a PCIe hot-plug slot, and the guest asks the host (a
//! line on its serial console) to unplug it through QMP.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use super::qmp;
use crate::shell;

/// The machine QEMU models, a scenario's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `-M pc` (i440FX): every device on the root bus; the first remove and
    /// rescan after boot moves BARs.
    Pc,
    /// `-M q35` with the HD-audio controller (QMP id [`HOTPLUG_ID`]) behind a
    /// hot-plug capable PCIe root port, native hot-plug (pciehp) rather than
    /// ACPI's, and a QMP socket for unplugging it from the host.
    Q35Hotplug,
}

/// The QMP id of the HD-audio controller in the hot-plug slot.
pub const HOTPLUG_ID: &str = "hda";

/// Size of the raw disk the guest writes its results to (as a tar archive).
const RESULTS_DISK_BYTES: u64 = 256 << 20;

/// How to boot the guest.
pub struct Boot<'a> {
    /// The kernel image.
    pub kernel: &'a Path,
    /// The initramfs.
    pub initramfs: &'a Path,
    /// Extra kernel command line words (`barwatch.scenario=…`).
    pub cmdline: String,
    /// Where the results disk, serial log and unpacked results go.
    pub out: &'a Path,
    /// The machine to model.
    pub machine: Machine,
}

/// What one boot left behind.
pub struct Booted {
    /// The serial console log.
    pub serial: PathBuf,
    /// The raw results disk.
    pub disk: PathBuf,
    /// Whether QEMU had to be killed at the timeout.
    pub timed_out: bool,
}

/// The QEMU command line shared by scenario runs and the interactive shell.
fn qemu(boot: &Boot<'_>, disk: &Path) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    // Single-threaded TCG: with one host thread per vCPU (MTTCG) a guest that
    // patches its own text on one CPU while the other runs it (kprobes, static
    // keys of tracepoints being detached) was once seen locking both vCPUs up in
    // process_one_work.
    let machine = match boot.machine {
        Machine::Pc => "pc",
        Machine::Q35Hotplug => "q35",
    };
    cmd.args([
        "-M",
        machine,
        "-accel",
        "tcg,thread=single",
        "-m",
        "1024",
        "-smp",
        "2",
        "-no-reboot",
    ])
    .arg("-kernel")
    .arg(boot.kernel)
    .arg("-initrd")
    .arg(boot.initramfs)
    .arg("-append")
    .arg(format!(
        "console=ttyS0 panic=-1 loglevel=6 tsc=reliable {}",
        boot.cmdline
    ))
    .args(["-audiodev", "none,id=snd0"]);
    match boot.machine {
        Machine::Pc => cmd.args(["-device", "intel-hda"]),
        // QEMU's q35 hot-plugs through ACPI by default; off, the root port's
        // own hot-plug controller (pciehp in the guest) does it.
        Machine::Q35Hotplug => cmd
            .args([
                "-global",
                "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
            ])
            .args([
                "-device",
                "pcie-root-port,id=rp1,bus=pcie.0,slot=1,chassis=1",
            ])
            .arg("-device")
            .arg(format!("intel-hda,id={HOTPLUG_ID},bus=rp1")),
    };
    cmd.args(["-device", "hda-duplex,audiodev=snd0", "-device", "edu"])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio", disk.display()));
    cmd
}

/// Creates an empty results disk.
fn fresh_disk(out: &Path) -> Result<PathBuf> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let disk = out.join("results.img");
    let file =
        fs::File::create(&disk).with_context(|| format!("cannot create {}", disk.display()))?;
    file.set_len(RESULTS_DISK_BYTES)?;
    Ok(disk)
}

/// Boots the guest headless, with the serial console in a file, and waits for it
/// to power off or for `timeout`, killing QEMU then. QEMU is always reaped.
pub fn run(boot: &Boot<'_>, timeout: Duration) -> Result<Booted> {
    let disk = fresh_disk(boot.out)?;
    let serial = boot.out.join("serial.log");
    let mut cmd = qemu(boot, &disk);
    cmd.args(["-display", "none", "-monitor", "none"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .stdin(Stdio::null());
    let socket = boot.out.join("qmp.sock");
    let mut requests = (boot.machine == Machine::Q35Hotplug).then(|| {
        cmd.arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", socket.display()));
        qmp::Requests::new(&serial, &socket, &boot.out.join("qmp.log"))
    });
    eprintln!("+ {}", shell::describe(&cmd));
    let mut child = cmd
        .spawn()
        .context("cannot start qemu-system-x86_64 (`cargo xtask vm prepare` installs it)")?;
    let deadline = Instant::now() + timeout;
    let timed_out = loop {
        if child.try_wait()?.is_some() {
            break false;
        }
        if let Some(requests) = &mut requests {
            requests.serve();
        }
        if Instant::now() >= deadline {
            child.kill().ok();
            child.wait()?;
            break true;
        }
        thread::sleep(Duration::from_millis(100));
    };
    Ok(Booted {
        serial,
        disk,
        timed_out,
    })
}

/// Boots the guest with its serial console on this terminal.
pub fn interactive(boot: &Boot<'_>) -> Result<()> {
    let disk = fresh_disk(boot.out)?;
    let mut cmd = qemu(boot, &disk);
    // -nographic puts QEMU's monitor on this terminal too (Ctrl-A C), where
    // `device_del hda` unplugs the controller of the hot-plug machine.
    cmd.arg("-nographic");
    shell::run(&mut cmd)
}
