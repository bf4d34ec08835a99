//! The kernel benchmark's guest columns: the same three calls timed in the
//! bench guest (Debian's kernel under QEMU, `xtask/bench/scenarios/guest-cost.sh`),
//! with nothing attached and under `barwatch record`, on a kernel where
//! barwatch takes ALSA ioctls where it prefers to (not the syscall
//! tracepoints). bpftrace is not in the guest, so the guest's figures are
//! barwatch's added cost as a share of the call, which the targets bound.
//!
//! The guest runs under TCG, one host thread for both of its CPUs: a
//! nanosecond there is not one on hardware, and the recorder's work on CPU 1
//! takes time from the loop on CPU 0, so the shares count all of what
//! watching costs, kernel and agent alike.

use std::{collections::BTreeMap, fs};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::vm;

/// Unwatched calls may take at most this share longer under barwatch.
pub const TARGET_UNWATCHED_SHARE: f64 = 0.02;
/// The calls the guest times, as `call_loop` names them.
const CALLS: [&str; 3] = ["alsa", "other-ioctl", "getppid"];

/// The median, fastest and slowest ns per call of one contender and call.
type Cell = (f64, f64, f64);
/// The cells by `(contender, call)`: contender `none` or `barwatch`.
type Cells = BTreeMap<(String, String), Cell>;

/// The guest's figures: ns per call by contender and call, and how ALSA
/// ioctls were taken.
pub struct GuestCost {
    /// Medians and spreads.
    cells: Cells,
    /// What `barwatch probes` said of `syscalls:sys_enter_ioctl` in the guest.
    pub ioctl_path: String,
    /// Records barwatch lost over all rounds.
    pub lost: u64,
    /// Rounds run.
    pub rounds: usize,
}

impl GuestCost {
    /// The median ns per call of `call` under `contender`.
    fn median(&self, contender: &str, call: &str) -> f64 {
        self.cells
            .get(&(contender.to_owned(), call.to_owned()))
            .map_or(f64::NAN, |cell| cell.0)
    }

    /// What barwatch adds to `call`, as a share of the call with nothing attached.
    pub fn added_share(&self, call: &str) -> f64 {
        let none = self.median("none", call);
        (self.median("barwatch", call) - none) / none
    }

    /// Prints the guest's columns.
    pub fn print(&self) {
        eprintln!(
            "kernel: the guest (Debian's kernel under QEMU TCG), ns per call, median of {} rounds; ALSA ioctls by {}",
            self.rounds, self.ioctl_path
        );
        for contender in ["none", "barwatch"] {
            let cells: Vec<String> = CALLS
                .iter()
                .map(|call| match contender {
                    "none" => format!("{:.0}", self.median(contender, call)),
                    _ => format!(
                        "{:.0} ({:+.1}%)",
                        self.median(contender, call),
                        100.0 * self.added_share(call)
                    ),
                })
                .collect();
            let label = if contender == "none" {
                "no probe"
            } else {
                "barwatch record"
            };
            eprintln!(
                "kernel:   {label:<28} {:>22} {:>22} {:>22}",
                cells[0], cells[1], cells[2]
            );
        }
        for ((contender, call), (_, min, max)) in &self.cells {
            eprintln!("kernel:     guest spread {contender} {call}: {min:.0}-{max:.0}");
        }
        eprintln!("kernel:   barwatch lost {} records in the guest", self.lost);
    }

    /// The guest's targets missed, in words. Its losses are no target: its
    /// loop of ALSA ioctls runs flat out against a recorder slowed by TCG as
    /// much as the loop is (the host's sustained section bounds the losses).
    pub fn misses(&self) -> Vec<String> {
        ["other-ioctl", "getppid"]
            .iter()
            .filter_map(|call| {
                let share = self.added_share(call);
                (share.is_nan() || share > TARGET_UNWATCHED_SHARE).then(|| {
                    format!(
                        "in the guest, {call} costs {:+.1}% under barwatch (target < {:.0}%)",
                        100.0 * share,
                        100.0 * TARGET_UNWATCHED_SHARE
                    )
                })
            })
            .collect()
    }

