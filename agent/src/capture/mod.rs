//! Capture files: the documented JSON-lines format, its writer and its reader.

#[cfg(test)]
mod arbitrary;
mod event_json;
mod event_line;
mod event_scan;
pub mod format;
pub mod integrity;
mod lines;
pub mod reader;
pub mod writer;
