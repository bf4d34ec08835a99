//! The probe table: for every probe point, its role and how (or why not) it attached.
//!
//! It is the agent's honest account of what it can see on this kernel: `barwatch
//! probes` prints it, every capture carries it in its header, and later analysis
//! uses it to say "not checked" instead of "pass" when a probe was missing.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a probe point tells the story of a quiescing device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// PCI remove, rescan, resize and driver probe/remove.
    PciLifecycle,
    /// ioremap/iounmap of MMIO ranges.
    Mapping,
    /// A driver marker that the device is being stopped or restarted.
    QuiesceMarker,
    /// A driver function that touches the device's MMIO registers.
    MmioAccessor,
    /// An ALSA PCM or control ioctl entering the driver.
    AlsaEntry,
    /// An interrupt handler.
    Irq,
    /// A workqueue work item.
    Work,
    /// A kernel page fault.
    PageFault,
    /// A module load, to attach to drivers that load later.
    ModuleLoad,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::PciLifecycle => "pci-lifecycle",
            Role::Mapping => "mapping",
            Role::QuiesceMarker => "quiesce-marker",
            Role::MmioAccessor => "mmio-accessor",
            Role::AlsaEntry => "alsa-entry",
            Role::Irq => "irq",
            Role::Work => "work",
            Role::PageFault => "page-fault",
            Role::ModuleLoad => "module-load",
        })
    }
}

/// What a marker function's call says about its device's quiesce cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Edge {
    /// The driver starts quiescing (remove, suspend, a rescan's prepare hook).
    Stop,
    /// The driver stops taking requests from user space (`snd_card_disconnect`):
    /// the quiesce window starts here, since requests that entered before are
    /// waited for.
    Disconnect,
    /// The driver stops the hardware itself (`azx_stop_chip`): a quiesce step that
    /// must come after every stream stopped.
    ChipStop,
    /// The driver runs again (resume, probe done, chip initialised, done hook).
    Restart,
    /// A DMA stream starts; the first argument names the stream.
    StreamStart,
    /// A DMA stream stops; the first argument names the stream.
    StreamStop,
}

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Edge::Stop => "stop",
            Edge::Disconnect => "disconnect",
            Edge::ChipStop => "chip-stop",
            Edge::Restart => "restart",
            Edge::StreamStart => "stream-start",
            Edge::StreamStop => "stream-stop",
        })
    }
}

/// Why a device's quiesce cycle happened, as the marker that opened it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// PCI remove through sysfs `remove`: rescan brings the device back.
    Remove,
    /// The kernel removes the device itself (native PCIe hot-unplug by pciehp,
    /// surprise removal or the attention button): it is gone until it is plugged
    /// in again.
    HotUnplug,
    /// The driver was unbound from the device.
    DriverUnbind,
    /// A rescan with movable BARs: prepare, move, done, without a remove.
    MovableBars,
    /// A resizable-BAR resize.
    Resize,
    /// System suspend and resume.
    SystemSleep,
    /// Runtime power management.
    RuntimePm,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Remove => "remove",
            Trigger::HotUnplug => "hot-unplug",
            Trigger::DriverUnbind => "driver-unbind",
            Trigger::MovableBars => "movable-bars",
            Trigger::Resize => "resize",
            Trigger::SystemSleep => "system-sleep",
            Trigger::RuntimePm => "runtime-pm",
        })
    }
}

/// A marker probe's meaning in the timeline: its edge and the cycle kind it opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Marker {
    /// What the call does to the cycle.
    pub edge: Edge,
    /// The kind of cycle it opens, for stop edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

/// What a mapping probe's call does to the MMIO mappings, as its profile declares
/// (`tracks`): the timeline and retention follow mappings by it, not by function
/// name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MappingOp {
    /// The entry of a function whose return is a new mapping (`ioremap`): the
    /// physical address in its first argument, the size in its second.
    MapEntry,
    /// That function's return: the new mapping's virtual address.
    MapReturn,
    /// Unmaps the virtual address in its first argument (`iounmap`).
    Unmap,
}

/// A way the kernel lets a BPF program observe a probe point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// kprobe on a function's entry.
    Kprobe,
    /// kretprobe on a function's return.
    Kretprobe,
    /// fentry (BTF trampoline) on a function's entry.
    Fentry,
    /// fexit (BTF trampoline) on a function's return.
    Fexit,
    /// Raw tracepoint: the tracepoint's arguments, no tracefs needed.
    RawTracepoint,
    /// Classic tracepoint: the trace event's record, through tracefs.
    Tracepoint,
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mechanism::Kprobe => "kprobe",
            Mechanism::Kretprobe => "kretprobe",
            Mechanism::Fentry => "fentry",
            Mechanism::Fexit => "fexit",
            Mechanism::RawTracepoint => "raw_tracepoint",
            Mechanism::Tracepoint => "tracepoint",
        })
    }
}

