//! Why a judgement in which no rule failed is still not a pass.
//!
//! A pass gates CI pipelines, so it must be earned: something was watched, a
//! quiesce cycle was seen through, some rule was checked, and the record is the
//! one the recorder wrote. Each way that does not hold is an [`Unearned`], and
//! any one makes the outcome incomplete.

use std::fmt;

use serde::Serialize;

use crate::{
    rules::{Losses, RuleResult, Verdict},
    timeline::{CycleOutline, DeviceTimeline},
};

/// What keeps a judgement without failures from passing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnearnedKind {
    /// The capture has no trailer: its end and its losses are unknown.
    Cut,
    /// The record differs from what its trailer says was written.
    Damaged,
    /// Every rule was not checked: nothing was judged.
    NothingChecked,
    /// No watched device went through a whole quiesce cycle.
    NoCycle,
}

impl fmt::Display for UnearnedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnearnedKind::Cut => "cut",
            UnearnedKind::Damaged => "damaged",
            UnearnedKind::NothingChecked => "nothing-checked",
            UnearnedKind::NoCycle => "no-cycle",
        })
    }
}

/// One reason a pass was not earned, in words, with the rules it concerns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unearned {
    /// Which reason.
    pub kind: UnearnedKind,
    /// The reason in one sentence.
    pub message: String,
    /// The rules it leaves incomplete, when it concerns only some.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

impl Unearned {
    fn new(kind: UnearnedKind, message: String) -> Self {
        Unearned {
            kind,
            message,
            rules: Vec::new(),
        }
    }
}

/// Every reason the judgement of `rules` over `devices`, from a record with
/// `losses`, has not earned a pass.
pub fn unearned(
    losses: &Losses,
    rules: &[RuleResult],
    devices: &[DeviceTimeline],
) -> Vec<Unearned> {
    let mut found = Vec::new();
    if losses.cut {
        found.push(Unearned::new(
            UnearnedKind::Cut,
            "the capture was cut (no trailer): what happened at its end and what was lost is unknown"
                .to_owned(),
        ));
    }
    for damage in &losses.damage {
        let mut reason = Unearned::new(
            UnearnedKind::Damaged,
            format!("the record is damaged: {}", damage.what),
        );
        reason.rules = rules
            .iter()
            .filter(|r| {
                r.verdict == Verdict::Incomplete
                    && r.reason
                        .as_deref()
                        .is_some_and(|why| why.contains(&damage.what))
            })
            .map(|r| r.id.clone())
            .collect();
        found.push(reason);
    }
    if !rules.is_empty() && rules.iter().all(|r| r.verdict == Verdict::NotChecked) {
        let why = rules
            .iter()
            .find_map(|r| r.reason.as_deref())
            .unwrap_or("every rule is switched off");
        found.push(Unearned::new(
            UnearnedKind::NothingChecked,
            format!(
                "no rule could be checked ({why}); `barwatch probes` says why each probe is blind"
            ),
        ));
    }
    let complete = devices
        .iter()
        .flat_map(DeviceTimeline::outlines)
        .filter(CycleOutline::complete)
        .count();
    if complete == 0 {
        let message = if devices.is_empty() {
            "no watched device was seen, so no quiesce cycle was: nothing was checked (choose devices with --device, or load a profile naming their driver)".to_owned()
        } else {
            format!(
                "no quiesce cycle was seen on the {} watched device{}: nothing was checked (an expectations file with min_cycles = 0 accepts that)",
                devices.len(),
                if devices.len() == 1 { "" } else { "s" }
            )
        };
        found.push(Unearned::new(UnearnedKind::NoCycle, message));
    }
    found
}
