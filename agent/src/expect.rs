//! What a CI run expects of a check, from a TOML file (`barwatch check --expect`),
//! and the check's outcome and exit status under it.
//!
//! ```toml
//! devices = ["0000:00:04.0"]   # judge these (default: every watched device)
//! min_cycles = 1               # each must complete at least this many cycles
//!                              # (0: a run without any cycle may pass)
//! trigger = "remove"           # ... of this kind (optional)
//! required = ["mmio-after-unmap", "irq-in-window"]  # or "all": must be checked
//!
//! [budgets]
//! quiesce = "500ms"
//! unmap = "5s"
//!
//! [severity]
//! stop-while-streaming = "warning"   # error (default), warning or off
//! ```

use std::{collections::BTreeMap, path::Path, time::Duration};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{
    analysis::{Judgement, Outcome},
    device::parse_bdf,
    probe_table::Trigger,
    rules::{self, RuleConfig, Severity, Verdict},
    timeline::CycleOutline,
};

/// Why an expectations file cannot be used.
#[derive(Debug, Error)]
pub enum ExpectError {
    /// It cannot be read.
    #[error("cannot read expectations file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It is not valid.
    #[error("expectations file {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, and where.
        message: String,
    },
}

/// Which rules must be checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum Required {
    /// `"all"`.
    All(String),
    /// A list of rule ids.
    Rules(Vec<String>),
    /// None.
    #[default]
    #[serde(skip)]
    Nothing,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudgets {
    quiesce: Option<String>,
    unmap: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectations {
    #[serde(default)]
    devices: Vec<String>,
    min_cycles: Option<usize>,
    trigger: Option<Trigger>,
    #[serde(default)]
    required: Required,
    #[serde(default)]
    budgets: RawBudgets,
    #[serde(default)]
    severity: BTreeMap<String, Severity>,
}

/// A parsed expectations file (or the defaults, without one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expectations {
    /// Devices that must be seen; empty means every watched device. The same
    /// list in [`Expectations::rules`] leaves other devices out of the verdict.
    pub devices: Vec<String>,
    /// Complete cycles each judged device must show. Unset, the run must show
    /// one cycle on some device to pass; `Some(0)` lets a run without any pass.
    pub min_cycles: Option<usize>,
    /// The kind those cycles must be.
    pub trigger: Option<Trigger>,
    /// Rules that must be checked (not "not checked").
    pub required: Vec<String>,
    /// Severities and budgets for the rules.
    pub rules: RuleConfig,
}

impl Expectations {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ExpectError> {
        let text = std::fs::read_to_string(path).map_err(|source| ExpectError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses expectations; `name` names the source in errors.
    pub fn parse(name: &str, text: &str) -> Result<Self, ExpectError> {
        let invalid = |message: String| ExpectError::Invalid {
            path: name.to_owned(),
            message,
        };
        let raw: RawExpectations =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim().to_owned()))?;
        if let Some(bad) = raw.devices.iter().find_map(|d| parse_bdf(d).err()) {
            return Err(invalid(format!("devices: {bad}")));
        }
        let known = rules::ids();
        let required = match raw.required {
            Required::All(all) if all == "all" => known.iter().map(|s| (*s).to_owned()).collect(),
            Required::All(other) => {
                return Err(invalid(format!(
                    "required = \"{other}\": give \"all\" or a list of rule ids"
                )));
            }
            Required::Rules(list) => list,
            Required::Nothing => Vec::new(),
        };
        for id in required.iter().chain(raw.severity.keys()) {
            if !known.contains(&id.as_str()) {
                return Err(invalid(format!(
                    "unknown rule `{id}`; the rules are {}",
                    known.join(", ")
                )));
            }
        }
        let budget = |text: Option<String>, which: &str| -> Result<Option<Duration>, ExpectError> {
            text.map(|t| {
                humantime::parse_duration(&t).map_err(|e| {
                    invalid(format!("budgets.{which} = \"{t}\": {e} (e.g. \"500ms\")"))
                })
            })
            .transpose()
        };
        let defaults = RuleConfig::default();
        Ok(Expectations {
            devices: raw.devices.clone(),
            min_cycles: raw.min_cycles,
            trigger: raw.trigger,
            required,
            rules: RuleConfig {
                devices: raw.devices,
                severity: raw.severity,
                quiesce_budget: budget(raw.budgets.quiesce, "quiesce")?.or(defaults.quiesce_budget),
                unmap_budget: budget(raw.budgets.unmap, "unmap")?.or(defaults.unmap_budget),
            },
        })
    }

