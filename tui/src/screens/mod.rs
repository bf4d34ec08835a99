//! The screens Tab cycles through, each a component that owns its state and
//! handles its own keys; the [`App`](crate::app::App) routes messages to them and
//! carries what one screen asks of another (the timeline's cursor selects the
//! event at that moment, Enter on a device filters the events by it). Their
//! drawing is in [`crate::ui`], which reads them through the app.

pub mod events;
pub mod list;
pub mod timeline;

use crate::action::Action;

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
