//! Parses `/proc/vmallocinfo` for the MMIO mappings that existed before recording
//! started: a driver maps its BARs at probe time, usually long before barwatch runs,
//! and its accessors then name only the virtual address.

/// One `ioremap` area: virtual range and the physical address it maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoMapping {
    /// First virtual address.
    pub virt: u64,
    /// Length in bytes (the area, guard page included, as the kernel lists it).
    pub size: u64,
    /// The physical address mapped at `virt`.
    pub phys: u64,
}

/// The `ioremap` lines of a vmallocinfo text, e.g.
/// `0xffffc90000300000-0xffffc90000305000   20480 azx_probe_continue+0x7c/0x300
/// [snd_hda_intel] phys=0x00000000febf0000 ioremap`. Other areas are left out, and
/// so are lines whose virtual addresses the kernel hid: printed as zero, or hashed
/// (`kernel.kptr_restrict=0` hashes `%pK` even for root), which shows as a range
/// that disagrees with the size column.
pub fn parse_vmallocinfo(text: &str) -> Vec<IoMapping> {
    text.lines()
        .filter(|line| line.split_whitespace().any(|word| word == "ioremap"))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (start, end) = words.next()?.split_once('-')?;
            let size: u64 = words.next()?.parse().ok()?;
            let phys = line
                .split_whitespace()
                .find_map(|word| word.strip_prefix("phys="))?;
            let (virt, end, phys) = (hex(start)?, hex(end)?, hex(phys)?);
            (virt != 0 && end.checked_sub(virt) == Some(size)).then_some(IoMapping {
                virt,
                size,
                phys,
            })
        })
        .collect()
}

fn hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_ioremap_areas_with_real_addresses_and_their_physical_address() {
        let text = "\
0xffffc90000000000-0xffffc90000002000    8192 gen_pool_add_owner+0x3e/0xb0 pages=1 vmalloc N0=1
0xffffc90000300000-0xffffc90000305000   20480 azx_probe_continue+0x7c/0x300 [snd_hda_intel] phys=0x00000000febf0000 ioremap
0x0000000000000000-0x0000000000000000   20480 pci_iomap_range+0x5e/0x80 phys=0x00000000febf1000 ioremap
0x00000000a2e1d171-0x000000003de1cc5b    8192 acpi_os_map_iomem+0x1bc/0x1e0 phys=0x00000000000a0000 ioremap
0x000000004cb1fc58-0x00000000ebf6855e   12288 acpi_os_map_iomem+0x1bc/0x1e0 phys=0x000000000009f000 ioremap
";
        assert_eq!(
            parse_vmallocinfo(text),
            [IoMapping {
                virt: 0xffff_c900_0030_0000,
                size: 0x5000,
                phys: 0xfebf_0000,
            }]
        );
    }
}
