//! The attach strategy: for each catalogue entry, try the mechanisms in order and
//! record what worked and why the others did not.
//!
//! The decision of what to try is pure ([`function_plan`]) so it can be tested
//! against fake kernels; [`Attacher`] carries it out against the loaded object.

use std::{os::fd::AsFd, path::Path};

use aya::{
    Btf, Ebpf,
    maps::HashMap as BpfHashMap,
    programs::{FEntry, FExit, KProbe, ProgramError, RawTracePoint, TracePoint},
};
use barwatch_abi::{
    FENTRY_PROGRAMS, FEXIT_PROGRAMS, FUNC_BASE, FUNC_BY_COOKIE, FUNC_FILTER_BASE, FUNC_MAPS_RET,
    FUNC_STACK, FUNC_STACK_IF_UNMAPPED, FUNC_UNMAPS_ARG0, FuncConfig, MAP_FUNC_CONFIG,
    TRAMPOLINE_SLOTS,
};

use super::{
    armed::ArmedEvents,
    btf::BtfCache,
    carriers,
    catalogue::{ProbePoint, TracepointProbe},
    loader::{check_ioctl_record_format, module_loaded},
};
use crate::{
    probe_table::{Attempt, Mechanism, ProbeStatus, Role},
    profile::{FunctionProbe, StackPolicy, Tracking},
};

/// Program names in the BPF object, one per mechanism for function probes.
mod program {
    /// Generic kprobe on a function's entry.
    pub const KPROBE: &str = "func_entry";
    /// Generic kretprobe on a function's return.
    pub const KRETPROBE: &str = "func_exit";
    /// Kprobe for functions armed before their module loads (settings by cookie).
    pub const KPROBE_ARMED: &str = "func_entry_armed";
    /// Kretprobe for functions armed before their module loads.
    pub const KRETPROBE_ARMED: &str = "func_exit_armed";
    /// Kprobe for an ALSA ioctl file operation, direct or armed: it needs no
    /// settings, so no cookie.
    pub use barwatch_abi::PROGRAM_ALSA_IOCTL_ENTRY as ALSA_IOCTL_ENTRY;
    /// Its kretprobe twin.
    pub use barwatch_abi::PROGRAM_ALSA_IOCTL_EXIT as ALSA_IOCTL_EXIT;

    /// The kprobe (or, for `exit`, kretprobe) program for a function: its own
    /// for one that `carries` the ALSA ioctls, `armed` for one armed before its
    /// module loads, else the generic one.
    pub fn for_function(exit: bool, carries: bool, armed: bool) -> &'static str {
        match (carries, armed, exit) {
            (true, _, false) => ALSA_IOCTL_ENTRY,
            (true, _, true) => ALSA_IOCTL_EXIT,
            (false, true, false) => KPROBE_ARMED,
            (false, true, true) => KRETPROBE_ARMED,
            (false, false, false) => KPROBE,
            (false, false, true) => KRETPROBE,
        }
    }
}

/// How many calls of an ALSA ioctl file operation its armed kretprobe keeps in
/// flight: an ioctl may sleep there (a PCM drain, a blocking write), and a
/// return missed would leave its call open for ever. The most the kernel takes.
const CARRIED_RETURNS_IN_FLIGHT: u32 = 4096;

/// Where the kernel lists the perf PMUs; `kprobe` is there when kprobes are built in.
const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe";

/// What is known about the running kernel before any attach is tried.
#[derive(Clone, Copy, Debug)]
pub struct KernelFacts {
    /// Whether the kprobe PMU exists (CONFIG_KPROBES and perf kprobe events).
    pub kprobe_pmu: bool,
}

impl KernelFacts {
    /// Reads the facts from the running kernel.
    pub fn probe() -> Self {
        Self {
            kprobe_pmu: Path::new(KPROBE_PMU).exists(),
        }
    }
}

/// One step of a plan: try a mechanism, or record up front why it cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Try this mechanism.
    Try(Mechanism),
    /// Do not try; the attempt already failed for this reason.
    Skip(Attempt),
}

