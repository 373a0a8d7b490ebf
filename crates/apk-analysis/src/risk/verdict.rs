//! The score: explainable factors, each with points and evidence, summed and capped at 100.
//!
//! Points (see docs/risk.md for the reasoning):
//! - each capability: critical 25, high 12, medium 5, low 2;
//! - trackers with code evidence: 3 each, at most 24; plus 4 when any of them profiles, identifies or locates
//!   users; trackers seen only through a network signature (a host name): 1 each, at most 6;
//! - vendor in a jurisdiction of concern: 60 when attributed by a verified signer, 50 when the app claims the
//!   vendor's package name or certificate subject;
//! - cleartext endpoints: 1 each, at most 5; IP-literal endpoints: 2 each, at most 6;
//! - hidden code (DEX/APK outside ART's load path): 8; structural anomalies: 2 per distinct code, at most 10;
//! - a signature that does not verify: 15, and the verdict is at least "review" whatever the score.

use super::model::{
    Capability, Endpoint, Factor, Risk, Severity, Thresholds, TrackerMatch, VendorMatch,
};
use crate::report::Assessment;

fn list(items: impl IntoIterator<Item = String>, max: usize) -> String {
    let all: Vec<String> = items.into_iter().collect();
    let n = all.len();
    let mut shown: Vec<String> = all.into_iter().take(max).collect();
    if n > max {
        shown.push(format!("and {} more", n - max));
    }
    shown.join(", ")
}

/// What the score is made of, independent of the platform (APK or IPA).
#[derive(Debug, Clone, Copy)]
pub struct ScoreInput<'a> {
    /// Capabilities.
    pub capabilities: &'a [Capability],
    /// Trackers.
    pub trackers: &'a [TrackerMatch],
    /// Endpoints.
    pub endpoints: &'a [Endpoint],
    /// The attributed vendor.
    pub vendor: Option<&'a VendorMatch>,
    /// Distinct anomaly codes.
    pub anomaly_codes: &'a [&'a str],
    /// The verdict thresholds.
    pub thresholds: Thresholds,
    /// The origin cannot be established (the signature does not verify, or there is none):
    /// the verdict is at least "review" whatever the score.
    pub at_least_review: bool,
}

