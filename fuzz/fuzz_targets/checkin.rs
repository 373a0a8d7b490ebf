#![no_main]
//! Fuzz target `checkin`: see `fuzz_targets::checkin` (crates/fuzz-targets) for what it exercises.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::checkin(data));