/// Which mechanism a vmlinux function tries first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MechanismOrder {
    /// kprobe/kretprobe, then fentry/fexit: kprobes reach every function.
    #[default]
    KprobeFirst,
    /// fentry/fexit, then kprobe/kretprobe: trampolines cost less per call, but
    /// reach vmlinux functions only, [`TRAMPOLINE_SLOTS`] of each.
    TrampolineFirst,
}

/// The mechanisms to try for a function, in order, given where its symbol lives
/// (`symbol`: `None` absent, `Some(None)` vmlinux, `Some(Some(m))` module `m`).
pub fn function_plan(
    name: &str,
    module_hint: Option<&str>,
    exit: bool,
    optional: bool,
    symbol: Option<Option<&str>>,
    facts: KernelFacts,
    order: MechanismOrder,
) -> Vec<Step> {
    let (probe, trampoline) = if exit {
        (Mechanism::Kretprobe, Mechanism::Fexit)
    } else {
        (Mechanism::Kprobe, Mechanism::Fentry)
    };
    let Some(module) = symbol else {
        // An optional entry is missing because the kernel lacks a patch set, which
        // is the likelier story than an unloaded module: say that, not "load it".
        let failure = match (module_hint, optional) {
            (_, true) => format!(
                "symbol {name} not present in this kernel (optional: only kernels with the patch set that adds it have it)"
            ),
            (Some(m), false) => format!("symbol {name} not present: is {m} loaded?"),
            (None, false) => format!("symbol {name} not present in this kernel (/proc/kallsyms)"),
        };
        return vec![Step::Skip(Attempt {
            mechanism: probe,
            failure: Some(failure),
        })];
    };
    let first = if facts.kprobe_pmu {
        Step::Try(probe)
    } else {
        Step::Skip(Attempt {
            mechanism: probe,
            failure: Some(
                "kprobes compiled out (no kprobe PMU in /sys/bus/event_source/devices)".into(),
            ),
        })
    };
    let second = match module {
        None => Step::Try(trampoline),
        Some(m) => Step::Skip(Attempt {
            mechanism: trampoline,
            failure: Some(format!(
                "{trampoline} reaches vmlinux functions only; {name} is in module {m}"
            )),
        }),
    };
    match (order, &second) {
        (MechanismOrder::TrampolineFirst, Step::Try(_)) => vec![second, first],
        _ => vec![first, second],
    }
}

/// The fentry (or fexit) programs of the object and what each one serves: the
/// kernel fixes a trampoline program's target when it is loaded, so each watched
/// function takes one of [`TRAMPOLINE_SLOTS`] copies.
#[derive(Debug, Default)]
struct TrampolineSlots {
    /// The function each slot's program is attached to.
    taken: [Option<String>; TRAMPOLINE_SLOTS],
    /// Why the kernel refuses the mechanism altogether, once it has said so.
    refused: Option<String>,
}

impl TrampolineSlots {
    /// The first free slot, or why none can be used.
    fn claim(&self, mechanism: Mechanism) -> Result<usize, String> {
        if let Some(reason) = &self.refused {
            return Err(reason.clone());
        }
        self.taken.iter().position(Option::is_none).ok_or_else(|| {
            let users: Vec<&str> = self.taken.iter().flatten().map(String::as_str).collect();
            format!(
                "all {TRAMPOLINE_SLOTS} {mechanism} programs are in use ({})",
                users.join(", ")
            )
        })
    }

    /// Notes how attaching `function` through `slot` went.
    fn settle(&mut self, slot: usize, function: &str, result: &Result<(), TrampolineError>) {
        match result {
            Ok(()) => self.taken[slot] = Some(function.to_owned()),
            Err(e) if e.kernel_wide => self.refused = Some(e.message.clone()),
            Err(_) => {}
        }
    }
}

/// A failed fentry/fexit attach, and whether it rules the mechanism out for every
/// function (the kernel refused trampolines) or only for this one.
#[derive(Debug)]
struct TrampolineError {
    message: String,
    kernel_wide: bool,
}

/// Carries out attach plans against a loaded BPF object, keeping the links alive as
/// long as the object lives.
pub struct Attacher<'a> {
    ebpf: &'a mut Ebpf,
    kallsyms: &'a super::kallsyms::Kallsyms,
    state: &'a mut AttachState,
}

