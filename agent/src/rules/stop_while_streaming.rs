//! stop-while-streaming: the chip was stopped while a PCM stream was running.
//!
//! A stream runs from a `stream-start` marker to the `stream-stop` marker of the
//! same stream (their first argument); streams started before the capture are
//! unknown and never counted.

use super::{Context, Rule, Violation};
use crate::time::human_duration;
use crate::{
    event::{Event, EventData, Name},
    intervals::Interval,
    probe_table::{Edge, Role},
};

/// The rule.
pub struct StopWhileStreaming;

impl Rule for StopWhileStreaming {
    fn id(&self) -> &'static str {
        "stop-while-streaming"
    }

    fn meaning(&self) -> &'static str {
        "every stream is stopped before the chip is"
    }

    fn blind(&self, ctx: &Context) -> Option<String> {
        [Edge::ChipStop, Edge::StreamStart, Edge::StreamStop]
            .into_iter()
            .find(|edge| !ctx.probes.sees_edge(*edge))
            .map(|edge| format!("no attached {edge} marker"))
    }

    fn violations(&self, ctx: &Context) -> Vec<Violation> {
        let mut found = Vec::new();
        for (index, event) in chip_stops(ctx) {
            let Some((device, function, stack)) = chip_stop(event) else {
                continue;
            };
            let streams: Vec<&Event> = running(ctx, device, index)
                .map(|stream| &ctx.events[stream.open])
                .collect();
            let Some(first) = streams.first() else {
                continue;
            };
            let cycle = ctx
                .timelines
                .device(device)
                .and_then(|t| t.cycle_at(event.ts_ns));
            let mut v = Violation::by("stop-while-streaming", device, cycle, event);
            v.what = format!(
                "{function} stopped the chip with {} stream(s) running; stream {} started {} before by pid {} {}",
                streams.len(),
                match &first.data {
                    EventData::FuncEntry { args, .. } => args[0].to_string(),
                    _ => String::new(),
                },
                human_duration(event.ts_ns - first.ts_ns),
                first.pid,
                first.comm
            );
            v.advice = "Stop the PCM streams first (snd_pcm_suspend_all, or the trigger STOP path) so DMA is idle before the controller is reset.".to_owned();
            v.stack = stack.to_vec();
            v.events.extend(streams.iter().map(|e| (*e).clone()));
            found.push(v);
        }
        found
    }

    fn gaps(&self, ctx: &Context) -> Option<String> {
        ctx.gaps(&[Role::QuiesceMarker, Role::MmioAccessor])
    }

    /// Streams still running at the horizon, which a later chip stop may find
    /// running, and those a chip stop before it found running, which its
    /// violation names (the chip stop itself is kept: timelines are built from it).
    fn pins(&self, ctx: &Context, keep: &mut [bool]) {
        for (_, stream) in ctx.intervals.streams.open_at(keep.len()) {
            keep[stream.open] = true;
        }
        let cut = keep.len();
        let settled = chip_stops(ctx).take_while(|(index, _)| *index < cut);
        for (index, event) in settled {
            let Some((device, ..)) = chip_stop(event) else {
                continue;
            };
            for stream in running(ctx, device, index) {
                keep[stream.open] = true;
            }
        }
    }
}

/// The calls of chip-stop markers that name a device, in log order, with their
/// index.
fn chip_stops<'c>(ctx: &'c Context) -> impl Iterator<Item = (usize, &'c Event)> {
    ctx.intervals
        .marks
        .iter()
        .filter(|(_, edge)| *edge == Edge::ChipStop)
        .map(|&(index, _)| (index, &ctx.events[index]))
}

/// The device, function and stack of a chip-stop marker's call.
fn chip_stop(event: &Event) -> Option<(&str, &str, &[Name])> {
    let (
        Some(device),
        EventData::FuncEntry {
            function, stack, ..
        },
    ) = (event.device.as_deref(), &event.data)
    else {
        return None;
    };
    Some((device, function.as_str(), stack.as_slice()))
}

/// The streams of `device` running at event `at`, by stream.
fn running<'c>(ctx: &'c Context, device: &'c str, at: usize) -> impl Iterator<Item = &'c Interval> {
    ctx.intervals
        .streams
        .in_flight_among((device, 0)..=(device, u64::MAX), at)
        .map(|(_, stream)| stream)
}
