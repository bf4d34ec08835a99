//! Benchmark: how fast the analysis takes in events and judges them, and how much
//! memory it keeps per event, on a synthetic HD-audio run of many remove/rescan
//! cycles; then how much a bounded (live) analysis keeps over a run ten times as
//! long, judged as often as the terminal UI judges. `cargo xtask bench` runs it
//! and holds it to its targets.
//!
//! Prints one line per measure and exits with status 1 when a target is missed.

use std::time::Instant;

use barwatch::{
    analysis::{Analysis, Outcome, Retention},
    capture::format::{Header, Trailer, WatchedDevice},
    event::{BarRange, DevNum, Event, EventData, Hex},
    profile::Profile,
    rules::RuleConfig,
};

/// Cycles in the run.
const CYCLES: u64 = 200;
/// Per cycle: accessor calls, interrupts, ioctls and work items while active.
const ACCESSES: u64 = 1_500;
const INTERRUPTS: u64 = 200;
const IOCTLS: u64 = 100;
const WORKS: u64 = 50;

/// Cycles in the bounded run.
const LIVE_CYCLES: u64 = 2_000;
/// The bounded run is judged after every this many events (the terminal UI judges
/// once a second).
const LIVE_JUDGE_EVERY: usize = 50_000;

/// Events per second the analysis must take in and judge, at least.
const TARGET_EVENTS_PER_S: f64 = 250_000.0;
/// Resident memory the analysis may keep per event, at most.
const TARGET_BYTES_PER_EVENT: f64 = 1_024.0;
/// Resident memory the bounded analysis may grow by over the whole long run.
const TARGET_LIVE_BYTES: u64 = 128 << 20;
/// The longest one live judgement may take: the terminal UI judges between
/// frames, once a second.
const TARGET_LIVE_JUDGE_MS: f64 = 200.0;

const DEVICE: &str = "0000:00:04.0";
const VIRT: u64 = 0xffff_c900_0030_0000;
const PHYS: u64 = 0xfebf_0000;

fn event(ts_ns: u64, tid: u32, probe: &str, device: bool, data: EventData) -> Event {
    Event {
        ts_ns,
        cpu: tid % 2,
        pid: tid,
        tid,
        comm: "bench".into(),
        probe: probe.into(),
        device: device.then(|| DEVICE.into()),
        data,
    }
}

fn call(ts_ns: u64, tid: u32, function: &str, args: [u64; 4], base: Option<u64>) -> Event {
    let data = EventData::FuncEntry {
        function: function.into(),
        module: None,
        ip: Hex(0xffff_ffff_c000_0000),
        args: args.map(Hex),
        base: base.map(Hex),
        stack: Vec::new(),
    };
    let device = !function.starts_with("pci_");
    event(ts_ns, tid, &format!("kprobe:{function}"), device, data)
}

/// A run of `cycles` cycles, in the order a two-CPU ring buffer would deliver it.
fn run(cycles: u64) -> impl Iterator<Item = Event> {
    let mut t = 1_000_000_000;
    (0..cycles).flat_map(move |_| cycle(&mut t))
}

