//! stale-remap: the driver mapped a physical address that is not the device's
//! current BAR.

use super::{Context, Rule, Violation};
use crate::{
    event::{BarRange, EventData},
    probe_table::Role,
};

/// The rule.
pub struct StaleRemap;

impl Rule for StaleRemap {
    fn id(&self) -> &'static str {
        "stale-remap"
    }

    fn meaning(&self) -> &'static str {
        "after a cycle the driver maps the device's BARs where they are now, not where they were"
    }

    fn blind(&self, ctx: &Context) -> Option<String> {
        ctx.blind_to(&[], &["kprobe:ioremap", "kretprobe:ioremap"])
    }

    fn violations(&self, ctx: &Context) -> Vec<Violation> {
        let mut found = Vec::new();
        for (timeline, cycle) in ctx.cycles() {
            // The BARs as sysfs showed them by the end of the cycle: the rescan
            // that moved them happens before the probe that maps them.
            let judged_at = cycle.active.as_ref().map(|m| m.ts_ns).unwrap_or(ctx.end_ns);
            let bars = timeline.bars_at(judged_at);
            if bars.is_empty() {
                continue;
            }
            for &life in &cycle.remapped {
                let life = ctx.timelines.mappings.get(life);
                let Some(phys) = life.phys else { continue };
                if bars.iter().any(|b| b.contains(phys.0)) {
                    continue;
                }
                let Some(exit) = life.mapped.map(|i| &ctx.events[i]) else {
                    continue;
                };
                let entry = life.map_call.map(|i| &ctx.events[i]);
                let cause = entry.unwrap_or(exit);
                let mut v = Violation::by("stale-remap", &timeline.bdf, Some(cycle), cause);
                let now: Vec<String> = bars.iter().map(BarRange::to_string).collect();
                let before: Vec<String> = timeline
                    .bars
                    .iter()
                    .flat_map(|(_, b)| b.iter())
                    .filter(|b| b.contains(phys.0))
                    .map(BarRange::to_string)
                    .collect();
                let was = if before.is_empty() {
                    String::new()
                } else {
                    format!(" (where BAR {} was before)", before[0])
                };
                v.what = format!(
                    "mapped {phys}{was} at {}, but the device's BARs are now [{}]",
                    life.virt,
                    now.join(", ")
                );
                v.advice = "Read the BAR's address with pci_resource_start() in every probe (and after a movable-BARs rescan) instead of reusing one saved before the device moved.".to_owned();
                if let EventData::FuncEntry { stack, .. } = &cause.data {
                    v.stack = stack.clone();
                }
                if entry.is_some() {
                    v.events.push(exit.clone());
                }
                found.push(v);
            }
        }
        found
    }

    fn gaps(&self, ctx: &Context) -> Option<String> {
        ctx.gaps(&[Role::Mapping])
    }

    /// Pins nothing. Reads only mappings and cycles, which the timelines keep.
    fn pins(&self, _ctx: &Context, _keep: &mut [bool]) {}
}
