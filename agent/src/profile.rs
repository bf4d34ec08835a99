//! Driver profiles: the probe points a driver adds to the catalogue, as data.
//!
//! A profile is a TOML file of `[[function]]` entries, each a kernel function with
//! its role in the quiesce story and what to capture there: a kernel stack, the
//! device's MMIO base read through a path of struct members, whether the function
//! maps or unmaps MMIO. The generic PCI profile and the HD-audio profile are built
//! in; `--profile FILE` adds more.

use std::{fmt, str::FromStr};

use serde::Deserialize;
use thiserror::Error;

use crate::{
    decode::function_probe_name,
    probe_table::{Edge, MappingOp, Marker, Mechanism, ProbeStatus, Role, Trigger},
};

/// The built-in profiles' sources, compiled into the binary.
const BUILTIN: [(&str, &str); 2] = [
    ("pci.toml", include_str!("../profiles/pci.toml")),
    ("hda.toml", include_str!("../profiles/hda.toml")),
];

/// Why a profile could not be read.
#[derive(Debug, Error)]
pub enum ProfileError {
    /// The TOML is malformed or has unknown keys or values.
    #[error("profile {source_name} is not valid: {message}")]
    Invalid {
        /// File name or path of the profile.
        source_name: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A base path does not follow the `argN -> struct.member -> …` form.
    #[error("profile {source_name}: function {function}: {problem}")]
    BadBase {
        /// File name or path of the profile.
        source_name: String,
        /// The function whose base path is wrong.
        function: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A function that carries the ALSA ioctls asks for what their records
    /// cannot hold.
    #[error(
        "profile {source_name}: function {function} carries the ALSA ioctls, so it must have role alsa-entry and no base, tracks, marks or stack"
    )]
    BadCarrier {
        /// File name or path of the profile.
        source_name: String,
        /// The function.
        function: String,
    },
}

/// When a function probe takes a kernel stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackPolicy {
    /// Never.
    #[default]
    Never,
    /// On every call.
    Always,
    /// When the MMIO base it touches is unmapped: the evidence of a violation.
    IfUnmapped,
}

/// What a function does to MMIO mappings, tracked in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tracking {
    /// Its return value is a new mapping (ioremap).
    MapsReturn,
    /// It unmaps its first argument (iounmap).
    UnmapsArg0,
}

/// A path from a function argument to the MMIO base, e.g.
/// `arg0 -> hdac_stream.bus -> hdac_bus.remap_addr`: start from argument 0, read
/// member `bus` of the `struct hdac_stream` it points to, then member `remap_addr`
/// of the `struct hdac_bus` that points to. `arg0` alone means the argument is the
/// base itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasePath {
    /// The argument the path starts from (0-3).
    pub arg: u32,
    /// `(struct, member)` hops, each reading a pointer-sized member.
    pub hops: Vec<(String, String)>,
}

impl FromStr for BasePath {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.split("->").map(str::trim);
        let start = parts.next().unwrap_or_default();
        let arg = start
            .strip_prefix("arg")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n < 4)
            .ok_or_else(|| format!("base `{text}` must start with arg0..arg3"))?;
        let hops = parts
            .map(|hop| {
                hop.split_once('.')
                    .filter(|(s, m)| !s.is_empty() && !m.is_empty() && !m.contains('.'))
                    .map(|(s, m)| (s.to_owned(), m.to_owned()))
                    .ok_or_else(|| format!("hop `{hop}` of base `{text}` is not struct.member"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if hops.len() > barwatch_abi::MAX_BASE_HOPS {
            return Err(format!(
                "base `{text}` has {} hops; at most {} are followed",
                hops.len(),
                barwatch_abi::MAX_BASE_HOPS
            ));
        }
        Ok(Self { arg, hops })
    }
}

impl fmt::Display for BasePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arg{}", self.arg)?;
        for (s, m) in &self.hops {
            write!(f, " -> {s}.{m}")?;
        }
        Ok(())
    }
}

/// A kernel function probe point, as a profile declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionProbe {
    /// The function's symbol.
    pub name: String,
    /// The module it usually lives in, for the "is it loaded?" hint and for
    /// arming the probe before that module loads.
    pub module: Option<String>,
    /// Probe the return instead of the entry.
    pub exit: bool,
    /// Its role.
    pub role: Role,
    /// Whether its absence is expected on most kernels (patch-set hooks).
    pub optional: bool,
    /// When to take a kernel stack.
    pub stack: StackPolicy,
    /// How to reach the MMIO base from its arguments.
    pub base: Option<BasePath>,
    /// What it does to MMIO mappings.
    pub tracks: Option<Tracking>,
    /// What a call means to the quiesce timeline, for markers.
    pub marks: Option<Marker>,
    /// What a call does to the MMIO mappings, derived from `tracks`: the entry of
    /// a function whose return `maps-return` asks for the mapping.
    pub mapping: Option<MappingOp>,
    /// Whether the function is an ALSA file's ioctl operation (`carries =
    /// "alsa-ioctls"`: `long f(struct file *, unsigned int cmd, unsigned long
    /// arg)`), whose probes can carry the ALSA ioctls in place of the syscall hooks.
    pub carries_ioctls: bool,
}

