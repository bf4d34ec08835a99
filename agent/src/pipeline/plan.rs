//! A recording's flags turned into a validated plan: which devices, processes,
//! IRQs and probe points, with which ring buffer, checked against this machine
//! before anything is attached.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::{
    capture::format::{KnownMapping, WatchedDevice},
    device::{
        PciDevice,
        attribution::{DeviceMap, Watch},
        sysfs::read_pci_devices,
        vmalloc::{IoMapping, parse_vmallocinfo},
    },
    event::{BarRange, Hex},
    live::{
        attach::MechanismOrder,
        catalogue::{self, ProbePoint},
        loader::{Filters, IrqFilter, LiveOptions},
    },
    profile::{Profile, ProfileError},
};

/// What `barwatch record` and `barwatch check` were asked to record, as given.
#[derive(Clone, Debug, Default)]
pub struct RecordingFlags {
    /// Probe points to attach by name; empty attaches the whole catalogue.
    pub probes: Vec<String>,
    /// Profile files to add to the built-in profiles.
    pub profiles: Vec<PathBuf>,
    /// Processes to record; empty records every one.
    pub pids: Vec<u32>,
    /// IRQs to record; empty leaves the choice to the watched devices.
    pub irqs: Vec<u32>,
    /// PCI devices to watch; empty watches those of the profiles' drivers.
    pub devices: Vec<String>,
    /// Ring buffer size in bytes, a power of two of at least a page.
    pub ring_size: u32,
    /// Whether vmlinux functions try fentry/fexit before kprobes.
    pub prefer_fentry: bool,
}

/// Why the flags do not make a recording; each says what to do instead.
#[derive(Debug, Error)]
pub enum PlanError {
    /// A `--pid` names no running process.
    #[error(
        "no process {pid} is running; --pid takes the id of a running process (`ps -e` lists them)"
    )]
    NoProcess {
        /// The pid given.
        pid: u32,
    },
    /// A `--profile` file cannot be read.
    #[error("cannot read profile {}", path.display())]
    ProfileUnreadable {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// A `--profile` file is not a valid profile.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A `--device` names no PCI device of this machine.
    #[error("no PCI device {bdf} on this machine; `ls /sys/bus/pci/devices` lists them")]
    NoDevice {
        /// The address given.
        bdf: String,
    },
    /// A `--probe` names no point of the catalogue.
    #[error("no probe point named `{name}`; `barwatch probes` lists them")]
    UnknownProbe {
        /// The name given.
        name: String,
    },
}

/// A recording ready to start: everything the flags ask for, checked.
pub struct RecordingPlan {
    /// The devices watched and what attributes events to them.
    pub devices: DeviceMap,
    /// The watched devices as the capture's header lists them.
    pub watched: Vec<WatchedDevice>,
    /// How to start the probes: points, kernel-side filters, ring size, order.
    pub probes: LiveOptions,
}

