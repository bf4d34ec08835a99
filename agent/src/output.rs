//! Opening the files barwatch writes (captures, JUnit reports) safely as root.
//!
//! barwatch runs as root and is often pointed at shared folders such as `/tmp`,
//! where another user can plant a name before it runs. So an output path is
//! never followed through a symbolic link another user could have put there,
//! never opened when it is a regular file of someone else's or one with other
//! hard links (the planted name of a root-owned file), and only a regular file
//! barwatch may own is truncated and made private. Pipes, FIFOs and character
//! devices (`/dev/stdout`, `/dev/null`, a FIFO a lab's collector reads) are
//! written as they are, their owner and mode untouched.

use std::{
    fs::{File, OpenOptions, Permissions},
    io,
    os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt},
    path::Path,
};

use thiserror::Error;

/// The mode of every regular file barwatch writes: captures and reports hold
/// process names, ioctl arguments and kernel addresses.
pub const PRIVATE_MODE: u32 = 0o600;

/// Why an output could not be opened.
#[derive(Debug, Error)]
pub enum OutputError {
    /// The path is a symbolic link in a folder others can write to.
    #[error(
        "{path} is a symbolic link in a folder other users can write to; barwatch does not write through a link someone may have planted: remove it or give another path"
    )]
    PlantedLink {
        /// The output path.
        path: String,
    },
    /// The path is a regular file that belongs to another user.
    #[error(
        "{path} belongs to uid {owner}, not to the user barwatch runs as ({me}); it is not overwritten: remove it or give another path"
    )]
    NotYours {
        /// The output path.
        path: String,
        /// The file's owner.
        owner: u32,
        /// The effective uid barwatch runs as.
        me: u32,
    },
    /// The path is a regular file with other names.
    #[error(
        "{path} has {links} hard links; writing would change the file under its other names too: remove it or give another path"
    )]
    HardLinked {
        /// The output path.
        path: String,
        /// How many names the file has.
        links: u64,
    },
    /// The path is a block device or a socket.
    #[error("{path} is a {kind}, not a file, pipe or character device to write an output to")]
    Unwritable {
        /// The output path.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// The file system refused.
    #[error("cannot open {path} for writing")]
    Io {
        /// The output path.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

/// Opens `path` to write an output to, as the module documentation describes:
/// a new or owned regular file is created or truncated with mode 0600; a pipe,
/// FIFO or character device is opened as it is.
pub fn create(path: &Path) -> Result<File, OutputError> {
    let name = || path.display().to_string();
    let io = |source: io::Error| OutputError::Io {
        path: name(),
        source,
    };
    let file = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // O_EXCL also refuses a name planted between the look and the create.
            return OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(PRIVATE_MODE)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(io);
        }
        Err(e) => return Err(io(e)),
        Ok(meta) if meta.file_type().is_symlink() => {
            if others_can_write(path.parent().unwrap_or(Path::new("."))).map_err(io)? {
                return Err(OutputError::PlantedLink { path: name() });
            }
            OpenOptions::new().write(true).open(path).map_err(io)?
        }
        Ok(_) => OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(io)?,
    };
    let meta = file.metadata().map_err(io)?;
    let kind = meta.file_type();
    if kind.is_fifo() || kind.is_char_device() {
        return Ok(file);
    }
    if kind.is_block_device() || kind.is_socket() {
        return Err(OutputError::Unwritable {
            path: name(),
            kind: if kind.is_socket() {
                "socket"
            } else {
                "block device"
            },
        });
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(OutputError::NotYours {
            path: name(),
            owner: meta.uid(),
            me,
        });
    }
    if meta.nlink() > 1 {
        return Err(OutputError::HardLinked {
            path: name(),
            links: meta.nlink(),
        });
    }
    file.set_len(0).map_err(io)?;
    if meta.mode() & 0o7777 != PRIVATE_MODE {
        file.set_permissions(Permissions::from_mode(PRIVATE_MODE))
            .map_err(io)?;
    }
    Ok(file)
}

/// An output file and where it was opened, to tell at the end of a recording
/// whether it is still there: a capture deleted while barwatch wrote it is
/// written back from the still-open file, so nothing recorded is lost.
pub struct Placed {
    path: std::path::PathBuf,
    file: File,
    dev: u64,
    ino: u64,
}

/// What became of an output file while it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It is where it was opened (or is not a regular file).
    InPlace,
    /// It was deleted and has been written back to its path.
    Restored,
    /// Its path now names another file, or none: it was moved away.
    Moved,
}

