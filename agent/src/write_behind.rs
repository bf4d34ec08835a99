//! Writing a capture from a thread of its own.
//!
//! The recorder drains the ring buffer and writes each record's line on one
//! thread. A write to the page cache can stall for tens of milliseconds (a
//! block to find and zero, a journal to wait on), and it took a third of the
//! recorder's time at a million records a second; while it stalls, nothing
//! drains the buffer and the kernel drops records. [`WriteBehind`] hands
//! full blocks to a writer thread instead, so a stall holds up only that
//! thread, up to [`QUEUED_BLOCKS`] blocks behind.

use std::io::{self, Write};
use std::mem;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

/// The size of a block handed to the writer thread: writes of 64 KiB cost a
/// third of what 8 KiB ones do on ext4, and each hand-over wakes the thread
/// (on a recorder pinned to one CPU, a switch between the two).
pub const BLOCK: usize = 256 * 1024;

/// How many full blocks may wait for the writer thread (16 MiB): the stalls a
/// recording rides out are those the writer catches up from within that.
pub const QUEUED_BLOCKS: usize = 64;

/// How many written blocks are kept for reuse: enough that a steady
/// recording allocates none, few enough that a stall which filled the queue
/// does not leave its 16 MiB allocated for the rest of the recording.
const SPARE_BLOCKS: usize = 4;

/// A [`Write`] whose bytes a thread of its own writes to the sink, a block at a
/// time. [`Write::flush`] hands the bytes so far to the thread without waiting
/// for them; [`WriteBehind::close`] waits for everything to be written and says
/// whether it was. Dropped unclosed, it still writes everything it was given.
pub struct WriteBehind {
    /// The block being filled.
    block: Vec<u8>,
    /// Full blocks on their way to the writer thread; `None` once closed.
    blocks: Option<SyncSender<Vec<u8>>>,
    /// Written blocks the thread hands back for reuse.
    spare: Receiver<Vec<u8>>,
    /// The writer thread, which returns how its writing ended.
    writer: Option<JoinHandle<io::Result<()>>>,
}

impl WriteBehind {
    /// Starts the writer thread for `sink`.
    pub fn new(sink: impl Write + Send + 'static) -> io::Result<Self> {
        let (blocks, queued) = sync_channel::<Vec<u8>>(QUEUED_BLOCKS);
        let (give_back, spare) = sync_channel::<Vec<u8>>(SPARE_BLOCKS);
        let writer = thread::Builder::new()
            .name("capture-writer".to_owned())
            .spawn(move || write_blocks(sink, &queued, &give_back))?;
        Ok(WriteBehind {
            block: Vec::with_capacity(BLOCK),
            blocks: Some(blocks),
            spare,
            writer: Some(writer),
        })
    }

    /// Writes what is left, waits for the writer thread to write it and flush
    /// the sink, and returns the first error it met.
    pub fn close(mut self) -> io::Result<()> {
        self.finish()
    }

    /// Hands the block being filled to the writer thread.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let Some(blocks) = &self.blocks else {
            return Err(closed());
        };
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BLOCK));
        let full = mem::replace(&mut self.block, next);
        if blocks.send(full).is_err() {
            // The thread stopped on an error: that error is what to report.
            return Err(self.finish().err().unwrap_or_else(closed));
        }
        Ok(())
    }

    /// Hands over the last block, ends the thread and returns how it ended.
    fn finish(&mut self) -> io::Result<()> {
        let handed = self.hand_over();
        self.blocks = None;
        let ended = match self.writer.take() {
            Some(writer) => writer
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the capture writer thread panicked"))),
            None => Err(closed()),
        };
        ended.and(handed)
    }
}

/// The error of a write after the writer was closed or stopped.
fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the capture writer thread has stopped",
    )
}

impl Write for WriteBehind {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        // A block goes when the bytes would not fit, so it is never grown
        // (and copied) past the size it was made with.
        if self.block.len() + bytes.len() > self.block.capacity() {
            self.hand_over()?;
        }
        self.block.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        if self.writer.is_some()
            && let Err(e) = self.finish()
        {
            log::warn!("the end of the capture could not be written: {e}");
        }
    }
}

/// The writer thread: writes each block as it comes, hands it back, flushes
/// the sink once the blocks stop coming, and stops at the first error.
fn write_blocks(
    mut sink: impl Write,
    queued: &Receiver<Vec<u8>>,
    give_back: &SyncSender<Vec<u8>>,
) -> io::Result<()> {
    while let Ok(mut block) = queued.recv() {
        sink.write_all(&block)?;
        block.clear();
        // A full return queue means the other side has spares enough.
        let _ = give_back.try_send(block);
    }
    sink.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A sink that keeps what it was given, fails once it holds `fail_after`
    /// bytes, and records whether it was flushed.
    #[derive(Clone, Default)]
    struct Kept {
        bytes: Arc<Mutex<Vec<u8>>>,
        flushed: Arc<Mutex<bool>>,
        fail_after: Option<usize>,
    }

    impl Write for Kept {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut kept = self.bytes.lock().unwrap();
            if self.fail_after.is_some_and(|limit| kept.len() >= limit) {
                return Err(io::Error::other("no space left on the test sink"));
            }
            kept.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            *self.flushed.lock().unwrap() = true;
            Ok(())
        }
    }

    fn lines(count: usize) -> Vec<u8> {
        (0..count)
            .flat_map(|n| format!("{{\"line\":{n}}}\n").into_bytes())
            .collect()
    }

    #[test]
    fn every_byte_reaches_the_sink_in_order_and_the_sink_is_flushed_at_close() {
        let sink = Kept::default();
        let mut out = WriteBehind::new(sink.clone()).unwrap();
        let expected = lines(100_000);
        for chunk in expected.chunks(97) {
            out.write_all(chunk).unwrap();
        }
        out.close().unwrap();
        assert_eq!(*sink.bytes.lock().unwrap(), expected);
        assert!(*sink.flushed.lock().unwrap());
    }

    #[test]
    fn flush_hands_a_partial_block_over_without_closing() {
        let sink = Kept::default();
        let mut out = WriteBehind::new(sink.clone()).unwrap();
        out.write_all(b"one line\n").unwrap();
        out.flush().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while sink.bytes.lock().unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the flushed line never reached the sink"
            );
            thread::yield_now();
        }
        out.write_all(b"two\n").unwrap();
        out.close().unwrap();
        assert_eq!(*sink.bytes.lock().unwrap(), b"one line\ntwo\n");
    }

    #[test]
    fn a_sink_that_fails_fails_the_writes_after_it_and_the_close() {
        let sink = Kept {
            fail_after: Some(BLOCK),
            ..Kept::default()
        };
        let mut out = WriteBehind::new(sink.clone()).unwrap();
        let block = vec![b'x'; BLOCK];
        let mut failed = None;
        for _ in 0..QUEUED_BLOCKS * 4 {
            if let Err(e) = out.write_all(&block) {
                failed = Some(e);
                break;
            }
        }
        let failed = failed.expect("a write after the sink failed must fail");
        assert!(failed.to_string().contains("no space left"), "{failed}");
        assert!(out.close().is_err());
        assert_eq!(sink.bytes.lock().unwrap().len(), BLOCK);
    }

    #[test]
    fn dropped_unclosed_it_still_writes_what_it_was_given() {
        let sink = Kept::default();
        let mut out = WriteBehind::new(sink.clone()).unwrap();
        out.write_all(b"recorded before an error\n").unwrap();
        drop(out);
        assert_eq!(*sink.bytes.lock().unwrap(), b"recorded before an error\n");
    }
}
