//! `interdict audit`: export the audit ledger as plain files, verify a bundle offline, make and
//! check self-contained proofs of single events, rotate the checkpoint signing key, and issue
//! the point-in-time compliance report (`audit report`).
//!
//! A bundle is a directory:
//! - `entries.jsonl`: the canonical bytes of every event, one per line, in sequence order
//!   (leaf `i` is line `i + 1`);
//! - `checkpoints/*.checkpoint`: the signed checkpoints (C2SP tlog-checkpoint notes);
//! - `keys.pub`: note verifier keys, one per line (every key ever used: rotation);
//! - `leaf-hashes.txt` (exports from a data directory): the leaf hashes stored when each event
//!   was appended, so that `verify` can name an edited entry exactly.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use audit_ledger::note::Verifier;
use audit_ledger::{leaf_hash, Checkpoint, Frontier, Hash, Signer, TlogProof};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::init_cmd::{runtime, StoreArgs};

/// The signing key file in the data directory (mode 0600).
pub(crate) const KEY_FILE: &str = "ledger.key";
/// The verifier keys file in the data directory (every key ever used, one per line).
pub(crate) const PUB_FILE: &str = "ledger.pub";

/// `interdict audit` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCmd {
    /// Write the ledger (entries, checkpoints, verifier keys) as plain files to a directory.
    ///
    /// Examples:
    ///   interdict audit export --data-dir interdict-data --out bundle/
    ///   interdict audit export --server http://127.0.0.1:8080 --token T --key ledger.pub --out bundle/
    #[command(verbatim_doc_comment)]
    Export(ExportArgs),
    /// Verify a bundle offline: recompute the tree, check every checkpoint's signature and
    /// that every checkpoint (and every --trusted one) is a prefix of this log.
    ///
    /// On failure it names the first bad entry index and the kind of damage.
    /// Exit status: 0 intact, 1 damage found, 2 unusable input.
    ///
    /// Examples:
    ///   interdict audit verify bundle/
    ///   interdict audit verify bundle/ --trusted old-bundle/checkpoints/00000000000000001000-1a2b3c4d.checkpoint
    #[command(verbatim_doc_comment)]
    Verify(VerifyArgs),
    /// Write a self-contained proof (C2SP tlog-proof, entry bytes in its `extra` line) that
    /// event INDEX is in the log at the newest checkpoint.
    ///
    /// Examples:
    ///   interdict audit prove --data-dir interdict-data --index 41 --out event-41.tlog-proof
    #[command(verbatim_doc_comment)]
    Prove(ProveArgs),
    /// Check a proof written by `audit prove` with nothing but the verifier key.
    ///
    /// Exit status: 0 the proof holds, 1 it does not, 2 unusable input.
    ///
    /// Examples:
    ///   interdict audit check-proof event-41.tlog-proof --key ledger.pub
    #[command(verbatim_doc_comment)]
    CheckProof(CheckProofArgs),
    /// Create a new checkpoint signing key; the old verifier keys stay in ledger.pub so old
    /// checkpoints remain verifiable by their key id. Restart the server to use it.
    RotateKey(RotateArgs),
    /// Write the point-in-time compliance report as of --at: the active policy version, every
    /// rule, the devices in scope (compliant, in grace, excepted with approver and end date,
    /// overdue, stale) and the signed checkpoint covering that time.
    ///
    /// The report is rebuilt only from the events recorded up to --at, so the same --at gives
    /// the same bytes later. Each issue is logged as a `report.issued` event with the report's
    /// SHA-256 (printed on standard error). HTML prints to PDF from a browser.
    ///
    /// Examples:
    ///   interdict audit report --data-dir interdict-data --at 2026-12-03T12:00:00Z --out report.json
    ///   interdict audit report --data-dir interdict-data --at 2026-12-03 --format html --out report.html
    ///   interdict audit report --server https://interdict.example --token T --at 2026-12-03T12:00:00Z
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),
}

/// Formats of `audit report`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ReportFormatArg {
    /// Canonical JSON (sorted keys, compact).
    Json,
    /// A printable HTML page.
    Html,
}

