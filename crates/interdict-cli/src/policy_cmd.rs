//! `interdict policy …`: check, diff, evaluate, export and import prohibited-app policies.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use app_policy::{Date, Policy, Severity, Status};

/// Output format of `check`, `diff` and `eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Human-readable text.
    Text,
    /// JSON for scripts.
    Json,
}

/// Export target of `policy export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportTarget {
    /// Android Management API Policy JSON (applications[].installType BLOCKED, playStoreMode).
    Amapi,
    /// Apple configuration profile (.mobileconfig, com.apple.applicationaccess).
    Apple,
    /// Microsoft Intune compliance policies JSON (restrictedApps).
    Intune,
    /// Fleet policies YAML with osquery SQL (macOS apps, Windows programs, Linux packages).
    Osquery,
    /// DNS Response Policy Zone for BIND, Unbound, PowerDNS, DNS firewalls (SOA serial = policy version).
    Rpz,
    /// Unbound `local-zone: "d." always_nxdomain` lines (include under `server:`).
    Unbound,
    /// dnsmasq `address=/d/` lines (NXDOMAIN for the name and its subdomains).
    Dnsmasq,
    /// hosts file `0.0.0.0 d` (exact names: each entry, `www.` and subdomains seen).
    Hosts,
    /// Squid `dstdomain` list (`acl banned dstdomain "FILE"`).
    Squid,
    /// Suricata `dns.query` and `tls.sni` alert rules with stable sids.
    Suricata,
    /// Plain-text External Dynamic List for firewalls (`d` and `*.d`).
    Edl,
    /// STIX 2.1 bundle of the ban's domains, for partners.
    Stix,
}

/// Input format of `policy import-list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ListFormatArg {
    /// CSV with a header: app_id, vendor, platform, name, reference.
    Csv,
    /// JSON array of objects with the same keys.
    Json,
}

