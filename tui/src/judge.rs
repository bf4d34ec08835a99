//! The capture's judgement, made off the draw path: once for a replay, and live
//! when events have arrived and at most once a second.

use barwatch::{
    analysis::{Analysis, Judgement, Retention},
    capture::format::{Header, Trailer},
    event::Event,
    rules::RuleConfig,
};

/// Wall-clock time between live judgements, at least.
const JUDGE_INTERVAL_NS: u64 = 1_000_000_000;

/// The bounded analysis of everything received and its latest judgement.
pub struct Judge {
    /// Bounded: it forgets events once they are judged for good and keeps their
    /// violations.
    analysis: Analysis,
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
        let analysis = Analysis::bounded(header, Retention::default());
        let judgement = analysis.judge(&RuleConfig::default());
        Judge {
            analysis,
            judgement,
            unjudged: 0,
            since_judged_ns: JUDGE_INTERVAL_NS,
            generation: 0,
        }
    }

    /// Takes in one event, in arrival order, without judging.
    pub fn push(&mut self, event: Event) {
        self.analysis.push(event);
        self.unjudged += 1;
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

    /// The capture ended, with `trailer` when it ended cleanly: judges for good.
    pub fn finish(&mut self, trailer: Option<&Trailer>) {
        if let Some(trailer) = trailer {
            self.analysis.finish(trailer);
        }
        self.judge();
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
        self.judgement = self.analysis.judge(&RuleConfig::default());
        self.unjudged = 0;
        self.since_judged_ns = 0;
        self.generation += 1;
    }
}
