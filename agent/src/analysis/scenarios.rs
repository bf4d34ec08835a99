//! Scenario tests: one story per rule that keeps it and one that breaks it, told
//! with the verbs of a driver's quiesce (remove starts, the chip stops, the BAR is
//! unmapped, …), plus invariants over generated stories.

use proptest::prelude::*;

use super::{Analysis, Judgement, Outcome, Retention};
use crate::{
    capture::format::{BlindSpan, Header, KnownMapping, Trailer, WatchedDevice},
    decode::function_probe_name,
    event::{BarRange, Event, EventData, Hex, Name, SYSFS_PROBE},
    profile::Profile,
    rules::{RuleConfig, Verdict},
    timeline::{CycleEnd, State},
};

const HDA: &str = "0000:00:04.0";
const OLD_PHYS: u64 = 0xfebf_0000;
const NEW_PHYS: u64 = 0x4000_0000;
const OLD_VIRT: u64 = 0xffff_c900_0030_0000;
const NEW_VIRT: u64 = 0xffff_c900_0050_0000;
const HANDLER: u64 = 0xffff_ffff_c0a0_1230;

/// Threads of the stories, each on its own CPU.
const SH: u32 = 100;
const KWORKER: u32 = 200;
const APLAY: u32 = 300;
const OLD_WORKER: u32 = 400;
const PCIEHP: u32 = 500;

/// A story about one HD-audio controller, in milliseconds.
struct Scenario {
    events: Vec<Event>,
    blind: Vec<&'static str>,
    lost: Vec<(&'static str, u64)>,
    blind_spans: Vec<BlindSpan>,
    cut: bool,
    config: RuleConfig,
    /// The header lists no mapping of the controller (the kernel hid them).
    mappings_hidden: bool,
    /// The header lists no device: the controller was not there at the start.
    absent_at_start: bool,
    /// ALSA's ioctl file operations' probes carry the ioctls, not the syscall hooks.
    carried: bool,
}

fn story() -> Scenario {
    Scenario {
        events: Vec::new(),
        blind: Vec::new(),
        lost: Vec::new(),
        blind_spans: Vec::new(),
        cut: false,
        config: RuleConfig::default(),
        mappings_hidden: false,
        absent_at_start: false,
        carried: false,
    }
}

fn comm(tid: u32) -> &'static str {
    match tid {
        SH => "sh",
        APLAY => "aplay",
        PCIEHP => "irq/24-pciehp",
        _ => "kworker/u4:1",
    }
}

impl Scenario {
    fn push(mut self, ms: u64, tid: u32, probe: &str, device: bool, data: EventData) -> Self {
        self.events.push(Event {
            ts_ns: 1_000_000_000 + ms * 1_000_000,
            cpu: tid / 100,
            pid: tid,
            tid,
            comm: comm(tid).into(),
            probe: probe.into(),
            device: device.then(|| HDA.into()),
            data,
        });
        self
    }

    fn call(self, ms: u64, tid: u32, function: &str, base: Option<u64>, device: bool) -> Self {
        self.call_with(ms, tid, function, [0; 4], base, device)
    }

    fn call_with(
        self,
        ms: u64,
        tid: u32,
        function: &str,
        args: [u64; 4],
        base: Option<u64>,
        device: bool,
    ) -> Self {
        let stack = vec![
            format!("{function}+0x0 [snd_hda_codec]").into(),
            "caller+0x10".into(),
        ];
        let data = EventData::FuncEntry {
            function: function.into(),
            module: None,
            ip: Hex(0xffff_ffff_c000_0000),
            args: args.map(Hex),
            base: base.map(Hex),
            stack,
        };
        self.push(ms, tid, &format!("kprobe:{function}"), device, data)
    }

    fn returns(self, ms: u64, tid: u32, function: &str, ret: u64, device: bool) -> Self {
        let data = EventData::FuncExit {
            function: function.into(),
            module: None,
            ip: Hex(0xffff_ffff_c000_0000),
            ret: Hex(ret),
            stack: Vec::new(),
        };
        self.push(ms, tid, &format!("kretprobe:{function}"), device, data)
    }

