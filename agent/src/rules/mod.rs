//! The rules a quiescing driver must keep, each a separate unit with an id, a
//! one-line meaning, a verdict and, on failure, the evidence a driver developer
//! acts on: the events, the process, the kernel stack and a sentence saying what
//! to change.
//!
//! Rules read the analysis [`Context`]: the time-ordered events, the timelines
//! built from them, the intervals paired from them, the probe table and what was
//! lost. They never see aya or the running system, so a replay judges exactly as
//! the live run did. A bounded analysis forgets events it has judged for good;
//! each rule says which of those it still reads ([`Rule::pins`]).

mod ioctl_in_window;
mod irq_in_window;
mod leaked_mapping;
mod mmio_after_unmap;
mod stale_remap;
mod stop_while_streaming;
mod unbalanced;
mod window_budget;
mod work_in_window;

use std::{collections::BTreeMap, fmt, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    capture::{format::BlindSpan, integrity::Damage},
    event::{Event, Name},
    intervals::Intervals,
    probe_table::Role,
    skipped::SkippedHandler,
    time::human_duration,
    timeline::{Cycle, DeviceTimeline, Timelines, probes::ProbeIndex, settled::SettledCycles},
};

/// How much a rule's failure matters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// A failure fails the check.
    #[default]
    Error,
    /// A failure is reported but does not fail the check.
    Warning,
    /// The rule is not evaluated.
    Off,
}

/// How rules are tuned: severities, window budgets and the devices judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleConfig {
    /// The devices judged, by PCI address; empty judges every watched device.
    /// Others' cycles and violations are left out of the verdict.
    pub devices: Vec<String>,
    /// Severity per rule id; rules not listed are errors.
    pub severity: BTreeMap<String, Severity>,
    /// The longest a quiesce window may last.
    pub quiesce_budget: Option<Duration>,
    /// The longest an unmap window may last.
    pub unmap_budget: Option<Duration>,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            devices: Vec::new(),
            severity: BTreeMap::new(),
            quiesce_budget: Some(DEFAULT_QUIESCE_BUDGET),
            unmap_budget: None,
        }
    }
}

/// The quiesce window budget when none is given: a remove that takes longer to
/// stop its device is waiting on something it should not.
pub const DEFAULT_QUIESCE_BUDGET: Duration = Duration::from_secs(2);

impl RuleConfig {
    /// The severity of rule `id`.
    pub fn severity_of(&self, id: &str) -> Severity {
        self.severity.get(id).copied().unwrap_or_default()
    }

    /// Whether device `bdf` is judged.
    pub fn judges(&self, bdf: &str) -> bool {
        self.devices.is_empty() || self.devices.iter().any(|d| d == bdf)
    }
}

/// What was lost, cut or damaged in the capture, which can hide a violation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Records lost per probe because the ring buffer was full.
    pub by_probe: BTreeMap<String, u64>,
    /// The capture has no trailer: how much was lost is unknown.
    pub cut: bool,
    /// Where the record differs from what its trailer says was written.
    pub damage: Vec<Damage>,
    /// Spans in which attached probes were blind (attached after their module
    /// loaded): their calls there were not seen.
    pub blind_spans: Vec<BlindSpan>,
}

/// Everything a rule reads.
pub struct Context<'a> {
    /// The events, in time order.
    pub events: &'a [Event],
    /// The timelines built from them.
    pub timelines: &'a Timelines,
    /// The ioctl calls, work items, handler runs and streams among them.
    pub intervals: &'a Intervals<'a>,
    /// The capture's probe table.
    pub probes: &'a ProbeIndex,
    /// What was lost.
    pub losses: &'a Losses,
    /// Interrupt handler calls whose probes the kernel skipped.
    pub skipped: &'a [SkippedHandler],
    /// Budgets and severities.
    pub config: &'a RuleConfig,
    /// The time of the last event: open windows are measured to it.
    pub end_ns: u64,
    /// The cycles a bounded analysis judged for good and took out of the
    /// timelines, by device: their violations are judged, but whether a blind
    /// span fell into one still counts.
    pub settled_cycles: &'a SettledCycles,
}

