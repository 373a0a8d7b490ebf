//! `interdict assess`: files and directories in, one report per APK out.

use std::fs;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::Context;
use apk_analysis::{FileInfo, Limits, Options};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A short summary per APK, for people.
    Text,
    /// One JSON array of report objects (schema interdict.assessment/v1).
    Json,
    /// One JSON report object per line, in input order.
    Jsonl,
    /// One self-contained HTML page per APK (with several APKs, --output names a directory).
    Html,
}

#[derive(Debug, Args)]
pub(crate) struct AssessArgs {
    /// APK or IPA files, or directories searched recursively for *.apk and *.ipa.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Write the report to FILE instead of standard output (written to a temporary file, then renamed).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Assess this many files in parallel (default: all cores).
    #[arg(long, short, value_name = "N")]
    jobs: Option<usize>,

    /// Include every dotted DEX class name in `dex.class_names` (large).
    #[arg(long)]
    include_classes: bool,

    /// Include every DEX string constant in `dex.string_values` (large).
    #[arg(long)]
    include_strings: bool,

    /// Refuse archives with more entries than this.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_entries)]
    max_entries: usize,

    /// Refuse to inflate any single entry beyond this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_entry_size)]
    max_entry_size: u64,

    /// Refuse to inflate more than this many bytes in total per APK.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_total_inflated)]
    max_total_size: u64,

    /// Refuse entries whose inflated/compressed ratio exceeds this (zip-bomb guard).
    #[arg(long, value_name = "RATIO", default_value_t = Limits::default().max_ratio)]
    max_ratio: u64,

    /// Never show a progress bar.
    #[arg(long)]
    no_progress: bool,

    /// Skip risk analysis (capabilities, trackers, endpoints, vendor, verdict).
    #[arg(long)]
    no_risk: bool,

    /// Skip signature verification (v1/v2/v3/v3.1); the `signing` section is then absent.
    #[arg(long)]
    no_verify: bool,

    /// Extra tracker database (Exodus API JSON), merged over the built-in and imported ones. Repeatable.
    #[arg(long, value_name = "FILE")]
    trackers: Vec<PathBuf>,

    /// Extra vendor catalog: `[[vendors]]` tables as in policies and the built-in
    /// `crates/apk-analysis/data/vendors.toml` (a policy file works too); same-name vendors
    /// replace built-in ones. Repeatable.
    #[arg(long, value_name = "FILE")]
    vendors: Vec<PathBuf>,

    /// Jurisdictions of concern, as ISO 3166-1 alpha-2 codes (e.g. CN,RU).
    #[arg(long, value_name = "CC,CC", value_delimiter = ',')]
    concern: Vec<String>,

    /// Judge as this policy does: its `jurisdictions_of_concern` are added to --concern and its
    /// `[[vendors]]` to the vendor catalog.
    #[arg(long, value_name = "POLICY.toml")]
    policy: Option<PathBuf>,

    /// Lowest risk score that needs review.
    #[arg(long, value_name = "SCORE", default_value_t = apk_analysis::risk::model::Thresholds::default().review)]
    review_threshold: u32,

    /// Lowest risk score that is unacceptable.
    #[arg(long, value_name = "SCORE", default_value_t = apk_analysis::risk::model::Thresholds::default().unacceptable)]
    unacceptable_threshold: u32,

    /// Match endpoints, the package SHA-256 and signer digests against threat intelligence:
    /// a directory written by `interdict intel import`, or STIX bundle / MISP event files. Repeatable.
    #[arg(long, value_name = "DIR")]
    intel: Vec<PathBuf>,
}

/// Builds the risk configuration from the flags (None with --no-risk).
fn risk_config(args: &AssessArgs) -> anyhow::Result<Option<apk_analysis::risk::RiskConfig>> {
    use apk_analysis::risk::{model::Thresholds, RiskConfig, VendorCatalog};
    if args.no_risk {
        return Ok(None);
    }
    if args.review_threshold > args.unacceptable_threshold {
        anyhow::bail!(
            "--review-threshold ({}) is above --unacceptable-threshold ({})",
            args.review_threshold,
            args.unacceptable_threshold
        );
    }
    let mut vendors = VendorCatalog::builtin();
    for f in &args.vendors {
        let text = fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        vendors.extend(VendorCatalog::parse(&text).with_context(|| f.display().to_string())?);
    }
    let mut listed = args.concern.clone();
    if let Some(p) = &args.policy {
        let text = fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        let policy = app_policy::parse_policy(&text, &p.display().to_string())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        listed.extend(policy.jurisdictions_of_concern);
        vendors.merge(VendorCatalog::parse(&text).with_context(|| p.display().to_string())?);
    }
    let mut config = RiskConfig {
        trackers: crate::trackers_cmd::matcher(&args.trackers)?,
        vendors: std::sync::Arc::new(vendors),
        concern: Vec::new(),
        thresholds: Thresholds {
            review: args.review_threshold,
            unacceptable: args.unacceptable_threshold,
        },
    };
    for c in &listed {
        if !config.add_concern(c) {
            anyhow::bail!(
                "--concern takes ISO 3166-1 alpha-2 country codes such as CN,RU; got {:?}",
                c.trim().to_ascii_uppercase()
            );
        }
    }
    Ok(Some(config))
}

