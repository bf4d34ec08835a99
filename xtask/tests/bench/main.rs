//! End-to-end runs on the real-kernel bench: Debian's kernel in QEMU with the real
//! snd_hda_intel and the fixture driver. Each test boots the guest once and checks
//! the kernel's own ground truth, the scenario's facts and barwatch's capture.
//!
//! They need root (the bench installs QEMU and builds the guest) and take a minute
//! each under TCG. Without root they say why they skipped (and are counted as
//! skipped), except under a non-empty `CI`, where that is a failure.

mod agreement;
mod soak;
mod verdict;

use std::{collections::BTreeMap, fs, sync::Mutex};

use barwatch::{
    capture::reader::{CaptureEnd, read_capture},
    event::{Event, EventData},
    probe_table::{Mechanism, ProbeStatus, Role},
    profile::Profile,
    skipped::skipped_in_capture,
};
use verdict::{Verdict, assert_verdict};
use xtask::vm::{self, GroundTruth, RunReport, results::Hit};

/// One guest at a time: they share the build folders and the machine's two cores.
static BENCH: Mutex<()> = Mutex::new(());

/// Runs a scenario if the bench can run here, failing on any problem it reports.
fn run(scenario: &str) -> Option<RunReport> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        barwatch::test_skip::skip("not root: the bench installs QEMU and builds a guest as root");
        return None;
    }
    let _one_at_a_time = BENCH.lock().unwrap_or_else(|p| p.into_inner());
    let report = vm::run(scenario, &[]).expect("the bench runs the scenario");
    vm::print_report(&report);
    assert!(
        report.problems().is_empty(),
        "{scenario}: {:?}",
        report.problems()
    );
    Some(report)
}

/// Runs a fixture scenario and checks what every fixture story must show: barwatch
/// agrees with the kernel call by call, and every event about the fixture names
/// it; returns the report and the scenario's facts.
fn run_fixture(scenario: &str) -> Option<(RunReport, BTreeMap<String, String>)> {
    let report = run(scenario)?;
    assert_counts_match_ground_truth(&report);
    let facts = facts(&report);
    assert_events_name_the_device(
        &report,
        &facts["fixture_bdf"],
        &about_fixture(bar0s(&facts)),
    );
    Some((report, facts))
}