/// What the attach engine keeps between calls: which programs are loaded, which
/// single-target programs are taken, parsed BTF (during an attach pass only:
/// see [`AttachState::release_btf`]) and the kernel's facts. Module loads attach
/// more points long after the first pass.
pub struct AttachState {
    facts: KernelFacts,
    order: MechanismOrder,
    tracefs: Result<std::path::PathBuf, String>,
    btf: Option<Result<Btf, String>>,
    struct_btf: BtfCache,
    loaded: Vec<&'static str>,
    fentry: TrampolineSlots,
    fexit: TrampolineSlots,
    syscall_function: Result<&'static str, String>,
    /// Whether the ALSA ioctl file operations' probes carry the ALSA ioctls
    /// (the loader decides once the first pass is done).
    ioctls_carried: bool,
}

impl AttachState {
    /// Fresh state for a kernel described by `facts`; `tracefs` is where classic
    /// tracepoints are found, or why it is unavailable; `types` is the BTF already
    /// parsed, reused for base paths; `syscall_function` is the ioctl syscall's
    /// function that the syscall programs attach to, or why they cannot be used
    /// (the loader found no argument offsets for them).
    pub fn new(
        facts: KernelFacts,
        order: MechanismOrder,
        tracefs: Result<std::path::PathBuf, String>,
        types: BtfCache,
        syscall_function: Result<&'static str, String>,
    ) -> Self {
        Self {
            facts,
            order,
            tracefs,
            btf: None,
            struct_btf: types,
            loaded: Vec::new(),
            fentry: TrampolineSlots::default(),
            fexit: TrampolineSlots::default(),
            syscall_function,
            ioctls_carried: false,
        }
    }
}

impl AttachState {
    /// The offset of `strukt.member` from `module`'s BTF or vmlinux's, or why not.
    pub fn member_offset(
        &mut self,
        module: Option<&str>,
        strukt: &str,
        member: &str,
    ) -> Result<u32, String> {
        self.struct_btf.member_offset(module, strukt, member)
    }

    /// Notes that the ALSA ioctl file operations' probes carry the ALSA ioctls,
    /// so points attached from now on say so in the table.
    pub fn carry_ioctls(&mut self) {
        self.ioctls_carried = true;
    }

    /// Lets go of the parsed BTF once an attach pass is done: it is needed
    /// again only when a module loads, and is read again then.
    pub fn release_btf(&mut self) {
        self.btf = None;
        self.struct_btf = BtfCache::default();
    }
}

impl<'a> Attacher<'a> {
    /// An attacher over `ebpf` for the functions `kallsyms` lists, continuing from
    /// `state`.
    pub fn new(
        ebpf: &'a mut Ebpf,
        kallsyms: &'a super::kallsyms::Kallsyms,
        state: &'a mut AttachState,
    ) -> Self {
        Self {
            ebpf,
            kallsyms,
            state,
        }
    }

    /// Attaches one probe point and says how, or why not.
    pub fn attach(&mut self, point: &ProbePoint) -> ProbeStatus {
        let mut status = ProbeStatus {
            name: point.name(),
            role: point.role(),
            attached: None,
            attempts: Vec::new(),
            note: None,
            marks: point.marks(),
            mapping: point.mapping(),
            carries_ioctls: false,
        };
        let steps = match point {
            ProbePoint::Function(f) => {
                let symbol = self.kallsyms.find(&f.name);
                let mut steps = function_plan(
                    &f.name,
                    f.module.as_deref(),
                    f.exit,
                    f.optional,
                    symbol,
                    self.state.facts,
                    self.state.order,
                );
                if let Some(module) = symbol
                    && let Err(reason) = self.configure(f, module)
                {
                    let mechanism = if f.exit {
                        Mechanism::Kretprobe
                    } else {
                        Mechanism::Kprobe
                    };
                    steps = vec![Step::Skip(Attempt {
                        mechanism,
                        failure: Some(reason),
                    })];
                }
                steps
            }
            ProbePoint::Tracepoint(t) => {
                let mut steps = Vec::new();
                if let Some((_, mechanism)) = t.syscall_program {
                    steps.push(Step::Try(mechanism));
                }
                if t.raw_program.is_some() {
                    steps.push(Step::Try(Mechanism::RawTracepoint));
                }
                if t.classic_program.is_some() {
                    steps.push(Step::Try(Mechanism::Tracepoint));
                }
                steps
            }
        };
        for step in steps {
            let attempt = match step {
                Step::Skip(attempt) => attempt,
                Step::Try(mechanism) => Attempt {
                    mechanism,
                    failure: self.try_mechanism(point, mechanism).err(),
                },
            };
            let worked = attempt.failure.is_none();
            status.attempts.push(attempt);
            if worked {
                status.attached = status.attempts.last().map(|a| a.mechanism);
                break;
            }
        }
        if self.state.ioctls_carried
            && point.carries_ioctls()
            && matches!(
                status.attached,
                Some(Mechanism::Kprobe | Mechanism::Kretprobe)
            )
        {
            carriers::mark(&mut status);
        }
        if let ProbePoint::Tracepoint(TracepointProbe {
            syscall_program: Some((_, mechanism)),
            ..
        }) = point
            && status.attached == Some(*mechanism)
            && let Ok(function) = &self.state.syscall_function
        {
            status.note = Some(format!(
                "on {function}, the syscall's function: no syscall tracepoint, other syscalls keep their fast path"
            ));
        }
        status
    }

