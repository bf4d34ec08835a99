//! A capture's summary: what was seen, by whom, how much was lost, and what was blind.
//!
//! `barwatch report` prints it as text ([`fmt::Display`]) or as JSON
//! ([`Serialize`]). Everything is ordered deterministically so the output can be
//! diffed between runs and snapshot-tested.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use serde::Serialize;

use crate::{
    capture::{
        format::Header,
        reader::{Capture, CaptureEnd, PartialLine},
    },
    event::{Event, EventData},
    probe_table::{Mechanism, Role},
    skipped::{SkippedHandler, SkippedHandlerFinder},
    time,
};

/// How many processes the text report lists; the JSON has them all.
const TOP_PROCESSES: usize = 20;

/// Everything `barwatch report` says about one capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// `uname -r` of the traced kernel.
    pub kernel: String,
    /// Host name of the traced machine.
    pub hostname: String,
    /// The capture format version.
    pub version: String,
    /// Wall-clock start, nanoseconds since the Unix epoch.
    pub started_unix_ns: u64,
    /// Events in the capture.
    pub events: u64,
    /// From the earliest to the latest event timestamp; `None` without events.
    pub span: Option<Span>,
    /// The header's probe table in its order, then probes that appear only in
    /// events or the trailer, by name.
    pub probes: Vec<ProbeSummary>,
    /// The watched devices (the header's, then any only events name), with the
    /// number of events that concern each.
    pub devices: Vec<DeviceSummary>,
    /// Events no watched device explains (other devices' IRQs, unrelated work items).
    pub events_without_device: u64,
    /// Events per process, most events first, then by pid and command.
    pub processes: Vec<ProcessSummary>,
    /// Events per [`EventData::kind`].
    pub kinds: BTreeMap<&'static str, u64>,
    /// ALSA ioctl entries per command name.
    pub alsa_ioctls: BTreeMap<String, u64>,
    /// ALSA ioctl entries per process and command: who issued what, how often.
    pub alsa_ioctls_by_process: Vec<ProcessIoctls>,
    /// Interrupt handler calls whose probe the kernel skipped: spans barwatch is
    /// blind in although nothing was lost from the ring buffer.
    pub skipped_handlers: Vec<SkippedHandler>,
    /// Whether the capture ended cleanly, with the trailer's totals, or was cut.
    pub ending: Ending,
}

/// The time covered by a capture's events, in CLOCK_MONOTONIC nanoseconds.
///
/// Events are stored in arrival order, which is not strictly time order across
/// CPUs, so these are the minimum and maximum timestamps, not the first and last
/// lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Span {
    /// The earliest event timestamp.
    pub first_ts_ns: u64,
    /// The latest event timestamp.
    pub last_ts_ns: u64,
    /// `last_ts_ns - first_ts_ns`.
    pub duration_ns: u64,
}

/// One probe point: how it attached and what it produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeSummary {
    /// The probe point's name.
    pub name: String,
    /// Its role; `None` when the header's probe table does not list it.
    pub role: Option<Role>,
    /// The mechanism that attached; `None` when blind or not in the table.
    pub mechanism: Option<Mechanism>,
    /// Why it is blind, when the table says so.
    pub blind_reason: Option<String>,
    /// Events in the capture from this probe.
    pub events: u64,
    /// Events the trailer says were written; `None` when the capture was cut.
    pub trailer_events: Option<u64>,
    /// Records lost from the ring buffer; `None` when the capture was cut.
    pub lost: Option<u64>,
    /// Calls the kernel ran without running this probe's program (see
    /// [`crate::skipped`]); counted for interrupt handlers only.
    pub skipped: u64,
}

/// One watched PCI device and how many events concern it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceSummary {
    /// PCI address.
    pub bdf: String,
    /// The bound driver at the start, when the header says.
    pub driver: Option<String>,
    /// Events that name it.
    pub events: u64,
}

/// Events from one process (a pid under one command name; an `exec` starts a new row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessSummary {
    /// Process id (tgid).
    pub pid: u32,
    /// Command name.
    pub comm: String,
    /// Events from it.
    pub events: u64,
    /// ALSA ioctl calls (entries) it issued.
    pub alsa_ioctls: u64,
}

/// How often one process issued one ALSA ioctl command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessIoctls {
    /// Process id (tgid).
    pub pid: u32,
    /// Command name.
    pub comm: String,
    /// The ioctl command's name.
    pub cmd_name: String,
    /// Calls (entries) seen.
    pub calls: u64,
}

