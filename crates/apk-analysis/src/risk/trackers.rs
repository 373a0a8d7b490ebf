//! Exodus-compatible tracker detection, compiled once.
//!
//! Semantics (exodus-core `static_analysis.py`): every `code_signature` is a Python regex `search`ed,
//! unanchored, against each class name; `.` is a wildcard (so `com.appsflyer.` matches `com/appsflyer/x`
//! and `comXappsflyerY`); signatures of 3 characters or fewer are skipped. Exodus takes class names from
//! `dexdump` with `[A-Z]+((?:\w+\/)+\w+)`, which cuts a name at the first character that is not a word
//! character or `/` (so inner classes are cut at `$`): [`exodus_class_name`] does the same on dotted names.
//!
//! Matching: a signature made only of literal characters, `.` and `|` (all of the Exodus database) is split
//! into its alternatives; each alternative contributes its most selective run of literal characters to one
//! Aho-Corasick automaton. A class name is scanned once by the automaton; only alternatives whose literal
//! occurs are verified with their compiled regex. Signatures using other regex syntax (possible in imported
//! databases) go to one [`regex::RegexSet`] run over every name. Network signatures are a `RegexSet` over
//! endpoint hosts (there are few hosts).

use std::collections::{BTreeMap, BTreeSet};

use aho_corasick::AhoCorasick;
use regex::{Regex, RegexSet};
use serde::Deserialize;

use super::model::{TrackerEvidence, TrackerMatch};

/// The built-in Exodus tracker database (ODbL 1.0, see `data/exodus-trackers.LICENSE.md`).
pub const BUILTIN_JSON: &str = include_str!("../../data/exodus-trackers.json");

/// One tracker record (the factual fields of the Exodus `/api/trackers` format).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct TrackerRecord {
    /// Exodus id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Regex over class names (`|`-separated alternatives).
    #[serde(default)]
    pub code_signature: String,
    /// Regex over host names.
    #[serde(default)]
    pub network_signature: String,
    /// Website.
    #[serde(default)]
    pub website: String,
    /// Categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Creation date in the Exodus database.
    #[serde(default)]
    pub creation_date: String,
}

