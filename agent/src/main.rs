//! The `barwatch` binary: record, probes, report, check.
//!
//! Exit codes: 0 success, 1 error (the message says what went wrong and what to do),
//! 2 usage error (from clap). A closed output pipe (`barwatch record | head`) ends
//! quietly with 0. `check` has its own: 0 pass, 1 violation, 2 incomplete, 3 usage
//! or set-up error.

mod check;
mod cli;

use std::{
    io::{self, BufWriter, Write},
    os::fd::AsFd as _,
    process::ExitCode,
};

use anyhow::{Context as _, Result};
use barwatch::{
    analysis::{Analysis, render::render},
    capture::{
        format::{Header, KnownMapping, WatchedDevice},
        reader::read_capture,
        writer::CaptureWriter,
    },
    device::{
        PciDevice,
        attribution::{DeviceMap, Watch},
        sysfs::read_pci_devices,
        vmalloc::{IoMapping, parse_vmallocinfo},
    },
    event::{BarRange, Hex},
    live::{
        attach::MechanismOrder,
        catalogue,
        loader::{Filters, IrqFilter, LiveOptions, LiveProbes},
        record::{self, StopReason, monotonic_now_ns, unix_now_ns},
    },
    output::{Fate, Placed},
    probe_table::{self, ProbeStatus},
    profile::Profile,
    report::Summary,
    rules::RuleConfig,
    visible::visible,
};
use clap::Parser as _;
use cli::{Cli, Command, ProbesArgs, RecordArgs, RecordingArgs, ReportArgs};

/// `barwatch check`'s exit status for usage and set-up errors.
const CHECK_SETUP_ERROR: u8 = 3;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let checking = std::env::args().nth(1).as_deref() == Some("check");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match (e.use_stderr(), checking) {
                (false, _) => ExitCode::SUCCESS,
                (true, true) => ExitCode::from(CHECK_SETUP_ERROR),
                (true, false) => ExitCode::from(2),
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            say(format_args!("barwatch: {e:#}"));
            if checking {
                ExitCode::from(CHECK_SETUP_ERROR)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Writes one line to standard error. Unlike `eprintln!` it does not panic when
/// stderr cannot be written (a full disk under a redirect, a closed pipe): the
/// capture, already finished, matters more than the message.
fn say(message: std::fmt::Arguments<'_>) {
    let text = format!("{message}\n");
    let _ = io::stderr().write_all(visible(&text).as_bytes());
}

/// Runs one subcommand.
fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Record(args) => record(args).map(|()| ExitCode::SUCCESS),
        Command::Probes(args) => probes(args).map(|()| ExitCode::SUCCESS),
        Command::Report(args) => report(args).map(|()| ExitCode::SUCCESS),
        Command::Check(args) => check::check(args),
    }
}

/// Whether the error is a closed output pipe somewhere in its chain, also
/// inside a JSON encoder's error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| cause.downcast_ref::<serde_json::Error>()?.io_error_kind());
        kind == Some(io::ErrorKind::BrokenPipe)
    })
}

/// The built-in profiles and those named on the command line.
fn load_profiles(files: &[std::path::PathBuf]) -> Result<Vec<Profile>> {
    let mut profiles = Profile::builtin();
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read profile {}", file.display()))?;
        profiles.push(Profile::parse(&file.display().to_string(), &text)?);
    }
    Ok(profiles)
}

/// Attaches the requested probe points of the loaded profiles.
fn start_probes(
    names: &[String],
    profiles: &[Profile],
    filters: Filters,
    ring_bytes: u32,
    prefer_fentry: bool,
) -> Result<LiveProbes> {
    let all = catalogue::catalogue(profiles);
    let points = catalogue::select(all, names).map_err(|unknown| {
        anyhow::anyhow!("no probe point named `{unknown}`; `barwatch probes` lists them")
    })?;
    let order = if prefer_fentry {
        MechanismOrder::TrampolineFirst
    } else {
        MechanismOrder::KprobeFirst
    };
    Ok(LiveProbes::start(&LiveOptions {
        points,
        filters,
        ring_bytes,
        order,
    })?)
}

