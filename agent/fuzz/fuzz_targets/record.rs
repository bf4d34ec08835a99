//! libFuzzer entry point of the `record` target; see `barwatch_fuzz::targets::record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| barwatch_fuzz::targets::record(data));
