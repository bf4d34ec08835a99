//! The events screen's state: the events it can show, the filter over them, and
//! the selection and scroll position among the matching ones.

use std::collections::HashMap;

use barwatch::{analysis::Judgement, event::Event};

use crate::{
    action::Action,
    event_store::{EventStore, Widest},
    filter::{EventFilter, FilterError, Searchable},
};

/// What the filter needs beyond the event: the device the judgement says it is
/// about (a driver's work item names none), and its probe's role.
pub struct Lookup<'a> {
    /// The latest judgement.
    pub judgement: &'a Judgement,
    /// Probe name to role.
    pub roles: &'a HashMap<String, String>,
}

impl Lookup<'_> {
    /// What the filter reads of `event`.
    fn searchable(&self, event: &Event) -> Searchable {
        let role = self.roles.get(event.probe.as_str()).map(String::as_str);
        Searchable::of(event, self.judgement.device_of(event), role)
    }
}

/// Which events the filter lets through.
enum Visible {
    /// Every event held (no filter): nothing to keep per event.
    All,
    /// The numbers of the matching events, in capture order.
    Matching(Vec<u64>),
}

/// The event list: its events, filter, selection and scroll position.
pub struct EventsScreen {
    events: EventStore,
    /// The applied filter as typed, and as read.
    filter: String,
    parsed: EventFilter,
    /// The filter prompt's text while it is open.
    input: String,
    /// Why the filter in the prompt could not be applied.
    filter_error: Option<String>,
    visible: Visible,
    /// Index into `visible` of the selected event.
    selected: usize,
    /// Index into `visible` of the topmost row on screen.
    offset: usize,
}

impl EventsScreen {
    /// An event list over `events`, every one shown.
    pub fn new(events: EventStore) -> Self {
        EventsScreen {
            events,
            filter: String::new(),
            parsed: EventFilter::default(),
            input: String::new(),
            filter_error: None,
            visible: Visible::All,
            selected: 0,
            offset: 0,
        }
    }

    /// Takes in newly arrived events; a selection on the last event moves on to
    /// the newest unless `hold` (the screens are paused). Events the store lets go
    /// leave the list, and the selection stays on the same event.
    pub fn push(&mut self, events: &[Event], lookup: &Lookup, hold: bool, viewport: usize) {
        let at_end = self.selected + 1 >= self.len();
        let first = self.events.first();
        for event in events {
            let number = self.events.end();
            if let Visible::Matching(numbers) = &mut self.visible
                && self.parsed.matches(&lookup.searchable(event))
            {
                numbers.push(number);
            }
            self.events.push(event.clone());
        }
        let first_held = self.events.first();
        let gone = match &mut self.visible {
            Visible::All => usize::try_from(first_held - first).unwrap_or(usize::MAX),
            Visible::Matching(numbers) => {
                let gone = numbers.partition_point(|&n| n < first_held);
                numbers.drain(..gone);
                gone
            }
        };
        self.selected = self.selected.saturating_sub(gone);
        self.offset = self.offset.saturating_sub(gone);
        if at_end && !hold {
            self.selected = self.len().saturating_sub(1);
        }
        self.keep_selection_in_view(viewport);
    }

    /// Moves the selection for a movement key; other keys are not this screen's.
    pub fn key(&mut self, action: Action, viewport: usize) {
        self.selected = match action {
            Action::Bottom => self.len().saturating_sub(1),
            _ => super::step(self.selected, action, viewport),
        };
        self.keep_selection_in_view(viewport);
    }

    /// Selects the last matching event at or before `ts_ns`, so the list tells the
    /// moment the timeline's cursor is at.
    pub fn select_at(&mut self, ts_ns: u64, viewport: usize) {
        let upto = self.partition_point(|n| self.events.ts_of(n).is_some_and(|ts| ts <= ts_ns));
        self.selected = upto.saturating_sub(1);
        self.keep_selection_in_view(viewport);
    }

    /// Opens the prompt with the applied filter in it.
    pub fn open_prompt(&mut self) {
        self.input = self.filter.clone();
    }

    /// Types `c` in the prompt.
    pub fn type_char(&mut self, c: char) {
        self.input.push(c);
        self.filter_error = None;
    }

    /// Deletes the prompt's last character.
    pub fn backspace(&mut self) {
        self.input.pop();
        self.filter_error = None;
    }

