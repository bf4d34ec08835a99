//! Loading the embedded BPF object, configuring it for this kernel and attaching
//! the catalogue: the edge where the model meets aya and root.

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{
        Array as BpfArray, HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf,
    },
};
use barwatch_abi::{
    FD_RDEV_PATH, GLOBAL_BASE_FILTER_ON, GLOBAL_FD_RDEV_OFFSETS, GLOBAL_IRQ_FILTER_ON,
    GLOBAL_IRQ_HANDLER_OFFSET, GLOBAL_IRQ_LEARN_HANDLERS, GLOBAL_IRQ_THREAD_FN_OFFSET,
    GLOBAL_MODULE_NAME_OFFSET, GLOBAL_PID_FILTER_ON, GLOBAL_PT_REGS_IP_OFFSET,
    GLOBAL_SYSCALL_ARG_OFFSETS, GLOBAL_TASK_OFFSETS, GLOBAL_WAKEUP_BYTES, GLOBAL_WORK_FUNC_OFFSET,
    IOCTL_TRACEPOINT_OFFSETS, MAP_EVENTS, MAP_FUNC_LOST, MAP_IGNORED_BASES, MAP_IOCTL_CARRIED,
    MAP_IOCTL_CMDS, MAP_IRQ_FILTER, MAP_IRQ_HANDLERS, MAP_LOST, MAP_PID_FILTER, MAP_STACKS,
    MAP_STACKS_LOST, MAP_TP_BASE_OFFSET, OFFSET_UNKNOWN, TASK_PATH, probe_id,
};
use thiserror::Error;

use super::{
    armed::ArmedEvents,
    attach::{AttachState, Attacher, KernelFacts, MechanismOrder},
    btf::BtfCache,
    carriers,
    catalogue::ProbePoint,
    cost::{self, ProgramCost, ProgramRuns},
    kallsyms::Kallsyms,
    privileges,
    record::monotonic_now_ns,
    syscall, tracefs,
};
use crate::{
    capture::format::BlindSpan,
    decode::{Symbols, function_probe_name, tracepoint_probe_name},
    ioctl,
    probe_table::{Attempt, Mechanism, ProbeStatus},
};

/// The BPF object built by agent/build.rs, embedded so the binary is self-contained.
static BPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/barwatch"));

/// The part of the ring buffer the CPUs together fill before one of them wakes
/// the reader: fewer records wait for the poll ([`super::record::POLL_BUSY`]),
/// and at high rates a quarter of the buffer is still free when it is woken.
const WAKEUP_FRACTION: u32 = 4;

/// The CPUs the kernel keeps per-CPU map slots for, each of which counts the
/// bytes it leaves unannounced on its own; [`MAX_UNKNOWN_CPUS`] on a kernel
/// that does not say, so the reader is woken more often rather than later.
fn possible_cpus() -> u32 {
    aya::util::nr_cpus().map_or_else(
        |(path, e)| {
            log::warn!("{path}: {e}: the reader will be woken more often than needed");
            MAX_UNKNOWN_CPUS
        },
        |n| n.max(1) as u32,
    )
}

/// The CPUs assumed when the kernel does not say how many there can be.
const MAX_UNKNOWN_CPUS: u32 = 256;

/// Why the live probes could not be started.
#[derive(Debug, Error)]
pub enum LiveError {
    /// The process lacks the capabilities to load BPF.
    #[error(transparent)]
    Privileges(#[from] privileges::PrivilegeError),
    /// `/proc/kallsyms` could not be read.
    #[error("cannot read /proc/kallsyms to resolve kernel functions; is /proc mounted?")]
    Kallsyms(#[source] std::io::Error),
    /// The kernel refused the BPF object.
    #[error(
        "the kernel refused barwatch's BPF object; check `dmesg`, that the kernel has \
         CONFIG_BPF_SYSCALL and BPF ring buffers (5.8+), and that no LSM blocks bpf()"
    )]
    Load(#[source] aya::EbpfError),
    /// The kernel would not count what the programs cost.
    #[error(
        "the kernel refused to turn BPF statistics on (BPF_ENABLE_STATS needs Linux 5.8 \
         and CAP_SYS_ADMIN); `sysctl kernel.bpf_stats_enabled=1` does the same by hand"
    )]
    Stats(#[source] aya::sys::SyscallError),
    /// The kernel's count of the calls the armed kprobe events missed could not
    /// be read, so whether records are missing is not known.
    #[error(
        "{0}: the kprobes armed through tracefs may have missed calls that nobody counted; \
         check that tracefs is still mounted and readable"
    )]
    KprobeMisses(String),
    /// A map the programs need is missing or of the wrong type.
    #[error("BPF map {name} is missing or malformed; the agent and its BPF object do not match")]
    Map {
        /// The map's name.
        name: &'static str,
        /// The underlying error.
        #[source]
        source: aya::maps::MapError,
    },
}

