//! leaked-mapping: a device was removed, or its driver unbound, while a mapping
//! of its BARs was never unmapped.
//!
//! The mapping outlives the device: its virtual range still points at a BAR
//! the PCI core may hand to another device (or that is gone with the slot), and
//! nothing will unmap it. A device whose timeline ends removed or unbound with no
//! mapping of it known and no unmap seen cannot be judged: incomplete.

use super::{Context, Rule, Violation};
use crate::{
    event::{EventData, Hex},
    probe_table::Role,
    timeline::{CycleEnd, DeviceTimeline, State, mappings::MappingLife},
};

/// The rule.
pub struct LeakedMapping;

impl Rule for LeakedMapping {
    fn id(&self) -> &'static str {
        "leaked-mapping"
    }

    fn meaning(&self) -> &'static str {
        "a device removed or unbound has every mapping of its BARs unmapped first"
    }

    fn blind(&self, ctx: &Context) -> Option<String> {
        ctx.blind(&[Role::Mapping])
    }

    fn violations(&self, ctx: &Context) -> Vec<Violation> {
        let mut found = Vec::new();
        for timeline in &ctx.timelines.devices {
            let Some(left) = timeline.left.as_ref().filter(|_| gone(timeline)) else {
                continue;
            };
            for life in leaked(ctx, timeline, left.ts_ns) {
                let cycle = timeline
                    .cycles
                    .last()
                    .filter(|c| matches!(c.end, CycleEnd::Removed | CycleEnd::Unbound));
                let mut v = Violation::by(self.id(), &timeline.bdf, cycle, &ctx.events[left.event]);
                // The thread that let the device go, when a step shows it.
                if let Some(step) = cycle.and_then(|c| c.steps.last()) {
                    let by = &ctx.events[step.event];
                    (v.pid, v.tid, v.comm) = (by.pid, by.tid, by.comm.clone());
                    v.events.push(by.clone());
                }
                let how = if timeline.state == State::Unbound {
                    "its driver was unbound"
                } else {
                    "the device was removed"
                };
                v.what = format!(
                    "{} still mapped when {how} ({}): no iounmap of it was seen",
                    describe(life),
                    left.what
                );
                v.advice = "Unmap every mapping of the device's BARs in the driver's remove (iounmap / pci_iounmap, or map with pcim_iomap* so devres unmaps it on detach), after the device is quiesced.".to_owned();
                if let Some(mapper) = life.map_call.map(|i| &ctx.events[i]) {
                    if let EventData::FuncEntry { stack, .. } = &mapper.data {
                        v.stack = stack.clone();
                    }
                    v.events.push(mapper.clone());
                }
                found.push(v);
            }
        }
        found
    }

    fn gaps(&self, ctx: &Context) -> Option<String> {
        let unknown: Vec<String> = ctx
            .timelines
            .devices
            .iter()
            .filter(|t| gone(t) && t.left.is_some())
            .filter(|t| {
                let ever_mapped = ctx
                    .timelines
                    .mappings
                    .lives()
                    .iter()
                    .any(|l| l.device.as_deref() == Some(t.bdf.as_str()));
                !ever_mapped && t.driver.is_some()
            })
            .map(|t| {
                format!(
                    "{} went away with no mapping of its BARs seen: whether one leaked is unknown",
                    t.bdf
                )
            })
            .collect();
        if unknown.is_empty() {
            ctx.gaps(&[Role::Mapping, Role::PciLifecycle])
        } else {
            Some(unknown.join("; "))
        }
    }

    /// Pins nothing. Reads only mappings and the device's lifecycle, which the timelines keep.
    fn pins(&self, _ctx: &Context, _keep: &mut [bool]) {}
}

/// Whether the device's timeline ends with it gone or without its driver.
fn gone(timeline: &DeviceTimeline) -> bool {
    matches!(timeline.state, State::Removed | State::Unbound)
}

/// The device's mappings made before `left_ns` that were never unmapped.
fn leaked<'a>(
    ctx: &'a Context,
    timeline: &'a DeviceTimeline,
    left_ns: u64,
) -> impl Iterator<Item = &'a MappingLife> {
    ctx.timelines.mappings.lives().iter().filter(move |l| {
        l.device.as_deref() == Some(timeline.bdf.as_str())
            && l.unmapped_ns.is_none()
            && l.mapped_ns.is_none_or(|t| t <= left_ns)
    })
}

/// A mapping in words: its range and the physical address behind it.
fn describe(life: &MappingLife) -> String {
    let end = Hex(life.virt.0.saturating_add(life.size).saturating_sub(1));
    match life.phys {
        Some(phys) => format!("mapping {}-{end} of {phys}", life.virt),
        None => format!("mapping {}-{end}", life.virt),
    }
}
