//! work-in-window: the driver's work ran inside the unmap window.
//!
//! A work item is the driver's when its function is in the driver's module. The
//! work that maps the BAR again (a probe deferred to a worker, like
//! `azx_probe_work`) belongs to the new binding and is not a violation.

use super::{CANCEL_THE_WORK, Context, Rule, Violation};
use crate::time::human_duration;
use crate::{
    event::{Event, EventData, Name},
    probe_table::Role,
};

/// The rule.
pub struct WorkInWindow;

impl Rule for WorkInWindow {
    fn id(&self) -> &'static str {
        "work-in-window"
    }

    fn meaning(&self) -> &'static str {
        "none of the driver's work items runs while the device's BAR is unmapped"
    }

    fn blind(&self, ctx: &Context) -> Option<String> {
        ctx.blind(&[Role::Mapping, Role::Work])
    }

    fn violations(&self, ctx: &Context) -> Vec<Violation> {
        let mut found = Vec::new();
        for work in ctx.intervals.works.all() {
            let (index, end) = (work.open, work.close.map(|i| ctx.events[i].ts_ns));
            let event = &ctx.events[index];
            let Some(module) = event.data.work_module() else {
                continue;
            };
            for timeline in &ctx.timelines.devices {
                if !timeline.drives(module) {
                    continue;
                }
                let Some((cycle, unmap)) = timeline.unmapped_at(event.ts_ns) else {
                    continue;
                };
                let remaps_here = cycle.remap.as_ref().is_some_and(|r| {
                    r.tid == event.tid && r.ts_ns >= event.ts_ns && end.is_none_or(|e| r.ts_ns <= e)
                });
                if remaps_here {
                    continue;
                }
                let name = work_name(event);
                let mut v = Violation::by("work-in-window", &timeline.bdf, Some(cycle), event);
                v.what = format!(
                    "work {name} started on {} {} after {}",
                    event.comm,
                    human_duration(event.ts_ns - unmap.ts_ns),
                    unmap.what
                );
                v.advice = format!("The driver's work outlived the mapping: {CANCEL_THE_WORK}.");
                v.events.push(ctx.events[unmap.event].clone());
                found.push(v);
            }
        }
        found
    }

    fn gaps(&self, ctx: &Context) -> Option<String> {
        ctx.gaps(&[Role::Mapping, Role::Work])
    }

    /// A work item still running at the horizon: whether it maps the BAR again
    /// before it ends (and is then no violation) is not known yet.
    fn pins(&self, ctx: &Context, keep: &mut [bool]) {
        for (_, work) in ctx.intervals.works.open_at(keep.len()) {
            keep[work.open] = true;
        }
    }
}

fn work_name(event: &Event) -> String {
    match &event.data {
        EventData::WorkStart {
            symbol, function, ..
        } => symbol
            .as_ref()
            .map_or_else(|| function.to_string(), Name::to_string),
        _ => String::new(),
    }
}
