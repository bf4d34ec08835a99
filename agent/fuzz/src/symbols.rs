//! A symbol table for the record decoder's fuzz target, with no kernel behind it.

use barwatch::decode::{Symbol, Symbols};

/// Names the functions the bench sees, picked from the address itself, so the
/// decoder's symbol-naming paths (offsets, modules, stacks, control
/// characters in names) run on whatever address a record carries.
pub struct FuzzSymbols;

/// Names a symbol can get: real bench functions and one with a terminal escape.
const NAMES: [&str; 8] = [
    "azx_interrupt",
    "ioremap",
    "iounmap",
    "snd_pcm_ioctl",
    "azx_send_cmd",
    "vmstat_update",
    "barwatch_fixture_read",
    "\x1b]2;title\x07",
];

/// The deepest stack the table hands out.
const MAX_FRAMES: i64 = 16;

impl Symbols for FuzzSymbols {
    fn symbol(&self, addr: u64) -> Option<Symbol> {
        if addr == 0 || addr % 16 == 15 {
            return None;
        }
        let name = NAMES[(addr % NAMES.len() as u64) as usize];
        Some(Symbol {
            name: name.to_owned(),
            offset: (addr >> 3) & 0xff,
            module: (addr & 1 == 1).then(|| "snd_hda_codec".to_owned()),
        })
    }

    fn stack(&self, stack_id: i64) -> Option<Vec<u64>> {
        (0..MAX_FRAMES).contains(&stack_id).then(|| {
            (0..=stack_id)
                .map(|frame| 0xffff_ffff_c000_0000_u64.wrapping_add(frame as u64 * 0x41))
                .collect()
        })
    }
}
