//! Benchmark: how fast the analysis takes in events and judges them, and how much
//! memory it keeps per event, on a synthetic HD-audio run of many remove/rescan
//! cycles. `cargo xtask bench` runs it and holds it to its targets.
//!
//! Prints one line per measure and exits with status 1 when a target is missed.

use std::time::Instant;

use barwatch::{
    analysis::{Analysis, Outcome},
    capture::format::{Header, Trailer, WatchedDevice},
    event::{DevNum, Event, EventData, Hex},
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

/// Events per second the analysis must take in and judge, at least.
const TARGET_EVENTS_PER_S: f64 = 250_000.0;
/// Resident memory the analysis may keep per event, at most.
const TARGET_BYTES_PER_EVENT: f64 = 1_024.0;

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
        device: device.then(|| DEVICE.to_owned()),
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

/// The run, in the order a two-CPU ring buffer would deliver it.
fn run() -> Vec<Event> {
    let mut events = Vec::new();
    let mut t = 1_000_000_000;
    for _ in 0..CYCLES {
        for i in 0..ACCESSES {
            t += 10_000;
            events.push(call(
                t,
                2 + (i % 2) as u32,
                "snd_hdac_bus_send_cmd",
                [0; 4],
                Some(VIRT),
            ));
        }
        for _ in 0..INTERRUPTS {
            t += 10_000;
            let entry = EventData::IrqHandlerEntry {
                irq: 27,
                handler: Hex(1),
                handler_name: Some("azx_interrupt".into()),
                thread: None,
            };
            events.push(event(t, 0, "irq:irq_handler_entry", true, entry));
        }
        let dev = Some(DevNum {
            major: 116,
            minor: 3,
        });
        for _ in 0..IOCTLS {
            t += 10_000;
            let enter = EventData::IoctlEnter {
                fd: 3,
                cmd: Hex(0x4142),
                cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
                arg: Hex(0),
                dev,
            };
            events.push(event(t, 5, "syscalls:sys_enter_ioctl", true, enter));
            events.push(call(t + 1, 5, "snd_pcm_ioctl", [0; 4], None));
            let exit = EventData::IoctlExit {
                fd: 3,
                cmd: Hex(0x4142),
                cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
                ret: 0,
                dev,
            };
            events.push(event(t + 2, 5, "syscalls:sys_exit_ioctl", true, exit));
        }
        for _ in 0..WORKS {
            t += 10_000;
            let symbol = Some("azx_irq_pending_work [snd_hda_intel]".to_owned());
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
                t,
                7,
                "workqueue:workqueue_execute_start",
                false,
                start,
            ));
            events.push(event(
                t + 1,
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
            t += 1_000_000;
            let mut e = call(t, 9, function, args, base);
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
        events.push(event(t + 1, 9, "kretprobe:ioremap", true, ret));
        t += 1_000_000;
        events.push(call(t, 9, "azx_init_chip", [0; 4], Some(VIRT)));
    }
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
        bars: vec![format!("0: {PHYS:#x}-{:#x}", PHYS + 0x3fff)],
        mappings: Vec::new(),
    }];
    header
}

/// The peak resident set size, from /proc (bytes).
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn main() -> std::process::ExitCode {
    let events = run();
    let count = events.len() as f64;
    let before = peak_rss();
    let started = Instant::now();
    let mut analysis = Analysis::new(&header());
    for e in events {
        analysis.push(e);
    }
    analysis.finish(&Trailer::default());
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
    let cycles = judgement
        .devices
        .first()
        .map_or(0, |d| d.cycles.len() as u64);
    let sane = judgement.outcome() == Outcome::Pass && cycles == CYCLES;
    if !sane {
        eprintln!(
            "judge_throughput: the synthetic run should pass with {CYCLES} cycles; got {:?} with {cycles}",
            judgement.outcome()
        );
    }
    if sane && rate >= TARGET_EVENTS_PER_S && per_event <= TARGET_BYTES_PER_EVENT {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
