//! Matching an app's observables against many indicators.
//!
//! Indicators are compiled once into an index: equality and `IN` tests on hosts, addresses
//! and hashes go into a hash map, `LIKE '%.d'` into a suffix map, so an app's endpoints
//! cost a few lookups each; only patterns with no indexable test are evaluated one by one.
//! Every candidate is confirmed by the full evaluator.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::indicator::Indicator;
use crate::pattern::{self, Expr, Field, Literal, Object, Op, Pattern};
use crate::value::{host_key, sha256_key};

/// Something found in an app, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observable {
    /// The object.
    pub object: Object,
    /// The value as found (URL, host, digest).
    pub value: String,
    /// Where it was found (`classes.dex`, `file`, `signer certificate`, …).
    pub location: String,
}

impl Observable {
    /// Observables for an endpoint: a URL gives the URL and its host; a host name or IP
    /// literal gives itself; each also as the destination of network traffic.
    pub fn endpoint(value: &str, host: &str, location: &str) -> Vec<Observable> {
        let mut v = Vec::new();
        let mk = |object: Object| Observable {
            object,
            value: value.to_string(),
            location: location.to_string(),
        };
        if value.contains("://") {
            v.push(mk(Object::Url(value.to_string())));
        }
        let h = host.trim_start_matches('[').trim_end_matches(']');
        let obj = match h.parse::<IpAddr>() {
            Ok(ip) => Some(Object::Ip(ip)),
            Err(_) => host_key(h).map(Object::Domain),
        };
        if let Some(o) = obj {
            v.push(mk(Object::Traffic(Box::new(o.clone()))));
            v.push(mk(o));
        }
        v
    }
}

/// One match: which indicator, on what, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    /// Indicator id.
    pub indicator: String,
    /// Indicator source.
    pub source: String,
    /// Indicator name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Confidence 0–100, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    /// The pattern that matched.
    pub pattern: String,
    /// The matched value as found in the app.
    pub value: String,
    /// Where it was found in the app.
    pub location: String,
    /// Whether the indicator is typed `benign` (must not raise risk).
    pub benign: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Host(String),
    Ip(IpAddr),
    Url(String),
    File(String),
    Cert(String),
}

/// Indicators compiled for matching.
#[derive(Debug, Default)]
pub struct IntelSet {
    indicators: Vec<(Indicator, Pattern)>,
    exact: HashMap<Key, Vec<u32>>,
    suffix: HashMap<String, Vec<u32>>,
    scan: Vec<u32>,
    /// Indicators whose pattern no longer parses (counted, not matched).
    pub unparsable: usize,
}

/// Keys that any object matching `e` must have, or `None` when there is no such set.
fn keys(e: &Expr, out: &mut Vec<(bool, Key)>) -> bool {
    match e {
        Expr::Or(v) => v.iter().all(|x| keys(x, out)),
        Expr::And(v) => {
            for x in v {
                let mut tmp = Vec::new();
                if keys(x, &mut tmp) {
                    out.extend(tmp);
                    return true;
                }
            }
            false
        }
        Expr::Test {
            field,
            negated: false,
            op,
        } => {
            let lits: Vec<&Literal> = match op {
                Op::Eq(l) => vec![l],
                Op::In(ls) => ls.iter().collect(),
                Op::Like(chars) => {
                    let s: String = chars.iter().collect();
                    if let (Field::Domain, Some(rest)) = (field, s.strip_prefix("%.")) {
                        if !rest.contains(['%', '_']) {
                            if let Some(h) = host_key(rest) {
                                out.push((true, Key::Host(h)));
                                return true;
                            }
                        }
                    }
                    return false;
                }
                _ => return false,
            };
            for l in lits {
                let Literal::Str(s) = l else { continue };
                let k = match field {
                    Field::Domain => host_key(s).map(Key::Host),
                    Field::Url => Some(Key::Url(s.clone())),
                    Field::Ipv4 | Field::Ipv6 => s.parse().ok().map(Key::Ip),
                    Field::DstValue => match s.parse::<IpAddr>() {
                        Ok(ip) => Some(Key::Ip(ip)),
                        Err(_) => host_key(s).map(Key::Host),
                    },
                    Field::FileSha256 => sha256_key(s).map(Key::File),
                    Field::CertSha256 => sha256_key(s).map(Key::Cert),
                    Field::DstType => return false,
                };
                // A literal that cannot be a key can never be equal either: skip it.
                if let Some(k) = k {
                    out.push((false, k));
                }
            }
            true
        }
        Expr::Test { .. } => false,
    }
}

