//! Where events go besides the analysis.

use crate::{event::Event, report::SummaryBuilder};

/// Something that wants every event a pipeline carries, in arrival order: a
/// summary, a view. Sinks only take; the verdict is the analysis'.
pub trait Sink {
    /// Takes one event.
    fn take(&mut self, event: &Event);
}

impl Sink for SummaryBuilder {
    fn take(&mut self, event: &Event) {
        self.push(event);
    }
}
