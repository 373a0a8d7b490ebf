#![no_main]
//! Fuzz target `arsc`: see `fuzz_targets::arsc` (crates/fuzz-targets) for what it exercises.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::arsc(data));
