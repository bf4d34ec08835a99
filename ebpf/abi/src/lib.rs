//! Records and constants shared by barwatch's BPF programs and its agent.
//!
//! Every record that crosses the ring buffer starts with a [`RecordHeader`] whose
//! `kind` says which payload follows and whose `len` is the size of the whole
//! record. All fields are fixed-width integers laid out with `#[repr(C)]` and
//! explicit padding, so both sides agree on every byte and no value can be an
//! invalid Rust enum discriminant.
#![no_std]

use core::mem::size_of;

/// Length of a task's command name (`TASK_COMM_LEN` in the kernel).
pub const COMM_LEN: usize = 16;

/// Name of the BPF ring buffer every program writes its records into.
pub const MAP_EVENTS: &str = "EVENTS";
/// Name of the per-CPU array counting records dropped because the ring buffer was full,
/// indexed by probe id.
pub const MAP_LOST: &str = "LOST";
/// Name of the per-CPU hash map counting records dropped by function probes, keyed by
/// `[function address, probe id]` so entries and returns are counted apart.
pub const MAP_FUNC_LOST: &str = "FUNC_LOST";
/// Name of the one-slot per-CPU array counting kernel stacks `bpf_get_stackid` could
/// not take (stack map full, or a hash collision with a different stack).
pub const MAP_STACKS_LOST: &str = "STACKS_LOST";
/// Name of the hash map of IRQ numbers to record when [`GLOBAL_IRQ_FILTER_ON`] is set.
pub const MAP_IRQ_FILTER: &str = "IRQ_FILTER";
/// Name of the hash map of IRQ handler function addresses to record when
/// [`GLOBAL_IRQ_FILTER_ON`] is set: a watched device keeps its handler when a
/// suspend or rescan gives it a new vector.
pub const MAP_IRQ_HANDLERS: &str = "IRQ_HANDLERS";
/// Name of the hash map of process ids (tgid) to record when [`GLOBAL_PID_FILTER_ON`] is set.
pub const MAP_PID_FILTER: &str = "PID_FILTER";
/// Name of the array of the exact ALSA ioctl command numbers to record, each in
/// its [`alsa_ioctl_slot`]; 0 in a slot no known command has.
pub const MAP_IOCTL_CMDS: &str = "IOCTL_CMDS";
/// Name of the array that carries an ALSA ioctl from its entry to its exit, in
/// slot `tid % INFLIGHT_CAPACITY`.
pub const MAP_IOCTL_INFLIGHT: &str = "IOCTL_INFLIGHT";
/// Name of the one-slot array that says whether the ALSA ioctl file operations'
/// probes ([`PROGRAM_ALSA_IOCTL_ENTRY`], [`PROGRAM_ALSA_IOCTL_EXIT`]) carry the
/// ALSA ioctls (1), the syscall hooks being left detached, or record their calls
/// as any function probe does (0), the syscall hooks carrying them.
pub const MAP_IOCTL_CARRIED: &str = "IOCTL_CARRIED";

/// Name of the hash map of per-function settings, keyed by `[function address,
/// 1 for the return probe else 0]`.
pub const MAP_FUNC_CONFIG: &str = "FUNC_CONFIG";
/// Name of the stack trace map that function records' `stack_id` points into.
pub const MAP_STACKS: &str = "STACKS";
/// Name of the hash map of MMIO virtual addresses unmapped and not mapped again,
/// maintained in the kernel by the mapping probes.
pub const MAP_UNMAPPED: &str = "UNMAPPED";

