//! The JSON shapes risk analysis adds to the report (`capabilities`, `trackers`, `endpoints`, `vendor`, `risk`).
//! Field names are part of the `interdict.assessment/v1` contract.

use serde::Serialize;

/// How much a finding matters on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; rarely decisive.
    Low,
    /// Reaches personal data or weakens a protection.
    Medium,
    /// Reaches a whole class of personal data, or other apps.
    High,
    /// Lets the app observe or control the whole device.
    Critical,
}

impl Severity {
    /// `low`, `medium`, `high` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// A sensitive capability the manifest gives the app.
#[derive(Debug, Clone, Serialize)]
pub struct Capability {
    /// Stable identifier, e.g. `accessibility_service`.
    pub id: &'static str,
    /// What it means, in plain words.
    pub title: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// The manifest elements (or resource files) that grant it, one per line.
    pub evidence: Vec<String>,
}

/// A tracker SDK found in the code or endpoints.
#[derive(Debug, Clone, Serialize)]
pub struct TrackerMatch {
    /// Exodus tracker id.
    pub id: u32,
    /// Tracker name.
    pub name: String,
    /// Exodus categories (`Analytics`, `Advertisement`, `Crash reporting`, `Identification`, `Location`, `Profiling`).
    pub categories: Vec<String>,
    /// Website of the SDK vendor, when the database has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Which signature matched what.
    pub evidence: Vec<TrackerEvidence>,
}

/// One signature alternative and what it matched.
#[derive(Debug, Clone, Serialize)]
pub struct TrackerEvidence {
    /// `code` (a DEX class or type name) or `network` (an endpoint host).
    pub kind: &'static str,
    /// The alternative of the signature that matched (a regex, Exodus semantics: unanchored, `.` is any character).
    pub pattern: String,
    /// Up to five matched names, sorted.
    pub matched: Vec<String>,
    /// How many names matched in total.
    pub count: u64,
}

/// A network endpoint the app refers to.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// The URL, host name or IP literal as found (URLs truncated to 2,048 bytes).
    pub value: String,
    /// The host name or IP address, lowercase.
    pub host: String,
    /// `url`, `host` or `ip`.
    pub kind: &'static str,
    /// Whether the URL uses an unencrypted scheme (`http`, `ws`, `ftp`).
    pub cleartext: bool,
    /// Where it was first found: `classes.dex`, `resources.arsc`, `network_security_config (res/xml/x.xml)`, `manifest`.
    pub source: String,
    /// Other places the same value appears.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_in: Vec<String>,
}

/// Who stands behind the app, from the vendor catalog.
#[derive(Debug, Clone, Serialize)]
pub struct VendorMatch {
    /// Vendor name.
    pub name: String,
    /// ISO 3166-1 alpha-2 country of jurisdiction.
    pub country: String,
    /// How it was attributed: `signer_sha256` (strong), `certificate_subject` or `package` (both self-asserted).
    pub matched_by: &'static str,
    /// The catalog value that matched.
    pub matched_value: String,
    /// Ownership notes from the catalog.
    pub ownership: String,
    /// Whether the country is one of the configured jurisdictions of concern.
    pub of_concern: bool,
    /// Public sources for the attribution.
    pub sources: Vec<String>,
    /// iOS: the matched Team ID is the OU of the code signer certificate whose chain to Apple's roots verified
    /// (`signing.chain` is `verified`), so `team_id` scores as a verified match (60), not a self-asserted one (50).
    /// Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
}

/// The verdict and how it was reached.
#[derive(Debug, Clone, Serialize)]
pub struct Risk {
    /// Sum of the factor points, capped at 100.
    pub score: u32,
    /// `acceptable`, `review` or `unacceptable`.
    pub verdict: &'static str,
    /// The thresholds that were applied.
    pub thresholds: Thresholds,
    /// Every factor that contributed, highest points first.
    pub factors: Vec<Factor>,
    /// Protection level of each requested permission, for the target SDK.
    pub permissions: Vec<PermissionLevel>,
    /// Problems with the configuration (tracker database entries that were skipped, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One reason for the score.
#[derive(Debug, Clone, Serialize)]
pub struct Factor {
    /// Stable identifier, e.g. `capability.accessibility_service`, `trackers`, `vendor_jurisdiction`.
    pub id: String,
    /// Points added to the score.
    pub points: u32,
    /// The reason, in plain words.
    pub title: String,
    /// What in the APK supports it.
    pub evidence: String,
}

/// Score thresholds: `score >= review` is `review`, `score >= unacceptable` is `unacceptable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Thresholds {
    /// Lowest score that needs review.
    pub review: u32,
    /// Lowest score that is unacceptable.
    pub unacceptable: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            review: 20,
            unacceptable: 50,
        }
    }
}

/// A requested permission with its protection level.
#[derive(Debug, Clone, Serialize)]
pub struct PermissionLevel {
    /// The permission name.
    pub name: String,
    /// The raw `|`-joined protection level (`dangerous`, `signature|appop`, ...), or `unknown`.
    pub protection_level: String,
    /// `platform` (AOSP table for the target SDK), `app` (declared by this APK) or `unknown`.
    pub defined_by: &'static str,
}
