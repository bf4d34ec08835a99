//! Whether barwatch saw every call the kernel's own tracing saw, call by call.
//!
//! Counting calls per phase is not enough: barwatch's BPF program and the kernel's
//! trace event run in the same kprobe hit but take their timestamps apart (half a
//! millisecond under TCG, several when the host is busy), so a call right at a phase
//! boundary falls on different sides of it. Instead:
//! - kernel calls inside a span barwatch itself reported blind (a handler the kernel
//!   skipped, see `barwatch::skipped`) are booked as skipped, for the probes that
//!   share the guard that skipped it (kprobes and classic tracepoints);
//! - the rest are paired in order with barwatch's events of the same probe on the
//!   same CPU in the same thread, within [`SLACK_NS`], by the alignment that pairs
//!   the most calls and then keeps them closest (a first-fit pairing shifts by
//!   one call when the slack is longer than the calls' period); leftovers on
//!   either side are disagreements, counted apart: a missed call and an invented
//!   one never make up for each other.
//!
//! The comparison never holds vacuously: a ground truth without its phase marks
//! (its file missing, or the scenario never reached them), a ground-truth probe the
//! kernel refused, a traced function whose probe barwatch failed to attach, or
//! nothing compared at all is a problem. Traced functions barwatch has no probe
//! for (the fixture's work function, which it sees through the workqueue
//! tracepoints) are listed apart: the tests read them as facts. Every event the kernel was set to trace is compared, hit or
//! not, so barwatch's events of a function the kernel never ran are invented.

use std::fmt;

use barwatch::{capture::reader::Capture, probe_table::Mechanism, skipped::skipped_in_capture};
use xtask::vm::GroundTruth;

/// How far apart the two timestamps of one call may be. Pairing goes in order within
/// one thread on one CPU, so a generous slack cannot hide a missing call: it leaves
/// one call unpaired either way. Seen on a busy host: the kernel's event of aplay's
/// first control ioctl 52 ms after barwatch's (rescan-cycles, 6.1 under TCG).
const SLACK_NS: u64 = 100_000_000;

/// One call, as both sides place it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// The CPU it ran on.
    pub cpu: u32,
    /// The thread it ran in (the interrupted one under an IRQ).
    pub tid: u32,
    /// When, in CLOCK_MONOTONIC nanoseconds.
    pub ns: u64,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpu {} tid {} at {} ns", self.cpu, self.tid, self.ns)
    }
}

/// One probe's row of the comparison.
#[derive(Debug, Default, PartialEq)]
pub struct Row {
    /// barwatch's probe name, e.g. `kprobe:azx_interrupt`.
    pub probe: String,
    /// Calls the kernel traced in the window.
    pub kernel: usize,
    /// barwatch's events of the probe in the window.
    pub recorded: usize,
    /// Kernel calls barwatch recorded too.
    pub paired: usize,
    /// Kernel calls barwatch did not record but reported as skipped.
    pub skipped: usize,
    /// Kernel calls barwatch neither recorded nor reported.
    pub missed: Vec<Call>,
    /// barwatch events inside the window with no kernel call.
    pub invented: Vec<Call>,
}

/// The comparison of every probe both sides know.
#[derive(Debug, Default)]
pub struct Agreement {
    /// One row per probe, by name.
    pub rows: Vec<Row>,
    /// Ground-truth functions whose probe barwatch lists but did not attach, with
    /// their call counts.
    pub unprobed: Vec<(String, usize)>,
    /// Ground-truth functions barwatch has no probe for, with their call counts.
    pub unwatched: Vec<(String, usize)>,
    /// Why the comparison cannot stand as it is, even where the rows agree: no
    /// phase marks, ground-truth probes the kernel refused, nothing compared.
    pub problems: Vec<String>,
}

impl Agreement {
    /// Whether something was compared on an intact ground truth, every traced
    /// function was attached, and every kernel call was recorded or reported
    /// skipped, and nothing more.
    pub fn holds(&self) -> bool {
        self.problems.is_empty()
            && self.unprobed.is_empty()
            && self
                .rows
                .iter()
                .all(|row| row.missed.is_empty() && row.invented.is_empty())
    }
}

