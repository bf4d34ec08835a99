//! irq-in-window: the device's interrupt handler ran inside the unmap window.

use std::collections::{BTreeMap, BTreeSet};

use super::{Context, Rule, Violation};
use crate::time::human_duration;
use crate::{
    event::{Event, EventData},
    probe_table::Role,
    timeline::Timelines,
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
        let own = own_handlers(ctx.events, ctx.timelines);
        let mut found = Vec::new();
        for event in ctx.events {
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
            let mut name = handler_name.clone().unwrap_or_else(|| handler.to_string());
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
}

/// The handlers each device ran outside its cycles: a vector handed to another
/// device after a remove runs that device's handler, not this one's.
pub(crate) fn own_handlers<'a>(
    events: &'a [Event],
    timelines: &Timelines,
) -> BTreeMap<&'a str, BTreeSet<u64>> {
    let mut own: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for event in events {
        if let (EventData::IrqHandlerEntry { handler, .. }, Some(device)) =
            (&event.data, event.device.as_deref())
            && handler.0 != 0
            && timelines
                .device(device)
                .is_some_and(|t| t.cycle_at(event.ts_ns).is_none())
        {
            own.entry(device).or_default().insert(handler.0);
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