/// Why a tracker file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TrackerDbError {
    /// Not JSON, or not the Exodus shape.
    #[error("not an Exodus tracker file: {0}")]
    Format(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TrackerList {
    /// Exodus API: `{"trackers": {"<id>": {...}}}`.
    Map(BTreeMap<String, RawRecord>),
    /// Our snapshot: `{"trackers": [{...}]}`.
    List(Vec<RawRecord>),
}

#[derive(Deserialize)]
struct RawRecord {
    #[serde(default)]
    id: Option<serde_json::Value>,
    name: String,
    #[serde(default)]
    code_signature: Option<String>,
    #[serde(default)]
    network_signature: Option<String>,
    #[serde(default)]
    website: Option<String>,
    #[serde(default)]
    categories: Vec<serde_json::Value>,
    #[serde(default)]
    creation_date: Option<String>,
}

#[derive(Deserialize)]
struct TrackerFile {
    trackers: TrackerList,
}

#[derive(Deserialize)]
struct TrackerListFile {
    trackers: Vec<RawRecord>,
}

/// Parses an Exodus tracker file: the API shape `{"trackers": {"<id>": {...}}}` or a list `{"trackers": [...]}`.
/// Categories may be strings or `{"name": ...}` objects.
pub fn parse_trackers(json: &str) -> Result<Vec<TrackerRecord>, TrackerDbError> {
    // The list shape first: it parses without the buffering an untagged enum needs (the built-in file).
    let raw: Vec<(Option<String>, RawRecord)> = match serde_json::from_str::<TrackerListFile>(json)
    {
        Ok(f) => f.trackers.into_iter().map(|v| (None, v)).collect(),
        Err(_) => {
            let file: TrackerFile =
                serde_json::from_str(json).map_err(|e| TrackerDbError::Format(e.to_string()))?;
            match file.trackers {
                TrackerList::Map(m) => m.into_iter().map(|(k, v)| (Some(k), v)).collect(),
                TrackerList::List(l) => l.into_iter().map(|v| (None, v)).collect(),
            }
        }
    };
    let mut out = Vec::with_capacity(raw.len());
    for (key, r) in raw {
        let id = match &r.id {
            Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .or_else(|| key.as_deref().and_then(|k| k.parse().ok()))
        .ok_or_else(|| TrackerDbError::Format(format!("tracker {:?} has no numeric id", r.name)))?;
        let categories = r
            .categories
            .iter()
            .filter_map(|c| match c {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Object(o) => {
                    o.get("name").and_then(|n| n.as_str()).map(str::to_owned)
                }
                _ => None,
            })
            .collect();
        out.push(TrackerRecord {
            id,
            name: r.name,
            code_signature: r.code_signature.unwrap_or_default(),
            network_signature: r.network_signature.unwrap_or_default(),
            website: r.website.unwrap_or_default(),
            categories,
            creation_date: r.creation_date.unwrap_or_default(),
        });
    }
    out.sort_by_key(|t| t.id);
    Ok(out)
}

/// The built-in records.
pub fn builtin_records() -> Vec<TrackerRecord> {
    parse_trackers(BUILTIN_JSON).unwrap_or_default()
}

/// Merges `extra` into `base`: a record with the same id replaces the base one.
pub fn merge_records(base: &mut Vec<TrackerRecord>, extra: Vec<TrackerRecord>) {
    for r in extra {
        match base.iter_mut().find(|b| b.id == r.id) {
            Some(b) => *b = r,
            None => base.push(r),
        }
    }
    base.sort_by_key(|t| t.id);
}

/// One token of a simple pattern: a literal character or `.` (any character but a newline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
}

/// An alternative made only of literal characters and `.` wildcards (all of the Exodus code signatures, and
/// network signatures whose only escapes are `\.`): matched without a regex engine.
struct Simple {
    tracker: usize,
    /// The alternative as written in the database.
    pattern: String,
    tokens: Vec<Tok>,
    /// Number of tokens before the prefilter literal.
    piece_at: usize,
}

impl Simple {
    /// Parses a simple alternative; `None` when it uses other regex syntax.
    ///
    /// With `network` (host-name signatures), escaped punctuation (`\.`, `\-`, `\/`, `\:`) and plain `:`
    /// and `/` are literals, and a leading or trailing `.*` is dropped (a no-op in an unanchored search).
    /// Code signatures stay strict (any escape goes to the regex path), so their literal pieces never contain
    /// a package separator.
    fn parse(tracker: usize, alt: &str, network: bool) -> Option<Simple> {
        let mut body = alt;
        if network {
            body = body.strip_prefix(".*").unwrap_or(body);
            if !body.ends_with("\\.*") {
                body = body.strip_suffix(".*").unwrap_or(body);
            }
        }
        let mut tokens = Vec::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '.' => tokens.push(Tok::Any),
                '\\' => match chars.next() {
                    Some(e @ ('.' | '-' | '/' | ':')) if network => tokens.push(Tok::Lit(e)),
                    _ => return None,
                },
                ':' | '/' if network => tokens.push(Tok::Lit(c)),
                c if c.is_alphanumeric() || c == '_' || c == '-' => tokens.push(Tok::Lit(c)),
                _ => return None,
            }
        }
        Some(Simple {
            tracker,
            pattern: alt.to_owned(),
            tokens,
            piece_at: 0,
        })
    }

    /// The literal run used to prefilter: the longest run of literal tokens, preferring runs that are not
    /// common package words; later runs win ties (they are more specific). Sets `piece_at`.
    fn choose_piece(&mut self) -> Option<String> {
        let mut runs: Vec<(usize, String)> = Vec::new();
        let mut cur: Option<(usize, String)> = None;
        for (i, t) in self.tokens.iter().enumerate() {
            match (t, cur.as_mut()) {
                (Tok::Lit(c), Some((_, s))) => s.push(*c),
                (Tok::Lit(c), None) => cur = Some((i, c.to_string())),
                (Tok::Any, _) => runs.extend(cur.take()),
            }
        }
        runs.extend(cur.take());
        let (at, piece) = runs
            .into_iter()
            .enumerate()
            .max_by_key(|(i, (_, p))| (!COMMON_PIECES.contains(&p.as_str()), p.chars().count(), *i))
            .map(|(_, r)| r)?;
        self.piece_at = at;
        Some(piece)
    }

    /// Whether the pattern matches `text` starting at byte `start`.
    fn matches_at(&self, text: &str, start: usize) -> bool {
        let Some(rest) = text.get(start..) else {
            return false;
        };
        let mut chars = rest.chars();
        self.tokens.iter().all(|t| match (t, chars.next()) {
            (Tok::Lit(p), Some(c)) => *p == c,
            (Tok::Any, Some(c)) => c != '\n',
            (_, None) => false,
        })
    }

    /// Whether the pattern matches in `text` with its literal piece found at byte `piece_start`.
    fn matches_around(&self, text: &str, piece_start: usize) -> bool {
        // Step back `piece_at` characters.
        let Some(before) = text.get(..piece_start) else {
            return false;
        };
        let mut start = piece_start;
        let mut back = before.char_indices().rev();
        for _ in 0..self.piece_at {
            match back.next() {
                Some((i, _)) => start = i,
                None => return false,
            }
        }
        self.matches_at(text, start)
    }
}