impl Placed {
    /// Remembers where `file`, just opened at `path`, is.
    pub fn new(path: &Path, file: &File) -> io::Result<Self> {
        let meta = file.metadata()?;
        Ok(Placed {
            path: path.to_owned(),
            file: file.try_clone()?,
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Another descriptor of the file, to watch while it is written (see
    /// [`reader_gone`] for a FIFO).
    pub fn descriptor(&self) -> io::Result<std::os::fd::OwnedFd> {
        Ok(self.file.try_clone()?.into())
    }

    /// Looks at the file once writing is over; writes a deleted one back.
    pub fn settle(&self) -> Result<Fate, OutputError> {
        let io = |source: io::Error| OutputError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let meta = self.file.metadata().map_err(io)?;
        if !meta.file_type().is_file() {
            return Ok(Fate::InPlace);
        }
        if meta.nlink() == 0 {
            // The open file still holds every line: read it through its
            // descriptor, which outlives the name.
            use std::os::fd::AsRawFd as _;
            let held = format!("/proc/self/fd/{}", self.file.as_raw_fd());
            let mut from = File::open(held).map_err(io)?;
            let mut to = create(&self.path)?;
            io::copy(&mut from, &mut to).map_err(io)?;
            return Ok(Fate::Restored);
        }
        match std::fs::symlink_metadata(&self.path) {
            Ok(now) if now.dev() == self.dev && now.ino() == self.ino => Ok(Fate::InPlace),
            _ => Ok(Fate::Moved),
        }
    }
}

/// Whether nobody can read what is written to `fd` any more: the reader of the
/// pipe or FIFO went away (`barwatch record | head -1`), or the socket's peer
/// hung up. A writer that has nothing to write would otherwise never learn it and
/// go on recording for no one; a regular file or a terminal is never gone.
pub fn reader_gone(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd as _;
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: 0,
        revents: 0,
    };
    // SAFETY: `poll` is one valid pollfd for the call, which does not block.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    ready > 0 && poll.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Whether users other than the folder's owner can write to `dir`, so could
/// have put a name there (sticky `/tmp` included: the sticky bit stops them
/// removing others' names, not adding their own).
fn others_can_write(dir: &Path) -> io::Result<bool> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    Ok(std::fs::metadata(dir)?.mode() & 0o022 != 0)
}

#[cfg(test)]
mod tests {
    use std::{io::Write as _, os::unix::fs::symlink};

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_new_file_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        create(&path).unwrap().write_all(b"x\n").unwrap();
        assert_eq!(mode(&path), PRIVATE_MODE);
    }

    #[test]
    fn an_own_file_is_truncated_and_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, "an older, longer capture\n").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        create(&path).unwrap().write_all(b"x\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x\n");
        assert_eq!(mode(&path), PRIVATE_MODE);
    }

    #[test]
    fn a_link_in_a_folder_others_can_write_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), Permissions::from_mode(0o1777)).unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me\n").unwrap();
        std::fs::set_permissions(&target, Permissions::from_mode(0o644)).unwrap();
        let planted = dir.path().join("run.jsonl");
        symlink(&target, &planted).unwrap();
        let err = create(&planted).unwrap_err();
        assert!(matches!(err, OutputError::PlantedLink { .. }), "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
        assert_eq!(mode(&target), 0o644);
    }

    #[test]
    fn a_link_in_a_private_folder_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), Permissions::from_mode(0o700)).unwrap();
        let target = dir.path().join("capture");
        let link = dir.path().join("latest.jsonl");
        symlink(&target, &link).unwrap();
        std::fs::write(&target, "old\n").unwrap();
        create(&link).unwrap().write_all(b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
    }

    #[test]
    fn a_file_with_another_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("original");
        std::fs::write(&original, "keep me\n").unwrap();
        let planted = dir.path().join("run.jsonl");
        std::fs::hard_link(&original, &planted).unwrap();
        let err = create(&planted).unwrap_err();
        assert!(
            matches!(err, OutputError::HardLinked { links: 2, .. }),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&original).unwrap(), "keep me\n");
    }

    #[test]
    fn dev_null_and_a_fifo_are_written_as_they_are() {
        let before = std::fs::metadata("/dev/null").unwrap();
        create(Path::new("/dev/null"))
            .unwrap()
            .write_all(b"x")
            .unwrap();
        let after = std::fs::metadata("/dev/null").unwrap();
        assert_eq!(
            (before.mode(), before.uid()),
            (after.mode(), after.uid()),
            "/dev/null keeps its mode and owner"
        );

        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("collector");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        create(&fifo).unwrap().write_all(b"line\n").unwrap();
        assert_eq!(reader.join().unwrap(), "line\n");
        assert_eq!(mode(&fifo), 0o644, "a FIFO keeps its mode");
    }

    #[test]
    fn a_pipe_whose_reader_went_away_is_gone_and_a_file_never_is() {
        use std::os::fd::AsFd as _;
        let (reader, writer) = std::io::pipe().unwrap();
        assert!(!reader_gone(writer.as_fd()), "the reader is still there");
        drop(reader);
        assert!(reader_gone(writer.as_fd()), "the reader went away");
        let file = tempfile::tempfile().unwrap();
        assert!(!reader_gone(file.as_fd()));
    }

    #[test]
    fn a_file_deleted_while_written_is_written_back_and_a_moved_one_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        let mut file = create(&path).unwrap();
        let placed = Placed::new(&path, &file).unwrap();
        file.write_all(b"header\n").unwrap();
        assert_eq!(placed.settle().unwrap(), Fate::InPlace);
        std::fs::remove_file(&path).unwrap();
        file.write_all(b"event\n").unwrap();
        assert_eq!(placed.settle().unwrap(), Fate::Restored);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "header\nevent\n");

        let moved = dir.path().join("moved.jsonl");
        let file = create(&moved).unwrap();
        let placed = Placed::new(&moved, &file).unwrap();
        std::fs::rename(&moved, dir.path().join("elsewhere")).unwrap();
        assert_eq!(placed.settle().unwrap(), Fate::Moved);
    }

    #[test]
    fn another_users_file_is_not_overwritten() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            crate::test_skip::skip("not root: giving a file to another user needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("run.jsonl");
        std::fs::write(&theirs, "theirs\n").unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let err = create(&theirs).unwrap_err();
        assert!(
            matches!(err, OutputError::NotYours { owner: 65534, .. }),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "theirs\n");
    }
}
