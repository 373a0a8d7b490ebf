#![no_main]
//! Fuzz target `signing`: see `fuzz_targets::signing` (crates/fuzz-targets) for what it exercises.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::signing(data));
