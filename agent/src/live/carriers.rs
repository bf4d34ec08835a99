//! Which probes carry the ALSA ioctls: the kprobes on ALSA's ioctl file
//! operations where every one of them attached, else the ioctl syscall's hooks.
//!
//! A file operation runs only for ioctls on ALSA's devices, so its probes cost
//! the rest of the system nothing; a syscall hook runs for every ioctl (and a
//! syscall tracepoint puts every syscall of every thread on the slow path). The
//! file operations carry the ioctls only all together, entries and returns: a
//! type of ALSA ioctl no probe takes would go unseen, and an entry without its
//! return would look in flight for ever. The decision is pure so it can be
//! tested against fake attach outcomes.

use super::catalogue::ProbePoint;
use crate::probe_table::{Attempt, Mechanism, ProbeStatus};

/// Whether the ALSA ioctl file operations' probes carry the ALSA ioctls, given
/// how each point of `points` attached (`None` for a point not tried yet): the
/// catalogue has such points, each function of them has both its entry and its
/// return there, each attached with a kprobe (or kretprobe), and each return's
/// kretprobe keeps enough calls in flight (`returns_kept`, by point name: an
/// armed one keeps thousands, one attached directly the kernel's default of
/// max(10, 2 × CPUs), too few for ioctls that sleep, whose missed returns would
/// leave calls open for ever).
pub fn file_operations_carry(
    points: &[ProbePoint],
    table: &[Option<ProbeStatus>],
    returns_kept: impl Fn(&str) -> bool,
) -> bool {
    let carriers: Vec<(&ProbePoint, Option<&ProbeStatus>)> = points
        .iter()
        .zip(table)
        .filter(|(point, _)| point.carries_ioctls())
        .map(|(point, status)| (point, status.as_ref()))
        .collect();
    let by_kprobe = |status: Option<&ProbeStatus>| {
        matches!(
            status.and_then(|s| s.attached),
            Some(Mechanism::Kprobe | Mechanism::Kretprobe)
        )
    };
    let both_ends = |point: &ProbePoint| {
        let ProbePoint::Function(f) = point else {
            return false;
        };
        carriers.iter().any(|(other, _)| {
            matches!(other, ProbePoint::Function(g) if g.name == f.name && g.exit != f.exit)
        })
    };
    let kept = |point: &ProbePoint| {
        !matches!(point, ProbePoint::Function(f) if f.exit) || returns_kept(&point.name())
    };
    !carriers.is_empty()
        && carriers
            .iter()
            .all(|(point, status)| by_kprobe(*status) && both_ends(point) && kept(point))
}

/// The names of the functions that carry the ALSA ioctls, once each, in
/// catalogue order.
pub fn carrier_functions(points: &[ProbePoint]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for point in points {
        if let ProbePoint::Function(f) = point
            && f.carries_ioctls
            && !names.contains(&f.name.as_str())
        {
            names.push(&f.name);
        }
    }
    names
}

/// Marks the table entry of a file operation's probe that carries the ALSA
/// ioctls, and says so next to what its note said.
pub fn mark(status: &mut ProbeStatus) {
    status.carries_ioctls = true;
    let carries = "carries the ALSA ioctls in place of the syscall hooks";
    status.note = Some(match status.note.take() {
        Some(note) => format!("{carries}; {note}"),
        None => carries.to_owned(),
    });
}

