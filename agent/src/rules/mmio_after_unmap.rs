//! mmio-after-unmap: an MMIO accessor ran with a base address that is unmapped, or
//! a kernel page fault hit an unmapped MMIO range.

use super::{Context, Rule, Violation, stop_the_path};
use crate::time::human_duration;
use crate::{
    event::{Event, EventData, Name},
    probe_table::Role,
    spill::Kept,
    timeline::mappings::MappingLife,
};

/// The rule.
pub struct MmioAfterUnmap;

impl Rule for MmioAfterUnmap {
    fn id(&self) -> &'static str {
        "mmio-after-unmap"
    }

    fn meaning(&self) -> &'static str {
        "no MMIO accessor runs, and no kernel page fault hits, a BAR mapping after its iounmap"
    }

    fn blind(&self, ctx: &Context) -> Option<String> {
        if let Some(reason) = ctx
            .blind(&[Role::Mapping])
            .or_else(|| ctx.blind_during_a_cycle(&[Role::MmioAccessor, Role::PageFault]))
        {
            return Some(reason);
        }
        (!ctx.probes.sees_role(Role::MmioAccessor) && !ctx.probes.sees_role(Role::PageFault))
            .then(|| "no attached MMIO accessor or page-fault probe".to_owned())
    }

    fn violations(&self, ctx: &Context) -> Vec<Violation> {
        ctx.events
            .iter()
            .filter_map(|event| {
                let (addr, access) = touched(event)?;
                let life = ctx.timelines.mappings.unmapped_at(addr, event.ts_ns)?;
                let device = event.device.clone().or_else(|| life.device.clone())?;
                Some(violation(ctx, event, &device, life, addr, &access))
            })
            .collect()
    }

    fn gaps(&self, ctx: &Context) -> Option<String> {
        ctx.gaps(&[Role::Mapping, Role::MmioAccessor, Role::PageFault])
            .or_else(|| skipped_in_unmap_windows(ctx))
    }

    /// Pins nothing. An access before the horizon is judged for good: the mappings it is
    /// held against are built from events the timelines keep.
    fn pins(&self, _ctx: &Context, _keep: &mut [bool]) {}
}

/// How an event touched an address, written out only for a violation: most
/// accesses are to live mappings.
enum Access<'a> {
    /// An accessor function's call with the base it used.
    Call(&'a str),
    /// A tracepoint with a base, by probe.
    Tracepoint(&'a str),
    /// A kernel page fault: a write or a read, in the function when known.
    Fault { write: bool, at: Option<&'a str> },
}

impl std::fmt::Display for Access<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::Call(function) => write!(f, "{function} used"),
            Access::Tracepoint(probe) => write!(f, "tracepoint {probe} used"),
            Access::Fault { write, at } => {
                let access = if *write { "write" } else { "read" };
                let at = at.unwrap_or("an unknown function");
                write!(f, "a kernel {access} in {at} faulted on")
            }
        }
    }
}

/// The address an event touched and how, for accessors with a base and faults.
fn touched(event: &Event) -> Option<(u64, Access<'_>)> {
    match &event.data {
        EventData::FuncEntry {
            function,
            base: Some(base),
            ..
        } => Some((base.0, Access::Call(function))),
        EventData::Tracepoint {
            base: Some(base), ..
        } => Some((base.0, Access::Tracepoint(&event.probe))),
        EventData::PageFault {
            address,
            function,
            write,
            ..
        } => Some((
            address.0,
            Access::Fault {
                write: *write,
                at: function.as_deref(),
            },
        )),
        _ => None,
    }
}

fn violation(
    ctx: &Context,
    event: &Event,
    device: &str,
    life: &MappingLife,
    addr: u64,
    access: &Access,
) -> Violation {
    let timeline = ctx.timelines.device(device);
    let cycle = timeline.and_then(|t| t.cycle_at(event.ts_ns));
    let mut v = Violation::by("mmio-after-unmap", device, cycle, event);
    v.stack = stack_of(ctx, event);
    let since = life
        .unmapped_ns
        .map(|t| format!("{} after its iounmap", human_duration(event.ts_ns - t)))
        .unwrap_or_default();
    let phys = life.phys.map(|p| format!(" of {p}")).unwrap_or_default();
    v.what = format!(
        "{access} {addr:#x} in the unmapped mapping {}{phys}, {since} (pid {} {})",
        life.virt, event.pid, event.comm
    );
    v.advice = format!(
        "The path in the stack touched the device with its BAR unmapped: {}.",
        stop_the_path(&v.stack, &event.comm)
    );
    match life.unmap_event.as_ref().map(Kept::get) {
        Some(Ok(unmap)) => v.events.push(unmap.into_owned()),
        Some(Err(e)) => log::warn!("the evidence of {} lacks its iounmap: {e}", v.rule),
        None => {}
    }
    v
}

/// The event's own stack, or that of the page fault it caused on the same thread
/// right after (an accessor's probe takes a stack only when its base is unmapped
/// as the kernel knows it).
fn stack_of(ctx: &Context, event: &Event) -> Vec<Name> {
    let own = match &event.data {
        EventData::FuncEntry { stack, .. } | EventData::PageFault { stack, .. } => stack.clone(),
        _ => Vec::new(),
    };
    if !own.is_empty() {
        return own;
    }
    let from = ctx.events.partition_point(|e| e.ts_ns < event.ts_ns);
    ctx.events[from..]
        .iter()
        .take_while(|e| e.ts_ns <= event.ts_ns.saturating_add(10_000_000))
        .filter(|e| e.tid == event.tid)
        .find_map(|e| match &e.data {
            EventData::PageFault { stack, .. } if !stack.is_empty() => Some(stack.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Interrupt handler calls the kernel hid from their probes inside an unmap
/// window: an accessor call there could not be seen.
fn skipped_in_unmap_windows(ctx: &Context) -> Option<String> {
    let judged: Vec<_> = ctx
        .timelines
        .devices
        .iter()
        .filter(|d| ctx.config.judges(&d.bdf))
        .collect();
    let hidden = ctx
        .skipped
        .iter()
        .filter(|s| judged.iter().any(|d| ctx.in_unmap_window(d, s.start_ns)))
        .count();
    (hidden > 0).then(|| {
        format!("{hidden} interrupt handler calls in an unmap window ran unseen (their kprobe was skipped by the kernel)")
    })
}