/// Which processes and IRQs the kernel side records; empty means all.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Process ids (tgid) to record; empty records every process.
    pub pids: Vec<u32>,
    /// Which IRQs to record; `None` records every IRQ.
    pub irqs: Option<IrqFilter>,
    /// Whether the kernel drops accessor calls on the bases
    /// [`LiveProbes::ignore_bases`] names (those of devices not watched).
    pub ignore_unwatched_bases: bool,
}

/// The IRQs to record: by number, or by the handler function they run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IrqFilter {
    /// IRQ numbers.
    pub numbers: Vec<u32>,
    /// Handler functions by name (those not in kallsyms are left out).
    pub handlers: Vec<String>,
    /// Whether the kernel adds the handler of every IRQ that passes by number, so
    /// the filter follows a device whose vector changes (suspend, rescan).
    pub learn_handlers: bool,
}

/// How to start the probes.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Which catalogue entries to attach.
    pub points: Vec<ProbePoint>,
    /// Kernel-side filters.
    pub filters: Filters,
    /// Which mechanism vmlinux functions try first.
    pub order: MechanismOrder,
    /// Ring buffer size in bytes (a power of two, multiple of the page size).
    pub ring_bytes: u32,
}

/// The loaded, attached probes: keep it alive for as long as recording goes on.
pub struct LiveProbes {
    ebpf: Ebpf,
    /// How every requested probe point attached, or why not.
    pub table: Vec<ProbeStatus>,
    /// The kernel's symbols, for naming functions in events.
    pub kallsyms: Kallsyms,
    /// Forwards aya-log messages from the programs to the `log` crate.
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
    /// The attach engine's state, kept for points attached after module loads.
    state: AttachState,
    /// Function points whose symbol did not exist yet: their module may load later.
    pending: Vec<ProbePoint>,
    /// When a pending point started waiting, by name, for those that lost their
    /// attach on the way (it went with its module, or failed as the module
    /// went); the others have waited since the start.
    pending_since: BTreeMap<String, u64>,
    /// Every module load the recording has read, in order: a point attached
    /// late was blind from the first load of its module while it waited, which
    /// is earlier than the load that got it attached when barwatch read a load
    /// only after the module had gone again.
    module_loads: Vec<(String, u64)>,
    /// Points armed through tracefs kprobe events, kept for as long as the
    /// probes: dropping it detaches them and removes their events.
    armed: Option<ArmedEvents>,
    /// The module each armed point was armed in, by name.
    armed_in: BTreeMap<String, String>,
    /// Points attached directly to a function of a loaded module, with that
    /// module: their kprobes go when it is unloaded, and the kernel does not
    /// register them again when it loads again, so barwatch attaches them anew.
    attached_in: Vec<(ProbePoint, String)>,
    /// Why points that wait for their module could not be armed, by name.
    not_armed: BTreeMap<String, String>,
    /// Whether the kernel filters IRQs (else [`LiveProbes::watch_irqs`] has nothing to do).
    irq_filter_on: bool,
}