/// Arguments of `audit report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The report's time: RFC 3339 (2026-12-03T12:00:00Z) or a date (its last millisecond,
    /// UTC); must be in the past.
    #[arg(long)]
    at: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: ReportFormatArg,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Where to read the ledger from.
#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    /// Read from a running server (needs a token of role auditor or above).
    #[arg(long, conflicts_with = "database")]
    server: Option<String>,
    /// API token for --server (or INTERDICT_TOKEN).
    #[arg(long)]
    token: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `audit export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Verifier key file to include (default: ledger.pub of the data directory).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Output directory (created; must be empty or absent).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `audit verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The bundle directory.
    bundle: PathBuf,
    /// A checkpoint obtained earlier (e.g. from an older export or the checkpoint dir): the
    /// log must extend it. Repeatable.
    #[arg(long)]
    trusted: Vec<PathBuf>,
    /// Verifier key file (one key per line) to trust instead of the bundle's keys.pub.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `audit prove`.
#[derive(Debug, Args)]
pub(crate) struct ProveArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Leaf index of the event (its seq minus 1).
    #[arg(long)]
    index: u64,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Arguments of `audit check-proof`.
#[derive(Debug, Args)]
pub(crate) struct CheckProofArgs {
    /// The proof file.
    proof: PathBuf,
    /// Verifier key file (one key per line).
    #[arg(long)]
    key: PathBuf,
    /// The entry's bytes, if not taken from the proof's extra line.
    #[arg(long)]
    entry: Option<PathBuf>,
}

/// Arguments of `audit rotate-key`.
#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    /// Data directory holding ledger.key and ledger.pub.
    #[arg(long, default_value = "interdict-data")]
    data_dir: PathBuf,
}

pub(crate) fn run(cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCmd::Export(a) => export(a),
        AuditCmd::Verify(a) => verify(a),
        AuditCmd::Prove(a) => prove(a),
        AuditCmd::CheckProof(a) => check_proof(a),
        AuditCmd::RotateKey(a) => rotate(a),
        AuditCmd::Report(a) => report(a),
    }
}

// ---- keys ---------------------------------------------------------------------------------

fn seed() -> [u8; 32] {
    let hex = storage::new_secret();
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    out
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Creates the signing key in `dir` if there is none; returns the verifier key line.
pub(crate) fn ensure_key(dir: &Path) -> anyhow::Result<String> {
    let key = dir.join(KEY_FILE);
    if key.exists() {
        return Ok(load_signer(dir)?.verifier().to_key_string());
    }
    let name = format!("interdict.audit/{}", &storage::new_secret()[..16]);
    let signer = Signer::from_seed(&name, seed())?;
    write_private(&key, &format!("{}\n", signer.to_key_string()))?;
    append_pub(dir, &signer)?;
    Ok(signer.verifier().to_key_string())
}

fn append_pub(dir: &Path, signer: &Signer) -> anyhow::Result<()> {
    let path = dir.join(PUB_FILE);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{}", signer.verifier().to_key_string())?;
    f.sync_all()?;
    Ok(())
}

/// The signing key of a data directory.
pub(crate) fn load_signer(dir: &Path) -> anyhow::Result<Signer> {
    let path = dir.join(KEY_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Signer::parse(&text).with_context(|| format!("{} is not a note signing key", path.display()))
}

fn load_verifiers(path: &Path) -> anyhow::Result<Vec<Verifier>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(
            Verifier::parse(line).with_context(|| {
                format!("{}:{}: not a note verifier key", path.display(), i + 1)
            })?,
        );
    }
    if out.is_empty() {
        bail!("{} holds no verifier key", path.display());
    }
    Ok(out)
}

fn rotate(a: RotateArgs) -> anyhow::Result<ExitCode> {
    let old = load_signer(&a.data_dir)?;
    let new = Signer::from_seed(old.name(), seed())?;
    let path = a.data_dir.join(KEY_FILE);
    let tmp = a.data_dir.join(format!(".{KEY_FILE}.new"));
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, &format!("{}\n", new.to_key_string()))?;
    append_pub(&a.data_dir, &new)?;
    std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
    println!("New checkpoint signing key (restart the server to use it):");
    println!("  {}", new.verifier().to_key_string());
    println!(
        "Old checkpoints stay verifiable: every verifier key is kept in {}.",
        a.data_dir.join(PUB_FILE).display()
    );
    Ok(ExitCode::SUCCESS)
}

