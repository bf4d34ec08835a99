//! Kprobes armed before their module loads: tracefs kprobe events written as
//! `MODULE:function`, which the kernel registers as the module comes up, with a
//! BPF program attached to each through a perf event. A driver that loads while
//! barwatch records is then watched from its first call, module init and probe
//! included, where an attach after `module_load` comes about a second late.
//!
//! aya attaches kprobes only to functions that exist, so this is the one place
//! that talks to perf and bpf() itself: `perf_event_open` on the event's id and
//! `BPF_LINK_CREATE` with a cookie that tells the program which point it serves
//! (its address is not known before the load).

use std::{
    collections::BTreeMap,
    fs::{self, OpenOptions},
    io::{self, Write},
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
};

/// The group every barwatch process's events go in is this, then its pid: a run
/// that was killed leaves its own group behind, never another run's.
const GROUP_PREFIX: &str = "barwatch_";

/// `PERF_TYPE_TRACEPOINT` (uapi linux/perf_event.h).
const PERF_TYPE_TRACEPOINT: u64 = 2;
/// `PERF_ATTR_SIZE_VER0`: the fields used here are all in the first version.
const PERF_ATTR_SIZE: u64 = 64;
/// `PERF_FLAG_FD_CLOEXEC`.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
/// `BPF_LINK_CREATE` (uapi linux/bpf.h `enum bpf_cmd`).
const BPF_LINK_CREATE: libc::c_long = 28;
/// `BPF_PERF_EVENT` (uapi linux/bpf.h `enum bpf_attach_type`).
const BPF_PERF_EVENT: u64 = 41;

/// One armed point: its tracefs event and the descriptors that keep the program
/// attached to it.
#[derive(Debug)]
struct ArmedEvent {
    /// The event's name in the group.
    name: String,
    /// The function it probes.
    function: String,
    /// Whether it probes the function's return.
    exit: bool,
    /// The BPF link; dropping it detaches the program.
    _link: OwnedFd,
    /// The perf event the link is on.
    _perf: OwnedFd,
}

/// The events this process armed; dropping it detaches the programs and removes
/// the events from tracefs.
#[derive(Debug)]
pub struct ArmedEvents {
    tracefs: PathBuf,
    group: String,
    events: Vec<ArmedEvent>,
}

impl ArmedEvents {
    /// No events yet, in this process's group under `tracefs`; removes the
    /// groups earlier barwatch processes that no longer run left behind.
    pub fn new(tracefs: &Path) -> Self {
        remove_stale_groups(tracefs);
        Self {
            tracefs: tracefs.to_path_buf(),
            group: format!("{GROUP_PREFIX}{}", std::process::id()),
            events: Vec::new(),
        }
    }

    /// Arms a kprobe (kretprobe when `exit`) on `module:function`, not loaded yet,
    /// and attaches the KPROBE program `program` to it with `cookie`. A
    /// kretprobe keeps `returns_in_flight` calls that have not returned yet (0:
    /// the kernel's default, max(10, 2 × CPUs)); the return of a call past
    /// them is missed. Returns the event's `group/name` for the probe table, or
    /// why it could not be armed.
    pub fn arm(
        &mut self,
        module: &str,
        function: &str,
        exit: bool,
        returns_in_flight: u32,
        program: BorrowedFd<'_>,
        cookie: u64,
    ) -> Result<String, String> {
        let name = format!("{}_{function}", if exit { "r" } else { "p" });
        let event = format!("{}/{name}", self.group);
        let kind = match (exit, returns_in_flight) {
            (false, _) => "p".to_owned(),
            (true, 0) => "r".to_owned(),
            (true, n) => format!("r{n}"),
        };
        let spec = format!("{kind}:{event} {module}:{function}");
        self.write_spec(&spec).map_err(|e| {
            format!(
                "tracefs kprobe event `{spec}` refused: {e} (is {function} a function of {module}?)"
            )
        })?;
        let armed = self.open_and_link(&name, program, cookie);
        match armed {
            Ok((perf, link)) => {
                self.events.push(ArmedEvent {
                    name,
                    function: function.to_owned(),
                    exit,
                    _link: link,
                    _perf: perf,
                });
                Ok(event)
            }
            Err(e) => {
                let _ = self.write_spec(&format!("-:{event}"));
                Err(e)
            }
        }
    }

