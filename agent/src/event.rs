//! The domain event: one thing a probe saw, decoded and named.
//!
//! Events are what the capture file stores, what reports count and what later
//! stages (timelines, rules, the terminal UI) consume. They know nothing of BPF:
//! [`crate::decode`] builds them from ring-buffer records, and the capture reader
//! builds them from JSON.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::name::Name;

/// A kernel address or other 64-bit value that people read in hex.
///
/// Serialized as a `"0x…"` string: JSON numbers above 2^53 lose precision in most
/// readers (jq among them), and kernel addresses are all above that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hex(pub u64);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(FromText(|text: &str| {
            let digits = text
                .strip_prefix("0x")
                .ok_or_else(|| format!("`{text}` does not start with 0x"))?;
            u64::from_str_radix(digits, 16)
                .map(Hex)
                .map_err(|e| format!("`{text}` is not a hex number: {e}"))
        }))
    }
}

/// Reads a value written as a JSON string by parsing the string where it lies,
/// without copying it into a `String` first (a capture holds millions of them).
/// Its errors read as a `String`'s would: "expected a string".
struct FromText<F>(F);

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> serde::de::Visitor<'de> for FromText<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        (self.0)(text).map_err(E::custom)
    }
}

/// A character device number as `/sys/dev/char` names it, `MAJOR:MINOR`: the
/// file an ALSA ioctl was issued on, which leads to its card and PCI device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevNum {
    /// Major number (116 for ALSA).
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl DevNum {
    /// Splits the kernel's internal `dev_t` (12-bit major, 20-bit minor); 0 means
    /// the number could not be read.
    pub fn from_kernel(dev: u32) -> Option<Self> {
        (dev != 0).then_some(DevNum {
            major: dev >> 20,
            minor: dev & 0xf_ffff,
        })
    }
}

impl fmt::Display for DevNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

impl Serialize for DevNum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DevNum {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(FromText(|text: &str| {
            let parsed = text
                .split_once(':')
                .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)));
            parsed
                .map(|(major, minor)| DevNum { major, minor })
                .ok_or_else(|| format!("`{text}` is not MAJOR:MINOR"))
        }))
    }
}

/// A memory BAR's physical range as a capture records it: in `device_state`
/// events and (since 1.4) in the header's watched devices alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BarRange {
    /// The BAR's number (0–5).
    pub index: u8,
    /// First physical address.
    pub start: Hex,
    /// Last physical address (inclusive, as sysfs prints it).
    pub end: Hex,
}

impl BarRange {
    /// Whether physical address `phys` lies in it.
    pub fn contains(&self, phys: u64) -> bool {
        (self.start.0..=self.end.0).contains(&phys)
    }

    /// Parses the form headers before 1.4 wrote, `"N: 0xSTART-0xEND"`.
    pub fn parse(text: &str) -> Option<Self> {
        let (index, range) = text.split_once(": ")?;
        let (start, end) = range.split_once('-')?;
        let hex = |t: &str| u64::from_str_radix(t.strip_prefix("0x")?, 16).ok();
        Some(BarRange {
            index: index.parse().ok()?,
            start: Hex(hex(start)?),
            end: Hex(hex(end)?),
        })
    }
}

impl fmt::Display for BarRange {
    /// The form people read, `"N: 0xSTART-0xEND"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}-{}", self.index, self.start, self.end)
    }
}

/// The probe name of the events barwatch writes itself when sysfs shows a watched
/// device change (see [`EventData::DeviceState`]).
pub const SYSFS_PROBE: &str = "barwatch:sysfs";

/// One observation from one probe, with the task context it happened in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// CLOCK_MONOTONIC nanoseconds (`bpf_ktime_get_ns`) when the probe fired.
    pub ts_ns: u64,
    /// CPU the probe fired on.
    pub cpu: u32,
    /// Process id (tgid) of the current task.
    pub pid: u32,
    /// Thread id of the current task.
    pub tid: u32,
    /// Command name of the current task.
    pub comm: Name,
    /// The catalogue name of the probe point that produced the event, e.g.
    /// `irq:irq_handler_entry` or `kprobe:azx_stop_chip`.
    pub probe: Name,
    /// The PCI device (`DDDD:BB:DD.F`) the event concerns, when one of the watched
    /// devices matched; absent for events no watched device explains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Name>,
    /// What the probe saw.
    #[serde(flatten)]
    pub data: EventData,
}

