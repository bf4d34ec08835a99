//! Reads PCI devices from sysfs: BARs from `resource`, IRQs from `msi_irqs/`
//! (else `irq`), the driver link, and the ALSA cards and device files below it.
//!
//! The root is a parameter so tests can point it at a fake tree; live it is `/sys`.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use super::{Bar, PciDevice};
use crate::event::DevNum;

/// `IORESOURCE_MEM`: the `resource` flag of a memory BAR.
const IORESOURCE_MEM: u64 = 0x200;

/// Every PCI device under `sys_root/bus/pci/devices`, in PCI address order.
pub fn read_pci_devices(sys_root: &Path) -> io::Result<Vec<PciDevice>> {
    let mut devices = Vec::new();
    for entry in fs::read_dir(sys_root.join("bus/pci/devices"))? {
        let path = entry?.path();
        // A device removed between listing and reading is simply not there any more.
        if let Ok(device) = read_pci_device(&path) {
            devices.push(device);
        }
    }
    devices.sort_by(|a, b| a.bdf.cmp(&b.bdf));
    Ok(devices)
}

/// One device's sysfs folder.
fn read_pci_device(path: &Path) -> io::Result<PciDevice> {
    let bdf = file_name(path);
    let bars = parse_resource(&fs::read_to_string(path.join("resource"))?);
    let mut irqs: Vec<u32> = fs::read_dir(path.join("msi_irqs"))
        .map(|msi| {
            msi.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .collect()
        })
        .unwrap_or_default();
    // `irq` only without MSI vectors: with MSI on it shows the first of them
    // (MSI-X: the unused INTx line), and reading it takes the device's MSI
    // lock, which a remove tearing the vectors down holds. On the bench
    // guest's 6.1 a read of it during a remove spun on that lock for good
    // (soft lockup, RCU stall, the remove never finished).
    if irqs.is_empty() {
        irqs.extend(
            fs::read_to_string(path.join("irq"))
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok())
                .filter(|&irq| irq != 0),
        );
    }
    irqs.sort_unstable();
    irqs.dedup();
    let driver = fs::read_link(path.join("driver"))
        .ok()
        .map(|target| file_name(&target));

    let mut cards = Vec::new();
    let mut char_devs = Vec::new();
    for card in subfolders(&path.join("sound")) {
        let Some(number) = file_name(&card)
            .strip_prefix("card")
            .and_then(|n| n.parse().ok())
        else {
            continue;
        };
        cards.push(number);
        for node in subfolders(&card) {
            if let Some(dev) = fs::read_to_string(node.join("dev"))
                .ok()
                .and_then(|text| parse_dev(&text))
            {
                char_devs.push(dev);
            }
        }
    }
    cards.sort_unstable();
    char_devs.sort_unstable();
    Ok(PciDevice {
        bdf,
        driver,
        bars,
        irqs,
        cards,
        char_devs,
    })
}

/// Parses a `resource` file: one `start end flags` line per resource, the first six
/// being the BARs; keeps assigned memory BARs.
pub fn parse_resource(text: &str) -> Vec<Bar> {
    text.lines()
        .take(6)
        .enumerate()
        .filter_map(|(index, line)| {
            let mut fields = line
                .split_whitespace()
                .map(|f| u64::from_str_radix(f.trim_start_matches("0x"), 16).ok());
            let (start, end, flags) = (fields.next()??, fields.next()??, fields.next()??);
            (start != 0 && flags & IORESOURCE_MEM != 0).then_some(Bar {
                index: index as u8,
                start,
                end,
            })
        })
        .collect()
}

/// Parses a sysfs `dev` file, `MAJOR:MINOR`.
fn parse_dev(text: &str) -> Option<DevNum> {
    let (major, minor) = text.trim().split_once(':')?;
    Some(DevNum {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
    })
}

/// The folders directly inside `path`; none when it does not exist.
fn subfolders(path: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(path) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// Builds the sysfs folder of the bench's HD-audio controller under `root`.
    fn fake_hda(root: &Path) {
        let dev = root.join("bus/pci/devices/0000:00:04.0");
        fs::create_dir_all(dev.join("msi_irqs")).unwrap();
        fs::write(
            dev.join("resource"),
            "0x00000000febf0000 0x00000000febf3fff 0x0000000000040200\n\
             0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
             0x000000000000c000 0x000000000000c03f 0x0000000000040101\n",
        )
        .unwrap();
        fs::write(dev.join("irq"), "11\n").unwrap();
        fs::write(dev.join("msi_irqs/27"), "msi\n").unwrap();
        fs::create_dir_all(root.join("bus/pci/drivers/snd_hda_intel")).unwrap();
        symlink(
            root.join("bus/pci/drivers/snd_hda_intel"),
            dev.join("driver"),
        )
        .unwrap();
        for (node, number) in [("controlC0", "116:2"), ("pcmC0D0p", "116:3")] {
            let node = dev.join("sound/card0").join(node);
            fs::create_dir_all(&node).unwrap();
            fs::write(node.join("dev"), format!("{number}\n")).unwrap();
        }
    }

    #[test]
    fn reads_bars_irqs_driver_and_alsa_device_files() {
        let root = tempfile::tempdir().unwrap();
        fake_hda(root.path());
        let devices = read_pci_devices(root.path()).unwrap();
        assert_eq!(
            devices,
            [PciDevice {
                bdf: "0000:00:04.0".into(),
                driver: Some("snd_hda_intel".into()),
                bars: vec![Bar {
                    index: 0,
                    start: 0xfebf_0000,
                    end: 0xfebf_3fff
                }],
                irqs: vec![27],
                cards: vec![0],
                char_devs: vec![
                    DevNum {
                        major: 116,
                        minor: 2
                    },
                    DevNum {
                        major: 116,
                        minor: 3
                    }
                ],
            }]
        );
    }

    #[test]
    fn a_device_without_msi_vectors_has_its_intx_line() {
        let root = tempfile::tempdir().unwrap();
        fake_hda(root.path());
        let dev = root.path().join("bus/pci/devices/0000:00:04.0");
        fs::remove_dir_all(dev.join("msi_irqs")).unwrap();
        assert_eq!(read_pci_devices(root.path()).unwrap()[0].irqs, [11]);
        fs::create_dir(dev.join("msi_irqs")).unwrap();
        assert_eq!(read_pci_devices(root.path()).unwrap()[0].irqs, [11]);
    }

    #[test]
    fn a_missing_pci_folder_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        assert!(read_pci_devices(root.path()).is_err());
    }
}
