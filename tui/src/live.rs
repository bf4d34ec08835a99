//! The live source: `barwatch record` run as a child process, its capture stream
//! read line by line on a thread and handed to the UI. The UI itself never loads
//! BPF; the recorder needs the privileges, and says plainly when it lacks them.

use std::{
    fs::File,
    io::{BufRead, BufReader, Read, Write},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Stdio},
    sync::mpsc::{self, Receiver, SyncSender, TryRecvError},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use barwatch::{
    capture::{
        format::{Header, Trailer},
        reader::{CaptureEnd, CaptureError, PartialLine},
    },
    event::Event,
    pipeline::Replay,
};

/// How long the recorder gets to write its trailer after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How many messages wait between the reader thread and the UI at most: a UI
/// that falls behind holds the reader (and so the recorder's pipe) back rather
/// than queueing the events in memory. The recorder's ring buffer and capture
/// keep them meanwhile. The UI takes the channel's messages at every look, so
/// a few thousand smooth the hand-over as well as more would.
const CHANNEL_MESSAGES: usize = 4_096;

/// How many events the UI takes in one look at most, so that one look costs a
/// bounded batch however far behind the UI is; the rest wait for the next.
/// At ten looks a second that is 160 000 events/s.
const EVENTS_PER_POLL: usize = 16_384;

/// What the reader thread reports.
enum Message {
    Event(Box<Event>),
    Ended(Option<Trailer>),
    Failed(String),
}

/// What the UI learns from one look at the source.
pub enum Update {
    /// New events, in arrival order.
    Events(Vec<Event>),
    /// The recorder ended: with its trailer when it ended cleanly.
    Ended(Option<Trailer>),
}

/// A running recorder and the thread reading it.
pub struct LiveSource {
    child: Child,
    messages: Receiver<Message>,
    ended: bool,
}

/// The `barwatch` binary next to this one, else the one on `PATH`; `BARWATCH_BIN`
/// overrides both.
pub fn barwatch_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("BARWATCH_BIN") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("barwatch"))
        .filter(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("barwatch"))
}

impl LiveSource {
    /// Starts `barwatch record ARGS` and waits for its header; `copy` also gets
    /// every line of the capture.
    pub fn start(
        barwatch: &Path,
        args: &[String],
        copy: Option<File>,
    ) -> anyhow::Result<(Header, Self)> {
        // Its own process group: a terminal's hangup or Ctrl-C reaches the UI,
        // which then stops the recorder itself, so the capture ends cleanly.
        let mut child = Command::new(barwatch)
            .arg("record")
            .args(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", barwatch.display()))?;
        let stdout = child.stdout.take().expect("piped above");
        let mut stderr = child.stderr.take().expect("piped above");
        let input = BufReader::new(Tee {
            inner: stdout,
            copy,
        });
        let replay = match Replay::new(input) {
            Ok(replay) => replay,
            Err(e) => {
                let _ = child.wait();
                let mut said = String::new();
                let _ = stderr.read_to_string(&mut said);
                if said.trim().is_empty() {
                    bail!("barwatch record gave no capture: {e}");
                }
                bail!("{}", said.trim());
            }
        };
        // The recorder's messages would scribble over the screen: they are kept
        // out of it (a failure is reported from the exit instead).
        thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stderr.read_to_end(&mut sink);
        });
        let header = replay.header().clone();
        let (sender, messages) = mpsc::sync_channel(CHANNEL_MESSAGES);
        thread::spawn(move || read(replay, &sender));
        Ok((
            header,
            LiveSource {
                child,
                messages,
                ended: false,
            },
        ))
    }

    /// What the recorder sent since the last look, without waiting: the new
    /// events in one batch (at most [`EVENTS_PER_POLL`]), then the end if it
    /// came.
    pub fn poll(&mut self) -> Vec<Update> {
        take(&self.messages, &mut self.ended, EVENTS_PER_POLL)
    }

    /// Stops the recorder the way Ctrl-C would (SIGTERM: it writes its trailer),
    /// and waits for it.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill has no memory preconditions; the pid is our child's,
            // not yet reaped.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Let the reader finish the copy with the trailer.
        let deadline = Instant::now() + Duration::from_secs(1);
        while !self.ended && Instant::now() < deadline {
            self.poll();
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Takes what waits in `messages` without waiting: at most `max_events` events
/// in one batch, then the end if it came (and `ended` is set).
fn take(messages: &Receiver<Message>, ended: &mut bool, max_events: usize) -> Vec<Update> {
    let mut events = Vec::new();
    let mut updates = Vec::new();
    while !*ended && events.len() < max_events {
        match messages.try_recv() {
            Ok(Message::Event(event)) => events.push(*event),
            Ok(Message::Ended(trailer)) => {
                *ended = true;
                updates.push(Update::Ended(trailer));
            }
            Ok(Message::Failed(why)) => {
                log_failure(&why);
                *ended = true;
                updates.push(Update::Ended(None));
            }
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Disconnected) => {
                *ended = true;
                updates.push(Update::Ended(None));
            }
        }
    }
    if !events.is_empty() {
        updates.insert(0, Update::Events(events));
    }
    updates
}