/// Expands directories into the `*.apk` files under them, sorted, keeping the given order of arguments.
fn collect_inputs(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(p)
                .follow_links(false)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(walkdir::DirEntry::into_path)
                .filter(|p| {
                    p.extension().is_some_and(|e| {
                        e.eq_ignore_ascii_case("apk") || e.eq_ignore_ascii_case("ipa")
                    })
                })
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// One input's outcome, already rendered in the requested format.
struct Outcome {
    rendered: String,
    ok: bool,
}

/// The bytes of one input: mapped when large (only the pages the parsers touch are read), read when small.
enum Input {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl std::ops::Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Input::Mapped(m) => m,
            Input::Read(v) => v,
        }
    }
}

/// Files at least this large are memory-mapped and hashed by a streaming reader beside the parsing.
const MAP_THRESHOLD: u64 = 1 << 20;

fn open_input(path: &Path) -> std::io::Result<Input> {
    let file = fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() >= MAP_THRESHOLD {
        // SAFETY: the mapping is read-only and private to this process. If another process truncates
        // the file while it is mapped, reads past the new end fault (SIGBUS); interdict reads inputs
        // it was given, not files that are being written, and ripgrep makes the same trade.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Input::Mapped(map))
    } else {
        let mut data = Vec::with_capacity(meta.len() as usize);
        std::io::Read::read_to_end(&mut &file, &mut data)?;
        Ok(Input::Read(data))
    }
}

/// SHA-256 of a file by streaming reads, so hashing does not keep the whole file resident.
fn hash_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut file = fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn render_error(report: &apk_analysis::ErrorReport, format: Format) -> String {
    match format {
        Format::Text => format!(
            "{}: error ({}): {}\n",
            clean(&report.file.path),
            report.error.code,
            clean(&report.error.message)
        ),
        Format::Html => error_html(&report.file.path, &report.error.message),
        Format::Json | Format::Jsonl => serde_json::to_string(report).unwrap_or_default(),
    }
}

fn assess_one(
    path: &Path,
    options: &Options,
    format: Format,
    intel: Option<&threat_intel::IntelSet>,
) -> Outcome {
    let shown = path.display().to_string();
    let data = match open_input(path) {
        Ok(d) => d,
        Err(e) => {
            let report = apk_analysis::error_report(
                FileInfo {
                    path: shown.clone(),
                    ..FileInfo::default()
                },
                "unreadable",
                format!("cannot read {shown}: {e}"),
            );
            return Outcome {
                rendered: render_error(&report, format),
                ok: false,
            };
        }
    };
    let mut file = FileInfo {
        path: shown,
        size: data.len() as u64,
        sha256: String::new(),
    };
    if crate::assess_ipa::is_ipa_input(path, &data) {
        // As for APKs: a mapped file is hashed by streaming reads beside the parsing, so hashing does not
        // keep the whole file resident.
        let (result, sha256) = std::thread::scope(|scope| {
            let hasher = matches!(data, Input::Mapped(_)).then(|| scope.spawn(|| hash_file(path)));
            let result = crate::assess_ipa::assess(file.clone(), &data, options);
            let sha = hasher
                .and_then(|h| h.join().ok())
                .and_then(Result::ok)
                .unwrap_or_else(|| apk_analysis::sha256_hex(&data));
            (result, sha)
        });
        file.sha256 = sha256;
        return match result {
            Ok(mut report) => {
                report.file.sha256 = file.sha256;
                Outcome {
                    rendered: crate::assess_ipa::render(&report, format),
                    ok: true,
                }
            }
            Err(mut report) => {
                report.file.sha256 = file.sha256;
                Outcome {
                    rendered: render_error(&report, format),
                    ok: false,
                }
            }
        };
    }
    // Large files are hashed beside the parsing, on the other core; small ones in memory.
    let (result, sha256) = match &data {
        Input::Mapped(_) => std::thread::scope(|scope| {
            let hasher = scope.spawn(|| hash_file(path));
            let result = apk_analysis::assess_with_file(file.clone(), &data, options);
            let sha = hasher
                .join()
                .ok()
                .and_then(Result::ok)
                .unwrap_or_else(|| apk_analysis::sha256_hex(&data));
            (result, sha)
        }),
        Input::Read(bytes) => (
            apk_analysis::assess_with_file(file.clone(), bytes, options),
            apk_analysis::sha256_hex(bytes),
        ),
    };
    file.sha256 = sha256;
    match result {
        Ok(mut report) => {
            report.file.sha256 = file.sha256;
            if let Some(intel) = intel {
                crate::intel_cmd::apply(&mut report, intel, crate::net_cmd::now_ms());
            }
            let rendered = match format {
                Format::Text => text_summary(&report),
                Format::Html => crate::html::render(&report),
                Format::Json | Format::Jsonl => serde_json::to_string(&report).unwrap_or_default(),
            };
            Outcome { rendered, ok: true }
        }
        Err(e) => {
            let report = apk_analysis::error_report(file, e.code(), e.to_string());
            Outcome {
                rendered: render_error(&report, format),
                ok: false,
            }
        }
    }
}

