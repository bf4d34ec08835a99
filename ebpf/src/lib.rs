//! The library face of the BPF crate: empty, so the agent can name this crate as a
//! build dependency and be rebuilt when the BPF programs change.
#![no_std]
