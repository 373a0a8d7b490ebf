//! Matches as risk factors of an `interdict.assessment/v1` report (as JSON, so the CLI and
//! the server, which stores reports as JSON, share one code path).

use serde_json::{json, Value};

use crate::matcher::{Match, Observable};
use crate::pattern::Object;
use crate::value::{host_key, sha256_key};

/// Observables of a report: endpoints (`endpoints[]`, where found), the package's SHA-256
/// (`file.sha256`) and signer certificate digests (`signing.signers[].sha256`).
pub fn observables(report: &Value) -> Vec<Observable> {
    let mut out = Vec::new();
    if let Some(eps) = report.get("endpoints").and_then(Value::as_array) {
        for e in eps {
            let value = e.get("value").and_then(Value::as_str).unwrap_or("");
            let host = e.get("host").and_then(Value::as_str).unwrap_or("");
            let src = e.get("source").and_then(Value::as_str).unwrap_or("app");
            if value.is_empty() && host.is_empty() {
                continue;
            }
            out.extend(Observable::endpoint(value, host, src));
            // A URL's host is also matched as a domain even when `host` is empty.
            if host.is_empty() {
                if let Some(h) = url_host(value).and_then(|h| host_key(&h)) {
                    out.push(Observable {
                        object: Object::Domain(h),
                        value: value.to_string(),
                        location: src.to_string(),
                    });
                }
            }
        }
    }
    if let Some(h) = report
        .pointer("/file/sha256")
        .and_then(Value::as_str)
        .and_then(sha256_key)
    {
        out.push(Observable {
            object: Object::FileSha256(h.clone()),
            value: h,
            location: "package file (SHA-256)".into(),
        });
    }
    if let Some(signers) = report.pointer("/signing/signers").and_then(Value::as_array) {
        for s in signers {
            if let Some(h) = s.get("sha256").and_then(Value::as_str).and_then(sha256_key) {
                let scheme = s.get("scheme").and_then(Value::as_str).unwrap_or("?");
                out.push(Observable {
                    object: Object::CertSha256(h.clone()),
                    value: h,
                    location: format!("signer certificate (scheme {scheme})"),
                });
            }
        }
    }
    out
}

fn url_host(u: &str) -> Option<String> {
    let rest = u.split_once("://")?.1;
    let auth = rest.split(['/', '?', '#']).next()?;
    let auth = auth.rsplit('@').next()?;
    let host = if auth.starts_with('[') {
        auth.split(']').next()?.trim_start_matches('[')
    } else {
        auth.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// Points a match adds to the score: by confidence (none: 40; ≥ 70: 50; ≥ 30: 25; else
/// 10); a `benign` indicator adds nothing.
pub fn points(m: &Match) -> u32 {
    if m.benign {
        return 0;
    }
    match m.confidence {
        None => 40,
        Some(c) if c >= 70 => 50,
        Some(c) if c >= 30 => 25,
        Some(_) => 10,
    }
}

/// The factor for a match: `(id, points, title, evidence)`.
pub fn factor(m: &Match) -> (String, u32, String, String) {
    let conf = m
        .confidence
        .map_or_else(|| "unstated".to_string(), |c| c.to_string());
    (
        format!("intel.{}", m.indicator),
        points(m),
        format!(
            "Matches threat-intelligence indicator {}{}",
            m.indicator,
            m.name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
        format!(
            "indicator {} from {} (confidence {conf}, pattern {}) matched {} found in {}",
            m.indicator, m.source, m.pattern, m.value, m.location
        ),
    )
}

/// Adds one factor per (indicator, value, location) to `risk.factors` of a JSON report
/// and recomputes `risk.score` (capped at 100) and `risk.verdict` with the report's own
/// thresholds. Returns the number of factors added.
pub fn apply(report: &mut Value, matches: &[Match]) -> usize {
    let Some(risk) = report.get_mut("risk").and_then(Value::as_object_mut) else {
        return 0;
    };
    let review = risk.pointer_thresholds("review").unwrap_or(20);
    let unacceptable = risk.pointer_thresholds("unacceptable").unwrap_or(50);
    let Some(factors) = risk.get_mut("factors").and_then(Value::as_array_mut) else {
        return 0;
    };
    let mut added = 0;
    for m in matches {
        let (id, points, title, evidence) = factor(m);
        factors.push(json!({"id": id, "points": points, "title": title, "evidence": evidence}));
        added += 1;
    }
    factors
        .sort_by_key(|f| std::cmp::Reverse(f.get("points").and_then(Value::as_u64).unwrap_or(0)));
    let score = factors
        .iter()
        .map(|f| f.get("points").and_then(Value::as_u64).unwrap_or(0))
        .sum::<u64>()
        .min(100);
    risk.insert("score".into(), json!(score));
    risk.insert(
        "verdict".into(),
        json!(verdict(score, review, unacceptable)),
    );
    added
}

/// The verdict word for a score.
pub fn verdict(score: u64, review: u64, unacceptable: u64) -> &'static str {
    if score >= unacceptable {
        "unacceptable"
    } else if score >= review {
        "review"
    } else {
        "acceptable"
    }
}

trait Thresholds {
    fn pointer_thresholds(&self, k: &str) -> Option<u64>;
}

impl Thresholds for serde_json::Map<String, Value> {
    fn pointer_thresholds(&self, k: &str) -> Option<u64> {
        self.get("thresholds")?.get(k)?.as_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::Indicator;
    use crate::matcher::IntelSet;

    #[test]
    fn report_gets_factors() {
        let mut r = json!({
            "file": {"sha256": "00".repeat(32)},
            "endpoints": [{"value": "https://c2.evil.example/a", "host": "c2.evil.example", "kind": "url", "source": "classes.dex"}],
            "signing": {"signers": [{"scheme": "v2", "sha256": "11".repeat(32)}]},
            "risk": {"score": 5, "verdict": "acceptable", "thresholds": {"review": 20, "unacceptable": 50},
                     "factors": [{"id": "x", "points": 5, "title": "t", "evidence": "e"}]}
        });
        let ind = |id: &str, p: &str| Indicator {
            id: id.into(),
            source: "feed.json".into(),
            producer: None,
            name: None,
            indicator_types: vec![],
            confidence: Some(80),
            valid_from: None,
            valid_until: None,
            revoked: false,
            modified: None,
            pattern: p.into(),
            reference: None,
        };
        let set = IntelSet::new(vec![
            ind("indicator--a", "[domain-name:value = 'c2.evil.example']"),
            ind(
                "indicator--b",
                &format!(
                    "[x509-certificate:hashes.'SHA-256' = '{}']",
                    "11".repeat(32)
                ),
            ),
        ]);
        let obs = observables(&r);
        let m = set.matches(&obs, 0);
        assert_eq!(m.len(), 2);
        assert_eq!(apply(&mut r, &m), 2);
        assert_eq!(r["risk"]["score"], 100);
        assert_eq!(r["risk"]["verdict"], "unacceptable");
        let ev = r["risk"]["factors"][0]["evidence"].as_str().unwrap();
        assert!(ev.contains("feed.json") && ev.contains("found in"), "{ev}");
        assert_eq!(url_host("http://u@[::1]:80/x").as_deref(), Some("::1"));
    }
}
