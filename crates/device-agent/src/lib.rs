//! The interdict device agent: inventory from the machine's package managers (dpkg, rpm,
//! flatpak, snap), from Android devices over ADB, or from an inventory file; check-ins to an
//! `interdict serve` over HTTPS (verified with rustls) or plain HTTP; removal of what the
//! server's policy prohibits.
//!
//! A client only: it speaks HTTP to the server and knows nothing of its storage. Check-ins
//! and action results go through an on-disk queue ([`queue`]) so they survive restarts and
//! server outages; the device identity lives in a state file only its owner can read
//! ([`state`]).
//!
//! - [`source`]: inventory sources, with pure parsers in [`source::parse`];
//! - [`client`]: enrollment, check-ins, TLS trust (`--ca-cert`), error classes, backoff;
//! - [`enforce`]: from an action to the exact removal command, and its result;
//! - [`agent`]: the run loop.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod agent;
pub mod client;
pub mod enforce;
pub mod queue;
pub mod source;
pub mod state;

pub use agent::{parse_interval, run, AgentError, Config, CycleReport, Event, Outcome};
pub use enforce::Mode;
pub use source::{default_sources, Source};