    // The remove path, on the thread that wrote to sysfs.
    fn remove_starts(self, ms: u64) -> Self {
        self.call(ms, SH, "pci_stop_and_remove_bus_device_locked", None, false)
    }
    fn card_disconnects(self, ms: u64) -> Self {
        self.call(ms, SH, "snd_card_disconnect", None, false)
            .returns(ms, SH, "snd_card_disconnect", 0, false)
    }
    fn chip_stops(self, ms: u64) -> Self {
        self.call(ms, SH, "azx_stop_chip", Some(OLD_VIRT), true)
    }
    fn bar_unmapped(self, ms: u64) -> Self {
        self.call_with(ms, SH, "iounmap", [OLD_VIRT, 0, 0, 0], None, true)
    }
    /// The probe after a rescan maps `phys`, and sysfs shows BAR0 at `bar`.
    fn bar_mapped(self, ms: u64, phys: u64, bar: u64) -> Self {
        let state = EventData::DeviceState {
            present: true,
            driver: Some("snd_hda_intel".into()),
            bars: vec![BarRange {
                index: 0,
                start: Hex(bar),
                end: Hex(bar + 0x3fff),
            }],
        };
        self.push(ms, 0, SYSFS_PROBE, true, state)
            .call_with(ms, KWORKER, "ioremap", [phys, 0x4000, 0, 0], None, true)
            .returns(ms, KWORKER, "ioremap", NEW_VIRT, true)
    }
    /// sysfs shows the device gone.
    fn device_gone(self, ms: u64) -> Self {
        let state = EventData::DeviceState {
            present: false,
            driver: None,
            bars: Vec::new(),
        };
        self.push(ms, 0, SYSFS_PROBE, true, state)
    }
    /// sysfs shows the device present with no driver, BAR0 where it was.
    fn device_unbound(self, ms: u64) -> Self {
        let state = EventData::DeviceState {
            present: true,
            driver: None,
            bars: vec![BarRange {
                index: 0,
                start: Hex(OLD_PHYS),
                end: Hex(OLD_PHYS + 0x3fff),
            }],
        };
        self.push(ms, 0, SYSFS_PROBE, true, state)
    }
    /// pciehp's IRQ thread removes the device (native hot-unplug): the PCI core
    /// unbinds the driver, which quiesces and unmaps on that thread.
    fn hot_unplugged(self, ms: u64) -> Self {
        self.call(ms, PCIEHP, "pci_stop_and_remove_bus_device", None, false)
            .call(ms + 1, PCIEHP, "pci_device_remove", None, false)
            .call(ms + 2, PCIEHP, "snd_card_disconnect", None, false)
            .returns(ms + 2, PCIEHP, "snd_card_disconnect", 0, false)
            .call(ms + 3, PCIEHP, "azx_stop_chip", Some(OLD_VIRT), true)
            .call_with(ms + 4, PCIEHP, "iounmap", [OLD_VIRT, 0, 0, 0], None, true)
    }
    /// `rmmod` unbinds the driver from the shell's thread.
    fn driver_unbinds(self, ms: u64) -> Self {
        self.call(ms, SH, "pci_device_remove", None, false)
    }
    fn chip_inits(self, ms: u64) -> Self {
        self.call(ms, KWORKER, "azx_init_chip", Some(NEW_VIRT), true)
    }
    /// A whole remove and rescan that moves BAR0, done right.
    fn clean_remove_rescan(self, from: u64) -> Self {
        self.remove_starts(from)
            .card_disconnects(from + 1)
            .chip_stops(from + 2)
            .bar_unmapped(from + 3)
            .bar_mapped(from + 50, NEW_PHYS, NEW_PHYS)
            .chip_inits(from + 51)
    }
    fn accessor(self, ms: u64, tid: u32, base: u64) -> Self {
        self.call(ms, tid, "snd_hdac_bus_send_cmd", Some(base), true)
    }
    fn interrupt(self, ms: u64) -> Self {
        let entry = EventData::IrqHandlerEntry {
            irq: 27,
            handler: Hex(HANDLER),
            handler_name: Some("azx_interrupt".into()),
            thread: None,
        };
        let exit = EventData::IrqHandlerExit {
            irq: 27,
            handler: Hex(HANDLER),
            handler_name: Some("azx_interrupt".into()),
            handled: true,
        };
        self.push(ms, 0, "irq:irq_handler_entry", true, entry).push(
            ms,
            0,
            "irq:irq_handler_exit",
            true,
            exit,
        )
    }
    fn work(self, ms: u64, tid: u32, function: &str) -> Self {
        let symbol = Some(Name::from(format!("{function} [snd_hda_intel]")));
        let start = EventData::WorkStart {
            work: Hex(0xffff_8880_0100_0000),
            function: Hex(0xffff_ffff_c0b0_0000),
            symbol: symbol.clone(),
        };
        let end = EventData::WorkEnd {
            work: Hex(0xffff_8880_0100_0000),
            function: Hex(0xffff_ffff_c0b0_0000),
            symbol,
        };
        self.push(ms, tid, "workqueue:workqueue_execute_start", false, start)
            .push(ms + 1, tid, "workqueue:workqueue_execute_end", false, end)
    }
    /// aplay's ioctl from `enter` to `exit`; `reached` when it ran the driver's
    /// `snd_pcm_ioctl` (not ALSA's disconnected stub).
    fn ioctl(self, enter: u64, exit: Option<u64>, reached: bool) -> Self {
        self.ioctl_by(APLAY, enter, exit, reached)
    }
    /// An ioctl like [`Scenario::ioctl`], by thread `tid`.
    fn ioctl_by(self, tid: u32, enter: u64, exit: Option<u64>, reached: bool) -> Self {
        let dev = Some(crate::event::DevNum {
            major: 116,
            minor: 3,
        });
        let data = EventData::IoctlEnter {
            fd: 4,
            cmd: Hex(0x4142),
            cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
            arg: Hex(0),
            dev,
        };
        if self.carried && !reached {
            // ALSA's stub ran, not its file operation: nothing saw the call.
            return self;
        }
        let (entry, exit_probe) = if self.carried {
            ("kprobe:snd_pcm_ioctl", "kretprobe:snd_pcm_ioctl")
        } else {
            ("syscalls:sys_enter_ioctl", "syscalls:sys_exit_ioctl")
        };
        let carried = self.carried;
        let mut s = self.push(enter, tid, entry, true, data);
        if reached && !carried {
            s = s.call(enter, tid, "snd_pcm_ioctl", None, true);
        }
        match exit {
            Some(exit) => {
                let data = EventData::IoctlExit {
                    fd: 4,
                    cmd: Hex(0x4142),
                    cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
                    ret: if reached { 0 } else { -19 },
                    dev,
                };
                s.push(exit, tid, exit_probe, true, data)
            }
            None => s,
        }
    }
    fn stream_starts(self, ms: u64) -> Self {
        self.call_with(
            ms,
            APLAY,
            "snd_hdac_stream_start",
            [0xabc, 0, 0, 0],
            Some(OLD_VIRT),
            true,
        )
    }
    fn stream_stops(self, ms: u64) -> Self {
        self.call_with(
            ms,
            SH,
            "snd_hdac_stream_stop",
            [0xabc, 0, 0, 0],
            Some(OLD_VIRT),
            true,
        )
    }
    fn blind_to(mut self, probe: &'static str) -> Self {
        self.blind.push(probe);
        self
    }
    /// `probe` saw nothing from `from` to `to` ms (attached after its module loaded).
    fn blind_between(mut self, probe: &str, from: u64, to: u64) -> Self {
        let ns = |ms: u64| 1_000_000_000 + ms * 1_000_000;
        self.blind_spans.push(BlindSpan {
            probe: probe.into(),
            from_ns: ns(from),
            to_ns: ns(to),
            reason: "attached only after snd_hda_core loaded".into(),
        });
        self
    }
    /// ALSA's ioctl file operations' probes carry the ioctls (where kprobes
    /// reach ALSA): an ioctl is recorded only when it ran one of them.
    fn ioctls_carried_by_alsa(mut self) -> Self {
        self.carried = true;
        self
    }
    /// The controller was not there when the capture began (removed before it).
    fn absent_at_start(mut self) -> Self {
        self.absent_at_start = true;
        self
    }
    fn losing(mut self, probe: &'static str, records: u64) -> Self {
        self.lost.push((probe, records));
        self
    }

    fn header(&self) -> Header {
        let mut probes = Profile::attached_table(&Profile::builtin());
        for p in &mut probes {
            if self.blind.contains(&p.name.as_str()) {
                p.attached = None;
            }
            p.carries_ioctls = self.carried
                && Profile::builtin()
                    .iter()
                    .flat_map(|profile| &profile.functions)
                    .any(|f| f.carries_ioctls && p.name == function_probe_name(f.exit, &f.name));
        }
        let mut header = Header::new("6.1.0", "bench", 0, 1_000_000_000, probes);
        header.devices = vec![WatchedDevice {
            bdf: HDA.into(),
            driver: Some("snd_hda_intel".into()),
            cards: vec![0],
            bars: vec![BarRange {
                index: 0,
                start: Hex(OLD_PHYS),
                end: Hex(OLD_PHYS + 0x3fff),
            }],
            mappings: if self.mappings_hidden {
                Vec::new()
            } else {
                vec![KnownMapping {
                    virt: Hex(OLD_VIRT),
                    size: 0x5000,
                    phys: Hex(OLD_PHYS),
                }]
            },
        }];
        if self.absent_at_start {
            header.devices.clear();
        }
        header
    }

    fn analysis_in(&self, order: &[Event]) -> Analysis {
        self.fed(Analysis::new(&self.header()), order)
    }

    /// `analysis` after taking in `order` and the story's end.
    fn fed(&self, mut analysis: Analysis, order: &[Event]) -> Analysis {
        for event in order {
            analysis.push(event.clone());
        }
        if !self.cut {
            analysis.finish(&self.trailer(order));
        }
        analysis
    }

    /// The trailer the recorder writes after `order`: its events and losses per
    /// probe.
    fn trailer(&self, order: &[Event]) -> Trailer {
        let mut trailer = Trailer {
            blind_spans: self.blind_spans.clone(),
            ..Trailer::default()
        };
        for event in order {
            trailer
                .probes
                .entry(event.probe.to_string())
                .or_default()
                .events += 1;
        }
        for (probe, lost) in &self.lost {
            trailer.probes.entry((*probe).to_owned()).or_default().lost += lost;
        }
        trailer.events = order.len() as u64;
        trailer.lost = self.lost.iter().map(|(_, n)| n).sum();
        trailer
    }

