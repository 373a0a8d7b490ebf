#![no_main]
//! Fuzz target `policy`: see `fuzz_targets::policy` (crates/fuzz-targets) for what it exercises.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::policy(data));