impl LiveProbes {
    /// Checks privileges, loads the object configured for this kernel, fills the
    /// filter maps and attaches every requested probe point.
    pub fn start(options: &LiveOptions) -> Result<Self, LiveError> {
        privileges::check()?;
        let kallsyms = Kallsyms::load().map_err(LiveError::Kallsyms)?;
        let tracefs = tracefs::ensure_mounted().map_err(|e| e.to_string());
        // One cache for every offset: parsing vmlinux BTF takes ~0.7 s under TCG.
        let mut types = BtfCache::default();
        let mut offset = |strukt: &str, member: &str, loss: &str| {
            types
                .member_offset(None, strukt, member)
                .unwrap_or_else(|e| {
                    log::warn!("{loss}: {e}");
                    OFFSET_UNKNOWN
                })
        };
        let work_func_offset = offset("work_struct", "func", "work functions will not be named");
        let module_name_offset = offset("module", "name", "module loads will not be named");
        let irq_handler_offset = offset(
            "irqaction",
            "handler",
            "IRQ handlers will not be named and skipped handler probes not detected",
        );

        let irq_thread_fn_offset = offset(
            "irqaction",
            "thread_fn",
            "threaded IRQ handlers will not be named",
        );
        let pt_regs_ip_offset = offset(
            "pt_regs",
            "ip",
            "page faults will not name the faulting instruction",
        );
        let fd_rdev_offsets = FD_RDEV_PATH.map(|(strukt, member)| {
            offset(
                strukt,
                member,
                "ALSA ioctls will not carry their device number",
            )
        });
        let task_offsets = TASK_PATH.map(|(strukt, member)| {
            offset(
                strukt,
                member,
                "every record's process and name will cost helper calls",
            )
        });
        let syscall_path = syscall_arguments(&mut types);
        let syscall_arg_offsets = syscall_path
            .as_ref()
            .map_or([OFFSET_UNKNOWN; 3], |&(_, offsets)| offsets);

        let irq_on = u32::from(options.filters.irqs.is_some());
        let irq_filter = options.filters.irqs.clone().unwrap_or_default();
        let learn = u32::from(irq_filter.learn_handlers);
        let base_on = u32::from(options.filters.ignore_unwatched_bases);
        let pid_on = u32::from(!options.filters.pids.is_empty());
        let wakeup_bytes = (options.ring_bytes / WAKEUP_FRACTION / possible_cpus()).max(1);
        // The loader parses vmlinux BTF for itself: it goes once the object is
        // loaded.
        let mut loader = EbpfLoader::new();
        loader
            .override_global(GLOBAL_IRQ_FILTER_ON, &irq_on, true)
            .override_global(GLOBAL_PID_FILTER_ON, &pid_on, true)
            .override_global(GLOBAL_WAKEUP_BYTES, &wakeup_bytes, true)
            .override_global(GLOBAL_IRQ_LEARN_HANDLERS, &learn, true)
            .override_global(GLOBAL_BASE_FILTER_ON, &base_on, true)
            .override_global(GLOBAL_WORK_FUNC_OFFSET, &work_func_offset, true)
            .override_global(GLOBAL_MODULE_NAME_OFFSET, &module_name_offset, true)
            .override_global(GLOBAL_IRQ_HANDLER_OFFSET, &irq_handler_offset, true)
            .override_global(GLOBAL_IRQ_THREAD_FN_OFFSET, &irq_thread_fn_offset, true)
            .override_global(GLOBAL_FD_RDEV_OFFSETS, &fd_rdev_offsets, true)
            .override_global(GLOBAL_PT_REGS_IP_OFFSET, &pt_regs_ip_offset, true)
            .override_global(GLOBAL_SYSCALL_ARG_OFFSETS, &syscall_arg_offsets, true)
            .override_global(GLOBAL_TASK_OFFSETS, &task_offsets, true)
            .map_max_entries(MAP_EVENTS, options.ring_bytes);
        let loaded = loader.load(BPF_OBJECT);
        drop(loader);
        let mut ebpf = loaded.map_err(LiveError::Load)?;
        let logger = aya_log::EbpfLogger::init(&mut ebpf)
            .inspect_err(|e| log::debug!("BPF logging unavailable: {e}"))
            .ok();

        fill_filter(&mut ebpf, MAP_PID_FILTER, &options.filters.pids)?;
        fill_filter(&mut ebpf, MAP_IRQ_FILTER, &irq_filter.numbers)?;
        let handlers: Vec<u64> = irq_filter
            .handlers
            .iter()
            .filter_map(|name| kallsyms.address(name))
            .collect();
        fill_filter(&mut ebpf, MAP_IRQ_HANDLERS, &handlers)?;
        fill_ioctl_commands(&mut ebpf)?;

        let mut armed = tracefs.as_deref().ok().map(ArmedEvents::new);
        let mut state = AttachState::new(
            KernelFacts::probe(),
            options.order,
            tracefs,
            types,
            syscall_path.map(|(function, _)| function),
        );
        let mut not_armed = BTreeMap::new();
        let mut armed_in = BTreeMap::new();
        let mut attached_in = Vec::new();
        // The syscall hooks wait: they attach only when the ALSA file
        // operations' probes cannot carry the ioctls.
        let mut table: Vec<Option<ProbeStatus>> = {
            let mut attacher = Attacher::new(&mut ebpf, &kallsyms, &mut state);
            let mut cookie = 0;
            options
                .points
                .iter()
                .map(|point| {
                    if point.takes_ioctls_at_the_syscall() {
                        return None;
                    }
                    let Some(module) = arm_in(point, &kallsyms) else {
                        if let ProbePoint::Function(f) = point
                            && f.module.is_none()
                            && kallsyms.find(&f.name).is_none()
                        {
                            not_armed.insert(
                                point.name(),
                                "its profile names no module to arm it in".to_owned(),
                            );
                        }
                        return Some(attacher.attach(point));
                    };
                    cookie += 1;
                    let loaded = module_loaded(module);
                    let result = match armed.as_mut() {
                        Some(armed) => attacher.arm(point, module, loaded, armed, cookie),
                        None => Err("tracefs is not available".to_owned()),
                    };
                    match result {
                        Ok(status) => {
                            armed_in.insert(point.name(), module.to_owned());
                            Some(status)
                        }
                        Err(reason) if loaded => {
                            log::info!(
                                "{} is not armed in {module} ({reason}); it is attached directly, and again should {module} load again",
                                point.name()
                            );
                            let status = attacher.attach(point);
                            if status.is_attached() {
                                attached_in.push((point.clone(), module.to_owned()));
                            }
                            Some(status)
                        }
                        Err(reason) => {
                            log::info!(
                                "{} is not armed before {module} loads ({reason}); it is attached when the module loads",
                                point.name()
                            );
                            not_armed.insert(point.name(), reason);
                            Some(attacher.attach(point))
                        }
                    }
                })
                .collect()
        };
        let carried = carriers::file_operations_carry(&options.points, &table, |name| {
            armed_in.contains_key(name)
        });
        if carried {
            carry_ioctls(&mut ebpf)?;
            state.carry_ioctls();
        }
        let functions = carriers::carrier_functions(&options.points);
        let table: Vec<ProbeStatus> = {
            let mut attacher = Attacher::new(&mut ebpf, &kallsyms, &mut state);
            options
                .points
                .iter()
                .zip(&mut table)
                .map(|(point, status)| match status.take() {
                    Some(mut status) => {
                        if carried && point.carries_ioctls() {
                            carriers::mark(&mut status);
                        }
                        status
                    }
                    None if carried => carriers::carried_status(point, &functions),
                    None => attacher.attach(point),
                })
                .collect()
        };
        // Armed points wait too: should the function turn up in another module
        // than the profile says, it is attached there when that one loads.
        let pending = options
            .points
            .iter()
            .zip(&table)
            .filter(|(point, status)| {
                (!status.is_attached() || armed_in.contains_key(&point.name()))
                    && match point {
                        ProbePoint::Function(f) => kallsyms.find(&f.name).is_none(),
                        ProbePoint::Tracepoint(t) => t.module.is_some_and(|m| !module_loaded(m)),
                    }
            })
            .map(|(point, _)| point.clone())
            .collect();
        let mut probes = Self {
            ebpf,
            table,
            kallsyms,
            logger,
            state,
            pending,
            pending_since: BTreeMap::new(),
            module_loads: Vec::new(),
            armed,
            armed_in,
            attached_in,
            not_armed,
            irq_filter_on: irq_on != 0,
        };
        probes.set_tracepoint_base_offset()?;
        probes.state.release_btf();
        Ok(probes)
    }