    /// The calls each armed event's probe missed, as the kernel counts them in
    /// `kprobe_profile` (for a kretprobe, the returns past the calls it keeps in
    /// flight too): `(function, exit, missed)` for each event that missed any.
    /// The records of those calls were never made, so they count as lost.
    pub fn misses(&self) -> Result<Vec<(String, bool, u64)>, String> {
        if self.events.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.tracefs.join("kprobe_profile");
        let profile = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let missed = missed_by_event(&profile);
        Ok(self
            .events
            .iter()
            .filter_map(|e| {
                let n = *missed.get(e.name.as_str())?;
                (n > 0).then(|| (e.function.clone(), e.exit, n))
            })
            .collect())
    }

    /// Opens the perf event of `name` and links `program` to it.
    fn open_and_link(
        &self,
        name: &str,
        program: BorrowedFd<'_>,
        cookie: u64,
    ) -> Result<(OwnedFd, OwnedFd), String> {
        let id_path = self
            .tracefs
            .join("events")
            .join(&self.group)
            .join(name)
            .join("id");
        let id: u64 = fs::read_to_string(&id_path)
            .map_err(|e| format!("cannot read {}: {e}", id_path.display()))?
            .trim()
            .parse()
            .map_err(|e| format!("{} is not a number: {e}", id_path.display()))?;
        let perf = perf_event_open_tracepoint(id)
            .map_err(|e| format!("perf_event_open on trace event {name} (id {id}): {e}"))?;
        let link = bpf_link_create_perf(program, &perf, cookie).map_err(|e| {
            format!("BPF_LINK_CREATE with a cookie on {name}: {e} (needs Linux 5.15 or later)")
        })?;
        Ok((perf, link))
    }

    /// Appends one line to tracefs's `kprobe_events`.
    fn write_spec(&self, spec: &str) -> io::Result<()> {
        write_kprobe_events(&self.tracefs, spec)
    }
}

impl Drop for ArmedEvents {
    fn drop(&mut self) {
        let names: Vec<String> = self.events.drain(..).map(|e| e.name).collect();
        // The links and perf events are closed now; the kernel refuses to remove
        // an event still in use.
        for name in names {
            let spec = format!("-:{}/{name}", self.group);
            if let Err(e) = self.write_spec(&spec) {
                log::warn!(
                    "cannot remove tracefs kprobe event {}/{name}: {e}; remove it with `echo '{spec}' >> {}`",
                    self.group,
                    self.tracefs.join("kprobe_events").display()
                );
            }
        }
    }
}

/// Appends `spec` to `kprobe_events` under `tracefs`.
fn write_kprobe_events(tracefs: &Path, spec: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .append(true)
        .open(tracefs.join("kprobe_events"))?;
    file.write_all(format!("{spec}\n").as_bytes())
}

/// The misses of each kprobe event by name, from `kprobe_profile`'s text
/// (`NAME HITS MISSES` a line). The kernel names events without their group
/// there, so two barwatch processes' events of one function add up: more
/// misses, never fewer.
fn missed_by_event(kprobe_profile: &str) -> BTreeMap<&str, u64> {
    let mut missed = BTreeMap::new();
    for line in kprobe_profile.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [name, _hits, misses] = fields[..]
            && let Ok(misses) = misses.parse::<u64>()
        {
            *missed.entry(name).or_default() += misses;
        }
    }
    missed
}

/// The `group/name` of every kprobe event of a barwatch process that no longer
/// runs, from `kprobe_events`' text.
fn stale_events(kprobe_events: &str, running: &dyn Fn(u32) -> bool) -> Vec<String> {
    kprobe_events
        .lines()
        .filter_map(|line| line.split_whitespace().next()?.split_once(':'))
        .map(|(_, event)| event)
        .filter(|event| {
            event
                .strip_prefix(GROUP_PREFIX)
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(pid, _)| pid.parse::<u32>().ok())
                .is_some_and(|pid| !running(pid))
        })
        .map(str::to_owned)
        .collect()
}

