//! What a timeline step did, in the words reports show: kept as its parts and
//! written out only when shown. The timelines take in every marker, mapping call
//! and sysfs state as it comes and copy steps between cycles; reports show few of
//! them, so writing each label out as it is made cost more than the step itself.

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};

use crate::event::{EventData, Hex, Name};

/// A step's label, e.g. `azx_stop_chip` or `iounmap(0xffffc90000300000)`. Cheap to
/// copy; shown (and serialized) as the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepLabel(Parts);

/// The parts of a label.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Parts {
    /// A function's entry: its name.
    Call(Name),
    /// An unmap function's entry with the address it unmaps: `iounmap(0x…)`.
    Unmap(Name, Hex),
    /// A function's return: `name returned`.
    Returned(Name),
    /// A map call's return with the virtual address it mapped: `ioremap -> 0x…`.
    Mapped(Hex),
    /// Any other event, in its own words (a sysfs state).
    Event(Arc<EventData>),
    /// A label read back as the text it was written as (a settled cycle's).
    Text(Name),
}

impl StepLabel {
    /// The label of a step made by an event with `data`: the function (with the
    /// address an unmap unmaps), or the event in words.
    pub fn of(data: &EventData, unmaps: bool) -> Self {
        StepLabel(match data {
            EventData::FuncEntry { function, args, .. } if unmaps => {
                Parts::Unmap(function.clone(), args[0])
            }
            EventData::FuncEntry { function, .. } => Parts::Call(function.clone()),
            EventData::FuncExit { function, .. } => Parts::Returned(function.clone()),
            other => Parts::Event(Arc::new(other.clone())),
        })
    }

    /// The label of a map call's return that mapped `virt`.
    pub fn mapped(virt: u64) -> Self {
        StepLabel(Parts::Mapped(Hex(virt)))
    }
}

impl fmt::Display for StepLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Parts::Call(function) => f.write_str(function),
            Parts::Unmap(function, addr) => write!(f, "{function}({addr})"),
            Parts::Returned(function) => write!(f, "{function} returned"),
            Parts::Mapped(virt) => write!(f, "ioremap -> {virt}"),
            Parts::Event(data) => data.fmt(f),
            Parts::Text(text) => f.write_str(text),
        }
    }
}

impl Serialize for StepLabel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads a label back as its text: what it shows and serializes as.
impl<'de> Deserialize<'de> for StepLabel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Not kept among the names: labels hold addresses, and a long report's
        // would fill that set with text read once.
        String::deserialize(d).map(|text| StepLabel(Parts::Text(Name::from(text))))
    }
}

/// Compares the text, so tests can say what a step shows.
impl PartialEq<&str> for StepLabel {
    fn eq(&self, other: &&str) -> bool {
        let mut rest = Unwritten(other);
        fmt::write(&mut rest, format_args!("{self}")).is_ok() && rest.0.is_empty()
    }
}

/// The part of a text not yet matched by what is written: writing fails at the
/// first difference.
struct Unwritten<'a>(&'a str);

impl fmt::Write for Unwritten<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 = self.0.strip_prefix(s).ok_or(fmt::Error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::BarRange;

    #[test]
    fn a_label_shows_what_the_event_did_in_the_words_of_a_report() {
        let entry = |function: &str| EventData::FuncEntry {
            function: function.into(),
            module: None,
            ip: Hex(0),
            args: [Hex(0xffff_c900_0030_0000), Hex(0), Hex(0), Hex(0)],
            base: None,
            stack: Vec::new(),
        };
        assert_eq!(
            StepLabel::of(&entry("iounmap"), true),
            "iounmap(0xffffc90000300000)"
        );
        assert_eq!(
            StepLabel::of(&entry("azx_stop_chip"), false),
            "azx_stop_chip"
        );
        let exit = EventData::FuncExit {
            function: "snd_card_disconnect".into(),
            module: None,
            ip: Hex(0),
            ret: Hex(0),
            stack: Vec::new(),
        };
        assert_eq!(StepLabel::of(&exit, false), "snd_card_disconnect returned");
        assert_eq!(
            StepLabel::mapped(0xffff_c900_0050_0000),
            "ioremap -> 0xffffc90000500000"
        );
        let state = EventData::DeviceState {
            present: true,
            driver: Some("snd_hda_intel".into()),
            bars: vec![BarRange {
                index: 0,
                start: Hex(0x4000_0000),
                end: Hex(0x4000_3fff),
            }],
        };
        assert_eq!(StepLabel::of(&state, false).to_string(), state.to_string());
        assert_eq!(
            serde_json::to_value(StepLabel::of(&exit, false)).unwrap(),
            "snd_card_disconnect returned"
        );
    }
}