// ---- sources ------------------------------------------------------------------------------

pub(crate) enum Source {
    Store(storage::Store),
    Http {
        base: String,
        token: String,
        client: reqwest::Client,
    },
}

impl Source {
    pub(crate) async fn open(a: &SourceArgs) -> anyhow::Result<Source> {
        match &a.server {
            Some(s) => Ok(Source::Http {
                base: s.trim_end_matches('/').to_string(),
                token: a
                    .token
                    .clone()
                    .or_else(|| std::env::var("INTERDICT_TOKEN").ok())
                    .context(
                        "--server needs --token (or INTERDICT_TOKEN) with read access (auditor or above for the ledger, viewer for policy reviews)",
                    )?,
                client: reqwest::Client::new(),
            }),
            None => Ok(Source::Store(a.store.open().await?)),
        }
    }

    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let Source::Http {
            base,
            token,
            client,
        } = self
        else {
            bail!("not a server source");
        };
        let r = client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("GET {base}{path}"))?;
        if !r.status().is_success() {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            bail!("GET {path}: HTTP {status}: {}", clean(&body));
        }
        Ok(r)
    }

    async fn checkpoints(&self) -> anyhow::Result<Vec<(i64, String, String)>> {
        let mut out = Vec::new();
        let mut from = 0i64;
        loop {
            let page: Vec<(i64, String, String)> = match self {
                Source::Store(s) => s
                    .ledger_checkpoints(from, 1000)
                    .await?
                    .into_iter()
                    .map(|c| (c.size, c.key_id, c.note))
                    .collect(),
                Source::Http { .. } => {
                    let v: Value = self
                        .get(&format!("/api/v1/audit/checkpoints?from={from}&limit=1000"))
                        .await?
                        .json()
                        .await?;
                    v["checkpoints"]
                        .as_array()
                        .context("checkpoints: not a list")?
                        .iter()
                        .map(|c| {
                            Some((
                                c["size"].as_i64()?,
                                c["key_id"].as_str()?.to_string(),
                                c["note"].as_str()?.to_string(),
                            ))
                        })
                        .collect::<Option<Vec<_>>>()
                        .context("checkpoints: malformed item")?
                }
            };
            let full = page.len() == 1000;
            let next = page.last().map(|c| c.0 + 1);
            for c in page {
                if !out
                    .iter()
                    .any(|o: &(i64, String, String)| o.0 == c.0 && o.1 == c.1)
                {
                    out.push(c);
                }
            }
            match (full, next) {
                (true, Some(n)) => from = n,
                _ => return Ok(out),
            }
        }
    }

    async fn size(&self) -> anyhow::Result<i64> {
        match self {
            Source::Store(s) => Ok(s.ledger_size().await?),
            Source::Http { .. } => Ok(self
                .checkpoints()
                .await?
                .iter()
                .map(|c| c.0)
                .max()
                .unwrap_or(0)),
        }
    }

    /// Entries [start, end) and their stored leaf hashes (data directory only).
    /// Entries [start, end) as (index, bytes, stored leaf hash).
    async fn entries(
        &self,
        start: i64,
        end: i64,
    ) -> anyhow::Result<Vec<(i64, String, Option<String>)>> {
        match self {
            Source::Store(s) => Ok(s
                .ledger_entries(start, end)
                .await?
                .into_iter()
                .map(|e| (e.index, e.entry, e.leaf_hash))
                .collect()),
            Source::Http { .. } => {
                let v: Value = self
                    .get(&format!("/api/v1/audit/entries?start={start}&end={end}"))
                    .await?
                    .json()
                    .await?;
                v["entries"]
                    .as_array()
                    .context("entries: not a list")?
                    .iter()
                    .enumerate()
                    .map(|(i, e)| e.as_str().map(|s| (start + i as i64, s.to_string(), None)))
                    .collect::<Option<Vec<_>>>()
                    .context("entries: malformed item")
            }
        }
    }

    async fn inclusion(&self, index: u64, size: u64) -> anyhow::Result<Vec<Hash>> {
        match self {
            Source::Store(s) => Ok(s.ledger_inclusion_proof(index, size).await?),
            Source::Http { .. } => {
                let v: Value = self
                    .get(&format!(
                        "/api/v1/audit/proof/inclusion?index={index}&size={size}"
                    ))
                    .await?
                    .json()
                    .await?;
                v["hashes"]
                    .as_array()
                    .context("proof: no hashes")?
                    .iter()
                    .map(|h| {
                        let raw = B64.decode(h.as_str().context("proof: hash not a string")?)?;
                        Hash::try_from(raw.as_slice()).context("proof: hash is not 32 bytes")
                    })
                    .collect()
            }
        }
    }
}

