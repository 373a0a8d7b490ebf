//! The policy model: what a parsed policy file means.

use crate::date::Date;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A position in a source file (1-based line and column, in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Loc {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Loc {
    /// Converts a byte offset in `src` to a line and column.
    pub fn from_offset(src: &str, offset: usize) -> Loc {
        let mut off = offset.min(src.len());
        while !src.is_char_boundary(off) {
            off = off.saturating_sub(1);
        }
        let before = src.get(..off).unwrap_or("");
        let line = before.bytes().filter(|&b| b == b'\n').count();
        let line_start = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
        let column = before.get(line_start..).map_or(0, |s| s.chars().count());
        Loc {
            line: u32::try_from(line).unwrap_or(u32::MAX).saturating_add(1),
            column: u32::try_from(column).unwrap_or(u32::MAX).saturating_add(1),
        }
    }
}

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    #[serde(skip)]
    pub loc: Loc,
}

impl<T> Located<T> {
    /// Wraps a value with a location.
    pub fn new(value: T, loc: Loc) -> Self {
        Located { value, loc }
    }
}

/// Whether unlisted apps are allowed (denylist) or prohibited (allowlist).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only apps matched by a `prohibit` rule are prohibited.
    Denylist,
    /// Every app not matched by an `allow` (or `review`) rule is prohibited.
    Allowlist,
}

/// What a rule decides for the apps it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The app must not be on in-scope devices.
    Prohibit,
    /// The app is explicitly allowed.
    Allow,
    /// The app is flagged for human review; it does not affect compliance.
    Review,
}

/// A device platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Android (package names).
    Android,
    /// iOS and iPadOS (bundle ids).
    #[serde(alias = "ipados")]
    Ios,
    /// macOS (bundle ids).
    #[serde(alias = "darwin")]
    Macos,
    /// Windows (program names).
    Windows,
    /// Linux (package names).
    Linux,
}

impl Platform {
    /// All platforms, in a fixed order.
    pub const ALL: [Platform; 5] = [
        Platform::Android,
        Platform::Ios,
        Platform::Macos,
        Platform::Windows,
        Platform::Linux,
    ];

    /// Parses a platform name (`ipados` is an alias of `ios`, `darwin` of `macos`).
    pub fn parse(s: &str) -> Option<Platform> {
        Some(match s.to_ascii_lowercase().as_str() {
            "android" => Platform::Android,
            "ios" | "ipados" => Platform::Ios,
            "macos" | "darwin" => Platform::Macos,
            "windows" => Platform::Windows,
            "linux" => Platform::Linux,
            _ => return None,
        })
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Macos => "macos",
            Platform::Windows => "windows",
            Platform::Linux => "linux",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who owns a device.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Ownership {
    /// Organization-owned ("government-issued").
    Corporate,
    /// Personally owned (BYOD).
    Personal,
    /// Not reported by the inventory source.
    #[default]
    Unknown,
}

impl Ownership {
    /// Parses `corporate`, `personal` or `unknown`.
    pub fn parse(s: &str) -> Option<Ownership> {
        Some(match s.to_ascii_lowercase().as_str() {
            "corporate" => Ownership::Corporate,
            "personal" => Ownership::Personal,
            "unknown" => Ownership::Unknown,
            _ => return None,
        })
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Ownership::Corporate => "corporate",
            Ownership::Personal => "personal",
            Ownership::Unknown => "unknown",
        }
    }
}

/// How a prohibited app is to be remedied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Remedy {
    /// Remove the app from the device.
    Uninstall,
    /// Prevent launching (and installing) the app.
    Block,
}

/// Which devices a rule applies to. Empty lists mean "no restriction".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Scope {
    /// The device must be in at least one of these groups.
    pub groups: Vec<String>,
    /// The device must be in none of these groups.
    pub exclude_groups: Vec<String>,
    /// The device ownership must be one of these.
    pub ownership: Vec<Ownership>,
}

