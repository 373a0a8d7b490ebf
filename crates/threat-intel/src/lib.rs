//! Threat intelligence as evidence: STIX 2.1 bundles and MISP events parsed into
//! indicators, the bounded STIX pattern subset interdict evaluates, and matching of an
//! app's endpoints and digests against many indicators.
//!
//! Pure: bytes in, typed results out; no I/O, no clock (callers pass the time), no SQL,
//! no HTTP. A feed's indicators are evidence about infrastructure; they are never a ban
//! list (that is `net-blocklist`, from the policy).

pub mod indicator;
pub mod matcher;
pub mod pattern;
pub mod report;
pub mod time;
pub mod value;

pub use indicator::{
    import_json, import_misp, import_stix, Import, ImportError, ImportReport, Indicator, Limits,
};
pub use matcher::{IntelSet, Match, Observable};
pub use pattern::{parse as parse_pattern, Object, Pattern, PatternError};