/// Global: non-zero to record only the IRQs listed in [`MAP_IRQ_FILTER`].
pub const GLOBAL_IRQ_FILTER_ON: &str = "IRQ_FILTER_ON";
/// Global: non-zero to add the handler of every IRQ that passes [`MAP_IRQ_FILTER`] to
/// [`MAP_IRQ_HANDLERS`], so the filter follows watched devices to new vectors.
pub const GLOBAL_IRQ_LEARN_HANDLERS: &str = "IRQ_LEARN_HANDLERS";
/// Global: non-zero to drop MMIO accessor calls on the bases in
/// [`MAP_IGNORED_BASES`] (see [`FUNC_FILTER_BASE`]).
pub const GLOBAL_BASE_FILTER_ON: &str = "BASE_FILTER_ON";
/// Name of the hash map of MMIO bases (virtual addresses) that userspace knows
/// belong to devices it does not watch. Every base is recorded until then, so
/// nothing of a watched device is dropped; a new mapping at an address takes it
/// off the list.
pub const MAP_IGNORED_BASES: &str = "IGNORED_BASES";
/// Global: non-zero to record only the processes listed in [`MAP_PID_FILTER`].
pub const GLOBAL_PID_FILTER_ON: &str = "PID_FILTER_ON";
/// Global: the bytes one CPU submits to the ring buffer without waking the
/// reader; the record that reaches it forces a wakeup and starts the count
/// again. Below, records are submitted without a wakeup and the reader polls
/// on a timer (a wakeup per record cost more than the record). The loader
/// divides its part of the buffer by the CPUs, so all of them together never
/// leave more than that part unannounced. 0 leaves the kernel's adaptive wakeup.
pub const GLOBAL_WAKEUP_BYTES: &str = "WAKEUP_BYTES";
/// Global: offsets of the current task's `pid`, `tgid` and `comm`, in the order
/// of [`TASK_PATH`], resolved from BTF: the programs read them straight from
/// the task (a helper call each costs more than the loads). Any
/// [`OFFSET_UNKNOWN`] has them ask the kernel's helpers instead.
pub const GLOBAL_TASK_OFFSETS: &str = "TASK_OFFSETS";

/// The `task_struct` members every record's header is read from.
pub const TASK_PATH: [(&str, &str); 3] = [
    ("task_struct", "pid"),
    ("task_struct", "tgid"),
    ("task_struct", "comm"),
];
/// Global: offset of `work_struct.func`, resolved from BTF; [`OFFSET_UNKNOWN`] when it
/// could not be resolved (the function is then not read).
pub const GLOBAL_WORK_FUNC_OFFSET: &str = "WORK_FUNC_OFFSET";
/// Global: offset of `module.name`, resolved from BTF; [`OFFSET_UNKNOWN`] when it
/// could not be resolved (the name is then left empty).
pub const GLOBAL_MODULE_NAME_OFFSET: &str = "MODULE_NAME_OFFSET";
/// Global: offset of `irqaction.handler`, resolved from BTF; [`OFFSET_UNKNOWN`] when it
/// could not be resolved (IRQ records then carry no handler address).
pub const GLOBAL_IRQ_HANDLER_OFFSET: &str = "IRQ_HANDLER_OFFSET";
/// Global: offset of `irqaction.thread_fn`, resolved from BTF; [`OFFSET_UNKNOWN`] when
/// it could not be resolved (IRQ records then carry no thread function).
pub const GLOBAL_IRQ_THREAD_FN_OFFSET: &str = "IRQ_THREAD_FN_OFFSET";
/// Global: the member offsets that lead from the current task to the device number
/// of one of its open files, in the order of [`FD_RDEV_PATH`]; any
/// [`OFFSET_UNKNOWN`] leaves ioctl records without a device number.
pub const GLOBAL_FD_RDEV_OFFSETS: &str = "FD_RDEV_OFFSETS";

/// The struct members from `current` to the `dev_t` behind a file descriptor:
/// `current->files->fdt`, its `max_fds` (bound check) and `fd` array, then
/// `file->f_inode->i_rdev`. Userspace resolves each from BTF.
pub const FD_RDEV_PATH: [(&str, &str); 6] = [
    ("task_struct", "files"),
    ("files_struct", "fdt"),
    ("fdtable", "max_fds"),
    ("fdtable", "fd"),
    ("file", "f_inode"),
    ("inode", "i_rdev"),
];

