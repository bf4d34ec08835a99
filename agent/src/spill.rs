//! Values a long run must keep but rarely reads, kept out of memory.
//!
//! A lab records through hours of hot-plug stress. What each cycle leaves for
//! good (the closed cycle a report still lists, the `iounmap` a stale access
//! long after would name) is judged once and read again only to be shown; held
//! in memory it made a replay grow by kilobytes per cycle. A [`Spill`] writes
//! each such value once, as a JSON line, to an unnamed temporary file: gone with
//! the process, never a path another user could plant. A [`Kept`] value is the
//! handle that reads it back. Where no temporary file can be made, the lines
//! stay in memory; where a line cannot be written (a full disk), its value
//! stays in memory as it is. Nothing kept is ever lost, only moved.

use std::{
    borrow::Cow,
    fmt,
    fs::File,
    io,
    marker::PhantomData,
    os::unix::fs::FileExt,
    sync::{Arc, Mutex, MutexGuard},
};

use serde::{Serialize, de::DeserializeOwned};

/// Where the lines are.
#[derive(Debug)]
enum Backing {
    /// An unnamed temporary file.
    File(File),
    /// Memory, where no temporary file could be made.
    Memory(Vec<u8>),
}

impl Backing {
    fn new() -> Self {
        tempfile::tempfile().map_or_else(|_| Backing::Memory(Vec::new()), Backing::File)
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        match self {
            Backing::File(file) => file.write_all_at(bytes, offset),
            Backing::Memory(memory) => {
                memory.truncate(offset as usize);
                memory.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    fn read_at(&self, offset: u64, bytes: &mut [u8]) -> io::Result<()> {
        match self {
            Backing::File(file) => file.read_exact_at(bytes, offset),
            Backing::Memory(memory) => {
                let start = offset as usize;
                let line = memory
                    .get(start..start + bytes.len())
                    .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                bytes.copy_from_slice(line);
                Ok(())
            }
        }
    }
}

/// The store and where its next line goes.
#[derive(Debug, Default)]
struct Lines {
    /// Made with the first line: a run that spills nothing makes no file.
    backing: Option<Backing>,
    end: u64,
}

/// An append-only store of values as JSON lines. Cloning it shares the store:
/// every clone appends after the others.
#[derive(Clone, Debug, Default)]
pub struct Spill(Arc<Mutex<Lines>>);

impl Spill {
    /// A spill whose lines go to `backing`.
    #[cfg(test)]
    fn to(backing: Backing) -> Self {
        let spill = Spill::default();
        spill.lines().backing = Some(backing);
        spill
    }

    fn lines(&self) -> MutexGuard<'_, Lines> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `value`: written out, or held in memory where the store refuses
    /// its line.
    pub fn keep<T: Serialize>(&self, value: T) -> Kept<T> {
        let mut line = serde_json::to_vec(&value).expect("a value kept serializes");
        line.push(b'\n');
        let Ok(len) = u32::try_from(line.len()) else {
            return Kept::Held(Arc::new(value));
        };
        let mut lines = self.lines();
        let offset = lines.end;
        let backing = lines.backing.get_or_insert_with(Backing::new);
        if backing.write_at(offset, &line).is_err() {
            return Kept::Held(Arc::new(value));
        }
        lines.end += u64::from(len);
        Kept::Spilled(Spilled {
            spill: self.clone(),
            offset,
            len,
            kind: PhantomData,
        })
    }

    /// How many bytes it has written.
    #[cfg(test)]
    fn written(&self) -> u64 {
        self.lines().end
    }
}

/// A value written to a [`Spill`].
pub struct Spilled<T> {
    spill: Spill,
    offset: u64,
    len: u32,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Spilled<T> {
    fn clone(&self) -> Self {
        Spilled {
            spill: self.spill.clone(),
            offset: self.offset,
            len: self.len,
            kind: PhantomData,
        }
    }
}

/// A value kept by a [`Spill`]: out of memory, or in it where the store
/// refused it. Cloning copies the handle, not the value.
pub enum Kept<T> {
    /// A line of the store.
    Spilled(Spilled<T>),
    /// Held in memory.
    Held(Arc<T>),
}

impl<T> Clone for Kept<T> {
    fn clone(&self) -> Self {
        match self {
            Kept::Spilled(spilled) => Kept::Spilled(spilled.clone()),
            Kept::Held(value) => Kept::Held(value.clone()),
        }
    }
}

/// A kept value could not be read back: the store failed under the reader.
#[derive(Debug, thiserror::Error)]
pub enum ReadBackError {
    /// Reading the temporary file failed.
    #[error("cannot read back a value kept in barwatch's temporary file: {0}")]
    Io(#[from] io::Error),
    /// What was read is not the line that was written.
    #[error("a value read back from barwatch's temporary file is damaged: {0}")]
    Damaged(#[from] serde_json::Error),
}

impl<T: DeserializeOwned + Clone> Kept<T> {
    /// The value, read back when it was written out.
    pub fn get(&self) -> Result<Cow<'_, T>, ReadBackError> {
        match self {
            Kept::Held(value) => Ok(Cow::Borrowed(value)),
            Kept::Spilled(spilled) => {
                let mut line = vec![0; spilled.len as usize];
                let lines = spilled.spill.lines();
                let backing = lines
                    .backing
                    .as_ref()
                    .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
                backing.read_at(spilled.offset, &mut line)?;
                drop(lines);
                Ok(Cow::Owned(serde_json::from_slice(&line)?))
            }
        }
    }
}

/// Names where the value is, not what it is: reading it back costs a read.
impl<T> fmt::Debug for Kept<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kept::Spilled(s) => write!(f, "Spilled({}+{})", s.offset, s.len),
            Kept::Held(_) => f.write_str("Held"),
        }
    }
}

/// Equal when they are the same line of the same store, or hold equal values.
impl<T: PartialEq> PartialEq for Kept<T> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Kept::Spilled(a), Kept::Spilled(b)) => {
                Arc::ptr_eq(&a.spill.0, &b.spill.0) && a.offset == b.offset
            }
            (Kept::Held(a), Kept::Held(b)) => a == b,
            _ => false,
        }
    }
}