/// Which devices to watch and what is known of them at the start: `--device`
/// addresses, else devices bound to a driver a profile names, else every bound one.
fn device_map(
    requested: &[String],
    profiles: &[Profile],
) -> Result<(DeviceMap, Vec<WatchedDevice>)> {
    let devices = read_pci_devices(std::path::Path::new("/sys")).unwrap_or_else(|e| {
        say(format_args!(
            "barwatch: cannot read /sys/bus/pci/devices ({e}); events will not name their PCI device"
        ));
        Vec::new()
    });
    if let Some(missing) = requested
        .iter()
        .find(|bdf| !devices.iter().any(|d| &d.bdf == *bdf))
    {
        anyhow::bail!(
            "no PCI device {missing} on this machine; `ls /sys/bus/pci/devices` lists them"
        );
    }
    let drivers: Vec<String> = profiles
        .iter()
        .flat_map(|p| p.drivers.iter().cloned())
        .collect();
    let watch = match (requested.is_empty(), drivers.is_empty()) {
        (false, _) => Watch::Devices(requested.to_vec()),
        (true, false) => Watch::Drivers(drivers),
        (true, true) => Watch::AllBound,
    };
    // The mappings drivers made before barwatch started; root-only, like recording.
    let mappings = std::fs::read_to_string("/proc/vmallocinfo")
        .map(|text| {
            let mappings = parse_vmallocinfo(&text);
            if mappings.is_empty() && text.contains(" ioremap") {
                say(format_args!(
                    "barwatch: /proc/vmallocinfo hides virtual addresses (kernel.kptr_restrict=0 hashes them); \
                     mappings made before the start are learned from accessors inside a device's IRQ handler or ioctl"
                ));
            }
            mappings
        })
        .unwrap_or_else(|e| {
            say(format_args!(
                "barwatch: cannot read /proc/vmallocinfo ({e}); accesses through mappings made before the start will not name their device"
            ));
            Vec::new()
        });
    let map = DeviceMap::new(watch, devices.clone(), &mappings);
    let watched = devices
        .iter()
        .filter(|d| map.watched().any(|w| w == d.bdf))
        .map(|d| watched_device(d, &mappings))
        .collect();
    Ok((map, watched))
}

/// A device as the capture header lists it, with the mappings of its BARs among
/// `mappings`.
fn watched_device(device: &PciDevice, mappings: &[IoMapping]) -> WatchedDevice {
    WatchedDevice {
        mappings: mappings
            .iter()
            .filter(|m| device.bars.iter().any(|bar| bar.contains(m.phys)))
            .map(|m| KnownMapping {
                virt: Hex(m.virt),
                size: m.size,
                phys: Hex(m.phys),
            })
            .collect(),
        bdf: device.bdf.clone(),
        driver: device.driver.clone(),
        cards: device.cards.clone(),
        bars: device.bars.iter().map(|&bar| BarRange::from(bar)).collect(),
    }
}

/// Probes attached, devices known, the capture's header made: ready to record.
struct Prepared {
    probes: LiveProbes,
    devices: DeviceMap,
    header: Header,
    /// How many probe points attached.
    attached: usize,
}

