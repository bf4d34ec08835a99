//! The human report of a [`Judgement`]: the violations first, each with where,
//! when, who, the stack and what to change; then every rule's verdict; then the
//! timelines.

use std::fmt::Write;

use super::{Judgement, Outcome};
use crate::{
    rules::{RuleResult, Severity, Verdict, Violation},
    time::human_duration,
    timeline::{Cycle, CycleEnd, CycleOutline, DeviceTimeline},
};

/// Stack frames shown per violation; the JSON output has them all.
const STACK_FRAMES: usize = 12;

/// The whole report as text.
pub fn render(judgement: &Judgement) -> String {
    let mut out = headline(judgement);
    write_body(&mut out, judgement);
    out
}

/// The report's first line, the verdict, with what follows it before the
/// violations: what `check` puts its expectations' verdict beside.
pub fn headline(judgement: &Judgement) -> String {
    let mut out = String::new();
    write_headline(&mut out, judgement);
    out
}

/// Writes the report after its headline to `out` as it goes: a long run's
/// timelines are written cycle by cycle, never held as one text. Write errors
/// are the writer's to keep (see [`crate::visible::VisibleWriter`]).
pub fn write_body(out: &mut impl Write, judgement: &Judgement) {
    for rule in &judgement.rules {
        for v in &rule.violations {
            violation(out, judgement, rule, v);
        }
    }
    rules(out, judgement);
    timelines(out, judgement);
}

