//! `interdict intel import|pull`: threat-intelligence indicators (STIX 2.1, MISP, TAXII 2.1)
//! kept in a directory that `interdict assess --intel DIR` matches apps against.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use threat_intel::{Import, Indicator, IntelSet, Limits};

/// Schema of the files `intel import` writes.
const SCHEMA: &str = "interdict.intel/v1";

/// Largest intel file read (bytes).
const MAX_FILE: u64 = 512 << 20;

/// Intel subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum IntelCmd {
    /// Import STIX 2.1 bundles or MISP event JSON into an intel directory.
    ///
    /// Each file becomes one `<name>.intel.json` in DIR, written whole or not at all.
    /// Indicators keep their id, source, confidence, validity and revocation; patterns
    /// outside the evaluated subset, other pattern types, MISP attributes with `to_ids`
    /// false or malformed values are skipped and counted by reason.
    ///
    /// Examples:
    ///   interdict intel import feed-bundle.json
    ///   interdict intel import --dir /var/lib/interdict/intel misp-event.json --format json
    ///   interdict assess --intel intel app.apk
    ///
    /// Exit status: 0 when every file was imported, 2 when a file is unreadable or not STIX/MISP.
    #[command(verbatim_doc_comment)]
    Import {
        /// STIX 2.1 bundle or MISP JSON files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Intel directory (created if missing).
        #[arg(long, value_name = "DIR", default_value = "intel")]
        dir: PathBuf,
        /// Source name recorded on each indicator (default: the file name).
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Refuse files with more objects than this.
        #[arg(long, value_name = "N", default_value_t = Limits::default().max_objects)]
        max_objects: u64,
        /// Report format.
        #[arg(long, value_enum, default_value = "text")]
        format: crate::policy_cmd::Format,
    },
    /// Pull indicators from a TAXII 2.1 collection into an intel directory.
    ///
    /// Pages are followed with `next` while `more` is true (each request carries `limit`; a
    /// `next` may repeat, as medallion's cursor does, while its pages bring new objects); the
    /// last `X-TAXII-Date-Added-Last` is kept in DIR/taxii-state.json and sent as `added_after`
    /// by the next pull. Everything pulled is imported as one file, or nothing is.
    ///
    /// Examples:
    ///   interdict intel pull --taxii https://taxii.example.org/api1/ --collection 91a7b528-80eb-42ed-a74d-c6fbd5a26116
    ///   TAXII_PASSWORD=… interdict intel pull --taxii URL --collection ID --user analyst
    ///   TAXII_TOKEN=… interdict intel pull --taxii URL --collection ID --bearer-env TAXII_TOKEN
    ///
    /// Exit status: 0 on success, 2 on any error (nothing imported).
    #[command(verbatim_doc_comment)]
    Pull {
        /// API root URL, e.g. `--taxii http://127.0.0.1:5000/api1/`.
        #[arg(long, value_name = "URL")]
        taxii: String,
        /// Collection id.
        #[arg(long, value_name = "ID")]
        collection: String,
        /// Intel directory (created if missing).
        #[arg(long, value_name = "DIR", default_value = "intel")]
        dir: PathBuf,
        /// HTTP basic user; the password is read from $TAXII_PASSWORD.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Environment variable holding a bearer token.
        #[arg(long, value_name = "VAR")]
        bearer_env: Option<String>,
        /// Stop after this many pages (a server that loops `next` forever).
        #[arg(long, value_name = "N", default_value_t = 1000)]
        max_pages: u32,
        /// Objects asked for per page (`limit`, sent with every request; the server may cap it).
        #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
        /// Give up after this many seconds in total.
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        timeout: u64,
        /// Ignore the saved `added_after` and pull everything.
        #[arg(long)]
        full: bool,
    },
}

/// An intel file as written by `intel import`.
#[derive(serde::Serialize, serde::Deserialize)]
struct IntelFile {
    schema: String,
    source: String,
    imported_at: String,
    report: serde_json::Value,
    indicators: Vec<Indicator>,
}