impl Context<'_> {
    /// Every judged device's cycles, with the device.
    pub fn cycles(&self) -> impl Iterator<Item = (&DeviceTimeline, &Cycle)> {
        self.timelines
            .devices
            .iter()
            .filter(|d| self.config.judges(&d.bdf))
            .flat_map(|d| d.cycles.iter().map(move |c| (d, c)))
    }

    /// Why records the rule relies on may be missing: lost records of probes with
    /// one of `roles`, a cut capture, or a record damaged where it could hold
    /// them (a probe with one of `roles`, or one whose role is unknown). Every
    /// reason is given, so a report can tell which rules a damage affects.
    pub fn gaps(&self, roles: &[Role]) -> Option<String> {
        let concerns = |probe: &str| self.probes.role(probe).is_some_and(|r| roles.contains(&r));
        let mut reasons = Vec::new();
        let lost: Vec<String> = self
            .losses
            .by_probe
            .iter()
            .filter(|(probe, lost)| **lost > 0 && concerns(probe))
            .map(|(probe, lost)| format!("{lost} records of {probe}"))
            .collect();
        if !lost.is_empty() {
            reasons.push(format!(
                "{} lost (ring buffer full): a violation may be among them",
                lost.join(", ")
            ));
        }
        if self.losses.cut {
            reasons.push("the capture was cut (no trailer): lost records are unknown".to_owned());
        }
        reasons.extend(
            self.losses
                .damage
                .iter()
                .filter(|d| {
                    d.probe
                        .as_deref()
                        .is_none_or(|p| self.probes.role(p).is_none() || concerns(p))
                })
                .map(|d| format!("the record is damaged: {}", d.what)),
        );
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    /// Why a rule needing attached probes of every role in `roles`, and the probes
    /// `probes` themselves, cannot be checked, if it cannot.
    pub fn blind_to(&self, roles: &[Role], probes: &[&str]) -> Option<String> {
        self.blind(roles).or_else(|| {
            probes
                .iter()
                .find(|p| !self.probes.attached(p))
                .map(|p| format!("{p} is not attached"))
        })
    }

    /// Why a rule needing attached probes of every role in `roles` cannot be
    /// checked, if it cannot.
    pub fn blind(&self, roles: &[Role]) -> Option<String> {
        let missing: Vec<String> = roles
            .iter()
            .filter(|r| !self.probes.sees_role(**r))
            .map(Role::to_string)
            .collect();
        if !missing.is_empty() {
            return Some(format!("no attached probe for: {}", missing.join(", ")));
        }
        self.blind_during_a_cycle(roles)
    }

    /// Whether `ts_ns` falls in an unmap window of `timeline`'s device, the
    /// cycles a bounded analysis took out of it included.
    pub fn in_unmap_window(&self, timeline: &DeviceTimeline, ts_ns: u64) -> bool {
        timeline.unmapped_at(ts_ns).is_some()
            || self
                .settled_cycles
                .of_device(&timeline.bdf)
                .is_some_and(|cycles| cycles.unmapped_at(ts_ns))
    }

    /// Why a probe with one of `roles`, or a quiesce marker (every timeline is
    /// built from them), that was blind for a span (see [`Losses::blind_spans`])
    /// leaves the rule unchecked: the span meets a device's quiesce cycle, where
    /// its unseen calls could be violations or change the cycle.
    pub fn blind_during_a_cycle(&self, roles: &[Role]) -> Option<String> {
        let spans: Vec<String> = self
            .losses
            .blind_spans
            .iter()
            .filter(|span| {
                self.probes
                    .role(&span.probe)
                    .is_some_and(|r| r == Role::QuiesceMarker || roles.contains(&r))
            })
            .filter(|span| {
                let settled = self
                    .settled_cycles
                    .devices()
                    .filter(|(bdf, _)| self.config.judges(bdf))
                    .flat_map(|(_, cycles)| cycles.outlines().iter().map(|o| o.span));
                let kept = self.cycles().map(|(_, c)| c.span());
                kept.chain(settled).any(|cycle| {
                    cycle.is_some_and(|w| {
                        w.start_ns < span.to_ns && w.end_ns.is_none_or(|end| end > span.from_ns)
                    })
                })
            })
            .map(|span| {
                format!(
                    "{} was blind for {} during a quiesce cycle ({})",
                    span.probe,
                    human_duration(span.to_ns.saturating_sub(span.from_ns)),
                    span.reason
                )
            })
            .collect();
        (!spans.is_empty()).then(|| {
            format!(
                "{}: its calls in that span are not checked",
                spans.join("; ")
            )
        })
    }
}