/// How the capture ended, which decides whether the loss counts are known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Ending {
    /// The recorder ended cleanly and wrote a trailer.
    Clean {
        /// Wall-clock end, nanoseconds since the Unix epoch.
        ended_unix_ns: u64,
        /// Events the trailer says were written.
        trailer_events: u64,
        /// Records lost in all.
        lost: u64,
        /// Records the agent could not decode.
        decode_errors: u64,
        /// Kernel stacks that could not be taken.
        stacks_lost: u64,
    },
    /// No trailer: the recorder was killed or the disk filled, so losses are unknown.
    Cut {
        /// Complete lines, the header included.
        complete_lines: usize,
        /// The final line that was cut mid-write, if any.
        partial: Option<PartialLine>,
    },
}

impl Summary {
    /// Summarizes a loaded capture; see [`SummaryBuilder`] for one that streams.
    pub fn of(capture: &Capture) -> Self {
        let mut builder = SummaryBuilder::new(&capture.header);
        for event in &capture.events {
            builder.push(event);
        }
        builder.finish(&capture.end)
    }
}

/// A [`Summary`] in the making: counts taken event by event as a capture streams
/// by, so summarising holds the aggregates, never the events.
#[derive(Debug)]
pub struct SummaryBuilder {
    header: Header,
    events: u64,
    by_probe: BTreeMap<String, u64>,
    /// Events per pid and command.
    by_process: BTreeMap<u32, BTreeMap<String, u64>>,
    kinds: BTreeMap<&'static str, u64>,
    alsa_ioctls: BTreeMap<String, u64>,
    /// ALSA ioctl entries per pid, command and ioctl name.
    by_process_ioctl: BTreeMap<u32, BTreeMap<String, BTreeMap<String, u64>>>,
    by_device: BTreeMap<String, u64>,
    events_without_device: u64,
    /// The earliest and latest event timestamps.
    span: Option<(u64, u64)>,
    skipped: SkippedHandlerFinder,
}

/// The value under `key`, inserted as the default the first time: unlike
/// `entry`, it allocates the key only then.
fn entry<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

impl SummaryBuilder {
    /// Starts from a capture's header: its probe table and watched devices.
    pub fn new(header: &Header) -> Self {
        SummaryBuilder {
            header: header.clone(),
            events: 0,
            by_probe: BTreeMap::new(),
            by_process: BTreeMap::new(),
            kinds: BTreeMap::new(),
            alsa_ioctls: BTreeMap::new(),
            by_process_ioctl: BTreeMap::new(),
            by_device: BTreeMap::new(),
            events_without_device: 0,
            span: None,
            skipped: SkippedHandlerFinder::default(),
        }
    }

    /// Counts one event, in file order.
    pub fn push(&mut self, event: &Event) {
        self.events += 1;
        *entry(&mut self.by_probe, &event.probe) += 1;
        *entry(self.by_process.entry(event.pid).or_default(), &event.comm) += 1;
        *self.kinds.entry(event.data.kind()).or_default() += 1;
        if let EventData::IoctlEnter { cmd_name, .. } = &event.data {
            let by_comm = self.by_process_ioctl.entry(event.pid).or_default();
            *entry(entry(by_comm, &event.comm), cmd_name) += 1;
            *entry(&mut self.alsa_ioctls, cmd_name) += 1;
        }
        match &event.device {
            Some(device) => *entry(&mut self.by_device, device) += 1,
            None => self.events_without_device += 1,
        }
        self.span = Some(match self.span {
            Some((first, last)) => (first.min(event.ts_ns), last.max(event.ts_ns)),
            None => (event.ts_ns, event.ts_ns),
        });
        self.skipped.push(event);
    }