    fn judge(&self) -> Judgement {
        self.analysis_in(&self.events).judge(&self.config)
    }
}

impl Judgement {
    fn verdict(&self, rule: &str) -> Verdict {
        self.rule(rule).verdict
    }
    fn rule(&self, rule: &str) -> &crate::rules::RuleResult {
        self.rules
            .iter()
            .find(|r| r.id == rule)
            .expect("a known rule")
    }
    fn failed(&self) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .map(|r| r.id.as_str())
            .collect()
    }
}

#[test]
fn a_clean_remove_and_rescan_passes_every_rule_and_closes_its_cycle() {
    let j = story()
        .accessor(0, KWORKER, OLD_VIRT)
        .interrupt(0)
        .clean_remove_rescan(10)
        .accessor(70, KWORKER, NEW_VIRT)
        .judge();
    assert_eq!(j.failed(), Vec::<&str>::new());
    assert_eq!(j.outcome(), Outcome::Pass);
    let d = &j.devices[0];
    assert_eq!(d.state, State::Active);
    let c = &d.cycles[0];
    assert_eq!(c.end, CycleEnd::Closed);
    assert_eq!(c.trigger, Some(crate::probe_table::Trigger::Remove));
    // The quiesce window starts at the driver's own first step, not the PCI core's.
    assert_eq!(
        c.quiesce.as_ref().unwrap().what,
        "snd_card_disconnect returned"
    );
    assert_eq!(c.quiesce_window().unwrap().length_ns(0), 2_000_000);
    assert_eq!(c.unmap_window().unwrap().length_ns(0), 47_000_000);
}

#[test]
fn when_the_last_close_stops_the_chip_the_remove_thread_still_starts_the_cycle() {
    // During playback snd_card_free waits for aplay; aplay's last close frees the
    // card, so azx_free and azx_stop_chip run on aplay's thread, not remove's.
    let j = story()
        .remove_starts(10)
        .card_disconnects(11)
        .call(20, APLAY, "azx_free", None, false)
        .call(21, APLAY, "azx_stop_chip", Some(OLD_VIRT), true)
        .bar_unmapped(22)
        .bar_mapped(50, NEW_PHYS, NEW_PHYS)
        .chip_inits(51)
        .judge();
    let c = &j.devices[0].cycles[0];
    assert_eq!(c.trigger, Some(crate::probe_table::Trigger::Remove));
    assert_eq!(
        c.quiesce.as_ref().unwrap().what,
        "snd_card_disconnect returned"
    );
    let steps: Vec<String> = c.steps.iter().map(|m| m.what.to_string()).collect();
    assert_eq!(
        steps,
        [
            "pci_stop_and_remove_bus_device_locked",
            "snd_card_disconnect returned",
            "azx_free",
            "azx_stop_chip",
            "iounmap(0xffffc90000300000)",
            "ioremap -> 0xffffc90000500000",
            "azx_init_chip"
        ]
    );
}

#[test]
fn two_devices_removed_in_turn_from_one_shell_each_start_their_own_cycle() {
    const OTHER: &str = "0000:00:05.0";
    let mut s = story()
        .clean_remove_rescan(10)
        .remove_starts(2000)
        .call_with(
            2001,
            SH,
            "iounmap",
            [0xffff_c900_0060_0000, 0, 0, 0],
            None,
            true,
        );
    s.events.last_mut().unwrap().device = Some(OTHER.into());
    let j = s.judge();
    let other = j.devices.iter().find(|d| d.bdf == OTHER).unwrap();
    let steps: Vec<String> = other.cycles[0]
        .steps
        .iter()
        .map(|m| m.what.to_string())
        .collect();
    assert_eq!(
        steps,
        [
            "pci_stop_and_remove_bus_device_locked",
            "iounmap(0xffffc90000600000)"
        ]
    );
    assert_eq!(
        other.cycles[0].quiesce_window().unwrap().length_ns(0),
        1_000_000
    );
    assert_eq!(j.devices[0].cycles[0].steps.len(), 6);
}

#[test]
fn mmio_after_unmap_names_the_path_that_touched_the_old_mapping() {
    let j = story()
        .remove_starts(10)
        .chip_stops(11)
        .bar_unmapped(12)
        .accessor(15, OLD_WORKER, OLD_VIRT + 0x60)
        .accessor(16, OLD_WORKER, OLD_VIRT + 0x60)
        .bar_mapped(50, NEW_PHYS, NEW_PHYS)
        .chip_inits(51)
        .judge();
    assert_eq!(j.failed(), ["mmio-after-unmap"]);
    let v = &j.rule("mmio-after-unmap").violations[0];
    assert_eq!((v.device.as_str(), v.cycle, v.count), (HDA, Some(1), 2));
    assert_eq!(v.stack[0], "snd_hdac_bus_send_cmd+0x0 [snd_hda_codec]");
    assert!(
        v.what.contains(
            "in the unmapped mapping 0xffffc90000300000 of 0xfebf0000, 3.0 ms after its iounmap"
        ),
        "{}",
        v.what
    );
    assert!(v.advice.contains("cancel"), "{}", v.advice);
    assert!(
        matches!(v.events[1].data, EventData::FuncEntry { ref function, .. } if function == "iounmap")
    );
}

#[test]
fn a_page_fault_in_an_unmapped_bar_is_mmio_after_unmap_too() {
    let fault = EventData::PageFault {
        address: Hex(OLD_VIRT + 4),
        ip: Hex(0),
        function: Some("fixture_read".into()),
        write: false,
        stack: vec!["fixture_read+0x5 [barwatch_fixture]".into()],
    };
    let j = story()
        .remove_starts(10)
        .bar_unmapped(12)
        .push(20, OLD_WORKER, "exceptions:page_fault_kernel", true, fault)
        .judge();
    assert_eq!(j.verdict("mmio-after-unmap"), Verdict::Fail);
    assert_eq!(
        j.rule("mmio-after-unmap").violations[0].stack,
        ["fixture_read+0x5 [barwatch_fixture]"]
    );
}

#[test]
fn an_access_to_a_range_mapped_again_at_the_same_address_is_fine() {
    let j = story()
        .remove_starts(10)
        .bar_unmapped(12)
        .call_with(50, KWORKER, "ioremap", [NEW_PHYS, 0x4000, 0, 0], None, true)
        .returns(50, KWORKER, "ioremap", OLD_VIRT, true)
        .accessor(60, KWORKER, OLD_VIRT)
        .judge();
    assert_eq!(j.verdict("mmio-after-unmap"), Verdict::Pass);
}

#[test]
fn ioctls_alsa_waits_for_or_routes_to_its_stubs_are_not_in_the_window() {
    let j = story()
        .remove_starts(8)
        .call(8, SH, "azx_remove", None, false)
        // Entered after the driver's remove began but before it disconnected the
        // card; ALSA waited for it.
        .ioctl(9, Some(11), true)
        .card_disconnects(10)
        // After the disconnect, ALSA's stub answers -ENODEV without the driver.
        .ioctl(12, Some(12), false)
        .chip_stops(13)
        .bar_unmapped(14)
        .judge();
    assert_eq!(j.verdict("ioctl-in-window"), Verdict::Pass);
}

