//! Ring-buffer bytes to typed records to domain [`Event`]s.
//!
//! The decoder never trusts the bytes: it checks the length before reading the
//! header, the kind before choosing a payload, and the exact size before reading
//! it. A bad record is a [`DecodeError`], never a panic or a transmute into an
//! enum.

use std::mem::size_of;

use barwatch_abi::{
    COMM_LEN, FuncRecord, HDA_TRACEPOINTS, IoctlRecord, IrqRecord, ModuleRecord, PageFaultRecord,
    RecordHeader, TracepointRecord, WorkRecord, kind, probe_id, record_size,
};
use rustc_hash::FxHashMap;
use thiserror::Error;

use crate::{
    event::{DevNum, Event, EventData, Hex, Name},
    ioctl,
    name::Interner,
};

/// Why a ring-buffer record could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The record is shorter than the fixed header.
    #[error("record of {len} bytes is shorter than the {need}-byte header")]
    NotEnoughBytes {
        /// Bytes received.
        len: usize,
        /// Bytes the header needs.
        need: usize,
    },
    /// The header names a kind this agent does not know: the BPF object and the
    /// agent come from different builds.
    #[error("record kind {kind} is unknown; the BPF object and the agent do not match")]
    UnknownKind {
        /// The kind number found.
        kind: u32,
    },
    /// The record's size does not match what its kind needs.
    #[error("record of kind {kind} has {len} bytes (header says {declared}); it needs {need}")]
    SizeMismatch {
        /// The kind number found.
        kind: u32,
        /// Bytes received.
        len: usize,
        /// Bytes the header claims.
        declared: u32,
        /// Bytes the kind needs.
        need: usize,
    },
}

/// A record as the BPF side wrote it, checked and copied out of the ring buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// An interrupt handler entry or exit.
    Irq(IrqRecord),
    /// A work item start or end.
    Work(WorkRecord),
    /// An ALSA ioctl entry or exit.
    Ioctl(IoctlRecord),
    /// A kernel function entry or return.
    Func(FuncRecord),
    /// A module load.
    Module(ModuleRecord),
    /// A kernel-mode page fault on a kernel address.
    PageFault(PageFaultRecord),
    /// A driver's own tracepoint.
    Tracepoint(TracepointRecord),
}

impl Record {
    /// The common header of whichever record this is.
    pub fn header(&self) -> &RecordHeader {
        match self {
            Record::Irq(r) => &r.header,
            Record::Work(r) => &r.header,
            Record::Ioctl(r) => &r.header,
            Record::Func(r) => &r.header,
            Record::Module(r) => &r.header,
            Record::PageFault(r) => &r.header,
            Record::Tracepoint(r) => &r.header,
        }
    }
}

/// Copies a `T` out of `bytes`, which the caller has checked to be exactly its size.
fn read<T: Copy>(bytes: &[u8]) -> T {
    assert_eq!(bytes.len(), size_of::<T>());
    // SAFETY: the length is checked above, T is a plain `#[repr(C)]` integer record
    // for which every bit pattern is valid, and read_unaligned needs no alignment.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) }
}

/// Checks and copies one record out of the ring buffer's bytes.
pub fn parse(bytes: &[u8]) -> Result<Record, DecodeError> {
    let need = size_of::<RecordHeader>();
    if bytes.len() < need {
        return Err(DecodeError::NotEnoughBytes {
            len: bytes.len(),
            need,
        });
    }
    let header: RecordHeader = read(&bytes[..need]);
    let Some(size) = record_size(header.kind) else {
        return Err(DecodeError::UnknownKind { kind: header.kind });
    };
    if bytes.len() != size || header.len as usize != size {
        return Err(DecodeError::SizeMismatch {
            kind: header.kind,
            len: bytes.len(),
            declared: header.len,
            need: size,
        });
    }
    Ok(match header.kind {
        kind::IRQ_HANDLER_ENTRY | kind::IRQ_HANDLER_EXIT => Record::Irq(read(bytes)),
        kind::WORK_EXECUTE_START | kind::WORK_EXECUTE_END => Record::Work(read(bytes)),
        kind::IOCTL_ENTER | kind::IOCTL_EXIT => Record::Ioctl(read(bytes)),
        kind::FUNC_ENTRY | kind::FUNC_EXIT => Record::Func(read(bytes)),
        kind::MODULE_LOAD => Record::Module(read(bytes)),
        kind::PAGE_FAULT_KERNEL => Record::PageFault(read(bytes)),
        kind::TRACEPOINT => Record::Tracepoint(read(bytes)),
        other => return Err(DecodeError::UnknownKind { kind: other }),
    })
}

