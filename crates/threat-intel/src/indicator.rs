//! Indicators as interdict keeps them, and their import from STIX 2.1 bundles and MISP
//! events. Parsing never panics and never keeps more than the limits allow; every item
//! that is not imported is counted with its reason.

use std::collections::{BTreeMap, HashMap};

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pattern;
use crate::time::parse_rfc3339_ms;
use crate::value::{host_key, parse_cidr, sha256_key};

/// One indicator, whatever feed it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// STIX id (`indicator--…`) or `misp-attribute--<uuid>`.
    pub id: String,
    /// Where it was imported from (file name, TAXII collection URL, MISP event).
    pub source: String,
    /// The producer (`created_by_ref`, MISP organisation), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    /// Name or description to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// STIX `indicator_types` (a `benign` indicator never raises risk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicator_types: Vec<String>,
    /// Confidence 0–100, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    /// Start of validity, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<i64>,
    /// End of validity (exclusive), Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
    /// Revoked by its producer: never matches.
    #[serde(default)]
    pub revoked: bool,
    /// STIX `modified`, Unix ms (the latest version of an id wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<i64>,
    /// STIX pattern in the supported subset (MISP attributes are converted to one).
    pub pattern: String,
    /// A citation (first external reference URL), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl Indicator {
    /// Whether the indicator is in force at `now_ms` (not revoked, inside its window).
    pub fn active(&self, now_ms: i64) -> bool {
        !self.revoked
            && self.valid_from.is_none_or(|f| f <= now_ms)
            && self.valid_until.is_none_or(|u| now_ms < u)
    }
}

/// Limits on an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most objects read from one bundle (the rest is refused, not half-read).
    pub max_objects: u64,
    /// Most indicators kept from one import.
    pub max_indicators: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_objects: 2_000_000,
            max_indicators: 1_000_000,
        }
    }
}

/// What an import did, item by item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// `stix` or `misp`.
    pub format: String,
    /// Objects (STIX) or attributes (MISP) read.
    pub objects: u64,
    /// STIX indicator objects / MISP attributes of a matchable type.
    pub indicators: u64,
    /// Kept.
    pub imported: u64,
    /// Older versions of an id replaced by a later `modified`.
    pub superseded: u64,
    /// Revoked (kept, so that a revocation replaces the earlier version, but never matching).
    pub revoked: u64,
    /// Skipped, by reason (`unsupported:FOLLOWEDBY`, `pattern_type:yara`, `not_to_ids`, …).
    pub skipped: BTreeMap<String, u64>,
    /// The first few skipped items with their reason, for the operator.
    pub examples: Vec<String>,
}

impl ImportReport {
    fn skip(&mut self, key: impl Into<String>, example: impl FnOnce() -> String) {
        *self.skipped.entry(key.into()).or_default() += 1;
        if self.examples.len() < 20 {
            self.examples.push(example());
        }
    }

    /// Total skipped items.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// Why a whole import failed (nothing is imported then).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Not JSON, or not the expected shape.
    #[error("not a STIX 2.1 bundle or MISP event: {0}")]
    Shape(String),
    /// Over a limit.
    #[error("import over the limit: {0}")]
    Limit(String),
}

/// An import: indicators (latest version per id) and what happened.
#[derive(Debug, Clone, Default)]
pub struct Import {
    /// Indicators, in first-seen order.
    pub indicators: Vec<Indicator>,
    /// The report.
    pub report: ImportReport,
}

impl Import {
    fn push(&mut self, ind: Indicator, index: &mut HashMap<String, usize>) {
        match index.get(&ind.id) {
            Some(&i) => {
                self.report.superseded += 1;
                let old = &mut self.indicators[i];
                if ind.modified >= old.modified {
                    *old = ind;
                }
            }
            None => {
                index.insert(ind.id.clone(), self.indicators.len());
                self.indicators.push(ind);
            }
        }
    }

    fn finish(mut self) -> Import {
        self.report.imported = self.indicators.len() as u64;
        self.report.revoked = self.indicators.iter().filter(|i| i.revoked).count() as u64;
        self
    }
}

