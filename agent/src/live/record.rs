//! The recording loop: ring buffer to events to capture file, until a duration
//! passes, Ctrl-C or SIGTERM, always ending with the trailer.

use std::{future::Future, io::Write, time::Duration};

use rustc_hash::FxHashMap;

use aya::maps::{MapData, RingBuf, StackTraceMap};
use thiserror::Error;
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{SignalKind, signal},
    time::{MissedTickBehavior, interval},
};

use super::loader::{LiveError, LiveProbes};
use crate::{
    capture::{format::Trailer, writer::CaptureWriter, writer::WriteError},
    decode::{self, Decoder, Symbol, Symbols},
    device::{PciDevice, attribution::DeviceMap, sysfs::read_pci_devices},
    event::{Event, EventData},
    pipeline::Pipeline,
    probe_table::{Edge, MappingOp, ProbeStatus, Role},
};

/// How often buffered capture lines reach the file at the latest.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// How soon the ring buffer is drained again after a drain that found
/// records, whether or not it woke the reader: the BPF side submits without a
/// wakeup until each CPU has put its share of a quarter of the buffer in it.
/// Draining often keeps the buffer short and its lines warm: the kernel bench measured 1.5-1.75 us per recorded
/// ALSA ioctl polling every 1 ms against 2.06-2.26 us every 10 ms.
pub const POLL_BUSY: Duration = Duration::from_millis(1);

/// The longest wait between drains, reached by doubling from [`POLL_BUSY`]
/// while drains find nothing: how late a record of a quiet moment is read, and
/// an idle recorder wakes 50 times a second, not 1 000.
pub const POLL_IDLE: Duration = Duration::from_millis(20);

/// Why recording stopped with an error.
#[derive(Debug, Error)]
pub enum RecordError {
    /// Starting or reading the probes failed.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// Writing the capture failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Waiting on the ring buffer or on signals failed.
    #[error("waiting for kernel records or signals failed")]
    Wait(#[source] std::io::Error),
}

/// Why the recording ended normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The requested duration passed.
    Duration,
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// The command `barwatch check` ran has finished and its cycles closed.
    CommandDone,
    /// The command finished, but a cycle was still open when the wait ended.
    WaitTimedOut,
    /// Nobody reads the capture any more: the pipe's reader went away.
    ReaderGone,
}

/// What a finished recording reports.
#[derive(Debug)]
pub struct Recorded {
    /// The trailer that was written.
    pub trailer: Trailer,
    /// Why recording stopped.
    pub reason: StopReason,
}

/// What ends a recording, once the future given to [`record`] resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// Stop now, for this reason.
    Stop(StopReason),
    /// Stop once no cycle of the pipeline's analysis is open
    /// ([`StopReason::CommandDone`]), or at `deadline` with one still open
    /// ([`StopReason::WaitTimedOut`]).
    CyclesClosed {
        /// When to give up waiting.
        deadline: tokio::time::Instant,
    },
}

/// How often open cycles are looked at while waiting for them to close.
pub const CYCLES_CHECK_EVERY: Duration = Duration::from_millis(100);

/// Ends a recording after `duration`, or never (only a signal ends it then).
pub async fn after(duration: Option<Duration>) -> Until {
    match duration {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending::<()>().await,
    }
    Until::Stop(StopReason::Duration)
}

/// How often a recording looks whether its output's reader is still there.
pub const READER_CHECK_EVERY: Duration = Duration::from_millis(200);

/// Resolves once nobody reads `output` any more (see
/// [`crate::output::reader_gone`]): a recording with nothing to write would not
/// learn it from a failed write.
pub async fn reader_gone(output: std::os::fd::OwnedFd) -> Until {
    use std::os::fd::AsFd as _;
    let mut check = interval(READER_CHECK_EVERY);
    check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        check.tick().await;
        if crate::output::reader_gone(output.as_fd()) {
            return Until::Stop(StopReason::ReaderGone);
        }
    }
}

