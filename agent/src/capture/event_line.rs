//! The fast way through an event line as the writer writes it.
//!
//! A capture is almost all event lines, and serde's derive reads them slowly: a
//! [`Line`](super::format::Line) is tagged by `type` and an event's data by
//! `kind`, with the data flattened into the event, so every line is first
//! buffered whole into serde's generic `Content` and then read a second time.
//! The writer always puts `type` first and the event's own fields, then `kind`,
//! before the data's fields: with that order known, one pass straight from the
//! JSON builds the [`Event`], the data's fields read by the variant's own type.
//!
//! [`parse`] only ever answers for lines the general path reads the same way:
//! anything else (another order, a duplicate or unknown field before `kind`, an
//! escaped key, any error) is `None`, and the reader then parses the line the
//! general way, which gives every accepted line its value and every defect
//! its message, exactly as before.

use serde::{
    Deserialize,
    de::{
        self, DeserializeSeed, Error as _, MapAccess, Visitor,
        value::{BorrowedStrDeserializer, MapAccessDeserializer},
    },
};

use crate::event::{BarRange, DevNum, Event, EventData, Hex, Name};

/// The event on `text`, when it is an event line in the writer's field order
/// that the general path reads without error; `None` otherwise.
pub(crate) fn parse(text: &str) -> Option<Event> {
    let mut json = serde_json::Deserializer::from_str(text);
    let event = de::Deserializer::deserialize_map(&mut json, EventLine).ok()?;
    json.end().ok()?;
    Some(event)
}

/// Keys that belong to the line or the event itself, not to its data: one of
/// them after `kind` is a duplicate or out of the writer's order.
const NOT_DATA: [&str; 9] = [
    "type", "kind", "ts_ns", "cpu", "pid", "tid", "comm", "probe", "device",
];

/// The error that sends a line to the general path; its words are never shown.
fn unusual<E: de::Error>() -> E {
    E::custom("not in the writer's field order")
}

/// Stores a field's value, refusing a second one.
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    match slot.replace(value) {
        Some(_) => Err(unusual()),
        None => Ok(()),
    }
}

/// Reads one event line's object.
struct EventLine;

impl<'de> Visitor<'de> for EventLine {
    type Value = Event;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an event line")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        if map.next_key::<&str>()? != Some("type") || map.next_value::<&str>()? != "event" {
            return Err(unusual());
        }
        let (mut ts_ns, mut cpu, mut pid, mut tid) = (None, None, None, None);
        let (mut comm, mut probe, mut device) = (None, None, None);
        loop {
            match map.next_key::<&str>()?.ok_or_else(unusual)? {
                "ts_ns" => once(&mut ts_ns, map.next_value()?)?,
                "cpu" => once(&mut cpu, map.next_value()?)?,
                "pid" => once(&mut pid, map.next_value()?)?,
                "tid" => once(&mut tid, map.next_value()?)?,
                "comm" => once(&mut comm, map.next_value()?)?,
                "probe" => once(&mut probe, map.next_value()?)?,
                "device" => once(&mut device, map.next_value::<Option<Name>>()?)?,
                "kind" => break,
                _ => return Err(unusual()),
            }
        }
        let kind: &str = map.next_value()?;
        let data = data(kind, MapAccessDeserializer::new(DataFields(map)))?;
        Ok(Event {
            ts_ns: ts_ns.ok_or_else(unusual)?,
            cpu: cpu.ok_or_else(unusual)?,
            pid: pid.ok_or_else(unusual)?,
            tid: tid.ok_or_else(unusual)?,
            comm: comm.ok_or_else(unusual)?,
            probe: probe.ok_or_else(unusual)?,
            device: device.flatten(),
            data,
        })
    }
}

/// The rest of an event line's object after `kind`: the data's fields only.
struct DataFields<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for DataFields<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(key) = self.0.next_key::<&'de str>()? else {
            return Ok(None);
        };
        if NOT_DATA.contains(&key) {
            return Err(unusual());
        }
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

/// The data of `kind`, read from its fields.
fn data<'de, D: de::Deserializer<'de>>(kind: &str, fields: D) -> Result<EventData, D::Error> {
    Ok(match kind {
        "irq_handler_entry" => IrqHandlerEntry::deserialize(fields)?.into(),
        "irq_handler_exit" => IrqHandlerExit::deserialize(fields)?.into(),
        "work_start" => WorkStart::deserialize(fields)?.into(),
        "work_end" => WorkEnd::deserialize(fields)?.into(),
        "ioctl_enter" => IoctlEnter::deserialize(fields)?.into(),
        "ioctl_exit" => IoctlExit::deserialize(fields)?.into(),
        "page_fault" => PageFault::deserialize(fields)?.into(),
        "tracepoint" => Tracepoint::deserialize(fields)?.into(),
        "device_state" => DeviceState::deserialize(fields)?.into(),
        "module_load" => ModuleLoad::deserialize(fields)?.into(),
        "func_entry" => FuncEntry::deserialize(fields)?.into(),
        "func_exit" => FuncExit::deserialize(fields)?.into(),
        _ => return Err(D::Error::custom("an unknown kind")),
    })
}

