//! Android binary XML (AXML, e.g. `AndroidManifest.xml`) and `resources.arsc`
//! (resource table) parsing with Android's semantics.
//!
//! Pure and total: `&[u8]` in, typed result out; no I/O; never panics on any
//! input. Irregularities that Android tolerates (or that hostile packers use
//! to break other tools) are recorded as [`Anomaly`] values with a stable code
//! and byte offset; only inputs unusable as a whole yield errors.
//!
//! Attribute names in binary XML are resolved by resource id through the
//! resource map, as Android does, so packers that blank or falsify attribute
//! name strings do not hide `android:debuggable` and friends.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod anomaly;
mod arsc;
mod axml;
mod framework_attrs;
mod reader;
mod string_pool;
mod value;

pub use anomaly::{Anomaly, MAX_ANOMALIES};
pub use arsc::{
    ArscError, ComplexEntry, Config, ResolvedValue, ResourceTable, MAX_REFERENCE_DEPTH,
};
pub use axml::{
    framework_attr_name, Attribute, AxmlError, Element, Namespace, XmlDocument, ANDROID_NS,
};
pub use value::*;

/// Parses Android binary XML; same as [`XmlDocument::parse`].
pub fn parse_xml(data: &[u8]) -> Result<XmlDocument, AxmlError> {
    XmlDocument::parse(data)
}