    /// Arms function point `point` in module `module` through a tracefs kprobe
    /// event, with the cookie-keyed program attached to it: the kernel registers
    /// the event as the module comes up, now if it is `loaded`, and again at every
    /// later load, so the point sees each load from the module's first call. Says
    /// how, or why it cannot be armed (the caller attaches it directly instead).
    pub fn arm(
        &mut self,
        point: &ProbePoint,
        module: &str,
        loaded: bool,
        armed: &mut ArmedEvents,
        cookie: u64,
    ) -> Result<ProbeStatus, String> {
        let ProbePoint::Function(f) = point else {
            return Err(format!("{} is not a function", point.name()));
        };
        if !self.state.facts.kprobe_pmu {
            return Err("kprobes compiled out".into());
        }
        let mechanism = if f.exit {
            Mechanism::Kretprobe
        } else {
            Mechanism::Kprobe
        };
        let program_name = program::for_function(f.exit, f.carries_ioctls, true);
        let config = self.func_config(f, Some(module))?;
        if config != FuncConfig::default() {
            self.store_config([cookie, FUNC_BY_COOKIE + u64::from(f.exit)], config)?;
        }
        let program: &mut KProbe = self.program(program_name)?;
        let fd = program
            .fd()
            .map_err(|e| format!("program {program_name}: {e}"))?;
        let returns_in_flight = if f.carries_ioctls {
            CARRIED_RETURNS_IN_FLIGHT
        } else {
            0
        };
        let event = armed.arm(
            module,
            &f.name,
            f.exit,
            returns_in_flight,
            fd.as_fd(),
            cookie,
        )?;
        let mut status = ProbeStatus {
            name: point.name(),
            role: point.role(),
            attached: Some(mechanism),
            attempts: vec![Attempt {
                mechanism,
                failure: None,
            }],
            note: Some(if loaded {
                format!(
                    "armed in {module} (tracefs kprobe event {event}): watched again from its first call should {module} be reloaded"
                )
            } else {
                format!(
                    "armed before {module} loaded (tracefs kprobe event {event}): watched from its first call"
                )
            }),
            marks: point.marks(),
            mapping: point.mapping(),
            carries_ioctls: false,
        };
        if self.state.ioctls_carried && f.carries_ioctls {
            carriers::mark(&mut status);
        }
        Ok(status)
    }

    /// Works out what the function's probe reads and records and hands it to the
    /// programs, keyed by the function's address. Fails, so the point stays blind
    /// rather than reading garbage, when a struct member of its base path is not in
    /// BTF.
    fn configure(&mut self, f: &FunctionProbe, module: Option<&str>) -> Result<(), String> {
        let config = self.func_config(f, module)?;
        if config == FuncConfig::default() {
            return Ok(());
        }
        let address = self
            .kallsyms
            .address(&f.name)
            .filter(|a| *a != 0)
            .ok_or_else(|| format!("the address of {} is hidden (kptr_restrict)", f.name))?;
        self.store_config([address, u64::from(f.exit)], config)
    }