/// Every cycle of every device in a verdict: its trigger and how it ended.
fn cycles(verdict: &Verdict) -> Vec<(String, String)> {
    verdict.json["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| d["cycles"].as_array().into_iter().flatten())
        .map(|c| {
            (
                c["trigger"].as_str().unwrap_or("unknown").to_owned(),
                c["end"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The verdict shows exactly one cycle, closed, of kind `trigger`.
fn assert_one_closed_cycle(verdict: &Verdict, trigger: &str) {
    assert_eq!(
        cycles(verdict),
        [(trigger.to_owned(), "closed".to_owned())],
        "one closed {trigger} cycle"
    );
}

/// Some violation of `rule` says `needle` in its line or stack.
fn assert_told(verdict: &Verdict, rule: &str, needle: &str) {
    let told: Vec<String> = verdict
        .violations(rule)
        .into_iter()
        .map(Verdict::told)
        .collect();
    assert!(
        told.iter().any(|t| t.contains(needle)),
        "a {rule} violation names {needle}: {told:#?}"
    );
}

/// `KEY=VALUE` lines the scenario wrote to /results/facts.
fn facts(report: &RunReport) -> BTreeMap<String, String> {
    fs::read_to_string(report.file("facts"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The iounmap of the remove phase, which every remove scenario has.
fn unmap_on_remove(truth: &GroundTruth) -> &Hit {
    truth
        .of("iounmap")
        .find(|h| h.phase == "remove")
        .unwrap_or_else(|| panic!("no iounmap on remove\n{truth}"))
}

/// Checks, call by call, that barwatch recorded every call of every probed function
/// the kernel's own tracing saw between the `setup` and `done` phases (or reported
/// it skipped), nothing more, and lost nothing; prints the comparison either way.
fn assert_counts_match_ground_truth(report: &RunReport) {
    assert_counts_match_ground_truth_between(report, "setup", "done");
}

/// [`assert_counts_match_ground_truth`] between the starts of phases `from` and `to`.
fn assert_counts_match_ground_truth_between(report: &RunReport, from: &str, to: &str) {
    let capture =
        read_capture(&report.file("capture.jsonl")).expect("the guest's capture reads back");
    let CaptureEnd::Trailer(trailer) = &capture.end else {
        panic!("barwatch's capture was cut: {:?}", capture.end)
    };
    assert_eq!(trailer.lost, 0, "records lost: {trailer:?}");
    assert_eq!(trailer.stacks_lost, 0, "stacks not taken: {trailer:?}");
    let functions = agreement::compare(&report.truth, &capture, from, to, &agreement::kprobe_of);
    let tracepoint_of = agreement::tracepoint_of(&capture);
    let tracepoints = agreement::compare(&report.tracepoints, &capture, from, to, &tracepoint_of);
    eprintln!("{functions}{tracepoints}");
    assert!(
        functions.holds() && tracepoints.holds(),
        "barwatch and the kernel disagree:\n{functions}{tracepoints}"
    );
}

/// Whether an event is about the device under test: `Some(true)` when it must name
/// it, `Some(false)` when it must not, `None` when the test cannot tell on its own.
type Concerns = dyn Fn(&Event) -> Option<bool>;

/// Checks that every event about the device names its PCI address `bdf`, and that
/// no event unrelated to it does; lists the first offenders otherwise.
fn assert_events_name_the_device(report: &RunReport, bdf: &str, concerns: &Concerns) {
    let capture =
        read_capture(&report.file("capture.jsonl")).expect("the guest's capture reads back");
    let named = |e: &Event| e.device.as_deref() == Some(bdf);
    let offenders: Vec<String> = capture
        .events
        .iter()
        .filter(|e| concerns(e).is_some_and(|about| about != named(e)))
        .take(5)
        .map(|e| format!("{} {} device={:?}: {}", e.ts_ns, e.probe, e.device, e.data))
        .collect();
    assert!(
        offenders.is_empty(),
        "events that should name {bdf} and do not, or the reverse:\n{}",
        offenders.join("\n")
    );
    let about = capture
        .events
        .iter()
        .filter(|e| concerns(e) == Some(true))
        .count();
    assert!(about > 0, "no event about {bdf} at all");
}

/// What [`assert_events_name_the_device`] checks for the HD-audio controller: its
/// IRQ handler, the ALSA ioctls (major 116), the HD-audio profile's functions that
/// name the controller through a base path or run inside an ioctl, and mappings of
/// the BAR0 addresses in `bars`.
fn about_hda(bars: Vec<u64>) -> impl Fn(&Event) -> Option<bool> {
    let keyed: Vec<String> = Profile::builtin()
        .into_iter()
        .filter(|p| p.name == "hda")
        .flat_map(|p| p.functions)
        .filter(|f| f.base.is_some() || f.role == Role::AlsaEntry)
        .map(|f| f.name)
        .collect();
    move |event| match &event.data {
        EventData::IrqHandlerEntry { handler_name, .. }
        | EventData::IrqHandlerExit { handler_name, .. } => {
            Some(handler_name.as_deref() == Some("azx_interrupt"))
        }
        EventData::IoctlEnter { dev, .. } | EventData::IoctlExit { dev, .. } => {
            Some(dev.is_some_and(|d| d.major == 116))
        }
        EventData::FuncEntry { function, args, .. } if function == "ioremap" => {
            Some(bars.iter().any(|&bar| bar == args[0].0))
        }
        EventData::FuncEntry { function, .. } | EventData::FuncExit { function, .. } => {
            keyed.iter().any(|k| k == function.as_str()).then_some(true)
        }
        EventData::WorkStart { .. } | EventData::WorkEnd { .. } => Some(false),
        EventData::ModuleLoad { .. } => Some(false),
        // Page faults are judged by address; sysfs states name their own device.
        EventData::PageFault { .. } | EventData::DeviceState { .. } => None,
        // The HD-audio drivers' own tracepoints, all about the controller.
        EventData::Tracepoint { .. } => Some(true),
    }
}

/// What [`assert_events_name_the_device`] checks for the fixture: its functions,
/// and the mappings of its BAR0 addresses in `bars`.
fn about_fixture(bars: Vec<u64>) -> impl Fn(&Event) -> Option<bool> {
    move |event| match &event.data {
        EventData::FuncEntry { function, args, .. } if function == "ioremap" => {
            Some(bars.iter().any(|&bar| bar == args[0].0))
        }
        EventData::FuncEntry { function, .. } | EventData::FuncExit { function, .. } => {
            function.starts_with("barwatch_fixture_").then_some(true)
        }
        EventData::IrqHandlerEntry { handler_name, .. }
        | EventData::IrqHandlerExit { handler_name, .. } => handler_name
            .as_deref()
            .is_some_and(|h| h.starts_with("barwatch_fixture"))
            .then_some(true),
        _ => None,
    }
}

/// BAR0 before and after the rescan, from the scenario's facts.
fn bar0s(facts: &BTreeMap<String, String>) -> Vec<u64> {
    ["bar0_before", "bar0_after"]
        .iter()
        .filter_map(|key| facts.get(*key))
        .map(|text| address(text))
        .collect()
}

/// Parses a `0x…` address.
fn address(text: &str) -> u64 {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("a hex address")
}

#[test]
fn playback_remove_rescan_unmaps_after_disconnect_and_remaps_the_moved_bar() {
    let Some(report) = run("playback-remove-rescan") else {
        return;
    };
    // ALSA disconnects aplay's files before the driver stops: every rule holds.
    let verdict = assert_verdict(&report, 0, &[]);
    assert_one_closed_cycle(&verdict, "remove");
    let truth = &report.truth;
    let facts = facts(&report);

    let disconnect = truth
        .of("snd_card_disconnect")
        .next()
        .expect("snd_card_disconnect ran");
    assert_eq!(disconnect.phase, "remove");
    assert!(
        truth.count("remove", "azx_stop_chip") >= 1,
        "the chip is stopped on remove\n{truth}"
    );
    let unmap = unmap_on_remove(truth);
    assert!(
        unmap.ts > disconnect.ts,
        "iounmap comes after snd_card_disconnect\n{truth}"
    );

    assert!(truth.count("rescan", "pci_rescan_bus") >= 1, "{truth}");
    let (before, after) = (
        address(&facts["bar0_before"]),
        address(&facts["bar0_after"]),
    );
    assert_ne!(before, after, "the first rescan on -M pc moves BAR0");
    assert!(
        truth
            .of("ioremap")
            .any(|h| h.phase == "rescan" && address(&h.args["phys"]) == after),
        "the driver maps the new BAR0 {after:#x} on rescan\n{truth}"
    );
    assert_eq!(
        facts["aplay_after_exit"], "0",
        "aplay plays again after the rescan"
    );
    assert_counts_match_ground_truth(&report);
    assert_events_name_the_device(&report, &facts["bdf"], &about_hda(bar0s(&facts)));

    let probes: Vec<ProbeStatus> =
        serde_json::from_str(&fs::read_to_string(report.file("probes.json")).unwrap()).unwrap();
    let stop = probes
        .iter()
        .find(|p| p.name == "kprobe:azx_stop_chip")
        .unwrap();
    assert_eq!(
        stop.attached,
        Some(Mechanism::Kprobe),
        "module functions attach by kprobe in the guest: {stop:?}"
    );

    let capture =
        read_capture(&report.file("capture.jsonl")).expect("the guest's capture reads back");
    let remap_stack = capture
        .events
        .iter()
        .find_map(|e| match &e.data {
            EventData::FuncEntry {
                function, stack, ..
            } if function == "ioremap" => Some(stack.clone()),
            _ => None,
        })
        .expect("barwatch saw the remap");
    assert!(
        remap_stack.iter().any(|frame| frame.starts_with("azx_")),
        "the remap's stack names the driver: {remap_stack:?}"
    );
    let (remapped_at, new_base) = capture
        .events
        .iter()
        .find_map(|e| match &e.data {
            EventData::FuncExit { function, ret, .. } if function == "ioremap" => {
                Some((e.ts_ns, ret.0))
            }
            _ => None,
        })
        .expect("barwatch saw ioremap return the new mapping");
    assert!(
        capture.events.iter().any(|e| e.ts_ns > remapped_at
            && matches!(&e.data, EventData::FuncEntry { function, base: Some(b), .. }
                if function == "azx_interrupt" && b.0 == new_base)),
        "after the rescan azx_interrupt's bus->remap_addr (read at its BTF offset) is the new mapping {new_base:#x}"
    );
    assert!(
        capture
            .events
            .iter()
            .any(|e| e.comm.starts_with("aplay") && e.probe.ends_with("_ioctl")),
        "aplay's ioctls are in the capture"
    );

    // The capture alone tells the story in order: aplay's PCM ioctls, decoded by
    // name, then disconnect, stop, unmap of BAR0's mapping, rescan, map of the new
    // BAR0; each mapping with a stack through the driver.
    let first = |what: &str, matches: &dyn Fn(&EventData) -> bool| {
        capture
            .events
            .iter()
            .filter(|e| matches(&e.data))
            .map(|e| e.ts_ns)
            .min()
            .unwrap_or_else(|| panic!("no {what} in the capture"))
    };
    let entered = |name: &'static str| move |data: &EventData| matches!(data, EventData::FuncEntry { function, .. } if function == name);
    let ioctl = first(
        "aplay PCM ioctl",
        &|data| matches!(data, EventData::IoctlEnter { cmd_name, .. } if cmd_name.starts_with("SNDRV_PCM_IOCTL_")),
    );
    let disconnect = first("snd_card_disconnect", &entered("snd_card_disconnect"));
    let stop = first("azx_stop_chip", &entered("azx_stop_chip"));
    let unmapped = first("iounmap", &entered("iounmap"));
    let rescan = first("pci_rescan_bus", &entered("pci_rescan_bus"));
    let mapped = first(
        "ioremap of the new BAR0",
        &|data| matches!(data, EventData::FuncEntry { function, args, .. } if function == "ioremap" && args[0].0 == after),
    );
    assert!(
        ioctl < disconnect
            && disconnect < stop
            && stop < unmapped
            && unmapped < rescan
            && rescan < mapped,
        "in order: ioctl {ioctl}, disconnect {disconnect}, stop {stop}, iounmap {unmapped}, \
         rescan {rescan}, ioremap {mapped}"
    );
    // The map runs in the driver's probe; the unmap is devres releasing the
    // driver's pcim_iomap after azx_remove returned, so the remove path, not the
    // driver, is on its stack (seen on 6.1).
    let stack_of = |mapping: &str| {
        capture
            .events
            .iter()
            .find_map(|e| match &e.data {
                EventData::FuncEntry {
                    function, stack, ..
                } if function == mapping => Some(stack.clone()),
                _ => None,
            })
            .unwrap()
    };
    let map_stack = stack_of("ioremap");
    assert!(
        map_stack.iter().any(|frame| frame.starts_with("azx_")),
        "the ioremap stack names the driver: {map_stack:?}"
    );
    let unmap_stack = stack_of("iounmap");
    assert!(
        unmap_stack
            .iter()
            .any(|frame| frame.starts_with("pcim_iomap_release"))
            && unmap_stack
                .iter()
                .any(|frame| frame.starts_with("pci_stop_and_remove_bus_device_locked")),
        "the iounmap stack is devres releasing the driver's mapping on remove: {unmap_stack:?}"
    );
}

#[test]
fn fixture_correct_never_reads_after_unmap() {
    let Some((report, _)) = run_fixture("fixture-correct") else {
        return;
    };
    let verdict = assert_verdict(&report, 0, &[]);
    assert_one_closed_cycle(&verdict, "remove");
    let truth = &report.truth;
    let unmap = unmap_on_remove(truth);
    assert!(
        truth.of("barwatch_fixture_read").any(|h| h.ts < unmap.ts),
        "the accessor runs before remove\n{truth}"
    );
    assert!(
        !truth
            .of("barwatch_fixture_read")
            .any(|h| h.phase == "remove" && h.ts > unmap.ts),
        "no access between unmap and the rescan\n{truth}"
    );
}

#[test]
fn fixture_touch_after_unmap_reads_the_unmapped_bar() {
    let Some((report, facts)) = run_fixture("fixture-touch-after-unmap") else {
        return;
    };
    let verdict = assert_verdict(&report, 1, &["mmio-after-unmap", "work-in-window"]);
    assert_told(&verdict, "mmio-after-unmap", "fixture_work+");
    assert_told(
        &verdict,
        "work-in-window",
        "fixture_work [barwatch_fixture]",
    );
    let truth = &report.truth;
    let unmap = unmap_on_remove(truth);
    let base = address(&unmap.args["addr"]);
    assert!(
        truth
            .of("barwatch_fixture_read")
            .any(|h| h.ts > unmap.ts && address(&h.args["base"]) == base),
        "the accessor reads the unmapped base {base:#x} after iounmap\n{truth}"
    );
    let capture = read_capture(&report.file("capture.jsonl")).unwrap();
    let reads: Vec<(u64, &Vec<barwatch::event::Name>)> = capture
        .events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::FuncEntry {
                function,
                base: Some(b),
                stack,
                ..
            } if function == "barwatch_fixture_read" && b.0 == base => Some((e.ts_ns, stack)),
            _ => None,
        })
        .collect();
    let unmapped_at = (unmap.ts * 1e9) as u64;
    assert!(
        reads
            .iter()
            .filter(|(ts, _)| *ts < unmapped_at)
            .all(|(_, stack)| stack.is_empty()),
        "reads while mapped carry no stack"
    );
    let evidence = reads
        .iter()
        .find(|(_, stack)| !stack.is_empty())
        .map(|(_, stack)| stack.to_vec())
        .expect("barwatch took a stack when the accessor touched the unmapped base");
    assert!(
        evidence
            .iter()
            .any(|frame| frame.starts_with("fixture_work")),
        "the stack of the access after unmap names the fixture's work: {evidence:?}"
    );
    assert!(
        report
            .complaints
            .iter()
            .any(|l| l.contains("page fault") || l.contains("Oops")),
        "the read faults under TCG: {:?}",
        report.complaints
    );
    let (device, fault_stack) = capture
        .events
        .iter()
        .find_map(|e| match &e.data {
            EventData::PageFault { address, stack, .. }
                if (base..base + 0x1000).contains(&address.0) =>
            {
                Some((e.device.clone(), stack.clone()))
            }
            _ => None,
        })
        .expect("barwatch recorded the kernel's page fault on the unmapped BAR");
    assert_eq!(device.as_deref(), Some(facts["fixture_bdf"].as_str()));
    assert!(
        fault_stack
            .iter()
            .any(|frame| frame.starts_with("barwatch_fixture_read")),
        "the fault's stack names the accessor: {fault_stack:?}"
    );
}

#[test]
fn fixture_irq_after_unmap_runs_its_handler_in_the_unmap_window() {
    let Some(report) = run("fixture-irq-after-unmap") else {
        return;
    };
    let verdict = assert_verdict(&report, 1, &["irq-in-window"]);
    assert_told(
        &verdict,
        "irq-in-window",
        "(thread fixture_irq_thread [barwatch_fixture])",
    );
    let truth = &report.truth;
    let unmap = unmap_on_remove(truth);
    assert!(
        truth
            .of("fixture_irq_thread")
            .any(|h| h.phase == "remove" && h.ts > unmap.ts),
        "the threaded handler runs after iounmap\n{truth}"
    );
}

#[test]
fn fixture_stale_remap_maps_the_previous_bar_after_it_moved() {
    let Some(report) = run("fixture-stale-remap") else {
        return;
    };
    let verdict = assert_verdict(&report, 1, &["stale-remap"]);
    assert_told(&verdict, "stale-remap", "fixture_probe");
    let facts = facts(&report);
    let (before, after) = (
        address(&facts["bar0_before"]),
        address(&facts["bar0_after"]),
    );
    assert_ne!(before, after, "the rescan moved BAR0");
    let remap = report
        .truth
        .of("ioremap")
        .find(|h| h.phase == "rescan")
        .expect("the re-probe maps BAR0");
    assert_eq!(
        address(&remap.args["phys"]),
        before,
        "the re-probe maps the old address"
    );
}

#[test]
fn fixture_ioctl_race_reads_the_bar_from_an_ioctl_after_unmap() {
    let Some(report) = run("fixture-ioctl-race") else {
        return;
    };
    // Not an ALSA ioctl: the violation is the read, with the ioctl as its path.
    let verdict = assert_verdict(&report, 1, &["mmio-after-unmap"]);
    assert_told(&verdict, "mmio-after-unmap", "fixture_ioctl+");
    // The kernel's own tracing stops at the Oops this race may cause, so the
    // evidence is read from barwatch's capture: the unmap, then an ioctl's read of
    // the same base with a stack through the fixture's ioctl handler.
    let capture = read_capture(&report.file("capture.jsonl")).unwrap();
    let unmap = capture
        .events
        .iter()
        .find_map(|e| match &e.data {
            EventData::FuncEntry { function, args, .. } if function == "iounmap" => {
                Some((e.ts_ns, args[0].0))
            }
            _ => None,
        })
        .expect("barwatch saw the unmap");
    let evidence = capture
        .events
        .iter()
        .filter(|e| e.ts_ns > unmap.0 && e.comm == "ioctl_loop")
        .find_map(|e| match &e.data {
            EventData::FuncEntry {
                function,
                base: Some(b),
                stack,
                ..
            } if function == "barwatch_fixture_read" && b.0 == unmap.1 => Some(stack.clone()),
            _ => None,
        })
        .expect("an ioctl reads the unmapped base after iounmap");
    assert!(
        evidence
            .iter()
            .any(|frame| frame.starts_with("fixture_ioctl")),
        "the stack names the ioctl handler: {evidence:?}"
    );
}

#[test]
fn playback_under_an_ioctl_storm_accounts_for_every_handler_call_the_kernel_skipped() {
    let Some(report) = run("playback-ioctl-storm") else {
        return;
    };
    // No remove or reset here: every rule holds, and the handler calls the kernel
    // skipped are reported, so the record is judged complete.
    assert_verdict(&report, 0, &[]);
    // The storm keeps barwatch's ioctl programs busy, so some period interrupts
    // arrive while one runs and the kernel skips the handler's kprobe. Every call the
    // kernel traced must be in the capture or in barwatch's list of skipped calls.
    assert_counts_match_ground_truth(&report);
    let capture =
        read_capture(&report.file("capture.jsonl")).expect("the guest's capture reads back");
    let skipped = skipped_in_capture(&capture);
    eprintln!("handler calls the kernel skipped: {}", skipped.len());
    assert!(
        skipped.iter().all(|s| s.probe == "kprobe:azx_interrupt"),
        "only the HD-audio handler is probed: {skipped:?}"
    );
    // The guest's kernel has kprobes on ALSA's ioctl file operations: they carry
    // the ALSA ioctls, and no syscall hook slows other syscalls.
    for (name, mechanism) in [
        ("syscalls:sys_enter_ioctl", Mechanism::Kprobe),
        ("syscalls:sys_exit_ioctl", Mechanism::Kretprobe),
    ] {
        let point = capture.header.probes.iter().find(|p| p.name == name);
        assert_eq!(
            point.and_then(|p| p.attached),
            Some(mechanism),
            "{name}: {point:?}"
        );
        let note = point.and_then(|p| p.note.as_deref()).unwrap_or_default();
        assert!(
            note.contains("ALSA's ioctl file operations") && note.contains("snd_ctl_ioctl"),
            "{name}: {note}"
        );
    }
    for name in ["kprobe:snd_ctl_ioctl", "kretprobe:snd_ctl_ioctl"] {
        let point = capture.header.probes.iter().find(|p| p.name == name);
        assert!(point.is_some_and(|p| p.carries_ioctls), "{name}: {point:?}");
    }
    // Each control ioctl of the storm is recorded where the driver's ioctl entry
    // ran, entering and returning: the kernel's own count of snd_ctl_ioctl's
    // calls (above) is the judge of how many.
    let storm = |e: &&Event| e.comm.as_str() == "ioctl_loop";
    let count = |matches: fn(&Event) -> bool| {
        capture
            .events
            .iter()
            .filter(storm)
            .filter(|e| matches(e))
            .count()
    };
    let entries = count(|e| {
        matches!(e.data, EventData::IoctlEnter { .. }) && e.probe.as_str() == "kprobe:snd_ctl_ioctl"
    });
    let exits = count(|e| {
        matches!(e.data, EventData::IoctlExit { ret: 0, .. })
            && e.probe.as_str() == "kretprobe:snd_ctl_ioctl"
    });
    let elsewhere = count(|e| e.probe.as_str().starts_with("syscalls:"));
    eprintln!("storm: {entries} ioctls recorded entering snd_ctl_ioctl, {exits} returning");
    assert!(
        entries > 1000,
        "a 5 s storm at one ioctl per 50 µs: {entries}"
    );
    assert_eq!(entries, exits);
    assert_eq!(elsewhere, 0, "nothing is recorded at the syscall");
    // The storm's ioctls carry their file descriptor and device, as the
    // syscall hooks' did.
    let described = capture.events.iter().filter(storm).all(|e| match &e.data {
        EventData::IoctlEnter { fd, dev, .. } => *fd != u32::MAX && dev.is_some(),
        _ => true,
    });
    assert!(described, "every storm ioctl names its fd and device");
}

#[test]
fn fentry_and_fexit_watch_several_functions_at_once_and_count_what_the_kernel_counts() {
    let Some(report) = run("fentry-remove-rescan") else {
        return;
    };
    let verdict = assert_verdict(&report, 0, &[]);
    assert_one_closed_cycle(&verdict, "remove");
    let probes: Vec<ProbeStatus> =
        serde_json::from_str(&fs::read_to_string(report.file("probes.json")).unwrap()).unwrap();
    let mechanism = |name: &str| {
        probes
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.attached)
    };
    for name in [
        "kprobe:ioremap",
        "kprobe:iounmap",
        "kprobe:pci_rescan_bus",
        "kprobe:pci_stop_and_remove_bus_device_locked",
    ] {
        assert_eq!(
            mechanism(name),
            Some(Mechanism::Fentry),
            "{name}: {probes:#?}"
        );
    }
    assert_eq!(mechanism("kretprobe:ioremap"), Some(Mechanism::Fexit));
    assert_eq!(
        mechanism("kprobe:azx_stop_chip"),
        Some(Mechanism::Kprobe),
        "module functions keep kprobes"
    );
    assert_counts_match_ground_truth(&report);
    let facts = facts(&report);
    assert_events_name_the_device(&report, &facts["bdf"], &about_hda(bar0s(&facts)));
}

#[test]
fn watching_one_device_filters_the_others_accessors_in_the_kernel() {
    let Some(report) = run("fixture-device-filter") else {
        return;
    };
    // Only the fixture is judged, and it quiesces properly.
    let verdict = assert_verdict(&report, 0, &[]);
    let facts = facts(&report);
    assert!(
        verdict.json["devices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["bdf"] == facts["fixture_bdf"].as_str()),
        "only the fixture has a timeline: {:#}",
        verdict.json["devices"]
    );
    assert_one_closed_cycle(&verdict, "remove");
    let capture =
        read_capture(&report.file("capture.jsonl")).expect("the guest's capture reads back");
    let functions = agreement::compare(
        &report.truth,
        &capture,
        "setup",
        "done",
        &agreement::kprobe_of,
    );
    eprintln!("{functions}");
    assert!(
        functions.problems.is_empty() && functions.unprobed.is_empty(),
        "the ground truth is intact and every traced function attached:\n{functions}"
    );
    let fixture: Vec<&agreement::Row> = functions
        .rows
        .iter()
        .filter(|row| row.probe.starts_with("kprobe:barwatch_fixture_"))
        .collect();
    assert!(
        !fixture.is_empty()
            && fixture
                .iter()
                .all(|row| row.missed.is_empty() && row.invented.is_empty() && row.paired > 0),
        "every fixture access is recorded:\n{functions}"
    );
    // The controller's accessor calls are recorded until barwatch knows their base
    // is another device's, then the kernel drops them: far fewer than it made. Its
    // interrupts are not the fixture's and never pass the IRQ filter.
    let made = report.truth.count_in("azx_get_pos_posbuf", "setup", "done");
    let recorded = capture
        .events
        .iter()
        .filter(|e| e.probe == "kprobe:azx_get_pos_posbuf")
        .count();
    assert!(made > 20, "the controller was busy:\n{}", report.truth);
    assert!(
        recorded < made / 4,
        "{recorded} of the controller's {made} azx_get_pos_posbuf calls recorded"
    );
    let interrupts = capture
        .events
        .iter()
        .filter(|e| {
            matches!(&e.data, EventData::IrqHandlerEntry { handler_name: Some(h), .. } if h == "azx_interrupt")
        })
        .count();
    assert_eq!(
        interrupts, 0,
        "the controller's interrupts are filtered out"
    );
    assert_events_name_the_device(
        &report,
        &facts["fixture_bdf"],
        &about_fixture(bar0s(&facts)),
    );
}

#[test]
fn system_sleep_stops_the_chip_and_barwatch_counts_what_the_kernel_counts() {
    let Some(report) = run("system-sleep") else {
        return;
    };
    let verdict = assert_verdict(&report, 0, &[]);
    assert!(
        cycles(&verdict)
            .iter()
            .any(|(trigger, end)| trigger == "system-sleep" && end == "closed"),
        "a closed system-sleep cycle: {:?}",
        cycles(&verdict)
    );
    let truth = &report.truth;
    assert!(
        truth.count("suspend", "azx_suspend") >= 1 && truth.count("suspend", "azx_stop_chip") >= 1,
        "the driver suspends and stops the chip\n{truth}"
    );
    assert_counts_match_ground_truth(&report);
    let facts = facts(&report);
    assert_events_name_the_device(&report, &facts["bdf"], &about_hda(Vec::new()));

    // The kernel filters IRQs to the watched controller's, and follows it by its
    // handler when resume gives it a new vector: every handler call is recorded,
    // and no other device's interrupt is.
    let capture =
        read_capture(&report.file("capture.jsonl")).expect("the guest's capture reads back");
    let mut handlers = BTreeMap::<Option<&str>, usize>::new();
    let mut vectors = std::collections::BTreeSet::new();
    for event in &capture.events {
        if let EventData::IrqHandlerEntry {
            irq, handler_name, ..
        } = &event.data
        {
            *handlers.entry(handler_name.as_deref()).or_default() += 1;
            vectors.insert(*irq);
        }
    }
    let calls = capture
        .events
        .iter()
        .filter(|e| e.probe == "kprobe:azx_interrupt")
        .count();
    let skipped = skipped_in_capture(&capture).len();
    assert_eq!(
        handlers,
        BTreeMap::from([(Some("azx_interrupt"), calls + skipped)]),
        "IRQ entries by handler (vectors {vectors:?})"
    );
}

#[test]
fn a_module_loaded_while_recording_gets_its_probes_attached_late() {
    let Some(report) = run("fixture-late-attach") else {
        return;
    };
    // Nothing is removed: the fixture's probes come late and every rule holds.
    assert_verdict(&report, 0, &[]);
    let capture = read_capture(&report.file("capture.jsonl")).unwrap();
    assert!(
        capture.events.iter().any(
            |e| matches!(&e.data, EventData::ModuleLoad { module } if module == "barwatch_fixture")
        ),
        "barwatch saw the module load"
    );
    let CaptureEnd::Trailer(trailer) = &capture.end else {
        panic!("cut capture")
    };
    let read = trailer
        .final_probes
        .iter()
        .find(|p| p.name == "kprobe:barwatch_fixture_read")
        .expect("the final probe table lists the fixture's accessor");
    assert_eq!(read.attached, Some(Mechanism::Kprobe), "{read:?}");
    assert!(
        read.note.as_deref().is_some_and(|n| n.contains("late")),
        "the table says it came late: {read:?}"
    );
    assert!(
        trailer
            .blind_spans
            .iter()
            .any(|s| s.probe == read.name && s.from_ns < s.to_ns),
        "the trailer records the span it was blind: {:?}",
        trailer.blind_spans
    );
    assert!(
        capture
            .events
            .iter()
            .any(|e| e.probe == "kprobe:barwatch_fixture_read"),
        "the accessor's calls after the attach are recorded"
    );
}

#[test]
fn an_idle_remove_and_rescan_keeps_every_rule() {
    let Some(report) = run("idle-remove-rescan") else {
        return;
    };
    let verdict = assert_verdict(&report, 0, &[]);
    assert_one_closed_cycle(&verdict, "remove");
    assert_counts_match_ground_truth(&report);
}

#[test]
fn a_mixer_storm_during_remove_is_not_an_ioctl_in_the_window() {
    // amixer's control ioctls in flight at the remove are waited for by ALSA before
    // the driver stops the chip; later ones hit ALSA's disconnected stubs.
    let Some(report) = run("mixer-storm-remove") else {
        return;
    };
    let verdict = assert_verdict(&report, 0, &[]);
    assert_one_closed_cycle(&verdict, "remove");
    assert!(
        report.truth.count_in("snd_ctl_ioctl", "setup", "remove") > 0,
        "amixer's control ioctls ran before the remove\n{}",
        report.truth
    );
    assert_counts_match_ground_truth(&report);
}

#[test]
fn every_cycle_of_repeated_remove_and_rescan_during_playback_closes() {
    let Some(report) = run("rescan-cycles") else {
        return;
    };
    let verdict = assert_verdict(&report, 0, &[]);
    let facts = facts(&report);
    let n: usize = facts["cycles"].parse().expect("a cycle count");
    assert_eq!(
        cycles(&verdict),
        vec![("remove".to_owned(), "closed".to_owned()); n],
        "{n} closed remove cycles"
    );
    let truth = &report.truth;
    for cycle in 1..=n {
        let phase = format!("cycle{cycle}");
        assert!(
            truth.count(&phase, "iounmap") >= 1 && truth.count(&phase, "pci_rescan_bus") >= 1,
            "cycle {cycle} unmaps and rescans\n{truth}"
        );
    }
    assert_eq!(
        facts["aplay_last_exit"], "0",
        "aplay plays after the last cycle"
    );
    assert_counts_match_ground_truth_between(&report, "cycle1", "done");
}

#[test]
fn the_demo_shows_a_clean_hda_cycle_and_the_fixtures_violation() {
    let Some(report) = run("demo") else {
        return;
    };
    let verdict = assert_verdict(&report, 1, &["mmio-after-unmap", "work-in-window"]);
    assert_told(&verdict, "mmio-after-unmap", "fixture_work+");
    let facts = facts(&report);
    let hda = verdict.json["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["bdf"] == facts["bdf"].as_str())
        .expect("the HD-audio controller has a timeline");
    assert_eq!(hda["cycles"][0]["trigger"], "remove");
    assert_eq!(hda["cycles"][0]["end"], "closed");
    assert!(
        verdict
            .violations("mmio-after-unmap")
            .iter()
            .all(|v| v["device"] == facts["fixture_bdf"].as_str()),
        "only the fixture violates"
    );
}

#[test]
fn a_module_loaded_while_watching_is_watched_from_its_first_call() {
    let Some(report) = run("fixture-load-while-watching") else {
        return;
    };
    // Nothing is removed and nothing is blind that a rule needs: every rule holds.
    assert_verdict(&report, 0, &[]);
    let mut capture = read_capture(&report.file("capture.jsonl")).unwrap();
    let CaptureEnd::Trailer(trailer) = &capture.end else {
        panic!("cut capture")
    };
    // Points attached after the load are in the final table, not the header's.
    if !trailer.final_probes.is_empty() {
        capture.header.probes = trailer.final_probes.clone();
    }
    let read = capture
        .header
        .probes
        .iter()
        .find(|p| p.name == "kprobe:barwatch_fixture_read")
        .expect("the probe table lists the fixture's accessor")
        .clone();
    let functions = agreement::compare(
        &report.truth,
        &capture,
        "setup",
        "done",
        &agreement::kprobe_of,
    );
    eprintln!("{functions}");
    let row = functions
        .rows
        .iter()
        .find(|r| r.probe == read.name)
        .unwrap_or_else(|| panic!("barwatch did not attach the accessor: {read:?}\n{functions}"));
    assert!(
        row.kernel > 0,
        "the kernel's own probe armed at the load and counted the probe-time reads\n{functions}"
    );
    assert!(
        functions.holds(),
        "barwatch saw every call the kernel counted, from the first:\n{functions}"
    );
    assert!(
        read.note.as_deref().is_some_and(|n| n.contains("before")),
        "the table says it was armed before the module loaded: {read:?}"
    );
    let absent = capture
        .header
        .probes
        .iter()
        .find(|p| p.name == "kprobe:barwatch_fixture_absent")
        .expect("the probe table lists the function the module lacks");
    assert!(
        !absent.is_attached() && absent.failures().contains("has no barwatch_fixture_absent"),
        "a point armed for a function the module lacks ends blind: {absent:?}"
    );
}

/// The watched device's sysfs states in a capture, in order: `(present, bound)`.
fn sysfs_states(report: &RunReport, bdf: &str) -> Vec<(bool, bool)> {
    let capture = read_capture(&report.file("capture.jsonl")).expect("the capture reads back");
    capture
        .events
        .iter()
        .filter(|e| e.device.as_deref() == Some(bdf))
        .filter_map(|e| match &e.data {
            EventData::DeviceState {
                present, driver, ..
            } => Some((*present, driver.is_some())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_native_hot_unplug_during_playback_ends_removed_and_keeps_every_rule() {
    let Some(report) = run("playback-hot-unplug") else {
        return;
    };
    // The driver quiesces as on a sysfs remove: every rule holds, the device is gone.
    let verdict = assert_verdict(&report, 0, &[]);
    assert_eq!(
        cycles(&verdict),
        [("hot-unplug".to_owned(), "removed".to_owned())]
    );
    assert!(
        verdict.rules().iter().all(|(_, v)| v == "pass"),
        "every rule judged: {:?}",
        verdict.rules()
    );
    let facts = facts(&report);
    assert_eq!(facts["pciehp_ports"], "1", "pciehp drives the slot");
    assert_eq!(facts.get("gone_after").map(String::as_str), Some("1"));
    // The kernel removed it itself, not through sysfs.
    let truth = &report.truth;
    assert!(
        truth.count("remove", "pciehp_unconfigure_device") >= 1
            && truth.count("remove", "pci_stop_and_remove_bus_device") >= 1,
        "pciehp removes the controller\n{truth}"
    );
    assert_eq!(
        truth.count("remove", "pci_stop_and_remove_bus_device_locked"),
        0,
        "no sysfs remove\n{truth}"
    );
    assert!(unmap_on_remove(truth).ts > 0.0);
    // In pciehp's IRQ thread, as barwatch's stack of the call shows.
    let capture = read_capture(&report.file("capture.jsonl")).unwrap();
    let remove = capture
        .events
        .iter()
        .find(|e| e.probe == "kprobe:pci_stop_and_remove_bus_device")
        .expect("barwatch saw the remove");
    let EventData::FuncEntry { stack, .. } = &remove.data else {
        panic!("{remove:?}")
    };
    assert!(
        remove.comm.contains("pciehp")
            && stack
                .iter()
                .any(|f| f.contains("pciehp_unconfigure_device"))
            && stack.iter().any(|f| f.contains("irq_thread")),
        "{} {stack:#?}",
        remove.comm
    );
    // sysfs was read again: the capture ends with the controller gone.
    assert_eq!(
        sysfs_states(&report, &facts["bdf"]).last(),
        Some(&(false, false))
    );
    assert_counts_match_ground_truth(&report);
}

#[test]
fn an_rmmod_after_a_clean_cycle_leaves_the_fixture_device_unbound() {
    let Some((report, facts)) = run_fixture("fixture-rmmod") else {
        return;
    };
    let verdict = assert_verdict(&report, 0, &[]);
    assert_eq!(
        cycles(&verdict),
        [
            ("remove".to_owned(), "closed".to_owned()),
            ("driver-unbind".to_owned(), "unbound".to_owned())
        ]
    );
    assert!(
        verdict.rules().iter().all(|(_, v)| v == "pass"),
        "every rule judged: {:?}",
        verdict.rules()
    );
    assert_eq!(facts.get("present_after").map(String::as_str), Some("1"));
    assert_eq!(facts.get("unbound_after").map(String::as_str), Some("1"));
    assert!(
        report.truth.of("iounmap").any(|h| h.phase == "unload"),
        "the driver unmaps BAR0 on unload\n{}",
        report.truth
    );
    // sysfs was read again: the capture ends with the device there, unbound.
    assert_eq!(
        sysfs_states(&report, &facts["fixture_bdf"]).last(),
        Some(&(true, false))
    );
}

/// What barwatch said on stderr in the guest, for the lines that are warnings
/// or errors: a whole run says how many events it recorded and nothing more.
fn complaints(report: &RunReport) -> Vec<String> {
    fs::read_to_string(report.file("record.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            let l = l.to_lowercase();
            ["warn", "error", "cannot", "failed"]
                .iter()
                .any(|w| l.contains(w))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_module_unloaded_and_loaded_again_while_watched_is_watched_again_from_its_first_call() {
    // run_fixture compares barwatch with the kernel's own kprobe events (which
    // the kernel re-arms at every load) call by call, the reload's included.
    let Some((report, facts)) = run_fixture("fixture-reload-while-attached") else {
        return;
    };
    let truth = &report.truth;
    assert!(
        truth.count("reload", "barwatch_fixture_read") > 0
            && truth.count("rescan", "barwatch_fixture_read") > 0,
        "the reloaded module reads its BAR at probe and after the rescan\n{truth}"
    );
    assert_eq!(
        facts.get("unbound_after_rmmod").map(String::as_str),
        Some("1")
    );
    assert_eq!(facts.get("rebound").map(String::as_str), Some("1"));
    let verdict = assert_verdict(&report, 0, &[]);
    assert_eq!(
        cycles(&verdict),
        [
            ("driver-unbind".to_owned(), "closed".to_owned()),
            ("remove".to_owned(), "closed".to_owned())
        ],
        "the unload and reload close one cycle, the remove and rescan another"
    );
    let capture = read_capture(&report.file("capture.jsonl")).unwrap();
    let read = capture
        .header
        .probes
        .iter()
        .find(|p| p.name == "kprobe:barwatch_fixture_read")
        .expect("the probe table lists the fixture's accessor");
    assert!(
        read.attached == Some(Mechanism::Kprobe)
            && read
                .note
                .as_deref()
                .is_some_and(|n| n.contains("armed in barwatch_fixture")),
        "the accessor is armed through tracefs in the loaded module: {read:?}"
    );
    let CaptureEnd::Trailer(trailer) = &capture.end else {
        panic!("cut capture")
    };
    assert!(
        trailer.blind_spans.is_empty(),
        "nothing was blind: {:?}",
        trailer.blind_spans
    );
    assert_eq!(complaints(&report), Vec::<String>::new());
}

#[test]
fn a_watched_device_removed_for_good_ends_its_cycle_removed_and_keeps_every_rule() {
    let Some((report, facts)) = run_fixture("fixture-remove-for-good") else {
        return;
    };
    assert_eq!(facts.get("gone_after").map(String::as_str), Some("1"));
    let verdict = assert_verdict(&report, 0, &[]);
    assert_eq!(
        cycles(&verdict),
        [("remove".to_owned(), "removed".to_owned())]
    );
    assert!(
        verdict.rules().iter().all(|(_, v)| v == "pass"),
        "every rule judged: {:?}",
        verdict.rules()
    );
    let text = verdict::text(&report);
    assert!(
        text.starts_with("PASS") && text.contains("cycle 1 (remove): device removed, not back"),
        "the report says plainly that the device went away:\n{text}"
    );
    assert!(
        report.truth.count("done", "barwatch_fixture_read") == 0,
        "nothing of the driver runs once the device is gone\n{}",
        report.truth
    );
    // sysfs was read again: the capture ends with the device gone.
    assert_eq!(
        sysfs_states(&report, &facts["fixture_bdf"]).last(),
        Some(&(false, false))
    );
    assert_eq!(complaints(&report), Vec::<String>::new());
}

#[test]
fn barwatch_started_in_the_middle_of_a_cycle_says_what_it_did_not_see_and_judges_the_next_whole_cycle()
 {
    let Some((report, facts)) = run_fixture("fixture-start-mid-cycle") else {
        return;
    };
    let truth = &report.truth;
    assert_eq!(
        truth.count("remove-before", "iounmap"),
        1,
        "the remove before barwatch started unmapped BAR0\n{truth}"
    );
    // No stale-remap or unbalanced from the start barwatch did not see, and the
    // whole cycle after it is judged like any other.
    let verdict = assert_verdict(&report, 0, &[]);
    assert_eq!(
        cycles(&verdict),
        [("remove".to_owned(), "closed".to_owned())],
        "the rescan barwatch joined late is no cycle; the remove and rescan after it is one"
    );
    let device = verdict.json["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["bdf"] == facts["fixture_bdf"].as_str())
        .expect("the fixture's device has a timeline");
    let first_seen = device["watched_from"]["ts_ns"]
        .as_u64()
        .unwrap_or_else(|| panic!("the JSON says where the device was first seen: {device:#}"));
    let first_cycle = device["cycles"][0]["steps"][0]["ts_ns"].as_u64().unwrap();
    assert!(first_seen < first_cycle, "{device:#}");
    let text = verdict::text(&report);
    assert!(
        text.contains("first seen +") && text.contains("is not judged as a cycle"),
        "the report says what it did not see:\n{text}"
    );
    assert_eq!(complaints(&report), Vec::<String>::new());
}

#[test]
fn a_module_reloaded_under_probes_attached_directly_leaves_their_rules_not_checked_not_passed() {
    let Some(report) = run("fixture-reload-attached-late") else {
        return;
    };
    let truth = &report.truth;
    assert!(
        truth.count("reload", "barwatch_fixture_read") > 0,
        "the reloaded module reads its BAR at probe, before barwatch can attach again\n{truth}"
    );
    let capture = read_capture(&report.file("capture.jsonl")).unwrap();
    let CaptureEnd::Trailer(trailer) = &capture.end else {
        panic!("cut capture")
    };
    assert_eq!(trailer.lost, 0, "records lost: {trailer:?}");
    // barwatch misses calls only inside the spans it says it was blind (how long
    // a late attach takes depends on the machine): every call the kernel counted
    // outside them is in the capture, and the reload's probe-time reads are not.
    let ns = |seconds: f64| (seconds * 1e9) as u64;
    let (from, to) = (
        ns(truth.phase_starts["setup"]),
        ns(truth.phase_starts["done"]),
    );
    let read = "kprobe:barwatch_fixture_read";
    let blind = |ts: u64| {
        trailer
            .blind_spans
            .iter()
            .any(|s| s.probe == read && s.from_ns <= ts && ts <= s.to_ns)
    };
    let kernel: Vec<u64> = truth
        .of("barwatch_fixture_read")
        .map(|h| ns(h.ts))
        .filter(|ts| (from..to).contains(ts))
        .collect();
    let outside = kernel.iter().filter(|&&ts| !blind(ts)).count();
    let seen = capture
        .events
        .iter()
        .filter(|e| e.probe == read && (from..to).contains(&e.ts_ns))
        .count();
    assert!(
        outside <= seen && seen < kernel.len(),
        "the kernel counted {} reads, {outside} outside barwatch's blind spans {:?}; barwatch saw {seen}",
        kernel.len(),
        trailer.blind_spans
    );
    // Two stories are right, and which one happens depends on how soon barwatch
    // reads the first load: attached then, it attaches again after the reload
    // and is blind from the reload; read only once the module is going or gone,
    // it attaches after the reload and is blind from the first load.
    let reloaded_ns = capture
        .events
        .iter()
        .filter(
            |e| matches!(&e.data, EventData::ModuleLoad { module } if module == "barwatch_fixture"),
        )
        .map(|e| e.ts_ns)
        .max()
        .expect("the capture has the reload");
    let span = trailer
        .blind_spans
        .iter()
        .find(|s| {
            s.probe == read
                && s.from_ns <= reloaded_ns
                && reloaded_ns < s.to_ns
                && (s.reason.contains("loaded again") || s.reason.contains("attached only after"))
        })
        .unwrap_or_else(|| {
            panic!(
                "the reload's blind span is recorded: {:?}",
                trailer.blind_spans
            )
        });
    let story = if span.reason.contains("loaded again") {
        "attached again"
    } else {
        "attached late"
    };
    let final_read = trailer
        .final_probes
        .iter()
        .find(|p| p.name == read)
        .expect("the final probe table lists the accessor");
    assert!(
        final_read.is_attached()
            && final_read
                .note
                .as_deref()
                .is_some_and(|n| n.contains(story)),
        "{final_read:?}"
    );
    // Live and on replay: incomplete, the accessor's rules not checked and why.
    let (live, replay) = (verdict::live(&report), verdict::replayed(&report));
    for v in [&live, &replay] {
        assert_eq!(v.status, 2, "calls barwatch missed are never passed");
        let rule = v.json["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "mmio-after-unmap")
            .unwrap();
        assert_eq!(rule["verdict"], "not-checked", "{rule:#}");
        assert!(
            rule["reason"]
                .as_str()
                .is_some_and(|r| r.contains("was blind for")
                    && (r.contains("loaded again") || r.contains("attached only after"))),
            "{rule:#}"
        );
    }
    assert_eq!(
        live.rules(),
        replay.rules(),
        "live and replayed verdicts differ"
    );
    assert_eq!(complaints(&report), Vec::<String>::new());
}