    /// Hands the HD-audio tracepoints `hdac_bus.remap_addr`'s offset once
    /// snd_hda_core's BTF is readable; until then they record no base.
    fn set_tracepoint_base_offset(&mut self) -> Result<(), LiveError> {
        let Ok(offset) = self
            .state
            .member_offset(Some("snd_hda_core"), "hdac_bus", "remap_addr")
        else {
            return Ok(());
        };
        let name = MAP_TP_BASE_OFFSET;
        let map_error = |source| LiveError::Map { name, source };
        let map = self.ebpf.map_mut(name).ok_or_else(|| missing_map(name))?;
        let mut slot: aya::maps::Array<_, u32> =
            aya::maps::Array::try_from(map).map_err(map_error)?;
        slot.set(0, offset + 1, 0).map_err(map_error)
    }

    /// After `module` loaded (at `loaded_ns`, CLOCK_MONOTONIC): re-reads the
    /// kernel's symbols and attaches the function points and tracepoints that were
    /// waiting for it, marking them late, and attaches anew the points attached
    /// directly to an earlier load of it (unloaded since: their kprobes went with
    /// it). Returns `None` when the probe table did not change, else the spans in
    /// which the points attached now were blind (from the load to their attach).
    pub fn attach_after_module_load(
        &mut self,
        module: &str,
        loaded_ns: u64,
    ) -> Result<Option<Vec<BlindSpan>>, LiveError> {
        self.module_loads.push((module.to_owned(), loaded_ns));
        let (reloaded, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.attached_in)
            .into_iter()
            .partition(|(_, m)| m == module);
        self.attached_in = kept;
        let reloaded: Vec<ProbePoint> = reloaded.into_iter().map(|(point, _)| point).collect();
        if self.pending.is_empty() && reloaded.is_empty() {
            return Ok(None);
        }
        self.kallsyms = Kallsyms::load().map_err(LiveError::Kallsyms)?;
        let disarmed = self.disarm_missing(module);
        let ready: Vec<ProbePoint> = self
            .pending
            .iter()
            .filter(|p| match p {
                ProbePoint::Function(f) => self.kallsyms.find(&f.name).is_some(),
                ProbePoint::Tracepoint(t) => t.module == Some(module),
            })
            .cloned()
            .collect();
        self.pending.retain(|p| !ready.contains(p));
        // An armed point whose function is in the module it was armed in sees it
        // already, from the module's first call.
        let ready: Vec<ProbePoint> = ready
            .into_iter()
            .filter(|point| {
                let ProbePoint::Function(f) = point else {
                    return true;
                };
                self.armed_in
                    .get(&point.name())
                    .is_none_or(|armed| self.kallsyms.find(&f.name) != Some(Some(armed.as_str())))
            })
            .chain(reloaded.iter().cloned())
            .collect();
        if ready.is_empty() {
            return Ok(disarmed.then(Vec::new));
        }
        self.set_tracepoint_base_offset()?;
        let mut attacher = Attacher::new(&mut self.ebpf, &self.kallsyms, &mut self.state);
        let mut blind = Vec::new();
        for point in &ready {
            let mut status = attacher.attach(point);
            let waited_since = self.pending_since.remove(&point.name());
            if !status.is_attached() {
                // The module may be going already (it was unloaded before its
                // load was read): the point waits for the next load, blind
                // from this one.
                self.pending.push(point.clone());
                self.pending_since
                    .insert(point.name(), waited_since.unwrap_or(loaded_ns));
            }
            if status.is_attached() && reloaded.contains(point) {
                status.note = Some(format!(
                    "attached again after {module} loaded again (a kprobe attached directly goes with \
                     the unloaded module): calls between the load and the attach were missed"
                ));
                blind.push(BlindSpan {
                    probe: status.name.clone(),
                    from_ns: loaded_ns,
                    to_ns: monotonic_now_ns(),
                    reason: format!(
                        "attached again only after {module} loaded again; its kprobe had gone with the unloaded module"
                    ),
                });
            } else if status.is_attached() {
                let within = match point {
                    ProbePoint::Function(f) => self.kallsyms.find(&f.name).flatten(),
                    ProbePoint::Tracepoint(_) => Some(module),
                };
                let from_ns = first_load_since(
                    &self.module_loads,
                    within.unwrap_or(module),
                    waited_since.unwrap_or(0),
                )
                .unwrap_or(loaded_ns);
                let why = match (
                    self.not_armed.get(&status.name),
                    self.armed_in.get(&status.name),
                ) {
                    (Some(reason), _) => format!(" (it could not be armed before: {reason})"),
                    (None, Some(armed)) => {
                        format!(" (it was armed in {armed}, but the function is in {module})")
                    }
                    (None, None) => String::new(),
                };
                status.note = Some(format!(
                    "attached late, after {module} loaded{why}: calls before that were missed"
                ));
                blind.push(BlindSpan {
                    probe: status.name.clone(),
                    from_ns,
                    to_ns: monotonic_now_ns(),
                    reason: format!("attached only after {module} loaded{why}"),
                });
            }
            if status.is_attached()
                && let ProbePoint::Function(f) = point
                && let Some(Some(within)) = self.kallsyms.find(&f.name)
            {
                self.attached_in.push((point.clone(), within.to_owned()));
            }
            match self.table.iter_mut().find(|s| s.name == status.name) {
                Some(slot) => *slot = status,
                None => self.table.push(status),
            }
        }
        self.state.release_btf();
        Ok(Some(blind))
    }

