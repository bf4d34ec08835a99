//! The application state and the one place it changes.
//!
//! [`App::update`] is pure: it takes an [`Action`] and makes no I/O, so every
//! behaviour of the UI can be tested by feeding actions (or keys through the
//! keymap) and looking at the state. Drawing reads the state and never changes it.

use barwatch::{
    analysis::{Analysis, Judgement, Retention},
    capture::{
        format::{Header, Trailer},
        reader::{Capture, CaptureEnd},
    },
    event::Event,
    rules::{RuleConfig, RuleResult, Violation},
};

use crate::{
    action::Action,
    filter::{EventFilter, FilterError, Searchable},
};

/// What the keyboard is talking to right now; the keymap has a table per mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Browsing the event list.
    List,
    /// Typing in the filter prompt.
    Filter,
    /// Reading the key help overlay.
    Help,
    /// Reading one violation's evidence.
    Evidence,
    /// Reading the probe table.
    Probes,
}

/// The screens Tab cycles through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Screen {
    /// The event log.
    Events,
    /// Each watched device: state, BAR0, cycles, violations.
    Devices,
    /// Per-device lanes on a shared time axis: windows, events, violations.
    Timeline,
    /// Every violation; Enter opens its evidence.
    Violations,
}

impl Screen {
    /// Every screen, in Tab order.
    pub const ALL: [Screen; 4] = [
        Screen::Events,
        Screen::Devices,
        Screen::Timeline,
        Screen::Violations,
    ];

    /// The screen Tab goes to from this one.
    pub fn next(self) -> Screen {
        match self {
            Screen::Events => Screen::Devices,
            Screen::Devices => Screen::Timeline,
            Screen::Timeline => Screen::Violations,
            Screen::Violations => Screen::Events,
        }
    }

    /// Its name on the tab bar.
    pub fn title(self) -> &'static str {
        match self {
            Screen::Events => "Events",
            Screen::Devices => "Devices",
            Screen::Timeline => "Timeline",
            Screen::Violations => "Violations",
        }
    }
}

/// Everything the UI shows: the capture, the filter and where the user is in the list.
pub struct App {
    source: String,
    header: Header,
    end: CaptureEnd,
    events: Vec<Event>,
    /// What the filter reads of each event.
    searchable: Vec<Searchable>,
    mode: Mode,
    /// The applied filter as typed, and as read.
    filter: String,
    parsed: EventFilter,
    input: String,
    /// Why the filter in the prompt could not be applied.
    filter_error: Option<String>,
    /// Indices into `events` of the events that match `filter`, in capture order.
    visible: Vec<usize>,
    /// Index into `visible` of the selected event.
    selected: usize,
    /// Index into `visible` of the topmost row on screen.
    offset: usize,
    /// Rows the event list has on screen.
    viewport: usize,
    quit: bool,
    /// The timelines and rule verdicts of the capture, from barwatch's model.
    judgement: Judgement,
    screen: Screen,
    /// Index of the selected violation among [`App::violations`].
    violation: usize,
    /// Index of the selected device on the devices screen.
    device: usize,
    /// The capture's time span, first to last event (CLOCK_MONOTONIC ns).
    span: (u64, u64),
    /// The timeline's visible span.
    view: (u64, u64),
    /// The timeline's cursor.
    cursor_ns: u64,
    /// Whether the cursor moves by itself, and how many capture nanoseconds per
    /// wall-clock one.
    playing: bool,
    speed: u32,
    file_size: Option<u64>,
    /// Events still arrive from a running recorder.
    live: bool,
    /// Live, the screens hold still while events keep being counted.
    paused: bool,
    /// The events received live, for judging (a replay is judged once, in
    /// [`App::new`], and keeps no second copy). It is bounded: it forgets events
    /// once they are judged for good and keeps their violations. The event list
    /// keeps only the most recent [`LIVE_EVENTS`].
    analysis: Analysis,
    /// Events received in all, beyond those the list still holds.
    received: u64,
    /// Events received since the last judgement.
    unjudged: u64,
    /// Ticks since the last judgement.
    ticks: u32,
    /// Live: events counted and wall-clock nanoseconds passed since the rate was
    /// last measured, and that rate.
    rate_window: (u64, u64),
    recent_rate: f64,
    /// Probe name to role, for filtering.
    roles: std::collections::HashMap<String, String>,
}