/// One cycle from `t` on: the device at work, then removed and rescanned.
fn cycle(t: &mut u64) -> Vec<Event> {
    let mut events = Vec::new();
    for i in 0..ACCESSES {
        *t += 10_000;
        events.push(call(
            *t,
            2 + (i % 2) as u32,
            "snd_hdac_bus_send_cmd",
            [0; 4],
            Some(VIRT),
        ));
    }
    for _ in 0..INTERRUPTS {
        *t += 10_000;
        let entry = EventData::IrqHandlerEntry {
            irq: 27,
            handler: Hex(1),
            handler_name: Some("azx_interrupt".into()),
            thread: None,
        };
        events.push(event(*t, 0, "irq:irq_handler_entry", true, entry));
    }
    let dev = Some(DevNum {
        major: 116,
        minor: 3,
    });
    for _ in 0..IOCTLS {
        *t += 10_000;
        let enter = EventData::IoctlEnter {
            fd: 3,
            cmd: Hex(0x4142),
            cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
            arg: Hex(0),
            dev,
        };
        events.push(event(*t, 5, "syscalls:sys_enter_ioctl", true, enter));
        events.push(call(*t + 1, 5, "snd_pcm_ioctl", [0; 4], None));
        let exit = EventData::IoctlExit {
            fd: 3,
            cmd: Hex(0x4142),
            cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
            ret: 0,
            dev,
        };
        events.push(event(*t + 2, 5, "syscalls:sys_exit_ioctl", true, exit));
    }
    for _ in 0..WORKS {
        *t += 10_000;
        let symbol = Some("azx_irq_pending_work [snd_hda_intel]".into());
        let start = EventData::WorkStart {
            work: Hex(2),
            function: Hex(3),
            symbol: symbol.clone(),
        };
        let end = EventData::WorkEnd {
            work: Hex(2),
            function: Hex(3),
            symbol,
        };
        events.push(event(
            *t,
            7,
            "workqueue:workqueue_execute_start",
            false,
            start,
        ));
        events.push(event(
            *t + 1,
            7,
            "workqueue:workqueue_execute_end",
            false,
            end,
        ));
    }
    for (function, args, base) in [
        ("pci_stop_and_remove_bus_device_locked", [0; 4], None),
        ("snd_card_disconnect", [0; 4], None),
        ("azx_stop_chip", [0; 4], Some(VIRT)),
        ("iounmap", [VIRT, 0, 0, 0], None),
        ("ioremap", [PHYS, 0x4000, 0, 0], None),
    ] {
        *t += 1_000_000;
        let mut e = call(*t, 9, function, args, base);
        if function == "snd_card_disconnect" {
            e.device = None;
        }
        events.push(e);
    }
    let ret = EventData::FuncExit {
        function: "ioremap".into(),
        module: None,
        ip: Hex(0),
        ret: Hex(VIRT),
        stack: Vec::new(),
    };
    events.push(event(*t + 1, 9, "kretprobe:ioremap", true, ret));
    *t += 1_000_000;
    events.push(call(*t, 9, "azx_init_chip", [0; 4], Some(VIRT)));
    // The ring buffer interleaves CPUs: deliver each neighbouring pair from
    // different CPUs in the wrong order.
    for pair in events.chunks_mut(2) {
        if pair.len() == 2 && pair[0].cpu != pair[1].cpu {
            pair.swap(0, 1);
        }
    }
    events
}

fn header() -> Header {
    let mut header = Header::new(
        "6.1.0",
        "bench",
        0,
        1_000_000_000,
        Profile::attached_table(&Profile::builtin()),
    );
    header.devices = vec![WatchedDevice {
        bdf: DEVICE.into(),
        driver: Some("snd_hda_intel".into()),
        cards: vec![0],
        bars: vec![BarRange {
            index: 0,
            start: Hex(PHYS),
            end: Hex(PHYS + 0x3fff),
        }],
        mappings: Vec::new(),
    }];
    header
}

/// The peak resident set size, from /proc (bytes).
fn peak_rss() -> u64 {
    proc_status_bytes("VmHWM:")
}

/// The resident set size now, from /proc (bytes).
fn rss() -> u64 {
    proc_status_bytes("VmRSS:")
}