    /// Marks blind the points armed in `module`, which has just loaded, whose
    /// function it does not have (the kernel could not register their events).
    /// Returns whether the probe table changed.
    fn disarm_missing(&mut self, module: &str) -> bool {
        let mut changed = false;
        for point in &self.pending {
            let ProbePoint::Function(f) = point else {
                continue;
            };
            let name = point.name();
            if self.armed_in.get(&name).map(String::as_str) != Some(module)
                || self.kallsyms.find(&f.name).is_some()
            {
                continue;
            }
            if let Some(status) = self.table.iter_mut().find(|s| s.name == name) {
                let mechanism = status.attached.unwrap_or(Mechanism::Kprobe);
                status.attached = None;
                status.attempts = vec![Attempt {
                    mechanism,
                    failure: Some(format!(
                        "armed before {module} loaded, but {module} has no {}: symbol not present in this kernel",
                        f.name
                    )),
                }];
                status.note = None;
                changed = true;
            }
        }
        changed
    }

    /// What each loaded program costs over `window`, as the kernel counts it
    /// with BPF statistics on (for the window only: they go off again when the
    /// descriptor that turned them on is closed). The ring buffer is drained
    /// meanwhile, so the programs write their records as when recording.
    /// `opened` is called once the window is open: what runs from then on is
    /// counted. Returns the costs and the time they were measured over.
    pub fn measure_cost(
        &mut self,
        window: Duration,
        opened: impl FnOnce(),
    ) -> Result<(Vec<ProgramCost>, Duration), LiveError> {
        let _stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).map_err(LiveError::Stats)?;
        let mut ring = self.take_ring()?;
        let before = self.program_runs();
        let start = Instant::now();
        opened();
        while start.elapsed() < window {
            while ring.next().is_some() {}
            std::thread::sleep(Duration::from_millis(1));
        }
        let elapsed = start.elapsed();
        Ok((cost::costs(&before, &self.program_runs(), elapsed), elapsed))
    }

    /// Each loaded program's counters now.
    fn program_runs(&self) -> Vec<ProgramRuns> {
        self.ebpf
            .programs()
            .filter_map(|(name, program)| {
                let info = program.info().ok()?;
                Some(ProgramRuns {
                    program: name.to_owned(),
                    run_ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
                    runs: info.run_count(),
                })
            })
            .collect()
    }

    /// Takes the ring buffer out of the object, for the reader.
    pub fn take_ring(&mut self) -> Result<RingBuf<MapData>, LiveError> {
        let map = self
            .ebpf
            .take_map(MAP_EVENTS)
            .ok_or_else(|| missing_map(MAP_EVENTS))?;
        RingBuf::try_from(map).map_err(|source| LiveError::Map {
            name: MAP_EVENTS,
            source,
        })
    }

    /// Takes the stack trace map out, for the reader to resolve stack ids.
    pub fn take_stacks(&mut self) -> Result<aya::maps::StackTraceMap<MapData>, LiveError> {
        let map = self
            .ebpf
            .take_map(MAP_STACKS)
            .ok_or_else(|| missing_map(MAP_STACKS))?;
        aya::maps::StackTraceMap::try_from(map).map_err(|source| LiveError::Map {
            name: MAP_STACKS,
            source,
        })
    }

    /// Takes the logger out, so the caller can poll it.
    pub fn take_logger(&mut self) -> Option<aya_log::EbpfLogger<&'static dyn log::Log>> {
        self.logger.take()
    }

    /// Adds IRQ numbers to the kernel's IRQ filter, for a watched device that was
    /// given new vectors; does nothing when every IRQ is recorded anyway.
    pub fn watch_irqs(&mut self, irqs: &[u32]) -> Result<(), LiveError> {
        if self.irq_filter_on {
            fill_filter(&mut self.ebpf, MAP_IRQ_FILTER, irqs)?;
        }
        Ok(())
    }

    /// Adds MMIO bases of devices that are not watched: the kernel stops recording
    /// accessor calls on them (when base filtering is on).
    pub fn ignore_bases(&mut self, bases: &[u64]) -> Result<(), LiveError> {
        fill_filter(&mut self.ebpf, MAP_IGNORED_BASES, bases)
    }

    /// Kernel stacks the programs could not take so far.
    pub fn stacks_lost(&self) -> Result<u64, LiveError> {
        let map_error = |source| LiveError::Map {
            name: MAP_STACKS_LOST,
            source,
        };
        let map = self
            .ebpf
            .map(MAP_STACKS_LOST)
            .ok_or_else(|| missing_map(MAP_STACKS_LOST))?;
        let counter: PerCpuArray<_, u64> = PerCpuArray::try_from(map).map_err(map_error)?;
        Ok(counter.get(&0, 0).map_err(map_error)?.iter().sum())
    }

    /// Records lost in the kernel so far, per probe point name.
    pub fn lost_by_probe(&self) -> Result<BTreeMap<String, u64>, LiveError> {
        let mut lost = BTreeMap::new();
        let map_error = |name: &'static str| move |source| LiveError::Map { name, source };
        let per_probe: PerCpuArray<_, u64> = PerCpuArray::try_from(
            self.ebpf
                .map(MAP_LOST)
                .ok_or_else(|| missing_map(MAP_LOST))?,
        )
        .map_err(map_error(MAP_LOST))?;
        for probe in 0..probe_id::COUNT {
            let Some(name) = tracepoint_probe_name(probe) else {
                continue;
            };
            let values = per_probe.get(&probe, 0).map_err(map_error(MAP_LOST))?;
            let total: u64 = values.iter().sum();
            if total > 0 {
                *lost.entry(name).or_default() += total;
            }
        }
        let per_function: PerCpuHashMap<_, [u64; 2], u64> = PerCpuHashMap::try_from(
            self.ebpf
                .map(MAP_FUNC_LOST)
                .ok_or_else(|| missing_map(MAP_FUNC_LOST))?,
        )
        .map_err(map_error(MAP_FUNC_LOST))?;
        for entry in per_function.iter() {
            let ([ip, probe], values) = entry.map_err(map_error(MAP_FUNC_LOST))?;
            let function = self
                .kallsyms
                .symbol(ip)
                .map_or_else(|| format!("{ip:#x}"), |s| s.label());
            let name = function_probe_name(probe == u64::from(probe_id::FUNC_EXIT), &function);
            *lost.entry(name).or_default() += values.iter().sum::<u64>();
        }
        // A carried ioctl whose kprobe missed it has no record and nothing else
        // that tells of it (a skipped interrupt handler's probe is told of by
        // the handler's tracepoints, see `crate::skipped`).
        if let Some(armed) = &self.armed
            && self.table.iter().any(|p| p.carries_ioctls)
        {
            let misses = armed.misses().map_err(LiveError::KprobeMisses)?;
            for (function, exit, missed) in misses {
                let name = function_probe_name(exit, &function);
                if self
                    .table
                    .iter()
                    .any(|p| p.carries_ioctls && p.name == name)
                {
                    *lost.entry(name).or_default() += missed;
                }
            }
        }
        Ok(lost)
    }
}