/// Events the live list keeps: older ones leave the list (the counts and the
/// judgement keep what they contributed).
pub const LIVE_EVENTS: usize = 50_000;
/// Ticks between judgements while events arrive (a tick is a frame).
const JUDGE_EVERY: u32 = 10;

/// The fastest and slowest replay speeds.
const SPEEDS: std::ops::RangeInclusive<u32> = 1..=64;

/// Steps the timeline cursor takes across the visible span.
const CURSOR_STEPS: u64 = 64;

impl App {
    /// Builds the state for browsing `capture`, read from the file named `source`.
    pub fn new(source: impl Into<String>, capture: Capture) -> Self {
        let judgement = Analysis::of_capture(&capture).judge(&RuleConfig::default());
        let analysis = Analysis::bounded(&capture.header, Retention::default());
        let Capture {
            header,
            events,
            end,
        } = capture;
        let roles: std::collections::HashMap<String, String> = header
            .probes
            .iter()
            .map(|p| (p.name.clone(), p.role.to_string()))
            .collect();
        let searchable = events
            .iter()
            .map(|e| searchable(e, &judgement, &roles))
            .collect();
        let received = events.len() as u64;
        let first_ts_ns = events.iter().map(|e| e.ts_ns).min().unwrap_or(0);
        let last_ts_ns = events.iter().map(|e| e.ts_ns).max().unwrap_or(0);
        let span = (first_ts_ns, last_ts_ns.max(first_ts_ns + 1));
        let visible = (0..events.len()).collect();
        App {
            source: source.into(),
            header,
            end,
            events,
            searchable,
            mode: Mode::List,
            filter: String::new(),
            parsed: EventFilter::default(),
            input: String::new(),
            filter_error: None,
            visible,
            selected: 0,
            offset: 0,
            viewport: 1,
            quit: false,
            judgement,
            screen: Screen::Events,
            violation: 0,
            device: 0,
            span,
            view: span,
            cursor_ns: span.0,
            playing: false,
            speed: 1,
            file_size: None,
            live: false,
            paused: false,
            analysis,
            received,
            unjudged: 0,
            ticks: 0,
            rate_window: (0, 0),
            recent_rate: 0.0,
            roles,
        }
    }

    /// The state for watching a recorder that has written `header` so far.
    pub fn live(source: impl Into<String>, header: Header) -> Self {
        let capture = Capture {
            header,
            events: Vec::new(),
            end: CaptureEnd::Cut {
                complete_lines: 1,
                partial: None,
            },
        };
        let mut app = App::new(source, capture);
        app.live = true;
        app
    }