/// Simple patterns behind one Aho-Corasick automaton of their literal pieces.
#[derive(Default)]
struct LiteralSet {
    patterns: Vec<Simple>,
    automaton: Option<AhoCorasick>,
}

impl LiteralSet {
    /// `kind`: the automaton kind (an NFA builds in under a millisecond; a DFA searches faster but takes
    /// several milliseconds to build, more than it saves with the package cache of [`TrackerScan::class`]).
    fn build(
        mut patterns: Vec<Simple>,
        kind: aho_corasick::AhoCorasickKind,
        notes: &mut Vec<String>,
    ) -> LiteralSet {
        let mut literals = Vec::with_capacity(patterns.len());
        patterns.retain_mut(|p| match p.choose_piece() {
            Some(piece) => {
                literals.push(piece);
                true
            }
            None => {
                notes.push(format!(
                    "signature alternative {:?} has no literal character; skipped",
                    p.pattern
                ));
                false
            }
        });
        let automaton = if literals.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::Standard)
                .kind(Some(kind))
                .build(&literals)
                .map_err(|e| notes.push(format!("tracker prefilter: {e}")))
                .ok()
        };
        LiteralSet {
            patterns,
            automaton,
        }
    }

    /// Calls `hit` with the index of every pattern that matches `text` (each at most once per call).
    fn each_match<'s>(
        &'s self,
        text: &str,
        seen: &mut [u64],
        stamp: u64,
        mut hit: impl FnMut(&'s Simple),
    ) {
        let Some(ac) = &self.automaton else { return };
        // Most names contain no literal at all: the prefiltered `is_match` rejects them much faster than an
        // overlapping search would.
        if !ac.is_match(text) {
            return;
        }
        for m in ac.find_overlapping_iter(text) {
            let i = m.pattern().as_usize();
            let (Some(p), Some(slot)) = (self.patterns.get(i), seen.get_mut(i)) else {
                continue;
            };
            if *slot == stamp {
                continue;
            }
            if p.matches_around(text, m.start()) {
                *slot = stamp;
                hit(p);
            }
        }
    }
}

/// Every signature, compiled once.
pub struct TrackerMatcher {
    records: Vec<TrackerRecord>,
    code: LiteralSet,
    /// Code signatures with regex syntax beyond literals, `.` and `|`: (tracker, pattern).
    code_complex: Vec<(usize, String)>,
    code_complex_set: Option<RegexSet>,
    network: LiteralSet,
    /// Network signature alternatives with other regex syntax (`.*`, `[0-9]*`, ...), or whole signatures
    /// that cannot be split at `|`.
    network_complex: Vec<(usize, String, Regex)>,
    /// Signatures that were skipped, and why.
    pub notes: Vec<String>,
}

impl std::fmt::Debug for TrackerMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackerMatcher")
            .field("trackers", &self.records.len())
            .field("code_alternatives", &self.code.patterns.len())
            .field("code_complex", &self.code_complex.len())
            .field("network_alternatives", &self.network.patterns.len())
            .field("network_complex", &self.network_complex.len())
            .finish()
    }
}

/// Exodus skips signatures this short (`len(signature) <= 3`).
const MIN_SIGNATURE_LEN: usize = 4;
/// Literal runs that occur in most class names make poor prefilters.
const COMMON_PIECES: &[&str] = &[
    "com", "org", "net", "io", "sdk", "api", "android", "google", "internal", "lib", "core", "app",
    "java",
];

