//! A value remembered with the key it was made for, so drawing can reuse what an
//! earlier frame worked out until what it depends on changes.

use std::cell::RefCell;

/// The last value made, and the key it was made for.
pub struct Memo<K, V> {
    last: RefCell<Option<(K, V)>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            last: RefCell::new(None),
        }
    }
}

impl<K: PartialEq, V: Clone> Memo<K, V> {
    /// The value for `key`: the remembered one if it was made for `key`, else
    /// `make`'s, remembered.
    pub fn get_or(&self, key: K, make: impl FnOnce() -> V) -> V {
        let mut last = self.last.borrow_mut();
        match &*last {
            Some((made_for, value)) if *made_for == key => value.clone(),
            _ => {
                let value = make();
                *last = Some((key, value.clone()));
                value
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_value_is_made_again_only_for_a_new_key() {
        let memo = Memo::default();
        let made = Cell::new(0);
        let make = |v: u32| {
            made.set(made.get() + 1);
            v
        };
        assert_eq!(memo.get_or(1, || make(10)), 10);
        assert_eq!(memo.get_or(1, || make(99)), 10);
        assert_eq!(memo.get_or(2, || make(20)), 20);
        assert_eq!(made.get(), 2);
    }
}