    /// The summary of everything pushed, for a capture that ended as `end` says.
    pub fn finish(self, end: &CaptureEnd) -> Summary {
        let trailer = match end {
            CaptureEnd::Trailer(trailer) => Some(trailer),
            CaptureEnd::Cut { .. } => None,
        };
        let header = self.header;
        let by_probe = self.by_probe;
        let skipped_handlers = self.skipped.finish();
        let skipped = |name: &str| {
            skipped_handlers
                .iter()
                .filter(|skip| skip.probe == name)
                .count() as u64
        };
        let trailer_totals = |name: &str| {
            trailer.map(|trailer| trailer.probes.get(name).cloned().unwrap_or_default())
        };
        let mut probes: Vec<ProbeSummary> = header
            .probes
            .iter()
            .map(|status| {
                let totals = trailer_totals(&status.name);
                ProbeSummary {
                    name: status.name.clone(),
                    role: Some(status.role),
                    mechanism: status.attached,
                    blind_reason: status.reason(),
                    events: by_probe.get(status.name.as_str()).copied().unwrap_or(0),
                    trailer_events: totals.as_ref().map(|totals| totals.events),
                    lost: totals.map(|totals| totals.lost),
                    skipped: skipped(&status.name),
                }
            })
            .collect();
        let in_table: BTreeSet<&str> = header
            .probes
            .iter()
            .map(|status| status.name.as_str())
            .collect();
        let mut extra: BTreeSet<&str> = by_probe.keys().map(String::as_str).collect();
        extra.extend(
            trailer
                .iter()
                .flat_map(|t| t.probes.keys().map(String::as_str)),
        );
        for name in extra.difference(&in_table) {
            let totals = trailer_totals(name);
            probes.push(ProbeSummary {
                name: (*name).to_owned(),
                role: None,
                mechanism: None,
                blind_reason: None,
                events: by_probe.get(*name).copied().unwrap_or(0),
                trailer_events: totals.as_ref().map(|totals| totals.events),
                lost: totals.map(|totals| totals.lost),
                skipped: skipped(name),
            });
        }

        let mut by_device = self.by_device;
        let mut devices: Vec<DeviceSummary> = header
            .devices
            .iter()
            .map(|d| DeviceSummary {
                bdf: d.bdf.clone(),
                driver: d.driver.clone(),
                events: by_device.remove(d.bdf.as_str()).unwrap_or(0),
            })
            .collect();
        devices.extend(by_device.into_iter().map(|(bdf, events)| DeviceSummary {
            bdf,
            driver: None,
            events,
        }));

        let ioctls_of = |pid: u32, comm: &str| {
            self.by_process_ioctl
                .get(&pid)
                .and_then(|by_comm| by_comm.get(comm))
                .map_or(0, |by_cmd| by_cmd.values().sum())
        };
        let mut processes: Vec<ProcessSummary> = self
            .by_process
            .iter()
            .flat_map(|(pid, by_comm)| {
                by_comm.iter().map(|(comm, events)| ProcessSummary {
                    pid: *pid,
                    comm: comm.clone(),
                    events: *events,
                    alsa_ioctls: ioctls_of(*pid, comm),
                })
            })
            .collect();
        processes.sort_by(|a, b| {
            b.events
                .cmp(&a.events)
                .then(a.pid.cmp(&b.pid))
                .then(a.comm.cmp(&b.comm))
        });

        let mut alsa_ioctls_by_process: Vec<ProcessIoctls> = self
            .by_process_ioctl
            .iter()
            .flat_map(|(pid, by_comm)| {
                by_comm.iter().flat_map(move |(comm, by_cmd)| {
                    by_cmd.iter().map(move |(cmd_name, calls)| ProcessIoctls {
                        pid: *pid,
                        comm: comm.clone(),
                        cmd_name: cmd_name.clone(),
                        calls: *calls,
                    })
                })
            })
            .collect();
        alsa_ioctls_by_process.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.pid.cmp(&b.pid)));

        let span = self.span.map(|(first_ts_ns, last_ts_ns)| Span {
            first_ts_ns,
            last_ts_ns,
            duration_ns: last_ts_ns - first_ts_ns,
        });

        let ending = match end {
            CaptureEnd::Trailer(trailer) => Ending::Clean {
                ended_unix_ns: trailer.ended_unix_ns,
                trailer_events: trailer.events,
                lost: trailer.lost,
                decode_errors: trailer.decode_errors,
                stacks_lost: trailer.stacks_lost,
            },
            CaptureEnd::Cut {
                complete_lines,
                partial,
            } => Ending::Cut {
                complete_lines: *complete_lines,
                partial: *partial,
            },
        };

        Summary {
            kernel: header.kernel,
            hostname: header.hostname,
            version: header.version,
            started_unix_ns: header.started_unix_ns,
            events: self.events,
            span,
            probes,
            devices,
            events_without_device: self.events_without_device,
            processes,
            kinds: self.kinds,
            alsa_ioctls: self.alsa_ioctls,
            alsa_ioctls_by_process,
            skipped_handlers,
            ending,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "barwatch capture: host {}, kernel {}, format {}",
            self.hostname, self.kernel, self.version
        )?;
        let span = match &self.span {
            Some(span) => format!(" over {}", time::precise_duration(span.duration_ns)),
            None => String::new(),
        };
        match &self.ending {
            Ending::Clean {
                lost,
                decode_errors,
                ..
            } => writeln!(
                f,
                "{}{span}, lost {lost}, decode errors {decode_errors}",
                Count(self.events, "event")
            )?,
            Ending::Cut { .. } => writeln!(
                f,
                "{}{span}, lost unknown, decode errors unknown",
                Count(self.events, "event")
            )?,
        }
        match &self.ending {
            Ending::Cut {
                complete_lines,
                partial,
            } => {
                write!(
                    f,
                    "WARNING: no trailer: capture was cut after line {complete_lines}"
                )?;
                if let Some(partial) = partial {
                    write!(
                        f,
                        " (line {} is a partial line of {} bytes)",
                        partial.line, partial.bytes
                    )?;
                }
                writeln!(f, "; losses are unknown")?;
            }
            Ending::Clean { trailer_events, .. } if *trailer_events != self.events => writeln!(
                f,
                "WARNING: the trailer counts {trailer_events} events but the capture holds {}; the file was altered",
                self.events
            )?,
            Ending::Clean { stacks_lost, .. } if *stacks_lost > 0 => writeln!(
                f,
                "WARNING: {stacks_lost} kernel stacks could not be taken (stack map full or colliding); those events carry none"
            )?,
            Ending::Clean { .. } => {}
        }

        writeln!(f, "\nProbes")?;
        let rows = self.probes.iter().map(|probe| {
            let how = match (&probe.role, probe.mechanism, &probe.blind_reason) {
                (None, ..) => "not in the probe table".to_owned(),
                (Some(_), Some(mechanism), _) => mechanism.to_string(),
                (Some(_), None, Some(reason)) => format!("blind: {reason}"),
                (Some(_), None, None) => "blind".to_owned(),
            };
            vec![
                probe.name.clone(),
                probe
                    .role
                    .map_or_else(|| "?".to_owned(), |role| role.to_string()),
                probe.events.to_string(),
                probe
                    .lost
                    .map_or_else(|| "?".to_owned(), |lost| lost.to_string()),
                probe.skipped.to_string(),
                how,
            ]
        });
        write_table(
            f,
            &[
                ("NAME", Align::Left),
                ("ROLE", Align::Left),
                ("EVENTS", Align::Right),
                ("LOST", Align::Right),
                ("SKIPPED", Align::Right),
                ("MECHANISM", Align::Left),
            ],
            rows.collect(),
        )?;

        if !self.skipped_handlers.is_empty() {
            writeln!(
                f,
                "\nWARNING: the kernel skipped {} of probed interrupt handlers: a kprobe's \
                 program does not run while another BPF program runs on that CPU, so \
                 these calls, and the kprobes of everything they called, are missing \
                 (raw tracepoints inside them still record)",
                Count(self.skipped_handlers.len() as u64, "call")
            )?;
            let rows = self.skipped_handlers.iter().map(|skip| {
                vec![
                    skip.cpu.to_string(),
                    skip.irq.to_string(),
                    skip.handler.to_string(),
                    time::monotonic_seconds(skip.start_ns),
                    time::precise_duration(skip.end_ns - skip.start_ns),
                ]
            });
            write_table(
                f,
                &[
                    ("CPU", Align::Right),
                    ("IRQ", Align::Left),
                    ("HANDLER", Align::Left),
                    ("AT", Align::Right),
                    ("FOR", Align::Right),
                ],
                rows.collect(),
            )?;
        }

        writeln!(f, "\nDevices")?;
        let mut rows: Vec<Vec<String>> = self
            .devices
            .iter()
            .map(|d| {
                vec![
                    d.bdf.clone(),
                    d.driver.clone().unwrap_or_else(|| "?".to_owned()),
                    d.events.to_string(),
                ]
            })
            .collect();
        rows.push(vec![
            "no device".to_owned(),
            String::new(),
            self.events_without_device.to_string(),
        ]);
        write_table(
            f,
            &[
                ("DEVICE", Align::Left),
                ("DRIVER", Align::Left),
                ("EVENTS", Align::Right),
            ],
            rows,
        )?;

        writeln!(f, "\nEvent kinds")?;
        let rows = self
            .kinds
            .iter()
            .map(|(kind, count)| vec![(*kind).to_owned(), count.to_string()]);
        write_table(
            f,
            &[("KIND", Align::Left), ("EVENTS", Align::Right)],
            rows.collect(),
        )?;

        if self.processes.len() > TOP_PROCESSES {
            writeln!(
                f,
                "\nProcesses (top {TOP_PROCESSES} of {})",
                self.processes.len()
            )?;
        } else {
            writeln!(f, "\nProcesses")?;
        }
        let rows = self.processes.iter().take(TOP_PROCESSES).map(|process| {
            vec![
                process.pid.to_string(),
                process.comm.clone(),
                process.events.to_string(),
                process.alsa_ioctls.to_string(),
            ]
        });
        write_table(
            f,
            &[
                ("PID", Align::Right),
                ("COMM", Align::Left),
                ("EVENTS", Align::Right),
                ("ALSA IOCTLS", Align::Right),
            ],
            rows.collect(),
        )?;

        writeln!(f, "\nALSA ioctls")?;
        let mut ioctls: Vec<(&String, &u64)> = self.alsa_ioctls.iter().collect();
        ioctls.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let rows = ioctls
            .into_iter()
            .map(|(name, count)| vec![name.clone(), count.to_string()]);
        write_table(
            f,
            &[("NAME", Align::Left), ("COUNT", Align::Right)],
            rows.collect(),
        )?;

        writeln!(f, "\nALSA ioctls by process")?;
        let rows = self.alsa_ioctls_by_process.iter().map(|row| {
            vec![
                row.pid.to_string(),
                row.comm.clone(),
                row.cmd_name.clone(),
                row.calls.to_string(),
            ]
        });
        write_table(
            f,
            &[
                ("PID", Align::Right),
                ("COMM", Align::Left),
                ("NAME", Align::Left),
                ("CALLS", Align::Right),
            ],
            rows.collect(),
        )
    }
}

