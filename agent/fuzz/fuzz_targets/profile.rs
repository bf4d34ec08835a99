//! libFuzzer entry point of the `profile` target; see `barwatch_fuzz::targets::profile`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| barwatch_fuzz::targets::profile(data));
