//! Integration tests for android-binxml.

mod arsc_handmade;
mod hostile;
mod real;
mod util;