fn error_html(path: &str, message: &str) -> String {
    use crate::html::esc;
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>interdict: error</title></head>\
         <body><h1>Could not assess {}</h1><p>{}</p></body></html>\n",
        esc(path),
        esc(message)
    )
}

/// Escapes control characters so attacker-chosen manifest strings cannot drive the terminal.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

fn text_summary(r: &apk_analysis::Assessment) -> String {
    let a = &r.app;
    let mut s = String::new();
    let opt = |v: Option<u32>| v.map_or("-".to_owned(), |v| v.to_string());
    s.push_str(&format!("{}\n", clean(&r.file.path)));
    s.push_str(&format!(
        "  package   {}  version {} ({})\n",
        clean(&a.package),
        clean(a.version_name.as_deref().unwrap_or("-")),
        a.version_code.map_or("-".to_owned(), |v| v.to_string()),
    ));
    s.push_str(&format!(
        "  label     {}\n",
        clean(a.label.as_deref().unwrap_or("-"))
    ));
    s.push_str(&format!(
        "  sdk       min {}  target {}  compile {}\n",
        opt(a.min_sdk),
        opt(a.target_sdk),
        opt(a.compile_sdk)
    ));
    let mut flags = Vec::new();
    if a.debuggable {
        flags.push("debuggable");
    }
    if a.allow_backup {
        flags.push("backup-allowed");
    }
    if a.uses_cleartext_traffic {
        flags.push("cleartext-allowed");
    }
    s.push_str(&format!(
        "  flags     {}\n",
        if flags.is_empty() {
            "-".to_owned()
        } else {
            flags.join(", ")
        }
    ));
    let exported = r.components.iter().filter(|c| c.exported).count();
    s.push_str(&format!(
        "  perms     {} requested, {} declared;  components {} ({} exported)\n",
        r.permissions.len(),
        r.declared_permissions.len(),
        r.components.len(),
        exported
    ));
    s.push_str(&format!(
        "  code      {} dex, {} classes, {} strings;  {} native libs;  {} embedded\n",
        r.dex.files.len(),
        r.dex.classes,
        r.dex.strings,
        r.native_libs.len(),
        r.embedded.len()
    ));
    if !r.anomalies.is_empty() {
        let mut codes: Vec<&str> = r.anomalies.iter().map(|a| a.code.as_str()).collect();
        codes.dedup();
        codes.truncate(6);
        s.push_str(&format!(
            "  anomalies {}: {}\n",
            r.anomalies.len(),
            codes.join(", ")
        ));
    }
    if let Some(sig) = &r.signing {
        s.push_str(&format!("  signature {}\n", clean(&sig.summary)));
    }
    risk_summary(r, &mut s);
    s
}