/// Detects the format and imports: a STIX bundle (`"type": "bundle"`) or MISP JSON.
pub fn import_json(bytes: &[u8], source: &str, limits: Limits) -> Result<Import, ImportError> {
    // Look at the first key cheaply: a bundle starts with `{` and has `"type":"bundle"`;
    // MISP has `Event`/`response`, or is an array of events.
    let head = &bytes[..bytes.len().min(4096)];
    let head = String::from_utf8_lossy(head);
    if head.contains("\"bundle\"") && !head.contains("\"Event\"") {
        import_stix(bytes, source, limits)
    } else {
        import_misp(bytes, source, limits)
    }
}

// ---------------------------------------------------------------- STIX

struct StixSink<'a> {
    source: &'a str,
    limits: Limits,
    import: Import,
    index: HashMap<String, usize>,
    saw_bundle: bool,
    error: Option<ImportError>,
}

impl StixSink<'_> {
    fn object(&mut self, v: Value) {
        self.import.report.objects += 1;
        let Some(o) = v.as_object() else {
            self.import.report.skip("not_an_object", || {
                "an element of `objects` is not a JSON object".into()
            });
            return;
        };
        if o.get("type").and_then(Value::as_str) != Some("indicator") {
            return;
        }
        self.import.report.indicators += 1;
        let id = o.get("id").and_then(Value::as_str).unwrap_or("");
        if !id.starts_with("indicator--") || id.len() > 200 {
            self.import.report.skip("bad_id", || {
                format!(
                    "indicator with id `{}`",
                    id.chars().take(80).collect::<String>()
                )
            });
            return;
        }
        let s = |k: &str| o.get(k).and_then(Value::as_str);
        let ts = |k: &str| s(k).and_then(parse_rfc3339_ms);
        let pattern_type = s("pattern_type").unwrap_or("stix");
        if pattern_type != "stix" {
            self.import.report.skip(
                format!(
                    "pattern_type:{}",
                    pattern_type.chars().take(32).collect::<String>()
                ),
                || format!("{id}: pattern_type `{pattern_type}` is not evaluated (only `stix`)"),
            );
            return;
        }
        let Some(pat) = s("pattern") else {
            self.import
                .report
                .skip("no_pattern", || format!("{id}: no `pattern`"));
            return;
        };
        if s("valid_from").is_some() && ts("valid_from").is_none() {
            self.import.report.skip("bad_timestamp", || {
                format!("{id}: `valid_from` is not an RFC 3339 timestamp")
            });
            return;
        }
        if s("valid_until").is_some() && ts("valid_until").is_none() {
            self.import.report.skip("bad_timestamp", || {
                format!("{id}: `valid_until` is not an RFC 3339 timestamp")
            });
            return;
        }
        let revoked = o.get("revoked").and_then(Value::as_bool).unwrap_or(false);
        if !revoked {
            if let Err(e) = pattern::parse(pat) {
                self.import.report.skip(e.key(), || format!("{id}: {e}"));
                return;
            }
        }
        if self.import.indicators.len() as u64 >= self.limits.max_indicators
            && !self.index.contains_key(id)
        {
            self.error = Some(ImportError::Limit(format!(
                "more than {} indicators in one import; split the bundle",
                self.limits.max_indicators
            )));
            return;
        }
        let ind = Indicator {
            id: id.to_string(),
            source: self.source.to_string(),
            producer: s("created_by_ref").map(str::to_string),
            name: s("name")
                .or(s("description"))
                .map(|n| n.chars().take(200).collect()),
            indicator_types: o
                .get("indicator_types")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .take(16)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            confidence: o
                .get("confidence")
                .and_then(Value::as_u64)
                .and_then(|c| u8::try_from(c).ok())
                .filter(|c| *c <= 100),
            valid_from: ts("valid_from"),
            valid_until: ts("valid_until"),
            revoked,
            modified: ts("modified"),
            pattern: pat.to_string(),
            reference: o
                .get("external_references")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find_map(|r| r.get("url").and_then(Value::as_str)))
                .map(str::to_string),
        };
        self.import.push(ind, &mut self.index);
    }
}

struct Objects<'s, 'a>(&'s mut StixSink<'a>);

impl<'de> DeserializeSeed<'de> for Objects<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Objects<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of STIX objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            if self.0.import.report.objects >= self.0.limits.max_objects {
                return Err(serde::de::Error::custom(format!(
                    "more than {} objects in one bundle",
                    self.0.limits.max_objects
                )));
            }
            self.0.object(v);
            if self.0.error.is_some() {
                return Err(serde::de::Error::custom("limit"));
            }
        }
        Ok(())
    }
}

