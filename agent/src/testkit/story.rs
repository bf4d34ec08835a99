//! Event sequences, so model tests read like the story they check:
//! `Story::default().irq_enters(10, 0).handler_probe_fires(11, 0).irq_exits(12, 0)`.
//! Times are microseconds; the builder fills in the rest as the bench's kernel would.

use crate::event::{DevNum, Event, EventData, Hex};

/// `azx_interrupt`'s address in the stories.
pub const AZX_INTERRUPT: u64 = 0xffff_ffff_c0a0_1230;

/// Events in the order the story tells them (not necessarily time order).
#[derive(Default)]
pub struct Story(pub Vec<Event>);

impl Story {
    /// Adds `data` from `probe` at `us` microseconds on `cpu`.
    pub fn at(mut self, us: u64, cpu: u32, data: EventData, probe: &str) -> Self {
        self.0.push(Event {
            ts_ns: us * 1_000,
            cpu,
            pid: 0,
            tid: 0,
            comm: "swapper".into(),
            probe: probe.into(),
            device: None,
            data,
        });
        self
    }

    /// IRQ 27 enters `azx_interrupt` on `cpu`.
    pub fn irq_enters(self, us: u64, cpu: u32) -> Self {
        let data = EventData::IrqHandlerEntry {
            irq: 27,
            handler: Hex(AZX_INTERRUPT),
            handler_name: Some("azx_interrupt".into()),
            thread: None,
        };
        self.at(us, cpu, data, "irq:irq_handler_entry")
    }

    /// IRQ 27 leaves `azx_interrupt` on `cpu`.
    pub fn irq_exits(self, us: u64, cpu: u32) -> Self {
        let data = EventData::IrqHandlerExit {
            irq: 27,
            handler: Hex(AZX_INTERRUPT),
            handler_name: Some("azx_interrupt".into()),
            handled: true,
        };
        self.at(us, cpu, data, "irq:irq_handler_exit")
    }

    /// `kprobe:azx_interrupt` fires on `cpu`.
    pub fn handler_probe_fires(self, us: u64, cpu: u32) -> Self {
        let data = EventData::FuncEntry {
            function: "azx_interrupt".into(),
            module: Some("snd_hda_codec".into()),
            ip: Hex(AZX_INTERRUPT),
            args: [Hex(27), Hex(0), Hex(0), Hex(0)],
            base: None,
            stack: Vec::new(),
        };
        self.at(us, cpu, data, "kprobe:azx_interrupt")
    }

    /// Adds `data` from `probe` at `us` on CPU 0 in thread `tid`.
    pub fn on_thread(mut self, us: u64, tid: u32, data: EventData, probe: &str) -> Self {
        self.0.push(Event {
            ts_ns: us * 1_000,
            cpu: 0,
            pid: tid,
            tid,
            comm: "sh".into(),
            probe: probe.into(),
            device: None,
            data,
        });
        self
    }

    /// Thread `tid` enters `function` with `args`, touching MMIO `base` if given.
    pub fn enters(
        self,
        us: u64,
        tid: u32,
        function: &str,
        args: [u64; 4],
        base: Option<u64>,
    ) -> Self {
        let data = EventData::FuncEntry {
            function: function.into(),
            module: None,
            ip: Hex(0xffff_ffff_8100_0000),
            args: args.map(Hex),
            base: base.map(Hex),
            stack: Vec::new(),
        };
        self.on_thread(us, tid, data, &format!("kprobe:{function}"))
    }

    /// Thread `tid` returns `ret` from `function`.
    pub fn returns(self, us: u64, tid: u32, function: &str, ret: u64) -> Self {
        let data = EventData::FuncExit {
            function: function.into(),
            module: None,
            ip: Hex(0xffff_ffff_8100_0000),
            ret: Hex(ret),
            stack: Vec::new(),
        };
        self.on_thread(us, tid, data, &format!("kretprobe:{function}"))
    }

    /// Thread `tid` issues an ALSA ioctl on device file `dev`.
    pub fn ioctl_enters(self, us: u64, tid: u32, dev: DevNum) -> Self {
        let data = EventData::IoctlEnter {
            fd: 3,
            cmd: Hex(0x4142),
            cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
            arg: Hex(0),
            dev: Some(dev),
        };
        self.on_thread(us, tid, data, "syscalls:sys_enter_ioctl")
    }

    /// Thread `tid`'s ioctl on `dev` returns.
    pub fn ioctl_exits(self, us: u64, tid: u32, dev: DevNum) -> Self {
        let data = EventData::IoctlExit {
            fd: 3,
            cmd: Hex(0x4142),
            cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
            ret: 0,
            dev: Some(dev),
        };
        self.on_thread(us, tid, data, "syscalls:sys_exit_ioctl")
    }

    /// IRQ `irq` enters a handler barwatch cannot name, on `cpu`.
    pub fn vector_enters(self, us: u64, cpu: u32, irq: u32) -> Self {
        let data = EventData::IrqHandlerEntry {
            irq,
            handler: Hex(0),
            handler_name: None,
            thread: None,
        };
        self.at(us, cpu, data, "irq:irq_handler_entry")
    }
}
