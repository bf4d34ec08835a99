//! The catalogue of probe points: the tracepoints this build has programs for, and
//! the function probes of the loaded profiles. Data, not code paths: adding a
//! function probe is adding an entry to a profile.

use barwatch_abi::{HDA_TRACEPOINTS, PROGRAM_SYS_IOCTL_FENTRY, PROGRAM_SYS_IOCTL_FEXIT};

use crate::{
    decode::function_probe_name,
    probe_table::{MappingOp, Marker, Mechanism, Role},
    profile::{FunctionProbe, Profile},
};

/// A tracepoint, observed by a program on its syscall's function, a raw
/// tracepoint program, a classic one, or several (tried in that order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracepointProbe {
    /// Category, e.g. `irq`.
    pub category: &'static str,
    /// Event name, e.g. `irq_handler_entry`.
    pub name: &'static str,
    /// The BPF program for the raw tracepoint, if this build has one.
    pub raw_program: Option<&'static str>,
    /// The BPF program for the classic tracepoint, if this build has one.
    pub classic_program: Option<&'static str>,
    /// For a syscall tracepoint: the BPF program that sees the same at the
    /// entry (fentry) or return (fexit) of the syscall's own function (see
    /// [`crate::live::syscall`]), and which of the two it is.
    pub syscall_program: Option<(&'static str, Mechanism)>,
    /// Its role.
    pub role: Role,
    /// The module that defines it, when it is not in vmlinux: it is attached once
    /// that module loads.
    pub module: Option<&'static str>,
}

/// One entry of the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbePoint {
    /// A tracepoint with a program in this build.
    Tracepoint(TracepointProbe),
    /// A kernel function from a profile.
    Function(FunctionProbe),
}

impl ProbePoint {
    /// The point's name in tables and captures: `category:name` for tracepoints,
    /// `kprobe:fn` / `kretprobe:fn` for functions (whatever mechanism attaches).
    pub fn name(&self) -> String {
        match self {
            ProbePoint::Function(f) => function_probe_name(f.exit, &f.name),
            ProbePoint::Tracepoint(t) => format!("{}:{}", t.category, t.name),
        }
    }

    /// What a call means to the quiesce timeline, for markers.
    pub fn marks(&self) -> Option<Marker> {
        match self {
            ProbePoint::Function(f) => f.marks,
            ProbePoint::Tracepoint(_) => None,
        }
    }

    /// What a call does to the MMIO mappings, for mapping probes.
    pub fn mapping(&self) -> Option<MappingOp> {
        match self {
            ProbePoint::Function(f) => f.mapping,
            ProbePoint::Tracepoint(_) => None,
        }
    }

    /// Whether its probes can carry the ALSA ioctls: an ALSA file operation's
    /// (as its profile says).
    pub fn carries_ioctls(&self) -> bool {
        matches!(self, ProbePoint::Function(f) if f.carries_ioctls)
    }

    /// Whether it takes the ALSA ioctls at the syscall: the hooks that stay
    /// detached where the file operations' probes carry them.
    pub fn takes_ioctls_at_the_syscall(&self) -> bool {
        matches!(self, ProbePoint::Tracepoint(t) if t.syscall_program.is_some())
    }

    /// Its role in the quiesce story.
    pub fn role(&self) -> Role {
        match self {
            ProbePoint::Function(f) => f.role,
            ProbePoint::Tracepoint(t) => t.role,
        }
    }
}

/// A raw-tracepoint-only entry.
const fn raw_tp(category: &'static str, name: &'static str, role: Role) -> TracepointProbe {
    TracepointProbe {
        category,
        name,
        raw_program: Some(name),
        classic_program: None,
        syscall_program: None,
        role,
        module: None,
    }
}

/// A syscall tracepoint, observed at its syscall's function (`program`, by
/// `mechanism`) where BTF trampolines reach it, else as a classic tracepoint.
const fn syscall_tp(
    name: &'static str,
    program: &'static str,
    mechanism: Mechanism,
    role: Role,
) -> TracepointProbe {
    TracepointProbe {
        category: "syscalls",
        name,
        raw_program: None,
        classic_program: Some(name),
        syscall_program: Some((program, mechanism)),
        role,
        module: None,
    }
}

