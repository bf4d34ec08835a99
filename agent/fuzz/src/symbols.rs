//! A symbol table for the record decoder's fuzz target, with no kernel behind it.

use std::{collections::HashMap, sync::OnceLock};

use barwatch::{
    capture::reader::read_capture_from,
    decode::{Symbol, Symbols},
    event::{EventData, Name},
};

use crate::seeds::PLAYBACK_CAPTURE;

/// The bench's kernel symbols as its capture names them, so records rebuilt
/// from it decode to the same functions, and names picked from the address
/// for every other one, so the decoder's symbol paths (offsets, modules,
/// stacks, control characters in names) run on whatever address a record
/// carries.
pub struct FuzzSymbols;

/// Names an unknown address can get: real bench functions and one with a
/// terminal escape.
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

/// Function addresses of the playback capture: probed functions, interrupt
/// handlers and work functions.
fn bench_symbols() -> &'static HashMap<u64, Symbol> {
    static TABLE: OnceLock<HashMap<u64, Symbol>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let capture = read_capture_from(PLAYBACK_CAPTURE.as_bytes())
            .expect("the checked-in bench capture reads");
        let symbol = |name: &str, module: &Option<Name>| Symbol {
            name: name.to_owned(),
            offset: 0,
            module: module.as_deref().map(str::to_owned),
        };
        let mut table = HashMap::new();
        for event in &capture.events {
            let (addr, name, module) = match &event.data {
                EventData::FuncEntry {
                    ip,
                    function,
                    module,
                    ..
                }
                | EventData::FuncExit {
                    ip,
                    function,
                    module,
                    ..
                } => (ip.0, function.as_str(), module),
                EventData::IrqHandlerEntry {
                    handler,
                    handler_name: Some(name),
                    ..
                } => (handler.0, name.as_str(), &None),
                EventData::WorkStart {
                    function,
                    symbol: Some(name),
                    ..
                } => (function.0, name.as_str(), &None),
                _ => continue,
            };
            table.entry(addr).or_insert_with(|| symbol(name, module));
        }
        table
    })
}

impl Symbols for FuzzSymbols {
    fn symbol(&self, addr: u64) -> Option<Symbol> {
        if let Some(known) = bench_symbols().get(&addr) {
            return Some(known.clone());
        }
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