/// Global: offset of `pt_regs.ip`, resolved from BTF; [`OFFSET_UNKNOWN`] leaves page
/// faults without the faulting instruction.
pub const GLOBAL_PT_REGS_IP_OFFSET: &str = "PT_REGS_IP_OFFSET";

/// Where the `syscalls:sys_enter_ioctl` record holds `fd`, `cmd` and `arg`, and
/// the `sys_exit_ioctl` record its `ret`: the layout of every syscall event (the
/// common header, the syscall's number, then each argument in 8 bytes). The
/// programs read them at these fixed offsets, directly rather than through a
/// helper call; the loader checks them against the events' formats in tracefs
/// and leaves the tracepoints unattached where they differ.
pub const IOCTL_TRACEPOINT_OFFSETS: [u32; 4] = [16, 24, 32, 16];

/// Global: the offsets in `struct pt_regs` of a syscall's first three arguments
/// (`fd`, `cmd`, `arg` of ioctl), resolved from BTF for the registers of this
/// architecture's syscall convention: the function of a syscall
/// (`__x64_sys_ioctl`) takes the registers saved at entry. Any
/// [`OFFSET_UNKNOWN`] leaves the programs on that function unused.
pub const GLOBAL_SYSCALL_ARG_OFFSETS: &str = "SYSCALL_ARG_OFFSETS";
/// The fentry program on the ioctl syscall's function: it records what
/// `syscalls:sys_enter_ioctl` does without the syscall tracepoint, which puts
/// every syscall of every thread on the slow path while it is attached.
pub const PROGRAM_SYS_IOCTL_FENTRY: &str = "sys_ioctl_fentry";
/// The fexit program on the ioctl syscall's function, for `syscalls:sys_exit_ioctl`.
pub const PROGRAM_SYS_IOCTL_FEXIT: &str = "sys_ioctl_fexit";
/// The kprobe for an ALSA ioctl file operation (`snd_ctl_ioctl`, `snd_pcm_ioctl`,
/// …): with [`MAP_IOCTL_CARRIED`] set it records each call as an ALSA ioctl's
/// entry, which only ioctls on ALSA's devices run, so no syscall hook is needed.
pub const PROGRAM_ALSA_IOCTL_ENTRY: &str = "alsa_ioctl_entry";
/// The kretprobe twin of [`PROGRAM_ALSA_IOCTL_ENTRY`]: the ioctl's return.
pub const PROGRAM_ALSA_IOCTL_EXIT: &str = "alsa_ioctl_exit";

/// How many functions fentry (and fexit) can watch at once: each needs its own
/// program, since the kernel fixes a trampoline program's target at load time.
pub const TRAMPOLINE_SLOTS: usize = 8;
/// The fentry programs, one per slot.
pub const FENTRY_PROGRAMS: [&str; TRAMPOLINE_SLOTS] = [
    "func_fentry_0",
    "func_fentry_1",
    "func_fentry_2",
    "func_fentry_3",
    "func_fentry_4",
    "func_fentry_5",
    "func_fentry_6",
    "func_fentry_7",
];
/// The fexit programs, one per slot.
pub const FEXIT_PROGRAMS: [&str; TRAMPOLINE_SLOTS] = [
    "func_fexit_0",
    "func_fexit_1",
    "func_fexit_2",
    "func_fexit_3",
    "func_fexit_4",
    "func_fexit_5",
    "func_fexit_6",
    "func_fexit_7",
];

/// Marks an offset global that userspace could not resolve.
pub const OFFSET_UNKNOWN: u32 = u32::MAX;