/// A size in kB from /proc/self/status, in bytes.
fn proc_status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn main() -> std::process::ExitCode {
    let whole_ok = whole();
    let live_ok = live();
    if whole_ok && live_ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// The analysis that keeps every event (`check`, replay): throughput and memory
/// per event. Returns whether it met its targets.
fn whole() -> bool {
    let events: Vec<Event> = run(CYCLES).collect();
    let count = events.len() as f64;
    let before = peak_rss();
    let started = Instant::now();
    let trailer = trailer_of(&events);
    let mut analysis = Analysis::new(&header());
    for e in events {
        analysis.push(e);
    }
    analysis.finish(&trailer);
    let pushed = started.elapsed();
    let judgement = analysis.judge(&RuleConfig::default());
    let total = started.elapsed();
    let rate = count / total.as_secs_f64();
    let per_event = peak_rss().saturating_sub(before) as f64 / count;
    println!(
        "judge_throughput: {count} events, {CYCLES} cycles: push {:.0} ms, judge {:.0} ms, {rate:.0} events/s (target >= {TARGET_EVENTS_PER_S:.0})",
        pushed.as_secs_f64() * 1e3,
        (total - pushed).as_secs_f64() * 1e3
    );
    println!(
        "judge_throughput: {per_event:.0} bytes of memory per event kept (target <= {TARGET_BYTES_PER_EVENT:.0}), {} events put back in time order",
        analysis.reordered()
    );
    sane("whole", &judgement, CYCLES)
        && rate >= TARGET_EVENTS_PER_S
        && per_event <= TARGET_BYTES_PER_EVENT
}

/// The bounded analysis of the live terminal UI over a long run, judged every
/// [`LIVE_JUDGE_EVERY`] events: how much its resident memory grows by (sampled
/// at each judgement) and how many events it keeps at most. Returns whether it met its targets.
fn live() -> bool {
    let before = rss();
    let mut most_rss = before;
    let started = Instant::now();
    let retention = Retention::default();
    let mut analysis = Analysis::bounded(&header(), retention);
    let mut count = 0u64;
    let mut most_kept = 0;
    let mut judged = Vec::new();
    let mut trailer = Trailer::default();
    for e in run(LIVE_CYCLES) {
        written(&mut trailer, &e);
        analysis.push(e);
        count += 1;
        most_kept = most_kept.max(analysis.events().len());
        if count.is_multiple_of(LIVE_JUDGE_EVERY as u64) {
            let judging = Instant::now();
            analysis.judge(&RuleConfig::default());
            judged.push(judging.elapsed());
            most_rss = most_rss.max(rss());
        }
    }
    analysis.finish(&trailer);
    let judgement = analysis.judge(&RuleConfig::default());
    let elapsed = started.elapsed();
    let grown = most_rss.max(rss()).saturating_sub(before);
    let slowest = judged.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e3);
    println!(
        "judge_throughput: bounded, {count} events, {LIVE_CYCLES} cycles, judged every {LIVE_JUDGE_EVERY}: {:.0} events/s, at most {most_kept} events kept (retention {}), {} forgotten",
        count as f64 / elapsed.as_secs_f64(),
        retention.max_events,
        analysis.forgotten()
    );
    println!(
        "judge_throughput: bounded, memory grew by {:.1} MiB (target <= {} MiB); a judgement took {:.0} ms on average, {slowest:.0} ms at most (target <= {TARGET_LIVE_JUDGE_MS:.0})",
        grown as f64 / (1 << 20) as f64,
        TARGET_LIVE_BYTES >> 20,
        judged.iter().map(|d| d.as_secs_f64()).sum::<f64>() * 1e3 / judged.len().max(1) as f64,
    );
    sane("bounded", &judgement, LIVE_CYCLES)
        && grown <= TARGET_LIVE_BYTES
        && slowest <= TARGET_LIVE_JUDGE_MS
}

/// The trailer the recorder would write after `events`.
fn trailer_of(events: &[Event]) -> Trailer {
    let mut trailer = Trailer::default();
    for e in events {
        written(&mut trailer, e);
    }
    trailer
}

/// Counts `event` in `trailer`, as the recorder does when it writes it.
fn written(trailer: &mut Trailer, event: &Event) {
    trailer.events += 1;
    match trailer.probes.get_mut(event.probe.as_str()) {
        Some(totals) => totals.events += 1,
        None => {
            trailer.probes.insert(
                event.probe.to_string(),
                barwatch::capture::format::ProbeTotals { events: 1, lost: 0 },
            );
        }
    }
}

/// Whether the synthetic run was judged as it must be: a pass, with every cycle.
fn sane(run: &str, judgement: &barwatch::analysis::Judgement, cycles: u64) -> bool {
    let seen = judgement
        .devices
        .first()
        .map_or(0, |d| d.cycle_count() as u64);
    let sane = judgement.outcome() == Outcome::Pass && seen == cycles;
    if !sane {
        eprintln!(
            "judge_throughput: the {run} run should pass with {cycles} cycles; got {:?} with {seen}",
            judgement.outcome()
        );
    }
    sane
}
