//! Ring-buffer records as the BPF programs write them, rebuilt from the events
//! of a real capture: the decoder's seed corpus.
//!
//! The bytes are laid out field by field, little-endian, in the order of the
//! `#[repr(C)]` structs of `barwatch-abi` (which have no padding), so the
//! corpus needs no unsafe code; the tests decode every kind back.

use barwatch::{
    decode::tracepoint_probe_name,
    event::{Event, EventData, Hex, Name},
};
use barwatch_abi::{COMM_LEN, MODULE_NAME_LEN, NO_STACK, kind, probe_id, record_size};

/// The stack id given to an event that carried a kernel stack.
const SOME_STACK: i64 = 3;

/// Little-endian bytes of a record, field by field.
#[derive(Default)]
struct Fields(Vec<u8>);

impl Fields {
    fn u32(mut self, value: u32) -> Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    fn u64(mut self, value: u64) -> Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    fn i64(mut self, value: i64) -> Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// `text` NUL-padded (and cut, keeping a final NUL) to `N` bytes.
    fn text<const N: usize>(mut self, text: &str) -> Self {
        let mut bytes = [0u8; N];
        let len = text.len().min(N - 1);
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        self.0.extend_from_slice(&bytes);
        self
    }
}

/// The kernel's `dev_t` of a `MAJOR:MINOR`, 0 when unknown.
fn kernel_dev(dev: Option<barwatch::event::DevNum>) -> u32 {
    dev.map_or(0, |d| (d.major << 20) | (d.minor & 0xf_ffff))
}

/// The tracepoint probe id whose catalogue name is `probe`.
fn tracepoint_id(probe: &str) -> Option<u32> {
    (0..probe_id::COUNT).find(|&id| tracepoint_probe_name(id).as_deref() == Some(probe))
}

/// The stack id an event with `stack` came with.
fn stack_id(stack: &[Name]) -> i64 {
    if stack.is_empty() {
        NO_STACK
    } else {
        SOME_STACK
    }
}

