#![no_main]
//! Fuzz target `zip`: see `fuzz_targets::zip` (crates/fuzz-targets) for what it exercises.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::zip(data));