/// Maximum number of entries in the IRQ and pid filter maps.
pub const FILTER_CAPACITY: u32 = 1024;
/// Slots for ALSA ioctls in flight, a power of two: a thread's call takes slot
/// `tid % INFLIGHT_CAPACITY` from its entry to its exit.
pub const INFLIGHT_CAPACITY: u32 = 16384;
/// Maximum number of distinct probed functions whose losses are counted.
pub const FUNC_LOST_CAPACITY: u32 = 4096;
/// Maximum number of probed functions with settings.
pub const FUNC_CONFIG_CAPACITY: u32 = 1024;
/// The second half of a [`MAP_FUNC_CONFIG`] key for a function armed before its
/// module loaded, whose address is unknown until then: `[cookie, FUNC_BY_COOKIE +
/// exit]`, `cookie` being the one its program was attached with. Addresses are
/// kernel pointers, so the two kinds of key never meet.
pub const FUNC_BY_COOKIE: u64 = 2;
/// Maximum number of distinct kernel stacks kept at once.
pub const STACKS_CAPACITY: u32 = 16384;
/// Maximum number of unmapped MMIO addresses tracked at once.
pub const UNMAPPED_CAPACITY: u32 = 4096;
/// Pointer hops a [`FuncConfig`] can follow from an argument to the MMIO base.
pub const MAX_BASE_HOPS: usize = 4;
/// `stack_id` of a record that carries no stack.
pub const NO_STACK: i64 = -1;

/// [`FuncConfig::flags`]: record a kernel stack on every call.
pub const FUNC_STACK: u32 = 1;
/// [`FuncConfig::flags`]: read the MMIO base through `base_arg` and `base_offsets`.
pub const FUNC_BASE: u32 = 1 << 1;
/// [`FuncConfig::flags`]: record a kernel stack when the MMIO base is unmapped.
pub const FUNC_STACK_IF_UNMAPPED: u32 = 1 << 2;
/// [`FuncConfig::flags`]: this function unmaps its first argument (iounmap).
pub const FUNC_UNMAPS_ARG0: u32 = 1 << 3;
/// [`FuncConfig::flags`]: this function's return value is a new mapping (ioremap).
pub const FUNC_MAPS_RET: u32 = 1 << 4;
/// [`FuncConfig`] flag: drop the call when its MMIO base is in
/// [`MAP_IGNORED_BASES`] (with [`GLOBAL_BASE_FILTER_ON`]); a base on the unmapped
/// list always passes.
pub const FUNC_FILTER_BASE: u32 = 1 << 5;

/// What a function probe reads and records beyond its arguments, set by the agent
/// per function (from the catalogue and BTF offsets).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuncConfig {
    /// `FUNC_*` flags.
    pub flags: u32,
    /// The argument (0-3) holding the pointer the base path starts from.
    pub base_arg: u32,
    /// How many of `base_offsets` to follow: each hop reads the u64 at
    /// `pointer + offset`, the last one gives the MMIO base.
    pub base_hops: u32,
    /// Explicit padding.
    pub _pad: u32,
    /// Byte offsets, one per hop.
    pub base_offsets: [u32; MAX_BASE_HOPS],
}

const _: () = assert!(size_of::<FuncConfig>() == 32);

/// The ioctl command types (`_IOC_TYPE`) that belong to ALSA: PCM, control, timer, hwdep.
pub const ALSA_IOCTL_TYPES: [u8; 4] = [b'A', b'U', b'T', b'H'];