/// Removes the events [`stale_events`] finds, saying so.
fn remove_stale_groups(tracefs: &Path) {
    let Ok(text) = fs::read_to_string(tracefs.join("kprobe_events")) else {
        return;
    };
    let running = |pid: u32| Path::new("/proc").join(pid.to_string()).exists();
    for event in stale_events(&text, &running) {
        match write_kprobe_events(tracefs, &format!("-:{event}")) {
            Ok(()) => {
                log::info!("removed kprobe event {event}, left by a barwatch that was killed")
            }
            Err(e) => log::warn!("cannot remove kprobe event {event} left by an earlier run: {e}"),
        }
    }
}

/// `perf_event_open` on trace event `id`, every process, CPU 0, enabled: a BPF
/// program on a trace event runs on every CPU whichever one the event is opened on.
fn perf_event_open_tracepoint(id: u64) -> io::Result<OwnedFd> {
    // perf_event_attr, version 0: type and size, config, then zeros (counting,
    // not disabled).
    let mut attr = [0u64; 8];
    attr[0] = PERF_TYPE_TRACEPOINT | (PERF_ATTR_SIZE << 32);
    attr[1] = id;
    // SAFETY: `attr` is a valid, zero-padded perf_event_attr of the size it
    // declares; the kernel only reads it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            -1 as libc::pid_t,
            0 as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    owned(fd)
}

/// `BPF_LINK_CREATE` of `program` on perf event `perf`, with `cookie` for
/// `bpf_get_attach_cookie`.
fn bpf_link_create_perf(
    program: BorrowedFd<'_>,
    perf: &OwnedFd,
    cookie: u64,
) -> io::Result<OwnedFd> {
    // union bpf_attr's link_create: prog_fd, target_fd, attach_type, flags, then
    // perf_event.bpf_cookie.
    let mut attr = [0u64; 8];
    attr[0] = u64::from(program.as_raw_fd() as u32) | (u64::from(perf.as_raw_fd() as u32) << 32);
    attr[1] = BPF_PERF_EVENT;
    attr[2] = cookie;
    // SAFETY: `attr` is a valid bpf_attr prefix of the size passed; the kernel
    // only reads it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_LINK_CREATE,
            attr.as_ptr(),
            size_of_val(&attr) as libc::c_uint,
        )
    };
    owned(fd)
}

/// A syscall's returned descriptor, owned, or its errno.
fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_are_read_by_event_name_and_add_up_across_groups() {
        let profile = "  p_snd_ctl_ioctl                                    18835               0\n                         r_snd_pcm_ioctl                                       40              12\n                         r_snd_pcm_ioctl                                        3               1\n                         snd_ctl_ioctl                                      18835               0\n";
        let missed = missed_by_event(profile);
        assert_eq!(missed.get("r_snd_pcm_ioctl"), Some(&13));
        assert_eq!(missed.get("p_snd_ctl_ioctl"), Some(&0));
        assert_eq!(missed.len(), 3);
    }

    #[test]
    fn only_groups_of_barwatch_processes_that_are_gone_are_stale() {
        let text = "p:barwatch_41/p_barwatch_fixture_read barwatch_fixture:barwatch_fixture_read\n\
                    r:barwatch_41/r_azx_probe snd_hda_intel:azx_probe\n\
                    p:barwatch_7/p_azx_interrupt snd_hda_codec:azx_interrupt\n\
                    p:bw/fixture_work barwatch_fixture:fixture_work\n\
                    p:barwatch_x/p_odd vmlinux:odd\n";
        let stale = stale_events(text, &|pid| pid == 7);
        assert_eq!(
            stale,
            [
                "barwatch_41/p_barwatch_fixture_read",
                "barwatch_41/r_azx_probe"
            ]
        );
    }
}