impl Scope {
    /// Whether a device with these groups and ownership is in scope.
    pub fn covers(&self, groups: &[String], ownership: Ownership) -> bool {
        (self.groups.is_empty() || self.groups.iter().any(|g| groups.contains(g)))
            && !self.exclude_groups.iter().any(|g| groups.contains(g))
            && (self.ownership.is_empty() || self.ownership.contains(&ownership))
    }
}

/// A list of network names (domains) with where it comes from.
///
/// Names are kept as written; `net-blocklist` normalises and validates them at export time
/// and reports an invalid name with its `file:line:column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainList {
    /// Where the list comes from (repository + commit + path, vendor page, analyst).
    pub source: String,
    /// When the list was taken or reviewed.
    pub date: Option<Date>,
    /// Domain names; each covers the name and all its subdomains.
    pub names: Vec<Located<String>>,
}

/// A rule: which apps, on which devices, from when, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Unique id, referenced by exceptions and reports.
    pub id: String,
    /// Where the rule's table starts.
    pub loc: Loc,
    /// Human title.
    pub title: Option<String>,
    /// What to do with matching apps.
    pub action: Action,
    /// App ids (package names, bundle ids), exact or glob (`*`, `?`, `[..]`, `{a,b}`).
    pub app_ids: Vec<Located<String>>,
    /// Signer certificate SHA-256 digests, lowercase hex without separators.
    pub signer_sha256: Vec<Located<String>>,
    /// Signer certificate SHA-1 digests (what AMAPI reports), lowercase hex.
    pub signer_sha1: Vec<Located<String>>,
    /// Vendor names from the vendor catalog.
    pub vendors: Vec<Located<String>>,
    /// Apple Team IDs (10 characters, uppercase). Inventories carry no team, so these match only through
    /// assessed IPAs given to the export, which expands them to every bundle id of those IPAs.
    pub team_ids: Vec<Located<String>>,
    /// Platforms the rule applies to (empty: all).
    pub platforms: Vec<Platform>,
    /// Devices the rule applies to.
    pub scope: Scope,
    /// First day the rule is in force (none: always).
    pub effective: Option<Date>,
    /// Days after `effective` before a present app is a violation.
    pub grace_days: u32,
    /// How to remedy; defaults to uninstall.
    pub remedy: Option<Remedy>,
    /// Why.
    pub rationale: Option<String>,
    /// Who decided.
    pub authority: Option<String>,
    /// Public references (URLs, directive numbers).
    pub references: Vec<String>,
    /// Taken as a precaution (no evidence of compromise).
    pub precautionary: bool,
    /// Provenance of an imported partner rule.
    pub source: Option<String>,
    /// Network names to block with the rule (network exports: RPZ, resolvers, proxies).
    pub domains: Vec<DomainList>,
    /// Also block the endpoints found in stored assessments of the apps the rule matches.
    pub include_assessed_endpoints: bool,
}

impl Rule {
    /// The day from which a present app is a violation.
    pub fn deadline(&self) -> Option<Date> {
        self.effective.map(|d| d.add_days(self.grace_days))
    }

    /// Whether the rule applies to the platform.
    pub fn applies_to(&self, p: Platform) -> bool {
        self.platforms.is_empty() || self.platforms.contains(&p)
    }
}

/// The basis categories of an exception (OMB M-23-13): an exception is granted for law
/// enforcement, national security or security research, or for another reason that its
/// justification must then explain.
pub const EXCEPTION_BASES: [&str; 4] = [
    "law_enforcement",
    "national_security",
    "security_research",
    "other",
];