/// The probe-specific part of an [`Event`]; `kind` in JSON says which.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventData {
    /// An interrupt handler started.
    IrqHandlerEntry {
        /// IRQ number.
        irq: u32,
        /// Address of the handler function (0 when it could not be read).
        #[serde(default)]
        handler: Hex,
        /// The handler function's name, when known: it names the driver, and lets
        /// replay notice a handler probe the kernel skipped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handler_name: Option<Name>,
        /// The threaded handler that runs next (`fn [module]`), when the action
        /// has one: with the kernel's default primary handler, the driver's own
        /// code is here (1.2).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<Name>,
    },
    /// An interrupt handler returned.
    IrqHandlerExit {
        /// IRQ number.
        irq: u32,
        /// Address of the handler function (0 when it could not be read).
        #[serde(default)]
        handler: Hex,
        /// The handler function's name, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handler_name: Option<Name>,
        /// Whether the handler claimed the interrupt (`IRQ_HANDLED` bit set).
        handled: bool,
    },
    /// A work item started on a workqueue worker.
    WorkStart {
        /// Address of the `struct work_struct`.
        work: Hex,
        /// Address of the work function (0 when it could not be read).
        function: Hex,
        /// The work function's symbol, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        symbol: Option<Name>,
    },
    /// A work item finished.
    WorkEnd {
        /// Address of the `struct work_struct`.
        work: Hex,
        /// Address of the work function.
        function: Hex,
        /// The work function's symbol, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        symbol: Option<Name>,
    },
    /// An ALSA ioctl entered the kernel.
    IoctlEnter {
        /// File descriptor.
        fd: u32,
        /// The raw command number.
        cmd: Hex,
        /// The command's SNDRV_* name, or its `_IOx(...)` form when unknown.
        cmd_name: Name,
        /// The ioctl's argument.
        arg: Hex,
        /// The device file's number, when it could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dev: Option<DevNum>,
    },
    /// An ALSA ioctl returned.
    IoctlExit {
        /// File descriptor.
        fd: u32,
        /// The raw command number.
        cmd: Hex,
        /// The command's SNDRV_* name, or its `_IOx(...)` form when unknown.
        cmd_name: Name,
        /// Return value: 0 or positive on success, a negative errno on failure.
        ret: i64,
        /// The device file's number, when it could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dev: Option<DevNum>,
    },
    /// The kernel faulted on a kernel address: usually an access to memory that is
    /// no longer mapped, such as a BAR after iounmap.
    PageFault {
        /// The address that faulted.
        address: Hex,
        /// The faulting instruction.
        ip: Hex,
        /// The function holding the faulting instruction, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        function: Option<Name>,
        /// Whether the access was a write.
        write: bool,
        /// The kernel stack, innermost frame first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stack: Vec<Name>,
    },
    /// One of a driver's own tracepoints fired (the probe names which).
    Tracepoint {
        /// Its raw arguments, as many as the tracepoint has.
        args: Vec<Hex>,
        /// The controller's MMIO base, read through the first argument.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<Hex>,
    },
    /// sysfs showed a watched device differently from before (1.2): it came or
    /// went, or its BARs moved. Written by barwatch itself (probe
    /// [`SYSFS_PROBE`]) with the time of the event that made it read sysfs, so a
    /// replay knows each device's BARs when judging a mapping.
    DeviceState {
        /// Whether the device is in sysfs.
        present: bool,
        /// The bound driver, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        driver: Option<String>,
        /// Its memory BARs.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bars: Vec<BarRange>,
    },
    /// A kernel module was loaded.
    ModuleLoad {
        /// The module's name.
        module: String,
    },
    /// A probed kernel function was entered.
    FuncEntry {
        /// The function's name.
        function: Name,
        /// The module the function is in; absent for vmlinux.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<Name>,
        /// The function's address.
        ip: Hex,
        /// Its first four arguments, raw.
        args: [Hex; 4],
        /// The device's MMIO base the function is about to touch, read through the
        /// profile's base path (accessors only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<Hex>,
        /// The kernel stack, innermost frame first, when the profile asks for one.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stack: Vec<Name>,
    },
    /// A probed kernel function returned.
    FuncExit {
        /// The function's name.
        function: Name,
        /// The module the function is in; absent for vmlinux.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<Name>,
        /// The function's address.
        ip: Hex,
        /// Its return value, raw.
        ret: Hex,
        /// The kernel stack, innermost frame first, when the profile asks for one.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stack: Vec<Name>,
    },
}

impl EventData {
    /// The module of a work item's function, from its symbol (`fn [module]`): a
    /// work item names no device, but its module may be a device's driver.
    pub fn work_module(&self) -> Option<&str> {
        let (EventData::WorkStart {
            symbol: Some(symbol),
            ..
        }
        | EventData::WorkEnd {
            symbol: Some(symbol),
            ..
        }) = self
        else {
            return None;
        };
        symbol
            .rsplit_once(" [")
            .and_then(|(_, module)| module.strip_suffix(']'))
    }

