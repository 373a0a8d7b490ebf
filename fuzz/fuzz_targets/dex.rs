#![no_main]
//! Fuzz target `dex`: see `fuzz_targets::dex` (crates/fuzz-targets) for what it exercises.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::dex(data));
