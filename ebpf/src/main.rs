//! barwatch's BPF programs.
//!
//! Each program observes one probe point, drops what the agent did not ask for as
//! early as it can (filters are maps and globals that userspace fills), and writes
//! one fixed-size record into the shared ring buffer. When the ring buffer is full
//! the record is counted as lost for its probe instead. Nothing here writes to
//! kernel memory or changes what the kernel does.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use aya_ebpf::programs::tracing::StackIdContext;
use aya_ebpf::{
    EbpfContext,
    bindings::{BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_probe_read_kernel,
        bpf_probe_read_kernel_buf,
        generated::{
            bpf_get_attach_cookie, bpf_get_current_task_btf, bpf_get_func_arg, bpf_get_func_ip,
            bpf_get_func_ret, bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_task_pt_regs,
        },
    },
    macros::{fentry, fexit, kprobe, kretprobe, map, raw_tracepoint, tracepoint},
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, RingBuf, StackTrace},
    programs::{
        FEntryContext, FExitContext, ProbeContext, RawTracePointContext, RetProbeContext,
        TracePointContext,
    },
};
use aya_log_ebpf::debug;
use barwatch_abi::{
    COMM_LEN, FILTER_CAPACITY, FUNC_BASE, FUNC_BY_COOKIE, FUNC_CONFIG_CAPACITY, FUNC_FILTER_BASE,
    FUNC_LOST_CAPACITY, FUNC_MAPS_RET, FUNC_STACK, FUNC_STACK_IF_UNMAPPED, FUNC_UNMAPS_ARG0,
    FuncConfig, FuncRecord, INFLIGHT_CAPACITY, IOCTL_CMD_SLOTS, IOCTL_TRACEPOINT_OFFSETS,
    IoctlInflight, IoctlRecord, IrqRecord, KERNEL_HALF, MAX_BASE_HOPS, MODULE_NAME_LEN,
    ModuleRecord, NO_STACK, OFFSET_UNKNOWN, PageFaultRecord, RecordHeader, STACKS_CAPACITY,
    TracepointRecord, UNKNOWN_FD, UNMAPPED_CAPACITY, WorkRecord, alsa_ioctl_slot, is_alsa_ioctl,
    kind, probe_id,
};

/// Default ring buffer size; the agent may override it at load time.
const EVENTS_BYTES: u32 = 4 * 1024 * 1024;

#[map(name = "EVENTS")]
static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);

#[map(name = "LOST")]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(probe_id::COUNT, 0);

#[map(name = "FUNC_LOST")]
static FUNC_LOST: PerCpuHashMap<[u64; 2], u64> =
    PerCpuHashMap::with_max_entries(FUNC_LOST_CAPACITY, 0);

#[map(name = "IRQ_FILTER")]
static IRQ_FILTER: HashMap<u32, u8> = HashMap::with_max_entries(FILTER_CAPACITY, 0);

#[map(name = "IRQ_HANDLERS")]
static IRQ_HANDLERS: HashMap<u64, u8> = HashMap::with_max_entries(FILTER_CAPACITY, 0);

#[map(name = "PID_FILTER")]
static PID_FILTER: HashMap<u32, u8> = HashMap::with_max_entries(FILTER_CAPACITY, 0);

#[map(name = "IOCTL_CMDS")]
static IOCTL_CMDS: Array<u32> = Array::with_max_entries(IOCTL_CMD_SLOTS, 0);

#[map(name = "IOCTL_INFLIGHT")]
static IOCTL_INFLIGHT: Array<IoctlInflight> = Array::with_max_entries(INFLIGHT_CAPACITY, 0);

#[map(name = "IOCTL_CARRIED")]
static IOCTL_CARRIED: Array<u32> = Array::with_max_entries(1, 0);

#[map(name = "FUNC_CONFIG")]
static FUNC_CONFIG: HashMap<[u64; 2], FuncConfig> =
    HashMap::with_max_entries(FUNC_CONFIG_CAPACITY, 0);

#[map(name = "STACKS")]
static STACKS: StackTrace = StackTrace::with_max_entries(STACKS_CAPACITY, 0);

#[map(name = "TP_BASE_OFFSET")]
static TP_BASE_OFFSET: Array<u32> = Array::with_max_entries(1, 0);

#[map(name = "STACKS_LOST")]
static STACKS_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "IGNORED_BASES")]
static IGNORED_BASES: HashMap<u64, u8> = HashMap::with_max_entries(UNMAPPED_CAPACITY, 0);

#[map(name = "UNMAPPED")]
static UNMAPPED: HashMap<u64, u8> = HashMap::with_max_entries(UNMAPPED_CAPACITY, 0);

/// The bytes this CPU submitted since it last woke the reader (see
/// [`submit_flags`]).
#[map(name = "UNSIGNALLED")]
static UNSIGNALLED: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

#[unsafe(no_mangle)]
static IRQ_FILTER_ON: u32 = 0;
#[unsafe(no_mangle)]
static IRQ_LEARN_HANDLERS: u32 = 0;
#[unsafe(no_mangle)]
static BASE_FILTER_ON: u32 = 0;
#[unsafe(no_mangle)]
static PID_FILTER_ON: u32 = 0;
#[unsafe(no_mangle)]
static WAKEUP_BYTES: u32 = 0;