/// The first load of `module` among `loads` at or after `since_ns`.
fn first_load_since(loads: &[(String, u64)], module: &str, since_ns: u64) -> Option<u64> {
    loads
        .iter()
        .filter(|(loaded, ts)| loaded == module && *ts >= since_ns)
        .map(|&(_, ts)| ts)
        .min()
}

/// The error for a map the BPF object does not have (an agent/object mismatch).
fn missing_map(name: &'static str) -> LiveError {
    LiveError::Map {
        name,
        source: aya::maps::MapError::InvalidName { name: name.into() },
    }
}

/// Adds `keys` to the `K -> u8` set map `name`.
fn fill_filter<K: aya::Pod>(
    ebpf: &mut Ebpf,
    name: &'static str,
    keys: &[K],
) -> Result<(), LiveError> {
    if keys.is_empty() {
        return Ok(());
    }
    let map_error = |source| LiveError::Map { name, source };
    let map = ebpf.map_mut(name).ok_or_else(|| missing_map(name))?;
    let mut filter: BpfHashMap<_, K, u8> = BpfHashMap::try_from(map).map_err(map_error)?;
    for key in keys {
        filter.insert(key, 1, 0).map_err(map_error)?;
    }
    Ok(())
}

/// Puts every known ALSA ioctl command into its slot of the command filter.
fn fill_ioctl_commands(ebpf: &mut Ebpf) -> Result<(), LiveError> {
    let name = MAP_IOCTL_CMDS;
    let map_error = |source| LiveError::Map { name, source };
    let map = ebpf.map_mut(name).ok_or_else(|| missing_map(name))?;
    let mut slots: BpfArray<_, u32> = BpfArray::try_from(map).map_err(map_error)?;
    for (slot, cmd) in ioctl::command_slots() {
        slots.set(slot, cmd, 0).map_err(map_error)?;
    }
    Ok(())
}