// ---- export -------------------------------------------------------------------------------

fn export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let src = Source::open(&a.source).await?;
        if a.out.exists() && std::fs::read_dir(&a.out)?.next().is_some() {
            bail!("{} is not empty: export into a new directory", a.out.display());
        }
        std::fs::create_dir_all(a.out.join("checkpoints"))
            .with_context(|| format!("creating {}", a.out.display()))?;
        let cps = src.checkpoints().await?;
        let size = match &src {
            Source::Store(_) => src.size().await?,
            Source::Http { .. } => cps.iter().map(|c| c.0).max().unwrap_or(0),
        };
        let mut entries = std::io::BufWriter::new(std::fs::File::create(a.out.join("entries.jsonl"))?);
        let mut leaves = match &src {
            Source::Store(_) => Some(std::io::BufWriter::new(std::fs::File::create(a.out.join("leaf-hashes.txt"))?)),
            Source::Http { .. } => None,
        };
        let mut at = 0i64;
        let mut written = 0usize;
        while at < size {
            let page = src.entries(at, (at + 10_000).min(size)).await?;
            if page.is_empty() {
                break;
            }
            for (_, entry, leaf) in &page {
                entries.write_all(entry.as_bytes())?;
                entries.write_all(b"\n")?;
                if let Some(l) = leaves.as_mut() {
                    writeln!(l, "{}", leaf.as_deref().unwrap_or("-"))?;
                }
            }
            written += page.len();
            // Next page after the last index read (a deleted row leaves a gap in seq).
            at = page.last().map_or(size, |e| e.0 + 1);
        }
        entries.flush()?;
        if let Some(mut l) = leaves {
            l.flush()?;
        }
        for (size, key_id, note) in &cps {
            std::fs::write(a.out.join("checkpoints").join(format!("{size:020}-{key_id}.checkpoint")), note)?;
        }
        let key = match (&a.key, &a.source.server) {
            (Some(k), _) => Some(k.clone()),
            (None, None) => Some(a.source.store.data_dir.join(PUB_FILE)),
            (None, Some(_)) => None,
        };
        match key {
            Some(k) if k.exists() => {
                std::fs::copy(&k, a.out.join("keys.pub")).with_context(|| format!("copying {}", k.display()))?;
            }
            _ => eprintln!("interdict: warning: no verifier key in the bundle (pass --key FILE); verify will need --key"),
        }
        if let Source::Store(s) = &src {
            s.close().await;
        }
        println!("Exported {written} entries and {} checkpoints to {}", cps.len(), a.out.display());
        Ok(ExitCode::SUCCESS)
    })
}

// ---- report -------------------------------------------------------------------------------

