//! window-budget: a quiesce or unmap window lasted longer than its budget.

use std::time::Duration;

use super::{Context, Rule, Violation};
use crate::time::human_duration;
use crate::{probe_table::Role, timeline::Window};

/// The rule.
pub struct WindowBudget;

impl Rule for WindowBudget {
    fn id(&self) -> &'static str {
        "window-budget"
    }

    fn meaning(&self) -> &'static str {
        "quiesce and unmap windows end within their budgets"
    }

    fn blind(&self, ctx: &Context) -> Option<String> {
        if ctx.config.quiesce_budget.is_none() && ctx.config.unmap_budget.is_none() {
            return Some("no budget set (give one in the expectations file)".to_owned());
        }
        ctx.blind(&[Role::Mapping])
    }

    fn violations(&self, ctx: &Context) -> Vec<Violation> {
        let mut found = Vec::new();
        for (timeline, cycle) in ctx.cycles() {
            let windows: [(&str, Option<Window>, Option<Duration>); 2] = [
                ("quiesce", cycle.quiesce_window(), ctx.config.quiesce_budget),
                ("unmap", cycle.unmap_window(), ctx.config.unmap_budget),
            ];
            for (name, window, budget) in windows {
                let (Some(window), Some(budget)) = (window, budget) else {
                    continue;
                };
                let length = window.length_ns(ctx.end_ns);
                if u128::from(length) <= budget.as_nanos() {
                    continue;
                }
                let Some(start) = cycle.steps.iter().find(|m| m.ts_ns == window.start_ns) else {
                    continue;
                };
                let event = &ctx.events[start.event];
                let mut v = Violation::by("window-budget", &timeline.bdf, Some(cycle), event);
                let still = if window.end_ns.is_none() {
                    " and still open"
                } else {
                    ""
                };
                v.what = format!(
                    "the {name} window from {} lasted {}{still}, over its budget of {}",
                    start.what,
                    human_duration(length),
                    human_duration(budget.as_nanos() as u64)
                );
                v.advice = format!(
                    "Find what the {name} window waits on between its first and last step (the timeline lists them) and bound it, or raise the budget if the wait is expected."
                );
                found.push(v);
            }
        }
        found
    }

    fn gaps(&self, ctx: &Context) -> Option<String> {
        ctx.gaps(&[Role::Mapping, Role::QuiesceMarker, Role::PciLifecycle])
    }

    /// Pins nothing. Reads only cycles, which the timelines keep.
    fn pins(&self, _ctx: &Context, _keep: &mut [bool]) {}
}