struct BundleVisitor<'s, 'a>(&'s mut StixSink<'a>);

impl<'de> Visitor<'de> for BundleVisitor<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a STIX bundle object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                "type" => {
                    let t: Value = map.next_value()?;
                    self.0.saw_bundle = t.as_str() == Some("bundle");
                }
                "objects" => map.next_value_seed(Objects(self.0))?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Imports a STIX 2.1 (or 2.0) bundle, reading objects one at a time.
pub fn import_stix(bytes: &[u8], source: &str, limits: Limits) -> Result<Import, ImportError> {
    let mut sink = StixSink {
        source,
        limits,
        import: Import::default(),
        index: HashMap::new(),
        saw_bundle: false,
        error: None,
    };
    sink.import.report.format = "stix".into();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let r = serde::Deserializer::deserialize_map(&mut de, BundleVisitor(&mut sink))
        .and_then(|_| de.end());
    if let Some(e) = sink.error.take() {
        return Err(e);
    }
    if let Err(e) = r {
        let msg = e.to_string();
        return Err(if msg.contains("objects in one bundle") {
            ImportError::Limit(msg)
        } else {
            ImportError::Shape(format!(
                "{msg}; expected {{\"type\": \"bundle\", \"objects\": [...]}}"
            ))
        });
    }
    if !sink.saw_bundle {
        return Err(ImportError::Shape("`type` is not \"bundle\"".into()));
    }
    Ok(sink.import.finish())
}

// ---------------------------------------------------------------- MISP

/// Quotes a string as a STIX string literal.
pub fn stix_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn misp_truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "1" | "true" | "True"),
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    }
}

/// Converts one MISP attribute to a STIX pattern, or the reason it cannot be.
fn misp_pattern(ty: &str, value: &str) -> Result<String, &'static str> {
    Ok(match ty {
        "domain" | "hostname" => {
            let h = host_key(value).filter(|h| {
                h.contains('.')
                    && h.split('.').all(|l| {
                        !l.is_empty()
                            && l.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    })
            });
            format!(
                "[domain-name:value = {}]",
                stix_quote(&h.ok_or("malformed:domain")?)
            )
        }
        "url" => {
            if value.is_empty() || value.len() > 8192 || value.chars().any(char::is_whitespace) {
                return Err("malformed:url");
            }
            format!("[url:value = {}]", stix_quote(value))
        }
        "ip-dst" => {
            let c = parse_cidr(value).ok_or("malformed:ip-dst")?;
            let field = if c.addr.is_ipv4() {
                "ipv4-addr"
            } else {
                "ipv6-addr"
            };
            let full = if c.addr.is_ipv4() { 32 } else { 128 };
            if c.prefix == full {
                format!("[{field}:value = '{}']", c.addr)
            } else {
                format!("[{field}:value ISSUBSET '{}/{}']", c.addr, c.prefix)
            }
        }
        "sha256" => format!(
            "[file:hashes.'SHA-256' = '{}']",
            sha256_key(value).ok_or("malformed:sha256")?
        ),
        "x509-fingerprint-sha256" => format!(
            "[x509-certificate:hashes.'SHA-256' = '{}']",
            sha256_key(value).ok_or("malformed:x509-fingerprint-sha256")?
        ),
        _ => return Err("unsupported_type"),
    })
}