/// Turns kernel addresses into symbol names; the live agent backs it with
/// `/proc/kallsyms`, tests with a table.
pub trait Symbols {
    /// The function at exactly or containing `addr`, if known.
    fn symbol(&self, addr: u64) -> Option<Symbol>;

    /// The return addresses of kernel stack `stack_id`, innermost first, if known.
    fn stack(&self, _stack_id: i64) -> Option<Vec<u64>> {
        None
    }
}

/// A kernel address resolved to a function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// The function's name.
    pub name: String,
    /// Bytes from the function's start.
    pub offset: u64,
    /// The module it is in; `None` for vmlinux.
    pub module: Option<String>,
}

impl Symbol {
    /// The function's name with the offset when not at its start
    /// (`ioremap`, `ioremap+0x10`), the form probe names use.
    pub fn label(&self) -> String {
        if self.offset == 0 {
            self.name.clone()
        } else {
            format!("{}+{:#x}", self.name, self.offset)
        }
    }
}

impl std::fmt::Display for Symbol {
    /// Kernel style: `azx_irq_pending_work+0x10 [snd_hda_codec]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())?;
        if let Some(module) = &self.module {
            write!(f, " [{module}]")?;
        }
        Ok(())
    }
}

/// A [`Symbols`] that knows no symbol: events keep raw addresses.
pub struct NoSymbols;

impl Symbols for NoSymbols {
    fn symbol(&self, _addr: u64) -> Option<Symbol> {
        None
    }
}

/// The catalogue name of a tracepoint probe id, as shown in captures and tables.
pub fn tracepoint_probe_name(probe: u32) -> Option<String> {
    if let Some((category, name, _)) = hda_tracepoint(probe) {
        return Some(format!("{category}:{name}"));
    }
    Some(
        match probe {
            probe_id::IRQ_HANDLER_ENTRY => "irq:irq_handler_entry",
            probe_id::IRQ_HANDLER_EXIT => "irq:irq_handler_exit",
            probe_id::WORK_EXECUTE_START => "workqueue:workqueue_execute_start",
            probe_id::WORK_EXECUTE_END => "workqueue:workqueue_execute_end",
            probe_id::IOCTL_ENTER => "syscalls:sys_enter_ioctl",
            probe_id::IOCTL_EXIT => "syscalls:sys_exit_ioctl",
            probe_id::MODULE_LOAD => "module:module_load",
            probe_id::PAGE_FAULT_KERNEL => "exceptions:page_fault_kernel",
            _ => return None,
        }
        .to_owned(),
    )
}

/// The HD-audio tracepoint with probe id `probe`: category, event and arity.
fn hda_tracepoint(probe: u32) -> Option<(&'static str, &'static str, u32)> {
    let index = probe.checked_sub(probe_id::FIRST_HDA_TRACEPOINT)?;
    HDA_TRACEPOINTS.get(index as usize).copied()
}

/// The catalogue name of a function probe: `kprobe:NAME` or `kretprobe:NAME`.
pub fn function_probe_name(exit: bool, function: &str) -> String {
    let mechanism = if exit { "kretprobe" } else { "kprobe" };
    format!("{mechanism}:{function}")
}

/// The x86 page-fault error code's bit for a write access.
const PF_WRITE: u64 = 1 << 1;