#[unsafe(no_mangle)]
static WORK_FUNC_OFFSET: u32 = OFFSET_UNKNOWN;
#[unsafe(no_mangle)]
static MODULE_NAME_OFFSET: u32 = OFFSET_UNKNOWN;
#[unsafe(no_mangle)]
static IRQ_HANDLER_OFFSET: u32 = OFFSET_UNKNOWN;
#[unsafe(no_mangle)]
static IRQ_THREAD_FN_OFFSET: u32 = OFFSET_UNKNOWN;
#[unsafe(no_mangle)]
static FD_RDEV_OFFSETS: [u32; 6] = [OFFSET_UNKNOWN; 6];
#[unsafe(no_mangle)]
static PT_REGS_IP_OFFSET: u32 = OFFSET_UNKNOWN;
#[unsafe(no_mangle)]
static SYSCALL_ARG_OFFSETS: [u32; 3] = [OFFSET_UNKNOWN; 3];
#[unsafe(no_mangle)]
static TASK_OFFSETS: [u32; 3] = [OFFSET_UNKNOWN; 3];

/// Frames a raw tracepoint program's stack starts with that are BPF's own: the
/// program and `bpf_trace_runN` (the flags' skip field of bpf_get_stackid).
const RAW_TP_FRAMES: u64 = 2;

/// Reads a global that userspace set at load time; volatile so the compiler keeps the
/// load instead of folding in the default.
#[inline(always)]
fn global(value: &u32) -> u32 {
    // SAFETY: `value` is a valid reference to a static.
    unsafe { read_volatile(value) }
}

/// The current task's address, typed by BTF: the verifier lets a program load
/// its members directly, each load a constant offset it checks against the type.
#[inline(always)]
fn current_task() -> u64 {
    // SAFETY: the helper takes no arguments and returns the running task.
    unsafe { bpf_get_current_task_btf() as u64 }
}

/// The member of `T` at `offset` in the BTF-typed kernel object at `object`.
/// The offset is a read-only global, a constant to the verifier, which checks
/// the load against the object's type; the JIT turns a fault into a zero.
#[inline(always)]
fn member<T>(object: u64, offset: u32) -> T {
    // SAFETY: as above: the verifier admits the load only inside a member of
    // the object's type, and the load cannot fault the kernel.
    unsafe { read_volatile((object + u64::from(offset)) as *const T) }
}

/// The current thread's process and thread ids, as `bpf_get_current_pid_tgid`
/// returns them (tgid in the high half), read from the task where BTF gave
/// the offsets.
#[inline(always)]
fn current_pid_tgid() -> u64 {
    // SAFETY: reading a global the loader may have overridden.
    let [pid, tgid, _] = unsafe { read_volatile(&TASK_OFFSETS) };
    if pid == OFFSET_UNKNOWN || tgid == OFFSET_UNKNOWN {
        return bpf_get_current_pid_tgid();
    }
    let task = current_task();
    (u64::from(member::<u32>(task, tgid)) << 32) | u64::from(member::<u32>(task, pid))
}

/// The current task's command name, NUL-padded, read from the task where BTF
/// gave its offset (in two loads: the kernel keeps it NUL-terminated).
#[inline(always)]
fn current_comm() -> [u8; COMM_LEN] {
    // SAFETY: reading a global the loader may have overridden.
    let [_, _, comm] = unsafe { read_volatile(&TASK_OFFSETS) };
    if comm == OFFSET_UNKNOWN {
        return bpf_get_current_comm().unwrap_or([0; COMM_LEN]);
    }
    let task = current_task();
    let low = member::<u64>(task, comm).to_ne_bytes();
    let high = member::<u64>(task, comm + 8).to_ne_bytes();
    let mut name = [0u8; COMM_LEN];
    name[..8].copy_from_slice(&low);
    name[8..].copy_from_slice(&high);
    name
}

/// Whether the current process passes the pid filter.
#[inline(always)]
fn pid_wanted(tgid: u32) -> bool {
    // SAFETY: map lookups return a pointer valid for this program run.
    global(&PID_FILTER_ON) == 0 || unsafe { PID_FILTER.get(&tgid) }.is_some()
}

/// Counts one lost record for `probe`.
#[inline(always)]
fn count_lost(probe: u32) {
    if let Some(counter) = LOST.get_ptr_mut(probe) {
        // SAFETY: per-CPU slot, only this CPU writes it while this program runs.
        unsafe { *counter += 1 };
    }
}

/// Counts one lost record for the function at `ip`, seen by `probe` (entry or exit).
#[inline(always)]
fn count_func_lost(ip: u64, probe: u32) {
    let key = [ip, probe as u64];
    match FUNC_LOST.get_ptr_mut(&key) {
        // SAFETY: per-CPU value, only this CPU writes it while this program runs.
        Some(counter) => unsafe { *counter += 1 },
        None => {
            let _ = FUNC_LOST.insert(&key, &1, 0);
        }
    }
}

/// The common header for a record of `kind` from `probe`.
#[inline(always)]
fn header(kind: u32, len: usize, probe: u32, pid_tgid: u64) -> RecordHeader {
    RecordHeader {
        kind,
        len: len as u32,
        // SAFETY: plain helper calls without pointer arguments.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        cpu: unsafe { bpf_get_smp_processor_id() },
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        probe,
        comm: current_comm(),
    }
}

/// How a record of `len` bytes is submitted: without waking the reader until
/// this CPU has submitted [`WAKEUP_BYTES`] since it last did (the reader polls
/// on a timer meanwhile), then with a forced wakeup; the kernel's adaptive
/// wakeup when the loader set no threshold. A per-CPU count, not a query of
/// the buffer: a helper call per record cost more than the count.
#[inline(always)]
fn submit_flags(len: usize) -> u64 {
    let threshold = global(&WAKEUP_BYTES);
    if threshold == 0 {
        return 0;
    }
    let Some(unsignalled) = UNSIGNALLED.get_ptr_mut(0) else {
        return BPF_RB_FORCE_WAKEUP as u64;
    };
    // SAFETY: per-CPU slot, only this CPU writes it while this program runs.
    unsafe {
        let bytes = *unsignalled + len as u32;
        if bytes >= threshold {
            *unsignalled = 0;
            BPF_RB_FORCE_WAKEUP as u64
        } else {
            *unsignalled = bytes;
            BPF_RB_NO_WAKEUP as u64
        }
    }
}