    /// Whether events still arrive from a running recorder.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Whether the live screens hold still (events are still counted).
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Takes in events from the recorder, in arrival order. The list keeps the
    /// most recent [`LIVE_EVENTS`]; the counts and the judgement take in them all.
    pub fn push_events(&mut self, events: Vec<Event>) {
        let whole_view = self.view == self.span;
        let at_end = self.selected + 1 >= self.visible.len();
        let first_new = self.events.len();
        for event in events {
            self.span.1 = self.span.1.max(event.ts_ns);
            if self.events.is_empty() && self.received == 0 {
                self.span.0 = event.ts_ns;
                self.cursor_ns = event.ts_ns;
            }
            self.searchable
                .push(searchable(&event, &self.judgement, &self.roles));
            self.analysis.push(event.clone());
            self.events.push(event);
            self.received += 1;
            self.unjudged += 1;
            self.rate_window.0 += 1;
        }
        // Only the new events are matched against the filter.
        let matching =
            (first_new..self.events.len()).filter(|&i| self.parsed.matches(&self.searchable[i]));
        self.visible.extend(matching);
        let over = self.events.len().saturating_sub(LIVE_EVENTS);
        if over > 0 {
            self.events.drain(..over);
            self.searchable.drain(..over);
            // The list loses the events the ring let go, and its indices move down
            // with the events left; the selection stays on the same event.
            let gone = self.visible.partition_point(|&i| i < over);
            self.visible.drain(..gone);
            for index in &mut self.visible {
                *index -= over;
            }
            self.selected = self.selected.saturating_sub(gone);
            self.offset = self.offset.saturating_sub(gone);
        }
        if whole_view && !self.paused {
            self.view = self.span;
        }
        if at_end && !self.paused {
            self.selected = self.visible.len().saturating_sub(1);
        }
        self.keep_selection_in_view();
    }

    /// The recorder has ended: with its trailer when it ended cleanly.
    pub fn end_live(&mut self, trailer: Option<Trailer>) {
        self.live = false;
        if let Some(trailer) = trailer {
            self.analysis.finish(&trailer);
            self.end = CaptureEnd::Trailer(trailer);
        }
        self.judge();
    }

    /// Judges everything received so far.
    fn judge(&mut self) {
        self.judgement = self.analysis.judge(&RuleConfig::default());
        self.unjudged = 0;
        self.ticks = 0;
    }