/// Policy subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum PolicyCmd {
    /// Check a policy file: unknown keys, bad globs, duplicate ids, exceptions pointing at
    /// missing rules, expired or self-approved exceptions, shadowed rules, allowlists that
    /// would flag system apps.
    ///
    /// Examples:
    ///   interdict policy check examples/canada-gc-mobile-v2.toml
    ///   interdict policy check --at 2024-06-01 --format json policy.toml
    ///
    /// Exit status: 0 when there is no error (warnings allowed), 1 when the check found
    /// errors, 2 when the file cannot be read or parsed.
    #[command(verbatim_doc_comment)]
    #[command(verbatim_doc_comment)]
    Check {
        /// Policy file (TOML), e.g. `examples/canada-gc-mobile-v2.toml`.
        file: PathBuf,
        /// Extra vendor catalog (TOML with [[vendors]]), e.g. `--vendors crates/apk-analysis/data/vendors.toml`.
        #[arg(long, value_name = "FILE")]
        vendors: Vec<PathBuf>,
        /// Date that decides which exceptions have expired, e.g. `--at 2024-01-31` (default: today, UTC).
        #[arg(long, value_name = "YYYY-MM-DD")]
        at: Option<String>,
        /// Output format, e.g. `--format json`.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Semantic diff between two policy versions: rules added, removed and changed field by
    /// field, scopes widened or narrowed, exceptions granted, expired and revoked, and what
    /// each policy targets that the other does not (use it against an imported partner list).
    ///
    /// Examples:
    ///   interdict policy diff examples/canada-gc-mobile-v1.toml examples/canada-gc-mobile-v2.toml
    ///   interdict policy diff --format json ours.toml partner-au.toml
    ///
    /// Exit status: 0 (whether or not they differ), 2 on unreadable input.
    #[command(verbatim_doc_comment)]
    #[command(verbatim_doc_comment)]
    Diff {
        /// Old version, e.g. `policy-v1.toml`.
        old: PathBuf,
        /// New version (or a partner list from `import-list`), e.g. `policy-v2.toml`.
        new: PathBuf,
        /// Vendor catalog applied to both, e.g. `--vendors crates/apk-analysis/data/vendors.toml`.
        #[arg(long, value_name = "FILE")]
        vendors: Vec<PathBuf>,
        /// Date that separates expired from revoked exceptions, e.g. `--at 2024-01-31` (default: today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        at: Option<String>,
        /// Output format, e.g. `--format json`.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Decide for each device whether it complies, and why. A pure function of policy,
    /// inventory and date: the same inputs always give the same report.
    ///
    /// The inventory is normalized JSON (see `interdict inventory import`): one
    /// {"device": {...}, "apps": [...]} object or an array of them.
    ///
    /// Examples:
    ///   interdict policy eval --policy examples/canada-gc-mobile-v2.toml --inventory devices.json
    ///   interdict policy eval --policy p.toml --inventory inv.json --at 2023-11-01 --format json
    ///
    /// Exit status: 0 when every device complies, 1 when any device does not, 2 on bad input
    /// (including a policy with check errors).
    #[command(verbatim_doc_comment)]
    #[command(verbatim_doc_comment)]
    Eval {
        /// Policy file, e.g. `--policy examples/canada-gc-mobile-v2.toml`.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// Normalized inventory JSON, e.g. `--inventory devices.json`.
        #[arg(long, value_name = "FILE")]
        inventory: PathBuf,
        /// Vendor catalog, e.g. `--vendors crates/apk-analysis/data/vendors.toml`.
        #[arg(long, value_name = "FILE")]
        vendors: Vec<PathBuf>,
        /// Evaluation date, e.g. `--at 2023-11-01` (default: today, UTC).
        #[arg(long, value_name = "YYYY-MM-DD")]
        at: Option<String>,
        /// Output format, e.g. `--format json`.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Compile the policy into what an MDM enforces natively. Warnings on stderr say what
    /// the target cannot express; nothing is dropped silently.
    ///
    /// Examples:
    ///   interdict policy export --policy p.toml --to amapi > amapi-policy.json
    ///   interdict policy export --policy p.toml --to apple --output prohibited.mobileconfig
    ///   interdict policy export --policy p.toml --to osquery --output policies.yml
    ///
    /// Network exports block the domains of `prohibit` rules (`[[rules.domains]]`, the
    /// `[[vendors.domains]]` of the vendors a rule names, and with
    /// `include_assessed_endpoints = true` the hosts in `--assessments` reports), less the
    /// shipped never-block list of shared infrastructure (each removal is reported):
    ///   interdict policy export --policy examples/canada-gc-mobile-v2.toml --to rpz -o interdict.rpz
    ///   interdict policy export --policy p.toml --to squid --output banned.txt
    ///   interdict policy export --policy p.toml --to rpz --walled-garden notice.example.org
    ///   interdict policy export --policy p.toml --to hosts --assessments reports.jsonl
    ///
    /// Exit status: 0 on success, 2 on bad input.
    #[command(verbatim_doc_comment)]
    #[command(verbatim_doc_comment)]
    Export {
        /// Policy file, e.g. `--policy examples/canada-gc-mobile-v2.toml`.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// Target, e.g. `--to apple`.
        #[arg(long, value_enum)]
        to: ExportTarget,
        /// Write here instead of stdout, e.g. `--output prohibited.mobileconfig`.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Vendor catalog, e.g. `--vendors crates/apk-analysis/data/vendors.toml`.
        #[arg(long, value_name = "FILE")]
        vendors: Vec<PathBuf>,
        /// Export only rules in force on this date, e.g. `--at 2023-11-01` (default: all rules).
        #[arg(long, value_name = "YYYY-MM-DD")]
        at: Option<String>,
        /// AMAPI: emit policyEnforcementRules with this wipeAfterDays, e.g. `--amapi-wipe-after-days 60`.
        #[arg(long, value_name = "DAYS")]
        amapi_wipe_after_days: Option<u32>,
        /// osquery: detection queries (a row per prohibited app) instead of Fleet pass/fail queries.
        #[arg(long)]
        osquery_detect: bool,
        #[command(flatten)]
        net: crate::net_cmd::NetExportArgs,
    },
    /// The review history of a rule: vendor appeals, who recorded them, the submitted
    /// documents by SHA-256, and each decision (upheld, amended, reversed) with its reasons
    /// and the policy version that carries it out. Read from a server or a data directory.
    ///
    /// Examples:
    ///   interdict policy reviews ca-2023-10-kaspersky --server http://127.0.0.1:8080 --token $T
    ///   interdict policy reviews ca-2023-10-kaspersky --data-dir /var/lib/interdict --format json
    ///
    /// Exit status: 0 on success, 2 when the source cannot be read or the rule is unknown.
    #[command(verbatim_doc_comment)]
    Reviews {
        /// Rule id, e.g. `ca-2023-10-kaspersky`.
        rule: String,
        #[command(flatten)]
        source: crate::audit_cmd::SourceArgs,
        /// Output format, e.g. `--format json`.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Turn another jurisdiction's list (CSV or JSON of app ids or vendors, with references)
    /// into a policy file of `review` rules carrying their provenance; then compare with
    /// `interdict policy diff ours.toml partner.toml`.
    ///
    /// Examples:
    ///   interdict policy import-list au-list.csv --source "AU PSPF Direction 001-2023" > partner-au.toml
    ///   interdict policy import-list list.json --source "US M-23-13" --output partner-us.toml
    ///
    /// Exit status: 0 on success, 2 on bad input.
    #[command(verbatim_doc_comment)]
    #[command(verbatim_doc_comment)]
    ImportList {
        /// Partner list, e.g. `au-list.csv` (columns app_id, vendor, platform, name, reference).
        file: PathBuf,
        /// Who published the list, recorded on every rule, e.g. `--source "AU PSPF 001-2023"`.
        #[arg(long)]
        source: String,
        /// Input format, e.g. `--format json` (default: from the file extension).
        #[arg(long, value_enum)]
        format: Option<ListFormatArg>,
        /// Write here instead of stdout, e.g. `--output partner.toml`.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub(crate) fn today() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Date::from_days_since_epoch(i64::try_from(secs / 86_400).unwrap_or(0))
}

fn parse_at(at: Option<&str>) -> anyhow::Result<Date> {
    match at {
        None => Ok(today()),
        Some(s) => Date::parse(s).with_context(|| format!("--at {s}")),
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads and parses a policy plus vendor catalogs.
pub(crate) fn load_policy(path: &Path, vendors: &[PathBuf]) -> anyhow::Result<Policy> {
    let src = read(path)?;
    let mut p = app_policy::parse_policy(&src, &path.display().to_string())?;
    for v in vendors {
        let vs = read(v)?;
        app_policy::merge_vendors(
            &mut p,
            app_policy::parse_vendors(&vs, &v.display().to_string())?,
        );
    }
    Ok(p)
}

/// Loads a policy and refuses it when `check` finds errors.
fn load_checked(path: &Path, vendors: &[PathBuf], at: Date) -> anyhow::Result<Policy> {
    let p = load_policy(path, vendors)?;
    let diags = app_policy::check(&p, at);
    if app_policy::has_errors(&diags) {
        for d in diags.iter().filter(|d| d.severity == Severity::Error) {
            eprintln!("{d}");
        }
        bail!(
            "{} has errors; run `interdict policy check` for details",
            path.display()
        );
    }
    Ok(p)
}

pub(crate) fn emit(output: Option<&Path>, content: &str) -> anyhow::Result<()> {
    match output {
        Some(path) => std::fs::write(path, content)
            .with_context(|| format!("cannot write {}", path.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(content.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Violation => "violation",
        Status::InGrace => "in_grace",
        Status::Excepted => "excepted",
        Status::Allowed => "allowed",
        Status::Review => "review",
    }
}

pub(crate) fn run(cmd: PolicyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCmd::Check {
            file,
            vendors,
            at,
            format,
        } => {
            let at = parse_at(at.as_deref())?;
            let p = load_policy(&file, &vendors)?;
            let diags = app_policy::check(&p, at);
            match format {
                Format::Json => emit(
                    None,
                    &(serde_json::to_string_pretty(&serde_json::json!({
                        "file": file.display().to_string(),
                        "ok": !app_policy::has_errors(&diags),
                        "diagnostics": diags,
                    }))? + "\n"),
                )?,
                Format::Text => {
                    let mut s = String::new();
                    for d in &diags {
                        s.push_str(&format!("{d}\n"));
                    }
                    let errors = diags
                        .iter()
                        .filter(|d| d.severity == Severity::Error)
                        .count();
                    s.push_str(&format!(
                        "{}: {} rule(s), {} exception(s), {} vendor(s): {errors} error(s), {} warning(s)\n",
                        file.display(),
                        p.rules.len(),
                        p.exceptions.len(),
                        p.vendors.len(),
                        diags.len().saturating_sub(errors)
                    ));
                    emit(None, &s)?;
                }
            }
            Ok(if app_policy::has_errors(&diags) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        PolicyCmd::Diff {
            old,
            new,
            vendors,
            at,
            format,
        } => {
            let at = parse_at(at.as_deref())?;
            let o = load_policy(&old, &vendors)?;
            let n = load_policy(&new, &vendors)?;
            let d = app_policy::diff(&o, &n, at);
            match format {
                Format::Json => emit(None, &(serde_json::to_string_pretty(&d)? + "\n"))?,
                Format::Text => emit(None, &app_policy::diff_text(&d))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCmd::Eval {
            policy,
            inventory,
            vendors,
            at,
            format,
        } => {
            let at = parse_at(at.as_deref())?;
            let p = load_checked(&policy, &vendors, at)?;
            let inv_src = read(&inventory)?;
            let inv = app_policy::parse_inventory(&inv_src, &inventory.display().to_string())?;
            let cp = app_policy::CompiledPolicy::new(&p)?;
            let report = cp.evaluate_all(&inv, at);
            match format {
                Format::Json => emit(None, &(serde_json::to_string_pretty(&report)? + "\n"))?,
                Format::Text => {
                    let mut s = String::new();
                    for d in &report.devices {
                        s.push_str(&format!(
                            "device {} ({}): {}\n",
                            d.device_id,
                            d.platform,
                            if d.compliant {
                                "compliant"
                            } else {
                                "NON-COMPLIANT"
                            }
                        ));
                        for f in &d.findings {
                            s.push_str(&format!(
                                "  {:<9} {}  rule {}{}{}\n      because {}\n",
                                status_word(f.status),
                                f.app_id,
                                f.rule,
                                f.deadline
                                    .map(|d| format!("  deadline {d}"))
                                    .unwrap_or_default(),
                                f.remedy
                                    .map(|r| format!(
                                        "  remedy {}",
                                        if r == app_policy::Remedy::Block {
                                            "block"
                                        } else {
                                            "uninstall"
                                        }
                                    ))
                                    .unwrap_or_default(),
                                f.because
                            ));
                        }
                    }
                    let bad = report.devices.iter().filter(|d| !d.compliant).count();
                    s.push_str(&format!(
                        "{bad} of {} device(s) non-compliant with {} (version {}) on {}\n",
                        report.devices.len(),
                        report.policy,
                        report
                            .version
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "-".into()),
                        report.at
                    ));
                    emit(None, &s)?;
                }
            }
            Ok(if report.compliant {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        PolicyCmd::Export {
            policy,
            to,
            output,
            vendors,
            at,
            amapi_wipe_after_days,
            osquery_detect,
            net,
        } => {
            let at_date = at.as_deref().map(Date::parse).transpose().context("--at")?;
            let p = load_checked(&policy, &vendors, at_date.unwrap_or_else(today))?;
            let target = match to {
                ExportTarget::Amapi => app_policy::Target::Amapi,
                ExportTarget::Apple => app_policy::Target::Apple,
                ExportTarget::Intune => app_policy::Target::Intune,
                ExportTarget::Osquery => app_policy::Target::Osquery,
                ExportTarget::Rpz => {
                    return crate::net_cmd::export(&p, "rpz", at_date, &net, output.as_deref())
                }
                ExportTarget::Unbound => {
                    return crate::net_cmd::export(&p, "unbound", at_date, &net, output.as_deref())
                }
                ExportTarget::Dnsmasq => {
                    return crate::net_cmd::export(&p, "dnsmasq", at_date, &net, output.as_deref())
                }
                ExportTarget::Hosts => {
                    return crate::net_cmd::export(&p, "hosts", at_date, &net, output.as_deref())
                }
                ExportTarget::Squid => {
                    return crate::net_cmd::export(&p, "squid", at_date, &net, output.as_deref())
                }
                ExportTarget::Suricata => {
                    return crate::net_cmd::export(&p, "suricata", at_date, &net, output.as_deref())
                }
                ExportTarget::Edl => {
                    return crate::net_cmd::export(&p, "edl", at_date, &net, output.as_deref())
                }
                ExportTarget::Stix => {
                    return crate::net_cmd::export(&p, "stix", at_date, &net, output.as_deref())
                }
            };
            let opts = app_policy::ExportOptions {
                at: at_date,
                amapi_wipe_after_days,
                osquery_detect,
                assessed_apps: assessed_apps(&net.assessments)?,
            };
            let e = app_policy::export(&p, target, &opts)?;
            for w in &e.warnings {
                eprintln!("warning: {w}");
            }
            emit(output.as_deref(), &e.content)?;
            Ok(ExitCode::SUCCESS)
        }
        PolicyCmd::Reviews {
            rule,
            source,
            format,
        } => reviews(&rule, &source, format),
        PolicyCmd::ImportList {
            file,
            source,
            format,
            output,
        } => {
            let src = read(&file)?;
            let fmt = match format {
                Some(ListFormatArg::Csv) => app_policy::ListFormat::Csv,
                Some(ListFormatArg::Json) => app_policy::ListFormat::Json,
                None if file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("json")) =>
                {
                    app_policy::ListFormat::Json
                }
                None => app_policy::ListFormat::Csv,
            };
            let entries = app_policy::parse_list(&src, &file.display().to_string(), fmt)?;
            let text = app_policy::list_to_policy(&entries, &source, Some(today()));
            // The output must itself be a valid policy file.
            app_policy::parse_policy(&text, "<import-list output>")?;
            emit(output.as_deref(), &text)?;
            eprintln!(
                "imported {} entr{} from {}",
                entries.len(),
                if entries.len() == 1 { "y" } else { "ies" },
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The iOS apps in `interdict assess` reports (a JSON array, one object, or JSON lines).
fn assessed_apps(files: &[PathBuf]) -> anyhow::Result<Vec<app_policy::AssessedApp>> {
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let values: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(&text)
        {
            Ok(serde_json::Value::Array(a)) => a,
            Ok(v) => vec![v],
            Err(_) => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()
                .with_context(|| {
                    format!("{}: not interdict assess JSON or JSON lines", f.display())
                })?,
        };
        for v in values.iter().filter(|v| v["platform"] == "ios") {
            let ids: Vec<String> = v["bundle_ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            out.push(app_policy::AssessedApp {
                bundle_id: v["app"]["bundle_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                team_id: v["signing"]["team_id"].as_str().map(str::to_owned),
                bundle_ids: ids,
            });
        }
    }
    Ok(out)
}

/// `policy reviews RULE`: the rule's review history, from a server or a database.
fn reviews(
    rule: &str,
    source: &crate::audit_cmd::SourceArgs,
    format: Format,
) -> anyhow::Result<ExitCode> {
    use crate::audit_cmd::Source;
    let v: serde_json::Value = crate::init_cmd::runtime()?.block_on(async {
        let src = Source::open(source).await?;
        let v = match &src {
            Source::Store(store) => {
                let list = store.reviews(rule).await?;
                store.close().await;
                serde_json::json!({"rule": rule, "reviews": list})
            }
            Source::Http { .. } => {
                let path = format!(
                    "/api/v1/rules/{}/reviews",
                    crate::audit_cmd::query_value(rule)
                );
                src.get(&path).await?.json().await?
            }
        };
        anyhow::Ok(v)
    })?;
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let clean = crate::audit_cmd::clean;
    let s = |x: &serde_json::Value| clean(x.as_str().unwrap_or("-"));
    let list = v["reviews"].as_array().cloned().unwrap_or_default();
    writeln!(out, "rule {}: {} review(s)", clean(rule), list.len())?;
    for r in &list {
        writeln!(
            out,
            "\n{}  {}  received {}  by {}  status {}",
            s(&r["id"]),
            s(&r["appellant"]),
            s(&r["received"]),
            s(&r["opened_by"]),
            s(&r["status"])
        )?;
        writeln!(out, "  summary: {}", s(&r["summary"]))?;
        for d in r["documents"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "  document: {}  sha256 {}",
                s(&d["name"]),
                s(&d["sha256"])
            )?;
        }
        if r["status"] != "open" {
            writeln!(
                out,
                "  decided by {}: {}{}",
                s(&r["decided_by"]),
                s(&r["reasons"]),
                r["policy_version"]
                    .as_i64()
                    .map(|n| format!(" (carried out by policy version {n})"))
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
