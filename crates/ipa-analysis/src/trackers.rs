//! The iOS tracker signature table (`data/ios-trackers.toml`, see its LICENSE file) and matching over
//! imported Objective-C classes, embedded framework names and bundle ids, linked dylibs and SKAdNetwork ids.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use apk_analysis::risk::model::{TrackerEvidence, TrackerMatch};
use regex::Regex;
use serde::Deserialize;

/// The built-in table.
pub const BUILTIN_TOML: &str = include_str!("../data/ios-trackers.toml");

/// One iOS tracker signature.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IosTracker {
    /// Id (100000 and above).
    pub id: u32,
    /// Name.
    pub name: String,
    /// Exodus-style categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Website.
    pub website: Option<String>,
    /// Regexes over Objective-C class names.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Framework or dylib names (exact).
    #[serde(default)]
    pub frameworks: Vec<String>,
    /// Embedded framework bundle id prefixes.
    #[serde(default)]
    pub bundle_id_prefixes: Vec<String>,
    /// SKAdNetwork identifiers (without `.skadnetwork`).
    #[serde(default)]
    pub skadnetwork: Vec<String>,
    /// Where the signature comes from.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    tracker: Vec<IosTracker>,
}

/// A compiled table.
#[derive(Debug)]
pub struct IosTrackerTable {
    /// Entries.
    pub trackers: Vec<IosTracker>,
    classes: Vec<Vec<(Regex, String)>>,
}

impl IosTrackerTable {
    /// Parses a table in the `ios-trackers.toml` format.
    pub fn parse(text: &str) -> Result<IosTrackerTable, String> {
        let f: TableFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut classes = Vec::new();
        for t in &f.tracker {
            let mut v = Vec::new();
            for c in &t.classes {
                let re = regex::RegexBuilder::new(c)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("tracker {}: class regex {c:?}: {e}", t.name))?;
                v.push((re, c.clone()));
            }
            classes.push(v);
        }
        Ok(IosTrackerTable {
            trackers: f.tracker,
            classes,
        })
    }

    /// The built-in table, compiled once.
    pub fn builtin() -> &'static IosTrackerTable {
        static T: OnceLock<IosTrackerTable> = OnceLock::new();
        T.get_or_init(|| {
            IosTrackerTable::parse(BUILTIN_TOML).unwrap_or(IosTrackerTable {
                trackers: Vec::new(),
                classes: Vec::new(),
            })
        })
    }
}

/// What the matcher looks at.
#[derive(Debug, Default)]
pub struct Evidence {
    /// Imported Objective-C class names.
    pub objc_classes: BTreeSet<String>,
    /// Embedded framework directory names and dylib base names.
    pub frameworks: BTreeSet<String>,
    /// Embedded framework bundle ids.
    pub bundle_ids: BTreeSet<String>,
    /// SKAdNetwork ids (lowercase, with or without `.skadnetwork`).
    pub skadnetwork: BTreeSet<String>,
}

/// Matches the table against the evidence.
pub fn matches(table: &IosTrackerTable, ev: &Evidence) -> Vec<TrackerMatch> {
    let mut out = Vec::new();
    for (i, t) in table.trackers.iter().enumerate() {
        let mut evidence: BTreeMap<(&'static str, String), BTreeSet<String>> = BTreeMap::new();
        for (re, pat) in table.classes.get(i).map(Vec::as_slice).unwrap_or(&[]) {
            for c in &ev.objc_classes {
                if re.is_match(c) {
                    evidence
                        .entry(("code", pat.clone()))
                        .or_default()
                        .insert(c.clone());
                }
            }
        }
        for f in &t.frameworks {
            if ev.frameworks.contains(f) {
                evidence
                    .entry(("code", format!("framework {f}")))
                    .or_default()
                    .insert(f.clone());
            }
        }
        for p in &t.bundle_id_prefixes {
            for b in ev.bundle_ids.iter().filter(|b| b.starts_with(p.as_str())) {
                evidence
                    .entry(("code", format!("bundle id {p}*")))
                    .or_default()
                    .insert(b.clone());
            }
        }
        for s in &t.skadnetwork {
            let full = format!("{s}.skadnetwork");
            if ev.skadnetwork.contains(s) || ev.skadnetwork.contains(&full) {
                evidence
                    .entry(("skadnetwork", s.clone()))
                    .or_default()
                    .insert(full);
            }
        }
        if evidence.is_empty() {
            continue;
        }
        out.push(TrackerMatch {
            id: t.id,
            name: t.name.clone(),
            categories: t.categories.clone(),
            website: t.website.clone(),
            evidence: evidence
                .into_iter()
                .map(|((kind, pattern), names)| TrackerEvidence {
                    kind,
                    pattern,
                    count: names.len() as u64,
                    matched: names.into_iter().take(5).collect(),
                })
                .collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_matches() {
        let t = IosTrackerTable::parse(BUILTIN_TOML).unwrap();
        assert!(t.trackers.len() >= 25);
        let ids: BTreeSet<u32> = t.trackers.iter().map(|x| x.id).collect();
        assert_eq!(ids.len(), t.trackers.len(), "ids are unique");
        assert!(t
            .trackers
            .iter()
            .all(|x| x.id >= 100_000 && !x.source.is_empty()));
        let ev = Evidence {
            objc_classes: ["WXApi", "NSObject", "FBSDKAppEvents"]
                .map(String::from)
                .into(),
            skadnetwork: ["cstr6suwn9.skadnetwork".to_owned()].into(),
            ..Default::default()
        };
        let names: Vec<String> = matches(&t, &ev).into_iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "Facebook SDK / Audience Network",
                "Google AdMob",
                "WeChat SDK (Tencent)"
            ]
        );
    }
}