/// Identifies one BPF program, and so the probe it serves, in records and loss counters.
pub mod probe_id {
    /// `irq:irq_handler_entry` (raw tracepoint).
    pub const IRQ_HANDLER_ENTRY: u32 = 0;
    /// `irq:irq_handler_exit` (raw tracepoint).
    pub const IRQ_HANDLER_EXIT: u32 = 1;
    /// `workqueue:workqueue_execute_start` (raw tracepoint).
    pub const WORK_EXECUTE_START: u32 = 2;
    /// `workqueue:workqueue_execute_end` (raw tracepoint).
    pub const WORK_EXECUTE_END: u32 = 3;
    /// `syscalls:sys_enter_ioctl` (tracepoint), ALSA commands only.
    pub const IOCTL_ENTER: u32 = 4;
    /// `syscalls:sys_exit_ioctl` (tracepoint), ALSA commands only.
    pub const IOCTL_EXIT: u32 = 5;
    /// Entry of a kernel function (kprobe), shared by every function probe.
    pub const FUNC_ENTRY: u32 = 6;
    /// Return of a kernel function (kretprobe), shared by every function probe.
    pub const FUNC_EXIT: u32 = 7;
    /// `module:module_load` (raw tracepoint).
    pub const MODULE_LOAD: u32 = 8;
    /// `exceptions:page_fault_kernel` (raw tracepoint), kernel addresses only.
    pub const PAGE_FAULT_KERNEL: u32 = 9;
    /// The first of the HD-audio drivers' own tracepoints: the one at index `i` of
    /// [`HDA_TRACEPOINTS`](super::HDA_TRACEPOINTS) has id `FIRST_HDA_TRACEPOINT + i`.
    pub const FIRST_HDA_TRACEPOINT: u32 = 10;
    /// Number of probe ids; the size of the loss counter array.
    pub const COUNT: u32 = FIRST_HDA_TRACEPOINT + super::HDA_TRACEPOINTS.len() as u32;
}

/// Stable numbers that say which payload follows a [`RecordHeader`].
pub mod kind {
    /// An [`IrqRecord`](super::IrqRecord) from the handler's entry.
    pub const IRQ_HANDLER_ENTRY: u32 = 1;
    /// An [`IrqRecord`](super::IrqRecord) from the handler's exit.
    pub const IRQ_HANDLER_EXIT: u32 = 2;
    /// A [`WorkRecord`](super::WorkRecord) from the start of a work item.
    pub const WORK_EXECUTE_START: u32 = 3;
    /// A [`WorkRecord`](super::WorkRecord) from the end of a work item.
    pub const WORK_EXECUTE_END: u32 = 4;
    /// An [`IoctlRecord`](super::IoctlRecord) from the entry of an ALSA ioctl.
    pub const IOCTL_ENTER: u32 = 5;
    /// An [`IoctlRecord`](super::IoctlRecord) from the exit of an ALSA ioctl.
    pub const IOCTL_EXIT: u32 = 6;
    /// A [`FuncRecord`](super::FuncRecord) from a function's entry.
    pub const FUNC_ENTRY: u32 = 7;
    /// A [`FuncRecord`](super::FuncRecord) from a function's return.
    pub const FUNC_EXIT: u32 = 8;
    /// A [`ModuleRecord`](super::ModuleRecord) from a module load.
    pub const MODULE_LOAD: u32 = 9;
    /// A [`PageFaultRecord`](super::PageFaultRecord) from a kernel-mode fault.
    pub const PAGE_FAULT_KERNEL: u32 = 10;
    /// A [`TracepointRecord`](super::TracepointRecord) from a driver's tracepoint.
    pub const TRACEPOINT: u32 = 11;
}

/// The size in bytes a record of `kind` must have, or `None` for an unknown kind.
///
/// Spelled out for every kind, with no catch-all for known ones, so that a new kind
/// cannot be added without saying how large it is.
pub const fn record_size(kind: u32) -> Option<usize> {
    match kind {
        kind::IRQ_HANDLER_ENTRY | kind::IRQ_HANDLER_EXIT => Some(size_of::<IrqRecord>()),
        kind::WORK_EXECUTE_START | kind::WORK_EXECUTE_END => Some(size_of::<WorkRecord>()),
        kind::IOCTL_ENTER | kind::IOCTL_EXIT => Some(size_of::<IoctlRecord>()),
        kind::FUNC_ENTRY | kind::FUNC_EXIT => Some(size_of::<FuncRecord>()),
        kind::MODULE_LOAD => Some(size_of::<ModuleRecord>()),
        kind::PAGE_FAULT_KERNEL => Some(size_of::<PageFaultRecord>()),
        kind::TRACEPOINT => Some(size_of::<TracepointRecord>()),
        _ => None,
    }
}

