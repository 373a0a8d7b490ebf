//! Partner lists: another jurisdiction's list of app ids or vendors, turned into `review`
//! rules that carry their provenance.

use crate::date::Date;
use crate::model::Platform;
use crate::slug;
use serde_json::Value;
use std::fmt::Write as _;

/// Input format of a partner list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// CSV with a header row; columns `app_id`, `vendor`, `platform`, `name`, `reference`.
    Csv,
    /// JSON array of objects with the same keys (or `{"entries": [...]}`).
    Json,
}

/// One entry of a partner list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListEntry {
    /// App id (exact or glob).
    pub app_id: Option<String>,
    /// Vendor name.
    pub vendor: Option<String>,
    /// Platform.
    pub platform: Option<Platform>,
    /// Human name.
    pub name: Option<String>,
    /// References (URL, document id).
    pub references: Vec<String>,
}

/// A partner-list error with its location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ListError {
    /// File name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Splits CSV text (RFC 4180 quoting) into records.
/// (line, fields) of each record.
type Records = Vec<(usize, Vec<String>)>;

fn csv_records(src: &str) -> Result<Records, (usize, String)> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut line = 1usize;
    let mut rec_line = 1usize;
    let mut chars = src.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line = line.saturating_add(1);
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => in_quotes = true,
            ',' => fields.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                out.push((rec_line, std::mem::take(&mut fields)));
                line = line.saturating_add(1);
                rec_line = line;
                any = false;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err((rec_line, "unterminated quoted field".into()));
    }
    if any {
        fields.push(field);
        out.push((rec_line, fields));
    }
    Ok(out)
}