/// Declares the fields of one [`EventData`] variant as a struct serde reads
/// directly, with the variant's serde attributes, and its conversion.
macro_rules! data_fields {
    ($name:ident => $variant:ident { $($(#[$attr:meta])* $field:ident: $ty:ty,)* }) => {
        /// The fields of one kind of event data, as the line holds them.
        #[derive(Deserialize)]
        struct $name {
            $($(#[$attr])* $field: $ty,)*
        }

        impl From<$name> for EventData {
            fn from(fields: $name) -> Self {
                let $name { $($field,)* } = fields;
                EventData::$variant { $($field,)* }
            }
        }
    };
}

data_fields!(IrqHandlerEntry => IrqHandlerEntry {
    irq: u32,
    #[serde(default)]
    handler: Hex,
    #[serde(default)]
    handler_name: Option<Name>,
    #[serde(default)]
    thread: Option<Name>,
});

data_fields!(IrqHandlerExit => IrqHandlerExit {
    irq: u32,
    #[serde(default)]
    handler: Hex,
    #[serde(default)]
    handler_name: Option<Name>,
    handled: bool,
});

data_fields!(WorkStart => WorkStart {
    work: Hex,
    function: Hex,
    #[serde(default)]
    symbol: Option<Name>,
});

data_fields!(WorkEnd => WorkEnd {
    work: Hex,
    function: Hex,
    #[serde(default)]
    symbol: Option<Name>,
});

data_fields!(IoctlEnter => IoctlEnter {
    fd: u32,
    cmd: Hex,
    cmd_name: Name,
    arg: Hex,
    #[serde(default)]
    dev: Option<DevNum>,
});

data_fields!(IoctlExit => IoctlExit {
    fd: u32,
    cmd: Hex,
    cmd_name: Name,
    ret: i64,
    #[serde(default)]
    dev: Option<DevNum>,
});

data_fields!(PageFault => PageFault {
    address: Hex,
    ip: Hex,
    #[serde(default)]
    function: Option<Name>,
    write: bool,
    #[serde(default)]
    stack: Vec<Name>,
});

data_fields!(Tracepoint => Tracepoint {
    args: Vec<Hex>,
    #[serde(default)]
    base: Option<Hex>,
});

data_fields!(DeviceState => DeviceState {
    present: bool,
    #[serde(default)]
    driver: Option<String>,
    #[serde(default)]
    bars: Vec<BarRange>,
});

data_fields!(ModuleLoad => ModuleLoad {
    module: String,
});

data_fields!(FuncEntry => FuncEntry {
    function: Name,
    #[serde(default)]
    module: Option<Name>,
    ip: Hex,
    args: [Hex; 4],
    #[serde(default)]
    base: Option<Hex>,
    #[serde(default)]
    stack: Vec<Name>,
});

data_fields!(FuncExit => FuncExit {
    function: Name,
    #[serde(default)]
    module: Option<Name>,
    ip: Hex,
    ret: Hex,
    #[serde(default)]
    stack: Vec<Name>,
});

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;
    use crate::capture::format::Line;

    /// The general path's reading of `text`.
    fn general(text: &str) -> Result<Line, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Whether [`one_of_each_kind`] samples `data`'s kind: a new kind fails to
    /// compile here until it is sampled there.
    fn sampled(data: &EventData) -> bool {
        match data {
            EventData::IrqHandlerEntry { .. }
            | EventData::IrqHandlerExit { .. }
            | EventData::WorkStart { .. }
            | EventData::WorkEnd { .. }
            | EventData::IoctlEnter { .. }
            | EventData::IoctlExit { .. }
            | EventData::PageFault { .. }
            | EventData::Tracepoint { .. }
            | EventData::DeviceState { .. }
            | EventData::ModuleLoad { .. }
            | EventData::FuncEntry { .. }
            | EventData::FuncExit { .. } => true,
        }
    }

    /// One event of every kind, with its optional fields set.
    fn one_of_each_kind() -> Vec<Event> {
        let dev = Some(DevNum {
            major: 116,
            minor: 3,
        });
        let stack = vec!["azx_stop_chip".into(), "azx_remove [snd_hda_intel]".into()];
        let data = vec![
            EventData::IrqHandlerEntry {
                irq: 27,
                handler: Hex(0xffff_ffff_c04f_4650),
                handler_name: Some("azx_interrupt".into()),
                thread: Some("irq_thread_fn".into()),
            },
            EventData::IrqHandlerExit {
                irq: 27,
                handler: Hex(0xffff_ffff_c04f_4650),
                handler_name: Some("azx_interrupt".into()),
                handled: true,
            },
            EventData::WorkStart {
                work: Hex(0xffff_8880_0123_4000),
                function: Hex(0xffff_ffff_c0a1_2345),
                symbol: Some("azx_probe_work [snd_hda_intel]".into()),
            },
            EventData::WorkEnd {
                work: Hex(0xffff_8880_0123_4000),
                function: Hex(0xffff_ffff_c0a1_2345),
                symbol: None,
            },
            EventData::IoctlEnter {
                fd: 3,
                cmd: Hex(0x4140),
                cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
                arg: Hex(0),
                dev,
            },
            EventData::IoctlExit {
                fd: 3,
                cmd: Hex(0x4140),
                cmd_name: "SNDRV_PCM_IOCTL_PREPARE".into(),
                ret: -19,
                dev,
            },
            EventData::PageFault {
                address: Hex(0xffff_d266_803d_8000),
                ip: Hex(0xffff_ffff_c044_e120),
                function: Some("fixture_touch".into()),
                write: false,
                stack: stack.clone(),
            },
            EventData::Tracepoint {
                args: vec![Hex(1), Hex(2)],
                base: Some(Hex(0xffff_d266_803d_8000)),
            },
            EventData::DeviceState {
                present: true,
                driver: Some("snd_hda_intel".into()),
                bars: vec![BarRange {
                    index: 0,
                    start: Hex(0x4000_0000),
                    end: Hex(0x4000_3fff),
                }],
            },
            EventData::ModuleLoad {
                module: "snd_hda_intel".into(),
            },
            EventData::FuncEntry {
                function: "azx_stop_chip".into(),
                module: Some("snd_hda_codec".into()),
                ip: Hex(0xffff_ffff_c0a0_0000),
                args: [Hex(1), Hex(2), Hex(3), Hex(4)],
                base: Some(Hex(0xffff_d266_803d_8000)),
                stack: stack.clone(),
            },
            EventData::FuncExit {
                function: "ioremap".into(),
                module: None,
                ip: Hex(0xffff_ffff_c0a0_0000),
                ret: Hex(0xffff_d266_803d_8000),
                stack,
            },
        ];
        assert!(data.iter().all(sampled));
        data.into_iter()
            .enumerate()
            .map(|(i, data)| Event {
                ts_ns: 1_000 + i as u64,
                cpu: 1,
                pid: 192,
                tid: 193,
                comm: "aplay".into(),
                probe: format!("probe:{}", data.kind()).into(),
                device: (i % 2 == 0).then(|| "0000:00:04.0".into()),
                data,
            })
            .collect()
    }

    #[test]
    fn every_kind_as_written_is_read_the_fast_way_and_the_same() {
        let events = one_of_each_kind();
        let kinds: std::collections::BTreeSet<&str> =
            events.iter().map(|e| e.data.kind()).collect();
        assert_eq!(kinds.len(), events.len(), "one sample per kind");
        for event in events {
            let text = serde_json::to_string(&Line::Event(event.clone())).unwrap();
            assert_eq!(parse(&text), Some(event.clone()), "{text}");
            assert_eq!(general(&text).unwrap(), Line::Event(event), "{text}");
        }
    }

    #[test]
    fn every_event_line_of_the_corpus_is_read_the_fast_way_as_the_general_way_reads_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(root.join("tests/corpus"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.push(root.join("../tui/testdata/demo-capture.jsonl"));
        let mut read = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for line in text.lines().filter(|l| l.starts_with(r#"{"type":"event""#)) {
                let Ok(Line::Event(want)) = general(line) else {
                    panic!("{}: not an event line: {line}", file.display());
                };
                assert_eq!(parse(line), Some(want), "{}: {line}", file.display());
                read += 1;
            }
        }
        assert!(read > 10_000, "{read} event lines");
    }

    /// A written line of `kind` with `edit` applied to its text.
    fn edited(kind: &str, edit: impl Fn(&str) -> String) -> String {
        let event = one_of_each_kind()
            .into_iter()
            .find(|e| e.data.kind() == kind)
            .unwrap();
        edit(&serde_json::to_string(&Line::Event(event)).unwrap())
    }

    #[test]
    fn lines_out_of_the_writers_order_or_defective_take_the_general_way() {
        let refused = [
            // Not an event line at all.
            r#"{"type":"trailer","ended_unix_ns":1}"#.to_owned(),
            r#"{"type":"header","format":"barwatch-capture"}"#.to_owned(),
            // `type` not first, `kind` before the event's own fields.
            edited("module_load", |l| {
                l.replacen(r#"{"type":"event","#, "{", 1)
                    .replacen(r#""kind""#, r#""type":"event","kind""#, 1)
            }),
            r#"{"type":"event","kind":"module_load","module":"m","ts_ns":1,"cpu":0,"pid":0,"tid":0,"comm":"c","probe":"p"}"#.to_owned(),
            // An unknown field before `kind`, whose meaning the kind decides.
            edited("module_load", |l| l.replacen(r#""kind""#, r#""extra":1,"kind""#, 1)),
            // Duplicates: of an event field after `kind`, of a data field, of `kind`.
            edited("module_load", |l| l.replacen('}', r#","ts_ns":9}"#, 1)),
            edited("module_load", |l| l.replacen('}', r#","module":"other"}"#, 1)),
            edited("module_load", |l| l.replacen('}', r#","kind":"module_load"}"#, 1)),
            edited("module_load", |l| l.replacen(r#""cpu":1"#, r#""cpu":1,"cpu":2"#, 1)),
            // Escapes in a key; a field missing; a wrong type; an unknown kind.
            edited("module_load", |l| l.replacen(r#""module""#, r#""modul\u0065""#, 1)),
            edited("module_load", |l| l.replacen(r#","module":"snd_hda_intel""#, "", 1)),
            edited("ioctl_exit", |l| l.replacen(r#""ret":-19"#, r#""ret":"-19""#, 1)),
            edited("module_load", |l| l.replace("module_load", "module_unload")),
            // Not one JSON value.
            edited("module_load", |l| format!("{l} {{}}")),
            edited("module_load", |l| l[..l.len() - 1].to_owned()),
        ];
        for line in refused {
            assert_eq!(parse(&line), None, "{line}");
        }
    }

    #[test]
    fn what_the_general_way_ignores_the_fast_way_ignores_alike() {
        let accepted = [
            // An unknown field among the data's, as a newer minor may write.
            edited("func_entry", |l| {
                l.replacen(r#","ip""#, r#","new":{"a":[1,2]},"ip""#, 1)
            }),
            // A field of another kind.
            edited("module_load", |l| {
                l.replacen('}', r#","irq":"not a number"}"#, 1)
            }),
            // Absent and null optional fields; spaces.
            edited("work_start", |l| {
                l.replacen(r#","symbol":"azx_probe_work [snd_hda_intel]""#, "", 1)
            }),
            edited("irq_handler_entry", |l| {
                l.replacen(r#""thread":"irq_thread_fn""#, r#""thread":null"#, 1)
            }),
            edited("irq_handler_exit", |l| {
                l.replacen(r#""device":"0000:00:04.0""#, r#""device":null"#, 1)
            }),
            edited("ioctl_enter", |l| {
                l.replace(r#"",""#, r#"" , ""#).replace(r#"":"#, r#"" : "#)
            }),
            // Escapes in a value.
            edited("module_load", |l| {
                l.replacen("snd_hda_intel", r#"snd_hda\u005fintel\n"#, 1)
            }),
        ];
        for line in accepted {
            let Ok(Line::Event(want)) = general(&line) else {
                panic!("the general way refuses {line}");
            };
            assert_eq!(parse(&line), Some(want), "{line}");
        }
    }

    /// Text a mutation splices into a line: JSON's punctuation, keys of every
    /// part of a line, and values of other types.
    fn splice() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                ",",
                ":",
                "{",
                "}",
                "[",
                "]",
                "\"",
                "\\",
                " ",
                "null",
                "true",
                "1",
                "-1",
                "1.5",
                "\"0x10\"",
                "\"116:3\"",
                "\"kind\":",
                "\"type\":",
                "\"ts_ns\":",
                "\"device\":",
                "\"irq\":",
                "\"function\":",
                "\"args\":",
                "\"stack\":",
                "\"ret\":",
                "\"bars\":",
                "\"func_exit\"",
                "\"event\"",
            ])
            .prop_map(str::to_owned),
            "[ -~]{0,8}",
        ]
    }

    proptest! {
        // Most mutated lines are no longer events; enough cases that a few
        // hundred still are.
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn a_line_the_fast_way_reads_is_read_alike_the_general_way(
            kind in 0usize..12,
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..12, splice()), 1..4),
        ) {
            let event = one_of_each_kind().swap_remove(kind);
            let mut line = serde_json::to_string(&Line::Event(event)).unwrap();
            for (at, cut, text) in edits {
                let start = at.index(line.len() + 1);
                let end = (start + cut).min(line.len());
                if line.is_char_boundary(start) && line.is_char_boundary(end) {
                    line.replace_range(start..end, &text);
                }
            }
            if let Some(event) = parse(&line) {
                prop_assert_eq!(general(&line).ok(), Some(Line::Event(event)), "{}", line);
            }
        }
    }
}