/// One try at attaching a probe point with one mechanism.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The mechanism tried.
    pub mechanism: Mechanism,
    /// `None` when it attached, else why it did not, in words a kernel developer acts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// The outcome for one probe point of the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeStatus {
    /// The probe point's name, e.g. `irq:irq_handler_entry` or `kprobe:azx_stop_chip`.
    pub name: String,
    /// Its role in the quiesce story.
    pub role: Role,
    /// The mechanism that attached, or `None` when the point is blind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<Mechanism>,
    /// Every mechanism tried, in order, with why it failed.
    pub attempts: Vec<Attempt>,
    /// Anything else a reader of the table must know, e.g. that the point was
    /// attached late, after its module loaded, so earlier calls were missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What a call means to the timeline, for markers (capture format 1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marks: Option<Marker>,
    /// What a call does to the MMIO mappings, for mapping probes (capture
    /// format 1.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<MappingOp>,
    /// Whether this probe carries the ALSA ioctls: an ALSA file operation's,
    /// recording each call as the ioctl's entry or return, the ioctl syscall's
    /// hooks being left detached (capture format 1.5).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub carries_ioctls: bool,
}

impl ProbeStatus {
    /// Whether the probe point is being observed.
    pub fn is_attached(&self) -> bool {
        self.attached.is_some()
    }

    /// Every failed attempt's reason, in the order tried, joined by `; `; for an
    /// attached point, the mechanisms it fell back from.
    pub fn failures(&self) -> String {
        self.attempts
            .iter()
            .filter_map(|a| a.failure.as_deref())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Why the point is blind: every failed attempt's reason, in the order tried.
    pub fn reason(&self) -> Option<String> {
        let failures = self.failures();
        (!self.is_attached() && !failures.is_empty()).then_some(failures)
    }
}

/// The roles of the story that no attached probe point covers: what a capture
/// made with this table cannot show, so checks that need them are "not checked".
pub fn blind_roles(table: &[ProbeStatus]) -> Vec<Role> {
    let mut roles: Vec<Role> = table.iter().map(|p| p.role).collect();
    roles.sort();
    roles.dedup();
    roles
        .into_iter()
        .filter(|role| !table.iter().any(|p| p.role == *role && p.is_attached()))
        .collect()
}

/// The probe table as aligned text, as `barwatch probes` prints it: one row per
/// point, the reason when blind, the table's note (armed before its module
/// loaded, attached late) when it has one.
pub fn table_text(table: &[ProbeStatus]) -> String {
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

/// "blind roles: …" when some role of the story has no attached probe point:
/// the warning a recording starts with, and the probe table's last line.
pub fn blind_roles_text(table: &[ProbeStatus]) -> Option<String> {
    let blind = blind_roles(table);
    (!blind.is_empty()).then(|| {
        let names: Vec<String> = blind.iter().map(ToString::to_string).collect();
        format!(
            "blind roles (no probe point of theirs attached): {}",
            names.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, role: Role, attached: Option<Mechanism>) -> ProbeStatus {
        ProbeStatus {
            name: name.into(),
            role,
            attached,
            attempts: Vec::new(),
            note: None,
            marks: None,
            mapping: None,
            carries_ioctls: false,
        }
    }

    #[test]
    fn a_role_is_blind_only_when_none_of_its_points_attached() {
        let table = [
            status(
                "irq:irq_handler_entry",
                Role::Irq,
                Some(Mechanism::RawTracepoint),
            ),
            status("kprobe:ioremap", Role::Mapping, None),
            status("kprobe:iounmap", Role::Mapping, None),
            status("kprobe:snd_pcm_ioctl", Role::AlsaEntry, None),
            status(
                "syscalls:sys_enter_ioctl",
                Role::AlsaEntry,
                Some(Mechanism::Tracepoint),
            ),
        ];
        assert_eq!(blind_roles(&table), [Role::Mapping]);
        assert!(blind_roles(&[]).is_empty());
    }

    #[test]
    fn the_reason_lists_every_failed_attempt_in_order() {
        let mut s = status("kprobe:ioremap", Role::Mapping, None);
        s.attempts = vec![
            Attempt {
                mechanism: Mechanism::Kprobe,
                failure: Some("kprobes compiled out".into()),
            },
            Attempt {
                mechanism: Mechanism::Fentry,
                failure: Some("fentry refused: EPERM".into()),
            },
        ];
        assert_eq!(
            s.reason().as_deref(),
            Some("kprobes compiled out; fentry refused: EPERM")
        );
    }

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
            mapping: None,
            carries_ioctls: false,
        };
        let text = table_text(&[armed]);
        assert!(
            text.contains("kprobe          armed before barwatch_fixture loaded"),
            "{text}"
        );
    }
}