/// Writes `record` to the ring buffer, or counts it lost for `probe`. Returns whether
/// it was written. One helper call copies the record in (reserving and
/// submitting took two).
#[inline(always)]
fn emit<T: 'static, C: EbpfContext>(ctx: &C, record: T, probe: u32) -> bool {
    match EVENTS.output::<T>(&record, submit_flags(size_of::<T>())) {
        Ok(()) => true,
        Err(_) => {
            count_lost(probe);
            debug!(ctx, "ring buffer full: record of probe {} lost", probe);
            false
        }
    }
}

/// Whether an IRQ passes the filter: by number, or by handler function. With
/// learning on, a handler that passes by number is remembered, so its device's
/// interrupts keep passing when a suspend or rescan moves it to another vector.
#[inline(always)]
fn irq_wanted(irq: u32, handler: u64) -> bool {
    if global(&IRQ_FILTER_ON) == 0 {
        return true;
    }
    // SAFETY: map lookups.
    let by_number = unsafe { IRQ_FILTER.get(&irq) }.is_some();
    let by_handler = handler != 0 && unsafe { IRQ_HANDLERS.get(&handler) }.is_some();
    if by_number && !by_handler && handler != 0 && global(&IRQ_LEARN_HANDLERS) != 0 {
        let _ = IRQ_HANDLERS.insert(&handler, &1, 0);
    }
    by_number || by_handler
}

/// Whether calls on MMIO `base` are dropped: base filtering is on and userspace
/// found the base to be a device's it does not watch. An unmapped base always
/// passes: a touch after unmap is evidence whoever it belongs to.
#[inline(always)]
fn base_ignored(base: u64) -> bool {
    // SAFETY: map lookups.
    global(&BASE_FILTER_ON) != 0
        && base != 0
        && unsafe { IGNORED_BASES.get(&base) }.is_some()
        && unsafe { UNMAPPED.get(&base) }.is_none()
}

/// A stack id for a record, counting the stacks the kernel could not take.
#[inline(always)]
fn stack_id(taken: Result<i64, i32>) -> i64 {
    match taken {
        Ok(id) => id,
        Err(_) => {
            if let Some(counter) = STACKS_LOST.get_ptr_mut(0) {
                // SAFETY: per-CPU slot, only this CPU writes it while we run.
                unsafe { *counter += 1 };
            }
            NO_STACK
        }
    }
}

/// Records an interrupt handler's entry or exit if its IRQ passes the filter.
#[inline(always)]
fn irq_event(ctx: &RawTracePointContext, kind: u32, probe: u32, with_ret: bool) {
    let irq: u64 = ctx.arg(0);
    let irq = irq as u32;
    let action: u64 = ctx.arg(1);
    let handler = action_member(action, global(&IRQ_HANDLER_OFFSET));
    if !irq_wanted(irq, handler) {
        return;
    }
    let pid_tgid = current_pid_tgid();
    if !pid_wanted((pid_tgid >> 32) as u32) {
        return;
    }
    let ret = if with_ret {
        ctx.arg::<u64>(2) as u32
    } else {
        0
    };
    emit(
        ctx,
        IrqRecord {
            header: header(kind, size_of::<IrqRecord>(), probe, pid_tgid),
            irq,
            ret,
            handler,
            thread_fn: action_member(action, global(&IRQ_THREAD_FN_OFFSET)),
        },
        probe,
    );
}

/// A pointer-sized member of `struct irqaction` at `offset`; 0 when unknown.
#[inline(always)]
fn action_member(action: u64, offset: u32) -> u64 {
    if offset == OFFSET_UNKNOWN || action == 0 {
        return 0;
    }
    // SAFETY: bpf_probe_read_kernel checks the address and fails on a bad one.
    unsafe { bpf_probe_read_kernel((action + offset as u64) as *const u64) }.unwrap_or(0)
}

#[raw_tracepoint(tracepoint = "irq_handler_entry")]
pub fn irq_handler_entry(ctx: RawTracePointContext) -> i32 {
    irq_event(
        &ctx,
        kind::IRQ_HANDLER_ENTRY,
        probe_id::IRQ_HANDLER_ENTRY,
        false,
    );
    0
}

#[raw_tracepoint(tracepoint = "irq_handler_exit")]
pub fn irq_handler_exit(ctx: RawTracePointContext) -> i32 {
    irq_event(
        &ctx,
        kind::IRQ_HANDLER_EXIT,
        probe_id::IRQ_HANDLER_EXIT,
        true,
    );
    0
}

/// Records a work item's start or end; `function` is the work function when the
/// tracepoint passes it, otherwise it is read from the work item at the BTF offset.
#[inline(always)]
fn work_event(ctx: &RawTracePointContext, kind: u32, probe: u32, work: u64, function: Option<u64>) {
    let pid_tgid = current_pid_tgid();
    if !pid_wanted((pid_tgid >> 32) as u32) {
        return;
    }
    let function = function.unwrap_or_else(|| {
        let offset = global(&WORK_FUNC_OFFSET);
        if offset == OFFSET_UNKNOWN || work == 0 {
            return 0;
        }
        // SAFETY: bpf_probe_read_kernel checks the address and fails on a bad one.
        unsafe { bpf_probe_read_kernel((work + offset as u64) as *const u64) }.unwrap_or(0)
    });
    emit(
        ctx,
        WorkRecord {
            header: header(kind, size_of::<WorkRecord>(), probe, pid_tgid),
            work,
            function,
        },
        probe,
    );
}

