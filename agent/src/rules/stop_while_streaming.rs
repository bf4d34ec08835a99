//! stop-while-streaming: the chip was stopped while a PCM stream was running.
//!
//! A stream runs from a `stream-start` marker to the `stream-stop` marker of the
//! same stream (their first argument); streams started before the capture are
//! unknown and never counted.

use std::collections::BTreeMap;

use super::{Context, Rule, Violation};
use crate::time::human_duration;
use crate::{
    event::{Event, EventData},
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
        let mut running: BTreeMap<(&str, u64), &Event> = BTreeMap::new();
        let mut found = Vec::new();
        for event in ctx.events {
            let (
                Some(device),
                EventData::FuncEntry {
                    args,
                    function,
                    stack,
                    ..
                },
            ) = (event.device.as_deref(), &event.data)
            else {
                continue;
            };
            match ctx.probes.marker(&event.probe).map(|m| m.edge) {
                Some(Edge::StreamStart) => {
                    running.insert((device, args[0].0), event);
                }
                Some(Edge::StreamStop) => {
                    running.remove(&(device, args[0].0));
                }
                Some(Edge::ChipStop) => {
                    let streams: Vec<&Event> = running
                        .iter()
                        .filter(|((d, _), _)| *d == device)
                        .map(|(_, e)| *e)
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
                    v.stack = stack.clone();
                    v.events.extend(streams.iter().map(|e| (*e).clone()));
                    found.push(v);
                }
                _ => {}
            }
        }
        found
    }

    fn gaps(&self, ctx: &Context) -> Option<String> {
        ctx.gaps(&[Role::QuiesceMarker, Role::MmioAccessor])
    }
}