/// The table entry of a syscall hook point (`syscalls:sys_enter_ioctl`, …) whose
/// ioctls the file operations' probes carry: observed, by kprobe (kretprobe for
/// the return), through `functions`, with nothing attached to the syscall.
pub fn carried_status(point: &ProbePoint, functions: &[&str]) -> ProbeStatus {
    let returns = matches!(
        point,
        ProbePoint::Tracepoint(t)
            if matches!(t.syscall_program, Some((_, Mechanism::Fexit)))
    );
    let mechanism = if returns {
        Mechanism::Kretprobe
    } else {
        Mechanism::Kprobe
    };
    ProbeStatus {
        name: point.name(),
        role: point.role(),
        attached: Some(mechanism),
        attempts: vec![Attempt {
            mechanism,
            failure: None,
        }],
        note: Some(format!(
            "carried by the {mechanism}s on ALSA's ioctl file operations ({}): no syscall hook, other syscalls keep their fast path",
            functions.join(", ")
        )),
        marks: point.marks(),
        mapping: point.mapping(),
        carries_ioctls: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        live::catalogue::{TRACEPOINTS, catalogue},
        probe_table::Role,
        profile::Profile,
        testkit,
    };

    /// The built-in catalogue and a table in which every point attached with
    /// `mechanism_of` (`None`: refused).
    fn attached_with(
        mechanism_of: impl Fn(&ProbePoint) -> Option<Mechanism>,
    ) -> (Vec<ProbePoint>, Vec<Option<ProbeStatus>>) {
        let points = catalogue(&Profile::builtin());
        let table = points
            .iter()
            .map(|point| {
                Some(match mechanism_of(point) {
                    Some(m) => testkit::attached(&point.name(), point.role(), m),
                    None => testkit::refused(&point.name(), point.role(), Mechanism::Kprobe, "no"),
                })
            })
            .collect();
        (points, table)
    }

    fn kprobes(point: &ProbePoint) -> Option<Mechanism> {
        Some(match point {
            ProbePoint::Function(f) if f.exit => Mechanism::Kretprobe,
            _ => Mechanism::Kprobe,
        })
    }

    #[test]
    fn the_file_operations_carry_the_ioctls_when_every_probe_of_theirs_attached() {
        let (points, table) = attached_with(kprobes);
        assert!(file_operations_carry(&points, &table, |_| true));
        assert_eq!(
            carrier_functions(&points),
            [
                "snd_pcm_ioctl",
                "snd_ctl_ioctl",
                "snd_timer_user_ioctl",
                "snd_hwdep_ioctl"
            ]
        );
    }

    #[test]
    fn one_missing_file_operation_leaves_the_ioctls_to_the_syscall() {
        let (points, table) = attached_with(|point| match point {
            ProbePoint::Function(f) if f.name == "snd_hwdep_ioctl" && f.exit => None,
            other => kprobes(other),
        });
        assert!(!file_operations_carry(&points, &table, |_| true));
    }

    #[test]
    fn returns_attached_with_the_kernels_few_calls_in_flight_do_not_carry() {
        let (points, table) = attached_with(kprobes);
        let armed_but_one = |name: &str| name != "kretprobe:snd_pcm_ioctl";
        assert!(!file_operations_carry(&points, &table, armed_but_one));
    }

    #[test]
    fn trampolines_on_the_file_operations_do_not_carry() {
        let (points, table) = attached_with(|point| match point {
            ProbePoint::Function(f) if f.name == "snd_ctl_ioctl" => Some(Mechanism::Fentry),
            other => kprobes(other),
        });
        assert!(!file_operations_carry(&points, &table, |_| true));
    }

    #[test]
    fn an_entry_without_its_return_does_not_carry() {
        let (all, _) = attached_with(kprobes);
        let points: Vec<ProbePoint> = all
            .into_iter()
            .filter(|p| !matches!(p, ProbePoint::Function(f) if f.exit && f.carries_ioctls))
            .collect();
        let table: Vec<Option<ProbeStatus>> = points
            .iter()
            .map(|p| Some(testkit::attached(&p.name(), p.role(), Mechanism::Kprobe)))
            .collect();
        assert!(!file_operations_carry(&points, &table, |_| true));
    }

    #[test]
    fn a_catalogue_without_file_operations_leaves_the_ioctls_to_the_syscall() {
        let points: Vec<ProbePoint> = TRACEPOINTS
            .iter()
            .copied()
            .map(ProbePoint::Tracepoint)
            .collect();
        let table = vec![None; points.len()];
        assert!(!file_operations_carry(&points, &table, |_| true));
    }

    #[test]
    fn a_carrier_says_it_carries_before_what_its_note_said() {
        let mut status =
            testkit::attached("kprobe:snd_ctl_ioctl", Role::AlsaEntry, Mechanism::Kprobe);
        status.note = Some("armed in snd".into());
        mark(&mut status);
        assert!(status.carries_ioctls);
        assert_eq!(
            status.note.as_deref(),
            Some("carries the ALSA ioctls in place of the syscall hooks; armed in snd")
        );
    }

    #[test]
    fn the_syscall_rows_say_what_carries_their_ioctls() {
        let points = catalogue(&Profile::builtin());
        let functions = carrier_functions(&points);
        let rows: Vec<ProbeStatus> = points
            .iter()
            .filter(|p| p.takes_ioctls_at_the_syscall())
            .map(|p| carried_status(p, &functions))
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "syscalls:sys_enter_ioctl");
        assert_eq!(rows[0].attached, Some(Mechanism::Kprobe));
        assert_eq!(rows[1].attached, Some(Mechanism::Kretprobe));
        assert_eq!(rows[0].role, Role::AlsaEntry);
        let note = rows[0].note.as_deref().unwrap();
        assert!(
            note.contains("kprobes on ALSA's ioctl file operations (snd_pcm_ioctl, snd_ctl_ioctl"),
            "{note}"
        );
    }
}