fn read_limited(path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > MAX_FILE {
        bail!(
            "{} is {} bytes, more than {MAX_FILE}; split it",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn safe_name(s: &str) -> String {
    let n: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    n.trim_start_matches('.').to_string()
}

/// Writes an intel file atomically (temporary file, fsync, rename).
fn write_intel(dir: &Path, name: &str, source: &str, imp: &Import) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let f = IntelFile {
        schema: SCHEMA.into(),
        source: source.into(),
        imported_at: crate::net_cmd::now_rfc3339(),
        report: serde_json::to_value(&imp.report)?,
        indicators: imp.indicators.clone(),
    };
    let path = dir.join(format!("{}.intel.json", safe_name(name)));
    let tmp = dir.join(format!(".{}.tmp", safe_name(name)));
    {
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(&tmp)
                .with_context(|| format!("cannot write {}", tmp.display()))?,
        );
        serde_json::to_writer(&mut w, &f)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn print_report(source: &str, path: &Path, imp: &Import, format: crate::policy_cmd::Format) {
    let r = &imp.report;
    if format == crate::policy_cmd::Format::Json {
        println!(
            "{}",
            serde_json::json!({"source": source, "written": path.display().to_string(), "report": r})
        );
        return;
    }
    println!(
        "{source}: {} {} object(s), {} indicator(s): {} imported ({} revoked), {} superseded, {} skipped -> {}",
        r.format,
        r.objects,
        r.indicators,
        r.imported,
        r.revoked,
        r.superseded,
        r.skipped_total(),
        path.display()
    );
    for (k, n) in &r.skipped {
        println!("  skipped {n} × {k}");
    }
    for e in r.examples.iter().take(5) {
        println!("  e.g. {}", e.escape_debug());
    }
}

/// Loads every indicator under `paths` (directories of `*.json`, or files): intel files
/// written by `intel import`, or raw STIX bundles and MISP events.
pub(crate) fn load(paths: &[PathBuf]) -> anyhow::Result<IntelSet> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot read {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|e| e == "json") && f.is_file())
                .collect();
            v.sort();
            files.extend(v);
        } else {
            files.push(p.clone());
        }
    }
    let mut all = Vec::new();
    for f in files {
        if f.file_name().is_some_and(|n| n == "taxii-state.json") {
            continue;
        }
        let bytes = read_limited(&f)?;
        if let Ok(intel) = serde_json::from_slice::<IntelFile>(&bytes) {
            if intel.schema == SCHEMA {
                all.extend(intel.indicators);
                continue;
            }
        }
        let imp = threat_intel::import_json(&bytes, &f.display().to_string(), Limits::default())
            .with_context(|| {
                format!(
                    "{}: not an intel file, STIX bundle or MISP event",
                    f.display()
                )
            })?;
        all.extend(imp.indicators);
    }
    Ok(IntelSet::new(all))
}

/// Observables of an assessment: endpoints, the package SHA-256, signer certificate digests.
fn observables(report: &apk_analysis::Assessment) -> Vec<threat_intel::Observable> {
    use threat_intel::{Object, Observable};
    let mut out = Vec::new();
    for e in report.endpoints.iter().flatten() {
        out.extend(Observable::endpoint(&e.value, &e.host, &e.source));
    }
    if let Some(h) = threat_intel::value::sha256_key(&report.file.sha256) {
        out.push(Observable {
            object: Object::FileSha256(h.clone()),
            value: h,
            location: "package file (SHA-256)".into(),
        });
    }
    for s in report.signing.iter().flat_map(|s| &s.signers) {
        if let Some(h) = threat_intel::value::sha256_key(&s.sha256) {
            out.push(Observable {
                object: Object::CertSha256(h.clone()),
                value: h,
                location: format!(
                    "signer certificate (scheme {})",
                    s.scheme.as_deref().unwrap_or("?")
                ),
            });
        }
    }
    out
}