    /// Applies what the prompt holds, or keeps it open and says why it cannot.
    pub fn apply_prompt(&mut self, lookup: &Lookup, viewport: usize) -> Result<(), FilterError> {
        let input = self.input.clone();
        self.apply(&input, lookup, viewport).inspect_err(|error| {
            self.filter_error = Some(error.to_string());
        })
    }

    /// Shows every event again, with the prompt emptied.
    pub fn clear(&mut self, lookup: &Lookup, viewport: usize) {
        self.input.clear();
        self.filter_error = None;
        self.set_filter(String::new(), EventFilter::default(), lookup, viewport);
    }

    /// Reads `text` as a filter and applies it, or says why it cannot.
    pub fn apply(
        &mut self,
        text: &str,
        lookup: &Lookup,
        viewport: usize,
    ) -> Result<(), FilterError> {
        let parsed = EventFilter::parse(text)?;
        self.set_filter(text.trim().to_owned(), parsed, lookup, viewport);
        Ok(())
    }

    /// Keeps the selection on the matching events and scrolls just enough to show
    /// it in `viewport` rows.
    pub fn keep_selection_in_view(&mut self, viewport: usize) {
        let len = self.len();
        self.selected = self.selected.min(len.saturating_sub(1));
        self.offset = self.offset.min(len.saturating_sub(viewport));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + viewport {
            self.offset = self.selected + 1 - viewport;
        }
    }

    /// The applied filter; empty when every event is shown.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The text in the filter prompt.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why the filter in the prompt could not be applied, until it is edited.
    pub fn filter_error(&self) -> Option<&str> {
        self.filter_error.as_deref()
    }

    /// How many events the filter lets through.
    pub fn matching(&self) -> usize {
        self.len()
    }

    /// Position of the selected event among the matching ones, if any match.
    pub fn selected(&self) -> Option<usize> {
        (self.len() > 0).then_some(self.selected)
    }

    /// How wide the list's columns must be.
    pub fn widest(&self) -> &Widest {
        self.events.widest()
    }

    /// Every event held whose time is in `span`, whether it matches or not.
    pub fn in_span(&self, span: (u64, u64)) -> impl Iterator<Item = Event> + '_ {
        self.events.in_span(span)
    }

    /// The matching events from the top of the screen on, at most `rows` of them,
    /// each with whether it is the selected one.
    pub fn window(&self, rows: usize) -> Vec<(bool, Event)> {
        let end = self.len().min(self.offset.saturating_add(rows));
        let numbers: Vec<u64> = (self.offset..end).map(|i| self.number(i)).collect();
        let events = self.events.read(&numbers);
        (self.offset..)
            .zip(events)
            .map(|(pos, event)| (pos == self.selected, event))
            .collect()
    }

    /// How many events the list shows.
    fn len(&self) -> usize {
        match &self.visible {
            Visible::All => {
                usize::try_from(self.events.end() - self.events.first()).unwrap_or(usize::MAX)
            }
            Visible::Matching(numbers) => numbers.len(),
        }
    }

    /// The number of the event at `position` in the list.
    fn number(&self, position: usize) -> u64 {
        match &self.visible {
            Visible::All => self.events.first() + position as u64,
            Visible::Matching(numbers) => numbers[position],
        }
    }

    /// The first position in the list whose event's number fails `holds`, which
    /// holds for a prefix of the list.
    fn partition_point(&self, holds: impl Fn(u64) -> bool) -> usize {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            if holds(self.number(mid)) {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    /// Replaces the applied filter, keeping the selection on the same event or the
    /// next one that still matches.
    fn set_filter(
        &mut self,
        filter: String,
        parsed: EventFilter,
        lookup: &Lookup,
        viewport: usize,
    ) {
        let anchor = if self.len() > 0 {
            self.number(self.selected)
        } else {
            0
        };
        self.visible = if parsed == EventFilter::default() {
            Visible::All
        } else {
            Visible::Matching(
                self.events
                    .scan()
                    .filter(|(_, e)| parsed.matches(&lookup.searchable(e)))
                    .map(|(n, _)| n)
                    .collect(),
            )
        };
        self.selected = self.partition_point(|n| n < anchor);
        self.filter = filter;
        self.parsed = parsed;
        self.keep_selection_in_view(viewport);
    }
}