    /// Hands `config` to the programs under `key`.
    fn store_config(&mut self, key: [u64; 2], config: FuncConfig) -> Result<(), String> {
        let map = self
            .ebpf
            .map_mut(MAP_FUNC_CONFIG)
            .ok_or_else(|| format!("map {MAP_FUNC_CONFIG} missing from the BPF object"))?;
        let mut configs: BpfHashMap<_, [u64; 2], FuncConfig> =
            BpfHashMap::try_from(map).map_err(|e| format!("map {MAP_FUNC_CONFIG}: {e}"))?;
        configs
            .insert(key, config, 0)
            .map_err(|e| format!("map {MAP_FUNC_CONFIG}: {e}"))
    }

    /// What the function's probe reads and records; fails when a struct member
    /// of its base path is not in BTF.
    fn func_config(
        &mut self,
        f: &FunctionProbe,
        module: Option<&str>,
    ) -> Result<FuncConfig, String> {
        let mut config = FuncConfig::default();
        match f.stack {
            StackPolicy::Never => {}
            StackPolicy::Always => config.flags |= FUNC_STACK,
            StackPolicy::IfUnmapped => config.flags |= FUNC_STACK_IF_UNMAPPED,
        }
        match f.tracks {
            Some(Tracking::MapsReturn) => config.flags |= FUNC_MAPS_RET,
            Some(Tracking::UnmapsArg0) => config.flags |= FUNC_UNMAPS_ARG0,
            None => {}
        }
        if let Some(path) = &f.base {
            config.flags |= FUNC_BASE;
            if f.role == Role::MmioAccessor {
                config.flags |= FUNC_FILTER_BASE;
            }
            config.base_arg = path.arg;
            config.base_hops = path.hops.len() as u32;
            for (slot, (strukt, member)) in config.base_offsets.iter_mut().zip(&path.hops) {
                *slot = self
                    .state
                    .struct_btf
                    .member_offset(module.or(f.module.as_deref()), strukt, member)
                    .map_err(|e| format!("cannot read the MMIO base ({path}): {e}"))?;
            }
        }
        Ok(config)
    }

    /// Tries one mechanism; `Err` holds the reason in words a kernel developer acts on.
    fn try_mechanism(&mut self, point: &ProbePoint, mechanism: Mechanism) -> Result<(), String> {
        match (point, mechanism) {
            (ProbePoint::Function(f), Mechanism::Kprobe | Mechanism::Kretprobe) => {
                let exit = mechanism == Mechanism::Kretprobe;
                let program_name = program::for_function(exit, f.carries_ioctls, false);
                let program: &mut KProbe = self.program(program_name)?;
                program
                    .attach(&f.name, 0)
                    .map(drop)
                    .map_err(|e| explain(mechanism, &e))
            }
            (ProbePoint::Function(f), Mechanism::Fentry | Mechanism::Fexit) => {
                let name = f.name.clone();
                self.attach_trampoline(&name, mechanism)
            }
            (
                ProbePoint::Tracepoint(TracepointProbe {
                    name,
                    raw_program: Some(program_name),
                    module,
                    ..
                }),
                Mechanism::RawTracepoint,
            ) => {
                let program: &mut RawTracePoint = self.program(program_name)?;
                program
                    .attach(name)
                    .map(drop)
                    .map_err(|e| match (errno(&e), module) {
                        (Some(libc::ENOENT), Some(m)) if !module_loaded(m) => format!(
                            "{mechanism}: no tracepoint {name} yet: module {m}, which defines it, \
                             is not loaded (attached when it loads)"
                        ),
                        (Some(libc::ENOENT), _) => format!(
                            "{mechanism} refused: ENOENT: this kernel has no tracepoint {name} \
                             (is the subsystem that defines it compiled in?)"
                        ),
                        _ => explain(mechanism, &e),
                    })
            }
            (
                ProbePoint::Tracepoint(TracepointProbe {
                    category,
                    name,
                    classic_program: Some(program_name),
                    ..
                }),
                Mechanism::Tracepoint,
            ) => {
                let tracefs = self.state.tracefs.clone()?;
                if *category == "syscalls" {
                    check_ioctl_record_format(&tracefs)
                        .map_err(|reason| format!("{mechanism} not used: {reason}"))?;
                }
                let program: &mut TracePoint = self.program(program_name)?;
                program
                    .attach(category, name)
                    .map(drop)
                    .map_err(|e| explain(mechanism, &e))
            }
            (
                ProbePoint::Tracepoint(TracepointProbe {
                    syscall_program: Some((program_name, expected)),
                    ..
                }),
                Mechanism::Fentry | Mechanism::Fexit,
            ) if *expected == mechanism => self.attach_syscall_program(program_name, mechanism),
            (_, other) => Err(format!("{other} does not apply to {}", point.name())),
        }
    }

