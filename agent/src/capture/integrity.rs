//! Whether a record is whole: what its trailer counts against what it holds.
//!
//! The recorder writes a trailer with the events it wrote per probe, the records
//! the kernel dropped and those it could not decode. A record that holds other
//! counts was altered or damaged after it was written, and a verdict over it
//! could pass on the very event that is missing, so every mismatch becomes a
//! [`Damage`] that keeps the verdict from passing.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::format::Trailer;

/// One way the record is not what its recorder wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Damage {
    /// The probe whose events it concerns; `None` when it could concern any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// What is wrong, in one sentence.
    pub what: String,
}

impl Damage {
    fn of_probe(probe: &str, what: String) -> Self {
        Damage {
            probe: Some(probe.to_owned()),
            what,
        }
    }

    fn whole(what: String) -> Self {
        Damage { probe: None, what }
    }
}

/// Counts of events per probe as the analysis took them in, to hold against the
/// trailer. Counted for every event, so hashed with Fx rather than SipHash.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    by_probe: FxHashMap<String, u64>,
}

impl Tally {
    /// Counts one event of `probe`.
    pub fn count(&mut self, probe: &str) {
        match self.by_probe.get_mut(probe) {
            Some(n) => *n += 1,
            None => {
                self.by_probe.insert(probe.to_owned(), 1);
            }
        }
    }

    fn of(&self, probe: &str) -> u64 {
        self.by_probe.get(probe).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.by_probe.values().sum()
    }
}

/// Every way the record `seen` differs from what `trailer` says was written.
pub fn check(trailer: &Trailer, seen: &Tally) -> Vec<Damage> {
    let mut damage = Vec::new();
    let probes: BTreeSet<&str> = trailer
        .probes
        .keys()
        .map(String::as_str)
        .chain(seen.by_probe.keys().map(String::as_str))
        .collect();
    for probe in probes {
        let written = trailer.probes.get(probe).map_or(0, |t| t.events);
        let held = seen.of(probe);
        if held < written {
            damage.push(Damage::of_probe(
                probe,
                format!(
                    "{} {probe} event{} missing: the trailer counts {written}, the record holds {held}",
                    written - held,
                    plural(written - held)
                ),
            ));
        } else if held > written {
            damage.push(Damage::of_probe(
                probe,
                format!(
                    "{} {probe} event{} the recorder did not write: the trailer counts {written}, the record holds {held}",
                    held - written,
                    plural(held - written)
                ),
            ));
        }
    }
    let per_probe: u64 = trailer.probes.values().map(|t| t.events).sum();
    if trailer.events != per_probe || (damage.is_empty() && trailer.events != seen.total()) {
        damage.push(Damage::whole(format!(
            "the trailer counts {} events in all, its probes {per_probe} and the record holds {}: the file was altered",
            trailer.events,
            seen.total()
        )));
    }
    let lost: u64 = trailer.probes.values().map(|t| t.lost).sum();
    if trailer.lost != lost {
        damage.push(Damage::whole(format!(
            "the trailer counts {} records lost but its probes account for {lost}: which probes lost them is unknown",
            trailer.lost
        )));
    }
    if trailer.decode_errors > 0 {
        damage.push(Damage::whole(format!(
            "{} record{} could not be decoded (the BPF object and the agent disagree): what {} held is unknown",
            trailer.decode_errors,
            plural(trailer.decode_errors),
            if trailer.decode_errors == 1 {
                "it"
            } else {
                "they"
            }
        )));
    }
    damage
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::format::ProbeTotals;

    fn trailer(probes: &[(&str, u64, u64)]) -> Trailer {
        let mut t = Trailer::default();
        for (name, events, lost) in probes {
            t.probes.insert(
                (*name).to_owned(),
                ProbeTotals {
                    events: *events,
                    lost: *lost,
                },
            );
            t.events += events;
            t.lost += lost;
        }
        t
    }

    fn tally(probes: &[(&str, u64)]) -> Tally {
        let mut t = Tally::default();
        for (name, n) in probes {
            for _ in 0..*n {
                t.count(name);
            }
        }
        t
    }

    #[test]
    fn a_record_that_holds_what_its_trailer_counts_is_whole() {
        let t = trailer(&[("kprobe:iounmap", 2, 0), ("kprobe:ioremap", 1, 3)]);
        assert_eq!(
            check(&t, &tally(&[("kprobe:iounmap", 2), ("kprobe:ioremap", 1)])),
            []
        );
    }

    #[test]
    fn a_deleted_line_is_missing_from_its_probe() {
        let t = trailer(&[("kprobe:iounmap", 2, 0), ("kprobe:ioremap", 1, 0)]);
        let damage = check(&t, &tally(&[("kprobe:iounmap", 1), ("kprobe:ioremap", 1)]));
        assert_eq!(damage.len(), 1, "{damage:?}");
        assert_eq!(damage[0].probe.as_deref(), Some("kprobe:iounmap"));
        assert!(damage[0].what.contains("1 kprobe:iounmap event missing"));
    }

    #[test]
    fn an_added_line_and_an_edited_total_are_named() {
        let t = trailer(&[("kprobe:iounmap", 1, 0)]);
        let added = check(&t, &tally(&[("kprobe:iounmap", 1), ("kprobe:x", 1)]));
        assert_eq!(added[0].probe.as_deref(), Some("kprobe:x"));
        let mut edited = t.clone();
        edited.events = 5;
        let damage = check(&edited, &tally(&[("kprobe:iounmap", 1)]));
        assert!(
            damage[0].what.contains("counts 5 events in all"),
            "{damage:?}"
        );
    }

    #[test]
    fn unexplained_losses_and_decode_errors_are_damage() {
        let mut t = trailer(&[("kprobe:iounmap", 1, 2)]);
        t.lost = 7;
        t.decode_errors = 1;
        let damage = check(&t, &tally(&[("kprobe:iounmap", 1)]));
        assert_eq!(damage.len(), 2, "{damage:?}");
        assert!(damage[0].what.contains("7 records lost"));
        assert!(damage[1].what.contains("1 record could not be decoded"));
    }
}