/// Whether a `|` appears inside a `[...]` class (then splitting at `|` would be wrong).
fn has_bar_in_class(sig: &str) -> bool {
    let mut in_class = false;
    let mut escaped = false;
    for c in sig.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '[' => in_class = true,
            ']' => in_class = false,
            '|' if in_class => return true,
            _ => {}
        }
    }
    false
}

/// Splits a signature into simple alternatives, or `None` when any part needs a regex engine.
fn simple_alternatives(tracker: usize, sig: &str, escaped_dot: bool) -> Option<Vec<Simple>> {
    sig.split('|')
        .map(|alt| Simple::parse(tracker, alt, escaped_dot))
        .collect()
}

impl TrackerMatcher {
    /// Compiles every signature of `records`.
    pub fn new(records: Vec<TrackerRecord>) -> TrackerMatcher {
        let mut notes = Vec::new();
        let mut code = Vec::new();
        let mut code_complex = Vec::new();
        let mut network = Vec::new();
        let mut network_complex = Vec::new();
        for (ti, t) in records.iter().enumerate() {
            let sig = t.code_signature.as_str();
            if sig.chars().count() >= MIN_SIGNATURE_LEN {
                match simple_alternatives(ti, sig, false) {
                    Some(alts) => {
                        for a in alts {
                            if a.tokens.is_empty() {
                                notes.push(format!(
                                    "tracker {} ({}): empty alternative in code_signature skipped (Python would match every class)",
                                    t.id, t.name
                                ));
                            } else {
                                code.push(a);
                            }
                        }
                    }
                    None if Regex::new(sig).is_ok() => code_complex.push((ti, sig.to_owned())),
                    None => notes.push(format!(
                        "tracker {} ({}): code_signature is not a valid regex; skipped",
                        t.id, t.name
                    )),
                }
            }
            let net = t.network_signature.as_str();
            if net.chars().count() >= MIN_SIGNATURE_LEN {
                // Alternatives can be split at `|` when no group or class could contain one; then only the
                // alternatives that need the regex engine are compiled (small regexes, built fast).
                let splittable = !net.contains('(') && !has_bar_in_class(net);
                let alts: Vec<&str> = if splittable {
                    net.split('|').collect()
                } else {
                    vec![net]
                };
                for alt in alts.into_iter().filter(|a| !a.is_empty()) {
                    match Simple::parse(ti, alt, true) {
                        Some(a) => network.push(a),
                        None => match Regex::new(alt) {
                            Ok(re) => network_complex.push((ti, alt.to_owned(), re)),
                            Err(_) => notes.push(format!(
                                "tracker {} ({}): network_signature {alt:?} is not a valid regex; skipped",
                                t.id, t.name
                            )),
                        },
                    }
                }
            }
        }
        let code_complex_set = (!code_complex.is_empty())
            .then(|| RegexSet::new(code_complex.iter().map(|(_, p)| p)).ok())
            .flatten();
        TrackerMatcher {
            records,
            code: LiteralSet::build(
                code,
                aho_corasick::AhoCorasickKind::ContiguousNFA,
                &mut notes,
            ),
            code_complex,
            code_complex_set,
            network: LiteralSet::build(
                network,
                aho_corasick::AhoCorasickKind::NoncontiguousNFA,
                &mut notes,
            ),
            network_complex,
            notes,
        }
    }

    /// The records this matcher was built from.
    pub fn records(&self) -> &[TrackerRecord] {
        &self.records
    }

    /// Starts an incremental scan (feed class names and hosts, then [`TrackerScan::finish`]).
    pub fn start(&self) -> TrackerScan<'_> {
        TrackerScan {
            m: self,
            hits: BTreeMap::new(),
            seen_code: vec![u64::MAX; self.code.patterns.len()],
            seen_net: vec![u64::MAX; self.network.patterns.len()],
            stamp: 0,
            pkg: String::new(),
            pkg_hits: Vec::new(),
            candidates: Vec::new(),
        }
    }

    /// Matches class names (dotted `com.a.B` or slashed `com/a/B`) and endpoint hosts in one go.
    pub fn scan<'a>(
        &self,
        classes: impl IntoIterator<Item = &'a str>,
        hosts: impl IntoIterator<Item = &'a str>,
    ) -> Vec<TrackerMatch> {
        let mut scan = self.start();
        for c in classes {
            scan.class(c);
        }
        for h in hosts {
            scan.host(h);
        }
        scan.finish()
    }
}