    /// Loads a free fentry or fexit program for `name` and attaches it.
    fn attach_trampoline(&mut self, name: &str, mechanism: Mechanism) -> Result<(), String> {
        let entry = mechanism == Mechanism::Fentry;
        let slots = if entry {
            &self.state.fentry
        } else {
            &self.state.fexit
        };
        let slot = slots.claim(mechanism)?;
        let result = match vmlinux_btf(&mut self.state.btf, mechanism) {
            Ok(btf) if entry => {
                trampoline::<FEntry>(self.ebpf, FENTRY_PROGRAMS[slot], name, btf, mechanism)
            }
            Ok(btf) => trampoline::<FExit>(self.ebpf, FEXIT_PROGRAMS[slot], name, btf, mechanism),
            Err(message) => Err(TrampolineError {
                message,
                kernel_wide: true,
            }),
        };
        let slots = if entry {
            &mut self.state.fentry
        } else {
            &mut self.state.fexit
        };
        slots.settle(slot, name, &result);
        result.map_err(|e| e.message)
    }

    /// Loads `program_name`, a program of its own for the ioctl syscall's
    /// function, for that function and attaches it.
    fn attach_syscall_program(
        &mut self,
        program_name: &str,
        mechanism: Mechanism,
    ) -> Result<(), String> {
        let function = self.state.syscall_function.clone()?;
        if self.kallsyms.find(function) != Some(None) {
            return Err(format!(
                "{mechanism}: no {function} in vmlinux (/proc/kallsyms), the syscall's function"
            ));
        }
        let btf = vmlinux_btf(&mut self.state.btf, mechanism)?;
        let attached = if mechanism == Mechanism::Fentry {
            trampoline::<FEntry>(self.ebpf, program_name, function, btf, mechanism)
        } else {
            trampoline::<FExit>(self.ebpf, program_name, function, btf, mechanism)
        };
        attached.map_err(|e| e.message)
    }