    /// The `kind` tag as written in captures, for counting and filtering.
    pub fn kind(&self) -> &'static str {
        match self {
            EventData::IrqHandlerEntry { .. } => "irq_handler_entry",
            EventData::IrqHandlerExit { .. } => "irq_handler_exit",
            EventData::WorkStart { .. } => "work_start",
            EventData::WorkEnd { .. } => "work_end",
            EventData::IoctlEnter { .. } => "ioctl_enter",
            EventData::IoctlExit { .. } => "ioctl_exit",
            EventData::ModuleLoad { .. } => "module_load",
            EventData::DeviceState { .. } => "device_state",
            EventData::PageFault { .. } => "page_fault",
            EventData::Tracepoint { .. } => "tracepoint",
            EventData::FuncEntry { .. } => "func_entry",
            EventData::FuncExit { .. } => "func_exit",
        }
    }
}

impl fmt::Display for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventData::IrqHandlerEntry {
                irq,
                handler_name,
                thread,
                ..
            } => {
                write!(f, "irq {irq} {} entry", handler_or_generic(handler_name))?;
                match thread {
                    Some(thread) => write!(f, " (thread {thread})"),
                    None => Ok(()),
                }
            }
            EventData::IrqHandlerExit {
                irq,
                handler_name,
                handled,
                ..
            } => {
                let verdict = if *handled { "handled" } else { "not handled" };
                let handler = handler_or_generic(handler_name);
                write!(f, "irq {irq} {handler} exit ({verdict})")
            }
            EventData::WorkStart {
                function, symbol, ..
            } => write!(f, "work start {}", symbol_or_addr(symbol, *function)),
            EventData::WorkEnd {
                function, symbol, ..
            } => write!(f, "work end {}", symbol_or_addr(symbol, *function)),
            EventData::IoctlEnter { fd, cmd_name, .. } => write!(f, "ioctl({fd}, {cmd_name})"),
            EventData::IoctlExit {
                fd, cmd_name, ret, ..
            } => write!(f, "ioctl({fd}, {cmd_name}) = {ret}"),
            EventData::ModuleLoad { module } => write!(f, "module {module} loaded"),
            EventData::DeviceState {
                present,
                driver,
                bars,
            } => {
                if !present {
                    return f.write_str("device gone from sysfs");
                }
                let bars: Vec<String> = bars.iter().map(BarRange::to_string).collect();
                let driver = driver.as_deref().unwrap_or("no driver");
                write!(f, "device in sysfs ({driver}), BARs [{}]", bars.join(", "))
            }
            EventData::Tracepoint { args, .. } => {
                let args: Vec<String> = args.iter().map(Hex::to_string).collect();
                write!(f, "tracepoint ({})", args.join(", "))
            }
            EventData::PageFault {
                address,
                function,
                write,
                ..
            } => {
                let access = if *write { "write" } else { "read" };
                let at = function.as_deref().unwrap_or("?");
                write!(f, "page fault: {access} of {address} at {at}")
            }
            EventData::FuncEntry { function, args, .. } => {
                write!(
                    f,
                    "{function}({}, {}, {}, {})",
                    args[0], args[1], args[2], args[3]
                )
            }
            EventData::FuncExit { function, ret, .. } => write!(f, "{function}() = {ret}"),
        }
    }
}

/// A symbol name when known, else the address in hex.
/// The handler's name when known, else the word "handler".
fn handler_or_generic(name: &Option<Name>) -> &str {
    name.as_deref().unwrap_or("handler")
}

fn symbol_or_addr(symbol: &Option<Name>, addr: Hex) -> String {
    symbol
        .as_ref()
        .map_or_else(|| addr.to_string(), Name::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_through_json_as_a_string() {
        let addr = Hex(0xffff_ffff_c0a1_2345);
        let json = serde_json::to_string(&addr).unwrap();
        assert_eq!(json, "\"0xffffffffc0a12345\"");
        assert_eq!(serde_json::from_str::<Hex>(&json).unwrap(), addr);
        assert!(serde_json::from_str::<Hex>("\"12\"").is_err());
        assert!(serde_json::from_str::<Hex>("\"0xzz\"").is_err());
    }

    #[test]
    fn event_json_is_flat_with_a_kind_tag() {
        let event = Event {
            ts_ns: 5,
            cpu: 1,
            pid: 10,
            tid: 11,
            comm: "aplay".into(),
            probe: "syscalls:sys_enter_ioctl".into(),
            device: None,
            data: EventData::IoctlEnter {
                fd: 3,
                cmd: Hex(0x8120_4101),
                cmd_name: "SNDRV_PCM_IOCTL_INFO".into(),
                arg: Hex(0x7ffd_0000),
                dev: Some(DevNum {
                    major: 116,
                    minor: 3,
                }),
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "ioctl_enter");
        assert_eq!(json["cmd_name"], "SNDRV_PCM_IOCTL_INFO");
        assert_eq!(json["dev"], "116:3");
        assert_eq!(json["cmd"], "0x81204101");
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.data.to_string(), "ioctl(3, SNDRV_PCM_IOCTL_INFO)");
    }
}