    /// Applies one action to the state.
    pub fn update(&mut self, action: Action) {
        if let Action::Tick(wall_ns) = action {
            self.rate_window.1 = self.rate_window.1.saturating_add(wall_ns);
            if self.rate_window.1 >= 1_000_000_000 {
                self.recent_rate = self.rate_window.0 as f64 * 1e9 / self.rate_window.1 as f64;
                self.rate_window = (0, 0);
            }
        }
        if matches!(action, Action::Tick(_)) && self.unjudged > 0 {
            self.ticks += 1;
            if self.ticks >= JUDGE_EVERY {
                self.judge();
            }
        }
        match action {
            Action::Quit => self.quit = true,
            Action::ClearFilterOrQuit if self.filter.is_empty() => self.quit = true,
            Action::ClearFilterOrQuit | Action::ClearFilter => {
                self.input.clear();
                self.filter_error = None;
                self.mode = Mode::List;
                self.set_filter(String::new(), EventFilter::default());
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Top
                if self.screen == Screen::Violations =>
            {
                self.violation = step(self.violation, action, self.viewport);
            }
            Action::Bottom if self.screen == Screen::Violations => {
                self.violation = self.violation_count().saturating_sub(1);
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Top
                if self.screen == Screen::Devices =>
            {
                self.device = step(self.device, action, self.viewport);
            }
            Action::Bottom if self.screen == Screen::Devices => {
                self.device = self.judgement.devices.len().saturating_sub(1);
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Top
                if self.screen == Screen::Events =>
            {
                self.selected = step(self.selected, action, self.viewport);
            }
            Action::Bottom if self.screen == Screen::Events => {
                self.selected = self.visible.len().saturating_sub(1);
            }
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => {}
            Action::NextScreen => self.screen = self.screen.next(),
            Action::Earlier | Action::Later | Action::ZoomIn | Action::ZoomOut
                if self.screen == Screen::Timeline =>
            {
                self.move_in_time(action);
            }
            Action::Earlier | Action::Later | Action::ZoomIn | Action::ZoomOut => {}
            Action::NextViolation | Action::PreviousViolation => {
                let times: Vec<u64> = self.violations().iter().map(|(_, v)| v.ts_ns).collect();
                self.jump(&times, action == Action::NextViolation);
            }
            Action::NextCycle | Action::PreviousCycle => {
                let times: Vec<u64> = self
                    .judgement
                    .devices
                    .iter()
                    .flat_map(|d| &d.cycles)
                    .filter_map(|c| c.steps.first().map(|m| m.ts_ns))
                    .collect();
                self.jump(&times, action == Action::NextCycle);
            }
            // Live, Space pauses the screens on what they show; counts go on.
            Action::PlayPause if self.live => self.paused = !self.paused,
            Action::PlayPause => {
                self.playing = !self.playing && self.cursor_ns < self.span.1;
            }
            Action::Faster => self.speed = (self.speed * 2).min(*SPEEDS.end()),
            Action::Slower => self.speed = (self.speed / 2).max(*SPEEDS.start()),
            Action::Tick(wall_ns) if self.playing => {
                self.cursor_ns = self
                    .cursor_ns
                    .saturating_add(wall_ns.saturating_mul(u64::from(self.speed)));
                if self.cursor_ns >= self.span.1 {
                    self.playing = false;
                }
                self.follow_cursor();
            }
            Action::Tick(_) => {}
            Action::Open => match self.screen {
                Screen::Violations if self.selected_violation().is_some() => {
                    self.mode = Mode::Evidence;
                }
                Screen::Devices => {
                    if let Some(device) = self.judgement.devices.get(self.device) {
                        let filter = format!("dev:{}", device.bdf);
                        if self.apply_filter(&filter).is_ok() {
                            self.screen = Screen::Events;
                        }
                    }
                }
                Screen::Events | Screen::Timeline | Screen::Violations => {}
            },
            Action::Close => self.mode = Mode::List,
            Action::ShowProbes => self.mode = Mode::Probes,
            Action::OpenFilter => {
                self.input = self.filter.clone();
                self.mode = Mode::Filter;
            }
            Action::FilterChar(c) if self.mode == Mode::Filter => {
                self.input.push(c);
                self.filter_error = None;
            }
            Action::FilterBackspace if self.mode == Mode::Filter => {
                self.input.pop();
                self.filter_error = None;
            }
            Action::FilterChar(_) | Action::FilterBackspace => {}
            Action::ApplyFilter => match self.apply_filter(&self.input.clone()) {
                Ok(()) => self.mode = Mode::List,
                // The prompt stays open with what was typed and why it is wrong.
                Err(error) => self.filter_error = Some(error.to_string()),
            },
            Action::ToggleHelp => {
                self.mode = match self.mode {
                    Mode::Help => Mode::List,
                    Mode::List | Mode::Filter | Mode::Evidence | Mode::Probes => Mode::Help,
                }
            }
            Action::Resize(rows) => self.viewport = rows.max(1),
        }
        self.keep_selection_in_view();
        self.violation = self.violation.min(self.violation_count().saturating_sub(1));
        self.device = self
            .device
            .min(self.judgement.devices.len().saturating_sub(1));
    }

    /// The timeline's visible span (CLOCK_MONOTONIC ns, start and end).
    pub fn view(&self) -> (u64, u64) {
        self.view
    }

    /// The timeline's cursor (CLOCK_MONOTONIC ns).
    pub fn cursor_ns(&self) -> u64 {
        self.cursor_ns
    }

    /// Moves the cursor or zooms, keeping the cursor in view and the view in the
    /// capture's span.
    fn move_in_time(&mut self, action: Action) {
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
            _ => {}
        }
        self.follow_cursor();
    }

    /// Moves the cursor to the first of `times` after it (or the last before it),
    /// and the event list and view with it.
    fn jump(&mut self, times: &[u64], forward: bool) {
        let target = if forward {
            times.iter().copied().filter(|&t| t > self.cursor_ns).min()
        } else {
            times.iter().copied().filter(|&t| t < self.cursor_ns).max()
        };
        if let Some(target) = target {
            self.cursor_ns = target;
            self.follow_cursor();
        }
    }

    /// Keeps the view around the cursor and selects the last event at or before
    /// it, so the timeline and the event list tell the same moment.
    fn follow_cursor(&mut self) {
        self.cursor_ns = self.cursor_ns.clamp(self.span.0, self.span.1);
        let (start, end) = self.view;
        if self.cursor_ns < start || self.cursor_ns > end {
            self.view = self.around(self.cursor_ns, end - start);
        }
        let upto = self
            .visible
            .partition_point(|&i| self.events[i].ts_ns <= self.cursor_ns);
        self.selected = upto.saturating_sub(1);
    }

    /// Whether the replay is running.
    pub fn playing(&self) -> bool {
        self.playing
    }

    /// The replay speed (capture time per wall-clock time).
    pub fn speed(&self) -> u32 {
        self.speed
    }

    /// A span `width` long centred on `ts_ns`, within the capture's span.
    fn around(&self, ts_ns: u64, width: u64) -> (u64, u64) {
        let (first, last) = self.span;
        let width = width.min(last - first);
        let start = ts_ns.saturating_sub(width / 2).clamp(first, last - width);
        (start, start + width)
    }

    /// The screen shown.
    pub fn screen(&self) -> Screen {
        self.screen
    }

    /// The capture's timelines and rule verdicts.
    pub fn judgement(&self) -> &Judgement {
        &self.judgement
    }

    /// Every violation with its rule, in report order.
    pub fn violations(&self) -> Vec<(&RuleResult, &Violation)> {
        self.judgement
            .rules
            .iter()
            .flat_map(|r| r.violations.iter().map(move |v| (r, v)))
            .collect()
    }

    /// How many violations there are.
    pub fn violation_count(&self) -> usize {
        self.judgement
            .rules
            .iter()
            .map(|r| r.violations.len())
            .sum()
    }

    /// Position of the selected violation, if there is any.
    pub fn violation_position(&self) -> Option<usize> {
        (self.violation_count() > 0).then_some(self.violation)
    }

    /// The selected violation with its rule.
    pub fn selected_violation(&self) -> Option<(&RuleResult, &Violation)> {
        self.judgement
            .rules
            .iter()
            .flat_map(|r| r.violations.iter().map(move |v| (r, v)))
            .nth(self.violation)
    }

    /// Whether the user asked to leave.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// What the keyboard is talking to.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The name of the capture file, as given on the command line.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The capture's header: kernel, host and probe table.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Records lost per probe (only those that lost some), from the trailer.
    pub fn lost_by_probe(&self) -> Vec<(&str, u64)> {
        match &self.end {
            CaptureEnd::Trailer(trailer) => trailer
                .probes
                .iter()
                .filter(|(_, totals)| totals.lost > 0)
                .map(|(name, totals)| (name.as_str(), totals.lost))
                .collect(),
            CaptureEnd::Cut { .. } => Vec::new(),
        }
    }

    /// The probe table as it stood at the end (points attached late included).
    pub fn probe_table(&self) -> &[barwatch::probe_table::ProbeStatus] {
        match &self.end {
            CaptureEnd::Trailer(trailer) if !trailer.final_probes.is_empty() => {
                &trailer.final_probes
            }
            _ => &self.header.probes,
        }
    }

    /// Events per second: live, over the last second of wall clock; replayed, over
    /// the capture's span.
    pub fn event_rate(&self) -> f64 {
        if self.live {
            return self.recent_rate;
        }
        let seconds = (self.span.1 - self.span.0) as f64 / 1e9;
        if seconds > 0.0 {
            self.received as f64 / seconds
        } else {
            0.0
        }
    }

    /// The capture file's size in bytes, when known.
    pub fn file_size(&self) -> Option<u64> {
        self.file_size
    }

    /// Records the capture file's size for the status line.
    pub fn set_file_size(&mut self, bytes: u64) {
        self.file_size = Some(bytes);
    }

    /// Records the kernel dropped, known only when the capture has a trailer.
    pub fn lost(&self) -> Option<u64> {
        match &self.end {
            CaptureEnd::Trailer(trailer) => Some(trailer.lost),
            CaptureEnd::Cut { .. } => None,
        }
    }

    /// Whether the capture was cut (it has no trailer, so its totals are unknown).
    pub fn is_cut(&self) -> bool {
        matches!(self.end, CaptureEnd::Cut { .. })
    }

    /// Number of events in the capture (received so far, when live).
    pub fn total(&self) -> u64 {
        self.received
    }

    /// Number of events the filter lets through.
    pub fn matching(&self) -> usize {
        self.visible.len()
    }

    /// The applied filter; empty when every event is shown.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The text in the filter prompt while it is open.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why the filter in the prompt could not be applied, until it is edited.
    pub fn filter_error(&self) -> Option<&str> {
        self.filter_error.as_deref()
    }

    /// Position of the selected device on the devices screen, if there is any.
    pub fn device_position(&self) -> Option<usize> {
        (!self.judgement.devices.is_empty()).then_some(self.device)
    }

    /// Position of the selected event among the matching ones, if any match.
    pub fn selected(&self) -> Option<usize> {
        (!self.visible.is_empty()).then_some(self.selected)
    }

    /// Every event of the capture, in capture order, whether it matches or not.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// When the capture started (CLOCK_MONOTONIC ns): every screen shows times
    /// relative to it, so an event shows the same time wherever it appears.
    pub fn started_ns(&self) -> u64 {
        self.header.started_monotonic_ns
    }

    /// The matching events from the top of the screen on, at most `rows` of them,
    /// each with whether it is the selected one.
    pub fn window(&self, rows: usize) -> impl Iterator<Item = (bool, &Event)> + '_ {
        self.visible
            .iter()
            .enumerate()
            .skip(self.offset)
            .take(rows)
            .map(|(pos, &index)| (pos == self.selected, &self.events[index]))
    }

    /// Reads `text` as a filter and applies it, or says why it cannot.
    fn apply_filter(&mut self, text: &str) -> Result<(), FilterError> {
        let parsed = EventFilter::parse(text)?;
        self.set_filter(text.trim().to_owned(), parsed);
        Ok(())
    }

    /// Replaces the applied filter, keeping the selection on the same event or the
    /// next one that still matches.
    fn set_filter(&mut self, filter: String, parsed: EventFilter) {
        let anchor = self.visible.get(self.selected).copied().unwrap_or(0);
        self.visible = (0..self.events.len())
            .filter(|&i| parsed.matches(&self.searchable[i]))
            .collect();
        self.selected = self.visible.partition_point(|&i| i < anchor);
        self.filter = filter;
        self.parsed = parsed;
    }

    /// Clamps the selection to the matching events and scrolls just enough to show it.
    fn keep_selection_in_view(&mut self) {
        let len = self.visible.len();
        self.selected = self.selected.min(len.saturating_sub(1));
        self.offset = self.offset.min(len.saturating_sub(self.viewport));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + self.viewport {
            self.offset = self.selected + 1 - self.viewport;
        }
    }
}

/// `position` moved by a movement action, with `page` rows per page (unclamped
/// above: the caller clamps to its list).
fn step(position: usize, action: Action, page: usize) -> usize {
    match action {
        Action::Up => position.saturating_sub(1),
        Action::Down => position.saturating_add(1),
        Action::PageUp => position.saturating_sub(page),
        Action::PageDown => position.saturating_add(page),
        Action::Top => 0,
        _ => position,
    }
}

/// What the filter reads of `event`: its device is the one the judgement says it
/// is about (a driver's work item names none), its role its probe's.
fn searchable(
    event: &Event,
    judgement: &Judgement,
    roles: &std::collections::HashMap<String, String>,
) -> Searchable {
    let role = roles.get(&event.probe).map(String::as_str);
    Searchable::of(event, judgement.device_of(event), role)
}