/// barwatch's probe for a ground-truth kprobe event name: `foo` is `kprobe:foo`,
/// `foo_ret` is `kretprobe:foo`.
pub fn kprobe_of(function: &str) -> String {
    match function.strip_suffix("_ret") {
        Some(name) => format!("kretprobe:{name}"),
        None => format!("kprobe:{function}"),
    }
}

/// barwatch's probe for a ground-truth tracepoint event name: the tracepoint in
/// the capture's probe table with that event name, e.g. `hda:hda_send_cmd`.
pub fn tracepoint_of(capture: &Capture) -> impl Fn(&str) -> String + '_ {
    |event| {
        capture
            .header
            .probes
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| !name.starts_with("kprobe:") && !name.starts_with("kretprobe:"))
            .find(|name| name.split_once(':').map(|(_, n)| n) == Some(event))
            .unwrap_or(event)
            .to_owned()
    }
}

/// Compares the calls between the starts of phases `from` and `to`, naming each
/// ground-truth event's probe with `probe_of`.
pub fn compare(
    truth: &GroundTruth,
    capture: &Capture,
    from: &str,
    to: &str,
    probe_of: &dyn Fn(&str) -> String,
) -> Agreement {
    let mut agreement = Agreement::default();
    if !truth.unregistered.is_empty() {
        agreement.problems.push(format!(
            "the kernel refused these ground-truth probes, so their calls were not counted: {}",
            truth.unregistered.join("; ")
        ));
    }
    let missing: Vec<&str> = [from, to]
        .into_iter()
        .filter(|phase| !truth.phase_starts.contains_key(*phase))
        .collect();
    if !missing.is_empty() {
        agreement.problems.push(format!(
            "the ground truth has no phase mark {} (its trace is missing or the scenario never got there): nothing can be compared",
            missing.join(", ")
        ));
        return agreement;
    }
    let seconds = |phase: &str| (truth.phase_starts[phase] * 1e9) as u64;
    let window = seconds(from)..seconds(to);
    let skipped = skipped_in_capture(capture);
    let mut functions: Vec<&str> = truth
        .hits
        .iter()
        .map(|h| h.function.as_str())
        .chain(truth.registered.iter().map(String::as_str))
        .collect();
    functions.sort_unstable();
    functions.dedup();

    for function in functions {
        let probe = probe_of(function);
        let mut kernel: Vec<Call> = truth
            .of(function)
            .map(|hit| Call {
                cpu: hit.cpu,
                tid: hit.tid,
                ns: (hit.ts * 1e9).round() as u64,
            })
            .filter(|call| window.contains(&call.ns))
            .collect();
        let Some(status) = capture.header.probes.iter().find(|p| p.name == probe) else {
            agreement
                .unwatched
                .push((function.to_owned(), kernel.len()));
            continue;
        };
        let Some(mechanism) = status.attached else {
            agreement.unprobed.push((function.to_owned(), kernel.len()));
            continue;
        };
        // Only programs that run through trace_call_bpf share the per-CPU guard that
        // skips them; raw tracepoints and trampolines have a per-program one.
        let guarded = matches!(
            mechanism,
            Mechanism::Kprobe | Mechanism::Kretprobe | Mechanism::Tracepoint
        );
        // Events farther out than the slack cannot pair with a call in the window.
        let near = window.start.saturating_sub(SLACK_NS)..window.end + SLACK_NS;
        let mut ours: Vec<Call> = capture
            .events
            .iter()
            .filter(|e| e.probe == probe && near.contains(&e.ts_ns))
            .map(|e| Call {
                cpu: e.cpu,
                tid: e.tid,
                ns: e.ts_ns,
            })
            .collect();
        kernel.sort_unstable();
        ours.sort_unstable();

        let mut row = Row {
            probe,
            kernel: kernel.len(),
            recorded: ours.iter().filter(|c| window.contains(&c.ns)).count(),
            ..Row::default()
        };
        kernel.retain(|call| {
            // The kernel's trace event comes after the skipped span's entry timestamp
            // and before its exit, give or take ftrace's microsecond rounding.
            let covered = guarded
                && skipped.iter().any(|span| {
                    span.covers(call.cpu, call.ns) || span.covers(call.cpu, call.ns + 1_000)
                });
            row.skipped += usize::from(covered);
            !covered
        });
        let mut unpaired_ours = Vec::new();
        for (thread, calls) in by_thread(&kernel) {
            let events: Vec<Call> = ours
                .iter()
                .filter(|c| (c.cpu, c.tid) == thread)
                .copied()
                .collect();
            let paired = align(&calls, &events);
            row.paired += paired.pairs;
            row.missed.extend(paired.left.iter().map(|&i| calls[i]));
            unpaired_ours.extend(paired.right.iter().map(|&j| events[j]));
        }
        unpaired_ours.extend(
            ours.iter()
                .filter(|c| !kernel.iter().any(|k| (k.cpu, k.tid) == (c.cpu, c.tid))),
        );
        let inner = window.start + SLACK_NS..window.end.saturating_sub(SLACK_NS);
        row.invented = unpaired_ours
            .into_iter()
            .filter(|call| inner.contains(&call.ns))
            .collect();
        agreement.rows.push(row);
    }
    if agreement.rows.is_empty() && agreement.unprobed.is_empty() && agreement.unwatched.is_empty()
    {
        agreement
            .problems
            .push("the ground truth traced no function: nothing was compared".to_owned());
    }
    agreement
}