/// `s` as a URL query value (RFC 3986 unreserved characters kept).
pub(crate) fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn report(a: ReportArgs) -> anyhow::Result<ExitCode> {
    let at_ms = storage::parse_report_time(&a.at).map_err(|e| anyhow::anyhow!("--at: {e}"))?;
    if at_ms >= storage::now_ms() {
        bail!(
            "--at: {} is not in the past; a report is made only for a time already recorded",
            storage::rfc3339_ms(at_ms)
        );
    }
    let format = match a.format {
        ReportFormatArg::Json => storage::ReportFormat::Json,
        ReportFormatArg::Html => storage::ReportFormat::Html,
    };
    let (body, sha256) = runtime()?.block_on(async {
        let src = Source::open(&a.source).await?;
        let out = match &src {
            Source::Http { .. } => {
                let path = format!(
                    "/api/v1/reports/compliance?at={}&format={}",
                    query_value(&storage::rfc3339_ms(at_ms)),
                    format.as_str()
                );
                let body = src.get(&path).await?.text().await?;
                let sha = storage::sha256_hex(body.as_bytes());
                (body, sha)
            }
            Source::Store(store) => {
                // Name the checkpoint covering --at: sign one with the data directory's key
                // when none does yet (as the server does), so later issues match.
                let key = a.source.store.data_dir.join(KEY_FILE);
                if key.exists() && store.ledger_checkpoint_covering(at_ms).await?.is_none() {
                    store
                        .ledger_sign_checkpoint(&load_signer(&a.source.store.data_dir)?)
                        .await?;
                }
                let issued = store.issue_compliance_report(at_ms, format, "cli").await?;
                store.close().await;
                (issued.body, issued.sha256)
            }
        };
        anyhow::Ok(out)
    })?;
    match &a.out {
        Some(path) => std::fs::write(path, body.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(body.as_bytes())?;
            stdout.flush()?;
        }
    }
    eprintln!(
        "interdict: compliance report as of {} ({}), sha256 {sha256}",
        storage::rfc3339_ms(at_ms),
        format.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

// ---- verify -------------------------------------------------------------------------------

/// Shows untrusted text on a terminal: controls, bidi overrides and other invisible format
/// characters escaped, at most 160 characters.
pub(crate) fn clean(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i >= 160 {
            out.push('…');
            break;
        }
        let bidi = matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// One finding of `verify`.
struct Damage {
    index: u64,
    kind: &'static str,
    detail: String,
}

/// The `seq` of a canonical entry without parsing it all: keys are sorted, so `seq` is the
/// last field but `subject`, a string in which a quote is always escaped, so the last
/// `,"seq":` is the field itself.
fn seq_of(entry: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b",\"seq\":";
    let at = entry.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let digits = entry[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || entry.get(at + digits) != Some(&b',') || !entry.starts_with(b"{\"action\":") {
        return None;
    }
    std::str::from_utf8(&entry[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let keys = match &a.key {
        Some(k) => load_verifiers(k)?,
        None => load_verifiers(&a.bundle.join("keys.pub"))
            .context("the bundle has no usable keys.pub; pass --key FILE")?,
    };
    // Entries and stored leaf hashes are streamed: memory does not grow with the log.
    let path = a.bundle.join("entries.jsonl");
    let mut entries = std::io::BufReader::with_capacity(
        1 << 20,
        std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?,
    );
    let mut damage: Vec<Damage> = Vec::new();

    // Checkpoints: every signature must verify by a known key.
    let mut cps: Vec<(String, Checkpoint)> = Vec::new();
    let dir = a.bundle.join("checkpoints");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    let mut bad_sig = Vec::new();
    for f in &files {
        let text = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        match Checkpoint::open(&text, &keys) {
            Ok((cp, _)) => cps.push((f.display().to_string(), cp)),
            Err(e) => bad_sig.push(format!("{}: {e}", f.display())),
        }
    }
    let mut trusted: Vec<(String, Checkpoint)> = Vec::new();
    for t in &a.trusted {
        let text = std::fs::read(t).with_context(|| format!("reading {}", t.display()))?;
        let (cp, _) = Checkpoint::open(&text, &keys).with_context(|| {
            format!(
                "trusted checkpoint {} does not verify with the keys",
                t.display()
            )
        })?;
        trusted.push((t.display().to_string(), cp));
    }
    let origins: std::collections::BTreeSet<&str> = cps
        .iter()
        .chain(&trusted)
        .map(|(_, c)| c.origin.as_str())
        .collect();
    if origins.len() > 1 {
        bail!(
            "checkpoints of different logs (origins {:?}): verify one log at a time",
            origins
        );
    }

    // Stored leaf hashes, if exported from a data directory.
    let mut stored = std::fs::File::open(a.bundle.join("leaf-hashes.txt"))
        .ok()
        .map(|f| std::io::BufReader::with_capacity(1 << 20, f));

    // One pass: leaf hashes, roots at every checkpoint size.
    let mut wanted: BTreeMap<u64, Vec<(String, Hash)>> = BTreeMap::new();
    for (name, cp) in cps.iter().chain(&trusted) {
        wanted
            .entry(cp.size)
            .or_default()
            .push((name.clone(), cp.root));
    }
    let mut frontier = Frontier::new();
    let mut roots_ok: Vec<u64> = vec![0];
    let mut first_root_bad: Option<(u64, String)> = None;
    let mut first_leaf_bad: Option<(u64, Vec<u8>)> = None;
    let mut first_struct: Option<(u64, Option<i64>, Vec<u8>)> = None;
    let check_root =
        |size: u64, fr: &Frontier, ok: &mut Vec<u64>, bad: &mut Option<(u64, String)>| {
            if let Some(list) = wanted.get(&size) {
                for (name, root) in list {
                    if fr.root() == *root {
                        ok.push(size);
                    } else if bad.is_none() {
                        *bad = Some((size, name.clone()));
                    }
                }
            }
        };
    check_root(0, &frontier, &mut roots_ok, &mut first_root_bad);
    let mut n: u64 = 0;
    let mut unterminated = false;
    let mut buf: Vec<u8> = Vec::new();
    let mut stored_line: Vec<u8> = Vec::new();
    loop {
        buf.clear();
        let got = entries
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if got == 0 {
            break;
        }
        let line: &[u8] = match buf.strip_suffix(b"\n") {
            Some(l) => l,
            None => {
                unterminated = true;
                &buf
            }
        };
        if first_struct.is_none() && seq_of(line) != Some(n as i64 + 1) {
            first_struct = Some((n, seq_of(line), line.to_vec()));
        }
        let leaf = leaf_hash(line);
        if first_leaf_bad.is_none() {
            if let Some(s) = stored.as_mut() {
                stored_line.clear();
                s.read_until(b'\n', &mut stored_line)
                    .context("reading leaf-hashes.txt")?;
                let want = stored_line.strip_suffix(b"\n").unwrap_or(&stored_line);
                let want = want.strip_suffix(b"\r").unwrap_or(want);
                if want != &hex(&leaf)[..] {
                    first_leaf_bad = Some((n, line.to_vec()));
                }
            }
        }
        frontier.push(leaf);
        n += 1;
        check_root(n, &frontier, &mut roots_ok, &mut first_root_bad);
    }
    if unterminated {
        damage.push(Damage {
            index: n - 1,
            kind: "truncated entry",
            detail: "the last line has no newline".into(),
        });
    }
    let max_cp = wanted.keys().next_back().copied().unwrap_or(0);

    // Name the damage: structure first (seq numbers), then hashes, then checkpoints.
    if first_root_bad.is_some()
        || first_leaf_bad.is_some()
        || first_struct.is_some()
        || max_cp > n
        || !bad_sig.is_empty()
        || unterminated
    {
        if let Some((i, seq, line)) = &first_struct {
            let (i, seq, line) = (*i, *seq, line.as_slice());
            let want = i as i64 + 1;
            damage.push(match seq {
                None => Damage {
                    index: i,
                    kind: "modified entry",
                    detail: format!(
                        "not a canonical event: {}",
                        clean(&String::from_utf8_lossy(line))
                    ),
                },
                Some(seq) if seq > want => Damage {
                    index: i,
                    kind: "deleted entries",
                    detail: format!(
                        "expected seq {want}, found seq {seq}: {} entries missing",
                        seq - want
                    ),
                },
                Some(seq) => Damage {
                    index: i,
                    kind: "inserted or reordered entry",
                    detail: format!("expected seq {want}, found seq {seq} again or out of order"),
                },
            });
        }
        if let Some((i, line)) = &first_leaf_bad {
            let i = *i;
            if !damage.iter().any(|d| d.index <= i) {
                damage.push(Damage {
                    index: i,
                    kind: "modified entry",
                    detail: format!(
                        "its bytes differ from the leaf hash stored when it was appended: {}",
                        clean(&String::from_utf8_lossy(line))
                    ),
                });
            }
        }
        if max_cp > n {
            damage.push(Damage {
                index: n,
                kind: "truncated log",
                detail: format!("the log has {n} entries but a checkpoint covers {max_cp}"),
            });
        }
        if let Some((size, name)) = &first_root_bad {
            let lo = roots_ok
                .iter()
                .copied()
                .filter(|s| s < size)
                .max()
                .unwrap_or(0);
            if !damage.iter().any(|d| d.index < *size) {
                damage.push(Damage {
                    index: lo,
                    kind: "rewritten history",
                    detail: format!("entries {lo}..{size} do not match the root signed in {name}; the first bad entry is at or after {lo}"),
                });
            }
        }
        for b in &bad_sig {
            damage.push(Damage {
                index: n,
                kind: "bad checkpoint signature",
                detail: clean(b),
            });
        }
    }
    damage.sort_by_key(|d| d.index);

    let out = std::io::stdout();
    let mut out = out.lock();
    if a.json {
        let v = serde_json::json!({
            "entries": n,
            "checkpoints": cps.len(),
            "trusted": trusted.len(),
            "root": B64.encode(frontier.root()),
            "ok": damage.is_empty(),
            "damage": damage.iter().map(|d| serde_json::json!({"index": d.index, "kind": d.kind, "detail": d.detail})).collect::<Vec<_>>(),
        });
        writeln!(out, "{v}")?;
    } else if damage.is_empty() {
        writeln!(
            out,
            "OK: {n} entries, {} checkpoints and {} trusted checkpoints verified; root {}",
            cps.len(),
            trusted.len(),
            B64.encode(frontier.root())
        )?;
    } else {
        let first = &damage[0];
        writeln!(
            out,
            "DAMAGED: first bad entry index {} ({}): {}",
            first.index, first.kind, first.detail
        )?;
        for d in &damage[1..] {
            writeln!(out, "  also at {} ({}): {}", d.index, d.kind, d.detail)?;
        }
    }
    Ok(if damage.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn hex(h: &Hash) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in h.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 15)];
    }
    out
}

// ---- proofs -------------------------------------------------------------------------------

fn prove(a: ProveArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let src = Source::open(&a.source).await?;
        let cps = src.checkpoints().await?;
        let Some((size, _, note)) = cps.iter().filter(|c| c.0 as u64 > a.index).max_by_key(|c| c.0) else {
            bail!("no signed checkpoint covers index {} yet: sign one (POST /api/v1/audit/checkpoint) and retry", a.index);
        };
        let hashes = src.inclusion(a.index, *size as u64).await?;
        let entry = src
            .entries(a.index as i64, a.index as i64 + 1)
            .await?
            .into_iter()
            .find(|e| e.0 == a.index as i64)
            .context("the entry is missing")?
            .1;
        let proof = TlogProof {
            extra: Some(entry.into_bytes()),
            index: a.index,
            hashes,
            checkpoint: note.clone(),
        };
        match &a.out {
            Some(p) => std::fs::write(p, proof.to_text()).with_context(|| format!("writing {}", p.display()))?,
            None => std::io::stdout().write_all(proof.to_text().as_bytes())?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn check_proof(a: CheckProofArgs) -> anyhow::Result<ExitCode> {
    let keys = load_verifiers(&a.key)?;
    let text = std::fs::read(&a.proof).with_context(|| format!("reading {}", a.proof.display()))?;
    let proof = TlogProof::parse(&text).with_context(|| format!("{}", a.proof.display()))?;
    let entry = match &a.entry {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    match proof.verify(entry.as_deref(), &keys, None) {
        Ok(cp) => {
            let shown = entry
                .as_deref()
                .or(proof.extra.as_deref())
                .unwrap_or_default();
            println!(
                "OK: entry {} is in {} at tree size {}: {}",
                proof.index,
                clean(&cp.origin),
                cp.size,
                clean(&String::from_utf8_lossy(shown))
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
