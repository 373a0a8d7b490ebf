//! Building one blocklist from several sources: normalise, remove overreach, collapse.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::name::{normalize, parents, NameError};
use crate::never::NeverBlock;

/// One name offered for the blocklist, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The name as written.
    pub name: String,
    /// The list or assessment it comes from (e.g. `v2fly/domain-list-community data/tencent @ c975cce (2026-08-19)`).
    pub source: String,
    /// Where it was written (e.g. `policy.toml:12:5`), for error messages.
    pub location: String,
}

/// A name refused by normalisation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {error}")]
pub struct CandidateError {
    /// Where the name was written.
    pub location: String,
    /// Why it was refused.
    pub error: NameError,
}

/// A blocked name and every source that listed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// Normalised name; covers itself and all subdomains.
    pub name: String,
    /// Sources, sorted, unique.
    pub sources: Vec<String>,
}

/// A name not exported because it is shared infrastructure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    /// The normalised name that was offered.
    pub name: String,
    /// The never-block entry that protects it.
    pub protected_by: String,
    /// The entry's reason.
    pub reason: String,
    /// Sources that listed the name.
    pub sources: Vec<String>,
}

/// A name dropped because a listed parent covers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Covered {
    /// The dropped name.
    pub name: String,
    /// The listed parent covering it.
    pub parent: String,
}

/// The result of building a blocklist.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Blocklist {
    /// Names to block, sorted, none below another.
    pub entries: Vec<Entry>,
    /// Every accepted name before collapsing (for hosts files: exact names seen).
    pub observed: Vec<String>,
    /// Overreach removed by the never-block list.
    pub removed: Vec<Removed>,
    /// Names dropped because a parent is listed.
    pub covered: Vec<Covered>,
}

impl Blocklist {
    /// Builds a blocklist. Every candidate is normalised; the first invalid name stops the
    /// build (an export must never silently drop what a policy lists).
    pub fn build(
        candidates: &[Candidate],
        never: &NeverBlock,
    ) -> Result<Blocklist, CandidateError> {
        // Name → indexes of the candidates listing it (sources are cloned only once per
        // (name, source) at the end).
        let mut names: HashMap<String, Vec<u32>> = HashMap::with_capacity(candidates.len());
        for (i, c) in candidates.iter().enumerate() {
            let n = normalize(&c.name).map_err(|error| CandidateError {
                location: c.location.clone(),
                error,
            })?;
            names
                .entry(n)
                .or_default()
                .push(u32::try_from(i).unwrap_or(u32::MAX));
        }
        let sources = |idx: &[u32]| -> Vec<String> {
            let set: BTreeSet<&str> = idx
                .iter()
                .filter_map(|&i| candidates.get(i as usize))
                .map(|c| c.source.as_str())
                .collect();
            set.into_iter().map(str::to_string).collect()
        };
        let mut out = Blocklist::default();
        let mut kept: Vec<(String, Vec<u32>)> = Vec::with_capacity(names.len());
        for (name, idx) in names {
            if let Some(e) = never.protects(&name) {
                out.removed.push(Removed {
                    sources: sources(&idx),
                    name,
                    protected_by: e.name.clone(),
                    reason: e.reason.clone(),
                });
            } else {
                kept.push((name, idx));
            }
        }
        out.removed.sort_by(|a, b| a.name.cmp(&b.name));
        kept.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let set: HashSet<&str> = kept.iter().map(|(n, _)| n.as_str()).collect();
        let mut entries = Vec::with_capacity(kept.len());
        for (name, idx) in &kept {
            if let Some(p) = parents(name).find(|p| set.contains(p)) {
                out.covered.push(Covered {
                    name: name.clone(),
                    parent: p.to_string(),
                });
            } else {
                entries.push(Entry {
                    name: name.clone(),
                    sources: sources(idx),
                });
            }
        }
        out.entries = entries;
        out.observed = kept.into_iter().map(|(n, _)| n).collect();
        Ok(out)
    }

    /// SHA-256 (hex) of the sorted entry names, one per line: identifies the list content.
    pub fn digest(&self) -> String {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        for e in &self.entries {
            h.update(e.name.as_bytes());
            h.update(b"\n");
        }
        crate::hex(&h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str) -> Candidate {
        Candidate {
            name: name.into(),
            source: "test".into(),
            location: "t:1:1".into(),
        }
    }

    #[test]
    fn builds_collapses_and_removes() {
        let l = Blocklist::build(
            &[
                c("WeChat.com."),
                c("a.wechat.com"),
                c("app-measurement.com"),
                c("kaspersky.com"),
                c("p16-tiktokcdn-com.akamaized.net"),
            ],
            &NeverBlock::shipped(),
        )
        .unwrap();
        let names: Vec<_> = l.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "kaspersky.com",
                "p16-tiktokcdn-com.akamaized.net",
                "wechat.com"
            ]
        );
        assert_eq!(l.removed.len(), 1);
        assert_eq!(l.removed[0].name, "app-measurement.com");
        assert_eq!(l.covered[0].name, "a.wechat.com");
        assert_eq!(l.digest().len(), 64);
    }

    #[test]
    fn invalid_name_has_location() {
        let e = Blocklist::build(&[c("bad name.com")], &NeverBlock::default()).unwrap_err();
        assert!(e.to_string().starts_with("t:1:1: invalid domain name"));
        assert_eq!(e.error.position, 4);
    }
}