#[test]
fn an_ioctl_that_entered_while_alsa_was_disconnecting_is_waited_for() {
    // Seen on the bench: aplay's WRITEI_FRAMES reached the driver on the other
    // CPU after snd_card_disconnect began and before it switched aplay's file to
    // its stubs; ALSA waited for it before the chip stopped.
    let j = story()
        .remove_starts(8)
        .call(10, SH, "snd_card_disconnect", None, false)
        .ioctl(11, Some(13), true)
        .returns(12, SH, "snd_card_disconnect", 0, false)
        .chip_stops(14)
        .bar_unmapped(15)
        .judge();
    assert_eq!(j.verdict("ioctl-in-window"), Verdict::Pass);
}

#[test]
fn an_ioctl_reaching_the_driver_in_the_quiesce_window_fails() {
    let j = story()
        .remove_starts(8)
        .card_disconnects(10)
        .ioctl(11, Some(12), true)
        .chip_stops(13)
        .bar_unmapped(14)
        .judge();
    assert_eq!(j.failed(), ["ioctl-in-window"]);
    let v = &j.rule("ioctl-in-window").violations[0];
    assert!(
        v.what
            .contains("quiesce window, 1.0 ms after snd_card_disconnect returned"),
        "{}",
        v.what
    );
    assert_eq!((v.pid, v.comm.as_str()), (APLAY, "aplay"));
}

#[test]
fn an_ioctl_still_in_flight_at_the_unmap_fails() {
    let j = story()
        .ioctl(5, None, true)
        .remove_starts(8)
        .bar_unmapped(14)
        .judge();
    assert_eq!(j.verdict("ioctl-in-window"), Verdict::Fail);
    let v = &j.rule("ioctl-in-window").violations[0];
    assert!(
        v.what.contains("still in the driver when iounmap"),
        "{}",
        v.what
    );
}

#[test]
fn ioctls_alsa_file_operations_carried_are_judged_as_the_syscalls_were() {
    // Where kprobes reach ALSA, its ioctl file operations' probes record the
    // ioctls: an ioctl is seen only if it ran one, so each seen reached the driver.
    let clean = story()
        .ioctls_carried_by_alsa()
        .remove_starts(8)
        .ioctl(9, Some(11), true)
        .card_disconnects(10)
        .ioctl(12, Some(12), false)
        .chip_stops(13)
        .bar_unmapped(14)
        .judge();
    assert_eq!(clean.verdict("ioctl-in-window"), Verdict::Pass);
    let in_window = story()
        .ioctls_carried_by_alsa()
        .remove_starts(8)
        .card_disconnects(10)
        .ioctl(11, Some(12), true)
        .chip_stops(13)
        .bar_unmapped(14)
        .judge();
    assert_eq!(in_window.failed(), ["ioctl-in-window"]);
    let in_flight = story()
        .ioctls_carried_by_alsa()
        .ioctl(5, None, true)
        .remove_starts(8)
        .bar_unmapped(14)
        .judge();
    assert_eq!(in_flight.verdict("ioctl-in-window"), Verdict::Fail);
    let v = &in_flight.rule("ioctl-in-window").violations[0];
    assert!(
        v.what.contains("still in the driver when iounmap"),
        "{}",
        v.what
    );
}

#[test]
fn an_interrupt_before_the_unmap_passes_and_one_after_fails() {
    let before = story().interrupt(5).clean_remove_rescan(10).judge();
    assert_eq!(before.verdict("irq-in-window"), Verdict::Pass);
    let after = story()
        .interrupt(5)
        .clean_remove_rescan(10)
        .interrupt(20)
        .judge();
    assert_eq!(after.failed(), ["irq-in-window"]);
    let v = &after.rule("irq-in-window").violations[0];
    assert!(
        v.what
            .contains("IRQ 27 ran handler azx_interrupt 7.0 ms after iounmap"),
        "{}",
        v.what
    );
}

#[test]
fn the_probe_work_that_maps_again_is_not_work_in_the_window_but_old_work_is() {
    let rescan_work = story()
        .remove_starts(10)
        .bar_unmapped(13)
        .work(49, KWORKER, "azx_probe_work")
        .bar_mapped(49, NEW_PHYS, NEW_PHYS)
        .chip_inits(49)
        .judge();
    assert_eq!(rescan_work.verdict("work-in-window"), Verdict::Pass);
    let old_work = story()
        .clean_remove_rescan(10)
        .work(20, OLD_WORKER, "azx_irq_pending_work")
        .judge();
    assert_eq!(old_work.failed(), ["work-in-window"]);
    let v = &old_work.rule("work-in-window").violations[0];
    assert!(
        v.what
            .starts_with("work azx_irq_pending_work [snd_hda_intel] started"),
        "{}",
        v.what
    );
}

#[test]
fn mapping_the_old_address_after_the_bar_moved_is_a_stale_remap() {
    let moved = story().clean_remove_rescan(10).judge();
    assert_eq!(moved.verdict("stale-remap"), Verdict::Pass);
    let stale = story()
        .remove_starts(10)
        .bar_unmapped(13)
        .bar_mapped(50, OLD_PHYS, NEW_PHYS)
        .chip_inits(51)
        .judge();
    assert_eq!(stale.failed(), ["stale-remap"]);
    let v = &stale.rule("stale-remap").violations[0];
    assert!(
        v.what
            .contains("mapped 0xfebf0000 (where BAR 0: 0xfebf0000-0xfebf3fff was before)"),
        "{}",
        v.what
    );
    assert_eq!(v.stack[0], "ioremap+0x0 [snd_hda_codec]");
}

#[test]
fn stopping_the_chip_with_a_stream_running_fails_stop_while_streaming() {
    let stopped_first = story()
        .stream_starts(1)
        .remove_starts(10)
        .stream_stops(11)
        .chip_stops(12)
        .bar_unmapped(13)
        .judge();
    assert_eq!(stopped_first.verdict("stop-while-streaming"), Verdict::Pass);
    let running = story()
        .stream_starts(1)
        .remove_starts(10)
        .chip_stops(12)
        .bar_unmapped(13)
        .judge();
    assert_eq!(running.failed(), ["stop-while-streaming"]);
}

#[test]
fn a_restart_while_unmapped_is_unbalanced_and_an_open_cycle_is_incomplete() {
    let restarted = story()
        .remove_starts(10)
        .bar_unmapped(13)
        .call(20, SH, "azx_init_chip", Some(OLD_VIRT), true)
        .judge();
    assert!(restarted.failed().contains(&"unbalanced"));
    // A movable-BARs style cycle: stopped and unmapped, never mapped again.
    let open = story().chip_stops(10).bar_unmapped(13).judge();
    assert_eq!(open.verdict("unbalanced"), Verdict::Incomplete);
    assert!(
        open.rule("unbalanced")
            .reason
            .as_ref()
            .unwrap()
            .contains("cycle 1 open for")
    );
    assert_eq!(open.outcome(), Outcome::Incomplete);
}