#[raw_tracepoint(tracepoint = "workqueue_execute_start")]
pub fn workqueue_execute_start(ctx: RawTracePointContext) -> i32 {
    work_event(
        &ctx,
        kind::WORK_EXECUTE_START,
        probe_id::WORK_EXECUTE_START,
        ctx.arg(0),
        None,
    );
    0
}

#[raw_tracepoint(tracepoint = "workqueue_execute_end")]
pub fn workqueue_execute_end(ctx: RawTracePointContext) -> i32 {
    work_event(
        &ctx,
        kind::WORK_EXECUTE_END,
        probe_id::WORK_EXECUTE_END,
        ctx.arg(0),
        Some(ctx.arg(1)),
    );
    0
}

/// The `u64` at byte `offset` of a classic tracepoint's record, read directly:
/// the verifier checks a constant offset against the record's bounds.
#[inline(always)]
fn record_field(ctx: &TracePointContext, offset: u32) -> u64 {
    // SAFETY: the context of a classic tracepoint program is its record, at
    // least as long as the syscall event the offset comes from.
    unsafe { read_volatile(ctx.as_ptr().cast::<u8>().add(offset as usize).cast::<u64>()) }
}

/// Whether an ioctl command is one the agent asked for: the type byte first (cheap),
/// then the exact command in its slot of the known ALSA commands, so tty ioctls
/// that share ALSA timer's type byte stay out.
#[inline(always)]
fn ioctl_wanted(cmd: u32) -> bool {
    alsa_ioctl_slot(cmd).is_some_and(|slot| IOCTL_CMDS.get(slot) == Some(&cmd))
}

/// A read of the kernel's `u64` at `addr`, `None` where it faults.
#[inline(always)]
fn read_kernel(addr: u64) -> Option<u64> {
    // SAFETY: bpf_probe_read_kernel checks the address and fails on a bad one.
    unsafe { bpf_probe_read_kernel(addr as *const u64) }.ok()
}

/// A read of the kernel's `u32` at `addr`, `None` where it faults.
#[inline(always)]
fn read_kernel_u32(addr: u64) -> Option<u32> {
    // SAFETY: bpf_probe_read_kernel checks the address and fails on a bad one.
    unsafe { bpf_probe_read_kernel(addr as *const u32) }.ok()
}

/// The device number of the file at `file` (a `struct file *`), following
/// `file->f_inode->i_rdev` at the BTF offsets userspace set.
#[inline(always)]
fn file_rdev(file: u64, offsets: [u32; 6]) -> Option<u32> {
    let [_, _, _, _, f_inode, i_rdev] = offsets;
    let inode = read_kernel(file + f_inode as u64)?;
    read_kernel_u32(inode + i_rdev as u64)
}

/// The device number of the current task's file `fd`, following
/// `current->files->fdt->fd[fd]->f_inode->i_rdev` at the BTF offsets userspace
/// set. The walk to the `fd` array loads BTF-typed members directly; the
/// array's slot and what follows are untyped to the verifier and cost a
/// helper call each.
#[inline(always)]
fn fd_rdev(fd: u32) -> Option<u32> {
    // SAFETY: reading a global the loader may have overridden.
    let offsets = unsafe { read_volatile(&FD_RDEV_OFFSETS) };
    let [files, fdt, max_fds, fd_array, _, _] = offsets;
    if offsets.contains(&OFFSET_UNKNOWN) {
        return None;
    }
    let files: u64 = member(current_task(), files);
    if files == 0 {
        return None;
    }
    let fdt: u64 = member(files, fdt);
    if fdt == 0 {
        return None;
    }
    let limit: u32 = member(fdt, max_fds);
    let fd_array: u64 = member(fdt, fd_array);
    if fd >= limit || fd_array == 0 {
        return None;
    }
    let file = read_kernel(fd_array + fd as u64 * 8)?;
    file_rdev(file, offsets)
}

/// What took an ioctl's entry: a syscall hook, which has the file descriptor,
/// or the probe of the ALSA file operation at `ip`, which has the file.
#[derive(Clone, Copy)]
enum IoctlSource {
    /// `syscalls:sys_enter_ioctl` or the ioctl syscall's function.
    Syscall,
    /// An ALSA ioctl file operation, called with `file`.
    FileOperation { ip: u64, file: u64 },
}

/// The probe id a record from `ip` (0 for the syscall hooks) is counted under.
#[inline(always)]
fn ioctl_probe(ip: u64, exit: bool) -> u32 {
    match (ip != 0, exit) {
        (false, false) => probe_id::IOCTL_ENTER,
        (false, true) => probe_id::IOCTL_EXIT,
        (true, false) => probe_id::FUNC_ENTRY,
        (true, true) => probe_id::FUNC_EXIT,
    }
}

/// Counts a lost ioctl record of the source at `ip` (0 for the syscall hooks).
#[inline(always)]
fn count_ioctl_lost(ip: u64, exit: bool) {
    let probe = ioctl_probe(ip, exit);
    count_lost(probe);
    if ip != 0 {
        count_func_lost(ip, probe);
    }
}