/// Records from `probes` into `writer` until `until` says to stop or a signal
/// arrives, then writes the trailer with the kernel's loss counts. Each event is
/// marked with the watched device `devices` attributes it to, and once written
/// goes on into `pipeline` (the live analysis and its sinks), when there is one.
pub async fn record<W: Write>(
    mut probes: LiveProbes,
    mut devices: DeviceMap,
    mut writer: CaptureWriter<W>,
    until: impl Future<Output = Until>,
    mut pipeline: Option<&mut Pipeline<'_>>,
) -> Result<Recorded, RecordError> {
    let mut until = std::pin::pin!(until);
    let mut cycles_deadline: Option<tokio::time::Instant> = None;
    let mut cycles_check = interval(CYCLES_CHECK_EVERY);
    cycles_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut ring = readable(probes.take_ring()?)?;
    let stacks = probes.take_stacks()?;
    let mut logger = match probes.take_logger() {
        Some(logger) => Some(readable(logger)?),
        None => None,
    };
    let mut interrupt = signal(SignalKind::interrupt()).map_err(RecordError::Wait)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(RecordError::Wait)?;
    // A terminal that went away (SSH dropped, tmux killed) hangs its processes
    // up: the capture still gets its trailer.
    let mut hangup = signal(SignalKind::hangup()).map_err(RecordError::Wait)?;
    let mut flush = interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut decode_errors = 0u64;
    let mut devices_seen = devices.generation();
    let mut rereads = reread_probes(&probes.table);
    devices.index_probes(&probes.table);
    let mut decoder = Decoder::default();

    let mut poll_in = POLL_BUSY;
    let poll = tokio::time::sleep(poll_in);
    let mut poll = std::pin::pin!(poll);

    let reason = loop {
        let drain_now = tokio::select! {
            ready = ring.readable_mut() => {
                // Cleared before draining: a wakeup during the drain is kept.
                ready.map_err(RecordError::Wait)?.clear_ready();
                true
            }
            () = &mut poll => true,
            ready = async { logger.as_mut().expect("guarded by the branch condition").readable_mut().await }, if logger.is_some() => {
                let mut guard = ready.map_err(RecordError::Wait)?;
                guard.get_inner_mut().flush();
                guard.clear_ready();
                false
            }
            _ = flush.tick() => {
                writer.flush()?;
                false
            }
            _ = interrupt.recv() => break StopReason::Interrupt,
            _ = terminate.recv() => break StopReason::Terminate,
            _ = hangup.recv() => break StopReason::Terminate,
            until = &mut until, if cycles_deadline.is_none() => match until {
                Until::Stop(reason) => break reason,
                Until::CyclesClosed { deadline } => {
                    cycles_deadline = Some(deadline);
                    false
                }
            },
            _ = cycles_check.tick(), if cycles_deadline.is_some() => {
                if !pipeline.as_deref().is_some_and(Pipeline::has_open_cycle) {
                    break StopReason::CommandDone;
                }
                if cycles_deadline.is_some_and(|deadline| tokio::time::Instant::now() >= deadline) {
                    break StopReason::WaitTimedOut;
                }
                false
            }
        };
        if !drain_now {
            continue;
        }
        let mut records = 0;
        loop {
            let drained = drain(
                ring.get_mut(),
                &mut decoder,
                &resolver(&probes, &stacks),
                &rereads,
                &mut devices,
                &mut writer,
                pipeline.as_deref_mut(),
            )?;
            records += drained.records;
            decode_errors += drained.errors;
            // A filter that cannot be updated costs precision or overhead, not
            // the recording: say so and go on.
            if devices.generation() != devices_seen {
                devices_seen = devices.generation();
                if let Err(e) = probes.watch_irqs(&devices.irqs()) {
                    log::warn!("the IRQ filter misses a watched device's new vectors: {e}");
                }
            }
            let ignored = devices.take_ignored_bases();
            if let Err(e) = probes.ignore_bases(&ignored) {
                log::warn!("other devices' accessor calls keep being recorded: {e}");
            }
            let Some((module, loaded_ns)) = drained.module else {
                break;
            };
            after_module_load(&mut probes, &mut writer, &module, loaded_ns)?;
            rereads = reread_probes(&probes.table);
            devices.index_probes(&probes.table);
        }
        poll_in = if records > 0 {
            POLL_BUSY
        } else {
            (poll_in * 2).min(POLL_IDLE)
        };
        poll.as_mut().reset(tokio::time::Instant::now() + poll_in);
    };
    loop {
        let drained = drain(
            ring.get_mut(),
            &mut decoder,
            &resolver(&probes, &stacks),
            &rereads,
            &mut devices,
            &mut writer,
            pipeline.as_deref_mut(),
        )?;
        decode_errors += drained.errors;
        let Some((module, loaded_ns)) = drained.module else {
            break;
        };
        after_module_load(&mut probes, &mut writer, &module, loaded_ns)?;
        rereads = reread_probes(&probes.table);
        devices.index_probes(&probes.table);
    }
    // The capture ends with each watched device as it is now: gone, unbound or
    // back, and where its BARs are.
    if let Some(now) = reread_sysfs() {
        devices.update(now);
    }
    let now_ns = monotonic_now_ns();
    for change in devices.take_changes() {
        let state = change.into_event(now_ns, 0);
        writer.write_event(&state)?;
        if let Some(pipeline) = pipeline.as_deref_mut() {
            pipeline.push(state);
        }
    }
    let lost = probes.lost_by_probe()?;
    let stacks_lost = probes.stacks_lost()?;
    if stacks_lost > 0 {
        log::warn!(
            "{stacks_lost} kernel stacks could not be taken (stack map full or colliding); those events carry none"
        );
    }
    let trailer = writer.finish(lost, decode_errors, stacks_lost, unix_now_ns())?;
    Ok(Recorded { trailer, reason })
}