    /// What the judgement fails to show that these expectations ask for: each a
    /// sentence, and whether it is a failure (`true`) or a gap (`false`).
    pub fn unmet(&self, judgement: &Judgement) -> Vec<Unmet> {
        let mut unmet = Vec::new();
        let devices: Vec<&str> = if self.devices.is_empty() {
            judgement.devices.iter().map(|d| d.bdf.as_str()).collect()
        } else {
            self.devices.iter().map(String::as_str).collect()
        };
        let min_cycles = self.min_cycles.unwrap_or(0);
        if devices.is_empty() && min_cycles > 0 {
            unmet.push(Unmet::failure(
                "no watched device was seen, so no cycle was; check --device and the profiles' drivers",
            ));
        }
        for bdf in devices {
            let Some(timeline) = judgement.devices.iter().find(|d| d.bdf == bdf) else {
                unmet.push(Unmet::failure(format!(
                    "device {bdf} was expected but never seen; is it watched (--device {bdf})?"
                )));
                continue;
            };
            let complete = timeline
                .outlines()
                .filter(CycleOutline::complete)
                .filter(|c| self.trigger.is_none_or(|t| c.trigger == Some(t)))
                .count();
            if complete < min_cycles {
                let kind = self.trigger.map(|t| format!(" {t}")).unwrap_or_default();
                unmet.push(Unmet::failure(format!(
                    "{bdf} completed {complete}{kind} cycle(s), expected at least {min_cycles}: the scenario did not do what it should"
                )));
            }
        }
        for id in &self.required {
            if let Some(rule) = judgement.rules.iter().find(|r| &r.id == id)
                && rule.verdict == Verdict::NotChecked
            {
                unmet.push(Unmet::gap(format!(
                    "required rule {id} was not checked: {}",
                    rule.reason.as_deref().unwrap_or("unknown reason")
                )));
            }
        }
        unmet
    }
}

/// A check's outcome: the rules', made worse by what it expected and did not see
/// (a failure is a violation, a gap leaves the run incomplete).
pub fn outcome(judgement: &Judgement, unmet: &[Unmet]) -> Outcome {
    let expected = if unmet.iter().any(|u| u.failure) {
        Outcome::Violation
    } else if unmet.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Incomplete
    };
    judgement.outcome().max(expected)
}

/// An expectation the judgement does not meet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unmet {
    /// What is missing.
    pub message: String,
    /// A failure (exit 1) rather than a gap (exit 2).
    pub failure: bool,
}

impl Unmet {
    fn failure(message: impl Into<String>) -> Self {
        Unmet {
            message: message.into(),
            failure: true,
        }
    }

    fn gap(message: impl Into<String>) -> Self {
        Unmet {
            message: message.into(),
            failure: false,
        }
    }
}

/// The exit status of `barwatch check` for an outcome: 0 pass, 1 violation,
/// 2 incomplete (3, set-up errors, is the binary's).
pub fn exit_status(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Pass => 0,
        Outcome::Violation => 1,
        Outcome::Incomplete => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let e = Expectations::parse(
            "x.toml",
            r#"
devices = ["0000:00:04.0"]
min_cycles = 2
trigger = "remove"
required = "all"
[budgets]
quiesce = "500ms"
unmap = "5s"
[severity]
stop-while-streaming = "warning"
"#,
        )
        .unwrap();
        assert_eq!(e.min_cycles, Some(2));
        assert_eq!(e.trigger, Some(Trigger::Remove));
        assert_eq!(e.required.len(), rules::ids().len());
        assert_eq!(e.rules.quiesce_budget, Some(Duration::from_millis(500)));
        assert_eq!(
            e.rules.severity_of("stop-while-streaming"),
            Severity::Warning
        );
        assert_eq!(e.rules.severity_of("unbalanced"), Severity::Error);
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| Expectations::parse("x.toml", text).unwrap_err().to_string();
        assert!(err("required = [\"mmio-after-umap\"]").contains("unknown rule `mmio-after-umap`"));
        assert!(err("[budgets]\nquiesce = \"fast\"").contains("budgets.quiesce"));
        assert!(err("min_cycle = 1").contains("min_cycle"));
        assert!(err("required = \"some\"").contains("\"all\""));
        assert!(err("[severity]\nunbalanced = \"fatal\"").contains("x.toml"));
        assert!(err("devices = [\"garbage\"]").contains("devices: `garbage` is not a PCI address"));
    }

    #[test]
    fn no_file_means_default_budgets_and_nothing_required() {
        let e = Expectations::parse("x.toml", "").unwrap();
        assert_eq!(e.rules, RuleConfig::default());
        assert!(e.required.is_empty());
    }
}
