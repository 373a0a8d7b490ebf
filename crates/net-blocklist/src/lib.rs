//! The network side of a ban: domain-name normalisation, the never-block list of shared
//! infrastructure, and exports for DNS resolvers (RPZ, Unbound, dnsmasq, hosts), proxies
//! (Squid), IDS (Suricata), firewalls (EDL) and partners (STIX 2.1).
//!
//! Pure: no I/O, no clock (the caller passes the generation time), no SQL, no HTTP.

pub mod export;
pub mod list;
pub mod name;
pub mod never;
pub mod policy;

pub use export::{render, Format, Meta};
pub use list::{Blocklist, Candidate, CandidateError, Covered, Entry, Removed};
pub use name::{normalize, NameError};
pub use never::{NeverBlock, NeverEntry, Protect};

/// Lowercase hex.
pub(crate) fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(H[usize::from(x >> 4)]));
        s.push(char::from(H[usize::from(x & 15)]));
    }
    s
}
