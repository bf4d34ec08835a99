//! Everything that can change the [`App`](crate::app::App).
//!
//! Keys become actions through the [`keymap`](crate::keymap); the event loop adds
//! [`Action::Resize`]. Keeping the vocabulary in one enum lets the state be driven
//! (and tested) without a terminal; it reaches the app as a
//! [`Message::Key`](crate::message::Message::Key).

/// One request to change the application state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave the program.
    Quit,
    /// Clear the active filter, or quit when there is none.
    ClearFilterOrQuit,
    /// Select the previous event.
    Up,
    /// Select the next event.
    Down,
    /// Move the selection one screenful up.
    PageUp,
    /// Move the selection one screenful down.
    PageDown,
    /// Select the first event.
    Top,
    /// Select the last event.
    Bottom,
    /// Open the filter prompt, starting from the active filter.
    OpenFilter,
    /// Append a typed character to the filter prompt.
    FilterChar(char),
    /// Delete the last character of the filter prompt.
    FilterBackspace,
    /// Close the prompt and filter the list by what was typed.
    ApplyFilter,
    /// Close the prompt and show every event again.
    ClearFilter,
    /// Show or hide the key help overlay.
    ToggleHelp,
    /// The event list now has room for this many rows.
    Resize(usize),
    /// Show the next screen: events, devices, timeline, violations.
    NextScreen,
    /// Move the timeline's cursor back in time.
    Earlier,
    /// Move the timeline's cursor forward in time.
    Later,
    /// Show half the time span around the cursor.
    ZoomIn,
    /// Show twice the time span, up to the whole capture.
    ZoomOut,
    /// Move the cursor to the next violation.
    NextViolation,
    /// Move the cursor to the previous violation.
    PreviousViolation,
    /// Move the cursor to the next cycle's first step.
    NextCycle,
    /// Move the cursor to the previous cycle's first step.
    PreviousCycle,
    /// Start or stop replaying: the cursor moves with the capture's own clock.
    PlayPause,
    /// Replay twice as fast.
    Faster,
    /// Replay half as fast.
    Slower,
    /// Open what is selected: a violation's evidence, or a device's events.
    Open,
    /// Close the help, the evidence or the probe table and go back to the screen
    /// under it.
    Close,
    /// Show the probe table: how each point attached, or why not.
    ShowProbes,
}
