//! ioctl-in-window: an ALSA PCM/control ioctl entered the driver during the quiesce
//! window, or was still in flight when the BAR was unmapped.
//!
//! Only ioctls that reached the driver count. Once `snd_card_disconnect` has run,
//! ALSA routes a file's ioctls to its `snd_disconnect_*` stubs, which never touch
//! the device; an ioctl reached the driver when the probes of ALSA's ioctl file
//! operations carried it (they record only calls that ran them), when
//! `snd_pcm_ioctl`/`snd_ctl_ioctl` ran inside one the syscall hooks recorded, or,
//! without those probes, when it did not fail with -ENODEV.

use super::{Context, Rule, Violation};
use crate::time::human_duration;
use crate::{
    event::{Event, EventData},
    probe_table::Role,
    timeline::Cycle,
};

/// The rule.
pub struct IoctlInWindow;

/// -ENODEV: what ALSA's disconnected files answer.
const ENODEV: i64 = -19;

/// One ioctl: its entry, its exit if seen, and whether it reached the driver.
struct Call<'a> {
    enter: &'a Event,
    exit: Option<&'a Event>,
    reached: bool,
}

impl Rule for IoctlInWindow {
    fn id(&self) -> &'static str {
        "ioctl-in-window"
    }

    fn meaning(&self) -> &'static str {
        "no ALSA ioctl reaches the driver in the quiesce window or is still in flight at the unmap"
    }

    fn blind(&self, ctx: &Context) -> Option<String> {
        ctx.blind_to(&[Role::Mapping], &["syscalls:sys_enter_ioctl"])
    }

    fn violations(&self, ctx: &Context) -> Vec<Violation> {
        let entries_probed = ctx
            .probes
            .names_with_role(Role::AlsaEntry)
            .any(|name| name.starts_with("kprobe:") && ctx.probes.attached(name));
        let mut found = Vec::new();
        for call in calls(ctx, entries_probed) {
            let Some(device) = call.enter.device.as_deref() else {
                continue;
            };
            let Some(timeline) = ctx.timelines.device(device) else {
                continue;
            };
            let exit = call.exit.map_or(u64::MAX, |e| e.ts_ns);
            for cycle in timeline.cycles_around(call.enter.ts_ns, exit) {
                if let Some(v) = judge(&call, device, cycle) {
                    found.push(v);
                }
            }
        }
        found
    }

    fn gaps(&self, ctx: &Context) -> Option<String> {
        ctx.gaps(&[Role::Mapping, Role::AlsaEntry, Role::QuiesceMarker])
    }

    /// A call still in flight at the horizon: whether it reaches the driver, and
    /// whether it is still in flight at a later unmap, is not known yet.
    fn pins(&self, ctx: &Context, keep: &mut [bool]) {
        for (_, call) in ctx.intervals.ioctls.open_at(keep.len()) {
            keep[call.open] = true;
        }
    }
}

/// Every ioctl call, noting which reached the driver: an ALSA file operation's
/// probe carried it, its ALSA entry point (a function probe with the alsa-entry
/// role) ran inside it, or, without those probes, it did not fail with -ENODEV.
fn calls<'a>(ctx: &Context<'a>, entries_probed: bool) -> Vec<Call<'a>> {
    ctx.intervals
        .ioctls
        .all()
        .iter()
        .map(|call| {
            let exit = call.close.map(|i| &ctx.events[i]);
            let enter = &ctx.events[call.open];
            let reached = if ctx.probes.carries_ioctls(&enter.probe) {
                true
            } else if entries_probed {
                !call.inner.is_empty()
            } else {
                !exit.is_some_and(
                    |e| matches!(e.data, EventData::IoctlExit { ret, .. } if ret == ENODEV),
                )
            };
            Call {
                enter,
                exit,
                reached,
            }
        })
        .collect()
}

/// The violation `call` commits against `cycle`, if any.
fn judge(call: &Call, device: &str, cycle: &Cycle) -> Option<Violation> {
    if !call.reached {
        return None;
    }
    let enter = call.enter.ts_ns;
    let exit = call.exit.map(|e| e.ts_ns);
    let (name, fd) = match &call.enter.data {
        EventData::IoctlEnter { cmd_name, fd, .. } => (cmd_name.as_str(), *fd),
        _ => return None,
    };
    let quiesce = cycle.quiesce_window();
    let unmap_window = cycle.unmap_window();
    let entered_quiescing = quiesce.is_some_and(|w| w.contains(enter));
    let entered_unmapped = unmap_window.is_some_and(|w| w.contains(enter));
    let in_flight_at_unmap = cycle
        .unmap
        .as_ref()
        .is_some_and(|u| enter < u.ts_ns && exit.is_none_or(|x| x > u.ts_ns));
    let what = if in_flight_at_unmap {
        let unmap = cycle.unmap.as_ref().expect("checked above");
        format!(
            "ioctl({fd}, {name}) by pid {} {} was still in the driver when {} ran, {} after it entered",
            call.enter.pid,
            call.enter.comm,
            unmap.what,
            human_duration(unmap.ts_ns - enter)
        )
    } else if entered_quiescing || entered_unmapped {
        let start = cycle.quiesce.as_ref().or(cycle.unmap.as_ref())?;
        let window = if entered_unmapped { "unmap" } else { "quiesce" };
        format!(
            "ioctl({fd}, {name}) by pid {} {} reached the driver in the {window} window, {} after {}",
            call.enter.pid,
            call.enter.comm,
            human_duration(enter - start.ts_ns),
            start.what
        )
    } else {
        return None;
    };
    let mut v = Violation::by("ioctl-in-window", device, Some(cycle), call.enter);
    v.what = what;
    v.advice = "Stop taking requests before quiescing: disconnect the card (snd_card_disconnect) or take a lock/reference that remove waits for, so no ioctl is in the driver when the BAR goes away.".to_owned();
    v.events.extend(call.exit.cloned());
    Some(v)
}
