//! tracefs: finding (or mounting) it and reading trace event record layouts.
//!
//! Classic tracepoints hand BPF the trace event's record, whose field offsets are
//! published in `events/CATEGORY/NAME/format`. Reading them at run time, rather than
//! hard-coding them, keeps the programs right on kernels whose layouts differ.

use std::{
    ffi::CString,
    fs, io,
    path::{Path, PathBuf},
};

use thiserror::Error;

/// Where tracefs is usually mounted, newest convention first.
const CANDIDATES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// What went wrong finding tracefs or reading an event's format.
#[derive(Debug, Error)]
pub enum TracefsError {
    /// tracefs is not mounted and mounting it failed.
    #[error(
        "tracefs is not mounted and mounting it on /sys/kernel/tracing failed; mount it with \
         `mount -t tracefs nodev /sys/kernel/tracing` (is CONFIG_TRACING set?)"
    )]
    Unavailable(#[source] io::Error),
    /// The event's format file could not be read.
    #[error("trace event {event} not found at {}: is it compiled into this kernel?", path.display())]
    NoEvent {
        /// `category/name`.
        event: String,
        /// The format file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A field the program needs is not in the event's format.
    #[error("trace event {event} has no field `{field}` in its format")]
    NoField {
        /// `category/name`.
        event: String,
        /// The missing field.
        field: String,
    },
}

/// Returns tracefs's mount point, mounting it at `/sys/kernel/tracing` if needed.
pub fn ensure_mounted() -> Result<PathBuf, TracefsError> {
    if let Some(found) = CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.join("events").is_dir())
    {
        return Ok(found.to_path_buf());
    }
    let target = Path::new(CANDIDATES[0]);
    mount_tracefs(target).map_err(TracefsError::Unavailable)?;
    Ok(target.to_path_buf())
}

/// `mount -t tracefs nodev TARGET`.
fn mount_tracefs(target: &Path) -> io::Result<()> {
    let c = |s: &str| CString::new(s).map_err(io::Error::other);
    let target_c = c(target
        .to_str()
        .ok_or_else(|| io::Error::other("path not UTF-8"))?)?;
    let (source, fstype) = (c("nodev")?, c("tracefs")?);
    // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target_c.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One field of a trace event record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Byte offset in the record.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// Parses the `field:` lines of an event `format` file.
pub fn parse_format(text: &str) -> Vec<Field> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let decl = line.strip_prefix("field:")?;
            let mut parts = decl.split(';').map(str::trim);
            let name = parts.next()?.split_whitespace().last()?;
            let name = name.split('[').next()?.trim_start_matches('*').to_owned();
            let mut number =
                |key: &str| parts.next()?.strip_prefix(key)?.trim().parse::<u32>().ok();
            let offset = number("offset:")?;
            let size = number("size:")?;
            Some(Field { name, offset, size })
        })
        .collect()
}

/// The offsets of `fields` in the record of event `category/name`, in order.
pub fn field_offsets(
    tracefs: &Path,
    category: &str,
    name: &str,
    fields: &[&str],
) -> Result<Vec<u32>, TracefsError> {
    let event = format!("{category}/{name}");
    let path = tracefs.join("events").join(&event).join("format");
    let text = fs::read_to_string(&path).map_err(|source| TracefsError::NoEvent {
        event: event.clone(),
        path,
        source,
    })?;
    let parsed = parse_format(&text);
    fields
        .iter()
        .map(|wanted| {
            parsed
                .iter()
                .find(|f| f.name == *wanted)
                .map(|f| f.offset)
                .ok_or_else(|| TracefsError::NoField {
                    event: event.clone(),
                    field: (*wanted).to_owned(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYS_ENTER_IOCTL: &str = "name: sys_enter_ioctl
ID: 757
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:unsigned int cmd;\toffset:24;\tsize:8;\tsigned:0;
\tfield:unsigned long arg;\toffset:32;\tsize:8;\tsigned:0;

print fmt: \"fd: 0x%08lx, cmd: 0x%08lx, arg: 0x%08lx\"
";

    #[test]
    fn parses_syscall_event_fields() {
        let fields = parse_format(SYS_ENTER_IOCTL);
        let by_name = |n: &str| fields.iter().find(|f| f.name == n).cloned().unwrap();
        assert_eq!(by_name("fd").offset, 16);
        assert_eq!(by_name("cmd").offset, 24);
        assert_eq!(by_name("arg").offset, 32);
        assert_eq!(by_name("__syscall_nr").size, 4);
        assert_eq!(fields.len(), 8);
    }

    #[test]
    fn array_and_pointer_fields_keep_their_bare_name() {
        let fields = parse_format(
            "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\
             \tfield:void * function;\toffset:24;\tsize:8;\tsigned:0;",
        );
        assert_eq!(fields[0].name, "comm");
        assert_eq!(fields[1].name, "function");
    }

    #[test]
    fn a_missing_event_says_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let err = field_offsets(dir.path(), "syscalls", "sys_enter_ioctl", &["fd"]).unwrap_err();
        assert!(
            err.to_string().contains("syscalls/sys_enter_ioctl"),
            "{err}"
        );
    }
}