/// The largest record any program writes; the reader's upper bound for one record.
pub const MAX_RECORD_SIZE: usize = {
    let sizes = [
        size_of::<IrqRecord>(),
        size_of::<WorkRecord>(),
        size_of::<IoctlRecord>(),
        size_of::<FuncRecord>(),
        size_of::<ModuleRecord>(),
        size_of::<PageFaultRecord>(),
        size_of::<TracepointRecord>(),
    ];
    let mut max = 0;
    let mut i = 0;
    while i < sizes.len() {
        if sizes[i] > max {
            max = sizes[i];
        }
        i += 1;
    }
    max
};

/// The fixed part every record starts with: what it is, when and where it happened.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// One of the [`kind`] constants.
    pub kind: u32,
    /// Size of the whole record in bytes, header included.
    pub len: u32,
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds when the probe fired.
    pub ts_ns: u64,
    /// CPU the probe fired on.
    pub cpu: u32,
    /// Process id (the kernel's tgid).
    pub pid: u32,
    /// Thread id (the kernel's pid).
    pub tid: u32,
    /// One of the [`probe_id`] constants.
    pub probe: u32,
    /// The current task's command name, NUL-padded.
    pub comm: [u8; COMM_LEN],
}

/// An interrupt handler's entry or exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqRecord {
    /// The common header.
    pub header: RecordHeader,
    /// IRQ number.
    pub irq: u32,
    /// Handler's return value (`irqreturn_t`) on exit; 0 on entry.
    pub ret: u32,
    /// The handler function (`irqaction.handler`), so userspace can tell which
    /// driver's handler ran and whether its function probe fired; 0 when unknown.
    pub handler: u64,
    /// The threaded handler (`irqaction.thread_fn`): the driver's own function when
    /// `handler` is the kernel's default primary; 0 when none or unknown.
    pub thread_fn: u64,
}

/// A work item's start or end on a workqueue worker.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkRecord {
    /// The common header.
    pub header: RecordHeader,
    /// Address of the `struct work_struct`.
    pub work: u64,
    /// Address of the work function; 0 when it could not be read.
    pub function: u64,
}

/// An ALSA ioctl's entry or exit, from the syscall tracepoints.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoctlRecord {
    /// The common header.
    pub header: RecordHeader,
    /// File descriptor the ioctl was issued on.
    pub fd: u32,
    /// The ioctl command number.
    pub cmd: u32,
    /// The ioctl's argument (usually a user pointer).
    pub arg: u64,
    /// Return value on exit; 0 on entry.
    pub ret: i64,
    /// The kernel's `dev_t` of the file the ioctl was issued on (major in the top
    /// 12 bits, minor in the low 20), which names the ALSA card; 0 when unknown.
    pub rdev: u32,
    /// Keeps the record a multiple of eight bytes.
    pub reserved: u32,
    /// The address of the ALSA file operation whose probe recorded the ioctl;
    /// 0 when a syscall hook did.
    pub ip: u64,
}

/// A page fault the kernel took on a kernel address: on x86-64 these no longer
/// happen in a healthy kernel, so each is a touch of something not mapped, such as
/// an MMIO BAR after iounmap.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFaultRecord {
    /// The common header.
    pub header: RecordHeader,
    /// The faulting address.
    pub address: u64,
    /// The instruction that faulted.
    pub ip: u64,
    /// The x86 page-fault error code (bit 1: write, bit 4: instruction fetch).
    pub error_code: u64,
    /// Kernel stack id in the stack map, or [`NO_STACK`].
    pub stack_id: i64,
}

