//! A list that grows for the whole run and whose copies share their elements.
//!
//! A judgement copies the timelines (to apply the newest events to the copy), and
//! two of their lists grow with every cycle: the mapping lives and each device's
//! BAR readings. Copying them element by element made every settle of a long
//! replay cost the whole run so far. A [`History`] keeps its elements in shared
//! chunks: a copy costs one pointer per chunk, and a change to a shared chunk
//! copies that chunk alone.

use std::{fmt, ops::Index, sync::Arc};

use serde::{Serialize, Serializer};

/// Elements per chunk: a change after a copy copies at most this many.
const CHUNK: usize = 256;

/// An append-mostly list whose clones share their elements (see the module).
#[derive(Clone)]
pub struct History<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for History<T> {
    fn default() -> Self {
        History {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Clone> History<T> {
    /// Appends `item`.
    pub fn push(&mut self, item: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => Arc::make_mut(last).push(item),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(item);
                self.chunks.push(Arc::new(chunk));
            }
        }
        self.len += 1;
    }

    /// The element at `index`, to change: its chunk is copied first when a
    /// clone shares it.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        let chunk = self.chunks.get_mut(index / CHUNK)?;
        Arc::make_mut(chunk).get_mut(index % CHUNK)
    }

    /// Every element, to change: each chunk a clone shares is copied.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks
            .iter_mut()
            .flat_map(|chunk| Arc::make_mut(chunk).iter_mut())
    }
}

impl<T> History<T> {
    /// How many elements it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The element at `index`.
    pub fn get(&self, index: usize) -> Option<&T> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)
    }

    /// The first element.
    pub fn first(&self) -> Option<&T> {
        self.get(0)
    }

    /// The last element.
    pub fn last(&self) -> Option<&T> {
        self.len.checked_sub(1).and_then(|last| self.get(last))
    }

    /// Every element, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// The index of the first element `pred` is false for, when it is true
    /// for a prefix (as [`slice::partition_point`]).
    pub fn partition_point(&self, mut pred: impl FnMut(&T) -> bool) -> usize {
        let chunk = self
            .chunks
            .partition_point(|c| c.last().is_some_and(&mut pred));
        match self.chunks.get(chunk) {
            Some(c) => chunk * CHUNK + c.partition_point(&mut pred),
            None => self.len,
        }
    }
}

impl<T> Index<usize> for History<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        self.get(index).expect("index within the history")
    }
}

impl<T: Clone> From<Vec<T>> for History<T> {
    fn from(items: Vec<T>) -> Self {
        items.into_iter().collect()
    }
}

impl<T: Clone> FromIterator<T> for History<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut history = History::default();
        for item in items {
            history.push(item);
        }
        history
    }
}

impl<T: PartialEq> PartialEq for History<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<T: Eq> Eq for History<T> {}

impl<T: fmt::Debug> fmt::Debug for History<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Serialize> Serialize for History<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn it_holds_what_a_vec_holds_through_copies_and_changes(
            pushes in prop::collection::vec(any::<u16>(), 0..1200),
            changes in prop::collection::vec((any::<usize>(), any::<u16>()), 0..20),
            probe in any::<u16>(),
        ) {
            let mut history = History::default();
            let mut vec = Vec::new();
            let mut copies = Vec::new();
            for (i, item) in pushes.iter().enumerate() {
                history.push(*item);
                vec.push(*item);
                if i % 300 == 0 {
                    copies.push((history.clone(), vec.clone()));
                }
            }
            for (at, item) in changes {
                if !vec.is_empty() {
                    let at = at % vec.len();
                    *history.get_mut(at).unwrap() = item;
                    vec[at] = item;
                }
            }
            prop_assert_eq!(history.len(), vec.len());
            prop_assert!(history.iter().eq(vec.iter()));
            prop_assert_eq!(history.first(), vec.first());
            prop_assert_eq!(history.last(), vec.last());
            // The copies made along the way kept what they held.
            for (copy, then) in &copies {
                prop_assert!(copy.iter().eq(then.iter()));
            }
            let mut sorted = vec.clone();
            sorted.sort_unstable();
            let sorted_history: History<u16> = sorted.clone().into();
            prop_assert_eq!(
                sorted_history.partition_point(|x| *x < probe),
                sorted.partition_point(|x| *x < probe)
            );
            prop_assert_eq!(sorted_history.partition_point(|_| true), sorted.len());
            prop_assert_eq!(sorted_history.partition_point(|_| false), 0);
            prop_assert_eq!(
                serde_json::to_string(&history).unwrap(),
                serde_json::to_string(&vec).unwrap()
            );
        }
    }
}
