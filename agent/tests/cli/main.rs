//! Tests that drive the real `barwatch` binary: live recording on this machine's
//! kernel, and what works (and fails clearly) without privileges.

mod check;
mod corpus;
mod false_pass;
mod hardening;
mod live_record;
mod unprivileged;
mod util;
