//! The event filter, typed after `/`: words and `field:value` terms, every one of
//! which must match, as in trace-cmd's and Perfetto's filters. `dev:05.0` keeps a
//! device's events (its work items included), `role:irq` a probe role,
//! `pid:1234` one process or thread, `comm:aplay` a command, `probe:iounmap` a
//! probe, `cpu:1` one CPU; a plain word is looked for in all of that and the
//! event's text, and `"..."` keeps a phrase with spaces whole. `-` before a term
//! drops what it matches: `dev:05.0 -role:work` (`-19` is a word).
//!
//! Matching is case-insensitive. A word with a colon that names no field
//! (`kprobe:iounmap`, `0000:00:05.0`) is a plain word.

use barwatch::event::Event;

/// What a filter term looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Device,
    Role,
    Pid,
    Comm,
    Probe,
    Cpu,
    Text,
}

impl Field {
    /// The field a `name:` prefix names, if any.
    fn named(name: &str) -> Option<Field> {
        Some(match name {
            "dev" | "device" => Field::Device,
            "role" => Field::Role,
            "pid" | "tid" => Field::Pid,
            "comm" => Field::Comm,
            "probe" => Field::Probe,
            "cpu" => Field::Cpu,
            _ => return None,
        })
    }
}

/// One term: a field, what to look for in it, and whether it excludes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    field: Field,
    /// Lowercased text, or the number for `pid:` and `cpu:`.
    needle: Needle,
    exclude: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Needle {
    Text(String),
    Number(u32),
}

/// A parsed filter; the empty filter lets every event through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    terms: Vec<Term>,
}

/// Why a filter could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// `pid:` or `cpu:` with something other than a number.
    #[error("{field}: needs a number, e.g. {field}:1234")]
    NotANumber {
        /// The field's name as typed.
        field: String,
    },
}

/// What a filter reads of one event, lowercased once when the event arrives.
#[derive(Clone, Debug)]
pub struct Searchable {
    pid: u32,
    tid: u32,
    cpu: u32,
    comm: String,
    device: String,
    probe: String,
    role: String,
    /// All of the above and the event's kind and text, for plain words.
    text: String,
}

impl Searchable {
    /// The searchable fields of `event`, whose probe has `role` and which is
    /// about `device` (the one it names, or the device whose driver runs it).
    pub fn of(event: &Event, device: Option<&str>, role: Option<&str>) -> Self {
        let device = device.unwrap_or_default().to_lowercase();
        let role = role.unwrap_or_default().to_lowercase();
        let comm = event.comm.to_lowercase();
        let probe = event.probe.to_lowercase();
        let text = format!(
            "{}\n{}\n{comm}\n{device}\n{probe}\n{role}\n{}\n{}",
            event.pid,
            event.tid,
            event.data.kind(),
            event.data
        )
        .to_lowercase();
        Searchable {
            pid: event.pid,
            tid: event.tid,
            cpu: event.cpu,
            comm,
            device,
            probe,
            role,
            text,
        }
    }
}

impl EventFilter {
    /// Reads a filter as typed.
    pub fn parse(query: &str) -> Result<Self, FilterError> {
        let mut terms = Vec::new();
        for word in words(query) {
            let word = word.as_str();
            let (exclude, word) = match word.strip_prefix('-') {
                Some(rest) if rest.starts_with(char::is_alphabetic) => (true, rest),
                _ => (false, word),
            };

            let named = word
                .split_once(':')
                .and_then(|(name, value)| Some((Field::named(&name.to_lowercase())?, name, value)))
                .filter(|(_, _, value)| !value.is_empty());
            let term = match named {
                Some((field @ (Field::Pid | Field::Cpu), name, value)) => Term {
                    field,
                    needle: Needle::Number(value.parse().map_err(|_| FilterError::NotANumber {
                        field: name.to_owned(),
                    })?),
                    exclude,
                },
                Some((field, _, value)) => Term {
                    field,
                    needle: Needle::Text(value.to_lowercase()),
                    exclude,
                },
                None => Term {
                    field: Field::Text,
                    needle: Needle::Text(word.to_lowercase()),
                    exclude,
                },
            };
            terms.push(term);
        }
        Ok(EventFilter { terms })
    }

    /// Whether the event with these fields passes every term.
    pub fn matches(&self, event: &Searchable) -> bool {
        self.terms
            .iter()
            .all(|term| term.matches(event) != term.exclude)
    }
}

/// The words of `query`: split at spaces, except inside double quotes, which
/// keep a phrase (`"= -19"`) whole and are dropped.
fn words(query: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

impl Term {
    fn matches(&self, event: &Searchable) -> bool {
        match (&self.needle, self.field) {
            (Needle::Number(n), Field::Pid) => event.pid == *n || event.tid == *n,
            (Needle::Number(n), _) => event.cpu == *n,
            (Needle::Text(t), Field::Device) => event.device.contains(t.as_str()),
            (Needle::Text(t), Field::Role) => event.role.contains(t.as_str()),
            (Needle::Text(t), Field::Comm) => event.comm.contains(t.as_str()),
            (Needle::Text(t), Field::Probe) => event.probe.contains(t.as_str()),
            (Needle::Text(t), _) => event.text.contains(t.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use barwatch::event::{EventData, Hex};

    use super::*;

    fn ioctl_by_aplay() -> Searchable {
        let event = Event {
            ts_ns: 1,
            cpu: 1,
            pid: 300,
            tid: 301,
            comm: "aplay".into(),
            probe: "syscalls:sys_enter_ioctl".into(),
            device: Some("0000:00:04.0".into()),
            data: EventData::IoctlEnter {
                fd: 4,
                cmd: Hex(0x4142),
                cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
                arg: Hex(0),
                dev: None,
            },
        };
        Searchable::of(&event, event.device.as_deref(), Some("alsa-ioctl"))
    }

    fn passes(query: &str) -> bool {
        EventFilter::parse(query)
            .unwrap()
            .matches(&ioctl_by_aplay())
    }

    #[test]
    fn every_term_must_match_and_a_minus_excludes() {
        assert!(passes(""));
        assert!(passes("dev:04.0 comm:APLAY role:ioctl"));
        assert!(!passes("dev:05.0 comm:aplay"));
        assert!(!passes("-comm:aplay"));
        assert!(passes("-role:irq prepare"));
    }

    #[test]
    fn pid_matches_the_process_or_the_thread_and_cpu_is_exact() {
        assert!(passes("pid:300"));
        assert!(passes("pid:301"));
        assert!(!passes("pid:30"));
        assert!(passes("cpu:1"));
        assert!(!passes("cpu:0"));
    }

    #[test]
    fn a_colon_that_names_no_field_is_part_of_a_plain_word() {
        assert!(passes("syscalls:sys_enter_ioctl"));
        assert!(passes("0000:00:04.0"));
        assert!(passes("probe:sys_enter"));
        assert!(!passes("probe:kprobe:iounmap"));
    }

    #[test]
    fn quotes_keep_a_phrase_and_a_minus_before_a_digit_is_part_of_the_word() {
        assert!(passes("\"ioctl_prepare\""));
        assert!(!passes("\"prepare aplay\""));
        assert_eq!(
            EventFilter::parse("-19").unwrap(),
            EventFilter::parse("\"-19\"").unwrap()
        );
        assert!(!passes("-19"));
    }

    #[test]
    fn a_number_field_with_a_word_says_what_it_takes() {
        let error = EventFilter::parse("pid:aplay").unwrap_err();
        assert_eq!(error.to_string(), "pid: needs a number, e.g. pid:1234");
    }
}
