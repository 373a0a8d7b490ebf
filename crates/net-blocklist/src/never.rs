//! The shipped "never block" list of shared infrastructure (`data/never-block.txt`).

use crate::name::normalize;

/// How far a never-block entry protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protect {
    /// The name, its parents and all names below it.
    Tree,
    /// The name and its parents; customer names below it may be blocked.
    Suffix,
}

/// One never-block entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NeverEntry {
    /// The protected name.
    pub name: String,
    /// How far it protects.
    pub protect: Protect,
    /// Why (shown in reports).
    pub reason: String,
}

/// Error in a never-block list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("never-block list line {line}: {message}")]
pub struct NeverListError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The list shipped with interdict.
pub const SHIPPED: &str = include_str!("../data/never-block.txt");

/// A parsed never-block list.
#[derive(Debug, Clone, Default)]
pub struct NeverBlock {
    entries: Vec<NeverEntry>,
    /// Every protected name and each of its parents → index of the entry.
    covering: std::collections::HashMap<String, usize>,
    /// `tree:` names → index of the entry.
    trees: std::collections::HashMap<String, usize>,
}

impl NeverBlock {
    /// The shipped list.
    pub fn shipped() -> NeverBlock {
        // The shipped list is checked by a unit test.
        NeverBlock::parse(SHIPPED).unwrap_or_default()
    }

    /// Parses `tree:NAME # reason` / `suffix:NAME # reason` lines.
    pub fn parse(text: &str) -> Result<NeverBlock, NeverListError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let (body, reason) = match raw.split_once('#') {
                Some((b, r)) => (b.trim(), r.trim()),
                None => (raw.trim(), ""),
            };
            if body.is_empty() {
                continue;
            }
            let (kind, name) = body.split_once(':').ok_or_else(|| NeverListError {
                line,
                message: format!("expected `tree:NAME` or `suffix:NAME`, found `{body}`"),
            })?;
            let protect = match kind.trim() {
                "tree" => Protect::Tree,
                "suffix" => Protect::Suffix,
                k => {
                    return Err(NeverListError {
                        line,
                        message: format!("unknown kind `{k}`, expected tree or suffix"),
                    })
                }
            };
            let name = normalize(name.trim()).map_err(|e| NeverListError {
                line,
                message: e.to_string(),
            })?;
            entries.push(NeverEntry {
                name,
                protect,
                reason: reason.to_string(),
            });
        }
        let mut n = NeverBlock::default();
        for e in entries {
            n.push(e);
        }
        Ok(n)
    }

    fn push(&mut self, e: NeverEntry) {
        let i = self.entries.len();
        self.covering.entry(e.name.clone()).or_insert(i);
        for p in crate::name::parents(&e.name) {
            self.covering.entry(p.to_string()).or_insert(i);
        }
        if e.protect == Protect::Tree {
            self.trees.entry(e.name.clone()).or_insert(i);
        }
        self.entries.push(e);
    }

    /// Entries.
    pub fn entries(&self) -> &[NeverEntry] {
        &self.entries
    }

    /// Adds the entries of another list.
    pub fn extend(&mut self, other: NeverBlock) {
        for e in other.entries {
            self.push(e);
        }
    }

    /// The entry that forbids blocking `name` (normalised), if any.
    pub fn protects(&self, name: &str) -> Option<&NeverEntry> {
        // Blocking a protected name or one of its parents would take it down; a `tree:`
        // entry also protects everything below it.
        let i = self.covering.get(name).copied().or_else(|| {
            std::iter::once(name)
                .chain(crate::name::parents(name))
                .find_map(|p| self.trees.get(p).copied())
        })?;
        self.entries.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_list_parses() {
        let n = NeverBlock::parse(SHIPPED).unwrap();
        assert!(n.entries().len() > 40);
        assert!(n.entries().iter().all(|e| !e.reason.is_empty()));
    }

    #[test]
    fn protects_trees_and_suffixes() {
        let n = NeverBlock::shipped();
        assert_eq!(
            n.protects("app-measurement.com").unwrap().name,
            "app-measurement.com"
        );
        assert!(n.protects("x.app-measurement.com").is_some());
        assert!(n.protects("akamaized.net").is_some());
        assert!(n.protects("p16-tiktokcdn-com.akamaized.net").is_none());
        assert!(n.protects("co.uk").is_some());
        assert!(n.protects("kaspersky.co.uk").is_none());
        assert!(n.protects("wechat.com").is_none());
        // A parent of a protected name.
        assert!(n.protects("azure.com").is_some());
    }

    #[test]
    fn bad_lines() {
        assert_eq!(NeverBlock::parse("x\n").unwrap_err().line, 1);
        assert!(NeverBlock::parse("tree:*.x.com").is_err());
        assert!(NeverBlock::parse("branch:x.com").is_err());
    }
}
