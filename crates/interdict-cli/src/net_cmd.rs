//! `interdict policy export --to rpz|unbound|dnsmasq|hosts|squid|suricata|edl|stix`:
//! the network side of a ban.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use app_policy::{Date, Policy};
use net_blocklist::policy::AssessedEndpoint;
use net_blocklist::{Blocklist, Format, Meta, NeverBlock};

/// Options of the network exports.
#[derive(Debug, clap::Args)]
pub(crate) struct NetExportArgs {
    /// RPZ: answer banned names with a CNAME to this notice host instead of NXDOMAIN, e.g. `--walled-garden notice.example.org`.
    #[arg(long, value_name = "HOST")]
    walled_garden: Option<String>,
    /// RPZ: zone name written in the header comment and used by resolvers, e.g. `--zone rpz.example.org` (default rpz.interdict).
    #[arg(long, value_name = "NAME")]
    zone: Option<String>,
    /// Extra never-block entries (`tree:NAME # reason` / `suffix:NAME # reason` lines), added to the shipped list. Repeatable.
    #[arg(long, value_name = "FILE")]
    never_block: Vec<PathBuf>,
    /// Assessment reports (`interdict assess --format json|jsonl`), repeatable. Network exports:
    /// rules with `include_assessed_endpoints` also block the hosts these reports found. MDM
    /// exports: a rule matching an assessed IPA's Team ID or main bundle id is exported as every
    /// bundle id the IPA contains (app and extensions).
    #[arg(long, value_name = "FILE")]
    pub(crate) assessments: Vec<PathBuf>,
    /// Print what was kept, removed (never-block) and collapsed as JSON on stderr instead of text.
    #[arg(long)]
    report_json: bool,
}

/// Now as RFC 3339 UTC with milliseconds.
pub(crate) fn now_rfc3339() -> String {
    threat_intel::time::format_rfc3339_ms(now_ms())
}

/// Now in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn assessed(files: &[PathBuf]) -> anyhow::Result<Vec<AssessedEndpoint>> {
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let reports: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(&text)
        {
            Ok(serde_json::Value::Array(a)) => a,
            Ok(v) => vec![v],
            Err(_) => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .enumerate()
                .map(|(i, l)| {
                    serde_json::from_str(l).with_context(|| {
                        format!("{}:{}: not a JSON assessment report", f.display(), i + 1)
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        };
        for r in reports {
            let app = r
                .pointer("/app/package")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let sha = r
                .pointer("/file/sha256")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            for e in r
                .get("endpoints")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(h) = e.get("host").and_then(|v| v.as_str()) {
                    out.push(AssessedEndpoint {
                        app_id: app.to_string(),
                        host: h.to_string(),
                        assessment: sha.to_string(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Builds the blocklist of a policy with the never-block list applied.
pub(crate) fn blocklist(
    p: &Policy,
    at: Option<Date>,
    args: &NetExportArgs,
) -> anyhow::Result<Blocklist> {
    let mut never = NeverBlock::shipped();
    for f in &args.never_block {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        never.extend(NeverBlock::parse(&text).with_context(|| f.display().to_string())?);
    }
    let c = net_blocklist::policy::candidates(p, at, &assessed(&args.assessments)?);
    Ok(Blocklist::build(&c, &never)?)
}

pub(crate) fn export(
    p: &Policy,
    format: &str,
    at: Option<Date>,
    args: &NetExportArgs,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let fmt = Format::parse(format).context("unknown network export format")?;
    let list = blocklist(p, at, args)?;
    let mut meta = Meta::new(&p.name, p.version.unwrap_or(0), &now_rfc3339());
    if let Some(z) = &args.zone {
        meta.zone = net_blocklist::normalize(z).with_context(|| "--zone")?;
    }
    if let Some(w) = &args.walled_garden {
        meta.walled_garden = Some(net_blocklist::normalize(w).with_context(|| "--walled-garden")?);
    }
    if p.version.is_none() && fmt == Format::Rpz {
        eprintln!("warning: the policy has no `version`; the RPZ SOA serial is 0 and secondaries will not see updates");
    }
    if list.entries.is_empty() {
        eprintln!(
            "warning: no domain to block: add [[rules.domains]] to prohibit rules, or [[vendors.domains]] to the vendors they name"
        );
    }
    if args.report_json {
        eprintln!("{}", serde_json::to_string(&list)?);
    } else {
        for r in &list.removed {
            eprintln!(
                "removed {} (never-block `{}`: {}); listed by {}",
                r.name,
                r.protected_by,
                r.reason,
                r.sources.join("; ")
            );
        }
        eprintln!(
            "{} name(s) exported, {} removed as shared infrastructure, {} covered by a listed parent",
            list.entries.len(),
            list.removed.len(),
            list.covered.len()
        );
    }
    crate::policy_cmd::emit(output, &net_blocklist::render(&list, fmt, &meta))?;
    Ok(ExitCode::SUCCESS)
}
