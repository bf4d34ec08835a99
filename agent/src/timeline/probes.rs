//! What each probe of a capture means to the timeline: its role, its marker edge,
//! what it does to the MMIO mappings, and whether it was attached (a rule that
//! needs a blind probe is not checked).

use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use crate::{
    event::SYSFS_PROBE,
    probe_table::{MappingOp, Marker, ProbeStatus, Role},
    profile::Profile,
};

/// One probe point as the analysis sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Point {
    role: Role,
    meaning: Meaning,
    attached: bool,
    carries_ioctls: bool,
}

/// What a call of a probe means to the timeline: the timeline reads both of a
/// function event with one look-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meaning {
    /// Its marker edge, for markers.
    pub marks: Option<Marker>,
    /// What it does to the MMIO mappings, for mapping probes.
    pub mapping: Option<MappingOp>,
}

/// The built-in profiles' markers and mapping operations by probe name, parsed
/// once: every analysis indexes a probe table, and older captures' tables lack
/// what later formats record.
fn builtin() -> &'static FxHashMap<String, Meaning> {
    static BUILTIN: OnceLock<FxHashMap<String, Meaning>> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        Profile::builtin()
            .into_iter()
            .flat_map(|p| p.functions)
            .filter(|f| f.marks.is_some() || f.mapping.is_some())
            .map(|f| {
                let name = crate::decode::function_probe_name(f.exit, &f.name);
                let meaning = Meaning {
                    marks: f.marks,
                    mapping: f.mapping,
                };
                (name, meaning)
            })
            .collect()
    })
}

/// What the probe table says of one probe, found with one look-up: code that
/// reads several of a call's facts (pairing intervals: the role and the marker)
/// hashes its name once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeFacts {
    /// Its role; `None` for probes not in the table.
    pub role: Option<Role>,
    /// What a call of it means to the timeline (see [`ProbeIndex::meaning`]).
    pub meaning: Meaning,
}

/// The capture's probe table, indexed by probe name. Looked up several times
/// for every event, so hashed with Fx rather than SipHash: probe names are the
/// capture's own, not an attacker's choice of keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeIndex {
    points: FxHashMap<String, Point>,
}

impl ProbeIndex {
    /// Indexes `table`. Captures before format 1.2 carry no markers and those
    /// before 1.4 no mapping operations: those come from the built-in profiles'
    /// entry of the same name.
    pub fn new(table: &[ProbeStatus]) -> Self {
        let builtin = builtin();
        let points = table
            .iter()
            .map(|p| {
                let known = builtin.get(&p.name).copied().unwrap_or_default();
                let point = Point {
                    role: p.role,
                    meaning: Meaning {
                        marks: p.marks.or(known.marks),
                        mapping: p.mapping.or(known.mapping),
                    },
                    attached: p.is_attached(),
                    carries_ioctls: p.carries_ioctls && p.is_attached(),
                };
                (p.name.clone(), point)
            })
            .collect();
        Self { points }
    }

    /// The role of `probe`; `None` for probes not in the table (and barwatch's own
    /// sysfs records).
    pub fn role(&self, probe: &str) -> Option<Role> {
        self.points.get(probe).map(|p| p.role)
    }

    /// What a call of `probe` means to the timeline, for markers.
    pub fn marker(&self, probe: &str) -> Option<Marker> {
        self.points.get(probe).and_then(|p| p.meaning.marks)
    }

    /// What a call of `probe` does to the MMIO mappings (see [`ProbeIndex::meaning`]).
    pub fn mapping(&self, probe: &str) -> Option<MappingOp> {
        self.meaning(probe).mapping
    }

    /// What a call of `probe` means to the timeline. A probe the table does not
    /// list (a record of an older table, a hand-made story) maps and unmaps as
    /// the built-in profiles say of its name, and marks nothing.
    pub fn meaning(&self, probe: &str) -> Meaning {
        self.facts(probe).meaning
    }

    /// The role and meaning of `probe` (see [`ProbeIndex::role`] and
    /// [`ProbeIndex::meaning`]).
    pub fn facts(&self, probe: &str) -> ProbeFacts {
        match self.points.get(probe) {
            Some(point) => ProbeFacts {
                role: Some(point.role),
                meaning: point.meaning,
            },
            None => ProbeFacts {
                role: None,
                meaning: Meaning {
                    marks: None,
                    mapping: builtin().get(probe).and_then(|b| b.mapping),
                },
            },
        }
    }

    /// Whether some attached probe has `role`.
    pub fn sees_role(&self, role: Role) -> bool {
        self.points.values().any(|p| p.role == role && p.attached)
    }

    /// Whether `probe` was attached.
    pub fn attached(&self, probe: &str) -> bool {
        probe == SYSFS_PROBE || self.points.get(probe).is_some_and(|p| p.attached)
    }

    /// Whether `probe` carried the ALSA ioctls: the ioctls it recorded are
    /// calls of an ALSA file operation, so each reached the driver.
    pub fn carries_ioctls(&self, probe: &str) -> bool {
        self.points.get(probe).is_some_and(|p| p.carries_ioctls)
    }

    /// Whether some attached probe marks `edge`.
    pub fn sees_edge(&self, edge: crate::probe_table::Edge) -> bool {
        self.points
            .values()
            .any(|p| p.attached && p.meaning.marks.is_some_and(|m| m.edge == edge))
    }

    /// The attached probes with `role`, by name, for "which records were lost".
    pub fn names_with_role(&self, role: Role) -> impl Iterator<Item = &str> {
        self.points
            .iter()
            .filter(move |(_, p)| p.role == role)
            .map(|(name, _)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_written_before_mapping_operations_takes_them_from_the_builtin_profiles() {
        let mut table = Profile::attached_table(&Profile::builtin());
        for p in &mut table {
            p.mapping = None;
        }
        let old = ProbeIndex::new(&table);
        assert_eq!(old.mapping("kprobe:iounmap"), Some(MappingOp::Unmap));
        assert_eq!(old.mapping("kprobe:ioremap"), Some(MappingOp::MapEntry));
        assert_eq!(old.mapping("kretprobe:ioremap"), Some(MappingOp::MapReturn));
        assert_eq!(old.mapping("kprobe:azx_stop_chip"), None);
        assert_eq!(
            old,
            ProbeIndex::new(&Profile::attached_table(&Profile::builtin()))
        );
    }

    #[test]
    fn a_table_that_names_a_mapping_operation_is_followed_over_the_function_name() {
        let mut table = Profile::attached_table(&Profile::builtin());
        let unmapper = table
            .iter_mut()
            .find(|p| p.name == "kprobe:azx_stop_chip")
            .unwrap();
        unmapper.mapping = Some(MappingOp::Unmap);
        assert_eq!(
            ProbeIndex::new(&table).mapping("kprobe:azx_stop_chip"),
            Some(MappingOp::Unmap)
        );
    }
}