/// What a function's probes can carry in place of another probe point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Carried {
    /// The ALSA ioctls, in place of the ioctl syscall's hooks.
    AlsaIoctls,
}

/// The TOML form of a [`FunctionProbe`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    name: String,
    module: Option<String>,
    #[serde(default)]
    exit: bool,
    role: Role,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    stack: StackPolicy,
    base: Option<String>,
    tracks: Option<Tracking>,
    marks: Option<Edge>,
    trigger: Option<Trigger>,
    carries: Option<Carried>,
}

/// The TOML form of a profile.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    #[serde(default)]
    drivers: Vec<String>,
    #[serde(default)]
    function: Vec<RawFunction>,
}

/// A parsed profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name.
    pub name: String,
    /// The drivers it is written for: devices bound to them are watched by default.
    pub drivers: Vec<String>,
    /// Its function probe points.
    pub functions: Vec<FunctionProbe>,
}

impl Profile {
    /// Parses a profile's TOML; `source_name` names it in errors.
    pub fn parse(source_name: &str, text: &str) -> Result<Self, ProfileError> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| ProfileError::Invalid {
            source_name: source_name.to_owned(),
            message: e.to_string().trim().to_owned(),
        })?;
        let functions = raw
            .function
            .into_iter()
            .map(|f| {
                let base = f
                    .base
                    .as_deref()
                    .map(BasePath::from_str)
                    .transpose()
                    .map_err(|problem| ProfileError::BadBase {
                        source_name: source_name.to_owned(),
                        function: f.name.clone(),
                        problem,
                    })?;
                let carries_ioctls = f.carries == Some(Carried::AlsaIoctls);
                if carries_ioctls
                    && (f.role != Role::AlsaEntry
                        || base.is_some()
                        || f.tracks.is_some()
                        || f.marks.is_some()
                        || f.stack != StackPolicy::Never)
                {
                    return Err(ProfileError::BadCarrier {
                        source_name: source_name.to_owned(),
                        function: f.name,
                    });
                }
                Ok(FunctionProbe {
                    name: f.name,
                    module: f.module,
                    exit: f.exit,
                    role: f.role,
                    optional: f.optional,
                    stack: f.stack,
                    base,
                    tracks: f.tracks,
                    marks: f.marks.map(|edge| Marker {
                        edge,
                        trigger: f.trigger,
                    }),
                    mapping: None,
                    carries_ioctls,
                })
            })
            .collect::<Result<Vec<_>, ProfileError>>()?;
        let functions = with_mapping_ops(functions);
        Ok(Self {
            name: raw.name,
            drivers: raw.drivers,
            functions,
        })
    }

    /// The probe table of a recording in which every function of these profiles
    /// and the tracepoints the rules read attached: synthetic captures (tests,
    /// benchmarks) start from it.
    pub fn attached_table(profiles: &[Profile]) -> Vec<ProbeStatus> {
        let functions = profiles.iter().flat_map(|p| &p.functions).map(|f| {
            let mechanism = if f.exit {
                Mechanism::Kretprobe
            } else {
                Mechanism::Kprobe
            };
            (
                function_probe_name(f.exit, &f.name),
                f.role,
                mechanism,
                f.marks,
                f.mapping,
            )
        });
        let tracepoints = [
            ("irq:irq_handler_entry", Role::Irq),
            ("irq:irq_handler_exit", Role::Irq),
            ("workqueue:workqueue_execute_start", Role::Work),
            ("workqueue:workqueue_execute_end", Role::Work),
            ("syscalls:sys_enter_ioctl", Role::AlsaEntry),
            ("syscalls:sys_exit_ioctl", Role::AlsaEntry),
            ("exceptions:page_fault_kernel", Role::PageFault),
        ]
        .map(|(name, role)| (name.to_owned(), role, Mechanism::RawTracepoint, None, None));
        functions
            .chain(tracepoints)
            .map(|(name, role, mechanism, marks, mapping)| ProbeStatus {
                name,
                role,
                attached: Some(mechanism),
                attempts: Vec::new(),
                note: None,
                marks,
                mapping,
                carries_ioctls: false,
            })
            .collect()
    }

    /// The profiles compiled into barwatch: generic PCI and HD-audio.
    pub fn builtin() -> Vec<Self> {
        BUILTIN
            .iter()
            .map(|(name, text)| Self::parse(name, text).expect("built-in profiles are valid"))
            .collect()
    }
}