impl<T: Eq> Eq for Kept<T> {}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::{Backing, Kept, Spill};

    fn values() -> Vec<(String, u64)> {
        (0..50).map(|i| (format!("iounmap #{i}"), i * 7)).collect()
    }

    fn kept_and_read_back(spill: &Spill) -> Vec<Kept<(String, u64)>> {
        let kept: Vec<_> = values().into_iter().map(|v| spill.keep(v)).collect();
        let read: Vec<(String, u64)> = kept.iter().map(|k| k.get().unwrap().into_owned()).collect();
        assert_eq!(read, values());
        kept
    }

    #[test]
    fn values_kept_in_a_temporary_file_read_back_as_written() {
        let spill = Spill::default();
        let kept = kept_and_read_back(&spill);
        assert!(kept.iter().all(|k| matches!(k, Kept::Spilled(_))));
        assert!(matches!(spill.lines().backing, Some(Backing::File(_))));
        // A clone appends after the others.
        let other = spill.clone().keep(("later".to_owned(), 1));
        assert_eq!(other.get().unwrap().0, "later");
        assert_eq!(kept[0].get().unwrap().0, "iounmap #0");
    }

    #[test]
    fn values_kept_in_memory_read_back_like_a_file() {
        let spill = Spill::to(Backing::Memory(Vec::new()));
        let kept = kept_and_read_back(&spill);
        assert!(kept.iter().all(|k| matches!(k, Kept::Spilled(_))));
        assert!(spill.written() > 0);
    }

    #[test]
    fn values_a_store_refuses_stay_in_memory_whole() {
        // A file opened read-only refuses every line, as a full disk would.
        let refusing = File::open(env!("CARGO_MANIFEST_DIR")).unwrap();
        let spill = Spill::to(Backing::File(refusing));
        let kept = kept_and_read_back(&spill);
        assert!(kept.iter().all(|k| matches!(k, Kept::Held(_))));
        assert_eq!(spill.written(), 0);
    }
}