/// Records the entry of an ioctl the filters want, keeping what its exit
/// record repeats until then.
#[inline(always)]
fn ioctl_enter<C: EbpfContext>(ctx: &C, fd: u32, cmd: u32, arg: u64, source: IoctlSource) {
    let pid_tgid = current_pid_tgid();
    if !pid_wanted((pid_tgid >> 32) as u32) {
        return;
    }
    let (rdev, ip) = match source {
        IoctlSource::Syscall => (fd_rdev(fd), 0),
        IoctlSource::FileOperation { ip, file } => {
            // SAFETY: reading a global the loader may have overridden.
            let offsets = unsafe { read_volatile(&FD_RDEV_OFFSETS) };
            let known = offsets[4] != OFFSET_UNKNOWN && offsets[5] != OFFSET_UNKNOWN;
            (known.then(|| file_rdev(file, offsets)).flatten(), ip)
        }
    };
    let inflight = IoctlInflight {
        fd,
        cmd,
        arg,
        rdev: rdev.unwrap_or(0),
        tid: 0,
        ip,
    };
    let probe = ioctl_probe(ip, false);
    let written = emit(
        ctx,
        IoctlRecord {
            header: header(kind::IOCTL_ENTER, size_of::<IoctlRecord>(), probe, pid_tgid),
            fd,
            cmd,
            arg,
            ret: 0,
            rdev: inflight.rdev,
            reserved: 0,
            ip,
        },
        probe,
    );
    if written {
        hold_ioctl(pid_tgid as u32, inflight);
    } else if ip != 0 {
        count_func_lost(ip, probe);
    }
}

/// Keeps the call `inflight` of thread `tid` in its slot until its exit. The
/// slot is marked free while it is written and names its thread last, so an
/// exit reading it meanwhile sees another thread's mark and leaves it. A call
/// of another thread still held there (their threads' ids collide) is pushed
/// out: its exit will not be recorded, and is counted lost now.
#[inline(always)]
fn hold_ioctl(tid: u32, inflight: IoctlInflight) {
    let Some(slot) = IOCTL_INFLIGHT.get_ptr_mut(tid % INFLIGHT_CAPACITY) else {
        return;
    };
    // SAFETY: `slot` points into the array's value memory for this run; the
    // writes are volatile so they stay in this order.
    unsafe {
        let held = read_volatile(&(*slot).tid);
        if held != 0 && held != tid {
            count_ioctl_lost(read_volatile(&(*slot).ip), true);
        }
        write_volatile(&mut (*slot).tid, 0);
        write_volatile(slot, IoctlInflight { tid: 0, ..inflight });
        write_volatile(&mut (*slot).tid, tid);
    }
}

/// Takes the call of thread `tid` out of its slot, if the slot holds one. A
/// call of a colliding thread written into the slot between the last check and
/// the release would go with it; the window is a few instructions wide and
/// needs two threads with ids equal modulo [`INFLIGHT_CAPACITY`] entering ALSA
/// ioctls within it.
#[inline(always)]
fn release_ioctl(tid: u32) -> Option<IoctlInflight> {
    let slot = IOCTL_INFLIGHT.get_ptr_mut(tid % INFLIGHT_CAPACITY)?;
    // SAFETY: as in `hold_ioctl`.
    unsafe {
        if read_volatile(&(*slot).tid) != tid {
            return None;
        }
        let inflight = read_volatile(slot);
        if read_volatile(&(*slot).tid) != tid {
            return None;
        }
        write_volatile(&mut (*slot).tid, 0);
        Some(inflight)
    }
}

/// Records the exit of an ioctl whose entry was recorded, with its return value.
#[inline(always)]
fn ioctl_exit<C: EbpfContext>(ctx: &C, ret: i64) {
    let pid_tgid = current_pid_tgid();
    let Some(inflight) = release_ioctl(pid_tgid as u32) else {
        return;
    };
    let probe = ioctl_probe(inflight.ip, true);
    let written = emit(
        ctx,
        IoctlRecord {
            header: header(kind::IOCTL_EXIT, size_of::<IoctlRecord>(), probe, pid_tgid),
            fd: inflight.fd,
            cmd: inflight.cmd,
            arg: inflight.arg,
            ret,
            rdev: inflight.rdev,
            reserved: 0,
            ip: inflight.ip,
        },
        probe,
    );
    if !written && inflight.ip != 0 {
        count_func_lost(inflight.ip, probe);
    }
}

