//! unbalanced: stop without restart, unmap without remap, prepare without done.
//!
//! Steps out of order inside a cycle fail the rule. A cycle still open when the
//! capture ended is incomplete: it may close after the capture.

use super::{Context, Rule, Violation};
use crate::time::human_duration;
use crate::{
    probe_table::Role,
    timeline::{CycleEnd, State},
};

/// The rule.
pub struct Unbalanced;

impl Rule for Unbalanced {
    fn id(&self) -> &'static str {
        "unbalanced"
    }

    fn meaning(&self) -> &'static str {
        "every stop is followed by a restart, every unmap by a remap, every prepare by a done"
    }

    fn blind(&self, ctx: &Context) -> Option<String> {
        ctx.blind(&[Role::Mapping])
    }

    fn violations(&self, ctx: &Context) -> Vec<Violation> {
        let mut found = Vec::new();
        for (timeline, cycle) in ctx.cycles() {
            for anomaly in &cycle.anomalies {
                let event = &ctx.events[anomaly.at.event];
                let mut v = Violation::by("unbalanced", &timeline.bdf, Some(cycle), event);
                v.what = format!("{}: {}", anomaly.at.what, anomaly.problem);
                v.advice = "Pair every quiesce step with its undo in the same order: stop, unmap, then map the current BAR and restart.".to_owned();
                found.push(v);
            }
        }
        found
    }

    fn gaps(&self, ctx: &Context) -> Option<String> {
        let open: Vec<String> = ctx
            .cycles()
            .filter(|(_, c)| c.end == CycleEnd::Open)
            .map(|(t, c)| {
                let age = c
                    .steps
                    .first()
                    .map(|m| human_duration(ctx.end_ns.saturating_sub(m.ts_ns)))
                    .unwrap_or_default();
                let state = if t.state == State::Active {
                    State::Quiescing
                } else {
                    t.state
                };
                format!("{} cycle {} open for {age} ({state})", t.bdf, c.number)
            })
            .collect();
        if open.is_empty() {
            ctx.gaps(&[Role::Mapping, Role::QuiesceMarker, Role::PciLifecycle])
        } else {
            Some(open.join("; "))
        }
    }

    /// Pins nothing. Reads only cycles, which the timelines keep.
    fn pins(&self, _ctx: &Context, _keep: &mut [bool]) {}
}