    /// The figures as JSON.
    pub fn to_json(&self) -> Value {
        let cells: Vec<Value> = self
            .cells
            .iter()
            .map(|((contender, call), (median, min, max))| {
                json!({"contender": contender, "call": call, "median": median, "min": min, "max": max})
            })
            .collect();
        let shares: serde_json::Map<String, Value> = CALLS
            .iter()
            .map(|call| ((*call).to_owned(), json!(self.added_share(call))))
            .collect();
        json!({
            "ns_per_call": cells,
            "barwatch_added_share": shares,
            "alsa_ioctls_by": self.ioctl_path,
            "lost": self.lost,
            "rounds": self.rounds,
        })
    }
}

/// Boots the guest, runs `guest-cost` and reads its figures.
pub fn measure() -> Result<GuestCost> {
    let report = vm::run("guest-cost", &[])?;
    let problems = report.problems();
    if !problems.is_empty() {
        bail!(
            "the guest's cost run failed ({}): {}",
            report.dir.display(),
            problems.join("; ")
        );
    }
    let read = |name: &str| {
        let path = report.file(name);
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let (cells, rounds) = cells_of(&read("cost.txt")?)?;
    let mut lost = 0;
    for round in 1..=rounds {
        let trailer: Value = serde_json::from_str(&read(&format!("trailer-{round}.json"))?)
            .with_context(|| format!("the guest's trailer-{round}.json is no JSON"))?;
        lost += trailer["lost"]
            .as_u64()
            .with_context(|| format!("the guest's trailer-{round}.json has no lost"))?;
    }
    let probes = read("probes.txt")?;
    let ioctl_path = probes
        .lines()
        .find(|l| l.starts_with("syscalls:sys_enter_ioctl"))
        .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| {
            "an unknown path (no syscalls:sys_enter_ioctl in `barwatch probes`)".into()
        });
    Ok(GuestCost {
        cells,
        ioctl_path,
        lost,
        rounds,
    })
}

/// Medians and spreads by contender and call from `cost.txt`'s lines, and how
/// many rounds they came from.
fn cells_of(text: &str) -> Result<(Cells, usize)> {
    let mut runs: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut rounds = 0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [round, contender, call, ns] = fields[..] else {
            bail!("the guest's cost.txt has a line it should not: {line:?}");
        };
        let ns: f64 = ns
            .parse()
            .with_context(|| format!("not a number of ns in {line:?}"))?;
        rounds = rounds.max(round.parse().unwrap_or(0));
        runs.entry((contender.to_owned(), call.to_owned()))
            .or_default()
            .push(ns);
    }
    let cells = runs
        .into_iter()
        .map(|(key, mut ns)| {
            ns.sort_by(f64::total_cmp);
            let cell = (ns[ns.len() / 2], ns[0], ns[ns.len() - 1]);
            (key, cell)
        })
        .collect();
    Ok((cells, rounds))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COST: &str = "1 none getppid 900.0
1 none other-ioctl 1300.0
1 barwatch getppid 910.0
1 barwatch other-ioctl 2600.0
2 none getppid 1000.0
2 none other-ioctl 1400.0
2 barwatch getppid 905.0
2 barwatch other-ioctl 2800.0
3 none getppid 950.0
3 none other-ioctl 1350.0
3 barwatch getppid 1400.0
3 barwatch other-ioctl 2700.0
";

    fn guest(lost: u64) -> GuestCost {
        let (cells, rounds) = cells_of(COST).unwrap();
        GuestCost {
            cells,
            ioctl_path: "fentry".into(),
            lost,
            rounds,
        }
    }

    #[test]
    fn the_shares_come_from_the_medians_of_the_rounds() {
        let guest = guest(0);
        assert_eq!(guest.rounds, 3);
        assert!((guest.added_share("getppid") - (910.0 - 950.0) / 950.0).abs() < 1e-9);
        assert!((guest.added_share("other-ioctl") - (2700.0 - 1350.0) / 1350.0).abs() < 1e-9);
    }

    #[test]
    fn an_unwatched_call_slowed_past_the_target_is_a_miss() {
        let misses = guest(3).misses();
        assert_eq!(misses.len(), 1, "{misses:?}");
        assert!(
            misses[0].contains("other-ioctl costs +100.0%"),
            "{misses:?}"
        );
    }

    #[test]
    fn a_line_out_of_shape_is_an_error_not_a_figure() {
        assert!(cells_of("1 none getppid").is_err());
        assert!(cells_of("1 none getppid fast").is_err());
    }
}