/// Calls grouped by `(cpu, tid)`, each group in time order.
fn by_thread(calls: &[Call]) -> Vec<((u32, u32), Vec<Call>)> {
    let mut groups: std::collections::BTreeMap<(u32, u32), Vec<Call>> = Default::default();
    for call in calls {
        groups.entry((call.cpu, call.tid)).or_default().push(*call);
    }
    groups.into_iter().collect()
}

/// The outcome of aligning two call sequences of one thread.
#[derive(Debug, Default, PartialEq)]
struct Alignment {
    /// Calls paired.
    pairs: usize,
    /// Indices of the left sequence's calls left unpaired.
    left: Vec<usize>,
    /// Indices of the right sequence's calls left unpaired.
    right: Vec<usize>,
}

/// Pairs two time-ordered sequences in order, each pair at most [`SLACK_NS`] apart:
/// the alignment with the fewest calls left over, then the smallest total distance
/// (dynamic programming over both sequences, as in sequence alignment).
fn align(left: &[Call], right: &[Call]) -> Alignment {
    #[derive(Clone, Copy, PartialEq)]
    enum Step {
        Pair,
        SkipLeft,
        SkipRight,
    }
    let (n, m) = (left.len(), right.len());
    // cost[i][j]: (calls left over, total distance) aligning left[..i], right[..j].
    let mut cost = vec![vec![(0usize, 0u64); m + 1]; n + 1];
    let mut step = vec![vec![Step::Pair; m + 1]; n + 1];
    for i in 0..=n {
        for j in 0..=m {
            if i == 0 && j == 0 {
                continue;
            }
            let mut best: Option<((usize, u64), Step)> = None;
            let mut consider = |c: (usize, u64), s: Step| {
                if best.is_none_or(|(b, _)| c < b) {
                    best = Some((c, s));
                }
            };
            if i > 0 {
                let (over, d) = cost[i - 1][j];
                consider((over + 1, d), Step::SkipLeft);
            }
            if j > 0 {
                let (over, d) = cost[i][j - 1];
                consider((over + 1, d), Step::SkipRight);
            }
            if i > 0 && j > 0 {
                let distance = left[i - 1].ns.abs_diff(right[j - 1].ns);
                if distance <= SLACK_NS {
                    let (over, d) = cost[i - 1][j - 1];
                    consider((over, d + distance), Step::Pair);
                }
            }
            let (c, s) = best.expect("one step is always possible");
            cost[i][j] = c;
            step[i][j] = s;
        }
    }
    let mut alignment = Alignment::default();
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        match step[i][j] {
            Step::Pair => {
                alignment.pairs += 1;
                (i, j) = (i - 1, j - 1);
            }
            Step::SkipLeft => {
                alignment.left.push(i - 1);
                i -= 1;
            }
            Step::SkipRight => {
                alignment.right.push(j - 1);
                j -= 1;
            }
        }
    }
    alignment.left.reverse();
    alignment.right.reverse();
    alignment
}