    /// The program `name`, converted to its type and loaded on first use.
    fn program<P>(&mut self, name: &'static str) -> Result<&mut P, String>
    where
        P: LoadableProgram,
        for<'p> &'p mut P: TryFrom<&'p mut aya::programs::Program, Error = ProgramError>,
    {
        let first_use = !self.state.loaded.contains(&name);
        let program: &mut P = self
            .ebpf
            .program_mut(name)
            .ok_or_else(|| format!("program {name} missing from the BPF object"))?
            .try_into()
            .map_err(|e: ProgramError| format!("program {name}: {e}"))?;
        if first_use {
            program
                .load_program()
                .map_err(|e| format!("the kernel refused to load program {name}: {}", chain(&e)))?;
            self.state.loaded.push(name);
        }
        Ok(program)
    }
}

/// Vmlinux BTF, read into `slot` on first use, or why `mechanism` cannot have it.
fn vmlinux_btf(
    slot: &mut Option<Result<Btf, String>>,
    mechanism: Mechanism,
) -> Result<&Btf, String> {
    slot.get_or_insert_with(|| {
        Btf::from_sys_fs()
            .map_err(|e| format!("{mechanism} needs vmlinux BTF, which could not be read: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Loads a BTF-typed program for `target` and attaches it.
fn trampoline<P>(
    ebpf: &mut Ebpf,
    program_name: &str,
    target: &str,
    btf: &Btf,
    mechanism: Mechanism,
) -> Result<(), TrampolineError>
where
    P: TrampolineProgram,
    for<'p> &'p mut P: TryFrom<&'p mut aya::programs::Program, Error = ProgramError>,
{
    let only_this = |message: String| TrampolineError {
        message,
        kernel_wide: false,
    };
    let program: &mut P = ebpf
        .program_mut(program_name)
        .ok_or_else(|| {
            only_this(format!(
                "program {program_name} missing from the BPF object"
            ))
        })?
        .try_into()
        .map_err(|e: ProgramError| only_this(format!("program {program_name}: {e}")))?;
    program.load_for(target, btf).map_err(|e| TrampolineError {
        message: explain(mechanism, &e),
        // The kernel's answer to trampolines as such, not to this target.
        kernel_wide: matches!(errno(&e), Some(libc::EPERM | libc::EOPNOTSUPP | ENOTSUPP)),
    })?;
    program
        .attach_loaded()
        .map_err(|e| only_this(explain(mechanism, &e)))
}

/// The kernel's internal "not supported" errno, which BPF syscalls leak.
const ENOTSUPP: i32 = 524;

/// Programs whose load takes no target.
trait LoadableProgram {
    /// Loads the program into the kernel.
    fn load_program(&mut self) -> Result<(), ProgramError>;
}

macro_rules! loadable {
    ($($ty:ty),*) => {$(
        impl LoadableProgram for $ty {
            fn load_program(&mut self) -> Result<(), ProgramError> {
                self.load()
            }
        }
    )*};
}
loadable!(KProbe, RawTracePoint, TracePoint);

/// Programs whose target is fixed at load time through BTF.
trait TrampolineProgram {
    /// Loads the program for `target`.
    fn load_for(&mut self, target: &str, btf: &Btf) -> Result<(), ProgramError>;
    /// Attaches the loaded program.
    fn attach_loaded(&mut self) -> Result<(), ProgramError>;
}

macro_rules! trampoline_program {
    ($($ty:ty),*) => {$(
        impl TrampolineProgram for $ty {
            fn load_for(&mut self, target: &str, btf: &Btf) -> Result<(), ProgramError> {
                self.load(target, btf)
            }
            fn attach_loaded(&mut self) -> Result<(), ProgramError> {
                self.attach().map(drop)
            }
        }
    )*};
}
trampoline_program!(FEntry, FExit);

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The errno behind an error, found anywhere in its cause chain.
fn errno(error: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(code) = io.raw_os_error()
        {
            return Some(code);
        }
        current = e.source();
    }
    None
}

/// The symbolic name of the errnos attach failures produce.
fn errno_name(code: i32) -> Option<&'static str> {
    Some(match code {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::E2BIG => "E2BIG",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        ENOTSUPP => "ENOTSUPP",
        _ => return None,
    })
}

/// A failed attach, worded for a kernel developer: `fentry refused: EPERM
/// (Operation not permitted)`; the full cause chain when the errno says too little.
fn explain(mechanism: Mechanism, error: &ProgramError) -> String {
    match errno(error).and_then(|code| errno_name(code).map(|name| (code, name))) {
        Some((code, name)) => {
            let text = std::io::Error::from_raw_os_error(code).to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_owned();
            format!("{mechanism} refused: {name} ({text})")
        }
        None => format!("{mechanism} failed: {}", chain(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH_KPROBES: KernelFacts = KernelFacts { kprobe_pmu: true };
    const WITHOUT_KPROBES: KernelFacts = KernelFacts { kprobe_pmu: false };

    #[test]
    fn vmlinux_function_tries_kprobe_then_fentry() {
        let plan = function_plan(
            "ioremap",
            None,
            false,
            false,
            Some(None),
            WITH_KPROBES,
            MechanismOrder::KprobeFirst,
        );
        assert_eq!(
            plan,
            [Step::Try(Mechanism::Kprobe), Step::Try(Mechanism::Fentry)]
        );
        let plan = function_plan(
            "ioremap",
            None,
            true,
            false,
            Some(None),
            WITH_KPROBES,
            MechanismOrder::KprobeFirst,
        );
        assert_eq!(
            plan,
            [Step::Try(Mechanism::Kretprobe), Step::Try(Mechanism::Fexit)]
        );
    }

    #[test]
    fn trampolines_first_when_asked_but_modules_still_use_kprobes() {
        let order = MechanismOrder::TrampolineFirst;
        let plan = function_plan(
            "ioremap",
            None,
            true,
            false,
            Some(None),
            WITH_KPROBES,
            order,
        );
        assert_eq!(
            plan,
            [Step::Try(Mechanism::Fexit), Step::Try(Mechanism::Kretprobe)]
        );
        let module = Some(Some("snd_hda_codec"));
        let plan = function_plan(
            "azx_stop_chip",
            None,
            false,
            false,
            module,
            WITH_KPROBES,
            order,
        );
        assert_eq!(plan[0], Step::Try(Mechanism::Kprobe));
    }

    #[test]
    fn without_kprobes_a_vmlinux_function_falls_back_to_fentry() {
        let plan = function_plan(
            "iounmap",
            None,
            false,
            false,
            Some(None),
            WITHOUT_KPROBES,
            MechanismOrder::KprobeFirst,
        );
        let Step::Skip(skipped) = &plan[0] else {
            panic!("kprobe should be skipped: {plan:?}")
        };
        assert_eq!(
            skipped.failure.as_deref(),
            Some("kprobes compiled out (no kprobe PMU in /sys/bus/event_source/devices)")
        );
        assert_eq!(plan[1], Step::Try(Mechanism::Fentry));
    }

    #[test]
    fn module_functions_cannot_use_fentry() {
        let plan = function_plan(
            "azx_stop_chip",
            Some("snd_hda_codec"),
            false,
            false,
            Some(Some("snd_hda_codec")),
            WITHOUT_KPROBES,
            MechanismOrder::KprobeFirst,
        );
        let Step::Skip(fentry) = &plan[1] else {
            panic!("fentry should be skipped: {plan:?}")
        };
        assert_eq!(
            fentry.failure.as_deref(),
            Some("fentry reaches vmlinux functions only; azx_stop_chip is in module snd_hda_codec")
        );
    }

    #[test]
    fn absent_symbols_name_the_module_to_load() {
        let plan = function_plan(
            "azx_stop_chip",
            Some("snd_hda_codec"),
            false,
            false,
            None,
            WITH_KPROBES,
            MechanismOrder::KprobeFirst,
        );
        assert_eq!(
            plan,
            [Step::Skip(Attempt {
                mechanism: Mechanism::Kprobe,
                failure: Some("symbol azx_stop_chip not present: is snd_hda_codec loaded?".into()),
            })]
        );
    }

    #[test]
    fn absent_optional_hooks_say_why_they_are_optional() {
        let plan = function_plan(
            "pci_bus_rescan_prepare",
            None,
            false,
            true,
            None,
            WITH_KPROBES,
            MechanismOrder::KprobeFirst,
        );
        let Step::Skip(skipped) = &plan[0] else {
            panic!("{plan:?}")
        };
        assert!(skipped.failure.as_deref().unwrap().contains("optional"));
    }

    #[test]
    fn each_function_takes_its_own_trampoline_slot_until_none_is_left() {
        let mut slots = TrampolineSlots::default();
        for n in 0..TRAMPOLINE_SLOTS {
            let slot = slots.claim(Mechanism::Fentry).unwrap();
            assert_eq!(slot, n);
            slots.settle(slot, &format!("fn{n}"), &Ok(()));
        }
        let full = slots.claim(Mechanism::Fentry).unwrap_err();
        assert!(
            full.starts_with("all 8 fentry programs are in use (fn0, fn1"),
            "{full}"
        );
    }

    #[test]
    fn a_target_the_kernel_rejects_leaves_its_slot_free_but_a_refusal_ends_the_mechanism() {
        let mut slots = TrampolineSlots::default();
        let rejected = Err(TrampolineError {
            message: "fentry refused: EINVAL".into(),
            kernel_wide: false,
        });
        slots.settle(0, "inlined_fn", &rejected);
        assert_eq!(slots.claim(Mechanism::Fentry), Ok(0));
        let refused = Err(TrampolineError {
            message: "fentry refused: EPERM (lockdown?)".into(),
            kernel_wide: true,
        });
        slots.settle(0, "ioremap", &refused);
        assert_eq!(
            slots.claim(Mechanism::Fentry),
            Err("fentry refused: EPERM (lockdown?)".into())
        );
    }

    #[test]
    fn errno_names_cover_the_usual_refusals() {
        assert_eq!(errno_name(libc::EPERM), Some("EPERM"));
        assert_eq!(errno_name(524), Some("ENOTSUPP"));
        assert_eq!(errno_name(12345), None);
    }
}
