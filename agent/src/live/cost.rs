//! What each of barwatch's BPF programs costs the machine it watches, as the
//! kernel itself measures it (`run_time_ns` and `run_cnt` of each program while
//! BPF statistics are on), the figures bpftop shows: `barwatch probes --cost`.

use std::time::Duration;

use serde::Serialize;

/// A program's counters at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramRuns {
    /// The program's name in the BPF object (e.g. `sys_enter_ioctl`,
    /// `func_entry` for every function point attached by kprobe).
    pub program: String,
    /// Nanoseconds spent in it since statistics were first on.
    pub run_ns: u64,
    /// Times it ran since then.
    pub runs: u64,
}

/// What a program cost over a measured window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProgramCost {
    /// The program's name in the BPF object.
    pub program: String,
    /// Times it ran in the window.
    pub runs: u64,
    /// Runs per second of the window.
    pub runs_per_s: f64,
    /// Average nanoseconds per run; `None` when it did not run.
    pub ns_per_run: Option<f64>,
    /// Share of one CPU it took over the window, in percent.
    pub cpu_percent: f64,
}

/// The cost of each program between two readings `elapsed` apart, busiest
/// first; a program missing from `before` (loaded in between) counts from zero.
pub fn costs(before: &[ProgramRuns], after: &[ProgramRuns], elapsed: Duration) -> Vec<ProgramCost> {
    let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    let mut costs: Vec<ProgramCost> = after
        .iter()
        .map(|now| {
            let (ns0, runs0) = before
                .iter()
                .find(|b| b.program == now.program)
                .map_or((0, 0), |b| (b.run_ns, b.runs));
            let runs = now.runs.saturating_sub(runs0);
            let ns = now.run_ns.saturating_sub(ns0);
            ProgramCost {
                program: now.program.clone(),
                runs,
                runs_per_s: runs as f64 / seconds,
                ns_per_run: (runs > 0).then(|| ns as f64 / runs as f64),
                cpu_percent: ns as f64 / 1e9 / seconds * 100.0,
            }
        })
        .collect();
    costs.sort_by(|a, b| {
        b.cpu_percent
            .total_cmp(&a.cpu_percent)
            .then_with(|| a.program.cmp(&b.program))
    });
    costs
}

/// The costs of the programs that ran as aligned text, then the names of
/// those that did not, and the window they were measured over.
pub fn cost_text(costs: &[ProgramCost], elapsed: Duration) -> String {
    let width = costs
        .iter()
        .map(|c| c.program.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut text = format!(
        "{:width$}  {:>12}  {:>10}  {:>8}\n",
        "PROGRAM", "RUNS/S", "NS/RUN", "CPU %"
    );
    let mut idle = Vec::new();
    for c in costs {
        let Some(per_run) = c.ns_per_run else {
            idle.push(c.program.as_str());
            continue;
        };
        text.push_str(&format!(
            "{:width$}  {:>12.0}  {:>10.0}  {:>8.3}\n",
            c.program, c.runs_per_s, per_run, c.cpu_percent
        ));
    }
    if !idle.is_empty() {
        text.push_str(&format!("did not run: {}\n", idle.join(", ")));
    }
    text.push_str(&format!(
        "measured by the kernel over {:.1} s (BPF statistics on for the window only)\n",
        elapsed.as_secs_f64()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(program: &str, run_ns: u64, runs: u64) -> ProgramRuns {
        ProgramRuns {
            program: program.into(),
            run_ns,
            runs,
        }
    }

    #[test]
    fn the_cost_is_what_ran_in_the_window_busiest_first() {
        let before = [
            runs("sys_enter_ioctl", 1_000, 10),
            runs("irq_handler_entry", 0, 0),
        ];
        let after = [
            runs("irq_handler_entry", 0, 0),
            runs("sys_enter_ioctl", 601_000, 1_010),
            runs("func_entry", 2_000, 4),
        ];
        let costs = costs(&before, &after, Duration::from_secs(2));
        let names: Vec<&str> = costs.iter().map(|c| c.program.as_str()).collect();
        assert_eq!(
            names,
            ["sys_enter_ioctl", "func_entry", "irq_handler_entry"]
        );
        assert_eq!(costs[0].runs, 1_000);
        assert_eq!(costs[0].runs_per_s, 500.0);
        assert_eq!(costs[0].ns_per_run, Some(600.0));
        assert!((costs[0].cpu_percent - 0.03).abs() < 1e-9);
        // Loaded during the window: counted from zero.
        assert_eq!(costs[1].ns_per_run, Some(500.0));
        // Idle: no cost per run to show.
        assert_eq!(costs[2].ns_per_run, None);
        let text = cost_text(&costs, Duration::from_secs(2));
        assert!(text.contains("sys_enter_ioctl"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("sys_enter_ioctl"), "{text}");
        assert!(lines[1].contains(" 600 "), "{text}");
        assert_eq!(lines[3], "did not run: irq_handler_entry", "{text}");
    }
}