/// The record kind, probe id and payload fields of an event that the BPF side
/// writes, or `None` for what the agent adds itself (sysfs device states) and
/// for ioctls the file operations' probes carried (see [`encode`]).
fn payload(event: &Event) -> Option<(u32, u32, Fields)> {
    let f = Fields::default();
    let tracepoint = || tracepoint_id(&event.probe);
    Some(match &event.data {
        EventData::IrqHandlerEntry { irq, handler, .. } => (
            kind::IRQ_HANDLER_ENTRY,
            tracepoint()?,
            f.u32(*irq).u32(0).u64(handler.0).u64(0),
        ),
        EventData::IrqHandlerExit {
            irq,
            handler,
            handled,
            ..
        } => (
            kind::IRQ_HANDLER_EXIT,
            tracepoint()?,
            f.u32(*irq).u32(u32::from(*handled)).u64(handler.0).u64(0),
        ),
        EventData::WorkStart { work, function, .. } => (
            kind::WORK_EXECUTE_START,
            tracepoint()?,
            f.u64(work.0).u64(function.0),
        ),
        EventData::WorkEnd { work, function, .. } => (
            kind::WORK_EXECUTE_END,
            tracepoint()?,
            f.u64(work.0).u64(function.0),
        ),
        EventData::IoctlEnter {
            fd, cmd, arg, dev, ..
        } => (
            kind::IOCTL_ENTER,
            tracepoint()?,
            f.u32(*fd)
                .u32(cmd.0 as u32)
                .u64(arg.0)
                .i64(0)
                .u32(kernel_dev(*dev))
                .u32(0)
                .u64(0),
        ),
        EventData::IoctlExit {
            fd, cmd, ret, dev, ..
        } => (
            kind::IOCTL_EXIT,
            tracepoint()?,
            f.u32(*fd)
                .u32(cmd.0 as u32)
                .u64(0)
                .i64(*ret)
                .u32(kernel_dev(*dev))
                .u32(0)
                .u64(0),
        ),
        EventData::PageFault {
            address,
            ip,
            write,
            stack,
            ..
        } => (
            kind::PAGE_FAULT_KERNEL,
            tracepoint()?,
            f.u64(address.0)
                .u64(ip.0)
                .u64(if *write { 1 << 1 } else { 0 })
                .i64(stack_id(stack)),
        ),
        EventData::Tracepoint { args, base } => {
            let arg = |i: usize| args.get(i).map_or(0, |a: &Hex| a.0);
            (
                kind::TRACEPOINT,
                tracepoint()?,
                f.u64(arg(0))
                    .u64(arg(1))
                    .u64(arg(2))
                    .u64(arg(3))
                    .u64(base.map_or(0, |b| b.0)),
            )
        }
        EventData::ModuleLoad { module } => (
            kind::MODULE_LOAD,
            tracepoint()?,
            f.text::<MODULE_NAME_LEN>(module),
        ),
        EventData::FuncEntry {
            ip,
            args,
            base,
            stack,
            ..
        } => (
            kind::FUNC_ENTRY,
            probe_id::FUNC_ENTRY,
            f.u64(ip.0)
                .u64(args[0].0)
                .u64(args[1].0)
                .u64(args[2].0)
                .u64(args[3].0)
                .u64(0)
                .u64(base.map_or(0, |b| b.0))
                .i64(stack_id(stack)),
        ),
        EventData::FuncExit { ip, ret, stack, .. } => (
            kind::FUNC_EXIT,
            probe_id::FUNC_EXIT,
            f.u64(ip.0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(0)
                .u64(ret.0)
                .u64(0)
                .i64(stack_id(stack)),
        ),
        EventData::DeviceState { .. } => return None,
    })
}

/// The ring-buffer record the BPF side wrote for `event`, or `None` for an
/// event the agent makes itself and for an ioctl an ALSA file operation's
/// probe recorded (its event keeps the function's name, not its address).
pub fn encode(event: &Event) -> Option<Vec<u8>> {
    let (kind, probe, payload) = payload(event)?;
    let len = record_size(kind)?;
    let mut bytes = Fields::default()
        .u32(kind)
        .u32(len as u32)
        .u64(event.ts_ns)
        .u32(event.cpu)
        .u32(event.pid)
        .u32(event.tid)
        .u32(probe)
        .text::<COMM_LEN>(&event.comm)
        .0;
    bytes.extend_from_slice(&payload.0);
    (bytes.len() == len).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use barwatch::{
        decode::{NoSymbols, parse, to_event},
        event::DevNum,
    };

    use super::*;

    fn event(probe: &str, data: EventData) -> Event {
        Event {
            ts_ns: 23_816_456_641,
            cpu: 1,
            pid: 412,
            tid: 413,
            comm: "aplay".into(),
            probe: probe.into(),
            device: None,
            data,
        }
    }

    #[test]
    fn an_encoded_ioctl_decodes_to_the_same_event() {
        let original = event(
            "syscalls:sys_enter_ioctl",
            EventData::IoctlEnter {
                fd: 4,
                cmd: Hex(0xc084_4110),
                cmd_name: barwatch::ioctl::describe(0xc084_4110).into(),
                arg: Hex(0x7ffd_1234),
                dev: Some(DevNum {
                    major: 116,
                    minor: 3,
                }),
            },
        );
        let bytes = encode(&original).expect("an ioctl is a BPF record");
        assert_eq!(to_event(&parse(&bytes).unwrap(), &NoSymbols), original);
    }

    #[test]
    fn an_encoded_function_entry_keeps_its_arguments_and_base() {
        let original = event(
            "kprobe:0xffffffffc0a01234",
            EventData::FuncEntry {
                function: "0xffffffffc0a01234".into(),
                module: None,
                ip: Hex(0xffff_ffff_c0a0_1234),
                args: [Hex(1), Hex(2), Hex(3), Hex(4)],
                base: Some(Hex(0xffff_b000_0000_0000)),
                stack: Vec::new(),
            },
        );
        let bytes = encode(&original).unwrap();
        assert_eq!(to_event(&parse(&bytes).unwrap(), &NoSymbols), original);
    }

    #[test]
    fn a_sysfs_state_is_no_record() {
        let state = event(
            barwatch::event::SYSFS_PROBE,
            EventData::DeviceState {
                present: false,
                driver: None,
                bars: Vec::new(),
            },
        );
        assert_eq!(encode(&state), None);
    }
}
