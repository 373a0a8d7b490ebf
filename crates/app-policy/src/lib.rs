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

pub use check::{check, has_errors, Diagnostic, Severity, LONG_EXCEPTION_DAYS};
pub use date::Date;
pub use diff::{diff, diff_text, PolicyDiff, Weakening, WeakeningKind};
pub use eval::{CompileError, CompiledPolicy, DeviceReport, Finding, Report, Status};
pub use export::{export, AssessedApp, Export, ExportOptions, Target};
pub use inventory::{
    import_amapi, import_apple, import_osquery, parse_inventory, ActionResult, App, Device,
    DeviceInventory, ImportOptions, Imported, InventoryError, MAX_RESULT_TEXT,
};
pub use model::{
    Action, DomainList, Exception, Loc, Mode, Ownership, Platform, Policy, Remedy, Rule, Scope,
    Vendor, EXCEPTION_BASES,
};
pub use parse::{parse_policy, parse_vendors, ParseError};
pub use partner::{list_to_policy, parse_list, ListEntry, ListFormat};

/// Adds vendors from a separate catalog to a policy; a name defined twice is kept twice so
/// that [`check`] reports it.
pub fn merge_vendors(policy: &mut Policy, vendors: Vec<Vendor>) {
    policy.vendors.extend(vendors);
}

/// `s` as an identifier part: ASCII letters and digits lowercased, every other character `-`,
/// without leading or trailing `-`; `fallback` when that leaves nothing.
pub(crate) fn slug(s: &str, fallback: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-');
    if s.is_empty() {
        fallback.to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slug_lowercases_and_dashes() {
        assert_eq!(slug("Gov Phones (EU)", "policy"), "gov-phones--eu");
        assert_eq!(slug("-x-Y_1-", "policy"), "x-y-1");
        assert_eq!(slug("été", "partner"), "t");
        assert_eq!(slug("(!)", "partner"), "partner");
        assert_eq!(slug("", "policy"), "policy");
    }
}
