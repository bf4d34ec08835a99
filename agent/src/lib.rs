//! barwatch: traces Linux PCI drivers while their MMIO BARs are unmapped and moved.
//!
//! The crate is layered like aya-obj under aya: the model (events, decoding, capture
//! files, reports) makes no syscalls and needs no privileges, so captures can be
//! replayed and analysed anywhere. The `live` feature adds the adapter that loads the
//! BPF programs, attaches them and feeds their records into the same model.

pub mod analysis;
pub mod capture;
pub mod decode;
pub mod device;
pub mod event;
pub mod expect;
pub mod intervals;
pub mod ioctl;
pub mod junit;
#[cfg(feature = "live")]
pub mod live;
pub mod name;
pub mod output;
pub mod pipeline;
pub mod probe_table;
pub mod profile;
pub mod report;
pub mod rules;
pub mod skipped;
pub mod spill;
pub mod test_skip;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod time;
pub mod timeline;
pub mod visible;
pub mod write_behind;
