#![no_main]
//! Fuzz target `binxml`: see `fuzz_targets::binxml` (crates/fuzz-targets) for what it exercises.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::binxml(data));