/// Loads the profiles, finds the devices and attaches the probes for a recording.
fn prepare(args: &RecordingArgs) -> Result<Prepared> {
    if let Some(pid) = args
        .pids
        .iter()
        .find(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    {
        anyhow::bail!(
            "no process {pid} is running; --pid takes the id of a running process (`ps -e` lists them)"
        );
    }
    let profiles = load_profiles(&args.profiles)?;
    let (devices, watched) = device_map(&args.devices, &profiles)?;
    let irqs = if !args.irqs.is_empty() {
        Some(IrqFilter {
            numbers: args.irqs.clone(),
            ..IrqFilter::default()
        })
    } else if devices.watches_every_bound_device() {
        None
    } else {
        // The watched devices' vectors, learning their handlers so a device keeps
        // its IRQs across new vectors; without --device also any profile function
        // that is an IRQ handler (azx_interrupt), for devices bound later.
        let handlers = if args.devices.is_empty() {
            profiles
                .iter()
                .flat_map(|p| p.functions.iter().map(|f| f.name.clone()))
                .collect()
        } else {
            Vec::new()
        };
        Some(IrqFilter {
            numbers: devices.irqs(),
            handlers,
            learn_handlers: true,
        })
    };
    let filters = Filters {
        pids: args.pids.clone(),
        irqs,
        // Accessor calls are filtered by base only for an explicit --device: by
        // default the watched devices are all those of the profiles' drivers, whose
        // accessors are their own anyway.
        ignore_unwatched_bases: !args.devices.is_empty(),
    };
    let probes = start_probes(
        &args.probes,
        &profiles,
        filters,
        args.ring_size,
        args.prefer_fentry,
    )?;
    let attached = probes.table.iter().filter(|p| p.is_attached()).count();
    if attached == 0 {
        anyhow::bail!("no probe point attached; run `barwatch probes` to see why for each one");
    }
    if let Some(blind) = blind_roles_text(&probes.table) {
        say(format_args!(
            "barwatch: {blind}; `barwatch probes` says why for each point"
        ));
    }
    let mut header = Header::new(
        read_trimmed("/proc/sys/kernel/osrelease"),
        read_trimmed("/proc/sys/kernel/hostname"),
        unix_now_ns(),
        monotonic_now_ns(),
        probes.table.clone(),
    );
    header.devices = watched;
    Ok(Prepared {
        probes,
        devices,
        header,
        attached,
    })
}

/// `barwatch record`.
fn record(args: RecordArgs) -> Result<()> {
    let Prepared {
        probes,
        devices,
        header,
        attached,
    } = prepare(&args.recording)?;
    let (out, target, placed) = capture_output(args.output.as_deref(), || {
        Box::new(BufWriter::new(io::stdout().lock()))
    })?;
    let output = match &placed {
        Some(placed) => placed.descriptor(),
        None => io::stdout().as_fd().try_clone_to_owned(),
    }
    .context("cannot watch the capture's output for a reader that went away")?;
    let until = async {
        tokio::select! {
            reason = record::after(args.duration) => reason,
            reason = record::reader_gone(output) => reason,
        }
    };
    let recorded = event_loop()?.block_on(record::record(
        probes,
        devices,
        CaptureWriter::new(out, &header)?,
        until,
        &mut |_| {},
    ))?;
    tell_fate(placed.as_ref(), &target);
    let why = match recorded.reason {
        StopReason::Duration => "duration reached",
        StopReason::Interrupt => "interrupted",
        StopReason::Terminate => "terminated",
        StopReason::CommandDone | StopReason::WaitTimedOut => "done",
        StopReason::ReaderGone => "its reader went away",
    };
    say(format_args!(
        "barwatch: recorded {} events ({} lost, {} undecodable) from {attached} probe points to {target}; {why}",
        recorded.trailer.events, recorded.trailer.lost, recorded.trailer.decode_errors
    ));
    if recorded.trailer.lost > 0 {
        say(format_args!(
            "barwatch: records were lost because the ring buffer was full; try a larger --ring-size"
        ));
    }
    Ok(())
}

/// Where a capture goes: the file at `path` (opened as [`barwatch::output`]
/// describes, and remembered so its fate can be told at the end), else
/// `otherwise`'s writer; with words for it in messages.
fn capture_output(
    path: Option<&std::path::Path>,
    otherwise: impl FnOnce() -> Box<dyn Write>,
) -> Result<(Box<dyn Write>, String, Option<Placed>)> {
    Ok(match path {
        Some(path) => {
            let file = barwatch::output::create(path).context("cannot create the capture file")?;
            let placed = Placed::new(path, &file)
                .with_context(|| format!("cannot look at the capture file {}", path.display()))?;
            (Box::new(file), path.display().to_string(), Some(placed))
        }
        None => (otherwise(), "standard output".to_owned(), None),
    })
}

/// Says what became of the capture file if it did not stay where it was made.
fn tell_fate(placed: Option<&Placed>, target: &str) {
    match placed.map(Placed::settle) {
        None | Some(Ok(Fate::InPlace)) => {}
        Some(Ok(Fate::Restored)) => say(format_args!(
            "barwatch: the capture file {target} was deleted while recording; barwatch wrote it back there whole"
        )),
        Some(Ok(Fate::Moved)) => say(format_args!(
            "barwatch: the capture file was moved away from {target} while recording; the capture went on in the moved file"
        )),
        Some(Err(e)) => say(format_args!(
            "barwatch: the capture file {target} was deleted while recording and could not be written back: {e:#}"
        )),
    }
}

/// The single-threaded event loop a recording runs on.
fn event_loop() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")
}