/// Brings the probes up to date after `module` loaded at `loaded_ns`: its
/// symbols, for naming the records after its load, and the points that waited
/// for it; the capture notes the new table and the spans they were blind.
fn after_module_load<W: Write>(
    probes: &mut LiveProbes,
    writer: &mut CaptureWriter<W>,
    module: &str,
    loaded_ns: u64,
) -> Result<(), RecordError> {
    if let Some(blind) = probes.attach_after_module_load(module, loaded_ns)? {
        writer.update_probe_table(&probes.table);
        for span in blind {
            writer.add_blind_span(span);
        }
    }
    Ok(())
}

/// Names kernel addresses from kallsyms and resolves stack ids from the stack map.
struct LiveSymbols<'a> {
    kallsyms: &'a super::kallsyms::Kallsyms,
    stacks: &'a StackTraceMap<MapData>,
}

impl Symbols for LiveSymbols<'_> {
    fn symbol(&self, addr: u64) -> Option<Symbol> {
        self.kallsyms.symbol(addr)
    }

    fn stack(&self, stack_id: i64) -> Option<Vec<u64>> {
        let id = u32::try_from(stack_id).ok()?;
        let trace = self.stacks.get(&id, 0).ok()?;
        Some(trace.frames().iter().map(|f| f.ip).collect())
    }
}

/// The resolver for one drain.
fn resolver<'a>(probes: &'a LiveProbes, stacks: &'a StackTraceMap<MapData>) -> LiveSymbols<'a> {
    LiveSymbols {
        kallsyms: &probes.kallsyms,
        stacks,
    }
}

/// Registers a BPF map's file descriptor with the reactor for readability.
fn readable<T: std::os::fd::AsRawFd>(inner: T) -> Result<AsyncFd<T>, RecordError> {
    // SAFETY: `inner` owns its file descriptor (a BPF map fd) for its whole
    // lifetime, and the AsyncFd owns `inner`, so the fd stays open and the same.
    unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) }
        .map_err(|e| RecordError::Wait(std::io::Error::other(e.to_string())))
}