impl RecordingPlan {
    /// Checks `flags` against this machine. What costs precision but not the
    /// recording (sysfs or `/proc/vmallocinfo` unreadable) goes to `warn`.
    pub fn new(flags: &RecordingFlags, warn: &mut dyn FnMut(String)) -> Result<Self, PlanError> {
        if let Some(&pid) = flags
            .pids
            .iter()
            .find(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        {
            return Err(PlanError::NoProcess { pid });
        }
        let profiles = load_profiles(&flags.profiles)?;
        let (devices, watched) = device_map(&flags.devices, &profiles, warn)?;
        let filters = Filters {
            pids: flags.pids.clone(),
            irqs: irq_filter(flags, &profiles, &devices),
            // Accessor calls are filtered by base only for an explicit --device: by
            // default the watched devices are all those of the profiles' drivers, whose
            // accessors are their own anyway.
            ignore_unwatched_bases: !flags.devices.is_empty(),
        };
        Ok(RecordingPlan {
            devices,
            watched,
            probes: LiveOptions {
                points: probe_points(&profiles, &flags.probes)?,
                filters,
                ring_bytes: flags.ring_size,
                order: mechanism_order(flags.prefer_fentry),
            },
        })
    }
}

/// The built-in profiles and those in `files`.
pub fn load_profiles(files: &[PathBuf]) -> Result<Vec<Profile>, PlanError> {
    let mut profiles = Profile::builtin();
    for file in files {
        let text =
            std::fs::read_to_string(file).map_err(|source| PlanError::ProfileUnreadable {
                path: file.clone(),
                source,
            })?;
        profiles.push(Profile::parse(&file.display().to_string(), &text)?);
    }
    Ok(profiles)
}

/// The catalogue's points of `profiles` that `names` asks for; all without names.
pub fn probe_points(profiles: &[Profile], names: &[String]) -> Result<Vec<ProbePoint>, PlanError> {
    catalogue::select(catalogue::catalogue(profiles), names)
        .map_err(|name| PlanError::UnknownProbe { name })
}

/// Which attach mechanism vmlinux functions try first.
pub fn mechanism_order(prefer_fentry: bool) -> MechanismOrder {
    if prefer_fentry {
        MechanismOrder::TrampolineFirst
    } else {
        MechanismOrder::KprobeFirst
    }
}

/// The IRQs to record: those given; every one when every bound device is
/// watched; else the watched devices' vectors, learning their handlers so a
/// device keeps its IRQs across new vectors, and without `--device` also any
/// profile function that is an IRQ handler (azx_interrupt), for devices bound
/// later.
fn irq_filter(
    flags: &RecordingFlags,
    profiles: &[Profile],
    devices: &DeviceMap,
) -> Option<IrqFilter> {
    if !flags.irqs.is_empty() {
        return Some(IrqFilter {
            numbers: flags.irqs.clone(),
            ..IrqFilter::default()
        });
    }
    if devices.watches_every_bound_device() {
        return None;
    }
    let handlers = if flags.devices.is_empty() {
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
}

/// Which devices to watch and what is known of them at the start: `requested`
/// addresses, else devices bound to a driver a profile names, else every bound one.
fn device_map(
    requested: &[String],
    profiles: &[Profile],
    warn: &mut dyn FnMut(String),
) -> Result<(DeviceMap, Vec<WatchedDevice>), PlanError> {
    let devices = read_pci_devices(Path::new("/sys")).unwrap_or_else(|e| {
        warn(format!(
            "cannot read /sys/bus/pci/devices ({e}); events will not name their PCI device"
        ));
        Vec::new()
    });
    if let Some(missing) = requested
        .iter()
        .find(|bdf| !devices.iter().any(|d| &d.bdf == *bdf))
    {
        return Err(PlanError::NoDevice {
            bdf: missing.clone(),
        });
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
    let mappings = start_mappings(warn);
    let map = DeviceMap::new(watch, devices.clone(), &mappings);
    let watched = devices
        .iter()
        .filter(|d| map.watched().any(|w| w == d.bdf))
        .map(|d| watched_device(d, &mappings))
        .collect();
    Ok((map, watched))
}

/// The mappings drivers made before barwatch started; root-only, like recording.
fn start_mappings(warn: &mut dyn FnMut(String)) -> Vec<IoMapping> {
    match std::fs::read_to_string("/proc/vmallocinfo") {
        Ok(text) => {
            let mappings = parse_vmallocinfo(&text);
            if mappings.is_empty() && text.contains(" ioremap") {
                warn(
                    "/proc/vmallocinfo hides virtual addresses (kernel.kptr_restrict=0 hashes them); \
                     mappings made before the start are learned from accessors inside a device's IRQ handler or ioctl"
                        .to_owned(),
                );
            }
            mappings
        }
        Err(e) => {
            warn(format!(
                "cannot read /proc/vmallocinfo ({e}); accesses through mappings made before the start will not name their device"
            ));
            Vec::new()
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> RecordingFlags {
        RecordingFlags {
            ring_size: 4 << 20,
            ..RecordingFlags::default()
        }
    }

    #[test]
    fn a_pid_that_is_not_running_is_refused_with_what_to_do() {
        let flags = RecordingFlags {
            pids: vec![u32::MAX],
            ..flags()
        };
        let error = RecordingPlan::new(&flags, &mut |_| {}).err().unwrap();
        assert!(matches!(error, PlanError::NoProcess { pid: u32::MAX }));
        assert!(error.to_string().contains("`ps -e` lists them"), "{error}");
    }

    #[test]
    fn a_device_this_machine_lacks_is_refused() {
        let flags = RecordingFlags {
            devices: vec!["ffff:ff:1f.7".into()],
            ..flags()
        };
        let error = RecordingPlan::new(&flags, &mut |_| {}).err().unwrap();
        assert!(
            matches!(&error, PlanError::NoDevice { bdf } if bdf == "ffff:ff:1f.7"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_probe_name_is_refused_and_a_known_one_selected() {
        let profiles = load_profiles(&[]).unwrap();
        let error = probe_points(&profiles, &["kprobe:no_such_fn".into()]).unwrap_err();
        assert!(
            error.to_string().contains("`barwatch probes` lists them"),
            "{error}"
        );
        let points = probe_points(&profiles, &["irq:irq_handler_entry".into()]).unwrap();
        assert_eq!(points.len(), 1);
    }

    #[test]
    fn a_missing_profile_file_is_named() {
        let error = load_profiles(&[PathBuf::from("/nonexistent/x.toml")]).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot read profile /nonexistent/x.toml"),
            "{error}"
        );
    }

    #[test]
    fn given_irqs_are_recorded_as_given_and_otherwise_the_watched_devices_vectors_learned() {
        let profiles = load_profiles(&[]).unwrap();
        let some = DeviceMap::new(Watch::Devices(vec!["0000:00:04.0".into()]), Vec::new(), &[]);
        let given = RecordingFlags {
            irqs: vec![11],
            ..flags()
        };
        assert_eq!(
            irq_filter(&given, &profiles, &some),
            Some(IrqFilter {
                numbers: vec![11],
                ..IrqFilter::default()
            })
        );
        let by_driver = DeviceMap::new(
            Watch::Drivers(vec!["snd_hda_intel".into()]),
            Vec::new(),
            &[],
        );
        let learned = irq_filter(&flags(), &profiles, &by_driver).unwrap();
        assert!(learned.learn_handlers);
        assert!(
            learned.handlers.iter().any(|h| h == "azx_interrupt"),
            "{learned:?}"
        );
        let every = DeviceMap::new(Watch::AllBound, Vec::new(), &[]);
        assert_eq!(irq_filter(&flags(), &profiles, &every), None);
    }
}