/// A time-limited, approved deviation from one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// Unique id.
    pub id: String,
    /// Where the exception's table starts.
    pub loc: Loc,
    /// The rule it relaxes.
    pub rule: Located<String>,
    /// Device ids covered.
    pub devices: Vec<String>,
    /// Device groups covered.
    pub groups: Vec<String>,
    /// Restricts the exception to these exact app ids (empty: every app the rule matches).
    pub apps: Vec<String>,
    /// Why it is needed.
    pub justification: String,
    /// Legal basis (e.g. `law_enforcement`, `national_security`, `security_research`).
    pub basis: Option<String>,
    /// Who asked for it.
    pub requester: String,
    /// Who approved it.
    pub approver: String,
    /// First day it applies (none: from the start).
    pub granted: Option<Date>,
    /// Last day it applies (inclusive).
    pub expires: Date,
}

impl Exception {
    /// Whether the exception is in force on `at`.
    pub fn active(&self, at: Date) -> bool {
        self.granted.is_none_or(|g| g <= at) && at <= self.expires
    }

    /// Whether it covers a device (by id or group) and app.
    pub fn covers(&self, device_id: &str, groups: &[String], app_id: &str) -> bool {
        (self.devices.iter().any(|d| d == device_id)
            || self.groups.iter().any(|g| groups.contains(g)))
            && (self.apps.is_empty() || self.apps.iter().any(|a| a == app_id))
    }
}

/// A vendor family: the apps one publisher ships, identified several ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vendor {
    /// Name referenced by rules (compared case-insensitively).
    pub name: String,
    /// Where it was defined.
    pub loc: Loc,
    /// Country of the vendor's parent company (ISO 3166 alpha-2).
    pub country: Option<String>,
    /// App ids known to belong to the vendor.
    pub app_ids: Vec<String>,
    /// Package-name prefixes, each ending with `.` (e.g. `com.tencent.`).
    pub package_prefixes: Vec<String>,
    /// Signer certificate SHA-256 digests.
    pub signer_sha256: Vec<String>,
    /// Signer certificate SHA-1 digests.
    pub signer_sha1: Vec<String>,
    /// Publisher names as desktop inventories report them (case-insensitive, exact).
    pub publishers: Vec<String>,
    /// Substrings of a signer certificate's subject O= (self-asserted evidence; used by
    /// `interdict assess` for attribution, the same catalog entry as the policy's).
    pub subject_organizations: Vec<String>,
    /// Apple Team IDs (used by `interdict assess` on IPAs).
    pub team_ids: Vec<String>,
    /// Ownership notes (who owns the vendor, where).
    pub ownership: Option<String>,
    /// Where the attribution comes from.
    pub references: Vec<String>,
    /// Domains the vendor operates, with sources (blocked by rules naming the vendor).
    pub domains: Vec<DomainList>,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// File name used in messages.
    pub file: String,
    /// Policy name.
    pub name: String,
    /// Policy version (increase on every change).
    pub version: Option<u64>,
    /// Denylist or allowlist.
    pub mode: Mode,
    /// Description.
    pub description: Option<String>,
    /// Jurisdictions of concern (ISO 3166 alpha-2 codes).
    pub jurisdictions_of_concern: Vec<String>,
    /// Allowlist mode: when the implicit "everything else is prohibited" takes effect.
    pub effective: Option<Date>,
    /// Allowlist mode: grace days for the implicit rule.
    pub grace_days: u32,
    /// Vendor catalog (from the policy file and `--vendors` files).
    pub vendors: Vec<Vendor>,
    /// Rules, in order: the first rule that matches an app decides.
    pub rules: Vec<Rule>,
    /// Exceptions.
    pub exceptions: Vec<Exception>,
}

impl Policy {
    /// Formats `file:line:column`.
    pub fn at(&self, loc: Loc) -> String {
        format!("{}:{}:{}", self.file, loc.line, loc.column)
    }

    /// Looks a vendor up by name (case-insensitive).
    pub fn vendor(&self, name: &str) -> Option<&Vendor> {
        self.vendors
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
    }

    /// Looks a rule up by id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// Whether an app-id pattern uses glob syntax.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}
