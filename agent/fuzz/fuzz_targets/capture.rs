//! libFuzzer entry point of the `capture` target; see `barwatch_fuzz::targets::capture`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| barwatch_fuzz::targets::capture(data));
