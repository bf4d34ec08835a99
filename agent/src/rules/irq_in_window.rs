//! irq-in-window: the device's interrupt handler ran inside the unmap window.

use std::collections::{BTreeMap, BTreeSet};

use super::{Context, Rule, Violation};
use crate::time::human_duration;
use crate::{
    event::{Event, EventData, Name},
    probe_table::Role,
};

/// The rule.
pub struct IrqInWindow;

impl Rule for IrqInWindow {
    fn id(&self) -> &'static str {
        "irq-in-window"
    }

    fn meaning(&self) -> &'static str {
        "the device's interrupt handler does not run while its BAR is unmapped"
    }

    fn blind(&self, ctx: &Context) -> Option<String> {
        ctx.blind_to(&[Role::Mapping], &["irq:irq_handler_entry"])
    }

    fn violations(&self, ctx: &Context) -> Vec<Violation> {
        let own = own_handlers(ctx);
        let mut found = Vec::new();
        for run in ctx.intervals.handler_runs.all() {
            let event = &ctx.events[run.open];
            let EventData::IrqHandlerEntry {
                irq,
                handler,
                handler_name,
                thread,
            } = &event.data
            else {
                continue;
            };
            let Some(device) = event.device.as_deref() else {
                continue;
            };
            if runs_anothers_handler(&own, device, handler.0) {
                continue;
            }
            let Some(timeline) = ctx.timelines.device(device) else {
                continue;
            };
            let Some((cycle, unmap)) = timeline.unmapped_at(event.ts_ns) else {
                continue;
            };
            let mut name = handler_name
                .as_ref()
                .map_or_else(|| handler.to_string(), Name::to_string);
            if let Some(thread) = thread {
                name.push_str(&format!(" (thread {thread})"));
            }
            let mut v = Violation::by("irq-in-window", device, Some(cycle), event);
            v.what = format!(
                "IRQ {irq} ran handler {name} {} after {} (CPU {})",
                human_duration(event.ts_ns - unmap.ts_ns),
                unmap.what,
                event.cpu
            );
            v.advice = "Mask the device's interrupt sources and free_irq() (or synchronize_irq()) before the iounmap; an interrupt still pending at the unmap runs the handler on a dead mapping.".to_owned();
            v.events.push(ctx.events[unmap.event].clone());
            found.push(v);
        }
        found
    }

    fn gaps(&self, ctx: &Context) -> Option<String> {
        ctx.gaps(&[Role::Mapping, Role::Irq])
    }

    /// A run in an unmap window of a handler the device is not yet known to run:
    /// a later run outside its cycles may still show it is the device's own. And
    /// each device's first run of each handler outside its cycles, which shows
    /// that handler is its own for good.
    fn pins(&self, ctx: &Context, keep: &mut [bool]) {
        let own = own_handlers(ctx);
        let mut first_own: BTreeSet<(&str, u64)> = BTreeSet::new();
        let cut = keep.len();
        let settled = ctx.intervals.handler_runs.all().iter();
        for run in settled.take_while(|r| r.open < cut) {
            let event = &ctx.events[run.open];
            let Some((device, handler)) = handler_run(event) else {
                continue;
            };
            let in_unmap_window = ctx
                .timelines
                .device(device)
                .is_some_and(|t| t.unmapped_at(event.ts_ns).is_some());
            let known_own = own.get(device).is_some_and(|h| h.contains(&handler));
            let may_change = handler != 0 && in_unmap_window && !known_own;
            let shows_own = runs_outside_cycles(ctx, event) && first_own.insert((device, handler));
            keep[run.open] |= may_change || shows_own;
        }
    }
}

/// The device and handler address of an interrupt handler entry on a device's
/// vector.
fn handler_run(event: &Event) -> Option<(&str, u64)> {
    match (&event.data, event.device.as_deref()) {
        (EventData::IrqHandlerEntry { handler, .. }, Some(device)) => Some((device, handler.0)),
        _ => None,
    }
}

/// Whether `event`, a handler entry, ran a known handler of its device outside
/// the device's cycles.
fn runs_outside_cycles(ctx: &Context, event: &Event) -> bool {
    let Some((device, handler)) = handler_run(event) else {
        return false;
    };
    handler != 0
        && ctx
            .timelines
            .device(device)
            .is_some_and(|t| t.cycle_at(event.ts_ns).is_none())
}

/// The handlers each device ran outside its cycles: a vector handed to another
/// device after a remove runs that device's handler, not this one's.
fn own_handlers<'a>(ctx: &Context<'a>) -> BTreeMap<&'a str, BTreeSet<u64>> {
    let mut own: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for run in ctx.intervals.handler_runs.all() {
        let event = &ctx.events[run.open];
        if let Some((device, handler)) = handler_run(event)
            && runs_outside_cycles(ctx, event)
        {
            own.entry(device).or_default().insert(handler);
        }
    }
    own
}

/// Whether `handler`, run on a vector of `device`, is another device's handler:
/// the device ran others outside its cycles, and not this one.
fn runs_anothers_handler(own: &BTreeMap<&str, BTreeSet<u64>>, device: &str, handler: u64) -> bool {
    own.get(device)
        .is_some_and(|h| handler != 0 && !h.contains(&handler))
}