/// An incremental tracker scan: evidence so far.
pub struct TrackerScan<'m> {
    m: &'m TrackerMatcher,
    /// (tracker, kind, pattern) → matched names (dotted) or hosts.
    hits: BTreeMap<(usize, &'static str, &'m str), BTreeSet<String>>,
    /// Per code pattern: the last name (global index) it matched, so a name counts once per pattern.
    seen_code: Vec<u64>,
    seen_net: Vec<u64>,
    stamp: u64,
    /// The package part (with its trailing separator) of the last class name, and the literal pieces found
    /// in it: (pattern, byte offset).
    pkg: String,
    pkg_hits: Vec<(usize, usize)>,
    /// Scratch list of candidate (pattern, byte offset) pairs.
    candidates: Vec<(usize, usize)>,
}

impl std::fmt::Debug for TrackerScan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackerScan")
            .field("hits", &self.hits.len())
            .finish()
    }
}

impl<'m> TrackerScan<'m> {
    fn next_stamp(&mut self) -> u64 {
        self.stamp = self.stamp.wrapping_add(1) % (u64::MAX - 1);
        self.stamp
    }

    /// Matches one class or type name, dotted or slashed (the slashed form is what Exodus matches; code
    /// signatures have no literal `.` or `/`, so both forms give the same result). The name is first
    /// reduced with [`exodus_class_name`].
    ///
    /// A signature's literal piece never contains a separator, so it lies inside one segment of the name.
    /// The pieces found in the package part are cached: DEX type lists are sorted, so consecutive names
    /// usually share their package and only the simple name is scanned.
    pub fn class(&mut self, full: &str) {
        let Some((name, last_sep)) = reduce_class_name(full) else {
            return;
        };
        let m = self.m;
        let Some(ac) = &m.code.automaton else {
            self.complex(name);
            return;
        };
        let split = last_sep.saturating_add(1);
        let (pkg, simple) = name.split_at_checked(split).unwrap_or((name, ""));
        if pkg != self.pkg {
            self.pkg.clear();
            self.pkg.push_str(pkg);
            self.pkg_hits.clear();
            if ac.is_match(pkg) {
                self.pkg_hits.extend(
                    ac.find_overlapping_iter(pkg)
                        .map(|h| (h.pattern().as_usize(), h.start())),
                );
            }
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        candidates.extend_from_slice(&self.pkg_hits);
        if ac.is_match(simple) {
            candidates.extend(
                ac.find_overlapping_iter(simple)
                    .map(|h| (h.pattern().as_usize(), h.start().saturating_add(split))),
            );
        }
        if !candidates.is_empty() {
            let stamp = self.next_stamp();
            for &(pi, at) in &candidates {
                let (Some(p), Some(seen)) = (m.code.patterns.get(pi), self.seen_code.get_mut(pi))
                else {
                    continue;
                };
                if *seen != stamp && p.matches_around(name, at) {
                    *seen = stamp;
                    self.hits
                        .entry((p.tracker, "code", p.pattern.as_str()))
                        .or_default()
                        .insert(name.replace('/', "."));
                }
            }
        }
        self.candidates = candidates;
        self.complex(name);
    }

    /// Code signatures that need the regex engine (none in the Exodus database).
    fn complex(&mut self, name: &str) {
        let m = self.m;
        if let Some(set) = &m.code_complex_set {
            for i in set.matches(name).iter() {
                if let Some((ti, p)) = m.code_complex.get(i) {
                    self.hits
                        .entry((*ti, "code", p.as_str()))
                        .or_default()
                        .insert(name.replace('/', "."));
                }
            }
        }
    }

    /// Matches one endpoint host name.
    pub fn host(&mut self, host: &str) {
        let stamp = self.next_stamp();
        let m = self.m;
        let hits = &mut self.hits;
        m.network.each_match(host, &mut self.seen_net, stamp, |p| {
            hits.entry((p.tracker, "network", p.pattern.as_str()))
                .or_default()
                .insert(host.to_owned());
        });
        for (ti, p, re) in &m.network_complex {
            if re.is_match(host) {
                hits.entry((*ti, "network", p.as_str()))
                    .or_default()
                    .insert(host.to_owned());
            }
        }
    }

    /// The trackers found, sorted by name, each with its evidence.
    pub fn finish(self) -> Vec<TrackerMatch> {
        let mut by_tracker: BTreeMap<usize, Vec<TrackerEvidence>> = BTreeMap::new();
        for ((ti, kind, pattern), names) in self.hits {
            by_tracker.entry(ti).or_default().push(TrackerEvidence {
                kind,
                pattern: pattern.to_owned(),
                count: names.len() as u64,
                matched: names.into_iter().take(5).collect(),
            });
        }
        let mut out: Vec<TrackerMatch> = by_tracker
            .into_iter()
            .filter_map(|(ti, evidence)| {
                let r = self.m.records.get(ti)?;
                Some(TrackerMatch {
                    id: r.id,
                    name: r.name.clone(),
                    categories: r.categories.clone(),
                    website: (!r.website.is_empty()).then(|| r.website.clone()),
                    evidence,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        out
    }
}

/// ASCII bytes that continue a class name for Exodus: word characters and the separators `.` and `/`.
const NAME_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'/';
        b += 1;
    }
    t
};

/// The part of a class name Exodus sees: cut at the first character that is not a word character or a
/// package separator (`.` or `/`), trailing separators removed; `None` when no package separator remains
/// (Exodus's extraction regex `[A-Z]+((?:\w+\/)+\w+)` needs one).
pub fn exodus_class_name(name: &str) -> Option<&str> {
    reduce_class_name(name).map(|(cut, _)| cut)
}

/// [`exodus_class_name`] and the byte offset of its last separator.
fn reduce_class_name(name: &str) -> Option<(&str, usize)> {
    let sep = |c: char| c == '.' || c == '/';
    // ASCII fast path; the first non-ASCII byte hands over to the Unicode definition of a word character.
    let bytes = name.as_bytes();
    let mut end = bytes
        .iter()
        .position(|&b| !NAME_BYTE[usize::from(b)])
        .unwrap_or(name.len());
    if bytes.get(end).is_some_and(|b| !b.is_ascii()) {
        end = name
            .char_indices()
            .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || sep(c)))
            .map_or(name.len(), |(i, _)| i);
    }
    let cut = name.get(..end)?.trim_end_matches(sep);
    let last_sep = cut.bytes().rposition(|b| b == b'.' || b == b'/')?;
    (last_sep > 0).then_some((cut, last_sep))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u32, code: &str, net: &str) -> TrackerRecord {
        TrackerRecord {
            id,
            name: format!("T{id}"),
            code_signature: code.into(),
            network_signature: net.into(),
            website: String::new(),
            categories: vec!["Analytics".into()],
            creation_date: String::new(),
        }
    }