/// Calls, listed for a message.
fn listed(calls: &[Call]) -> String {
    calls
        .iter()
        .map(Call::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Agreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.problems {
            writeln!(f, "PROBLEM: {problem}")?;
        }
        writeln!(
            f,
            "{:40} {:>7} {:>9} {:>7} {:>8} {:>7} {:>9}  DETAILS",
            "PROBE", "KERNEL", "BARWATCH", "PAIRED", "SKIPPED", "MISSED", "INVENTED"
        )?;
        for row in &self.rows {
            let mut details = Vec::new();
            if !row.missed.is_empty() {
                details.push(format!("missed {}", listed(&row.missed)));
            }
            if !row.invented.is_empty() {
                details.push(format!("no kernel call for {}", listed(&row.invented)));
            }
            writeln!(
                f,
                "{:40} {:>7} {:>9} {:>7} {:>8} {:>7} {:>9}  {}",
                row.probe,
                row.kernel,
                row.recorded,
                row.paired,
                row.skipped,
                row.missed.len(),
                row.invented.len(),
                details.join("; ")
            )?;
        }
        for (function, calls) in &self.unprobed {
            writeln!(
                f,
                "{function:40} {calls:>7} {:>9} {:>7} {:>8} {:>7} {:>9}  not attached by barwatch",
                "-", "-", "-", "-", "-"
            )?;
        }
        for (function, calls) in &self.unwatched {
            writeln!(
                f,
                "{function:40} {calls:>7} {:>9} {:>7} {:>8} {:>7} {:>9}  no barwatch probe (a fact for the tests)",
                "-", "-", "-", "-", "-"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use barwatch::{
        capture::{
            format::{Header, Trailer},
            reader::CaptureEnd,
        },
        event::{Event, EventData, Hex},
        probe_table::{Attempt, Mechanism, ProbeStatus, Role},
    };

    use super::*;

    /// The thread every call of these tests runs in.
    const TID: u32 = 9;

    /// The kernel's trace: phase marks at 1 s and 2 s, and `azx_interrupt` calls
    /// in thread [`TID`]; `azx_interrupt` was registered.
    fn truth(calls: &[(u32, &str)]) -> GroundTruth {
        let mut trace =
            String::from("sh-1 [000] ..... 1.000000: tracing_mark_write: barwatch-phase: setup\n");
        for (cpu, ts) in calls {
            trace.push_str(&format!(
                "kworker-9 [{cpu:03}] d.h1. {ts}: azx_interrupt: (azx_interrupt+0x0/0x110 [snd_hda_codec])\n"
            ));
        }
        trace.push_str("sh-1 [000] ..... 2.000000: tracing_mark_write: barwatch-phase: done\n");
        let mut truth = GroundTruth::parse(&trace);
        truth.registered = vec!["azx_interrupt".to_owned()];
        truth
    }

    fn call(cpu: u32, ns: u64) -> Call {
        Call { cpu, tid: TID, ns }
    }

    fn event(cpu: u32, ts_ns: u64, probe: &str, data: EventData) -> Event {
        Event {
            ts_ns,
            cpu,
            pid: TID,
            tid: TID,
            comm: "kworker".into(),
            probe: probe.into(),
            device: None,
            data,
        }
    }

    fn handler_probe(cpu: u32, ts_ns: u64) -> Event {
        let data = EventData::FuncEntry {
            function: "azx_interrupt".into(),
            module: None,
            ip: Hex(0xffff_ffff_c0a0_1230),
            args: [Hex(0); 4],
            base: None,
            stack: Vec::new(),
        };
        event(cpu, ts_ns, "kprobe:azx_interrupt", data)
    }

    /// An `irq_handler_entry`/`exit` pair around `azx_interrupt` with no probe inside.
    fn skipped_handler(cpu: u32, from_ns: u64, to_ns: u64) -> [Event; 2] {
        let (handler, handler_name) = (Hex(0xffff_ffff_c0a0_1230), Some("azx_interrupt".into()));
        [
            event(
                cpu,
                from_ns,
                "irq:irq_handler_entry",
                EventData::IrqHandlerEntry {
                    irq: 27,
                    handler,
                    handler_name: handler_name.clone(),
                    thread: None,
                },
            ),
            event(
                cpu,
                to_ns,
                "irq:irq_handler_exit",
                EventData::IrqHandlerExit {
                    irq: 27,
                    handler,
                    handler_name,
                    handled: true,
                },
            ),
        ]
    }

    fn capture(events: Vec<Event>) -> Capture {
        let probe = ProbeStatus {
            name: "kprobe:azx_interrupt".into(),
            role: Role::Irq,
            attached: Some(Mechanism::Kprobe),
            attempts: vec![Attempt {
                mechanism: Mechanism::Kprobe,
                failure: None,
            }],
            note: None,
            marks: None,
            mapping: None,
            carries_ioctls: false,
        };
        Capture {
            header: Header::new("6.1.0-56-amd64", "guest", 0, 0, vec![probe]),
            events,
            end: CaptureEnd::Trailer(Trailer::default()),
        }
    }

    #[test]
    fn a_call_astride_a_phase_mark_is_one_call_not_a_difference() {
        // barwatch's program ran just before the setup mark, the kernel's event just after.
        let truth = truth(&[(1, "1.000100"), (0, "1.500000")]);
        let capture = capture(vec![
            handler_probe(1, 999_900_000),
            handler_probe(0, 1_499_800_000),
        ]);
        let agreement = compare(&truth, &capture, "setup", "done", &kprobe_of);
        assert!(agreement.holds(), "{agreement}");
        assert_eq!(agreement.rows[0].paired, 2);
    }

    #[test]
    fn a_call_barwatch_reported_skipped_is_accounted_for() {
        let truth = truth(&[(0, "1.100000"), (1, "1.200010")]);
        let mut events = vec![handler_probe(0, 1_099_990_000)];
        events.extend(skipped_handler(1, 1_200_000_000, 1_200_050_000));
        let agreement = compare(&truth, &capture(events), "setup", "done", &kprobe_of);
        assert!(agreement.holds(), "{agreement}");
        assert_eq!(
            (agreement.rows[0].paired, agreement.rows[0].skipped),
            (1, 1)
        );
    }

    #[test]
    fn a_raw_tracepoint_inside_a_skipped_handler_still_records() {
        // The handler's kprobe was skipped, but a raw tracepoint program has its own
        // guard: the position tracepoint inside the handler is there and pairs.
        let truth = GroundTruth::parse(
            "sh-1 [000] ..... 1.000000: tracing_mark_write: barwatch-phase: setup\n\
             kworker-9 [001] d.h1. 1.200010: azx_get_position: [0:0] pos=0 delay=0\n\
             sh-1 [000] ..... 2.000000: tracing_mark_write: barwatch-phase: done\n",
        );
        let mut events = vec![handler_probe(0, 1_099_990_000)];
        events.extend(skipped_handler(1, 1_200_000_000, 1_200_050_000));
        let position = EventData::Tracepoint {
            args: vec![Hex(0); 4],
            base: None,
        };
        events.push(event(
            1,
            1_200_005_000,
            "hda_controller:azx_get_position",
            position,
        ));
        let mut capture = capture(events);
        let mut tracepoint = capture.header.probes[0].clone();
        tracepoint.name = "hda_controller:azx_get_position".into();
        tracepoint.attached = Some(Mechanism::RawTracepoint);
        capture.header.probes.push(tracepoint);
        let agreement = compare(&truth, &capture, "setup", "done", &tracepoint_of(&capture));
        assert!(agreement.holds(), "{agreement}");
        assert_eq!(
            (agreement.rows[0].paired, agreement.rows[0].skipped),
            (1, 0)
        );
    }

    #[test]
    fn a_call_barwatch_neither_recorded_nor_reported_is_missed() {
        let truth = truth(&[(0, "1.100000"), (1, "1.200010")]);
        let capture = capture(vec![handler_probe(0, 1_099_990_000)]);
        let agreement = compare(&truth, &capture, "setup", "done", &kprobe_of);
        assert!(!agreement.holds());
        assert_eq!(agreement.rows[0].missed, [call(1, 1_200_010_000)]);
        assert!(agreement.to_string().contains("missed"), "{agreement}");
    }

    #[test]
    fn an_event_without_a_kernel_call_is_invented() {
        let truth = truth(&[(0, "1.100000")]);
        let capture = capture(vec![
            handler_probe(0, 1_099_990_000),
            handler_probe(0, 1_600_000_000),
        ]);
        let agreement = compare(&truth, &capture, "setup", "done", &kprobe_of);
        assert!(!agreement.holds());
        assert_eq!(agreement.rows[0].invented, [call(0, 1_600_000_000)]);
    }

    #[test]
    fn a_missed_call_and_an_invented_one_within_the_slack_do_not_cancel_out() {
        // The kernel's call ran in thread 9; barwatch recorded none of it but an
        // event 1 ms later in another thread on the same CPU. The counts are equal.
        let truth = truth(&[(0, "1.500000")]);
        let mut invented = handler_probe(0, 1_501_000_000);
        invented.tid = 77;
        let agreement = compare(
            &truth,
            &capture(vec![invented]),
            "setup",
            "done",
            &kprobe_of,
        );
        assert!(!agreement.holds(), "{agreement}");
        let row = &agreement.rows[0];
        assert_eq!((row.kernel, row.recorded, row.paired), (1, 1, 0));
        assert_eq!(row.missed, [call(0, 1_500_000_000)]);
        assert_eq!(
            row.invented,
            [Call {
                cpu: 0,
                tid: 77,
                ns: 1_501_000_000
            }]
        );
        let table = agreement.to_string();
        assert!(
            table.contains("missed") && table.contains("no kernel call"),
            "{table}"
        );
    }

    #[test]
    fn a_missing_ground_truth_does_not_agree_with_anything() {
        // What a run whose trace file did not come back holds: no marks, no calls.
        let agreement = compare(
            &GroundTruth::default(),
            &capture(vec![handler_probe(0, 1_500_000_000)]),
            "setup",
            "done",
            &kprobe_of,
        );
        assert!(!agreement.holds());
        assert!(
            agreement.problems[0].contains("no phase mark setup, done"),
            "{agreement}"
        );
    }

    #[test]
    fn a_trace_without_its_phase_marks_does_not_agree() {
        let mut truth = GroundTruth::parse(
            "kworker-9 [000] d.h1. 1.500000: azx_interrupt: (azx_interrupt+0x0/0x110 [snd_hda_codec])\n\
             sh-1 [000] ..... 2.000000: tracing_mark_write: barwatch-phase: done\n",
        );
        truth.registered = vec!["azx_interrupt".to_owned()];
        let capture = capture(vec![handler_probe(0, 1_500_000_000)]);
        let agreement = compare(&truth, &capture, "setup", "done", &kprobe_of);
        assert!(!agreement.holds());
        assert!(
            agreement.problems[0].contains("no phase mark setup"),
            "{agreement}"
        );
    }

    #[test]
    fn a_probe_barwatch_failed_to_attach_is_a_disagreement() {
        let truth = truth(&[(0, "1.500000")]);
        let mut capture = capture(Vec::new());
        capture.header.probes[0].attached = None;
        let agreement = compare(&truth, &capture, "setup", "done", &kprobe_of);
        assert!(!agreement.holds(), "{agreement}");
        assert_eq!(agreement.unprobed, [("azx_interrupt".to_owned(), 1)]);
        assert!(agreement.to_string().contains("not attached by barwatch"));
    }

    #[test]
    fn a_function_the_kernel_never_ran_is_compared_too() {
        // Registered, never hit: barwatch's event of it is invented.
        let truth = truth(&[]);
        let agreement = compare(
            &truth,
            &capture(vec![handler_probe(0, 1_500_000_000)]),
            "setup",
            "done",
            &kprobe_of,
        );
        assert!(!agreement.holds(), "{agreement}");
        assert_eq!(agreement.rows[0].kernel, 0);
        assert_eq!(agreement.rows[0].invented, [call(0, 1_500_000_000)]);
        // And with nothing on either side the row is there and agrees.
        let quiet = compare(&truth, &capture(Vec::new()), "setup", "done", &kprobe_of);
        assert!(quiet.holds(), "{quiet}");
        assert_eq!(quiet.rows.len(), 1);
    }

    #[test]
    fn a_ground_truth_probe_the_kernel_refused_is_a_disagreement() {
        let mut truth = truth(&[(0, "1.500000")]);
        truth.unregistered = vec!["p:bw/azx_nosuch snd_hda_codec:azx_nosuch".to_owned()];
        let capture = capture(vec![handler_probe(0, 1_500_000_000)]);
        let agreement = compare(&truth, &capture, "setup", "done", &kprobe_of);
        assert!(!agreement.holds(), "{agreement}");
        assert!(agreement.problems[0].contains("azx_nosuch"), "{agreement}");
    }

    #[test]
    fn a_ground_truth_that_traced_nothing_does_not_agree() {
        let truth = GroundTruth::parse(
            "sh-1 [000] ..... 1.000000: tracing_mark_write: barwatch-phase: setup\n\
             sh-1 [000] ..... 2.000000: tracing_mark_write: barwatch-phase: done\n",
        );
        let agreement = compare(&truth, &capture(Vec::new()), "setup", "done", &kprobe_of);
        assert!(!agreement.holds());
        assert!(
            agreement.problems[0].contains("nothing was compared"),
            "{agreement}"
        );
    }

    #[test]
    fn tracepoint_events_are_named_by_the_capture_s_probe_table() {
        let mut capture = capture(Vec::new());
        capture.header.probes[0].name = "hda:hda_send_cmd".into();
        let name = tracepoint_of(&capture);
        assert_eq!(name("hda_send_cmd"), "hda:hda_send_cmd");
        assert_eq!(name("azx_pcm_open"), "azx_pcm_open");
    }

    #[test]
    fn a_shifted_pairing_is_not_taken_for_a_missed_and_an_invented_call() {
        // A function called every 24 ms: barwatch's events just before the window
        // would pair first-fit with the kernel's first call in it and shift the rest.
        let calls: Vec<(u32, String)> = (0..10)
            .map(|i| (0, format!("1.{:06}", 100_000 + i * 24_000)))
            .collect();
        let calls: Vec<(u32, &str)> = calls.iter().map(|(c, t)| (*c, t.as_str())).collect();
        let truth = truth(&calls);
        let events = (0..14)
            .map(|i| handler_probe(0, 1_004_000_000 + i * 24_000_000 - 10_000))
            .collect();
        let agreement = compare(&truth, &capture(events), "setup", "done", &kprobe_of);
        assert!(agreement.holds(), "{agreement}");
        assert_eq!(agreement.rows[0].paired, 10);
    }

    #[test]
    fn a_late_timestamp_still_pairs_with_its_own_call() {
        // The kernel's event of the first call came 52 ms after barwatch's.
        let truth = truth(&[(0, "1.359311"), (0, "1.360633"), (0, "1.361013")]);
        let events = vec![
            handler_probe(0, 1_306_831_564),
            handler_probe(0, 1_360_614_601),
            handler_probe(0, 1_361_007_184),
        ];
        let agreement = compare(&truth, &capture(events), "setup", "done", &kprobe_of);
        assert!(agreement.holds(), "{agreement}");
        assert_eq!(agreement.rows[0].paired, 3);
    }

    #[test]
    fn functions_barwatch_has_no_probe_for_are_listed_apart() {
        let truth = GroundTruth::parse(
            "sh-1 [000] ..... 1.000000: tracing_mark_write: barwatch-phase: setup\n\
             sh-1 [000] ..... 1.500000: azx_resume: (azx_resume+0x0/0x50 [snd_hda_intel])\n\
             sh-1 [000] ..... 2.000000: tracing_mark_write: barwatch-phase: done\n",
        );
        let agreement = compare(&truth, &capture(Vec::new()), "setup", "done", &kprobe_of);
        assert!(agreement.holds(), "{agreement}");
        assert_eq!(agreement.unwatched, [("azx_resume".to_owned(), 1)]);
        assert!(agreement.unprobed.is_empty());
    }
}