/// `barwatch probes`.
fn probes(args: ProbesArgs) -> Result<()> {
    let profiles = load_profiles(&args.profiles)?;
    let probes = start_probes(
        &[],
        &profiles,
        Filters::default(),
        4096 * 16,
        args.prefer_fentry,
    )?;
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &probes.table)?;
        writeln!(out)?;
    } else {
        out.write_all(visible(&probe_table_text(&probes.table)).as_bytes())?;
    }
    Ok(())
}

/// The probe table as aligned text: one row per point, the reason when blind,
/// the table's note (armed before its module loaded, attached late) when it has one.
fn probe_table_text(table: &[ProbeStatus]) -> String {
    let width = table.iter().map(|p| p.name.len()).max().unwrap_or(5).max(5);
    let mut text = format!(
        "{:width$}  {:14}  {:14}  DETAIL\n",
        "PROBE", "ROLE", "ATTACHED"
    );
    for p in table {
        let how = p
            .attached
            .map_or_else(|| "no".to_owned(), |m| m.to_string());
        let detail = [Some(p.failures()), p.note.clone()]
            .into_iter()
            .flatten()
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        text.push_str(&format!(
            "{:width$}  {:14}  {:14}  {detail}\n",
            p.name,
            p.role.to_string(),
            how
        ));
    }
    let attached = table.iter().filter(|p| p.is_attached()).count();
    text.push_str(&format!(
        "{attached}/{} probe points attached\n",
        table.len()
    ));
    if let Some(blind) = blind_roles_text(table) {
        text.push_str(&format!("{blind}\n"));
    }
    text
}

/// "blind roles: …" when some role of the story has no attached probe point.
fn blind_roles_text(table: &[ProbeStatus]) -> Option<String> {
    let blind = probe_table::blind_roles(table);
    (!blind.is_empty()).then(|| {
        let names: Vec<String> = blind.iter().map(ToString::to_string).collect();
        format!(
            "blind roles (no probe point of theirs attached): {}",
            names.join(", ")
        )
    })
}

/// `barwatch report`.
fn report(args: ReportArgs) -> Result<()> {
    let capture = read_capture(&args.file)
        .with_context(|| format!("cannot read capture {}", args.file.display()))?;
    let summary = Summary::of(&capture);
    let verdict = Analysis::of_capture(&capture).judge(&RuleConfig::default());
    let mut out = io::stdout().lock();
    if args.json {
        #[derive(serde::Serialize)]
        struct Report<'a> {
            #[serde(flatten)]
            summary: &'a Summary,
            verdict: &'a barwatch::analysis::Judgement,
        }
        let report = Report {
            summary: &summary,
            verdict: &verdict,
        };
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        let text = format!("{summary}\n{}", render(&verdict));
        out.write_all(visible(&text).as_bytes())?;
    }
    Ok(())
}

/// A one-line /proc file, trimmed; `unknown` when unreadable.
fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use barwatch::probe_table::{Attempt, Mechanism, Role};

    use super::*;

    #[test]
    fn the_probe_table_text_shows_how_a_point_was_armed() {
        let armed = ProbeStatus {
            name: "kprobe:barwatch_fixture_read".into(),
            role: Role::MmioAccessor,
            attached: Some(Mechanism::Kprobe),
            attempts: vec![Attempt {
                mechanism: Mechanism::Kprobe,
                failure: None,
            }],
            note: Some("armed before barwatch_fixture loaded".into()),
            marks: None,
        };
        let text = probe_table_text(&[armed]);
        assert!(
            text.contains("kprobe          armed before barwatch_fixture loaded"),
            "{text}"
        );
    }
}
