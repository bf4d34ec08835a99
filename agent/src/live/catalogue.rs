//! The built-in catalogue of probe points: data, not code paths.
//!
//! Each entry names a kernel function or tracepoint and its role in the quiesce
//! story; the attach engine decides how to observe it on the running kernel. Adding
//! a probe point is adding a line here (or, later, in a driver profile).

use crate::probe_table::Role;

/// What a probe point observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A kernel function's entry (`exit == false`) or return (`exit == true`).
    Function {
        /// The function's symbol.
        name: &'static str,
        /// The module it usually lives in (for messages when it is absent); `None`
        /// for vmlinux.
        module: Option<&'static str>,
        /// Observe the return instead of the entry.
        exit: bool,
    },
    /// A tracepoint, observed by a raw tracepoint program, a classic one, or both
    /// (tried in that order).
    Tracepoint {
        /// Category, e.g. `irq`.
        category: &'static str,
        /// Event name, e.g. `irq_handler_entry`.
        name: &'static str,
        /// The BPF program for the raw tracepoint, if this build has one.
        raw_program: Option<&'static str>,
        /// The BPF program for the classic tracepoint, if this build has one.
        classic_program: Option<&'static str>,
    },
}

/// One entry of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbePoint {
    /// What is observed.
    pub target: Target,
    /// Its role in the quiesce story.
    pub role: Role,
}

impl ProbePoint {
    /// The point's name in tables and captures: `category:name` for tracepoints,
    /// `kprobe:fn` / `kretprobe:fn` for functions (whatever mechanism attaches).
    pub fn name(&self) -> String {
        match self.target {
            Target::Function { name, exit, .. } => crate::decode::function_probe_name(exit, name),
            Target::Tracepoint { category, name, .. } => format!("{category}:{name}"),
        }
    }
}

/// A raw-tracepoint-only entry.
const fn raw_tp(
    category: &'static str,
    name: &'static str,
    program: &'static str,
    role: Role,
) -> ProbePoint {
    ProbePoint {
        target: Target::Tracepoint {
            category,
            name,
            raw_program: Some(program),
            classic_program: None,
        },
        role,
    }
}

/// A classic-tracepoint-only entry.
const fn classic_tp(
    category: &'static str,
    name: &'static str,
    program: &'static str,
    role: Role,
) -> ProbePoint {
    ProbePoint {
        target: Target::Tracepoint {
            category,
            name,
            raw_program: None,
            classic_program: Some(program),
        },
        role,
    }
}

/// A function entry.
const fn entry(name: &'static str, module: Option<&'static str>, role: Role) -> ProbePoint {
    ProbePoint {
        target: Target::Function {
            name,
            module,
            exit: false,
        },
        role,
    }
}

/// A function return.
const fn exit(name: &'static str, module: Option<&'static str>, role: Role) -> ProbePoint {
    ProbePoint {
        target: Target::Function {
            name,
            module,
            exit: true,
        },
        role,
    }
}

/// Module of the HD-audio controller core shared by snd_hda_intel (6.1 layout).
const HDA_CODEC: Option<&str> = Some("snd_hda_codec");
/// Module of the HD-audio bus core.
const HDA_CORE: Option<&str> = Some("snd_hda_core");
/// Module of the Intel HD-audio PCI driver.
const HDA_INTEL: Option<&str> = Some("snd_hda_intel");

/// Every probe point barwatch knows, in the order tables show them.
///
/// The `syscalls:*_ioctl` tracepoints are the fallback for ALSA entries when kprobes
/// are missing; they are classic tracepoints on purpose: the raw `sys_enter` would run
/// for every syscall on the system.
pub const BUILTIN: &[ProbePoint] = &[
    raw_tp("irq", "irq_handler_entry", "irq_handler_entry", Role::Irq),
    raw_tp("irq", "irq_handler_exit", "irq_handler_exit", Role::Irq),
    raw_tp(
        "workqueue",
        "workqueue_execute_start",
        "workqueue_execute_start",
        Role::Work,
    ),
    raw_tp(
        "workqueue",
        "workqueue_execute_end",
        "workqueue_execute_end",
        Role::Work,
    ),
    classic_tp(
        "syscalls",
        "sys_enter_ioctl",
        "sys_enter_ioctl",
        Role::AlsaEntry,
    ),
    classic_tp(
        "syscalls",
        "sys_exit_ioctl",
        "sys_exit_ioctl",
        Role::AlsaEntry,
    ),
    entry("pci_rescan_bus", None, Role::PciLifecycle),
    entry(
        "pci_stop_and_remove_bus_device_locked",
        None,
        Role::PciLifecycle,
    ),
    entry("ioremap", None, Role::Mapping),
    exit("ioremap", None, Role::Mapping),
    entry("iounmap", None, Role::Mapping),
    entry("snd_card_disconnect", Some("snd"), Role::QuiesceMarker),
    entry("azx_stop_chip", HDA_CODEC, Role::QuiesceMarker),
    entry("snd_hdac_bus_stop_chip", HDA_CORE, Role::QuiesceMarker),
    entry("snd_hdac_bus_init_chip", HDA_CORE, Role::QuiesceMarker),
    entry("azx_probe_continue", HDA_INTEL, Role::QuiesceMarker),
    entry("azx_interrupt", HDA_CODEC, Role::MmioAccessor),
    entry("snd_pcm_ioctl", Some("snd_pcm"), Role::AlsaEntry),
    entry("snd_ctl_ioctl", Some("snd"), Role::AlsaEntry),
];

/// Looks up catalogue entries by name (as `barwatch record --probe NAME` takes them).
pub fn select(names: &[String]) -> Result<Vec<ProbePoint>, String> {
    if names.is_empty() {
        return Ok(BUILTIN.to_vec());
    }
    names
        .iter()
        .map(|wanted| {
            BUILTIN
                .iter()
                .find(|p| p.name() == *wanted)
                .copied()
                .ok_or_else(|| wanted.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<String> = BUILTIN.iter().map(ProbePoint::name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn ioctl_fallback_never_uses_the_raw_syscall_tracepoints() {
        for p in BUILTIN {
            if let Target::Tracepoint {
                category: "syscalls",
                raw_program,
                ..
            } = p.target
            {
                assert!(
                    raw_program.is_none(),
                    "{} would run for every syscall",
                    p.name()
                );
            }
        }
    }

    #[test]
    fn selecting_by_name() {
        let picked = select(&[
            "kprobe:azx_stop_chip".into(),
            "irq:irq_handler_entry".into(),
        ])
        .unwrap();
        assert_eq!(picked.len(), 2);
        assert_eq!(select(&["kprobe:nope".into()]), Err("kprobe:nope".into()));
        assert_eq!(select(&[]).unwrap().len(), BUILTIN.len());
    }
}
