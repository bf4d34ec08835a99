//! Benchmark: how fast a capture file's lines are parsed, by the capture reader
//! and by the plainest loop there is (each line into a `serde_json::Value`), on
//! the same file. `cargo xtask bench` runs it on big captures next to `wc -l`
//! and `barwatch check --capture`.
//!
//! `parse_throughput [--json] FILE` prints one line per measure, or with `--json`
//! one JSON object: `{"lines":…,"events":…,"value_loop_s":…,"reader_s":…,
//! "reader_on_a_thread_s":…}`. The last is the reader on a second thread handing
//! events over in batches, as a replay that parses beside its analysis would.

use std::{
    fs::File,
    io::{BufRead as _, BufReader},
    path::Path,
    time::Instant,
};

use anyhow::{Context as _, Result, bail};
use barwatch::capture::reader::CaptureReader;

/// The read buffer of every loop.
const BUFFER_BYTES: usize = 1 << 20;
/// Events per batch the parsing thread hands over, and batches in flight.
const BATCH: usize = 1024;
const BATCHES_IN_FLIGHT: usize = 4;

/// Lines in `path`, each parsed into a `serde_json::Value`, and the seconds it took.
fn value_loop(path: &Path) -> Result<(u64, f64)> {
    let started = Instant::now();
    let mut input = BufReader::with_capacity(BUFFER_BYTES, open(path)?);
    let mut line = String::new();
    let mut lines = 0u64;
    while input.read_line(&mut line)? != 0 {
        serde_json::from_str::<serde_json::Value>(&line)
            .with_context(|| format!("line {} is not JSON", lines + 1))?;
        lines += 1;
        line.clear();
    }
    Ok((lines, started.elapsed().as_secs_f64()))
}

/// Events the capture reader yields from `path`, and the seconds it took.
fn reader(path: &Path) -> Result<(u64, f64)> {
    let started = Instant::now();
    let input = BufReader::with_capacity(BUFFER_BYTES, open(path)?);
    let mut events = 0u64;
    for event in CaptureReader::new(input)? {
        event?;
        events += 1;
    }
    Ok((events, started.elapsed().as_secs_f64()))
}

/// Events the capture reader yields from `path` on a second thread, handed
/// over in batches through a bounded channel, and the seconds it took.
fn reader_on_a_thread(path: &Path) -> Result<(u64, f64)> {
    let started = Instant::now();
    let input = BufReader::with_capacity(BUFFER_BYTES, open(path)?);
    let reader = CaptureReader::new(input)?;
    let (batches, received) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
    let parsing = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        for event in reader {
            batch.push(event);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if batches.send(full).is_err() {
                    return;
                }
            }
        }
        let _ = batches.send(batch);
    });
    let mut events = 0u64;
    for batch in received {
        for event in batch {
            event?;
            events += 1;
        }
    }
    parsing
        .join()
        .map_err(|_| anyhow::anyhow!("the parsing thread panicked"))?;
    Ok((events, started.elapsed().as_secs_f64()))
}

fn open(path: &Path) -> Result<File> {
    File::open(path).with_context(|| format!("cannot open {}", path.display()))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (json, path) = match args.as_slice() {
        [flag, path] if flag == "--json" => (true, Path::new(path)),
        [path] => (false, Path::new(path)),
        _ => bail!("usage: parse_throughput [--json] FILE"),
    };
    let (lines, value_loop_s) = value_loop(path)?;
    let (events, reader_s) = reader(path)?;
    let (_, threaded_s) = reader_on_a_thread(path)?;
    if json {
        let result = serde_json::json!({
            "lines": lines,
            "events": events,
            "value_loop_s": value_loop_s,
            "reader_s": reader_s,
            "reader_on_a_thread_s": threaded_s,
        });
        println!("{result}");
        return Ok(());
    }
    println!(
        "parse_throughput: serde_json::Value line loop: {lines} lines in {value_loop_s:.2} s, {:.0} lines/s",
        lines as f64 / value_loop_s
    );
    println!(
        "parse_throughput: capture reader: {events} events in {reader_s:.2} s, {:.0} events/s ({:.2}x the Value loop's time)",
        events as f64 / reader_s,
        reader_s / value_loop_s
    );
    println!(
        "parse_throughput: capture reader on a second thread, batches of {BATCH}: {:.2} s, {:.0} events/s",
        threaded_s,
        events as f64 / threaded_s
    );
    Ok(())
}