/// The module to arm a function point in through a tracefs kprobe event
/// (`MODULE:function`): the loaded module kallsyms finds its function in, or the
/// one its profile names when that is not loaded yet. The kernel registers such
/// an event again at every load of the module, so the point sees each load from
/// its first call; `None` for functions of vmlinux, attached directly.
fn arm_in<'p>(point: &'p ProbePoint, kallsyms: &'p Kallsyms) -> Option<&'p str> {
    let ProbePoint::Function(f) = point else {
        return None;
    };
    match kallsyms.find(&f.name) {
        Some(within) => within,
        None => {
            let module = f.module.as_deref()?;
            (!module_loaded(module)).then_some(module)
        }
    }
}

/// Tells the ALSA ioctl file operations' programs to carry the ALSA ioctls.
fn carry_ioctls(ebpf: &mut Ebpf) -> Result<(), LiveError> {
    let name = MAP_IOCTL_CARRIED;
    let map_error = |source| LiveError::Map { name, source };
    let map = ebpf.map_mut(name).ok_or_else(|| missing_map(name))?;
    let mut carried: BpfArray<_, u32> = BpfArray::try_from(map).map_err(map_error)?;
    carried.set(0, 1, 0).map_err(map_error)
}

/// Whether module `name` is loaded (`/sys/module/NAME/initstate`; built-in code has
/// a /sys/module folder too, but no initstate).
pub fn module_loaded(name: &str) -> bool {
    Path::new("/sys/module")
        .join(name)
        .join("initstate")
        .exists()
}