    #[test]
    fn builtin_loads() {
        let r = builtin_records();
        assert_eq!(r.len(), 432);
        let m = TrackerMatcher::new(r);
        assert!(m.notes.is_empty(), "{:?}", m.notes);
    }

    #[test]
    fn exodus_semantics() {
        let m = TrackerMatcher::new(vec![
            rec(1, "com.appsflyer.", ""),
            rec(2, "com.pgl|com.bytedance", ""),
            rec(3, "abc", ""),
            rec(4, ".tealium.", "tealium\\.com"),
            rec(5, "com.x(y|z)", ""),
        ]);
        let found = m.scan(
            [
                "com.appsflyer.AppsFlyerLib",
                "comXappsflyerYZ",
                "com.pglxyz.Foo",
                "org.abc.Def",
                "net.tealium.A",
                "com.xz.A$B",
                "com.other.Thing",
            ],
            ["collect.tealium.com", "example.org"],
        );
        let ids: Vec<u32> = found.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![1, 2, 4, 5]);
        // `.` is a wildcard, so `comXappsflyerY` matches (but has no package separator: Exodus never sees it).
        assert_eq!(found[0].evidence[0].count, 1);
        assert_eq!(found[2].evidence.len(), 2);
        assert_eq!(found[3].evidence[0].matched, vec!["com.xz.A".to_owned()]);
    }

    proptest::proptest! {
        /// The literal-prefiltered matcher agrees with the regex engine on every pattern and name.
        #[test]
        fn simple_matcher_agrees_with_regex(pat in "[ab.]{1,6}", name in "[abé.$\n]{0,12}") {
            proptest::prop_assume!(pat.contains(['a', 'b']));
            let re = Regex::new(&pat).unwrap();
            let m = TrackerMatcher::new(vec![rec(1, &format!("{pat}|zzzz"), "")]);
            let mut seen = vec![u64::MAX; m.code.patterns.len()];
            let mut ours = false;
            m.code.each_match(&name, &mut seen, 0, |p| ours |= p.pattern == pat);
            proptest::prop_assert_eq!(ours, re.is_match(&name));
        }

        /// Scanning a sorted list of class names (with the package cache) finds exactly the names the regex
        /// engine matches after Exodus's name reduction.
        #[test]
        fn class_scan_agrees_with_regex(
            pat in "[ab.]{1,6}",
            mut names in proptest::collection::vec("[ab]{1,3}(/[abé]{0,3}){1,3}(\\$[ab])?", 0..12),
        ) {
            proptest::prop_assume!(pat.contains(['a', 'b']));
            names.sort();
            let re = Regex::new(&pat).unwrap();
            let expected: BTreeSet<String> = names
                .iter()
                .filter_map(|n| exodus_class_name(n))
                .filter(|n| re.is_match(n))
                .map(|n| n.replace('/', "."))
                .collect();
            let m = TrackerMatcher::new(vec![rec(1, &format!("{pat}|zzzz"), "")]);
            let found = m.scan(names.iter().map(String::as_str), []);
            let got: BTreeSet<String> = found
                .iter()
                .flat_map(|t| t.evidence.iter())
                .filter(|e| e.count <= 5)
                .flat_map(|e| e.matched.iter().cloned())
                .collect();
            if expected.len() <= 5 {
                proptest::prop_assert_eq!(got, expected);
            } else {
                proptest::prop_assert_eq!(found[0].evidence[0].count as usize, expected.len());
            }
        }
    }

    #[test]
    fn network_signatures_split_safely() {
        let m = TrackerMatcher::new(vec![
            rec(1, "", "adservice\\.google\\..*|ads\\.example\\.com"),
            rec(2, "", "(x|y)\\.track\\.io"),
            rec(3, "", "mst[0-9]*\\.autonavi\\.com"),
            rec(
                4,
                "",
                ".*\\.estimote\\.com|54\\.243\\.73\\.253:8080/SilverPush/|cdn\\-lb\\.vungle\\.com",
            ),
        ]);
        assert_eq!(m.network_complex.len(), 2);
        let found = m.scan(
            [],
            [
                "adservice.google.fr",
                "ads.example.com",
                "y.track.io",
                "mst12.autonavi.com",
                "ads-example.com",
                "api.estimote.com",
                "estimote.com",
                "cdn-lb.vungle.com",
            ],
        );
        let counts: Vec<(u32, u64)> = found
            .iter()
            .map(|t| (t.id, t.evidence.iter().map(|e| e.count).sum()))
            .collect();
        assert_eq!(counts, vec![(1, 2), (2, 1), (3, 1), (4, 2)]);
        assert!(has_bar_in_class("a[|]b") && !has_bar_in_class("a\\[|]"));
    }

    #[test]
    fn class_name_reduction() {
        assert_eq!(exodus_class_name("com.a.B$C"), Some("com.a.B"));
        assert_eq!(exodus_class_name("Foo"), None);
        assert_eq!(exodus_class_name("a.-b"), None);
        assert_eq!(exodus_class_name("ä.b"), Some("ä.b"));
        assert_eq!(exodus_class_name("com/a/B$1"), Some("com/a/B"));
    }

    #[test]
    fn api_shape() {
        let json = r#"{"trackers": {"7": {"name": "X", "code_signature": "com.x.", "network_signature": "",
            "website": "", "categories": [{"name": "Advertisement"}], "documentation": []}}}"#;
        let r = parse_trackers(json).unwrap();
        assert_eq!(r[0].id, 7);
        assert_eq!(r[0].categories, vec!["Advertisement".to_owned()]);
        assert!(parse_trackers("[]").is_err());
    }
}
