//! Names the traced system gives things, shared rather than copied.
//!
//! A capture repeats the same few dozen names millions of times: command names,
//! probe names, function and module names, stack frames, ioctl command names,
//! device addresses. Each event owning its own copy of each would cost an
//! allocation, a copy and a free per name per event, and the free on another
//! thread than the allocation when a replay parses beside its analysis. Even a
//! shared, reference-counted copy costs an atomic count per clone and drop,
//! and the count's cache line moves between the parsing and the judging core
//! on every event.
//!
//! So the names a capture repeats are kept once for the life of the process,
//! and a [`Name`] of one is a plain reference: cloned and dropped for free. An
//! [`Interner`] hands them out. What is kept that way is bounded
//! ([`INTERNED_BYTES`]); past it, and for names made any other way, a name
//! holds a shared copy of its own.

use std::{
    borrow::Borrow,
    cmp::Ordering,
    fmt,
    hash::{Hash, Hasher},
    ops::Deref,
    sync::{Arc, Mutex},
};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// A name from the traced system: text, cheap to clone, compared, hashed and
/// ordered as the text it holds.
#[derive(Clone)]
pub struct Name(Text);

/// Where a name's text lives: behind one thin pointer either way, so that a
/// name (and an optional one) is two words, not three; an event holds a
/// handful and is moved a few times between the line and the analysis.
#[derive(Clone)]
enum Text {
    /// Among the names kept for the life of the process.
    Kept(&'static String),
    /// In a shared copy of its own.
    Shared(Arc<String>),
}

impl Name {
    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Text::Kept(text) => text,
            Text::Shared(text) => text,
        }
    }
}

impl Default for Name {
    fn default() -> Self {
        Name(Text::Shared(Arc::default()))
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// Hashes as its text, so that maps keyed by names can be looked up with a
/// `&str` (see the `Borrow<str>` impl).
impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Lets maps keyed by names be looked up with a `&str`: a name hashes and
/// compares as its text.
impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Self {
        Name(Text::Shared(Arc::new(text.to_owned())))
    }
}

impl From<String> for Name {
    fn from(text: String) -> Self {
        Name(Text::Shared(Arc::new(text)))
    }
}

impl From<Name> for String {
    fn from(name: Name) -> Self {
        name.as_str().to_owned()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shown as the text it holds, as a `String` would be.
impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(NameVisitor)
    }
}

/// Reads a name from a JSON string without an intermediate `String` when the
/// string has no escapes.
struct NameVisitor;

impl serde::de::Visitor<'_> for NameVisitor {
    type Value = Name;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Name, E> {
        Ok(Name::from(text))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Name, E> {
        Ok(Name::from(text))
    }
}

/// How many bytes of text the process keeps for good, at most: some thousand
/// times a capture's vocabulary (a few hundred names of a few dozen bytes), and
/// a bound on what text that never repeats (a fuzzer's, an attacker's command
/// names) can make it keep.
pub const INTERNED_BYTES: usize = 4 << 20;

/// The names kept for the life of the process, and how many bytes they hold.
#[derive(Default)]
struct Kept {
    names: FxHashMap<&'static str, &'static String>,
    bytes: usize,
}

/// Every [`Interner`]'s source of kept names, so that each text is kept once.
static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

/// The name for `text`: the kept one, kept now if there is room for it, else a
/// shared copy.
fn kept_or_shared(text: &str) -> Name {
    let mut kept = KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let kept = kept.get_or_insert_with(Kept::default);
    if let Some(&name) = kept.names.get(text) {
        return Name(Text::Kept(name));
    }
    let cost = text.len() + size_of::<String>();
    if kept.bytes + cost > INTERNED_BYTES {
        return Name::from(text);
    }
    let name: &'static String = Box::leak(Box::new(text.to_owned()));
    kept.names.insert(&**name, name);
    kept.bytes += cost;
    Name(Text::Kept(name))
}

/// How many distinct names an [`Interner`] remembers before it starts afresh:
/// far more than a capture's vocabulary, few enough to stay small.
const REMEMBERED_NAMES: usize = 4096;

/// Hands out one [`Name`] per distinct text, looked up by the text's bytes as
/// they lie in a line, before they are checked to be UTF-8. Each reader has
/// its own, so looking a name up takes no lock.
#[derive(Default)]
pub struct Interner {
    names: FxHashMap<Box<[u8]>, Name>,
}

impl Interner {
    /// The name for `bytes`, or `None` when they are not UTF-8.
    pub fn name(&mut self, bytes: &[u8]) -> Option<Name> {
        if let Some(name) = self.known(bytes) {
            return Some(name);
        }
        let name = kept_or_shared(std::str::from_utf8(bytes).ok()?);
        if self.names.len() == REMEMBERED_NAMES {
            self.names.clear();
        }
        self.names.insert(bytes.into(), name.clone());
        Some(name)
    }