/// The ioctl syscall's function and the offsets in `struct pt_regs` of the
/// registers it finds `fd`, `cmd` and `arg` in, or why the programs on that
/// function cannot be used (the syscall tracepoints carry ALSA ioctls then).
fn syscall_arguments(types: &mut BtfCache) -> Result<(&'static str, [u32; 3]), String> {
    let convention = syscall::native().ok_or_else(|| {
        "the syscall convention of this architecture is not known to barwatch".to_owned()
    })?;
    let mut offsets = [OFFSET_UNKNOWN; 3];
    for (slot, register) in offsets.iter_mut().zip(convention.argument_registers) {
        *slot = types
            .member_offset(None, "pt_regs", register)
            .map_err(|e| {
                format!("the saved syscall arguments cannot be read (pt_regs.{register}): {e}")
            })?;
    }
    Ok((convention.ioctl_function, offsets))
}

/// Whether the ioctl syscall events' records hold `fd`, `cmd`, `arg` and `ret`
/// where the programs read them ([`IOCTL_TRACEPOINT_OFFSETS`]), by the formats
/// in `tracefs`; why not otherwise.
pub fn check_ioctl_record_format(tracefs: &Path) -> Result<(), String> {
    let enter = tracefs::field_offsets(
        tracefs,
        "syscalls",
        "sys_enter_ioctl",
        &["fd", "cmd", "arg"],
    );
    let exit = tracefs::field_offsets(tracefs, "syscalls", "sys_exit_ioctl", &["ret"]);
    let found = match (enter, exit) {
        (Ok(enter), Ok(exit)) => [enter[0], enter[1], enter[2], exit[0]],
        (Err(e), _) | (_, Err(e)) => return Err(e.to_string()),
    };
    if found == IOCTL_TRACEPOINT_OFFSETS {
        Ok(())
    } else {
        Err(format!(
            "this kernel's ioctl syscall events put fd, cmd, arg and ret at offsets {found:?}, \
             not {IOCTL_TRACEPOINT_OFFSETS:?} where barwatch's programs read them"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_attach_is_blind_from_the_first_load_of_its_module_while_it_waited() {
        let loads = [
            ("snd".to_owned(), 10),
            ("barwatch_fixture".to_owned(), 20),
            ("barwatch_fixture".to_owned(), 40),
        ];
        // Read only after the module had gone: attached at the second load,
        // blind since the first.
        assert_eq!(first_load_since(&loads, "barwatch_fixture", 0), Some(20));
        // Its attach failed at the first load: it waited from there.
        assert_eq!(first_load_since(&loads, "barwatch_fixture", 20), Some(20));
        assert_eq!(first_load_since(&loads, "barwatch_fixture", 21), Some(40));
        assert_eq!(first_load_since(&loads, "snd_hda_intel", 0), None);
    }
}
