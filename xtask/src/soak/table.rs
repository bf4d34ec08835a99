//! The soak's table: one row per measure, one column per soak run.

use std::{collections::BTreeSet, fmt::Write as _};

use super::{HEAP_GROWTH_BOUND_KB, Kind, SoakRun};

/// The table of `runs`, then each run's missed criteria (or that it met them).
pub fn render(runs: &[SoakRun]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, cell: &dyn Fn(&SoakRun) -> String| {
        rows.push((label.to_owned(), runs.iter().map(cell).collect()));
    };
    row("soak", &|r| r.kind.label().to_owned());
    row("cycles run", &|r| {
        format!("{} of {}", r.cycles_run, r.cycles_asked)
    });
    row("cycles closed", &|r| {
        r.devices
            .iter()
            .map(|d| format!("{} {}/{}", d.bdf, d.closed(), d.ends.len()))
            .collect::<Vec<_>>()
            .join(", ")
    });
    row("lost records", &|r| {
        format!("{}{}", r.lost, if r.cut { " (capture cut)" } else { "" })
    });
    row("kernel Oops/WARNING/BUG", &|r| {
        format!(
            "{} lines in {} cycles{}",
            r.complaints,
            r.cycles_with_complaints,
            if r.kind == Kind::Buggy {
                " (expected)"
            } else {
                ""
            }
        )
    });
    row("cycles with a violation", &|r| {
        format!("{} of {}", r.violating_cycles, r.cycles_run)
    });
    let sampled: BTreeSet<usize> = runs
        .iter()
        .flat_map(|r| r.samples.iter().map(|s| s.cycle))
        .collect();
    for cycle in sampled.iter().copied() {
        row(&format!("RSS kB at cycle {cycle}"), &|r| {
            r.samples
                .iter()
                .find(|s| s.cycle == cycle)
                .map_or("-".to_owned(), |s| s.rss_kb.to_string())
        });
    }
    row("peak RSS kB (VmHWM)", &|r| {
        r.samples
            .last()
            .map_or("-".to_owned(), |s| s.hwm_kb.to_string())
    });
    row(
        "RSS growth",
        &|r| match (r.memory_span(), r.rss_growth_kb()) {
            (Some((first, last)), Some(grown)) => {
                format!("{grown:+} kB, cycle {} to {}", first.cycle, last.cycle)
            }
            _ => "-".to_owned(),
        },
    );
    for cycle in sampled.iter().copied() {
        row(&format!("heap kB (RssAnon) at cycle {cycle}"), &|r| {
            r.samples
                .iter()
                .find(|s| s.cycle == cycle)
                .map_or("-".to_owned(), |s| s.anon_kb.to_string())
        });
    }
    row(
        &format!("heap growth (bound {HEAP_GROWTH_BOUND_KB} kB)"),
        &|r| {
            r.heap_growth_kb()
                .map_or("-".to_owned(), |g| format!("{g:+} kB"))
        },
    );
    row("verdict (exit code)", &|r| {
        format!(
            "{} ({})",
            r.outcome,
            r.exit.map_or("none".to_owned(), |e| e.to_string())
        )
    });
    row("replayed on the host", &|r| {
        if r.replay_differs.is_none() {
            "same verdict"
        } else {
            "differs"
        }
        .to_owned()
    });
    row("guest ran", &|r| format!("{} s", r.seconds));
    row("result", &|r| {
        if r.failures().is_empty() {
            "PASS"
        } else {
            "FAIL"
        }
        .to_owned()
    });
    let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..runs.len())
        .map(|i| rows.iter().map(|(_, c)| c[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (label, cells) in &rows {
        let _ = write!(out, "{label:label_width$}");
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(out, "  {cell:width$}");
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    for r in runs {
        for f in r.failures() {
            let _ = writeln!(out, "{}: {f}", r.kind.scenario());
        }
        let _ = writeln!(
            out,
            "{}: results in {}",
            r.kind.scenario(),
            r.results.display()
        );
    }
    out
}