#[test]
fn a_removed_device_that_stays_away_is_not_open() {
    let j = story()
        .remove_starts(10)
        .chip_stops(11)
        .bar_unmapped(12)
        .judge();
    assert_eq!(j.devices[0].state, State::Removed);
    assert_eq!(j.devices[0].cycles[0].end, CycleEnd::Removed);
    assert_eq!(j.outcome(), Outcome::Pass);
    let text = super::render::render(&j);
    assert!(
        text.contains("device removed, not back")
            && text.contains("unmap window 0 µs (the device is gone)")
            && !text.contains("(open)"),
        "{text}"
    );
}

#[test]
fn a_device_gone_after_its_stop_markers_without_an_iounmap_leaks_its_mapping() {
    let j = story()
        .remove_starts(10)
        .card_disconnects(11)
        .chip_stops(12)
        .device_gone(20)
        .judge();
    assert_eq!(j.devices[0].state, State::Removed);
    assert_eq!(j.devices[0].cycles[0].end, CycleEnd::Removed);
    assert_eq!(j.failed(), ["leaked-mapping"]);
    let v = &j.rule("leaked-mapping").violations[0];
    assert_eq!((v.device.as_str(), v.cycle), (HDA, Some(1)));
    assert!(
        v.what.contains(&format!("mapping {OLD_VIRT:#x}-"))
            && v.what.contains(&format!("of {OLD_PHYS:#x}"))
            && v.what.contains("the device was removed"),
        "{}",
        v.what
    );
    assert_eq!(v.comm, "sh");
    assert_eq!(j.outcome(), Outcome::Violation);
    // Without sysfs' word the device is not known gone: the cycle stays open.
    let open = story().remove_starts(10).chip_stops(12).judge();
    assert_eq!(open.devices[0].cycles[0].end, CycleEnd::Open);
    assert_eq!(open.outcome(), Outcome::Incomplete);
    // With no mapping of it known, whether one leaked is unknown: not a pass.
    let mut unknown = story().remove_starts(10).chip_stops(12).device_gone(20);
    unknown.mappings_hidden = true;
    let unknown = unknown.judge();
    assert_eq!(unknown.verdict("leaked-mapping"), Verdict::Incomplete);
    assert!(
        unknown
            .rule("leaked-mapping")
            .reason
            .as_ref()
            .unwrap()
            .contains(HDA),
        "{:?}",
        unknown.rule("leaked-mapping")
    );
    assert_eq!(unknown.outcome(), Outcome::Incomplete);
}

#[test]
fn a_native_hot_unplug_ends_removed_with_its_own_trigger() {
    for gone in [true, false] {
        let mut s = story().stream_starts(0).stream_stops(5).hot_unplugged(10);
        if gone {
            s = s.device_gone(20);
        }
        let j = s.judge();
        let (d, c) = (&j.devices[0], &j.devices[0].cycles[0]);
        assert_eq!(c.trigger, Some(crate::probe_table::Trigger::HotUnplug));
        assert_eq!((d.state, c.end), (State::Removed, CycleEnd::Removed));
        assert_eq!(
            c.quiesce.as_ref().unwrap().what,
            "snd_card_disconnect returned"
        );
        assert!(
            j.rules.iter().all(|r| r.verdict == Verdict::Pass),
            "{:?}",
            j.rules
        );
        assert_eq!(j.outcome(), Outcome::Pass);
    }
}

#[test]
fn a_sysfs_remove_stays_a_remove_though_it_runs_the_unlocked_remove_inside() {
    let j = story()
        .remove_starts(10)
        .call(10, SH, "pci_stop_and_remove_bus_device", None, false)
        .card_disconnects(11)
        .chip_stops(12)
        .bar_unmapped(13)
        .judge();
    let c = &j.devices[0].cycles[0];
    assert_eq!(c.trigger, Some(crate::probe_table::Trigger::Remove));
    assert_eq!(c.end, CycleEnd::Removed);
    assert_eq!(j.outcome(), Outcome::Pass);
}

#[test]
fn a_driver_unloaded_after_a_clean_unmap_leaves_its_device_unbound() {
    for shown in [true, false] {
        let mut s = story()
            .driver_unbinds(10)
            .card_disconnects(11)
            .chip_stops(12)
            .bar_unmapped(13);
        if shown {
            s = s.device_unbound(14);
        }
        let j = s.judge();
        let (d, c) = (&j.devices[0], &j.devices[0].cycles[0]);
        assert_eq!(c.trigger, Some(crate::probe_table::Trigger::DriverUnbind));
        assert_eq!((d.state, c.end), (State::Unbound, CycleEnd::Unbound));
        assert_eq!(j.verdict("unbalanced"), Verdict::Pass);
        assert_eq!(j.outcome(), Outcome::Pass);
    }
}

#[test]
fn an_unbind_that_leaves_the_bar_mapped_leaks_it_and_without_sysfs_stays_open() {
    let j = story()
        .driver_unbinds(10)
        .chip_stops(12)
        .device_unbound(14)
        .judge();
    assert_eq!(j.devices[0].state, State::Unbound);
    assert_eq!(j.failed(), ["leaked-mapping"]);
    let v = &j.rule("leaked-mapping").violations[0];
    assert!(v.what.contains("its driver was unbound"), "{}", v.what);
    let open = story().driver_unbinds(10).chip_stops(12).judge();
    assert_eq!(open.devices[0].cycles[0].end, CycleEnd::Open);
    assert_eq!(open.outcome(), Outcome::Incomplete);
}

#[test]
fn a_window_over_its_budget_fails_window_budget() {
    let j = story()
        .remove_starts(10)
        .card_disconnects(11)
        .chip_stops(3000)
        .bar_unmapped(3001)
        .judge();
    assert_eq!(j.failed(), ["window-budget"]);
    let v = &j.rule("window-budget").violations[0];
    assert!(
        v.what
            .contains("quiesce window from snd_card_disconnect returned lasted 2.99 s"),
        "{}",
        v.what
    );
}

#[test]
fn a_suspend_and_resume_is_a_cycle_without_an_unmap_whose_sleep_is_not_quiescing() {
    // The system sleeps five seconds between the driver's suspend and resume,
    // longer than the quiesce budget: the quiesce window is the stopping alone.
    let j = story()
        .call(10, KWORKER, "azx_suspend", None, false)
        .call(11, KWORKER, "azx_stop_chip", Some(OLD_VIRT), true)
        .call(5000, KWORKER, "azx_resume", None, false)
        .call(5001, KWORKER, "azx_init_chip", Some(OLD_VIRT), true)
        .judge();
    let c = &j.devices[0].cycles[0];
    assert_eq!(c.trigger, Some(crate::probe_table::Trigger::SystemSleep));
    assert_eq!((c.end, c.unmap.is_none()), (CycleEnd::Closed, true));
    assert_eq!(c.quiesce_window().unwrap().length_ns(0), 1_000_000);
    assert_eq!(j.outcome(), Outcome::Pass);
}

#[test]
fn a_capture_that_starts_after_the_unmap_shows_a_cycle_begun_before_it() {
    let j = story()
        .bar_mapped(5, NEW_PHYS, NEW_PHYS)
        .chip_inits(6)
        .judge();
    let c = &j.devices[0].cycles[0];
    assert!(c.started_before_capture);
    assert_eq!(c.end, CycleEnd::Closed);
    assert_eq!(j.failed(), Vec::<&str>::new());
}

