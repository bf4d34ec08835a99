//! The devices and violations screens: a list of what the judgement found, and
//! which row of it is selected.

use crate::action::Action;

/// The selected row of a list the judgement fills (devices, or violations).
#[derive(Clone, Copy, Debug, Default)]
pub struct ListScreen {
    selected: usize,
}

impl ListScreen {
    /// Moves the selection for a movement key, on a list of `len` rows with `page`
    /// rows on screen; other keys are not this screen's.
    pub fn key(&mut self, action: Action, len: usize, page: usize) {
        self.selected = match action {
            Action::Bottom => len.saturating_sub(1),
            _ => super::step(self.selected, action, page),
        };
        self.clamp(len);
    }

    /// Keeps the selection on the list, which the latest judgement may have shortened.
    pub fn clamp(&mut self, len: usize) {
        self.selected = self.selected.min(len.saturating_sub(1));
    }

    /// The selected row, when the list has `len` rows.
    pub fn position(&self, len: usize) -> Option<usize> {
        (len > 0).then_some(self.selected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selection_moves_by_rows_and_pages_and_stays_on_the_list() {
        let mut list = ListScreen::default();
        list.key(Action::PageDown, 10, 4);
        assert_eq!(list.position(10), Some(4));
        list.key(Action::Bottom, 10, 4);
        assert_eq!(list.position(10), Some(9));
        list.key(Action::Down, 10, 4);
        assert_eq!(list.position(10), Some(9));
        list.clamp(3);
        assert_eq!(list.position(3), Some(2));
        assert_eq!(list.position(0), None);
    }
}