/// A count and a noun, plural unless the count is 1: `1 event`, `7 events`.
struct Count(u64, &'static str);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Count(count, noun) = *self;
        let plural = if count == 1 { "" } else { "s" };
        write!(f, "{count} {noun}{plural}")
    }
}

/// How a table column lines up.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Writes an indented table with a heading row, columns two spaces apart and no
/// trailing spaces; `(none)` when there are no rows.
fn write_table(
    f: &mut fmt::Formatter<'_>,
    columns: &[(&str, Align)],
    rows: Vec<Vec<String>>,
) -> fmt::Result {
    if rows.is_empty() {
        return writeln!(f, "  (none)");
    }
    let heading: Vec<String> = columns.iter().map(|(name, _)| (*name).to_owned()).collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|column| {
            std::iter::once(&heading)
                .chain(&rows)
                .map(|row| row.get(column).map_or(0, |cell| cell.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&heading).chain(&rows) {
        let mut line = String::from(" ");
        for ((cell, (_, align)), width) in row.iter().zip(columns).zip(&widths) {
            line.push(' ');
            match align {
                Align::Left => line.push_str(&format!("{cell:<width$}")),
                Align::Right => line.push_str(&format!("{cell:>width$}")),
            }
            line.push(' ');
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        capture::{
            format::{Header, Trailer, WatchedDevice},
            reader::read_capture_from,
            writer::CaptureWriter,
        },
        event::{BarRange, Event, Hex},
        probe_table::{Attempt, ProbeStatus},
        testkit::{self, Story},
    };

    fn header() -> Header {
        let mut header = testkit::header(vec![
            testkit::attached("irq:irq_handler_entry", Role::Irq, Mechanism::RawTracepoint),
            ProbeStatus {
                attempts: vec![
                    Attempt {
                        mechanism: Mechanism::RawTracepoint,
                        failure: Some("raw tracepoints disabled".into()),
                    },
                    Attempt {
                        mechanism: Mechanism::Tracepoint,
                        failure: None,
                    },
                ],
                ..testkit::attached(
                    "syscalls:sys_enter_ioctl",
                    Role::AlsaEntry,
                    Mechanism::Tracepoint,
                )
            },
            testkit::refused(
                "kprobe:azx_stop_chip",
                Role::QuiesceMarker,
                Mechanism::Kprobe,
                "azx_stop_chip is not in kallsyms",
            ),
        ]);
        header.devices = vec![
            WatchedDevice {
                bdf: "0000:00:04.0".into(),
                driver: Some("snd_hda_intel".into()),
                cards: vec![0],
                bars: vec![BarRange::parse("0: 0xfebf0000-0xfebf3fff").unwrap()],
                mappings: Vec::new(),
            },
            WatchedDevice {
                bdf: "0000:00:05.0".into(),
                driver: Some("barwatch_fixture".into()),
                cards: Vec::new(),
                bars: Vec::new(),
                mappings: Vec::new(),
            },
        ];
        header
    }

    fn irq(ts_ns: u64, cpu: u32) -> Event {
        Event {
            cpu,
            pid: 0,
            tid: 0,
            comm: "swapper/0".into(),
            device: Some("0000:00:04.0".into()),
            ..testkit::event(
                ts_ns,
                "irq:irq_handler_entry",
                EventData::IrqHandlerEntry {
                    irq: 42,
                    handler: Hex(0xffffffffc0a01230),
                    handler_name: Some("azx_interrupt".into()),
                    thread: None,
                },
            )
        }
    }

    fn ioctl(ts_ns: u64, pid: u32, comm: &str, cmd_name: &str) -> Event {
        Event {
            cpu: 2,
            pid,
            tid: pid,
            comm: comm.into(),
            ..testkit::event(
                ts_ns,
                "syscalls:sys_enter_ioctl",
                EventData::IoctlEnter {
                    fd: 3,
                    cmd: Hex(0x4140),
                    cmd_name: cmd_name.into(),
                    arg: Hex(0),
                    dev: None,
                },
            )
        }
    }

    fn events() -> Vec<Event> {
        vec![
            irq(1_000_000_000, 0),
            ioctl(1_200_000_000, 4242, "aplay", "SNDRV_PCM_IOCTL_PREPARE"),
            // Arrives late from another CPU: the earliest timestamp is not first.
            irq(900_000_000, 1),
            ioctl(1_300_000_000, 4242, "aplay", "SNDRV_PCM_IOCTL_START"),
            ioctl(1_400_000_000, 4242, "aplay", "SNDRV_PCM_IOCTL_PREPARE"),
            ioctl(2_400_000_000, 777, "pipewire", "SNDRV_PCM_IOCTL_PREPARE"),
            Event {
                probe: "workqueue:workqueue_execute_start".into(),
                data: EventData::WorkStart {
                    work: Hex(0xffff_8880_0123_4000),
                    function: Hex(0xffff_ffff_c0a1_2345),
                    symbol: Some("azx_probe_work".into()),
                },
                ..irq(1_500_000_000, 3)
            },
        ]
    }

    /// A capture written through the real writer, complete or cut.
    fn capture(complete: bool) -> Capture {
        let mut out = Vec::new();
        let mut writer = CaptureWriter::new(&mut out, &header()).unwrap();
        for event in events() {
            writer.write_event(&event).unwrap();
        }
        if complete {
            let lost = BTreeMap::from([("irq:irq_handler_entry".to_owned(), 3)]);
            writer
                .finish(lost, 1, 0, 1_700_000_002_000_000_000)
                .unwrap();
        } else {
            writer.flush().unwrap();
            drop(writer);
            out.extend_from_slice(b"{\"type\":\"event\",\"ts_ns\":25");
        }
        read_capture_from(&out[..]).unwrap()
    }

    #[test]
    fn counts_of_a_complete_capture() {
        let summary = Summary::of(&capture(true));
        assert_eq!(summary.events, 7);
        assert_eq!(
            summary.span,
            Some(Span {
                first_ts_ns: 900_000_000,
                last_ts_ns: 2_400_000_000,
                duration_ns: 1_500_000_000,
            })
        );
        let names: Vec<&str> = summary.probes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "irq:irq_handler_entry",
                "syscalls:sys_enter_ioctl",
                "kprobe:azx_stop_chip",
                "workqueue:workqueue_execute_start",
            ]
        );
        assert_eq!(summary.probes[0].events, 2);
        assert_eq!(summary.probes[0].trailer_events, Some(2));
        assert_eq!(summary.probes[0].lost, Some(3));
        assert_eq!(summary.probes[1].events, 4);
        assert_eq!(
            summary.probes[2].blind_reason.as_deref(),
            Some("azx_stop_chip is not in kallsyms")
        );
        assert_eq!(summary.probes[2].lost, Some(0));
        assert_eq!(summary.probes[3].role, None);
        assert_eq!(summary.probes[3].events, 1);
        assert_eq!(
            summary.processes,
            [
                ProcessSummary {
                    pid: 0,
                    comm: "swapper/0".into(),
                    events: 3,
                    alsa_ioctls: 0,
                },
                ProcessSummary {
                    pid: 4242,
                    comm: "aplay".into(),
                    events: 3,
                    alsa_ioctls: 3,
                },
                ProcessSummary {
                    pid: 777,
                    comm: "pipewire".into(),
                    events: 1,
                    alsa_ioctls: 1,
                },
            ]
        );
        assert_eq!(
            summary.kinds,
            BTreeMap::from([
                ("ioctl_enter", 4),
                ("irq_handler_entry", 2),
                ("work_start", 1)
            ])
        );
        assert_eq!(
            summary.alsa_ioctls,
            BTreeMap::from([
                ("SNDRV_PCM_IOCTL_PREPARE".to_owned(), 3),
                ("SNDRV_PCM_IOCTL_START".to_owned(), 1),
            ])
        );
        assert_eq!(
            summary.ending,
            Ending::Clean {
                ended_unix_ns: 1_700_000_002_000_000_000,
                trailer_events: 7,
                lost: 3,
                decode_errors: 1,
                stacks_lost: 0,
            }
        );
    }

    #[test]
    fn text_report_of_a_complete_capture() {
        let text = Summary::of(&capture(true)).to_string();
        let expected = "\
barwatch capture: host lab3, kernel 6.1.0-37-amd64, format 1.5
7 events over 1.500 s, lost 3, decode errors 1

Probes
  NAME                               ROLE            EVENTS  LOST  SKIPPED  MECHANISM
  irq:irq_handler_entry              irq                  2     3        0  raw_tracepoint
  syscalls:sys_enter_ioctl           alsa-entry           4     0        0  tracepoint
  kprobe:azx_stop_chip               quiesce-marker       0     0        0  blind: azx_stop_chip is not in kallsyms
  workqueue:workqueue_execute_start  ?                    1     0        0  not in the probe table

Devices
  DEVICE        DRIVER            EVENTS
  0000:00:04.0  snd_hda_intel          3
  0000:00:05.0  barwatch_fixture       0
  no device                            4

Event kinds
  KIND               EVENTS
  ioctl_enter             4
  irq_handler_entry       2
  work_start              1

Processes
   PID  COMM       EVENTS  ALSA IOCTLS
     0  swapper/0       3            0
  4242  aplay           3            3
   777  pipewire        1            1

ALSA ioctls
  NAME                     COUNT
  SNDRV_PCM_IOCTL_PREPARE      3
  SNDRV_PCM_IOCTL_START        1

ALSA ioctls by process
   PID  COMM      NAME                     CALLS
  4242  aplay     SNDRV_PCM_IOCTL_PREPARE      2
   777  pipewire  SNDRV_PCM_IOCTL_PREPARE      1
  4242  aplay     SNDRV_PCM_IOCTL_START        1
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn a_skipped_handler_is_counted_and_its_blind_span_listed() {
        let story = Story::default()
            .irq_enters(1_000_000, 0)
            .handler_probe_fires(1_000_001, 0)
            .irq_exits(1_000_002, 0)
            .irq_enters(2_000_000, 1)
            .irq_exits(2_000_015, 1);
        let capture = Capture {
            header: header(),
            events: story.0,
            end: CaptureEnd::Trailer(Trailer::default()),
        };
        let summary = Summary::of(&capture);
        let probe = summary
            .probes
            .iter()
            .find(|p| p.name == "kprobe:azx_interrupt")
            .unwrap();
        assert_eq!((probe.events, probe.skipped), (1, 1));
        let text = summary.to_string();
        assert!(
            text.contains(
                "WARNING: the kernel skipped 1 call of probed interrupt handlers: a kprobe's program \
                 does not run while another BPF program runs on that CPU"
            ),
            "{text}"
        );
        assert!(
            text.contains("    1  27   azx_interrupt  2.000000  15.000 µs"),
            "{text}"
        );
    }

    #[test]
    fn stacks_the_kernel_could_not_take_are_warned_about() {
        let capture = Capture {
            header: header(),
            events: Vec::new(),
            end: CaptureEnd::Trailer(Trailer {
                stacks_lost: 2,
                ..Trailer::default()
            }),
        };
        let text = Summary::of(&capture).to_string();
        assert!(
            text.contains("WARNING: 2 kernel stacks could not be taken"),
            "{text}"
        );
    }

    #[test]
    fn a_cut_capture_is_flagged() {
        let capture = capture(false);
        let summary = Summary::of(&capture);
        assert_eq!(summary.events, 7);
        assert_eq!(
            summary.ending,
            Ending::Cut {
                complete_lines: 8,
                partial: Some(PartialLine { line: 9, bytes: 26 }),
            }
        );
        assert!(summary.probes.iter().all(|probe| probe.lost.is_none()));
        assert!(summary.probes.iter().all(|p| p.trailer_events.is_none()));

        let text = summary.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..3],
            [
                "barwatch capture: host lab3, kernel 6.1.0-37-amd64, format 1.5",
                "7 events over 1.500 s, lost unknown, decode errors unknown",
                "WARNING: no trailer: capture was cut after line 8 (line 9 is a partial line of 26 bytes); losses are unknown",
            ]
        );
        assert!(lines.contains(
            &"  irq:irq_handler_entry              irq                  2     ?        0  raw_tracepoint"
        ));
    }

    #[test]
    fn an_empty_capture_has_no_span_and_empty_sections() {
        let capture = Capture {
            header: Header::new("6.1.0", "lab3", 0, 0, Vec::new()),
            events: Vec::new(),
            end: CaptureEnd::Trailer(Trailer::default()),
        };
        let summary = Summary::of(&capture);
        assert_eq!(summary.span, None);
        let text = summary.to_string();
        assert_eq!(
            text,
            "\
barwatch capture: host lab3, kernel 6.1.0, format 1.5
0 events, lost 0, decode errors 0

Probes
  (none)

Devices
  DEVICE     DRIVER  EVENTS
  no device               0

Event kinds
  (none)

Processes
  (none)

ALSA ioctls
  (none)

ALSA ioctls by process
  (none)
"
        );
    }

    #[test]
    fn a_trailer_that_disagrees_with_the_events_is_flagged() {
        let mut capture = capture(true);
        capture.events.pop();
        let text = Summary::of(&capture).to_string();
        assert_eq!(
            text.lines().nth(2),
            Some(
                "WARNING: the trailer counts 7 events but the capture holds 6; the file was altered"
            )
        );
    }

    #[test]
    fn only_the_top_processes_are_listed() {
        let mut capture = capture(true);
        capture.events = (0..25)
            .flat_map(|pid| (0..=pid).map(move |i| ioctl(u64::from(pid * 100 + i), pid, "p", "X")))
            .collect();
        let summary = Summary::of(&capture);
        assert_eq!(summary.processes.len(), 25);
        assert_eq!(summary.processes[0].pid, 24);
        let text = summary.to_string();
        assert!(text.contains("\nProcesses (top 20 of 25)\n"));
        let listed = text
            .lines()
            .skip_while(|line| !line.starts_with("Processes"))
            .skip(2)
            .take_while(|line| !line.is_empty())
            .count();
        assert_eq!(listed, 20);
    }

    #[test]
    fn counts_read_naturally() {
        assert_eq!(Count(1, "event").to_string(), "1 event");
        assert_eq!(Count(0, "event").to_string(), "0 events");
    }

    #[test]
    fn json_has_every_section() {
        let json = serde_json::to_value(Summary::of(&capture(false))).unwrap();
        assert_eq!(json["events"], 7);
        assert_eq!(json["ending"]["status"], "cut");
        assert_eq!(json["ending"]["partial"]["line"], 9);
        assert_eq!(json["probes"][0]["role"], "irq");
        assert_eq!(json["probes"][0]["mechanism"], "raw_tracepoint");
        assert_eq!(json["probes"][0]["lost"], serde_json::Value::Null);
        assert_eq!(json["alsa_ioctls"]["SNDRV_PCM_IOCTL_PREPARE"], 3);
        assert_eq!(json["kinds"]["irq_handler_entry"], 2);
        assert_eq!(json["processes"][0]["comm"], "swapper/0");
    }
}