/// A stack id's frames, innermost first, each named `function+off [module]` when
/// known; empty for [`barwatch_abi::NO_STACK`] or a stack no longer in the map.
fn symbolized_stack(names: &mut Interner, symbols: &dyn Symbols, stack_id: i64) -> Vec<Name> {
    if stack_id == barwatch_abi::NO_STACK {
        return Vec::new();
    }
    symbols
        .stack(stack_id)
        .unwrap_or_default()
        .into_iter()
        .map(|ip| {
            let frame = symbols
                .symbol(ip)
                .map_or_else(|| Hex(ip).to_string(), |s| s.to_string());
            names.name_of(&frame)
        })
        .collect()
}

/// `IRQ_HANDLED`: the bit of `irqreturn_t` that says the handler claimed the IRQ.
const IRQ_HANDLED: u32 = 1;

/// Builds the domain event for a checked record, naming symbols through
/// `symbols`, with a decoder of its own (see [`Decoder`]).
pub fn to_event(record: &Record, symbols: &dyn Symbols) -> Event {
    Decoder::default().event(record, symbols)
}

/// Builds events from records, one shared copy of each name they repeat
/// (command, probe, function, stack frames): the recorder decodes a million
/// records a second, and a fresh copy of each name for each would cost
/// allocations the analysis frees again.
#[derive(Default)]
pub struct Decoder {
    names: Interner,
    /// The name of each tracepoint probe id seen, and of each ioctl command:
    /// a record names them by number, and making their text again for every
    /// record would cost an allocation and a lookup each.
    probes: FxHashMap<u32, Name>,
    commands: FxHashMap<u32, Name>,
    /// The probe names of the ALSA file operations that carried ioctls, by
    /// address and return: one per call, named once.
    carriers: FxHashMap<(u64, bool), Name>,
    /// The last task command read, raw, and its name: records come in runs
    /// from one task, and comparing 16 bytes is cheaper than a lookup.
    last_comm: Option<([u8; COMM_LEN], Name)>,
}

/// How many probe ids or ioctl commands a [`Decoder`] remembers the names of
/// before it starts afresh: far more than the kernel side has, few enough to
/// stay small whatever records a mismatched object sends.
const REMEMBERED: usize = 4096;

/// The value `map` holds for `key`, made by `make` and remembered when new.
fn remembered(map: &mut FxHashMap<u32, Name>, key: u32, make: impl FnOnce() -> Name) -> Name {
    if let Some(name) = map.get(&key) {
        return name.clone();
    }
    if map.len() == REMEMBERED {
        map.clear();
    }
    map.entry(key).or_insert_with(make).clone()
}

impl Decoder {
    /// The shared name for `text`: for what the recorder adds to an event
    /// (the device it concerns).
    pub fn name(&mut self, text: &str) -> Name {
        self.names.name_of(text)
    }

