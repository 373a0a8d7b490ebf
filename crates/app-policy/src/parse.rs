//! TOML parsing of policy and vendor files. Pure: takes text and a file name.

use crate::date::Date;
use crate::model::*;
use serde::Deserialize;
use toml::value::Datetime;
use toml::Spanned;

/// A parse error, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{}:{}: {message}", loc.line, loc.column)]
pub struct ParseError {
    /// File name as given by the caller.
    pub file: String,
    /// Position of the offending text.
    pub loc: Loc,
    /// What is wrong.
    pub message: String,
    /// Byte offset of the offending text.
    pub offset: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    policy: RawHeader,
    #[serde(default)]
    vendors: Vec<RawVendor>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    exceptions: Vec<RawException>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVendorFile {
    #[serde(default)]
    vendors: Vec<RawVendor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: String,
    version: Option<u64>,
    mode: Spanned<String>,
    description: Option<String>,
    #[serde(default)]
    jurisdictions_of_concern: Vec<String>,
    effective: Option<Spanned<Datetime>>,
    #[serde(default)]
    grace_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVendor {
    name: Spanned<String>,
    country: Option<String>,
    #[serde(default)]
    app_ids: Vec<String>,
    #[serde(default)]
    package_prefixes: Vec<String>,
    #[serde(default)]
    signer_sha256: Vec<String>,
    #[serde(default)]
    signer_sha1: Vec<String>,
    #[serde(default)]
    publishers: Vec<String>,
    #[serde(default)]
    subject_organizations: Vec<String>,
    #[serde(default)]
    team_ids: Vec<String>,
    ownership: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    domains: Vec<RawDomainList>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomainList {
    source: String,
    date: Option<Spanned<Datetime>>,
    names: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    exclude_groups: Vec<String>,
    #[serde(default)]
    ownership: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    title: Option<String>,
    action: Spanned<String>,
    #[serde(default)]
    app_ids: Vec<Spanned<String>>,
    #[serde(default)]
    signer_sha256: Vec<Spanned<String>>,
    #[serde(default)]
    signer_sha1: Vec<Spanned<String>>,
    #[serde(default)]
    vendors: Vec<Spanned<String>>,
    #[serde(default)]
    team_ids: Vec<Spanned<String>>,
    #[serde(default)]
    platforms: Vec<Spanned<String>>,
    scope: Option<RawScope>,
    effective: Option<Spanned<Datetime>>,
    #[serde(default)]
    grace_days: u32,
    remedy: Option<Spanned<String>>,
    rationale: Option<String>,
    authority: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    precautionary: bool,
    source: Option<String>,
    #[serde(default)]
    domains: Vec<RawDomainList>,
    #[serde(default)]
    include_assessed_endpoints: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawException {
    id: Spanned<String>,
    rule: Spanned<String>,
    #[serde(default)]
    devices: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    apps: Vec<String>,
    justification: String,
    basis: Option<String>,
    requester: String,
    approver: String,
    granted: Option<Spanned<Datetime>>,
    expires: Spanned<Datetime>,
}

struct Ctx<'a> {
    src: &'a str,
    file: &'a str,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
}

impl<'a> Ctx<'a> {
    fn new(src: &'a str, file: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i.saturating_add(1)));
        Ctx {
            src,
            file,
            line_starts,
        }
    }

    fn loc(&self, offset: usize) -> Loc {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .src
            .get(start..offset.min(self.src.len()))
            .map_or_else(|| offset.saturating_sub(start), |s| s.chars().count());
        Loc {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX).saturating_add(1),
        }
    }

    fn err(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            loc: self.loc(offset),
            message: message.into(),
            offset,
        }
    }

    fn located(&self, s: Spanned<String>) -> Located<String> {
        let loc = self.loc(s.span().start);
        Located::new(s.into_inner(), loc)
    }

    fn date(&self, d: &Spanned<Datetime>) -> Result<Date, ParseError> {
        let off = d.span().start;
        let dt = d.get_ref();
        if dt.time.is_some() || dt.offset.is_some() {
            return Err(self.err(off, "expected a date without time (YYYY-MM-DD)"));
        }
        let Some(date) = dt.date else {
            return Err(self.err(off, "expected a date (YYYY-MM-DD)"));
        };
        Date::from_ymd(
            i32::from(date.year),
            u32::from(date.month),
            u32::from(date.day),
        )
        .ok_or_else(|| self.err(off, format!("`{dt}` is not a valid date")))
    }

    fn opt_date(&self, d: &Option<Spanned<Datetime>>) -> Result<Option<Date>, ParseError> {
        d.as_ref().map(|d| self.date(d)).transpose()
    }

    fn domain_lists(&self, v: Vec<RawDomainList>) -> Result<Vec<DomainList>, ParseError> {
        v.into_iter()
            .map(|d| {
                Ok(DomainList {
                    source: d.source,
                    date: self.opt_date(&d.date)?,
                    names: d.names.into_iter().map(|s| self.located(s)).collect(),
                })
            })
            .collect()
    }

    fn vendor(&self, v: RawVendor) -> Result<Vendor, ParseError> {
        let loc = self.loc(v.name.span().start);
        let domains = self.domain_lists(v.domains)?;
        Ok(Vendor {
            name: v.name.into_inner(),
            loc,
            country: v.country,
            app_ids: v.app_ids,
            package_prefixes: v.package_prefixes,
            signer_sha256: v.signer_sha256.iter().map(|s| normalize_hex(s)).collect(),
            signer_sha1: v.signer_sha1.iter().map(|s| normalize_hex(s)).collect(),
            publishers: v.publishers,
            subject_organizations: v.subject_organizations,
            team_ids: v.team_ids,
            ownership: v.ownership,
            references: v.references,
            domains,
        })
    }

    fn rule(&self, r: RawRule) -> Result<Rule, ParseError> {
        let loc = self.loc(r.id.span().start);
        let action = match r.action.get_ref().as_str() {
            "prohibit" => Action::Prohibit,
            "allow" => Action::Allow,
            "review" => Action::Review,
            other => {
                return Err(self.err(
                    r.action.span().start,
                    format!("unknown action `{other}`, expected prohibit, allow or review"),
                ))
            }
        };
        let mut platforms = Vec::new();
        for p in &r.platforms {
            let pl = Platform::parse(p.get_ref()).ok_or_else(|| {
                self.err(
                    p.span().start,
                    format!(
                        "unknown platform `{}`, expected android, ios, macos, windows or linux",
                        p.get_ref()
                    ),
                )
            })?;
            if !platforms.contains(&pl) {
                platforms.push(pl);
            }
        }
        let scope = match r.scope {
            None => Scope::default(),
            Some(s) => {
                let mut ownership = Vec::new();
                for o in &s.ownership {
                    let ow = Ownership::parse(o.get_ref()).ok_or_else(|| {
                        self.err(
                            o.span().start,
                            format!(
                                "unknown ownership `{}`, expected corporate, personal or unknown",
                                o.get_ref()
                            ),
                        )
                    })?;
                    if !ownership.contains(&ow) {
                        ownership.push(ow);
                    }
                }
                Scope {
                    groups: s.groups,
                    exclude_groups: s.exclude_groups,
                    ownership,
                }
            }
        };
        let remedy = match &r.remedy {
            None => None,
            Some(s) => Some(match s.get_ref().as_str() {
                "uninstall" => Remedy::Uninstall,
                "block" => Remedy::Block,
                other => {
                    return Err(self.err(
                        s.span().start,
                        format!("unknown remedy `{other}`, expected uninstall or block"),
                    ))
                }
            }),
        };
        let effective = self.opt_date(&r.effective)?;
        let hex = |v: Vec<Spanned<String>>| -> Vec<Located<String>> {
            v.into_iter()
                .map(|s| {
                    let l = self.located(s);
                    Located::new(normalize_hex(&l.value), l.loc)
                })
                .collect()
        };
        Ok(Rule {
            id: r.id.into_inner(),
            loc,
            title: r.title,
            action,
            app_ids: r.app_ids.into_iter().map(|s| self.located(s)).collect(),
            signer_sha256: hex(r.signer_sha256),
            signer_sha1: hex(r.signer_sha1),
            vendors: r.vendors.into_iter().map(|s| self.located(s)).collect(),
            team_ids: r
                .team_ids
                .into_iter()
                .map(|s| {
                    let l = self.located(s);
                    Located::new(l.value.trim().to_ascii_uppercase(), l.loc)
                })
                .collect(),
            platforms,
            scope,
            effective,
            grace_days: r.grace_days,
            remedy,
            rationale: r.rationale,
            authority: r.authority,
            references: r.references,
            precautionary: r.precautionary,
            source: r.source,
            domains: self.domain_lists(r.domains)?,
            include_assessed_endpoints: r.include_assessed_endpoints,
        })
    }

    fn exception(&self, e: RawException) -> Result<Exception, ParseError> {
        let loc = self.loc(e.id.span().start);
        Ok(Exception {
            id: e.id.into_inner(),
            loc,
            granted: self.opt_date(&e.granted)?,
            expires: self.date(&e.expires)?,
            rule: self.located(e.rule),
            devices: e.devices,
            groups: e.groups,
            apps: e.apps,
            justification: e.justification,
            basis: e.basis,
            requester: e.requester,
            approver: e.approver,
        })
    }
}

/// Lowercases a hex digest and strips `:` and spaces (as `apksigner` and keytool print them).
pub fn normalize_hex(s: &str) -> String {
    s.chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn toml_error(src: &str, file: &str, e: toml::de::Error) -> ParseError {
    let offset = e.span().map_or(0, |s| s.start);
    ParseError {
        file: file.to_string(),
        loc: Loc::from_offset(src, offset),
        message: e.message().trim().to_string(),
        offset,
    }
}

/// Parses a policy file. Semantic problems (bad globs, duplicate ids, ...) are left to
/// [`crate::check`]; this only rejects what cannot be represented (syntax, unknown keys,
/// wrong types, unknown enum values, invalid dates).
pub fn parse_policy(src: &str, file: &str) -> Result<Policy, ParseError> {
    let raw: RawFile = toml::from_str(src).map_err(|e| toml_error(src, file, e))?;
    let cx = Ctx::new(src, file);
    let mode = match raw.policy.mode.get_ref().as_str() {
        "denylist" => Mode::Denylist,
        "allowlist" => Mode::Allowlist,
        other => {
            return Err(cx.err(
                raw.policy.mode.span().start,
                format!("unknown mode `{other}`, expected denylist or allowlist"),
            ))
        }
    };
    let rules = raw
        .rules
        .into_iter()
        .map(|r| cx.rule(r))
        .collect::<Result<Vec<_>, _>>()?;
    let exceptions = raw
        .exceptions
        .into_iter()
        .map(|e| cx.exception(e))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Policy {
        file: file.to_string(),
        name: raw.policy.name,
        version: raw.policy.version,
        mode,
        description: raw.policy.description,
        jurisdictions_of_concern: raw.policy.jurisdictions_of_concern,
        effective: cx.opt_date(&raw.policy.effective)?,
        grace_days: raw.policy.grace_days,
        vendors: raw
            .vendors
            .into_iter()
            .map(|v| cx.vendor(v))
            .collect::<Result<_, _>>()?,
        rules,
        exceptions,
    })
}

/// Parses a vendor catalog file (only `[[vendors]]` tables).
pub fn parse_vendors(src: &str, file: &str) -> Result<Vec<Vendor>, ParseError> {
    let raw: RawVendorFile = toml::from_str(src).map_err(|e| toml_error(src, file, e))?;
    let cx = Ctx::new(src, file);
    raw.vendors.into_iter().map(|v| cx.vendor(v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_located() {
        let src = "[policy]\nname = \"x\"\nmode = \"denylist\"\n\n[[rules]]\nid = \"a\"\naction = \"prohibit\"\napp_idz = [\"x\"]\n";
        let e = parse_policy(src, "p.toml").err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("p.toml:8:1:"), "{e}");
        assert!(e.contains("app_idz"), "{e}");
    }

    #[test]
    fn bad_enum_is_located() {
        let src = "[policy]\nname = \"x\"\nmode = \"blocklist\"\n";
        let e = parse_policy(src, "p.toml").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("p.toml:3:8: unknown mode `blocklist`, expected denylist or allowlist")
        );
    }

    #[test]
    fn dates_and_spans() {
        let src = "[policy]\nname = \"x\"\nmode = \"denylist\"\n[[rules]]\nid = \"r\"\naction = \"prohibit\"\napp_ids = [\"a.b\", \"c.*\"]\neffective = 2023-10-30\n";
        let p = parse_policy(src, "p.toml").ok();
        let r = p.as_ref().and_then(|p| p.rules.first());
        assert_eq!(
            r.and_then(|r| r.effective)
                .map(|d| d.to_string())
                .as_deref(),
            Some("2023-10-30")
        );
        assert_eq!(
            r.and_then(|r| r.app_ids.get(1)).map(|a| a.loc),
            Some(Loc {
                line: 7,
                column: 19
            })
        );
        let bad = src.replace("2023-10-30", "2023-10-30T10:00:00");
        assert!(parse_policy(&bad, "p.toml").is_err());
    }
}