/// One of a driver's own tracepoints fired: its raw arguments, and the device's
/// MMIO base read through the first one.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracepointRecord {
    /// The common header.
    pub header: RecordHeader,
    /// The tracepoint's arguments; those past its arity are 0.
    pub args: [u64; 4],
    /// The MMIO base of the controller its first argument points at, 0 when unknown.
    pub base: u64,
}

/// The HD-audio drivers' tracepoints (as of 6.1): category, event and arity. Each
/// has its own raw tracepoint program named after the event. Their first argument
/// is the `hdac_bus` or the `azx` that starts with one, so the controller's MMIO
/// base is read through it.
pub const HDA_TRACEPOINTS: [(&str, &str, u32); 15] = [
    ("hda", "hda_send_cmd", 2),
    ("hda", "hda_get_response", 3),
    ("hda", "hda_unsol_event", 3),
    ("hda", "snd_hdac_stream_start", 2),
    ("hda", "snd_hdac_stream_stop", 2),
    ("hda_controller", "azx_pcm_trigger", 3),
    ("hda_controller", "azx_get_position", 4),
    ("hda_controller", "azx_pcm_open", 2),
    ("hda_controller", "azx_pcm_close", 2),
    ("hda_controller", "azx_pcm_hw_params", 2),
    ("hda_controller", "azx_pcm_prepare", 2),
    ("hda_intel", "azx_suspend", 1),
    ("hda_intel", "azx_resume", 1),
    ("hda_intel", "azx_runtime_suspend", 1),
    ("hda_intel", "azx_runtime_resume", 1),
];

/// Name of the one-slot array holding `hdac_bus.remap_addr`'s offset plus one for
/// the HD-audio tracepoints, written when snd_hda_core's BTF is readable (it may
/// load after barwatch starts); 0, the array's initial value, until then.
pub const MAP_TP_BASE_OFFSET: &str = "TP_BASE_OFFSET";

/// The lowest kernel-half address on x86-64: faults below it are user memory
/// touched from the kernel (copy_from_user and friends), which are normal.
pub const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

/// A kernel function's entry (arguments) or return (return value).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncRecord {
    /// The common header.
    pub header: RecordHeader,
    /// Address of the probed function.
    pub ip: u64,
    /// The first arguments on entry; zero on return.
    pub args: [u64; 4],
    /// The return value on return; zero on entry.
    pub ret: u64,
    /// The MMIO base read through the function's base path; zero when it has none.
    pub base: u64,
    /// Id of the kernel stack in the stack map, or [`NO_STACK`].
    pub stack_id: i64,
}

/// Length of a module's name (`MODULE_NAME_LEN` on 64-bit kernels).
pub const MODULE_NAME_LEN: usize = 56;

/// A module that was just loaded: the agent attaches the probes waiting for it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleRecord {
    /// The common header.
    pub header: RecordHeader,
    /// The module's name, NUL-padded.
    pub name: [u8; MODULE_NAME_LEN],
}

const _: () = assert!(size_of::<ModuleRecord>() == 104);
const _: () = assert!(size_of::<PageFaultRecord>() == 80);
const _: () = assert!(size_of::<TracepointRecord>() == 88);
const _: () = assert!(size_of::<RecordHeader>() == 48);
const _: () = assert!(size_of::<IrqRecord>() == 72);
const _: () = assert!(size_of::<WorkRecord>() == 64);
const _: () = assert!(size_of::<IoctlRecord>() == 88);
const _: () = assert!(size_of::<FuncRecord>() == 112);

/// An ioctl in flight between its entry and its exit, kept in the kernel in
/// the slot of its thread: an array slot, read and written without a helper
/// call or a lock, where a hash map's update and delete cost more than the
/// rest of the programs together.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoctlInflight {
    /// File descriptor from the entry.
    pub fd: u32,
    /// Command from the entry.
    pub cmd: u32,
    /// Argument from the entry.
    pub arg: u64,
    /// Device number from the entry.
    pub rdev: u32,
    /// The thread whose call this is; 0 when the slot is free (thread 0, the
    /// idle task, makes no syscalls).
    pub tid: u32,
    /// The ALSA file operation that took the entry ([`IoctlRecord::ip`]).
    pub ip: u64,
}