/// Matches a finished assessment against the intel and adds one risk factor per match
/// (`intel.<indicator id>`), then recomputes the score and verdict.
pub(crate) fn apply(report: &mut apk_analysis::Assessment, intel: &IntelSet, now_ms: i64) {
    if intel.is_empty() || report.risk.is_none() {
        return;
    }
    let matches = intel.matches(&observables(report), now_ms);
    let Some(risk) = report.risk.as_mut() else {
        return;
    };
    if matches.is_empty() {
        return;
    }
    for m in &matches {
        let (id, points, title, evidence) = threat_intel::report::factor(m);
        risk.factors.push(apk_analysis::risk::model::Factor {
            id,
            points,
            title,
            evidence,
        });
    }
    risk.factors.sort_by_key(|f| std::cmp::Reverse(f.points));
    let score: u32 = risk
        .factors
        .iter()
        .map(|f| f.points)
        .fold(0u32, u32::saturating_add)
        .min(100);
    risk.score = score;
    risk.verdict = threat_intel::report::verdict(
        u64::from(score),
        u64::from(risk.thresholds.review),
        u64::from(risk.thresholds.unacceptable),
    );
}

pub(crate) fn run(cmd: IntelCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        IntelCmd::Import {
            files,
            dir,
            source,
            max_objects,
            format,
        } => {
            let limits = Limits {
                max_objects,
                ..Limits::default()
            };
            let mut failed = false;
            for f in &files {
                let src = source.clone().unwrap_or_else(|| {
                    f.file_name().map_or_else(
                        || f.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    )
                });
                let result = read_limited(f).and_then(|bytes| {
                    threat_intel::import_json(&bytes, &src, limits)
                        .with_context(|| f.display().to_string())
                });
                match result {
                    Ok(imp) => {
                        let path = write_intel(&dir, &src, &src, &imp)?;
                        print_report(&src, &path, &imp, format);
                    }
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        IntelCmd::Pull {
            taxii,
            collection,
            dir,
            user,
            bearer_env,
            max_pages,
            limit,
            timeout,
            full,
        } => {
            let auth = match (user, bearer_env) {
                (Some(_), Some(_)) => bail!("give --user or --bearer-env, not both"),
                (Some(u), None) => {
                    let pw = std::env::var("TAXII_PASSWORD")
                        .context("--user needs the password in $TAXII_PASSWORD")?;
                    crate::taxii::Auth::Basic(u, pw)
                }
                (None, Some(var)) => crate::taxii::Auth::Bearer(
                    std::env::var(&var).with_context(|| format!("${var} is not set"))?,
                ),
                (None, None) => crate::taxii::Auth::None,
            };
            let state_path = dir.join("taxii-state.json");
            let mut state = crate::taxii::State::load(&state_path)?;
            let key = format!("{}|{collection}", taxii.trim_end_matches('/'));
            let added_after = if full {
                None
            } else {
                state.added_after.get(&key).cloned()
            };
            let opts = crate::taxii::PullOptions {
                max_pages,
                limit,
                timeout: std::time::Duration::from_secs(timeout),
                max_bytes: MAX_FILE,
            };
            let pulled =
                crate::taxii::pull(&taxii, &collection, &auth, added_after.as_deref(), &opts)?;
            let src = format!(
                "taxii:{}/collections/{collection}",
                taxii.trim_end_matches('/')
            );
            let imp = threat_intel::import_stix(&pulled.bundle, &src, Limits::default())
                .context("the TAXII server's objects do not form valid STIX")?;
            let name = format!(
                "taxii-{}-{}",
                safe_name(&collection),
                pulled.last_added.as_deref().unwrap_or("none")
            );
            let path = write_intel(&dir, &name, &src, &imp)?;
            if let Some(last) = &pulled.last_added {
                state.added_after.insert(key, last.clone());
                state.save(&state_path)?;
            }
            eprintln!("{} page(s) pulled", pulled.pages);
            print_report(&src, &path, &imp, crate::policy_cmd::Format::Text);
            Ok(ExitCode::SUCCESS)
        }
    }
}