fn entry_from(get: &dyn Fn(&str) -> Option<String>) -> Result<ListEntry, String> {
    let nonempty = |k: &str| {
        get(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let platform = match nonempty("platform") {
        None => None,
        Some(p) => Some(Platform::parse(&p).ok_or_else(|| format!("unknown platform `{p}`"))?),
    };
    let references = nonempty("reference")
        .or_else(|| nonempty("references"))
        .map(|r| {
            r.split(['|', ';'])
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let e = ListEntry {
        app_id: nonempty("app_id"),
        vendor: nonempty("vendor"),
        platform,
        name: nonempty("name"),
        references,
    };
    if e.app_id.is_none() && e.vendor.is_none() {
        return Err("entry has neither `app_id` nor `vendor`".into());
    }
    Ok(e)
}

/// Parses a partner list.
pub fn parse_list(src: &str, file: &str, format: ListFormat) -> Result<Vec<ListEntry>, ListError> {
    let err = |line: usize, column: usize, message: String| ListError {
        file: file.to_string(),
        line,
        column,
        message,
    };
    match format {
        ListFormat::Csv => {
            let recs = csv_records(src).map_err(|(l, m)| err(l, 1, m))?;
            let mut it = recs
                .into_iter()
                .filter(|(_, f)| !(f.len() == 1 && f.first().is_some_and(|s| s.trim().is_empty())));
            let Some((_, header)) = it.next() else {
                return Ok(Vec::new());
            };
            let header: Vec<String> = header
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect();
            const KNOWN: [&str; 6] = [
                "app_id",
                "vendor",
                "platform",
                "name",
                "reference",
                "references",
            ];
            if let Some(bad) = header.iter().find(|h| !KNOWN.contains(&h.as_str())) {
                return Err(err(
                    1,
                    1,
                    format!("unknown column `{bad}`; expected {}", KNOWN.join(", ")),
                ));
            }
            let mut out = Vec::new();
            for (line, fields) in it {
                let get = |k: &str| {
                    header
                        .iter()
                        .position(|h| h == k)
                        .and_then(|i| fields.get(i).cloned())
                };
                out.push(entry_from(&get).map_err(|m| err(line, 1, m))?);
            }
            Ok(out)
        }
        ListFormat::Json => {
            let v: Value = serde_json::from_str(src)
                .map_err(|e| err(e.line().max(1), e.column().max(1), e.to_string()))?;
            let arr = match &v {
                Value::Array(a) => a,
                Value::Object(o) => match o.get("entries") {
                    Some(Value::Array(a)) => a,
                    _ => {
                        return Err(err(
                            1,
                            1,
                            "expected an array or {\"entries\": [...]}".into(),
                        ))
                    }
                },
                _ => return Err(err(1, 1, "expected an array of entries".into())),
            };
            let mut out = Vec::new();
            for (i, item) in arr.iter().enumerate() {
                let Some(obj) = item.as_object() else {
                    return Err(err(1, 1, format!("entry #{i} is not an object")));
                };
                if let Some(bad) = obj.keys().find(|k| {
                    ![
                        "app_id",
                        "vendor",
                        "platform",
                        "name",
                        "reference",
                        "references",
                    ]
                    .contains(&k.as_str())
                }) {
                    return Err(err(1, 1, format!("entry #{i}: unknown key `{bad}`")));
                }
                let get = |k: &str| -> Option<String> {
                    match obj.get(k)? {
                        Value::String(s) => Some(s.clone()),
                        Value::Array(a) => Some(
                            a.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("|"),
                        ),
                        _ => None,
                    }
                };
                out.push(entry_from(&get).map_err(|m| err(1, 1, format!("entry #{i}: {m}")))?);
            }
            Ok(out)
        }
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| toml_str(s)).collect::<Vec<_>>().join(", ")
    )
}

/// Renders entries as a policy file of `review` rules, each carrying `source = NAME` and its
/// references. `imported` is recorded in the header description.
pub fn list_to_policy(entries: &[ListEntry], source: &str, imported: Option<Date>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Partner list from {source}, imported by `interdict policy import-list`."
    );
    let _ = writeln!(
        s,
        "# Review rules only: decide which to adopt, then copy them into your policy.\n"
    );
    let _ = writeln!(
        s,
        "[policy]\nname = {}\nmode = \"denylist\"",
        toml_str(&format!("partner-{}", slug(source, "partner")))
    );
    let desc = match imported {
        Some(d) => format!("Partner list from {source}, imported {d}"),
        None => format!("Partner list from {source}"),
    };
    let _ = writeln!(s, "description = {}", toml_str(&desc));
    for (i, e) in entries.iter().enumerate() {
        let _ = writeln!(
            s,
            "\n[[rules]]\nid = {}",
            toml_str(&format!(
                "{}-{}",
                slug(source, "partner"),
                i.saturating_add(1)
            ))
        );
        if let Some(n) = &e.name {
            let _ = writeln!(s, "title = {}", toml_str(n));
        }
        s.push_str("action = \"review\"\n");
        match (&e.app_id, &e.vendor) {
            // The vendor column of an app's row is provenance (who publishes it, according
            // to the partner), not a matcher: it must not widen the rule to every app of
            // that vendor.
            (Some(a), vendor) => {
                let _ = writeln!(s, "app_ids = {}", toml_list(std::slice::from_ref(a)));
                if let Some(v) = vendor {
                    let _ = writeln!(
                        s,
                        "rationale = {}",
                        toml_str(&format!("Listed by {source} as published by {v}."))
                    );
                }
            }
            // A row that names only a vendor is the partner's own vendor-wide rule.
            (None, Some(v)) => {
                let _ = writeln!(s, "vendors = {}", toml_list(std::slice::from_ref(v)));
            }
            (None, None) => {}
        }
        if let Some(p) = e.platform {
            let _ = writeln!(s, "platforms = [\"{p}\"]");
        }
        let _ = writeln!(s, "source = {}", toml_str(source));
        let _ = writeln!(s, "references = {}", toml_list(&e.references));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes() {
        let src = "app_id,vendor,name,reference\ncom.tencent.mm,,\"WeChat, messaging\",https://x\n,Kaspersky,,\"a|b\"\n";
        let e = parse_list(src, "l.csv", ListFormat::Csv).unwrap_or_default();
        assert_eq!(e.len(), 2);
        assert_eq!(
            e.first().and_then(|e| e.name.clone()).as_deref(),
            Some("WeChat, messaging")
        );
        assert_eq!(e.get(1).map(|e| e.references.len()), Some(2));
        let bad = parse_list("app_id,colour\nx,y\n", "l.csv", ListFormat::Csv);
        assert!(bad.is_err());
    }

    /// A vendor named beside an app id is provenance; only a vendor-only row is vendor-wide.
    #[test]
    fn vendor_column_is_provenance_unless_the_row_names_only_a_vendor() {
        let src = "app_id,vendor\ncom.tencent.mm,Tencent\n,Kaspersky\n";
        let e = parse_list(src, "l.csv", ListFormat::Csv).unwrap_or_default();
        let text = list_to_policy(&e, "Partner", None);
        let p =
            crate::parse_policy(&text, "partner.toml").unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let rules = &p.rules;
        assert_eq!(rules.len(), 2, "{text}");
        assert_eq!(rules[0].app_ids.len(), 1, "{text}");
        assert!(rules[0].vendors.is_empty(), "{text}");
        assert!(
            rules[0]
                .rationale
                .as_deref()
                .is_some_and(|r| r.contains("Tencent")),
            "{text}"
        );
        assert!(rules[1].app_ids.is_empty(), "{text}");
        assert_eq!(rules[1].vendors.len(), 1, "{text}");
    }
}