/// barwatch starts after the controller was removed: it sees the rescan's probe
/// map the BAR, not the remove before it.
fn arrives_by_rescan(s: Scenario) -> Scenario {
    s.absent_at_start()
        .bar_mapped(5, NEW_PHYS, NEW_PHYS)
        .chip_inits(6)
}

#[test]
fn a_device_first_seen_while_recording_is_told_and_its_arrival_not_judged_as_a_cycle() {
    let j = arrives_by_rescan(story()).judge();
    let d = &j.devices[0];
    assert!(d.watched_from.is_some(), "{d:?}");
    assert!(
        d.cycles.is_empty(),
        "the arrival is no cycle: {:?}",
        d.cycles
    );
    assert_eq!(
        j.failed(),
        Vec::<&str>::new(),
        "no stale-remap or unbalanced from the unseen start"
    );
    assert_ne!(
        j.outcome(),
        Outcome::Pass,
        "nothing whole was seen, nothing passes"
    );
    let text = super::render::render(&j);
    assert!(
        text.contains("first seen +0.005 s") && text.contains("is not judged as a cycle"),
        "{text}"
    );
}

#[test]
fn after_a_device_is_first_seen_its_first_whole_cycle_is_judged() {
    let j = arrives_by_rescan(story())
        .remove_starts(100)
        .card_disconnects(101)
        .call(102, SH, "azx_stop_chip", Some(NEW_VIRT), true)
        .call_with(103, SH, "iounmap", [NEW_VIRT, 0, 0, 0], None, true)
        .bar_mapped(150, NEW_PHYS, NEW_PHYS)
        .chip_inits(151)
        .judge();
    let d = &j.devices[0];
    assert!(d.watched_from.is_some());
    assert_eq!(d.cycles.len(), 1, "{:?}", d.cycles);
    let c = &d.cycles[0];
    assert_eq!(c.trigger, Some(crate::probe_table::Trigger::Remove));
    assert_eq!((c.end, c.started_before_capture), (CycleEnd::Closed, false));
    assert_eq!(j.failed(), Vec::<&str>::new());
    assert_eq!(j.outcome(), Outcome::Pass);
}

#[test]
fn a_rule_whose_probe_is_missing_is_not_checked_and_losses_make_it_incomplete() {
    let blind = story()
        .clean_remove_rescan(10)
        .blind_to("irq:irq_handler_entry")
        .judge();
    assert_eq!(blind.verdict("irq-in-window"), Verdict::NotChecked);
    let lossy = story()
        .clean_remove_rescan(10)
        .losing("kprobe:snd_hdac_bus_send_cmd", 3)
        .judge();
    assert_eq!(lossy.verdict("mmio-after-unmap"), Verdict::Incomplete);
    assert!(
        lossy
            .rule("mmio-after-unmap")
            .reason
            .as_ref()
            .unwrap()
            .contains("3 records of kprobe:snd_hdac_bus_send_cmd lost")
    );
    let mut cut = story().clean_remove_rescan(10);
    cut.cut = true;
    assert_eq!(cut.judge().outcome(), Outcome::Incomplete);
}

/// A clean story: `cycles` remove/rescan cycles with accesses, interrupts and
/// ioctls only while the device runs, at the generated offsets.
fn clean_story(cycles: &[(u64, u64, u64)]) -> Scenario {
    let mut s = story();
    let mut at = 0;
    for (i, &(gap, quiesce, unmapped)) in cycles.iter().enumerate() {
        let base = if i == 0 { OLD_VIRT } else { NEW_VIRT };
        s = s
            .accessor(at + 1, KWORKER, base)
            .interrupt(at + 2)
            .ioctl(at + 3, Some(at + 4), true);
        at += 5 + gap;
        s = s
            .remove_starts(at)
            .card_disconnects(at + 1)
            .call(at + 1 + quiesce, SH, "azx_stop_chip", Some(base), true)
            .call_with(at + 2 + quiesce, SH, "iounmap", [base, 0, 0, 0], None, true)
            .bar_mapped(at + 3 + quiesce + unmapped, NEW_PHYS, NEW_PHYS)
            .chip_inits(at + 4 + quiesce + unmapped);
        at += 5 + quiesce + unmapped;
    }
    s
}

/// `story` fed in time order to an analysis that keeps at most a handful of
/// events and settles everything older than 1 ms, against the same story kept
/// whole: the verdicts, timelines and counts must be identical.
fn bounded_and_whole(story: &Scenario) -> (Analysis, serde_json::Value, serde_json::Value) {
    let mut in_order = story.events.clone();
    in_order.sort_by_key(|e| (e.ts_ns, e.cpu));
    let retention = Retention {
        max_events: 8,
        settle_ns: 1_000_000,
    };
    let bounded = story.fed(Analysis::bounded(&story.header(), retention), &in_order);
    let judged = serde_json::to_value(bounded.judge(&story.config)).unwrap();
    let whole = serde_json::to_value(story.judge()).unwrap();
    (bounded, judged, whole)
}

#[test]
fn a_long_run_is_judged_in_bounded_memory_with_the_verdict_of_the_whole() {
    let mut s = story();
    for cycle in 0..40 {
        let at = cycle * 100;
        let base = if cycle == 0 { OLD_VIRT } else { NEW_VIRT };
        for i in 0..40 {
            s = s.accessor(at + i, KWORKER, base);
        }
        s = s
            .interrupt(at + 41)
            .ioctl(at + 42, Some(at + 43), true)
            .remove_starts(at + 50)
            .card_disconnects(at + 51)
            .call(at + 52, SH, "azx_stop_chip", Some(base), true)
            .call_with(at + 53, SH, "iounmap", [base, 0, 0, 0], None, true)
            .bar_mapped(at + 60, NEW_PHYS, NEW_PHYS)
            .chip_inits(at + 61);
        if cycle == 20 {
            // The old worker touches the unmapped BAR, three times.
            s = s
                .accessor(at + 54, OLD_WORKER, NEW_VIRT)
                .accessor(at + 55, OLD_WORKER, NEW_VIRT)
                .accessor(at + 56, OLD_WORKER, NEW_VIRT);
        }
    }
    let (bounded, judged, whole) = bounded_and_whole(&s);
    assert_eq!(judged, whole);
    assert!(
        bounded.forgotten() > 1_500,
        "forgot only {}",
        bounded.forgotten()
    );
    assert!(
        bounded.events().len() < 600,
        "kept {} events",
        bounded.events().len()
    );
    let failed = bounded.judge(&s.config);
    assert_eq!(failed.failed(), ["mmio-after-unmap"]);
    assert_eq!(failed.rule("mmio-after-unmap").violations[0].count, 3);
    assert_eq!(failed.devices[0].cycle_count(), 40);
}

#[test]
fn a_work_item_of_the_driver_is_about_its_device_though_it_names_none() {
    let s = story().work(5, KWORKER, "azx_probe_work");
    let j = s.judge();
    let start = &s.events[0];
    assert_eq!(start.device, None);
    assert_eq!(j.device_of(start), Some(HDA));
    let mut other = start.clone();
    other.data = EventData::WorkStart {
        work: Hex(1),
        function: Hex(2),
        symbol: Some("vmstat_update".into()),
    };
    assert_eq!(j.device_of(&other), None);
}