/// A rule's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Checked, nothing wrong.
    Pass,
    /// Checked, violated.
    Fail,
    /// A probe it needs is missing.
    NotChecked,
    /// Nothing wrong seen, but records it needs were lost or a cycle never closed.
    Incomplete,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::NotChecked => "not checked",
            Verdict::Incomplete => "incomplete",
        })
    }
}

/// One violation, with its evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The rule's id.
    pub rule: String,
    /// The device's PCI address.
    pub device: String,
    /// The device's cycle it happened in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle: Option<usize>,
    /// When it first happened.
    pub ts_ns: u64,
    /// When it last happened (same as `ts_ns` for one occurrence).
    pub last_ns: u64,
    /// How many times the same path did it.
    pub count: u64,
    /// Process id of the offender.
    pub pid: u32,
    /// Its thread id.
    pub tid: u32,
    /// Its command name.
    pub comm: Name,
    /// What happened, in one line.
    pub what: String,
    /// What to change, in one sentence.
    pub advice: String,
    /// The kernel stack of the offending call, innermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<Name>,
    /// The events that show it: the offending ones and the step they broke.
    pub events: Vec<Event>,
}

impl Violation {
    /// A violation by `event`'s task, with no stack or evidence yet.
    pub fn by(rule: &str, device: &str, cycle: Option<&Cycle>, event: &Event) -> Self {
        Violation {
            rule: rule.to_owned(),
            device: device.to_owned(),
            cycle: cycle.map(|c| c.number),
            ts_ns: event.ts_ns,
            last_ns: event.ts_ns,
            count: 1,
            pid: event.pid,
            tid: event.tid,
            comm: event.comm.clone(),
            what: String::new(),
            advice: String::new(),
            stack: Vec::new(),
            events: vec![event.clone()],
        }
    }

    /// What makes two violations the same path: merged into one with a count.
    fn site(&self) -> (String, String, Option<usize>, String, String) {
        let frame = self
            .stack
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("<");
        let probe = self
            .events
            .first()
            .map(|e| e.probe.clone())
            .unwrap_or_default();
        (
            self.rule.clone(),
            self.device.clone(),
            self.cycle,
            format!("{probe}|{frame}"),
            self.comm.to_string(),
        )
    }
}

/// A rule's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResult {
    /// The rule's id, e.g. `mmio-after-unmap`.
    pub id: String,
    /// What it checks, in one line.
    pub meaning: String,
    /// How much a failure matters.
    pub severity: Severity,
    /// The verdict.
    pub verdict: Verdict,
    /// Why it is not checked or incomplete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// On failure, what broke it (same paths merged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}

/// One rule: a check over the analysis.
pub trait Rule {
    /// Its id, e.g. `mmio-after-unmap`.
    fn id(&self) -> &'static str;
    /// What it checks, in one line.
    fn meaning(&self) -> &'static str;
    /// Why it cannot be checked with this capture's probes, if it cannot.
    fn blind(&self, ctx: &Context) -> Option<String>;
    /// Every violation, one per offending event.
    fn violations(&self, ctx: &Context) -> Vec<Violation>;
    /// Why a pass may be hiding a violation (records lost, a cycle never closed).
    fn gaps(&self, ctx: &Context) -> Option<String>;
    /// Marks in `keep` the events this rule pins: events before the horizon (the
    /// first `keep.len()` of `ctx.events`, about to be judged for good and
    /// forgotten) that a later judgement of this rule still reads, because what
    /// they mean is not settled yet (a call still open at the horizon, an
    /// interrupt whose verdict a later event can change). Events the timelines are
    /// built from are kept anyway, and so is the rest of every interval whose
    /// opening is kept (see [`Intervals::keep_whole`]).
    fn pins(&self, ctx: &Context, keep: &mut [bool]);
}

