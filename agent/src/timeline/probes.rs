//! What each probe of a capture means to the timeline: its role, its marker edge,
//! and whether it was attached (a rule that needs a blind probe is not checked).

use std::{collections::HashMap, sync::OnceLock};

use crate::{
    event::SYSFS_PROBE,
    probe_table::{Marker, ProbeStatus, Role},
    profile::Profile,
};

/// One probe point as the analysis sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Point {
    role: Role,
    marks: Option<Marker>,
    attached: bool,
}

/// The built-in profiles' markers by probe name, parsed once: every judgement
/// (and `check`'s wait for open cycles) indexes a probe table.
fn builtin_markers() -> &'static HashMap<String, Marker> {
    static MARKERS: OnceLock<HashMap<String, Marker>> = OnceLock::new();
    MARKERS.get_or_init(|| {
        Profile::builtin()
            .into_iter()
            .flat_map(|p| p.functions)
            .filter_map(|f| {
                let name = crate::decode::function_probe_name(f.exit, &f.name);
                f.marks.map(|m| (name, m))
            })
            .collect()
    })
}

/// The capture's probe table, indexed by probe name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeIndex {
    points: HashMap<String, Point>,
}

impl ProbeIndex {
    /// Indexes `table`. Captures before format 1.2 carry no markers: those come
    /// from the built-in profiles' entry of the same name.
    pub fn new(table: &[ProbeStatus]) -> Self {
        let builtin = builtin_markers();
        let points = table
            .iter()
            .map(|p| {
                let marks = p.marks.or_else(|| builtin.get(&p.name).copied());
                let point = Point {
                    role: p.role,
                    marks,
                    attached: p.is_attached(),
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
        self.points.get(probe).and_then(|p| p.marks)
    }

    /// Whether some attached probe has `role`.
    pub fn sees_role(&self, role: Role) -> bool {
        self.points.values().any(|p| p.role == role && p.attached)
    }

    /// Whether `probe` was attached.
    pub fn attached(&self, probe: &str) -> bool {
        probe == SYSFS_PROBE || self.points.get(probe).is_some_and(|p| p.attached)
    }

    /// Whether some attached probe marks `edge`.
    pub fn sees_edge(&self, edge: crate::probe_table::Edge) -> bool {
        self.points
            .values()
            .any(|p| p.attached && p.marks.is_some_and(|m| m.edge == edge))
    }

    /// The attached probes with `role`, by name, for "which records were lost".
    pub fn names_with_role(&self, role: Role) -> impl Iterator<Item = &str> {
        self.points
            .iter()
            .filter(move |(_, p)| p.role == role)
            .map(|(name, _)| name.as_str())
    }
}