/// What one drain of the ring buffer saw besides the events it wrote.
struct Drained {
    /// Records read.
    records: u64,
    /// Records that could not be decoded (each is also logged).
    errors: u64,
    /// The module whose load ended the drain, and when it loaded: the records
    /// after it may come from the module's functions, which the symbols known so
    /// far cannot name.
    module: Option<(String, u64)>,
}

/// Reads the PCI devices from sysfs again, for a key no known device matched.
fn reread_sysfs() -> Option<Vec<PciDevice>> {
    read_pci_devices(std::path::Path::new("/sys"))
        .inspect_err(|e| log::warn!("cannot re-read /sys/bus/pci/devices: {e}"))
        .ok()
}

/// Why sysfs is read again after a probe's call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reread {
    /// After every call: a PCI core stop marker (remove, unbind, hot-unplug),
    /// after which a device may be gone or without its driver.
    Always,
    /// After an unmap of a watched device's mapping.
    WhenWatched,
}

/// The probes after whose calls the watched devices' sysfs state is read again,
/// and when: the PCI core's stop markers, and the probes the profiles say unmap.
fn reread_probes(table: &[ProbeStatus]) -> FxHashMap<String, Reread> {
    table
        .iter()
        .filter_map(|p| {
            let stop =
                p.role == Role::PciLifecycle && p.marks.is_some_and(|m| m.edge == Edge::Stop);
            let reread = if stop {
                Reread::Always
            } else if p.mapping == Some(MappingOp::Unmap) {
                Reread::WhenWatched
            } else {
                return None;
            };
            Some((p.name.clone(), reread))
        })
        .collect()
}

/// Whether sysfs is read again after `event`, as `rereads` says of its probe.
fn rereads_after(event: &Event, rereads: &FxHashMap<String, Reread>) -> bool {
    match rereads.get(event.probe.as_str()) {
        Some(Reread::Always) => true,
        Some(Reread::WhenWatched) => event.device.is_some(),
        None => false,
    }
}

/// Writes the records waiting in the ring buffer, up to and including the
/// first module load; after the events `rereads` names, the watched devices'
/// sysfs state is read again.
fn drain<W: Write>(
    ring: &mut RingBuf<MapData>,
    decoder: &mut Decoder,
    symbols: &LiveSymbols<'_>,
    rereads: &FxHashMap<String, Reread>,
    devices: &mut DeviceMap,
    writer: &mut CaptureWriter<W>,
    mut pipeline: Option<&mut Pipeline<'_>>,
) -> Result<Drained, WriteError> {
    let mut drained = Drained {
        records: 0,
        errors: 0,
        module: None,
    };
    while let Some(item) = ring.next() {
        drained.records += 1;
        match decode::parse(&item) {
            Ok(record) => {
                let mut event = decoder.event(&record, symbols);
                event.device = devices
                    .attribute(&event, &mut reread_sysfs)
                    .map(|bdf| decoder.name(&bdf));
                if rereads_after(&event, rereads)
                    && let Some(now) = reread_sysfs()
                {
                    devices.update(now);
                }
                for change in devices.take_changes() {
                    let state = change.into_event(event.ts_ns, event.cpu);
                    writer.write_event(&state)?;
                    if let Some(pipeline) = pipeline.as_deref_mut() {
                        pipeline.push(state);
                    }
                }
                writer.write_event(&event)?;
                let module = match &event.data {
                    EventData::ModuleLoad { module } => Some((module.clone(), event.ts_ns)),
                    _ => None,
                };
                if let Some(pipeline) = pipeline.as_deref_mut() {
                    pipeline.push(event);
                }
                if module.is_some() {
                    drained.module = module;
                    break;
                }
            }
            Err(e) => {
                drained.errors += 1;
                log::warn!("skipping a kernel record: {e}");
            }
        }
    }
    Ok(drained)
}

/// Nanoseconds since the Unix epoch, now.
pub fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of `bpf_ktime_get_ns`.
pub fn monotonic_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