/// Imports MISP JSON: one event (`{"Event": …}`), a search response (`{"response": [...]}`)
/// or an array of events. Attributes with `to_ids` false are counted and skipped.
pub fn import_misp(bytes: &[u8], source: &str, limits: Limits) -> Result<Import, ImportError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| ImportError::Shape(e.to_string()))?;
    let events: Vec<&Value> = match &v {
        Value::Object(o) if o.contains_key("Event") => vec![&o["Event"]],
        Value::Object(o) if o.get("response").is_some_and(Value::is_array) => o["response"]
            .as_array()
            .map(|a| a.iter().map(|e| e.get("Event").unwrap_or(e)).collect())
            .unwrap_or_default(),
        Value::Array(a) => a.iter().map(|e| e.get("Event").unwrap_or(e)).collect(),
        Value::Object(o) if o.contains_key("Attribute") => vec![&v],
        _ => return Err(ImportError::Shape(
            "expected a MISP event ({\"Event\": {...}}), a search response or an array of events"
                .into(),
        )),
    };
    let mut imp = Import::default();
    imp.report.format = "misp".into();
    let mut index = HashMap::new();
    for ev in events {
        let info = ev.get("info").and_then(Value::as_str).unwrap_or("");
        let org = ev
            .get("Orgc")
            .and_then(|o| o.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let ev_uuid = ev.get("uuid").and_then(Value::as_str).unwrap_or("");
        let mut attrs: Vec<&Value> = ev
            .get("Attribute")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        if let Some(objs) = ev.get("Object").and_then(Value::as_array) {
            for o in objs {
                if let Some(a) = o.get("Attribute").and_then(Value::as_array) {
                    attrs.extend(a.iter());
                }
            }
        }
        for a in attrs {
            imp.report.objects += 1;
            if imp.report.objects > limits.max_objects {
                return Err(ImportError::Limit(format!(
                    "more than {} MISP attributes",
                    limits.max_objects
                )));
            }
            let ty = a.get("type").and_then(Value::as_str).unwrap_or("");
            let val = a.get("value").and_then(Value::as_str).unwrap_or("");
            let uuid = a.get("uuid").and_then(Value::as_str).unwrap_or("");
            let label = || {
                format!(
                    "{ty} `{}` ({uuid})",
                    val.chars().take(80).collect::<String>()
                )
            };
            let pat = match misp_pattern(ty, val) {
                Ok(p) => p,
                Err("unsupported_type") => {
                    imp.report.skip(
                        format!("misp_type:{}", ty.chars().take(40).collect::<String>()),
                        || format!("{}: attribute type not matched by interdict", label()),
                    );
                    continue;
                }
                Err(reason) => {
                    imp.report.indicators += 1;
                    imp.report
                        .skip(reason, || format!("{}: malformed value", label()));
                    continue;
                }
            };
            imp.report.indicators += 1;
            if !misp_truthy(a.get("to_ids")) {
                imp.report
                    .skip("not_to_ids", || format!("{}: to_ids is false", label()));
                continue;
            }
            if uuid.is_empty() || uuid.len() > 64 {
                imp.report
                    .skip("bad_id", || format!("{}: no uuid", label()));
                continue;
            }
            if imp.indicators.len() as u64 >= limits.max_indicators {
                return Err(ImportError::Limit(format!(
                    "more than {} indicators",
                    limits.max_indicators
                )));
            }
            let secs = |k: &str| {
                a.get(k)
                    .and_then(|t| {
                        t.as_str()
                            .and_then(|s| s.parse::<i64>().ok())
                            .or_else(|| t.as_i64())
                    })
                    .map(|s| s.saturating_mul(1000))
            };
            let ind = Indicator {
                id: format!("misp-attribute--{uuid}"),
                source: if ev_uuid.is_empty() {
                    source.to_string()
                } else {
                    format!("{source} (MISP event {ev_uuid})")
                },
                producer: org.clone(),
                name: Some(if info.is_empty() {
                    ty.to_string()
                } else {
                    info.chars().take(200).collect()
                }),
                indicator_types: Vec::new(),
                confidence: None,
                valid_from: a
                    .get("first_seen")
                    .and_then(Value::as_str)
                    .and_then(parse_rfc3339_ms),
                valid_until: None,
                revoked: misp_truthy(a.get("deleted")),
                modified: secs("timestamp"),
                pattern: pat,
                reference: None,
            };
            imp.push(ind, &mut index);
        }
    }
    Ok(imp.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLE: &str = r#"{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[
      {"type":"identity","spec_version":"2.1","id":"identity--1","name":"x"},
      {"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","pattern":"[domain-name:value = 'evil.example']","pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z","confidence":80,"external_references":[{"source_name":"x","url":"https://cert.example/1"}]},
      {"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","modified":"2017-04-06T20:03:48.000Z","pattern":"[domain-name:value = 'evil2.example']","pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z"},
      {"type":"indicator","id":"indicator--2","pattern":"[domain-name:value = 'x'] FOLLOWEDBY [domain-name:value = 'y']","pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z"},
      {"type":"indicator","id":"indicator--3","pattern":"rule x {}","pattern_type":"yara","valid_from":"2016-01-01T00:00:00Z"},
      {"type":"x-custom","id":"x-custom--1","anything":[1,2,3]}
    ]}"#;

    #[test]
    fn stix_bundle() {
        let i = import_json(BUNDLE.as_bytes(), "test.json", Limits::default()).unwrap();
        assert_eq!(i.report.objects, 6);
        assert_eq!(i.report.indicators, 4);
        assert_eq!(i.report.imported, 1);
        assert_eq!(i.report.superseded, 1);
        assert_eq!(
            i.indicators[0].pattern,
            "[domain-name:value = 'evil2.example']"
        );
        assert_eq!(i.report.skipped["unsupported:FOLLOWEDBY"], 1);
        assert_eq!(i.report.skipped["pattern_type:yara"], 1);
        assert!(i.indicators[0].active(1_500_000_000_000));
        assert!(!i.indicators[0].active(1_000_000_000_000));
    }

    #[test]
    fn stix_limits_and_garbage() {
        let e = import_stix(
            BUNDLE.as_bytes(),
            "t",
            Limits {
                max_objects: 3,
                max_indicators: 10,
            },
        )
        .unwrap_err();
        assert!(matches!(e, ImportError::Limit(_)), "{e}");
        assert!(matches!(
            import_stix(
                b"{\"type\":\"bundle\",\"objects\":[",
                "t",
                Limits::default()
            ),
            Err(ImportError::Shape(_))
        ));
        assert!(matches!(
            import_stix(b"[]", "t", Limits::default()),
            Err(ImportError::Shape(_))
        ));
        assert!(matches!(
            import_stix(b"{\"type\":\"report\"}", "t", Limits::default()),
            Err(ImportError::Shape(_))
        ));
    }

    #[test]
    fn a_million_objects_is_read_one_at_a_time_and_bounded() {
        let mut b = String::from("{\"type\":\"bundle\",\"id\":\"bundle--1\",\"objects\":[");
        for i in 0..1_000_000 {
            if i > 0 {
                b.push(',');
            }
            b.push_str("{\"type\":\"x-note\"}");
        }
        b.push_str("]}");
        let i = import_stix(b.as_bytes(), "big", Limits::default()).unwrap();
        assert_eq!(i.report.objects, 1_000_000);
        assert_eq!(i.report.imported, 0);
        let e = import_stix(
            b.as_bytes(),
            "big",
            Limits {
                max_objects: 999_999,
                max_indicators: 10,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("more than 999999 objects"), "{e}");
    }

    #[test]
    fn misp_event() {
        let ev = r#"{"Event":{"uuid":"ev-1","info":"Phishing kit","Orgc":{"name":"CERT-X"},"Attribute":[
          {"type":"domain","value":"Bad.Example.","to_ids":true,"uuid":"a1"},
          {"type":"hostname","value":"not a host","to_ids":true,"uuid":"a2"},
          {"type":"ip-dst","value":"203.0.113.0/24","to_ids":"1","uuid":"a3"},
          {"type":"url","value":"http://bad.example/x","to_ids":false,"uuid":"a4"},
          {"type":"sha256","value":"zz","to_ids":true,"uuid":"a5"},
          {"type":"comment","value":"hello","uuid":"a6"}],
          "Object":[{"Attribute":[{"type":"x509-fingerprint-sha256","value":"AA:BB","to_ids":true,"uuid":"a7"},
                                  {"type":"sha256","value":"ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB","to_ids":true,"uuid":"a8","deleted":true}]}]}}"#;
        let i = import_json(ev.as_bytes(), "misp.json", Limits::default()).unwrap();
        assert_eq!(i.report.format, "misp");
        assert_eq!(i.report.objects, 8);
        assert_eq!(i.report.imported, 3);
        assert_eq!(i.report.revoked, 1);
        assert_eq!(i.report.skipped["malformed:domain"], 1);
        assert_eq!(i.report.skipped["malformed:sha256"], 1);
        assert_eq!(i.report.skipped["malformed:x509-fingerprint-sha256"], 1);
        assert_eq!(i.report.skipped["not_to_ids"], 1);
        assert_eq!(i.report.skipped["misp_type:comment"], 1);
        assert_eq!(
            i.indicators[0].pattern,
            "[domain-name:value = 'bad.example']"
        );
        assert_eq!(
            i.indicators[1].pattern,
            "[ipv4-addr:value ISSUBSET '203.0.113.0/24']"
        );
        assert_eq!(i.indicators[0].producer.as_deref(), Some("CERT-X"));
        for ind in &i.indicators {
            pattern::parse(&ind.pattern).unwrap();
        }
    }
}