#[tracepoint(category = "syscalls", name = "sys_enter_ioctl")]
pub fn sys_enter_ioctl(ctx: TracePointContext) -> i32 {
    let [fd, cmd, arg, _] = IOCTL_TRACEPOINT_OFFSETS;
    let cmd = record_field(&ctx, cmd) as u32;
    if ioctl_wanted(cmd) {
        let fd = record_field(&ctx, fd) as u32;
        ioctl_enter(&ctx, fd, cmd, record_field(&ctx, arg), IoctlSource::Syscall);
    }
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_ioctl")]
pub fn sys_exit_ioctl(ctx: TracePointContext) -> i32 {
    ioctl_exit(&ctx, record_field(&ctx, IOCTL_TRACEPOINT_OFFSETS[3]) as i64);
    0
}

/// The saved register at `offset` in the BTF-typed `struct pt_regs` at `regs`
/// (the syscall function's argument, or the task's saved registers); 0 when it
/// cannot be read. A direct load (see [`member`]), not a helper call.
#[inline(always)]
fn saved_register(regs: u64, offset: u32) -> u64 {
    if regs == 0 || offset == OFFSET_UNKNOWN {
        return 0;
    }
    member(regs, offset)
}

/// [`sys_enter_ioctl`] from the entry of the ioctl syscall's own function, which
/// takes the registers saved at syscall entry: no syscall tracepoint, so other
/// syscalls keep their fast path. The command is read first, so an unwatched
/// ioctl costs one read and the filter.
#[fentry(function = "__x64_sys_ioctl")]
pub fn sys_ioctl_fentry(ctx: FEntryContext) -> i32 {
    let regs: u64 = ctx.arg(0);
    // SAFETY: reading a global the loader may have overridden.
    let [fd, cmd, arg] = unsafe { read_volatile(&SYSCALL_ARG_OFFSETS) };
    let cmd = saved_register(regs, cmd) as u32;
    if ioctl_wanted(cmd) {
        ioctl_enter(
            &ctx,
            saved_register(regs, fd) as u32,
            cmd,
            saved_register(regs, arg),
            IoctlSource::Syscall,
        );
    }
    0
}

/// [`sys_exit_ioctl`] from the return of the ioctl syscall's function. Its
/// arguments are still there: an ioctl whose command is not ALSA's is let go
/// before the map of calls in flight is searched.
#[fexit(function = "__x64_sys_ioctl")]
pub fn sys_ioctl_fexit(ctx: FExitContext) -> i32 {
    let regs: u64 = ctx.arg(0);
    // SAFETY: reading a global the loader may have overridden.
    let cmd = unsafe { read_volatile(&SYSCALL_ARG_OFFSETS) }[1];
    if is_alsa_ioctl(saved_register(regs, cmd) as u32) {
        // The return value follows the function's one argument.
        ioctl_exit(&ctx, ctx.arg::<u64>(1) as i64);
    }
    0
}

/// Records a kernel-mode page fault on a kernel address, with its stack: the
/// evidence of an MMIO access after unmap that the accessor probes cannot see
/// (an inlined readl, a path without a profile entry).
#[raw_tracepoint(tracepoint = "page_fault_kernel")]
pub fn page_fault_kernel(ctx: RawTracePointContext) -> i32 {
    let address: u64 = ctx.arg(0);
    if address < KERNEL_HALF {
        return 0;
    }
    let pid_tgid = current_pid_tgid();
    if !pid_wanted((pid_tgid >> 32) as u32) {
        return 0;
    }
    let regs: u64 = ctx.arg(1);
    let offset = global(&PT_REGS_IP_OFFSET);
    let ip = if offset == OFFSET_UNKNOWN || regs == 0 {
        0
    } else {
        // SAFETY: bpf_probe_read_kernel checks the address and fails on a bad one.
        unsafe { bpf_probe_read_kernel((regs + offset as u64) as *const u64) }.unwrap_or(0)
    };
    let probe = probe_id::PAGE_FAULT_KERNEL;
    emit(
        &ctx,
        PageFaultRecord {
            header: header(
                kind::PAGE_FAULT_KERNEL,
                size_of::<PageFaultRecord>(),
                probe,
                pid_tgid,
            ),
            address,
            ip,
            error_code: ctx.arg(2),
            // Skips this program's frame and bpf_trace_run3's, so the stack starts
            // at the kernel's fault handler.
            stack_id: stack_id(ctx.get_stackid(&STACKS, RAW_TP_FRAMES)),
        },
        probe,
    );
    0
}

/// Records one of the HD-audio drivers' tracepoints with its first `arity`
/// arguments and the controller's MMIO base read through the first.
#[inline(always)]
fn hda_tracepoint(ctx: &RawTracePointContext, probe: u32, arity: u32) -> i32 {
    let pid_tgid = current_pid_tgid();
    if !pid_wanted((pid_tgid >> 32) as u32) {
        return 0;
    }
    // Each argument is read only below the tracepoint's arity: the kernel refuses a
    // raw tracepoint program that reads past its context.
    let mut args = [0u64; 4];
    args[0] = ctx.arg(0);
    if arity > 1 {
        args[1] = ctx.arg(1);
    }
    if arity > 2 {
        args[2] = ctx.arg(2);
    }
    if arity > 3 {
        args[3] = ctx.arg(3);
    }
    // The slot holds the offset plus one; 0 until userspace knows it.
    let offset_plus_one = TP_BASE_OFFSET.get(0).copied().unwrap_or(0);
    let base = if offset_plus_one == 0 || args[0] == 0 {
        0
    } else {
        let field = args[0] + u64::from(offset_plus_one) - 1;
        // SAFETY: bpf_probe_read_kernel checks the address and fails on a bad one.
        unsafe { bpf_probe_read_kernel(field as *const u64) }.unwrap_or(0)
    };
    if base_ignored(base) {
        return 0;
    }
    emit(
        ctx,
        TracepointRecord {
            header: header(
                kind::TRACEPOINT,
                size_of::<TracepointRecord>(),
                probe,
                pid_tgid,
            ),
            args,
            base,
        },
        probe,
    );
    0
}

/// One program per HD-audio tracepoint (see `HDA_TRACEPOINTS`): a raw tracepoint
/// program cannot tell which tracepoint it is attached to, and its context is as
/// wide as that tracepoint's arguments.
macro_rules! hda_tracepoints {
    ($($index:literal: $name:ident / $arity:literal;)*) => {$(
        #[raw_tracepoint]
        pub fn $name(ctx: RawTracePointContext) -> i32 {
            hda_tracepoint(&ctx, probe_id::FIRST_HDA_TRACEPOINT + $index, $arity)
        }
    )*};
}

hda_tracepoints! {
    0: hda_send_cmd / 2;
    1: hda_get_response / 3;
    2: hda_unsol_event / 3;
    3: snd_hdac_stream_start / 2;
    4: snd_hdac_stream_stop / 2;
    5: azx_pcm_trigger / 3;
    6: azx_get_position / 4;
    7: azx_pcm_open / 2;
    8: azx_pcm_close / 2;
    9: azx_pcm_hw_params / 2;
    10: azx_pcm_prepare / 2;
    11: azx_suspend / 1;
    12: azx_resume / 1;
    13: azx_runtime_suspend / 1;
    14: azx_runtime_resume / 1;
}

/// Records a module load, so the agent can attach the probes waiting for it.
#[raw_tracepoint(tracepoint = "module_load")]
pub fn module_load(ctx: RawTracePointContext) -> i32 {
    let module: u64 = ctx.arg(0);
    let pid_tgid = current_pid_tgid();
    let mut name = [0u8; MODULE_NAME_LEN];
    let offset = global(&MODULE_NAME_OFFSET);
    if offset != OFFSET_UNKNOWN && module != 0 {
        // SAFETY: bpf_probe_read_kernel_buf checks the address and fails on a bad one.
        let _ =
            unsafe { bpf_probe_read_kernel_buf((module + offset as u64) as *const u8, &mut name) };
    }
    let probe = probe_id::MODULE_LOAD;
    emit(
        &ctx,
        ModuleRecord {
            header: header(
                kind::MODULE_LOAD,
                size_of::<ModuleRecord>(),
                probe,
                pid_tgid,
            ),
            name,
        },
        probe,
    );
    0
}

/// Follows a function's base path from its arguments to the MMIO base: each hop
/// reads the u64 at `pointer + offset`. Zero when the path breaks.
#[inline(always)]
fn mmio_base(config: &FuncConfig, args: &[u64; 4]) -> u64 {
    let mut pointer = args[(config.base_arg & 3) as usize];
    for hop in 0..MAX_BASE_HOPS {
        if hop as u32 >= config.base_hops || pointer == 0 {
            break;
        }
        let at = pointer.wrapping_add(config.base_offsets[hop] as u64);
        // SAFETY: bpf_probe_read_kernel checks the address and fails on a bad one.
        pointer = unsafe { bpf_probe_read_kernel(at as *const u64) }.unwrap_or(0);
    }
    pointer
}

/// Records a function entry or return for whichever function this program is
/// attached to; one program serves every function probe. Per-function settings
/// say whether to read an MMIO base, take a stack, or track mappings; they are
/// keyed by the function's address, or by `cookie` (non-zero) for a function
/// armed before its module loaded.
#[inline(always)]
fn func_event<C: EbpfContext + StackIdContext>(
    ctx: &C,
    kind: u32,
    probe: u32,
    args: [u64; 4],
    ret: u64,
    cookie: u64,
) {
    let pid_tgid = current_pid_tgid();
    if !pid_wanted((pid_tgid >> 32) as u32) {
        return;
    }
    // SAFETY: bpf_get_func_ip only reads the program's context.
    let ip = unsafe { bpf_get_func_ip(ctx.as_ptr()) };
    let exit = kind == kind::FUNC_EXIT;
    // SAFETY: map lookup; the value is copied out.
    let config = unsafe { FUNC_CONFIG.get(&[ip, exit as u64]) }
        .copied()
        .or_else(|| {
            // SAFETY: map lookup; the value is copied out.
            (cookie != 0)
                .then(|| unsafe { FUNC_CONFIG.get(&[cookie, FUNC_BY_COOKIE + exit as u64]) })
                .flatten()
                .copied()
        })
        .unwrap_or_default();
    if exit && config.flags & FUNC_MAPS_RET != 0 && ret != 0 {
        let _ = UNMAPPED.remove(&ret);
        // A new mapping at this address may be a watched device's.
        let _ = IGNORED_BASES.remove(&ret);
    }
    if !exit && config.flags & FUNC_UNMAPS_ARG0 != 0 && args[0] != 0 {
        let _ = UNMAPPED.insert(&args[0], &1, 0);
    }
    let base = if !exit && config.flags & FUNC_BASE != 0 {
        mmio_base(&config, &args)
    } else {
        0
    };
    // SAFETY: map lookup.
    let base_unmapped = base != 0 && unsafe { UNMAPPED.get(&base) }.is_some();
    if config.flags & FUNC_FILTER_BASE != 0 && base_ignored(base) {
        return;
    }
    let want_stack = config.flags & FUNC_STACK != 0
        || (config.flags & FUNC_STACK_IF_UNMAPPED != 0 && base_unmapped);
    let stack_id = if want_stack {
        stack_id(ctx.get_stackid(&STACKS, 0))
    } else {
        NO_STACK
    };
    let written = emit(
        ctx,
        FuncRecord {
            header: header(kind, size_of::<FuncRecord>(), probe, pid_tgid),
            ip,
            args,
            ret,
            base,
            stack_id,
        },
        probe,
    );
    if !written {
        count_func_lost(ip, probe);
    }
}

/// A kprobe's first four arguments.
#[inline(always)]
fn probe_args(ctx: &ProbeContext) -> [u64; 4] {
    [
        ctx.arg::<u64>(0).unwrap_or(0),
        ctx.arg::<u64>(1).unwrap_or(0),
        ctx.arg::<u64>(2).unwrap_or(0),
        ctx.arg::<u64>(3).unwrap_or(0),
    ]
}

#[kprobe]
pub fn func_entry(ctx: ProbeContext) -> u32 {
    let args = probe_args(&ctx);
    func_event(&ctx, kind::FUNC_ENTRY, probe_id::FUNC_ENTRY, args, 0, 0);
    0
}

#[kretprobe]
pub fn func_exit(ctx: RetProbeContext) -> u32 {
    let ret: u64 = ctx.ret();
    func_event(&ctx, kind::FUNC_EXIT, probe_id::FUNC_EXIT, [0; 4], ret, 0);
    0
}

/// [`func_entry`] for a function armed before its module loaded (a tracefs kprobe
/// event): its settings are found by the attach cookie. A program of its own, as
/// `bpf_get_attach_cookie` needs Linux 5.15 and the others must load on older ones.
#[kprobe]
pub fn func_entry_armed(ctx: ProbeContext) -> u32 {
    let args = probe_args(&ctx);
    // SAFETY: the helper reads the program's run context only.
    let cookie = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
    func_event(
        &ctx,
        kind::FUNC_ENTRY,
        probe_id::FUNC_ENTRY,
        args,
        0,
        cookie,
    );
    0
}

/// [`func_exit`] for a function armed before its module loaded.
#[kretprobe]
pub fn func_exit_armed(ctx: RetProbeContext) -> u32 {
    let ret: u64 = ctx.ret();
    // SAFETY: the helper reads the program's run context only.
    let cookie = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
    func_event(
        &ctx,
        kind::FUNC_EXIT,
        probe_id::FUNC_EXIT,
        [0; 4],
        ret,
        cookie,
    );
    0
}

/// Whether the ALSA ioctl file operations' probes carry the ALSA ioctls (the
/// loader set [`IOCTL_CARRIED`] once every one of them attached).
#[inline(always)]
fn ioctls_carried() -> bool {
    IOCTL_CARRIED.get(0) == Some(&1)
}

/// The file descriptor the current thread's ioctl syscall was issued on, when
/// the call now in an ALSA file operation came from one with command `cmd`, as
/// the registers saved at syscall entry say; [`UNKNOWN_FD`] otherwise (a 32-bit
/// process's ioctl reaches the file operation through its compat twin and
/// saved its arguments in other registers).
#[inline(always)]
fn syscall_fd(cmd: u32) -> u32 {
    // SAFETY: reading a global the loader may have overridden.
    let [fd, saved_cmd, _] = unsafe { read_volatile(&SYSCALL_ARG_OFFSETS) };
    if fd == OFFSET_UNKNOWN || saved_cmd == OFFSET_UNKNOWN {
        return UNKNOWN_FD;
    }
    // SAFETY: both helpers take and return the current task's own structures.
    let regs = unsafe { bpf_task_pt_regs(bpf_get_current_task_btf()) } as u64;
    if regs == 0 || saved_register(regs, saved_cmd) as u32 != cmd {
        return UNKNOWN_FD;
    }
    saved_register(regs, fd) as u32
}

/// An ALSA ioctl file operation's entry (`long (*)(struct file *, unsigned int
/// cmd, unsigned long arg)`, as the profile says): an ALSA ioctl reaching
/// the driver, recorded with its file's device number, where
/// [`IOCTL_CARRIED`] says so; else a call like any [`func_entry`] records.
#[kprobe]
pub fn alsa_ioctl_entry(ctx: ProbeContext) -> u32 {
    let args = probe_args(&ctx);
    if ioctls_carried() {
        // SAFETY: bpf_get_func_ip only reads the program's context.
        let ip = unsafe { bpf_get_func_ip(ctx.as_ptr()) };
        let cmd = args[1] as u32;
        let source = IoctlSource::FileOperation { ip, file: args[0] };
        ioctl_enter(&ctx, syscall_fd(cmd), cmd, args[2], source);
    } else {
        func_event(&ctx, kind::FUNC_ENTRY, probe_id::FUNC_ENTRY, args, 0, 0);
    }
    0
}

/// The return of an ALSA ioctl file operation: the ioctl's exit where
/// [`IOCTL_CARRIED`] says so, else a return like any [`func_exit`] records.
#[kretprobe]
pub fn alsa_ioctl_exit(ctx: RetProbeContext) -> u32 {
    let ret: u64 = ctx.ret();
    if ioctls_carried() {
        ioctl_exit(&ctx, ret as i64);
    } else {
        func_event(&ctx, kind::FUNC_EXIT, probe_id::FUNC_EXIT, [0; 4], ret, 0);
    }
    0
}

/// The fentry twin of [`func_entry`], for kernels without kprobes. Arguments are
/// read with `bpf_get_func_arg`, which fails cleanly past the function's arity.
#[inline(always)]
fn fentry_event(ctx: &FEntryContext) -> i32 {
    let mut args = [0u64; 4];
    for (n, slot) in args.iter_mut().enumerate() {
        let mut value = 0u64;
        // SAFETY: the helper writes one u64 into `value` and checks `n`.
        if unsafe { bpf_get_func_arg(ctx.as_ptr(), n as u32, &mut value) } == 0 {
            *slot = value;
        }
    }
    func_event(ctx, kind::FUNC_ENTRY, probe_id::FUNC_ENTRY, args, 0, 0);
    0
}

/// The fexit twin of [`func_exit`].
#[inline(always)]
fn fexit_event(ctx: &FExitContext) -> i32 {
    let mut ret = 0u64;
    // SAFETY: the helper writes one u64 into `ret`.
    unsafe { bpf_get_func_ret(ctx.as_ptr(), &mut ret) };
    func_event(ctx, kind::FUNC_EXIT, probe_id::FUNC_EXIT, [0; 4], ret, 0);
    0
}

/// fentry and fexit programs fix their target function when loaded, so each
/// function watched through them needs its own copy: `TRAMPOLINE_SLOTS` of each,
/// named as `FENTRY_PROGRAMS` and `FEXIT_PROGRAMS` list them. The target named here
/// is only a default; the agent picks the function at load time.
macro_rules! trampoline_slots {
    ($($entry:ident, $exit:ident;)*) => {$(
        #[fentry(function = "ioremap")]
        pub fn $entry(ctx: FEntryContext) -> i32 {
            fentry_event(&ctx)
        }

        #[fexit(function = "ioremap")]
        pub fn $exit(ctx: FExitContext) -> i32 {
            fexit_event(&ctx)
        }
    )*};
}

trampoline_slots! {
    func_fentry_0, func_fexit_0;
    func_fentry_1, func_fexit_1;
    func_fentry_2, func_fexit_2;
    func_fentry_3, func_fexit_3;
    func_fentry_4, func_fexit_4;
    func_fentry_5, func_fexit_5;
    func_fentry_6, func_fexit_6;
    func_fentry_7, func_fexit_7;
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