impl IntelSet {
    /// Compiles indicators (revoked ones are kept out).
    pub fn new(indicators: impl IntoIterator<Item = Indicator>) -> IntelSet {
        let mut s = IntelSet::default();
        for ind in indicators {
            if ind.revoked {
                continue;
            }
            let Ok(p) = pattern::parse(&ind.pattern) else {
                s.unparsable += 1;
                continue;
            };
            let i = u32::try_from(s.indicators.len()).unwrap_or(u32::MAX);
            let mut ks = Vec::new();
            let indexable = p.observations.iter().all(|o| keys(o, &mut ks));
            if indexable {
                for (is_suffix, k) in ks {
                    match (is_suffix, k) {
                        (true, Key::Host(h)) => s.suffix.entry(h).or_default().push(i),
                        (_, k) => s.exact.entry(k).or_default().push(i),
                    }
                }
            } else {
                s.scan.push(i);
            }
            s.indicators.push((ind, p));
        }
        s
    }

    /// Number of indicators compiled.
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// Every (indicator, observable) match among indicators active at `now_ms`.
    pub fn matches(&self, observables: &[Observable], now_ms: i64) -> Vec<Match> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for ob in observables {
            let mut cands: Vec<u32> = Vec::new();
            let key = match &ob.object {
                Object::Domain(d) => Some(Key::Host(d.clone())),
                Object::Ip(ip) => Some(Key::Ip(*ip)),
                Object::Url(u) => Some(Key::Url(u.clone())),
                Object::FileSha256(h) => Some(Key::File(h.clone())),
                Object::CertSha256(h) => Some(Key::Cert(h.clone())),
                Object::Traffic(inner) => match inner.as_ref() {
                    Object::Domain(d) => Some(Key::Host(d.clone())),
                    Object::Ip(ip) => Some(Key::Ip(*ip)),
                    _ => None,
                },
            };
            if let Some(k) = &key {
                if let Some(v) = self.exact.get(k) {
                    cands.extend(v);
                }
                if let Key::Host(h) = k {
                    for p in h.match_indices('.').map(|(i, _)| &h[i + 1..]) {
                        if let Some(v) = self.suffix.get(p) {
                            cands.extend(v);
                        }
                    }
                }
            }
            cands.extend(&self.scan);
            for i in cands {
                let Some((ind, pat)) = self.indicators.get(i as usize) else {
                    continue;
                };
                if !ind.active(now_ms) || !pat.matches(&ob.object) {
                    continue;
                }
                if seen.insert((i, ob.value.clone(), ob.location.clone())) {
                    out.push(Match {
                        indicator: ind.id.clone(),
                        source: ind.source.clone(),
                        name: ind.name.clone(),
                        confidence: ind.confidence,
                        pattern: ind.pattern.clone(),
                        value: ob.value.clone(),
                        location: ob.location.clone(),
                        benign: ind.indicator_types.iter().any(|t| t == "benign"),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ind(id: &str, pattern: &str) -> Indicator {
        Indicator {
            id: id.into(),
            source: "feed".into(),
            producer: None,
            name: None,
            indicator_types: vec![],
            confidence: Some(90),
            valid_from: Some(0),
            valid_until: Some(2_000_000_000_000),
            revoked: false,
            modified: None,
            pattern: pattern.into(),
            reference: None,
        }
    }

    #[test]
    fn indexed_and_scanned_agree_with_the_evaluator() {
        let set = IntelSet::new(vec![
            ind("a", "[domain-name:value = 'c2.evil.example']"),
            ind("b", "[domain-name:value LIKE '%.tracker.example']"),
            ind("c", "[network-traffic:dst_ref.value = '203.0.113.9']"),
            ind("d", "[url:value MATCHES 'evil']"),
            ind("e", "[file:hashes.'SHA-256' = 'ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB']"),
            ind("f", "[domain-name:value = 'never.example']"),
        ]);
        assert_eq!(set.scan.len(), 1);
        let mut obs = Observable::endpoint(
            "https://C2.evil.example/x",
            "c2.evil.example",
            "classes.dex",
        );
        obs.extend(Observable::endpoint(
            "a.b.tracker.example",
            "a.b.tracker.example",
            "resources.arsc",
        ));
        obs.extend(Observable::endpoint(
            "203.0.113.9",
            "203.0.113.9",
            "classes.dex",
        ));
        obs.push(Observable {
            object: Object::FileSha256("ab".repeat(32)),
            value: "ab".repeat(32),
            location: "file".into(),
        });
        let m = set.matches(&obs, 1_000);
        let ids: HashSet<_> = m.iter().map(|m| m.indicator.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e"].into_iter().collect());
        // Expired: nothing.
        assert!(set.matches(&obs, 3_000_000_000_000).is_empty());
    }
}
