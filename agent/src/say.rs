//! Messages to standard error, and how a closed output pipe is recognised.

use std::io::{self, Write};

use barwatch::visible::visible;

/// Writes one line to standard error. Unlike `eprintln!` it does not panic when
/// stderr cannot be written (a full disk under a redirect, a closed pipe): the
/// capture, already finished, matters more than the message.
pub fn say(message: std::fmt::Arguments<'_>) {
    let text = format!("{message}\n");
    let _ = io::stderr().write_all(visible(&text).as_bytes());
}

/// Whether the error is a closed output pipe somewhere in its chain, also
/// inside a JSON encoder's error.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| cause.downcast_ref::<serde_json::Error>()?.io_error_kind());
        kind == Some(io::ErrorKind::BrokenPipe)
    })
}