#[test]
fn a_device_removed_for_good_does_not_stop_the_analysis_forgetting() {
    let mut s = story()
        .remove_starts(10)
        .card_disconnects(11)
        .chip_stops(12)
        .bar_unmapped(13);
    for i in 0..500 {
        s = s.ioctl_by(600, 20 + i * 2, Some(21 + i * 2), false);
    }
    let (bounded, judged, whole) = bounded_and_whole(&s);
    assert_eq!(judged, whole);
    assert!(bounded.forgotten() > 900, "forgot {}", bounded.forgotten());
}

#[test]
fn a_stream_kept_as_its_functions_first_start_keeps_its_stop_when_settled() {
    // Seen on the bench's soak: a stop whose start came before the capture is
    // the first stop call, so the stream started next is the first start call,
    // kept for good; forgetting its stop left it running at every chip stop.
    let mut s = story()
        .stream_stops(0)
        .stream_starts(10)
        .stream_stops(13)
        .remove_starts(50)
        .card_disconnects(51)
        .chip_stops(52)
        .bar_unmapped(53)
        .bar_mapped(60, NEW_PHYS, NEW_PHYS)
        .chip_inits(61);
    for i in 0..20 {
        s = s.ioctl_by(600, 70 + i * 2, Some(71 + i * 2), false);
    }
    let (bounded, judged, whole) = bounded_and_whole(&s);
    assert!(bounded.forgotten() > 0, "nothing settled");
    assert_eq!(judged, whole);
    assert_eq!(s.judge().failed(), Vec::<&str>::new());
}

#[test]
fn a_stream_started_again_before_its_stop_is_not_left_running_once_settled() {
    // Found by the property below. The stream starts, starts again, stops and
    // stops: the first start runs until the second, the stop ends the second.
    // The first cycle's chip stop finds the first running, which pins it; the
    // second start and its stop were forgotten, which left the first running
    // for good and made the second cycle's chip stop a violation the whole log
    // does not show.
    let mut s = clean_story(&[(9, 12, 12), (0, 0, 0)])
        .stream_starts(26)
        .stream_stops(29)
        .stream_starts(27)
        .stream_stops(30);
    let end = s.events.iter().map(|e| e.ts_ns).max().unwrap() / 1_000_000;
    s = s.ioctl_by(600, end, Some(end + 1), false);
    let (bounded, judged, whole) = bounded_and_whole(&s);
    assert!(bounded.forgotten() > 0, "nothing settled");
    assert_eq!(judged, whole);
    assert_eq!(
        s.judge().rule("stop-while-streaming").violations.len(),
        1,
        "only the first cycle's chip stop finds a stream running"
    );
}

proptest! {
    #[test]
    fn a_bounded_analysis_judges_exactly_as_one_that_keeps_everything(
        cycles in prop::collection::vec((0u64..20, 0u64..30, 0u64..30), 1..4),
        offenders in prop::collection::btree_set((0u8..6, 0u64..250), 0..8),
        tail in 1u64..40,
    ) {
        let mut s = clean_story(&cycles);
        for (i, (kind, at)) in offenders.into_iter().enumerate() {
            // Each offender on its own thread: one thread runs one call at a time,
            // and no probe fires twice on one thread in the same nanosecond.
            let tid = 500 + i as u32;
            s = match kind {
                0 => s.accessor(at, tid, OLD_VIRT),
                1 => s.accessor(at, tid, NEW_VIRT),
                2 => s.interrupt(at),
                3 => s.ioctl_by(tid, at, Some(at + 2), true),
                4 => s.work(at, tid, "azx_irq_pending_work"),
                _ => s.stream_starts(at).stream_stops(at + 3),
            };
        }
        // Life goes on after the story, so its past settles.
        let end = s.events.iter().map(|e| e.ts_ns).max().unwrap_or(0) / 1_000_000;
        for i in 0..tail {
            s = s.ioctl_by(600, end + i * 2, Some(end + i * 2 + 1), false);
        }
        let (_, judged, whole) = bounded_and_whole(&s);
        prop_assert_eq!(judged, whole);
    }

    #[test]
    fn clean_stories_never_fail_and_their_windows_are_ordered(
        cycles in prop::collection::vec((0u64..50, 0u64..1500, 0u64..500), 1..5)
    ) {
        let j = clean_story(&cycles).judge();
        prop_assert_eq!(j.failed(), Vec::<&str>::new());
        let d = &j.devices[0];
        prop_assert_eq!(d.cycles.len(), cycles.len());
        for c in &d.cycles {
            let q = c.quiesce_window().unwrap();
            let u = c.unmap_window().unwrap();
            prop_assert!(q.start_ns <= q.end_ns.unwrap());
            prop_assert_eq!(q.end_ns.unwrap(), u.start_ns);
            prop_assert!(u.start_ns <= u.end_ns.unwrap());
            prop_assert!(c.remap.as_ref().unwrap().ts_ns <= c.active.as_ref().unwrap().ts_ns);
            prop_assert_eq!(c.end, CycleEnd::Closed);
        }
    }

    #[test]
    fn verdicts_do_not_depend_on_how_cpus_interleave(
        cycles in prop::collection::vec((0u64..20, 0u64..30, 0u64..30), 1..3),
        violation in 0u64..40,
        seed in any::<u64>(),
    ) {
        // A story with a violation somewhere, so both verdicts are at stake.
        let s = clean_story(&cycles).accessor(violation + 8, OLD_WORKER, OLD_VIRT);
        let expected = s.judge();
        // Deliver the events CPU by CPU in a shuffled interleaving that keeps each
        // CPU's own order, as the ring buffer does.
        let mut by_cpu: std::collections::BTreeMap<u32, std::collections::VecDeque<Event>> =
            Default::default();
        for e in &s.events {
            by_cpu.entry(e.cpu).or_default().push_back(e.clone());
        }
        let mut order = Vec::new();
        let mut state = seed | 1;
        while by_cpu.values().any(|q| !q.is_empty()) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let cpus: Vec<u32> = by_cpu.iter().filter(|(_, q)| !q.is_empty()).map(|(c, _)| *c).collect();
            let cpu = cpus[(state % cpus.len() as u64) as usize];
            order.push(by_cpu.get_mut(&cpu).unwrap().pop_front().unwrap());
        }
        let shuffled = s.analysis_in(&order).judge(&s.config);
        prop_assert_eq!(
            serde_json::to_value(&shuffled).unwrap(),
            serde_json::to_value(&expected).unwrap()
        );
    }
}

#[test]
fn an_accessor_blind_during_a_cycle_leaves_mmio_after_unmap_not_checked() {
    let j = story()
        .clean_remove_rescan(10)
        .accessor(70, KWORKER, NEW_VIRT)
        .blind_between("kprobe:snd_hdac_bus_send_cmd", 12, 40)
        .judge();
    let rule = j.rule("mmio-after-unmap");
    assert_eq!(rule.verdict, Verdict::NotChecked);
    let reason = rule.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("kprobe:snd_hdac_bus_send_cmd was blind for 28.0 ms"),
        "{reason}"
    );
}

#[test]
fn an_accessor_blind_before_any_cycle_hides_nothing() {
    let j = story()
        .blind_between("kprobe:snd_hdac_bus_send_cmd", 0, 5)
        .clean_remove_rescan(10)
        .accessor(70, KWORKER, NEW_VIRT)
        .judge();
    assert_eq!(j.verdict("mmio-after-unmap"), Verdict::Pass);
    assert_eq!(j.outcome(), Outcome::Pass);
}