/// The risk lines of the text summary: verdict, top factors in plain words, vendor, trackers.
fn risk_summary(r: &apk_analysis::Assessment, s: &mut String) {
    let Some(risk) = &r.risk else { return };
    if let Some(v) = &r.vendor {
        s.push_str(&format!(
            "  vendor    {} ({}){} by {} {}\n",
            clean(&v.name),
            clean(&v.country),
            if v.of_concern {
                ", jurisdiction of concern,"
            } else {
                ""
            },
            v.matched_by,
            clean(&v.matched_value)
        ));
    }
    if let Some(t) = r.trackers.as_ref().filter(|t| !t.is_empty()) {
        let names: Vec<String> = t.iter().map(|t| clean(&t.name)).collect();
        s.push_str(&format!("  trackers  {}: {}\n", t.len(), names.join(", ")));
    }
    if let Some(e) = &r.endpoints {
        let clear = e.iter().filter(|e| e.cleartext).count();
        s.push_str(&format!(
            "  endpoints {} ({} unencrypted)\n",
            e.len(),
            clear
        ));
    }
    s.push_str(&format!(
        "  risk      {}/100 {} (review from {}, unacceptable from {})\n",
        risk.score, risk.verdict, risk.thresholds.review, risk.thresholds.unacceptable
    ));
    for f in risk.factors.iter().take(5) {
        let mut ev = clean(&f.evidence);
        if ev.chars().count() > 100 {
            ev = ev.chars().take(99).collect::<String>() + "…";
        }
        s.push_str(&format!(
            "    +{:<3} {}: {}\n",
            f.points,
            clean(&f.title),
            ev
        ));
    }
    if risk.factors.len() > 5 {
        s.push_str(&format!(
            "    ... {} more factors in the JSON report\n",
            risk.factors.len() - 5
        ));
    }
}

pub(crate) fn run(args: AssessArgs) -> anyhow::Result<ExitCode> {
    let inputs = collect_inputs(&args.paths);
    if inputs.is_empty() {
        anyhow::bail!(
            "no APK or IPA found under {}; give .apk/.ipa files or directories that contain them",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let options = Options {
        limits: Limits {
            max_entries: args.max_entries,
            max_entry_size: args.max_entry_size,
            max_total_inflated: args.max_total_size,
            max_ratio: args.max_ratio,
        },
        include_classes: args.include_classes,
        include_strings: args.include_strings,
        risk: risk_config(&args)?,
        skip_signing: args.no_verify,
    };
    let intel = if args.intel.is_empty() {
        None
    } else {
        if args.no_risk {
            anyhow::bail!("--intel adds risk factors; it cannot be used with --no-risk");
        }
        Some(crate::intel_cmd::load(&args.intel)?)
    };
    if args.format == Format::Html && inputs.len() > 1 {
        match &args.output {
            Some(dir) if !dir.is_file() => {
                fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            _ => anyhow::bail!(
                "--format html with several APKs needs --output DIR (one page per APK)"
            ),
        }
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .clamp(1, inputs.len());

    let progress =
        (!args.no_progress && inputs.len() > 1 && io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(inputs.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} assessing [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });

    // Workers take the next index; results land in their slot so output keeps input order.
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Outcome>>> = inputs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = inputs.get(i) else { break };
                let outcome = assess_one(path, &options, args.format, intel.as_ref());
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(outcome);
                }
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
            });
        }
    });
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }

    let outcomes: Vec<Outcome> = slots
        .into_iter()
        .filter_map(|m| m.into_inner().ok().flatten())
        .collect();
    let all_ok = outcomes.iter().all(|o| o.ok);

    if args.format == Format::Html && inputs.len() > 1 {
        if let Some(dir) = &args.output {
            for (path, o) in inputs.iter().zip(&outcomes) {
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("report");
                let out = dir.join(format!("{stem}.html"));
                fs::write(&out, &o.rendered)
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
        }
        return Ok(if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        });
    }

    let write = |w: &mut dyn Write| -> io::Result<()> {
        match args.format {
            Format::Text => {
                for o in &outcomes {
                    w.write_all(o.rendered.as_bytes())?;
                }
            }
            Format::Json => {
                w.write_all(b"[")?;
                for (i, o) in outcomes.iter().enumerate() {
                    if i > 0 {
                        w.write_all(b",\n")?;
                    }
                    w.write_all(o.rendered.as_bytes())?;
                }
                w.write_all(b"]\n")?;
            }
            Format::Jsonl => {
                for o in &outcomes {
                    w.write_all(o.rendered.as_bytes())?;
                    w.write_all(b"\n")?;
                }
            }
            Format::Html => {
                for o in &outcomes {
                    w.write_all(o.rendered.as_bytes())?;
                }
            }
        }
        w.flush()
    };
    match &args.output {
        Some(out) => {
            let dir = out
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let tmp = dir.join(format!(
                ".{}.tmp-{}",
                out.file_name().and_then(|n| n.to_str()).unwrap_or("report"),
                std::process::id()
            ));
            {
                let f = fs::File::create(&tmp)
                    .with_context(|| format!("cannot create {}", tmp.display()))?;
                let mut w = BufWriter::new(f);
                write(&mut w).with_context(|| format!("cannot write {}", tmp.display()))?;
                w.into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|f| f.sync_all())
                    .with_context(|| format!("cannot sync {}", tmp.display()))?;
            }
            fs::rename(&tmp, out)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), out.display()))?;
        }
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            write(&mut w).context("cannot write to standard output")?;
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