/// Gives every function of a profile its mapping operation: what its `tracks`
/// says, and for the entry of a function whose return maps, [`MappingOp::MapEntry`]
/// (the entry carries the physical address and size the return's mapping has).
fn with_mapping_ops(mut functions: Vec<FunctionProbe>) -> Vec<FunctionProbe> {
    let mapping_returns: Vec<String> = functions
        .iter()
        .filter(|f| f.exit && f.tracks == Some(Tracking::MapsReturn))
        .map(|f| f.name.clone())
        .collect();
    for f in &mut functions {
        f.mapping = match f.tracks {
            Some(Tracking::UnmapsArg0) => Some(MappingOp::Unmap),
            Some(Tracking::MapsReturn) => Some(MappingOp::MapReturn),
            None if !f.exit && mapping_returns.contains(&f.name) => Some(MappingOp::MapEntry),
            None => None,
        };
    }
    functions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse_and_describe_the_hda_accessors() {
        let profiles = Profile::builtin();
        assert_eq!(profiles.len(), 2);
        let hda = profiles.iter().find(|p| p.name == "hda").unwrap();
        let irq = hda
            .functions
            .iter()
            .find(|f| f.name == "azx_interrupt")
            .unwrap();
        assert_eq!(irq.role, Role::MmioAccessor);
        assert_eq!(irq.stack, StackPolicy::IfUnmapped);
        assert_eq!(
            irq.base.as_ref().unwrap().to_string(),
            "arg1 -> hdac_bus.remap_addr"
        );
        let pci = profiles.iter().find(|p| p.name == "pci").unwrap();
        let mapping = |name: &str, exit: bool| {
            pci.functions
                .iter()
                .find(|f| f.name == name && f.exit == exit)
                .and_then(|f| f.mapping)
        };
        assert_eq!(mapping("iounmap", false), Some(MappingOp::Unmap));
        assert_eq!(mapping("ioremap", false), Some(MappingOp::MapEntry));
        assert_eq!(mapping("ioremap", true), Some(MappingOp::MapReturn));
        assert!(
            hda.functions.iter().all(|f| f.mapping.is_none()),
            "no HD-audio function maps or unmaps"
        );
    }

    #[test]
    fn base_paths_parse_or_say_what_is_wrong() {
        let path: BasePath = "arg0 -> hdac_stream.bus -> hdac_bus.remap_addr"
            .parse()
            .unwrap();
        assert_eq!(path.arg, 0);
        assert_eq!(path.hops.len(), 2);
        assert_eq!("arg2".parse::<BasePath>().unwrap().hops, []);
        assert!(
            "arg4"
                .parse::<BasePath>()
                .unwrap_err()
                .contains("arg0..arg3")
        );
        assert!(
            "arg0 -> bus"
                .parse::<BasePath>()
                .unwrap_err()
                .contains("struct.member")
        );
        assert!(
            "arg0 -> a.b -> c.d -> e.f -> g.h -> i.j"
                .parse::<BasePath>()
                .is_err()
        );
    }

    #[test]
    fn bad_profiles_name_the_problem() {
        let err = Profile::parse(
            "x.toml",
            "name = \"x\"\n[[function]]\nname = \"f\"\nrole = \"wizard\"\n",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("x.toml") && err.to_string().contains("wizard"),
            "{err}"
        );
        let err = Profile::parse(
            "y.toml",
            "name = \"y\"\n[[function]]\nname = \"f\"\nrole = \"irq\"\nbase = \"argX\"\n",
        )
        .unwrap_err();
        assert!(matches!(err, ProfileError::BadBase { .. }), "{err}");
        let err = Profile::parse("z.toml", "name = \"z\"\nfunktion = 1\n").unwrap_err();
        assert!(err.to_string().contains("funktion"), "{err}");
    }

    #[test]
    fn only_a_plain_alsa_entry_carries_the_alsa_ioctls() {
        let carrier = |extra: &str| {
            Profile::parse(
                "c.toml",
                &format!(
                    "name = \"c\"\n[[function]]\nname = \"snd_ctl_ioctl\"\ncarries = \"alsa-ioctls\"\n{extra}"
                ),
            )
        };
        let profile = carrier("role = \"alsa-entry\"\n").unwrap();
        assert!(profile.functions[0].carries_ioctls);
        for wrong in [
            "role = \"irq\"\n",
            "role = \"alsa-entry\"\nstack = \"always\"\n",
            "role = \"alsa-entry\"\nbase = \"arg0 -> a.b\"\n",
        ] {
            let err = carrier(wrong).unwrap_err();
            assert!(
                matches!(err, ProfileError::BadCarrier { .. }),
                "{wrong}: {err}"
            );
        }
    }
}