#[test]
fn the_default_retention_keeps_a_few_cycles_not_a_whole_soak() {
    // 250 remove/rescan cycles of about 50 events each, 100 ms apart: a soak's
    // worth of events, far more than the live check should hold at once.
    let mut s = story();
    for cycle in 0..250 {
        let at = cycle * 100;
        let base = if cycle == 0 { OLD_VIRT } else { NEW_VIRT };
        for i in 0..40 {
            s = s.accessor(at + i, KWORKER, base);
        }
        s = s
            .interrupt(at + 41)
            .ioctl(at + 42, Some(at + 43), true)
            .remove_starts(at + 50)
            .card_disconnects(at + 51)
            .call(at + 52, SH, "azx_stop_chip", Some(base), true)
            .call_with(at + 53, SH, "iounmap", [base, 0, 0, 0], None, true)
            .bar_mapped(at + 60, NEW_PHYS, NEW_PHYS)
            .chip_inits(at + 61);
    }
    let mut in_order = s.events.clone();
    in_order.sort_by_key(|e| (e.ts_ns, e.cpu));
    let retention = Retention::default();
    let mut bounded = Analysis::bounded(&s.header(), retention);
    let mut most_kept = 0;
    for event in &in_order {
        bounded.push(event.clone());
        most_kept = most_kept.max(bounded.events().len());
    }
    bounded.finish(&s.trailer(&in_order));
    assert!(in_order.len() > 10_000, "{} events", in_order.len());
    // A few bench cycles' worth (about 1 500 events each), however long the run.
    assert!(
        most_kept <= 6_144,
        "kept up to {most_kept} of {} events (retention {})",
        in_order.len(),
        retention.max_events
    );
    assert_eq!(
        serde_json::to_value(bounded.judge(&s.config)).unwrap(),
        serde_json::to_value(s.judge()).unwrap()
    );
}

#[test]
fn a_stop_marker_at_the_end_of_the_clock_is_judged_without_overflowing_it() {
    // Found by fuzzing the record decoder: a corrupt record can carry any time,
    // and the look-back from a stop marker that named no device added to it.
    let mut s = story().remove_starts(0).card_disconnects(1).chip_stops(2);
    for event in &mut s.events {
        event.ts_ns = u64::MAX - 10 + (event.ts_ns - 1_000_000_000) / 1_000_000;
    }
    let j = s.judge();
    assert_eq!(j.devices[0].state, State::Quiescing);
    assert_eq!(j.outcome(), Outcome::Incomplete);
}

#[test]
fn a_whole_cycle_at_the_end_of_the_clock_is_judged_without_overflowing_it() {
    // The same overflow in a closed cycle's end, at the clock's last value; the
    // search for a fault's stack after an accessor had the sum too and was
    // fixed alongside.
    let mut s = story()
        .clean_remove_rescan(10)
        .accessor(60, KWORKER, OLD_VIRT);
    for event in &mut s.events {
        event.ts_ns = u64::MAX - 61 + (event.ts_ns - 1_000_000_000) / 1_000_000;
    }
    let j = s.judge();
    assert_eq!(j.devices[0].cycles[0].end, CycleEnd::Closed);
    assert_eq!(j.failed(), vec!["mmio-after-unmap"]);
}

/// `s` with an interrupt on the controller's vector at `ms` that ran `handler`.
fn interrupt_running(s: Scenario, ms: u64, handler: u64) -> Scenario {
    let entry = EventData::IrqHandlerEntry {
        irq: 27,
        handler: Hex(handler),
        handler_name: None,
        thread: None,
    };
    let exit = EventData::IrqHandlerExit {
        irq: 27,
        handler: Hex(handler),
        handler_name: None,
        handled: true,
    };
    s.push(ms, 0, "irq:irq_handler_entry", true, entry).push(
        ms,
        0,
        "irq:irq_handler_exit",
        true,
        exit,
    )
}

/// `s` with `n` ioctls that never reach the driver, from `from` ms on, two ms
/// apart: time passes and the bounded analysis settles.
fn time_passes(mut s: Scenario, from: u64, n: u64) -> Scenario {
    for i in 0..n {
        s = s.ioctl_by(600, from + i * 2, Some(from + i * 2 + 1), false);
    }
    s
}

#[test]
fn an_ioctl_in_flight_while_its_past_settles_is_still_in_flight_at_the_unmap() {
    let s = story().ioctl(1, Some(2), true).ioctl(5, None, true);
    let s = time_passes(s, 10, 15).clean_remove_rescan(50);
    let (bounded, judged, whole) = bounded_and_whole(&time_passes(s, 110, 20));
    assert!(bounded.forgotten() > 20, "forgot {}", bounded.forgotten());
    assert_eq!(judged, whole);
    let j = bounded.judge(&RuleConfig::default());
    assert_eq!(j.failed(), ["ioctl-in-window"]);
}

#[test]
fn an_interrupt_in_the_window_is_judged_by_the_handlers_its_device_runs_later() {
    const OTHER: u64 = 0xffff_ffff_c0c0_0000;
    let s = story().interrupt(5).clean_remove_rescan(10);
    let s = time_passes(interrupt_running(s, 20, OTHER), 70, 20);
    // Another device's handler on the vector: not this device's interrupt.
    let (bounded, judged, whole) = bounded_and_whole(&s);
    assert!(bounded.forgotten() > 20, "forgot {}", bounded.forgotten());
    assert_eq!(judged, whole);
    assert_eq!(s.judge().verdict("irq-in-window"), Verdict::Pass);
    // Later the device runs that handler itself: the interrupt was its own.
    let s = time_passes(interrupt_running(s, 120, OTHER), 130, 20);
    let (_, judged, whole) = bounded_and_whole(&s);
    assert_eq!(judged, whole);
    assert_eq!(s.judge().failed(), ["irq-in-window"]);
}

#[test]
fn a_handler_call_skipped_while_its_past_settles_leaves_mmio_after_unmap_incomplete() {
    let probed = EventData::IrqHandlerEntry {
        irq: 27,
        handler: Hex(HANDLER),
        handler_name: Some("azx_interrupt".into()),
        thread: None,
    };
    let exit = EventData::IrqHandlerExit {
        irq: 27,
        handler: Hex(HANDLER),
        handler_name: Some("azx_interrupt".into()),
        handled: true,
    };
    // The handler's probe fired once, so it is attached.
    let s = story()
        .call(3, KWORKER, "azx_interrupt", None, true)
        .clean_remove_rescan(10)
        // In the unmap window, the handler's probe does not fire.
        .push(20, 0, "irq:irq_handler_entry", true, probed);
    let s = time_passes(s, 21, 10).push(41, 0, "irq:irq_handler_exit", true, exit);
    let s = time_passes(s, 70, 20);
    let (bounded, judged, whole) = bounded_and_whole(&s);
    assert!(bounded.forgotten() > 20, "forgot {}", bounded.forgotten());
    assert_eq!(judged, whole);
    let mmio = s.judge().rule("mmio-after-unmap").clone();
    assert_eq!(mmio.verdict, Verdict::Incomplete);
    assert!(
        mmio.reason
            .as_deref()
            .is_some_and(|r| r.contains("ran unseen")),
        "{:?}",
        mmio.reason
    );
}
