//! What `record` and `check` share at the binary's edge: starting a planned
//! recording with its warnings said, where its capture goes, and what became of
//! that file.

use std::io::Write;

use anyhow::{Context as _, Result};
use barwatch::{
    output::{Fate, Placed},
    pipeline::{plan::RecordingPlan, start::Started},
    probe_table,
    write_behind::WriteBehind,
};

use crate::{cli::RecordingArgs, say::say};

/// Plans the recording the flags ask for and attaches its probes, saying what
/// costs precision on the way.
pub fn start(args: &RecordingArgs) -> Result<Started> {
    let plan = RecordingPlan::new(&args.flags(), &mut |warning| {
        say(format_args!("barwatch: {warning}"));
    })?;
    let started = plan.start()?;
    if let Some(blind) = probe_table::blind_roles_text(&started.probes.table) {
        say(format_args!(
            "barwatch: {blind}; `barwatch probes` says why for each point"
        ));
    }
    Ok(started)
}

/// Where a capture goes: the file at `path` (opened as [`barwatch::output`]
/// describes, and remembered so its fate can be told at the end), else
/// `otherwise`'s writer; with words for it in messages. A thread of its own
/// writes it ([`WriteBehind`]): close it before telling the file's fate.
pub fn capture_output(
    path: Option<&std::path::Path>,
    otherwise: impl FnOnce() -> Box<dyn Write + Send>,
) -> Result<(WriteBehind, String, Option<Placed>)> {
    let (sink, target, placed): (Box<dyn Write + Send>, _, _) = match path {
        Some(path) => {
            let file = barwatch::output::create(path).context("cannot create the capture file")?;
            let placed = Placed::new(path, &file)
                .with_context(|| format!("cannot look at the capture file {}", path.display()))?;
            (Box::new(file), path.display().to_string(), Some(placed))
        }
        None => (otherwise(), "standard output".to_owned(), None),
    };
    let out = WriteBehind::new(sink).context("cannot start the thread that writes the capture")?;
    Ok((out, target, placed))
}

/// Says what became of the capture file if it did not stay where it was made.
pub fn tell_fate(placed: Option<&Placed>, target: &str) {
    match placed.map(Placed::settle) {
        None | Some(Ok(Fate::InPlace)) => {}
        Some(Ok(Fate::Restored)) => say(format_args!(
            "barwatch: the capture file {target} was deleted while recording; barwatch wrote it back there whole"
        )),
        Some(Ok(Fate::Moved)) => say(format_args!(
            "barwatch: the capture file was moved away from {target} while recording; the capture went on in the moved file"
        )),
        Some(Err(e)) => say(format_args!(
            "barwatch: the capture file {target} was deleted while recording and could not be written back: {e:#}"
        )),
    }
}

/// The single-threaded event loop a recording runs on.
pub fn event_loop() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")
}