/// Every rule, in the order reports list them.
pub fn all() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(mmio_after_unmap::MmioAfterUnmap),
        Box::new(ioctl_in_window::IoctlInWindow),
        Box::new(irq_in_window::IrqInWindow),
        Box::new(work_in_window::WorkInWindow),
        Box::new(stale_remap::StaleRemap),
        Box::new(stop_while_streaming::StopWhileStreaming),
        Box::new(unbalanced::Unbalanced),
        Box::new(leaked_mapping::LeakedMapping),
        Box::new(window_budget::WindowBudget),
    ]
}

/// The ids of every rule, for checking expectation files.
pub fn ids() -> Vec<&'static str> {
    all().iter().map(|r| r.id()).collect()
}

/// Judges one rule; `settled` are its violations among events the analysis has
/// already judged and forgotten.
pub fn evaluate(rule: &dyn Rule, ctx: &Context, settled: &[Violation]) -> RuleResult {
    let severity = ctx.config.severity_of(rule.id());
    let mut result = RuleResult {
        id: rule.id().to_owned(),
        meaning: rule.meaning().to_owned(),
        severity,
        verdict: Verdict::Pass,
        reason: None,
        violations: Vec::new(),
    };
    if severity == Severity::Off {
        result.verdict = Verdict::NotChecked;
        result.reason = Some("switched off".to_owned());
        return result;
    }
    if let Some(reason) = rule.blind(ctx) {
        result.verdict = Verdict::NotChecked;
        result.reason = Some(reason);
        return result;
    }
    let violations = merge(
        settled
            .iter()
            .cloned()
            .chain(rule.violations(ctx))
            .filter(|v| ctx.config.judges(&v.device))
            .collect(),
    );
    if !violations.is_empty() {
        result.verdict = Verdict::Fail;
        result.violations = violations;
    } else if let Some(reason) = rule.gaps(ctx) {
        result.verdict = Verdict::Incomplete;
        result.reason = Some(reason);
    }
    result
}

/// Merges violations of the same path (rule, device, cycle, probe, stack top and
/// process) into one with a count, keeping the earliest one's evidence.
pub(crate) fn merge(mut violations: Vec<Violation>) -> Vec<Violation> {
    // In the log's order, (time, CPU), with the thread and probe to break ties:
    // the same violations give the same list however they were gathered.
    violations.sort_by(|a, b| {
        let order = |v: &Violation| {
            let first = v.events.first();
            (
                v.ts_ns,
                first.map(|e| e.cpu),
                v.tid,
                first.map(|e| e.probe.clone()),
            )
        };
        order(a).cmp(&order(b))
    });
    let mut merged: Vec<Violation> = Vec::new();
    let mut index: BTreeMap<(String, String, Option<usize>, String, String), usize> =
        BTreeMap::new();
    for v in violations {
        match index.get(&v.site()) {
            Some(&i) => {
                let first = &mut merged[i];
                first.count += v.count;
                first.last_ns = first.last_ns.max(v.last_ns);
            }
            None => {
                index.insert(v.site(), merged.len());
                merged.push(v);
            }
        }
    }
    merged
}

/// What to do about a work item that runs after the unmap.
pub const CANCEL_THE_WORK: &str = "cancel or flush this work (cancel_work_sync / cancel_delayed_work_sync) in remove before the iounmap, and make sure it cannot re-queue itself";

/// Advice for stopping the path that `stack` shows, before the unmap.
pub fn stop_the_path(stack: &[Name], comm: &str) -> &'static str {
    let has = |needle: &str| stack.iter().any(|f| f.contains(needle));
    if has("process_one_work") || comm.starts_with("kworker") {
        CANCEL_THE_WORK
    } else if has("sys_ioctl") || has("do_vfs_ioctl") {
        "make remove wait for ioctls in flight (a lock or reference the ioctl holds, taken by remove before the iounmap) and fail new ones with -ENODEV once the device is gone"
    } else if has("irq_thread") || has("handle_irq") || has("__handle_irq_event") {
        "free_irq() (or disable_irq() and synchronize_irq()) before the iounmap, with the device's interrupt sources masked"
    } else {
        "stop this path before the iounmap in the remove path, or make it check that the device is still mapped under the same lock"
    }
}