/// Builds every factor and the verdict of an APK.
pub(crate) fn score(
    a: &Assessment,
    capabilities: &[Capability],
    trackers: &[TrackerMatch],
    endpoints: &[Endpoint],
    vendor: Option<&VendorMatch>,
    thresholds: Thresholds,
) -> (u32, &'static str, Vec<Factor>) {
    let mut extra = Vec::new();
    let unverified = a.signing.as_ref().filter(|s| !s.verified);
    if let Some(sig) = unverified {
        extra.push(Factor {
            id: "signature_not_verified".into(),
            points: 15,
            title: "The APK's signature does not verify as Android would check it, so its origin cannot be attributed; the verdict is at least \"review\" whatever the score".into(),
            evidence: list(sig.errors.iter().map(|e| e.code.clone()), 4),
        });
    }
    if !a.embedded.is_empty() {
        extra.push(Factor {
            id: "hidden_code".into(),
            points: 8,
            title: "Code hidden outside the places Android loads it from".into(),
            evidence: list(
                a.embedded
                    .iter()
                    .map(|e| format!("{} ({})", e.path, e.kind)),
                4,
            ),
        });
    }
    let mut codes: Vec<&str> = a.anomalies.iter().map(|x| x.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    score_input(
        &ScoreInput {
            capabilities,
            trackers,
            endpoints,
            vendor,
            anomaly_codes: &codes,
            thresholds,
            at_least_review: unverified.is_some(),
        },
        extra,
    )
}

/// Builds every factor and the verdict from platform-neutral parts; `extra` holds the platform's own factors
/// (an unverified signature, hidden code, enterprise distribution, code not analysed, ...).
pub fn score_input(input: &ScoreInput<'_>, extra: Vec<Factor>) -> (u32, &'static str, Vec<Factor>) {
    let ScoreInput {
        capabilities,
        trackers,
        endpoints,
        vendor,
        anomaly_codes,
        thresholds,
        at_least_review,
    } = *input;
    let mut factors = extra;
    if let Some(v) = vendor.filter(|v| v.of_concern) {
        let (points, how) = match v.matched_by {
            "signer_sha256" => (60, "signed with a certificate of".to_owned()),
            "team_id" if v.verified => (
                60,
                format!(
                    "Apple Team ID {:?} (signer chain verified to Apple's roots) belongs to",
                    v.matched_value
                ),
            ),
            "team_id" => (
                50,
                format!(
                    "Apple Team ID {:?} (self-asserted: the signer chain is not verified) belongs to",
                    v.matched_value
                ),
            ),
            "certificate_subject" => (
                50,
                format!("certificate subject {:?} names", v.matched_value),
            ),
            _ => (50, format!("package name {:?} belongs to", v.matched_value)),
        };
        factors.push(Factor {
            id: "vendor_jurisdiction".into(),
            points,
            title: format!(
                "Published by {} ({}), a jurisdiction of concern",
                v.name, v.country
            ),
            evidence: format!("{how} {}; {}", v.name, v.ownership),
        });
    }
    for c in capabilities {
        let points = match c.severity {
            Severity::Critical => 25,
            Severity::High => 12,
            Severity::Medium => 5,
            Severity::Low => 2,
        };
        factors.push(Factor {
            id: format!("capability.{}", c.id),
            points,
            title: c.title.to_owned(),
            evidence: list(c.evidence.iter().cloned(), 3),
        });
    }
    let (in_code, network_only): (Vec<&TrackerMatch>, Vec<&TrackerMatch>) = trackers
        .iter()
        .partition(|t| t.evidence.iter().any(|e| e.kind == "code"));
    if !in_code.is_empty() {
        let n = u32::try_from(in_code.len()).unwrap_or(u32::MAX);
        factors.push(Factor {
            id: "trackers".into(),
            points: n.saturating_mul(3).min(24),
            title: format!(
                "Carries {n} tracker SDK{} in its code",
                if n == 1 { "" } else { "s" }
            ),
            evidence: list(
                in_code.iter().map(|t| {
                    if t.categories.is_empty() {
                        t.name.clone()
                    } else {
                        format!("{} ({})", t.name, t.categories.join("/"))
                    }
                }),
                8,
            ),
        });
    }
    if !network_only.is_empty() {
        let n = u32::try_from(network_only.len()).unwrap_or(u32::MAX);
        factors.push(Factor {
            id: "tracker_endpoints".into(),
            points: n.min(6),
            title: format!(
                "Names hosts used by {n} tracker{} (no SDK code found)",
                if n == 1 { "" } else { "s" }
            ),
            evidence: list(network_only.iter().map(|t| t.name.clone()), 8),
        });
    }
    if !in_code.is_empty() {
        let invasive: Vec<&TrackerMatch> = in_code
            .iter()
            .copied()
            .filter(|t| {
                t.categories
                    .iter()
                    .any(|c| matches!(c.as_str(), "Profiling" | "Identification" | "Location"))
            })
            .collect();
        if !invasive.is_empty() {
            factors.push(Factor {
                id: "trackers_profiling".into(),
                points: 4,
                title: "Tracker SDKs that profile, identify or locate users".into(),
                evidence: list(invasive.iter().map(|t| t.name.clone()), 6),
            });
        }
    }
    let clear: Vec<&Endpoint> = endpoints.iter().filter(|e| e.cleartext).collect();
    if !clear.is_empty() {
        factors.push(Factor {
            id: "cleartext_endpoints".into(),
            points: u32::try_from(clear.len()).unwrap_or(u32::MAX).min(5),
            title: "Unencrypted endpoints (http, ws, ftp)".into(),
            evidence: list(clear.iter().map(|e| e.value.clone()), 4),
        });
    }
    let ips: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|e| e.kind == "ip" || e.host.parse::<std::net::IpAddr>().is_ok())
        .collect();
    if !ips.is_empty() {
        factors.push(Factor {
            id: "ip_literal_endpoints".into(),
            points: u32::try_from(ips.len())
                .unwrap_or(u32::MAX)
                .saturating_mul(2)
                .min(6),
            title: "Endpoints given as raw IP addresses".into(),
            evidence: list(ips.iter().map(|e| e.value.clone()), 4),
        });
    }
    let codes = anomaly_codes;
    if !codes.is_empty() {
        factors.push(Factor {
            id: "structural_anomalies".into(),
            points: u32::try_from(codes.len())
                .unwrap_or(u32::MAX)
                .saturating_mul(2)
                .min(10),
            title: "Structural anomalies (often deliberate anti-analysis)".into(),
            evidence: list(codes.iter().map(|c| (*c).to_owned()), 6),
        });
    }
    factors.sort_by(|x, y| y.points.cmp(&x.points).then_with(|| x.id.cmp(&y.id)));
    let total: u32 = factors
        .iter()
        .fold(0u32, |s, f| s.saturating_add(f.points))
        .min(100);
    let verdict = if total >= thresholds.unacceptable {
        "unacceptable"
    } else if total >= thresholds.review {
        "review"
    } else if at_least_review {
        // Nothing about an app whose origin cannot be established is "acceptable": Android
        // would refuse to install it as it is, and a repackaged copy looks exactly like this.
        "review"
    } else {
        "acceptable"
    };
    (total, verdict, factors)
}

/// Assembles the `risk` object.
pub fn risk(
    score: (u32, &'static str, Vec<Factor>),
    thresholds: Thresholds,
    permissions: Vec<super::model::PermissionLevel>,
    notes: Vec<String>,
) -> Risk {
    Risk {
        score: score.0,
        verdict: score.1,
        thresholds,
        factors: score.2,
        permissions,
        notes,
    }
}