    /// The domain event for a checked record, naming symbols through `symbols`.
    pub fn event(&mut self, record: &Record, symbols: &dyn Symbols) -> Event {
        let names = &mut self.names;
        let header = record.header();
        let probes = &mut self.probes;
        let mut named_probe =
            |names: &mut Interner, probe| remembered(probes, probe, || probe_name(names, probe));
        let (probe, data) = match record {
            Record::Tracepoint(r) => {
                let arity = hda_tracepoint(header.probe).map_or(4, |(_, _, arity)| arity);
                (
                    named_probe(names, header.probe),
                    EventData::Tracepoint {
                        args: r
                            .args
                            .iter()
                            .take(arity as usize)
                            .map(|&a| Hex(a))
                            .collect(),
                        base: (r.base != 0).then_some(Hex(r.base)),
                    },
                )
            }
            Record::PageFault(r) => (
                named_probe(names, header.probe),
                EventData::PageFault {
                    address: Hex(r.address),
                    ip: Hex(r.ip),
                    function: symbol_name(names, symbols, r.ip, Symbol::to_string),
                    write: r.error_code & PF_WRITE != 0,
                    stack: symbolized_stack(names, symbols, r.stack_id),
                },
            ),
            Record::Module(r) => (
                named_probe(names, header.probe),
                EventData::ModuleLoad {
                    module: comm_string(&r.name),
                },
            ),
            Record::Irq(r) => {
                let handler = Hex(r.handler);
                let handler_name = symbol_name(names, symbols, r.handler, Symbol::label);
                let data = if header.kind == kind::IRQ_HANDLER_ENTRY {
                    EventData::IrqHandlerEntry {
                        irq: r.irq,
                        handler,
                        handler_name,
                        thread: symbol_name(names, symbols, r.thread_fn, Symbol::to_string),
                    }
                } else {
                    EventData::IrqHandlerExit {
                        irq: r.irq,
                        handler,
                        handler_name,
                        handled: r.ret & IRQ_HANDLED != 0,
                    }
                };
                (named_probe(names, header.probe), data)
            }
            Record::Work(r) => {
                let (work, function) = (Hex(r.work), Hex(r.function));
                let symbol = symbol_name(names, symbols, r.function, Symbol::to_string);
                let data = if header.kind == kind::WORK_EXECUTE_START {
                    EventData::WorkStart {
                        work,
                        function,
                        symbol,
                    }
                } else {
                    EventData::WorkEnd {
                        work,
                        function,
                        symbol,
                    }
                };
                (named_probe(names, header.probe), data)
            }
            Record::Ioctl(r) => {
                let cmd_name = remembered(&mut self.commands, r.cmd, || {
                    names.name_of(&ioctl::describe(r.cmd))
                });
                let cmd = Hex(r.cmd.into());
                let data = if header.kind == kind::IOCTL_ENTER {
                    EventData::IoctlEnter {
                        fd: r.fd,
                        cmd,
                        cmd_name,
                        arg: Hex(r.arg),
                        dev: DevNum::from_kernel(r.rdev),
                    }
                } else {
                    EventData::IoctlExit {
                        fd: r.fd,
                        cmd,
                        cmd_name,
                        ret: r.ret,
                        dev: DevNum::from_kernel(r.rdev),
                    }
                };
                let probe = if r.ip == 0 {
                    named_probe(names, header.probe)
                } else {
                    let exit = header.kind == kind::IOCTL_EXIT;
                    self.carriers
                        .entry((r.ip, exit))
                        .or_insert_with(|| function_probe(names, symbols, r.ip, exit))
                        .clone()
                };
                (probe, data)
            }
            Record::Func(r) => {
                let symbol = symbols.symbol(r.ip);
                let module = symbol
                    .as_ref()
                    .and_then(|s| s.module.as_deref().map(|m| names.name_of(m)));
                let function = names.name_of(&function_label(symbol.as_ref(), r.ip));
                let exit = header.kind == kind::FUNC_EXIT;
                let probe = names.name_of(&function_probe_name(exit, &function));
                let stack = symbolized_stack(names, symbols, r.stack_id);
                let base = (r.base != 0).then_some(Hex(r.base));
                let data = if exit {
                    EventData::FuncExit {
                        function,
                        module,
                        ip: Hex(r.ip),
                        ret: Hex(r.ret),
                        stack,
                    }
                } else {
                    EventData::FuncEntry {
                        function,
                        module,
                        ip: Hex(r.ip),
                        args: r.args.map(Hex),
                        base,
                        stack,
                    }
                };
                (probe, data)
            }
        };
        Event {
            ts_ns: header.ts_ns,
            cpu: header.cpu,
            pid: header.pid,
            tid: header.tid,
            comm: match &self.last_comm {
                Some((raw, name)) if *raw == header.comm => name.clone(),
                _ => {
                    let name = comm_name(names, &header.comm);
                    self.last_comm = Some((header.comm, name.clone()));
                    name
                }
            },
            probe,
            device: None,
            data,
        }
    }
}

/// The name of a tracepoint probe id, or a placeholder that says the id is unknown.
fn probe_name(names: &mut Interner, probe: u32) -> Name {
    names.name_of(&tracepoint_probe_name(probe).unwrap_or_else(|| format!("probe#{probe}")))
}

