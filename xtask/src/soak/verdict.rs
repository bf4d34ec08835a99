//! What the soak reads from `barwatch check --json` (the guest's `verdict.json`):
//! how each device's cycles ended, records lost, and which cycles a violation
//! fell in.

use std::collections::BTreeSet;

use serde_json::Value;

/// How each cycle of device `bdf` ended (`closed`, `open`, `removed`, …), in order.
pub fn cycle_ends(verdict: &Value, bdf: &str) -> Vec<String> {
    cycles(verdict, bdf)
        .iter()
        .map(|c| c["end"].as_str().unwrap_or("unknown").to_owned())
        .collect()
}

/// The cycles of `bdf` with at least one violation of any rule, by number, and
/// how many of its violations fell in none. A violation names its cycle when
/// the rule knows it; one that does not (an access after the device came back,
/// through a mapping of an earlier cycle) is put in the cycle whose span holds
/// its time: from the cycle's first step to the next cycle's first.
pub fn violating_cycles(verdict: &Value, bdf: &str) -> (BTreeSet<usize>, usize) {
    let spans: Vec<(usize, u64)> = cycles(verdict, bdf)
        .iter()
        .filter_map(|c| Some((c["number"].as_u64()? as usize, first_step(c)?)))
        .collect();
    let mut found = BTreeSet::new();
    let mut outside = 0;
    let violations = verdict["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["violations"].as_array().into_iter().flatten())
        .filter(|v| v["device"] == bdf);
    for v in violations {
        let cycle = v["cycle"].as_u64().map(|n| n as usize).or_else(|| {
            let ts = v["ts_ns"].as_u64()?;
            spans
                .iter()
                .take_while(|(_, start)| *start <= ts)
                .last()
                .map(|(n, _)| *n)
        });
        match cycle {
            Some(n) => {
                found.insert(n);
            }
            None => outside += 1,
        }
    }
    (found, outside)
}

fn cycles<'a>(verdict: &'a Value, bdf: &str) -> Vec<&'a Value> {
    verdict["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["bdf"] == bdf)
        .flat_map(|d| d["cycles"].as_array().into_iter().flatten())
        .collect()
}

/// When a cycle's first step happened.
fn first_step(cycle: &Value) -> Option<u64> {
    cycle["steps"]
        .as_array()?
        .iter()
        .filter_map(|s| s["ts_ns"].as_u64())
        .min()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const FIXTURE: &str = "0000:00:05.0";

    fn cycle(number: u64, start: u64, end: &str) -> Value {
        json!({"number": number, "end": end, "steps": [{"ts_ns": start}, {"ts_ns": start + 5}]})
    }

    fn verdict(violations: Vec<Value>) -> Value {
        json!({
            "devices": [
                {"bdf": FIXTURE, "cycles": [cycle(1, 100, "closed"), cycle(2, 200, "closed"), cycle(3, 300, "open")]},
                {"bdf": "0000:00:04.0", "cycles": [cycle(1, 150, "closed")]},
            ],
            "rules": [
                {"id": "work-in-window", "violations": violations},
                {"id": "irq-in-window"},
            ],
        })
    }

    #[test]
    fn tells_how_each_cycle_ended() {
        assert_eq!(
            cycle_ends(&verdict(vec![]), FIXTURE),
            ["closed", "closed", "open"]
        );
        assert!(cycle_ends(&verdict(vec![]), "0000:00:06.0").is_empty());
    }

    #[test]
    fn counts_the_cycles_violations_name() {
        let v = verdict(vec![
            json!({"device": FIXTURE, "cycle": 1, "ts_ns": 101}),
            json!({"device": FIXTURE, "cycle": 1, "ts_ns": 102}),
            json!({"device": FIXTURE, "cycle": 3, "ts_ns": 301}),
            json!({"device": "0000:00:04.0", "cycle": 2, "ts_ns": 201}),
        ]);
        assert_eq!(violating_cycles(&v, FIXTURE), (BTreeSet::from([1, 3]), 0));
    }

    #[test]
    fn puts_a_violation_without_a_cycle_in_the_one_its_time_falls_in() {
        let v = verdict(vec![
            json!({"device": FIXTURE, "ts_ns": 250}),
            json!({"device": FIXTURE, "ts_ns": 90}),
        ]);
        assert_eq!(violating_cycles(&v, FIXTURE), (BTreeSet::from([2]), 1));
    }
}
