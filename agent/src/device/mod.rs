//! Device identity: which PCI device an event concerns.
//!
//! The kernel's records name addresses, IRQ numbers and device numbers, not devices.
//! This module keeps what sysfs and `/proc/vmallocinfo` say about the watched PCI
//! devices (their BARs, IRQs, ALSA device files and the MMIO mappings of those BARs)
//! and follows the mapping events as BARs are unmapped, moved and mapped again, so
//! each event can carry its device's PCI address. Reading sysfs is an adapter
//! ([`sysfs`]); the matching itself ([`attribution`]) is pure.

pub mod attribution;
pub mod sysfs;
pub mod vmalloc;

use crate::event::DevNum;

/// A memory BAR's physical address range, end inclusive as sysfs prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// The BAR's number (0–5).
    pub index: u8,
    /// First physical address.
    pub start: u64,
    /// Last physical address.
    pub end: u64,
}

impl From<Bar> for crate::event::BarRange {
    /// The capture's form of a BAR.
    fn from(bar: Bar) -> Self {
        crate::event::BarRange {
            index: bar.index,
            start: crate::event::Hex(bar.start),
            end: crate::event::Hex(bar.end),
        }
    }
}

impl Bar {
    /// Whether the physical address `phys` lies in this BAR.
    pub fn contains(&self, phys: u64) -> bool {
        (self.start..=self.end).contains(&phys)
    }
}

/// One PCI device as sysfs described it when it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciDevice {
    /// Its PCI address, `DDDD:BB:DD.F`.
    pub bdf: String,
    /// The bound driver's name, if any.
    pub driver: Option<String>,
    /// Assigned memory BARs.
    pub bars: Vec<Bar>,
    /// Its legacy IRQ and MSI/MSI-X vectors.
    pub irqs: Vec<u32>,
    /// ALSA card numbers it provides.
    pub cards: Vec<u32>,
    /// Character device numbers of the device files below it (ALSA's
    /// controlC*, pcmC*D*, hwC*D*).
    pub char_devs: Vec<DevNum>,
}

/// Checks a PCI address, `DDDD:BB:DD.F` (lower-case hex), as sysfs names devices:
/// for `--device` and expectations files alike.
pub fn parse_bdf(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let hex_at = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    };
    let shaped = bytes.len() == 12
        && bytes[4] == b':'
        && bytes[7] == b':'
        && bytes[10] == b'.'
        && hex_at(0..4)
        && hex_at(5..7)
        && hex_at(8..10)
        && (b'0'..=b'7').contains(&bytes[11]);
    if shaped {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a PCI address like 0000:00:04.0 (domain:bus:device.function, lower-case hex); `ls /sys/bus/pci/devices` lists them"
        ))
    }
}
