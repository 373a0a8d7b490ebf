#![no_main]
//! Fuzz target `assess`: see `fuzz_targets::assess` (crates/fuzz-targets) for what it exercises.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::assess(data));
