//! The application: the capture's facts, the judgement and the screens, and the
//! one place they change.
//!
//! [`App::update`] takes a [`Message`] (a key's action, a tick, a live batch or
//! the live end) and routes it to the screen it concerns, so every behaviour of
//! the UI can be tested by feeding messages (or keys through the keymap) and
//! looking at the state. Judging happens here, off the draw path; drawing reads
//! the state and never changes it.

use std::{collections::HashMap, path::Path};

use barwatch::{
    analysis::Judgement,
    capture::{
        format::{Header, Trailer},
        reader::{Capture, CaptureEnd, CaptureError},
    },
    event::Event,
    rules::{RuleResult, Violation},
    timeline::DeviceTimeline,
};

use crate::{
    action::Action,
    capture_index::{CaptureIndex, Indexed},
    event_store::{EventStore, RecentEvents, Widest},
    judge::Judge,
    memo::Memo,
    message::Message,
    screens::{
        events::{EventsScreen, Lookup},
        list::ListScreen,
        timeline::TimelineScreen,
    },
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

/// Everything the UI shows: the capture's facts, its judgement and each screen's state.
pub struct App {
    source: String,
    header: Header,
    end: CaptureEnd,
    mode: Mode,
    screen: Screen,
    /// Rows the lists have on screen.
    viewport: usize,
    quit: bool,
    /// The timelines and rule verdicts of what was received, from barwatch's model.
    judge: Judge,
    events: EventsScreen,
    devices: ListScreen,
    timeline: TimelineScreen,
    violations: ListScreen,
    file_size: Option<u64>,
    /// Events still arrive from a running recorder.
    live: bool,
    /// Live, the screens hold still while events keep being counted.
    paused: bool,
    /// Events received in all, beyond those the list still holds.
    received: u64,
    /// Live: events counted and wall-clock nanoseconds passed since the rate was
    /// last measured, and that rate.
    rate_window: (u64, u64),
    recent_rate: f64,
    /// Probe name to role, for filtering.
    roles: HashMap<String, String>,
    /// The timeline's marks as last drawn: a replayed file's events are read
    /// back only when the view, the events or the judgement change.
    timeline_marks: Memo<MarksKey, Vec<Vec<(char, u8)>>>,
}

/// What the timeline's marks depend on: the view, its width in columns, the
/// events received and the judgement's generation.
pub type MarksKey = ((u64, u64), usize, u64, u64);

/// Events the live list keeps: older ones leave the list (the counts and the
/// judgement keep what they contributed; the capture file keeps them all).
/// Live events carry their stacks, about a kilobyte each: 50 000 of them held
/// the live UI above 100 MiB under load.
pub const LIVE_EVENTS: usize = 10_000;

impl App {
    /// Builds the state for browsing `capture`, read from the file named `source`.
    pub fn new(source: impl Into<String>, capture: Capture) -> Self {
        let Capture {
            header,
            events,
            end,
        } = capture;
        let mut judge = Judge::new(&header);
        let mut store = RecentEvents::new(events.len().max(LIVE_EVENTS));
        let mut span = None;
        for event in events {
            span = Some(widen(span, event.ts_ns));
            judge.push(event.clone());
            store.push(event);
        }
        App::judged(
            source.into(),
            header,
            end,
            judge,
            EventStore::Recent(store),
            span,
        )
    }

    /// The state over a whole capture whose events were given to `judge` and are
    /// in `store`, from the first to the last of `span`: judged for good.
    fn judged(
        source: String,
        header: Header,
        end: CaptureEnd,
        mut judge: Judge,
        store: EventStore,
        span: Option<(u64, u64)>,
    ) -> Self {
        let trailer = match &end {
            CaptureEnd::Trailer(trailer) => Some(trailer),
            CaptureEnd::Cut { .. } => None,
        };
        judge.finish(trailer);
        App::assemble(source, header, end, judge, store, span)
    }

    /// The state over the events in `store`, from the first to the last of
    /// `span`, with `judge` as it is.
    fn assemble(
        source: String,
        header: Header,
        end: CaptureEnd,
        judge: Judge,
        store: EventStore,
        span: Option<(u64, u64)>,
    ) -> Self {
        let received = store.end();
        let (first_ts_ns, last_ts_ns) = span.unwrap_or((0, 0));
        let mut timeline = TimelineScreen::new(first_ts_ns, last_ts_ns);
        if span.is_some() {
            timeline = timeline.started();
        }
        App {
            source,
            roles: roles(&header),
            header,
            end,
            mode: Mode::List,
            screen: Screen::Events,
            viewport: 1,
            quit: false,
            judge,
            events: EventsScreen::new(store),
            devices: ListScreen::default(),
            timeline,
            violations: ListScreen::default(),
            file_size: None,
            live: false,
            paused: false,
            received,
            rate_window: (0, 0),
            recent_rate: 0.0,
            timeline_marks: Memo::default(),
        }
    }

    /// Builds the state for browsing the capture file at `path`, streaming: one
    /// pass judges it and indexes where its events are, and the event list reads
    /// back from the file the events it shows, so memory does not grow with the
    /// capture.
    pub fn replay(source: impl Into<String>, path: &Path) -> Result<Self, CaptureError> {
        let (Indexed { header, end, index }, (judge, span)) = CaptureIndex::read(
            path,
            |header| (Judge::new(header), None),
            |(judge, span): &mut (Judge, Option<(u64, u64)>), event| {
                *span = Some(widen(*span, event.ts_ns));
                judge.push(event);
            },
        )?;
        let store = EventStore::Indexed(index);
        Ok(App::judged(source.into(), header, end, judge, store, span))
    }

    /// The state for watching a recorder that has written `header` so far.
    pub fn live(source: impl Into<String>, header: Header) -> Self {
        let end = CaptureEnd::Cut {
            complete_lines: 1,
            partial: None,
        };
        let judge = Judge::new(&header);
        let store = EventStore::Recent(RecentEvents::new(LIVE_EVENTS));
        let mut app = App::assemble(source.into(), header, end, judge, store, None);
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

    /// Takes in one message: routes a key to the screen it concerns, and time and
    /// the recorder's events to the screens and the judgement.
    pub fn update(&mut self, message: impl Into<Message>) {
        match message.into() {
            Message::Key(action) => self.key(action),
            Message::Tick(wall_ns) => self.tick(wall_ns),
            Message::Batch(events) => self.batch(events),
            Message::Ended(trailer) => self.ended(trailer),
        }
        let violations = self.violation_count();
        self.violations.clamp(violations);
        self.devices.clamp(self.judgement().devices.len());
    }

    /// Takes in events from the recorder, in arrival order. The list keeps the
    /// most recent [`LIVE_EVENTS`]; the counts and the judgement take in them all.
    fn batch(&mut self, events: Vec<Event>) {
        for event in &events {
            self.timeline.extend(event.ts_ns, !self.paused);
            self.judge.push(event.clone());
        }
        self.received += events.len() as u64;
        self.rate_window.0 += events.len() as u64;
        let lookup = lookup(&self.judge, &self.roles);
        self.events
            .push(&events, &lookup, self.paused, self.viewport);
        self.judge.judge_if_due();
    }

    /// The recorder has ended: with its trailer when it ended cleanly.
    fn ended(&mut self, trailer: Option<Trailer>) {
        self.live = false;
        self.judge.finish(trailer.as_ref());
        if let Some(trailer) = trailer {
            self.end = CaptureEnd::Trailer(trailer);
        }
    }

    /// Wall-clock time passed: the live rate, the judgement and the replay move on.
    fn tick(&mut self, wall_ns: u64) {
        self.rate_window.1 = self.rate_window.1.saturating_add(wall_ns);
        if self.rate_window.1 >= 1_000_000_000 {
            self.recent_rate = self.rate_window.0 as f64 * 1e9 / self.rate_window.1 as f64;
            self.rate_window = (0, 0);
        }
        self.judge.tick(wall_ns);
        if self.timeline.tick(wall_ns) {
            self.select_at_cursor();
        }
    }

    /// Applies one key's action.
    fn key(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit = true,
            Action::ClearFilterOrQuit if self.events.filter().is_empty() => self.quit = true,
            Action::ClearFilterOrQuit
            | Action::ClearFilter
            | Action::OpenFilter
            | Action::FilterChar(_)
            | Action::FilterBackspace
            | Action::ApplyFilter => self.filter_key(action),
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => self.move_selection(action),
            Action::NextScreen => self.screen = self.screen.next(),
            Action::Earlier | Action::Later | Action::ZoomIn | Action::ZoomOut => {
                if self.screen == Screen::Timeline {
                    self.timeline.key(action);
                    self.select_at_cursor();
                }
            }
            Action::NextViolation
            | Action::PreviousViolation
            | Action::NextCycle
            | Action::PreviousCycle => self.jump(action),
            // Live, Space pauses the screens on what they show; counts go on.
            Action::PlayPause if self.live => self.paused = !self.paused,
            Action::PlayPause | Action::Faster | Action::Slower => self.timeline.key(action),
            Action::Open => self.open(),
            Action::Close => self.mode = Mode::List,
            Action::ShowProbes => self.mode = Mode::Probes,
            Action::ToggleHelp => {
                self.mode = match self.mode {
                    Mode::Help => Mode::List,
                    Mode::List | Mode::Filter | Mode::Evidence | Mode::Probes => Mode::Help,
                }
            }
            Action::Resize(rows) => {
                self.viewport = rows.max(1);
                self.events.keep_selection_in_view(self.viewport);
            }
        }
    }

    /// A movement key moves the selection of the screen shown.
    fn move_selection(&mut self, action: Action) {
        match self.screen {
            Screen::Events => self.events.key(action, self.viewport),
            Screen::Devices => {
                let len = self.judgement().devices.len();
                self.devices.key(action, len, self.viewport);
            }
            Screen::Violations => {
                let len = self.violation_count();
                self.violations.key(action, len, self.viewport);
            }
            Screen::Timeline => {}
        }
    }

    /// The filter prompt's keys: open it, type, apply or clear.
    fn filter_key(&mut self, action: Action) {
        match action {
            Action::OpenFilter => {
                self.events.open_prompt();
                self.mode = Mode::Filter;
            }
            Action::FilterChar(c) if self.mode == Mode::Filter => self.events.type_char(c),
            Action::FilterBackspace if self.mode == Mode::Filter => self.events.backspace(),
            Action::ApplyFilter => {
                let lookup = lookup(&self.judge, &self.roles);
                // The prompt stays open with what was typed and why it is wrong.
                if self.events.apply_prompt(&lookup, self.viewport).is_ok() {
                    self.mode = Mode::List;
                }
            }
            Action::ClearFilterOrQuit | Action::ClearFilter => {
                self.mode = Mode::List;
                let lookup = lookup(&self.judge, &self.roles);
                self.events.clear(&lookup, self.viewport);
            }
            _ => {}
        }
    }

    /// `n`/`N` and `]`/`[`: moves the timeline's cursor to the next or previous
    /// violation or cycle, and the event list with it.
    fn jump(&mut self, action: Action) {
        let times: Vec<u64> = match action {
            Action::NextViolation | Action::PreviousViolation => {
                self.violations().iter().map(|(_, v)| v.ts_ns).collect()
            }
            _ => self
                .judgement()
                .devices
                .iter()
                .flat_map(DeviceTimeline::outlines)
                .filter_map(|c| c.span.map(|w| w.start_ns))
                .collect(),
        };
        let forward = matches!(action, Action::NextViolation | Action::NextCycle);
        if self.timeline.jump(&times, forward) {
            self.select_at_cursor();
        }
    }

    /// Enter: a violation's evidence, or a device's events.
    fn open(&mut self) {
        match self.screen {
            Screen::Violations if self.selected_violation().is_some() => {
                self.mode = Mode::Evidence;
            }
            Screen::Devices => {
                let len = self.judgement().devices.len();
                let Some(device) = self
                    .devices
                    .position(len)
                    .and_then(|i| self.judgement().devices.get(i))
                else {
                    return;
                };
                let filter = format!("dev:{}", device.bdf);
                let lookup = lookup(&self.judge, &self.roles);
                if self.events.apply(&filter, &lookup, self.viewport).is_ok() {
                    self.screen = Screen::Events;
                }
            }
            Screen::Events | Screen::Timeline | Screen::Violations => {}
        }
    }

    /// Selects the last event at or before the timeline's cursor, so the timeline
    /// and the event list tell the same moment.
    fn select_at_cursor(&mut self) {
        self.events
            .select_at(self.timeline.cursor_ns(), self.viewport);
    }

    /// The timeline's marks for a view `width` columns wide: the remembered ones
    /// while nothing they depend on changed, else `make`'s.
    pub fn timeline_marks(
        &self,
        width: usize,
        make: impl FnOnce() -> Vec<Vec<(char, u8)>>,
    ) -> Vec<Vec<(char, u8)>> {
        let key = (self.view(), width, self.received, self.judge.generation());
        self.timeline_marks.get_or(key, make)
    }

    /// The timeline's visible span (CLOCK_MONOTONIC ns, start and end).
    pub fn view(&self) -> (u64, u64) {
        self.timeline.view()
    }

    /// The timeline's cursor (CLOCK_MONOTONIC ns).
    pub fn cursor_ns(&self) -> u64 {
        self.timeline.cursor_ns()
    }

    /// Whether the replay is running.
    pub fn playing(&self) -> bool {
        self.timeline.playing()
    }

    /// The replay speed (capture time per wall-clock time).
    pub fn speed(&self) -> u32 {
        self.timeline.speed()
    }

    /// The screen shown.
    pub fn screen(&self) -> Screen {
        self.screen
    }

    /// The capture's timelines and rule verdicts.
    pub fn judgement(&self) -> &Judgement {
        self.judge.judgement()
    }

    /// Every violation with its rule, in report order.
    pub fn violations(&self) -> Vec<(&RuleResult, &Violation)> {
        self.judgement()
            .rules
            .iter()
            .flat_map(|r| r.violations.iter().map(move |v| (r, v)))
            .collect()
    }

    /// How many violations there are.
    pub fn violation_count(&self) -> usize {
        self.judgement()
            .rules
            .iter()
            .map(|r| r.violations.len())
            .sum()
    }

    /// Position of the selected violation, if there is any.
    pub fn violation_position(&self) -> Option<usize> {
        self.violations.position(self.violation_count())
    }

    /// The selected violation with its rule.
    pub fn selected_violation(&self) -> Option<(&RuleResult, &Violation)> {
        let position = self.violation_position()?;
        self.judgement()
            .rules
            .iter()
            .flat_map(|r| r.violations.iter().map(move |v| (r, v)))
            .nth(position)
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

    /// When the capture started (CLOCK_MONOTONIC ns): every screen shows times
    /// relative to it, so an event shows the same time wherever it appears.
    pub fn started_ns(&self) -> u64 {
        self.header.started_monotonic_ns
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
        let (first, last) = self.timeline.span();
        let seconds = (last - first) as f64 / 1e9;
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
        self.events.matching()
    }

    /// The applied filter; empty when every event is shown.
    pub fn filter(&self) -> &str {
        self.events.filter()
    }

    /// The text in the filter prompt while it is open.
    pub fn input(&self) -> &str {
        self.events.input()
    }

    /// Why the filter in the prompt could not be applied, until it is edited.
    pub fn filter_error(&self) -> Option<&str> {
        self.events.filter_error()
    }

    /// Position of the selected device on the devices screen, if there is any.
    pub fn device_position(&self) -> Option<usize> {
        self.devices.position(self.judgement().devices.len())
    }

    /// Position of the selected event among the matching ones, if any match.
    pub fn selected(&self) -> Option<usize> {
        self.events.selected()
    }

    /// Every event the list holds whose time is in `span`, in capture order,
    /// whether it matches or not.
    pub fn events_in(&self, span: (u64, u64)) -> impl Iterator<Item = Event> + '_ {
        self.events.in_span(span)
    }

    /// How wide the event list's columns must be to fit every event.
    pub fn widest(&self) -> &Widest {
        self.events.widest()
    }

    /// The matching events from the top of the screen on, at most `rows` of them,
    /// each with whether it is the selected one.
    pub fn window(&self, rows: usize) -> Vec<(bool, Event)> {
        self.events.window(rows)
    }
}

/// `span` (first and last time) widened to take in `ts_ns`.
fn widen(span: Option<(u64, u64)>, ts_ns: u64) -> (u64, u64) {
    span.map_or((ts_ns, ts_ns), |(first, last)| {
        (first.min(ts_ns), last.max(ts_ns))
    })
}

/// Probe name to role, from the header's probe table.
fn roles(header: &Header) -> HashMap<String, String> {
    header
        .probes
        .iter()
        .map(|p| (p.name.clone(), p.role.to_string()))
        .collect()
}

/// What the filter needs to read an event: the judgement's devices and the roles.
fn lookup<'a>(judge: &'a Judge, roles: &'a HashMap<String, String>) -> Lookup<'a> {
    Lookup {
        judgement: judge.judgement(),
        roles,
    }
}