/// How a function probe's records name the function at `ip`: its symbol's
/// label, or the address where no symbol covers it.
fn function_label(symbol: Option<&Symbol>, ip: u64) -> String {
    symbol.map_or_else(|| Hex(ip).to_string(), Symbol::label)
}

/// The name of the probe on the function at `ip`, on its return when `exit`.
fn function_probe(names: &mut Interner, symbols: &dyn Symbols, ip: u64, exit: bool) -> Name {
    let function = function_label(symbols.symbol(ip).as_ref(), ip);
    names.name_of(&function_probe_name(exit, &function))
}

/// The symbol at `addr` (none for 0) as a name, in the words `write` gives it.
fn symbol_name(
    names: &mut Interner,
    symbols: &dyn Symbols,
    addr: u64,
    write: fn(&Symbol) -> String,
) -> Option<Name> {
    let symbol = (addr != 0).then(|| symbols.symbol(addr)).flatten()?;
    Some(names.name_of(&write(&symbol)))
}

/// A NUL-padded kernel `comm` as a name (lossily when it is not UTF-8).
fn comm_name(names: &mut Interner, comm: &[u8]) -> Name {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    names
        .name(&comm[..end])
        .unwrap_or_else(|| comm_string(comm).into())
}

/// A NUL-padded kernel `comm` as text.
fn comm_string(comm: &[u8]) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use barwatch_abi::COMM_LEN;

    use super::*;

    struct Table(HashMap<u64, &'static str>);

    impl Symbols for Table {
        fn stack(&self, stack_id: i64) -> Option<Vec<u64>> {
            (stack_id == 7).then(|| vec![0xffff_0000_0000_1000, 0xffff_0000_0000_2000])
        }

        fn symbol(&self, addr: u64) -> Option<Symbol> {
            self.0.get(&addr).map(|s| Symbol {
                name: (*s).to_owned(),
                offset: 0,
                module: s.starts_with("azx").then(|| "snd_hda_codec".to_owned()),
            })
        }
    }

    fn header(kind: u32, probe: u32, len: usize) -> RecordHeader {
        let mut comm = [0u8; COMM_LEN];
        comm[..5].copy_from_slice(b"aplay");
        RecordHeader {
            kind,
            len: len as u32,
            ts_ns: 1_000,
            cpu: 1,
            pid: 42,
            tid: 43,
            probe,
            comm,
        }
    }

    fn bytes<T: Copy>(record: &T) -> Vec<u8> {
        // SAFETY: records are plain integer structs without padding.
        unsafe { std::slice::from_raw_parts((record as *const T).cast::<u8>(), size_of::<T>()) }
            .to_vec()
    }

    fn decode(raw: &[u8]) -> Event {
        let symbols = Table(HashMap::from([
            (0xffff_0000_0000_1000, "azx_stop_chip"),
            (0xffff_0000_0000_2000, "azx_irq_pending_work"),
            (0xffff_0000_0000_5000, "azx_interrupt"),
            (0xffff_0000_0000_6000, "snd_ctl_ioctl"),
        ]));
        to_event(&parse(raw).unwrap(), &symbols)
    }

    #[test]
    fn irq_entry_and_exit() {
        let entry = IrqRecord {
            header: header(kind::IRQ_HANDLER_ENTRY, probe_id::IRQ_HANDLER_ENTRY, 72),
            irq: 11,
            ret: 0,
            handler: 0xffff_0000_0000_5000,
            thread_fn: 0,
        };
        let event = decode(&bytes(&entry));
        assert_eq!(event.probe, "irq:irq_handler_entry");
        assert_eq!(
            event.data,
            EventData::IrqHandlerEntry {
                irq: 11,
                handler: Hex(0xffff_0000_0000_5000),
                handler_name: Some("azx_interrupt".into()),
                thread: None,
            }
        );
        assert_eq!(
            (event.pid, event.tid, event.comm.as_str()),
            (42, 43, "aplay")
        );

        let exit = IrqRecord {
            header: header(kind::IRQ_HANDLER_EXIT, probe_id::IRQ_HANDLER_EXIT, 72),
            irq: 11,
            ret: 1,
            handler: 0,
            thread_fn: 0,
        };
        assert_eq!(
            decode(&bytes(&exit)).data,
            EventData::IrqHandlerExit {
                irq: 11,
                handler: Hex(0),
                handler_name: None,
                handled: true
            }
        );
    }

    #[test]
    fn work_start_and_end_name_the_function() {
        for (k, p) in [
            (kind::WORK_EXECUTE_START, probe_id::WORK_EXECUTE_START),
            (kind::WORK_EXECUTE_END, probe_id::WORK_EXECUTE_END),
        ] {
            let record = WorkRecord {
                header: header(k, p, 64),
                work: 0xffff_8000_0000_0040,
                function: 0xffff_0000_0000_2000,
            };
            let event = decode(&bytes(&record));
            assert!(event.probe.starts_with("workqueue:workqueue_execute_"));
            assert!(
                event
                    .data
                    .to_string()
                    .ends_with("azx_irq_pending_work [snd_hda_codec]"),
                "{}",
                event.data
            );
        }
    }

    #[test]
    fn ioctl_entry_and_exit_decode_the_command() {
        let enter = IoctlRecord {
            header: header(kind::IOCTL_ENTER, probe_id::IOCTL_ENTER, 88),
            fd: 3,
            cmd: 0x8004_5500,
            arg: 0x7fff_0000,
            ret: 0,
            rdev: (116 << 20) | 3,
            reserved: 0,
            ip: 0,
        };
        assert_eq!(
            decode(&bytes(&enter)).data.to_string(),
            "ioctl(3, SNDRV_CTL_IOCTL_PVERSION)"
        );
        let exit = IoctlRecord {
            header: header(kind::IOCTL_EXIT, probe_id::IOCTL_EXIT, 88),
            ret: -25,
            ..enter
        };
        let event = decode(&bytes(&exit));
        assert_eq!(event.probe, "syscalls:sys_exit_ioctl");
        let EventData::IoctlExit { dev, .. } = &event.data else {
            panic!("{event:?}")
        };
        assert_eq!(dev.map(|d| d.to_string()).as_deref(), Some("116:3"));
        assert_eq!(
            event.data.to_string(),
            "ioctl(3, SNDRV_CTL_IOCTL_PVERSION) = -25"
        );
    }

    #[test]
    fn an_ioctl_an_alsa_file_operation_carried_is_named_after_its_probe() {
        let enter = IoctlRecord {
            header: header(kind::IOCTL_ENTER, probe_id::FUNC_ENTRY, 88),
            fd: 5,
            cmd: 0x8004_5500,
            arg: 0,
            ret: 0,
            rdev: (116 << 20) | 3,
            reserved: 0,
            ip: 0xffff_0000_0000_6000,
        };
        let event = decode(&bytes(&enter));
        assert_eq!(event.probe, "kprobe:snd_ctl_ioctl");
        assert_eq!(event.data.to_string(), "ioctl(5, SNDRV_CTL_IOCTL_PVERSION)");
        let exit = IoctlRecord {
            header: header(kind::IOCTL_EXIT, probe_id::FUNC_EXIT, 88),
            ..enter
        };
        assert_eq!(decode(&bytes(&exit)).probe, "kretprobe:snd_ctl_ioctl");
    }

    /// An entry of `azx_stop_chip` with a stack, touching `base`.
    fn azx_stop_chip_entry(base: u64) -> FuncRecord {
        FuncRecord {
            header: header(kind::FUNC_ENTRY, probe_id::FUNC_ENTRY, 112),
            ip: 0xffff_0000_0000_1000,
            args: [1, 2, 3, 4],
            ret: 0,
            base,
            stack_id: 7,
        }
    }

    #[test]
    fn one_decoder_gives_every_record_the_event_a_fresh_one_would() {
        let symbols = Table(HashMap::from([(0xffff_0000_0000_1000, "azx_stop_chip")]));
        let record = bytes(&azx_stop_chip_entry(0));
        let record = parse(&record).unwrap();
        let mut decoder = Decoder::default();
        let fresh = to_event(&record, &symbols);
        for _ in 0..3 {
            assert_eq!(decoder.event(&record, &symbols), fresh);
        }
    }

    #[test]
    fn function_entry_and_return_are_named_by_symbol() {
        let event = decode(&bytes(&azx_stop_chip_entry(0xffff_c900_0030_0000)));
        assert_eq!(event.probe, "kprobe:azx_stop_chip");
        let EventData::FuncEntry { base, stack, .. } = &event.data else {
            panic!("{event:?}")
        };
        assert_eq!(*base, Some(Hex(0xffff_c900_0030_0000)));
        assert_eq!(
            stack,
            &[
                "azx_stop_chip [snd_hda_codec]",
                "azx_irq_pending_work [snd_hda_codec]"
            ]
        );
        let exit = FuncRecord {
            header: header(kind::FUNC_EXIT, probe_id::FUNC_EXIT, 112),
            ip: 0xffff_0000_0000_3000,
            args: [0; 4],
            ret: 7,
            base: 0,
            stack_id: barwatch_abi::NO_STACK,
        };
        let event = decode(&bytes(&exit));
        assert_eq!(event.probe, "kretprobe:0xffff000000003000");
    }

    #[test]
    fn page_faults_name_the_faulting_function_and_access() {
        let fault = PageFaultRecord {
            header: header(kind::PAGE_FAULT_KERNEL, probe_id::PAGE_FAULT_KERNEL, 80),
            address: 0xffff_d4a0_4060_0004,
            ip: 0xffff_0000_0000_1000,
            error_code: 0b10,
            stack_id: 7,
        };
        let event = decode(&bytes(&fault));
        assert_eq!(event.probe, "exceptions:page_fault_kernel");
        assert_eq!(
            event.data.to_string(),
            "page fault: write of 0xffffd4a040600004 at azx_stop_chip [snd_hda_codec]"
        );
        let EventData::PageFault { stack, .. } = &event.data else {
            panic!("{event:?}")
        };
        assert_eq!(stack.len(), 2);
    }

    #[test]
    fn module_loads_carry_the_module_name() {
        let mut name = [0u8; barwatch_abi::MODULE_NAME_LEN];
        name[..16].copy_from_slice(b"barwatch_fixture");
        let record = ModuleRecord {
            header: header(kind::MODULE_LOAD, probe_id::MODULE_LOAD, 104),
            name,
        };
        let event = decode(&bytes(&record));
        assert_eq!(event.probe, "module:module_load");
        assert_eq!(
            event.data,
            EventData::ModuleLoad {
                module: "barwatch_fixture".into()
            }
        );
    }

    #[test]
    fn short_records_are_errors_not_panics() {
        let entry = IoctlRecord {
            header: header(kind::IOCTL_ENTER, probe_id::IOCTL_ENTER, 88),
            fd: 3,
            cmd: 0x8004_5500,
            arg: 0,
            ret: 0,
            rdev: 0,
            reserved: 0,
            ip: 0,
        };
        let raw = bytes(&entry);
        assert_eq!(
            parse(&raw[..10]),
            Err(DecodeError::NotEnoughBytes { len: 10, need: 48 })
        );
        assert_eq!(
            parse(&raw[..60]),
            Err(DecodeError::SizeMismatch {
                kind: kind::IOCTL_ENTER,
                len: 60,
                declared: 88,
                need: 88
            })
        );
    }

    #[test]
    fn unknown_kinds_and_lying_lengths_are_rejected() {
        let mut record = IrqRecord {
            header: header(99, 0, 72),
            irq: 1,
            ret: 0,
            handler: 0,
            thread_fn: 0,
        };
        assert_eq!(
            parse(&bytes(&record)),
            Err(DecodeError::UnknownKind { kind: 99 })
        );
        record.header.kind = kind::IRQ_HANDLER_ENTRY;
        record.header.len = 200;
        assert!(matches!(
            parse(&bytes(&record)),
            Err(DecodeError::SizeMismatch { declared: 200, .. })
        ));
    }
}
