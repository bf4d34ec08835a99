//! Events of every kind with every value a field can hold, for the property
//! tests of the capture's writer and readers: numbers at their edges, text with
//! what JSON must escape, optional fields present and absent.

use proptest::prelude::*;

use crate::event::{BarRange, DevNum, Event, EventData, Hex, Name};

/// Numbers from the edges of their range and from anywhere in it.
fn number<T: Arbitrary + From<u8>>() -> impl Strategy<Value = T> {
    prop_oneof![(0u8..3).prop_map(T::from), any::<T>()]
}

/// Text from captures, text with what JSON must escape, and any text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_:/ 0-9.\\[\\]]{0,16}",
        "[\"\\\\\\x00-\\x1f\\x7fa\u{e9}\u{1f600}]{0,6}",
        any::<String>(),
    ]
}

/// A name made of any [`text`].
fn label() -> impl Strategy<Value = Name> {
    text().prop_map(Name::from)
}

/// Addresses, small and any.
fn hex() -> impl Strategy<Value = Hex> {
    prop_oneof![0u64..20, any::<u64>()].prop_map(Hex)
}

/// Kernel stacks of a few frames, or none.
fn stack() -> impl Strategy<Value = Vec<Name>> {
    prop::collection::vec(label(), 0..3)
}

/// The data of every kind of event.
fn data() -> impl Strategy<Value = EventData> {
    let name = || prop::option::of(label());
    let dev = || {
        prop::option::of((number::<u32>(), number::<u32>()))
            .prop_map(|dev| dev.map(|(major, minor)| DevNum { major, minor }))
    };
    let bar =
        (any::<u8>(), hex(), hex()).prop_map(|(index, start, end)| BarRange { index, start, end });
    prop_oneof![
        (number(), hex(), name(), name()).prop_map(|(irq, handler, handler_name, thread)| {
            EventData::IrqHandlerEntry {
                irq,
                handler,
                handler_name,
                thread,
            }
        }),
        (number(), hex(), name(), any::<bool>()).prop_map(
            |(irq, handler, handler_name, handled)| EventData::IrqHandlerExit {
                irq,
                handler,
                handler_name,
                handled,
            }
        ),
        (hex(), hex(), name()).prop_map(|(work, function, symbol)| EventData::WorkStart {
            work,
            function,
            symbol,
        }),
        (hex(), hex(), name()).prop_map(|(work, function, symbol)| EventData::WorkEnd {
            work,
            function,
            symbol,
        }),
        (number(), hex(), label(), hex(), dev()).prop_map(|(fd, cmd, cmd_name, arg, dev)| {
            EventData::IoctlEnter {
                fd,
                cmd,
                cmd_name,
                arg,
                dev,
            }
        }),
        (
            number(),
            hex(),
            label(),
            prop_oneof![-40i64..3, any::<i64>()],
            dev()
        )
            .prop_map(|(fd, cmd, cmd_name, ret, dev)| EventData::IoctlExit {
                fd,
                cmd,
                cmd_name,
                ret,
                dev,
            }),
        (hex(), hex(), name(), any::<bool>(), stack()).prop_map(
            |(address, ip, function, write, stack)| EventData::PageFault {
                address,
                ip,
                function,
                write,
                stack,
            }
        ),
        (prop::collection::vec(hex(), 0..7), prop::option::of(hex()))
            .prop_map(|(args, base)| EventData::Tracepoint { args, base }),
        (
            any::<bool>(),
            prop::option::of(text()),
            prop::collection::vec(bar, 0..3)
        )
            .prop_map(|(present, driver, bars)| EventData::DeviceState {
                present,
                driver,
                bars,
            }),
        text().prop_map(|module| EventData::ModuleLoad { module }),
        (
            label(),
            name(),
            hex(),
            [hex(), hex(), hex(), hex()],
            prop::option::of(hex()),
            stack()
        )
            .prop_map(|(function, module, ip, args, base, stack)| {
                EventData::FuncEntry {
                    function,
                    module,
                    ip,
                    args,
                    base,
                    stack,
                }
            }),
        (label(), name(), hex(), hex(), stack()).prop_map(|(function, module, ip, ret, stack)| {
            EventData::FuncExit {
                function,
                module,
                ip,
                ret,
                stack,
            }
        }),
    ]
}

/// An event of any kind, with or without a device.
pub(crate) fn event() -> impl Strategy<Value = Event> {
    (
        number(),
        number(),
        number(),
        number(),
        label(),
        label(),
        prop::option::of(label()),
        data(),
    )
        .prop_map(|(ts_ns, cpu, pid, tid, comm, probe, device, data)| Event {
            ts_ns,
            cpu,
            pid,
            tid,
            comm,
            probe,
            device,
            data,
        })
}