/// The tracepoints this build has programs for (each program is named after its
/// event). The `syscalls:*_ioctl` ones carry every ALSA ioctl, with its file's
/// device number and its return: first from fentry and fexit on the ioctl
/// syscall's function, which cost the other syscalls nothing, else from the
/// classic tracepoints, never the raw `sys_enter`, which would run for every
/// syscall on the system.
pub const TRACEPOINTS: &[TracepointProbe] = &[
    raw_tp("irq", "irq_handler_entry", Role::Irq),
    raw_tp("irq", "irq_handler_exit", Role::Irq),
    raw_tp("workqueue", "workqueue_execute_start", Role::Work),
    raw_tp("workqueue", "workqueue_execute_end", Role::Work),
    syscall_tp(
        "sys_enter_ioctl",
        PROGRAM_SYS_IOCTL_FENTRY,
        Mechanism::Fentry,
        Role::AlsaEntry,
    ),
    syscall_tp(
        "sys_exit_ioctl",
        PROGRAM_SYS_IOCTL_FEXIT,
        Mechanism::Fexit,
        Role::AlsaEntry,
    ),
    raw_tp("module", "module_load", Role::ModuleLoad),
    raw_tp("exceptions", "page_fault_kernel", Role::PageFault),
];

/// The HD-audio drivers' own tracepoints, each with its role and module (as of
/// 6.1; on a kernel that moved or dropped one it is reported blind, with why).
pub fn hda_tracepoints() -> impl Iterator<Item = TracepointProbe> {
    HDA_TRACEPOINTS.iter().map(|&(category, name, _)| {
        let role = match name {
            "azx_suspend" | "azx_resume" | "azx_runtime_suspend" | "azx_runtime_resume" => {
                Role::QuiesceMarker
            }
            name if name.starts_with("azx_pcm_") => Role::AlsaEntry,
            _ => Role::MmioAccessor,
        };
        let module = match category {
            "hda" => "snd_hda_core",
            "hda_controller" => "snd_hda_codec",
            _ => "snd_hda_intel",
        };
        TracepointProbe {
            category,
            name,
            raw_program: Some(name),
            classic_program: None,
            syscall_program: None,
            role,
            module: Some(module),
        }
    })
}

/// The whole catalogue: the tracepoints, then every profile's functions in order.
pub fn catalogue(profiles: &[Profile]) -> Vec<ProbePoint> {
    TRACEPOINTS
        .iter()
        .copied()
        .chain(hda_tracepoints())
        .map(ProbePoint::Tracepoint)
        .chain(
            profiles
                .iter()
                .flat_map(|p| p.functions.iter().cloned().map(ProbePoint::Function)),
        )
        .collect()
}

/// Picks catalogue entries by name (as `barwatch record --probe NAME` takes them);
/// all of them when `names` is empty. `Err` holds the first unknown name.
pub fn select(all: Vec<ProbePoint>, names: &[String]) -> Result<Vec<ProbePoint>, String> {
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|wanted| {
            all.iter()
                .find(|p| p.name() == *wanted)
                .cloned()
                .ok_or_else(|| wanted.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> Vec<ProbePoint> {
        catalogue(&Profile::builtin())
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<String> = builtin().iter().map(ProbePoint::name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn ioctl_fallback_never_uses_the_raw_syscall_tracepoints() {
        for t in TRACEPOINTS {
            if t.category == "syscalls" {
                assert!(
                    t.raw_program.is_none(),
                    "{}:{} would run for every syscall",
                    t.category,
                    t.name
                );
            }
        }
    }

    #[test]
    fn the_catalogue_covers_every_role_of_the_quiesce_story() {
        let roles: Vec<Role> = builtin().iter().map(ProbePoint::role).collect();
        for role in [
            Role::PciLifecycle,
            Role::Mapping,
            Role::QuiesceMarker,
            Role::MmioAccessor,
            Role::AlsaEntry,
            Role::Irq,
            Role::Work,
        ] {
            assert!(roles.contains(&role), "{role} missing");
        }
    }

    #[test]
    fn selecting_by_name() {
        let picked = select(
            builtin(),
            &[
                "kprobe:azx_stop_chip".into(),
                "irq:irq_handler_entry".into(),
            ],
        )
        .unwrap();
        assert_eq!(picked.len(), 2);
        assert_eq!(
            select(builtin(), &["kprobe:nope".into()]),
            Err("kprobe:nope".into())
        );
        assert_eq!(select(builtin(), &[]).unwrap().len(), builtin().len());
    }
}