const _: () = assert!(size_of::<IoctlInflight>() == 32);

/// The file descriptor of an ioctl recorded at an ALSA file operation whose
/// syscall's saved registers do not hold it (a 32-bit process's compat ioctl).
pub const UNKNOWN_FD: u32 = u32::MAX;

/// `_IOC_TYPE(cmd)`: the ioctl command's type byte.
pub const fn ioctl_type(cmd: u32) -> u8 {
    ((cmd >> 8) & 0xff) as u8
}

/// Slots of [`MAP_IOCTL_CMDS`]: one per ALSA ioctl type and command number.
pub const IOCTL_CMD_SLOTS: u32 = ALSA_IOCTL_TYPES.len() as u32 * 256;

/// The slot of [`MAP_IOCTL_CMDS`] that holds the known command with `cmd`'s
/// type and number, if its type is ALSA's. No two known commands share one
/// (the agent's table is checked for it), so the filter is one array read,
/// which the kernel inlines, and a comparison.
pub const fn alsa_ioctl_slot(cmd: u32) -> Option<u32> {
    let t = ioctl_type(cmd);
    let mut i = 0;
    while i < ALSA_IOCTL_TYPES.len() {
        if ALSA_IOCTL_TYPES[i] == t {
            return Some(i as u32 * 256 + (cmd & 0xff));
        }
        i += 1;
    }
    None
}

/// Whether `cmd` is one of ALSA's ioctl command types ([`ALSA_IOCTL_TYPES`]).
pub const fn is_alsa_ioctl(cmd: u32) -> bool {
    let t = ioctl_type(cmd);
    t == ALSA_IOCTL_TYPES[0]
        || t == ALSA_IOCTL_TYPES[1]
        || t == ALSA_IOCTL_TYPES[2]
        || t == ALSA_IOCTL_TYPES[3]
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: every record is `#[repr(C)]`, made only of integers with no implicit
    // padding (checked by the size assertions), so any bit pattern is valid.
    unsafe impl aya::Pod for super::RecordHeader {}
    unsafe impl aya::Pod for super::IrqRecord {}
    unsafe impl aya::Pod for super::WorkRecord {}
    unsafe impl aya::Pod for super::IoctlRecord {}
    unsafe impl aya::Pod for super::FuncRecord {}
    unsafe impl aya::Pod for super::IoctlInflight {}
    unsafe impl aya::Pod for super::FuncConfig {}
    unsafe impl aya::Pod for super::ModuleRecord {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alsa_types_are_recognised() {
        // SNDRV_PCM_IOCTL_INFO = _IOR('A', 0x01, struct snd_pcm_info)
        assert!(is_alsa_ioctl(0x8120_4101));
        // SNDRV_CTL_IOCTL_PVERSION = _IOR('U', 0x00, int)
        assert!(is_alsa_ioctl(0x8004_5500));
        // TCGETS (0x5401) is a tty ioctl that shares ALSA timer's type byte: this
        // cheap pre-filter keeps it, the exact command map in the kernel drops it.
        assert!(is_alsa_ioctl(0x5401));
        // FS_IOC_GETFLAGS ('f') is not ALSA at all.
        assert!(!is_alsa_ioctl(0x8008_6601));
    }

    #[test]
    fn every_kind_has_a_size_and_unknown_kinds_do_not() {
        for k in 1..=kind::TRACEPOINT {
            assert!(record_size(k).is_some(), "kind {k}");
        }
        assert_eq!(record_size(0), None);
        assert_eq!(record_size(kind::TRACEPOINT + 1), None);
        assert_eq!(MAX_RECORD_SIZE, size_of::<FuncRecord>());
    }
}
