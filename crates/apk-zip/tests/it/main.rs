//! Integration tests for apk-zip.

mod fuzz;
mod hostile;
mod limits;
mod real;
mod util;

#[global_allocator]
static ALLOC: util::Tracking = util::Tracking;