    /// The name for `text`.
    pub fn name_of(&mut self, text: &str) -> Name {
        self.name(text.as_bytes())
            .unwrap_or_else(|| unreachable!("a str is UTF-8"))
    }

    /// The name for `bytes` when this interner has handed it out before.
    pub fn known(&self, bytes: &[u8]) -> Option<Name> {
        self.names.get(bytes).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_gets_the_same_kept_name_in_every_interner() {
        let mut interner = Interner::default();
        let first = interner.name(b"aplay").unwrap();
        let again = Interner::default().name(b"aplay").unwrap();
        let (Text::Kept(first_text), Text::Kept(again_text)) = (&first.0, &again.0) else {
            panic!("a capture's names are kept");
        };
        assert!(std::ptr::eq(*first_text, *again_text));
        assert_eq!(first, "aplay");
        assert!(interner.name(b"\xff").is_none());
    }

    #[test]
    fn an_interner_never_holds_more_than_its_bound() {
        let mut interner = Interner::default();
        for n in 0..REMEMBERED_NAMES * 3 {
            let text = format!("comm-{n}");
            assert_eq!(interner.name(text.as_bytes()).unwrap(), text);
            assert!(interner.names.len() <= REMEMBERED_NAMES);
        }
    }

    #[test]
    fn text_past_the_bound_is_shared_not_kept() {
        let long = "x".repeat(INTERNED_BYTES + 1);
        let name = Interner::default().name(long.as_bytes()).unwrap();
        assert!(matches!(name.0, Text::Shared(_)));
        assert_eq!(name, long);
        let kept = KEPT.lock().unwrap();
        assert!(kept.as_ref().unwrap().bytes <= INTERNED_BYTES);
    }

    #[test]
    fn names_compare_hash_and_order_as_their_text() {
        let kept = Interner::default().name(b"snd_hda_intel").unwrap();
        let shared = Name::from("snd_hda_intel");
        assert_eq!(kept, shared);
        let mut set = std::collections::HashSet::new();
        set.insert(kept);
        assert!(set.contains("snd_hda_intel") && set.contains(&shared));
        let (a, b) = (Name::from("a"), Interner::default().name(b"b").unwrap());
        assert!(a < b);
    }

    #[test]
    fn a_name_and_an_optional_one_are_two_words() {
        assert_eq!(size_of::<Name>(), 2 * size_of::<usize>());
        assert_eq!(size_of::<Option<Name>>(), 2 * size_of::<usize>());
    }

    #[test]
    fn a_name_reads_and_writes_as_a_json_string() {
        let name: Name = serde_json::from_str(r#""snd_hda\"intel""#).unwrap();
        assert_eq!(name, "snd_hda\"intel");
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""snd_hda\"intel""#);
        assert_eq!(format!("{name:?}"), r#""snd_hda\"intel""#);
        assert!(serde_json::from_str::<Name>("3").is_err());
    }
}
