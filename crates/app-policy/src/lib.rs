//! Prohibited-apps policy as code: model, TOML parser, checks, evaluation, diff and exports.
//!
//! Pure: no I/O. Every function takes text (plus a file name for messages) or parsed values,
//! and evaluation takes the date as a parameter, so results are a deterministic function of
//! policy, inventory and time.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod check;
pub mod date;
pub mod diff;
pub mod eval;
pub mod export;
pub mod inventory;
pub mod model;
pub mod parse;
pub mod partner;

pub use check::{check, has_errors, Diagnostic, Severity};
pub use date::Date;
pub use diff::{diff, diff_text, PolicyDiff};
pub use eval::{CompileError, CompiledPolicy, DeviceReport, Finding, Report, Status};
pub use export::{export, Export, ExportOptions, Target};
pub use inventory::{
    import_amapi, import_apple, import_osquery, parse_inventory, App, Device, DeviceInventory,
    ImportOptions, Imported, InventoryError,
};
pub use model::{
    Action, Exception, Loc, Mode, Ownership, Platform, Policy, Remedy, Rule, Scope, Vendor,
};
pub use parse::{parse_policy, parse_vendors, ParseError};
pub use partner::{list_to_policy, parse_list, ListEntry, ListFormat};

/// Adds vendors from a separate catalog to a policy; a name defined twice is kept twice so
/// that [`check`] reports it.
pub fn merge_vendors(policy: &mut Policy, vendors: Vec<Vendor>) {
    policy.vendors.extend(vendors);
}