/// Reads events until the stream ends, then says how it ended: a cut final
/// line is a broken stream, as any other defect. A full channel holds the
/// reader until the UI takes from it.
fn read(replay: Replay<impl BufRead>, sender: &SyncSender<Message>) {
    let end = replay.feed(&mut |event| {
        // A UI that went away stops the recorder, which ends the stream.
        let _ = sender.send(Message::Event(Box::new(event)));
    });
    let last = match end {
        Ok(CaptureEnd::Trailer(trailer)) => Message::Ended(Some(trailer)),
        Ok(CaptureEnd::Cut {
            partial: Some(PartialLine { line, bytes }),
            ..
        }) => Message::Failed(CaptureError::TruncatedLine { line, bytes }.to_string()),
        Ok(CaptureEnd::Cut { partial: None, .. }) => Message::Ended(None),
        Err(e) => Message::Failed(e.to_string()),
    };
    let _ = sender.send(last);
}

/// Writes a reader failure where the user sees it after the UI is gone.
fn log_failure(why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "barwatch-tui: the recorder's stream broke: {why}"
    );
}

/// The recorder's output, copied to a file as it is read.
struct Tee {
    inner: ChildStdout,
    copy: Option<File>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(copy) = &mut self.copy {
            copy.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo's capture, as a recorder's pipe would carry it.
    const DEMO: &[u8] = include_bytes!("../testdata/demo-capture.jsonl");

    /// What the reader thread reports for `stream` through a channel of
    /// `capacity` messages, drained only once the reader had `delay` to fill it:
    /// events counted, then the end, and whether the reader was still held
    /// after the delay.
    fn messages_through(stream: &[u8], capacity: usize, delay: Duration) -> (usize, Message, bool) {
        let (sender, receiver) = mpsc::sync_channel(capacity);
        thread::scope(|scope| {
            let reader = scope.spawn(move || read(Replay::new(stream).unwrap(), &sender));
            thread::sleep(delay);
            let held = !reader.is_finished();
            let mut events = 0;
            for message in receiver {
                match message {
                    Message::Event(_) => events += 1,
                    last => return (events, last, held),
                }
            }
            panic!("the reader never said how the stream ended")
        })
    }

    /// What the reader thread reports for `stream`: events counted, then the end.
    fn messages(stream: &[u8]) -> (usize, Message) {
        let (events, last, _) = messages_through(stream, CHANNEL_MESSAGES, Duration::ZERO);
        (events, last)
    }

    #[test]
    fn a_whole_stream_gives_every_event_then_its_trailer() {
        let (events, last) = messages(DEMO);
        assert_eq!(events, 774);
        assert!(
            matches!(last, Message::Ended(Some(trailer)) if trailer.events == 774),
            "the trailer did not arrive"
        );
    }

    #[test]
    fn a_stream_cut_mid_line_gives_the_complete_lines_then_says_it_broke() {
        let last_line = DEMO[..DEMO.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap();
        let (events, last) = messages(&DEMO[..last_line + 20]);
        assert_eq!(events, 774);
        assert!(
            matches!(&last, Message::Failed(why) if why.contains("cut off")),
            "a cut line was not reported"
        );
    }

    #[test]
    fn a_full_channel_holds_the_reader_and_loses_no_event() {
        let (events, last, held) = messages_through(DEMO, 16, Duration::from_millis(300));
        assert!(held, "the reader ran on past a full channel");
        assert_eq!(events, 774, "events were lost while the reader was held");
        assert!(
            matches!(last, Message::Ended(Some(trailer)) if trailer.events == 774),
            "the trailer did not arrive"
        );
    }

    #[test]
    fn one_look_takes_at_most_its_batch_and_the_rest_waits() {
        let (sender, receiver) = mpsc::sync_channel(1_000);
        read(Replay::new(DEMO).unwrap(), &sender);
        let mut ended = false;
        let sizes = |updates: &[Update]| -> Vec<Option<usize>> {
            updates
                .iter()
                .map(|u| match u {
                    Update::Events(events) => Some(events.len()),
                    Update::Ended(_) => None,
                })
                .collect()
        };
        assert_eq!(sizes(&take(&receiver, &mut ended, 500)), [Some(500)]);
        assert!(!ended, "the end came before the events still waiting");
        assert_eq!(sizes(&take(&receiver, &mut ended, 500)), [Some(274), None]);
        assert!(ended);
        assert!(take(&receiver, &mut ended, 500).is_empty());
    }
}