fn write_headline(out: &mut String, j: &Judgement) {
    let failed: Vec<&str> = j.failures().map(|r| r.id.as_str()).collect();
    let count: usize = j.failures().map(|r| r.violations.len()).sum();
    let devices: Vec<String> = j
        .failures()
        .flat_map(|r| r.violations.iter().map(|v| v.device.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|bdf| describe_device(j, &bdf))
        .collect();
    let reasons: Vec<String> = j
        .unearned
        .iter()
        .map(|u| match u.rules.as_slice() {
            [] => u.message.clone(),
            rules => format!("{} (affects {})", u.message, rules.join(", ")),
        })
        .collect();
    let _ = match j.outcome() {
        Outcome::Violation => {
            let _ = writeln!(
                out,
                "FAIL: {count} violation{} ({}) on {}",
                if count == 1 { "" } else { "s" },
                failed.join(", "),
                devices.join(", ")
            );
            // A damaged record may have made a failure up, or hidden others.
            if reasons.is_empty() {
                Ok(())
            } else {
                writeln!(out, "and the record is not sound: {}", reasons.join("; "))
            }
        }
        Outcome::Incomplete if !reasons.is_empty() => {
            writeln!(out, "INCOMPLETE: {}", reasons.join("; "))
        }
        Outcome::Incomplete => writeln!(
            out,
            "INCOMPLETE: no violation seen, but the record has gaps (see below)"
        ),
        Outcome::Pass => {
            let cycles: usize = j.devices.iter().map(|d| d.cycle_count()).sum();
            writeln!(
                out,
                "PASS: {cycles} quiesce cycle{} on {} device{}, every checked rule kept",
                if cycles == 1 { "" } else { "s" },
                j.devices.len(),
                if j.devices.len() == 1 { "" } else { "s" }
            )
        }
    };
    out.push('\n');
}

fn describe_device(j: &Judgement, bdf: &str) -> String {
    match j
        .devices
        .iter()
        .find(|d| d.bdf == bdf)
        .and_then(|d| d.driver.as_deref())
    {
        Some(driver) => format!("{bdf} ({driver})"),
        None => bdf.to_owned(),
    }
}

fn violation(out: &mut impl Write, j: &Judgement, rule: &RuleResult, v: &Violation) {
    let mark = if rule.severity == Severity::Warning {
        "warning"
    } else {
        "violation"
    };
    let cycle = v
        .cycle
        .and_then(|n| {
            let d = j.devices.iter().find(|d| d.bdf == v.device)?;
            let c = d.outline(n)?;
            Some(match c.trigger {
                Some(t) => format!(" cycle {n} ({t})"),
                None => format!(" cycle {n}"),
            })
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{mark} {}: {}{cycle} at {}, pid {} tid {} {}",
        v.rule,
        describe_device(j, &v.device),
        j.at(v.ts_ns),
        v.pid,
        v.tid,
        v.comm
    );
    let _ = writeln!(out, "  {}", v.what);
    if v.count > 1 {
        let _ = writeln!(
            out,
            "  the same path did it {} times, last at {}",
            v.count,
            j.at(v.last_ns)
        );
    }
    if !v.stack.is_empty() {
        let _ = out.write_str("  kernel stack:\n");
        for frame in v.stack.iter().take(STACK_FRAMES) {
            let _ = writeln!(out, "    {frame}");
        }
        if v.stack.len() > STACK_FRAMES {
            let _ = writeln!(out, "    … {} more", v.stack.len() - STACK_FRAMES);
        }
    }
    let _ = out.write_str("  evidence:\n");
    for e in &v.events {
        let _ = writeln!(
            out,
            "    {} cpu {} {} {}/{}: {}",
            j.at(e.ts_ns),
            e.cpu,
            e.comm,
            e.pid,
            e.tid,
            e.data
        );
    }
    let _ = writeln!(out, "  fix: {}\n", v.advice);
}

fn rules(out: &mut impl Write, j: &Judgement) {
    let _ = out.write_str("Rules\n");
    for r in &j.rules {
        let severity = match r.severity {
            Severity::Warning => " (warning only)",
            _ => "",
        };
        let detail = match r.verdict {
            Verdict::Fail => format!("{} violation(s){severity}", r.violations.len()),
            Verdict::Pass => r.meaning.clone(),
            _ => r.reason.clone().unwrap_or_default(),
        };
        let _ = writeln!(out, "  {:<22} {:<12} {detail}", r.id, r.verdict.to_string());
    }
    if j.lost > 0 || j.cut {
        let _ = writeln!(
            out,
            "  records lost: {}{}",
            j.lost,
            if j.cut {
                ", capture cut (no trailer)"
            } else {
                ""
            }
        );
    }
    let _ = out.write_char('\n');
}

fn timelines(out: &mut impl Write, j: &Judgement) {
    let _ = out.write_str("Timelines\n");
    if j.devices.is_empty() {
        let _ = out.write_str("  no watched device\n");
    }
    for d in &j.devices {
        device(out, j, d);
    }
}

fn device(out: &mut impl Write, j: &Judgement, d: &DeviceTimeline) {
    let bars: Vec<String> = d
        .bars
        .last()
        .map(|(_, b)| b.iter().map(|b| b.to_string()).collect())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  {}  now {}, {} cycle{}, BARs [{}]",
        describe_device(j, &d.bdf),
        d.state,
        d.cycle_count(),
        if d.cycle_count() == 1 { "" } else { "s" },
        bars.join(", ")
    );
    if let Some(m) = &d.watched_from {
        let _ = writeln!(
            out,
            "    first seen {} ({} [{} {}]): not watched when the capture began (not there, or \
             bound to no watched driver), so what came before (the end of a cycle begun earlier, \
             such as a remove whose rescan this is) is not judged as a cycle",
            j.at(m.ts_ns),
            m.what,
            m.comm,
            m.tid
        );
    }
    for c in d.all_cycles() {
        match c {
            Ok((outline, c)) => cycle(out, j, &outline, &c),
            Err(e) => {
                let _ = writeln!(out, "    {e}");
            }
        }
    }
}

fn cycle(out: &mut impl Write, j: &Judgement, outline: &CycleOutline, c: &Cycle) {
    let trigger = c
        .trigger
        .map_or("trigger unknown".to_owned(), |t| t.to_string());
    let end = match c.end {
        CycleEnd::Closed => "closed".to_owned(),
        CycleEnd::Removed => "device removed, not back".to_owned(),
        CycleEnd::Unbound => "driver unbound, device stays".to_owned(),
        CycleEnd::Open => {
            let since = c.steps.first().map_or(0, |m| m.ts_ns);
            format!(
                "OPEN for {}",
                human_duration(j.end_ns.saturating_sub(since))
            )
        }
    };
    let before = if c.started_before_capture {
        ", started before the capture"
    } else {
        ""
    };
    let _ = writeln!(out, "    cycle {} ({trigger}{before}): {end}", c.number);
    let windows = [("quiesce", outline.quiesce), ("unmap", outline.unmap)];
    for (name, window) in windows {
        if let Some(w) = window {
            let open = match (w.end_ns, c.end) {
                (Some(_), _) => "",
                (None, CycleEnd::Removed) => " (the device is gone)",
                (None, CycleEnd::Unbound) => " (no driver since)",
                (None, CycleEnd::Open | CycleEnd::Closed) => " (open)",
            };
            let _ = writeln!(
                out,
                "      {name} window {}{open}",
                human_duration(w.length_ns(j.end_ns))
            );
        }
    }
    for m in &c.steps {
        let _ = writeln!(
            out,
            "      {} {} [{} {}]",
            j.at(m.ts_ns),
            m.what,
            m.comm,
            m.tid
        );
    }
}
