//! The timeline screen's state: the capture's span, the part of it in view, the
//! cursor, and the replay that moves the cursor in capture time.

use crate::action::Action;

/// The fastest and slowest replay speeds.
const SPEEDS: std::ops::RangeInclusive<u32> = 1..=64;

/// Steps the timeline cursor takes across the visible span.
const CURSOR_STEPS: u64 = 64;

/// Where the timeline is: span, view and cursor (CLOCK_MONOTONIC ns).
pub struct TimelineScreen {
    /// The capture's time span, first to last event.
    span: (u64, u64),
    /// The visible span.
    view: (u64, u64),
    cursor_ns: u64,
    /// Whether the cursor moves by itself, and how many capture nanoseconds per
    /// wall-clock one.
    playing: bool,
    speed: u32,
    /// Whether an event has been taken in yet.
    started: bool,
}

impl TimelineScreen {
    /// A timeline over events from `first_ns` to `last_ns`, the cursor at the start.
    pub fn new(first_ns: u64, last_ns: u64) -> Self {
        let span = (first_ns, last_ns.max(first_ns + 1));
        TimelineScreen {
            span,
            view: span,
            cursor_ns: span.0,
            playing: false,
            speed: 1,
            started: false,
        }
    }

    /// Takes in the time of a newly arrived event: the span grows to it (the very
    /// first one starts the span and puts the cursor there). The view follows
    /// when it showed the whole span and `follow` is set.
    pub fn extend(&mut self, ts_ns: u64, follow: bool) {
        let whole_view = self.view == self.span;
        self.span.1 = self.span.1.max(ts_ns);
        if !self.started {
            self.started = true;
            self.span.0 = ts_ns;
            self.cursor_ns = ts_ns;
        }
        if whole_view && follow {
            self.view = self.span;
        }
    }

    /// Marks the span as started by the events already given to [`Self::new`].
    pub fn started(mut self) -> Self {
        self.started = true;
        self
    }

    /// Handles a time key (cursor and zoom); other keys are not this screen's.
    pub fn key(&mut self, action: Action) {
        let (start, end) = self.view;
        let width = end - start;
        let step = (width / CURSOR_STEPS).max(1);
        match action {
            Action::Earlier => self.cursor_ns = self.cursor_ns.saturating_sub(step),
            Action::Later => self.cursor_ns = self.cursor_ns.saturating_add(step),
            Action::ZoomIn => {
                self.view = self.around(self.cursor_ns, (width / 2).max(CURSOR_STEPS))
            }
            Action::ZoomOut => self.view = self.around(self.cursor_ns, width.saturating_mul(2)),
            Action::PlayPause => {
                self.playing = !self.playing && self.cursor_ns < self.span.1;
                return;
            }
            Action::Faster => {
                self.speed = (self.speed * 2).min(*SPEEDS.end());
                return;
            }
            Action::Slower => {
                self.speed = (self.speed / 2).max(*SPEEDS.start());
                return;
            }
            _ => return,
        }
        self.follow_cursor();
    }

    /// Moves the cursor to the first of `times` after it (or the last before it);
    /// whether it moved.
    pub fn jump(&mut self, times: &[u64], forward: bool) -> bool {
        let target = if forward {
            times.iter().copied().filter(|&t| t > self.cursor_ns).min()
        } else {
            times.iter().copied().filter(|&t| t < self.cursor_ns).max()
        };
        if let Some(target) = target {
            self.cursor_ns = target;
            self.follow_cursor();
        }
        target.is_some()
    }

    /// Wall-clock time passed: a playing cursor moves with the capture's clock,
    /// and stops at its end. Whether it moved.
    pub fn tick(&mut self, wall_ns: u64) -> bool {
        if !self.playing {
            return false;
        }
        self.cursor_ns = self
            .cursor_ns
            .saturating_add(wall_ns.saturating_mul(u64::from(self.speed)));
        if self.cursor_ns >= self.span.1 {
            self.playing = false;
        }
        self.follow_cursor();
        true
    }

    /// The visible span (start and end).
    pub fn view(&self) -> (u64, u64) {
        self.view
    }

    /// The capture's span (first and last event).
    pub fn span(&self) -> (u64, u64) {
        self.span
    }

    /// The cursor.
    pub fn cursor_ns(&self) -> u64 {
        self.cursor_ns
    }

    /// Whether the replay is running.
    pub fn playing(&self) -> bool {
        self.playing
    }

    /// The replay speed (capture time per wall-clock time).
    pub fn speed(&self) -> u32 {
        self.speed
    }

    /// Keeps the cursor in the span and the view around it.
    fn follow_cursor(&mut self) {
        self.cursor_ns = self.cursor_ns.clamp(self.span.0, self.span.1);
        let (start, end) = self.view;
        if self.cursor_ns < start || self.cursor_ns > end {
            self.view = self.around(self.cursor_ns, end - start);
        }
    }

    /// A span `width` long centred on `ts_ns`, within the capture's span.
    fn around(&self, ts_ns: u64, width: u64) -> (u64, u64) {
        let (first, last) = self.span;
        let width = width.min(last - first);
        let start = ts_ns.saturating_sub(width / 2).clamp(first, last - width);
        (start, start + width)
    }
}
