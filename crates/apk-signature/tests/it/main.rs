//! Integration tests: agreement with apksigner on real signed fixtures, and robustness.

// Test-support code (fixture generation, the apksigner oracle) fails loudly by design.
#![allow(clippy::unwrap_used)]

mod agreement;
mod fixtures;
mod hardening;
mod mutate;
mod oracle;
mod robustness;
