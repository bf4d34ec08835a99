//! libFuzzer entry point of the `expectations` target; see `barwatch_fuzz::targets::expectations`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| barwatch_fuzz::targets::expectations(data));
