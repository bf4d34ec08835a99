//! The capture's judgement, made off the draw path: once for a replay, and live
//! when events have arrived and at most once a second.

use barwatch::{
    analysis::Judgement,
    capture::format::{Header, Trailer},
    event::Event,
    pipeline::Pipeline,
    rules::RuleConfig,
};

/// Wall-clock time between live judgements, at least.
const JUDGE_INTERVAL_NS: u64 = 1_000_000_000;

/// The pipeline everything received goes through, and its latest judgement.
pub struct Judge {
    /// The one pipeline `record`, `check` and `report` run: its analysis is
    /// bounded, forgetting events once they are judged for good and keeping
    /// their violations. `None` once the capture ended: the last judgement
    /// took over what it held.
    pipeline: Option<Pipeline<'static>>,
    judgement: Judgement,
    /// Events taken in since the last judgement.
    unjudged: u64,
    /// Wall-clock nanoseconds since the last judgement.
    since_judged_ns: u64,
    /// How many judgements were made: what was drawn from an older one is stale.
    generation: u64,
}

impl Judge {
    /// A judge for a capture whose recording has written `header`; nothing judged yet.
    pub fn new(header: &Header) -> Self {
        let pipeline = Pipeline::new(header);
        let judgement = pipeline.analysis().judge(&RuleConfig::default());
        Judge {
            pipeline: Some(pipeline),
            judgement,
            unjudged: 0,
            since_judged_ns: JUDGE_INTERVAL_NS,
            generation: 0,
        }
    }

    /// Takes in one event, in arrival order, without judging; after the
    /// capture ended there are none.
    pub fn push(&mut self, event: Event) {
        if let Some(pipeline) = &mut self.pipeline {
            pipeline.push(event);
            self.unjudged += 1;
        }
    }

    /// Judges if events arrived since the last judgement and a second has passed.
    pub fn judge_if_due(&mut self) {
        if self.unjudged > 0 && self.since_judged_ns >= JUDGE_INTERVAL_NS {
            self.judge();
        }
    }

    /// Counts `wall_ns` of wall clock towards the next judgement, and judges if due.
    pub fn tick(&mut self, wall_ns: u64) {
        self.since_judged_ns = self.since_judged_ns.saturating_add(wall_ns);
        self.judge_if_due();
    }

    /// The capture ended, with `trailer` when it ended cleanly: judges for
    /// good, handing what the analysis held to the judgement.
    pub fn finish(&mut self, trailer: Option<&Trailer>) {
        let Some(pipeline) = self.pipeline.take() else {
            return;
        };
        self.judgement = pipeline
            .finish(trailer)
            .into_judgement(&RuleConfig::default());
        self.judged();
    }

    /// The latest judgement.
    pub fn judgement(&self) -> &Judgement {
        &self.judgement
    }

    /// How many judgements were made so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Judges everything taken in so far.
    fn judge(&mut self) {
        if let Some(pipeline) = &self.pipeline {
            self.judgement = pipeline.analysis().judge(&RuleConfig::default());
            self.judged();
        }
    }

    /// A judgement was made.
    fn judged(&mut self) {
        self.unjudged = 0;
        self.since_judged_ns = 0;
        self.generation += 1;
    }
}
