//! device-agent parsers on recorded outputs and this machine's real dpkg status file,
//! "never panics" properties, and the source specs.

mod hostile;
mod parsers;
