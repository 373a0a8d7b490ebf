//! `apksigner verify -v --print-certs`, parsed: verdict, per-scheme flags, error codes (mapped back
//! from apksigner's messages with its own issue table) and signer certificate digests.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

#[derive(Debug, Clone, Default)]
pub(crate) struct Verdict {
    pub(crate) verifies: bool,
    /// "Verified using vN scheme" for v1, v2, v3 (only printed when the APK verifies).
    pub(crate) schemes: [Option<bool>; 3],
    pub(crate) errors: BTreeSet<String>,
    pub(crate) signers: BTreeSet<String>,
    /// "Verified for SourceStamp: true".
    pub(crate) stamp_verified: bool,
    /// "Source Stamp Signer certificate SHA-256 digest".
    pub(crate) stamp_signer: Option<String>,
    pub(crate) output: String,
}

/// `(code, literal pieces of the message format)` from `testdata/signing/apksigner-issues.tsv`
/// (extracted with `javap` from the installed apksig.jar).
fn issue_table() -> &'static Vec<(String, Vec<String>)> {
    static T: OnceLock<Vec<(String, Vec<String>)>> = OnceLock::new();
    T.get_or_init(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/signing/apksigner-issues.tsv");
        let text = std::fs::read_to_string(p).expect("issues table");
        text.lines()
            .filter_map(|l| {
                let (code, fmt) = l.split_once('\t')?;
                let fmt = fmt.replace("\\'", "'");
                // Split on %N$x placeholders.
                let mut pieces = Vec::new();
                let mut cur = String::new();
                let mut chars = fmt.chars().peekable();
                while let Some(c) = chars.next() {
                    if c == '%' {
                        // consume up to the conversion letter
                        while let Some(&n) = chars.peek() {
                            chars.next();
                            if n.is_ascii_alphabetic() {
                                break;
                            }
                        }
                        pieces.push(std::mem::take(&mut cur));
                    } else {
                        cur.push(c);
                    }
                }
                pieces.push(cur);
                let pieces: Vec<String> = pieces
                    .into_iter()
                    .filter(|p| !p.trim().is_empty())
                    .collect();
                Some((code.to_owned(), pieces))
            })
            .collect()
    })
}

/// Maps an apksigner error message to its issue code.
pub(crate) fn code_of(message: &str) -> String {
    let mut best: Option<(usize, i32, &str)> = None;
    for (code, pieces) in issue_table() {
        let mut pos = 0;
        let mut ok = !pieces.is_empty();
        for p in pieces {
            match message[pos..].find(p.as_str()) {
                Some(i) => pos += i + p.len(),
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        let len: usize = pieces.iter().map(String::len).sum();
        let pref = if message.contains("Scheme v3 signer") || message.contains("v3 signer") {
            i32::from(code.starts_with("V3_"))
        } else if message.contains("Scheme v2 signer") {
            i32::from(code.starts_with("V2_"))
        } else if message.contains("JAR signer") {
            i32::from(code.starts_with("JAR_"))
        } else {
            0
        };
        if best.is_none_or(|(l, p, _)| (len, pref) > (l, p)) {
            best = Some((len, pref, code));
        }
    }
    best.map_or_else(|| format!("UNMAPPED: {message}"), |(_, _, c)| c.to_owned())
}

/// Runs (or reads the cached result of) apksigner for `path` over `[min, max]`.
pub(crate) fn run(path: &Path, range: Option<(u32, u32)>, cache_dir: &Path) -> Verdict {
    let tag = match range {
        None => "default".to_owned(),
        Some((a, b)) => format!("{a}-{b}"),
    };
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let cache = cache_dir.join(format!("{name}.{tag}.txt"));
    let output = if let Ok(s) = std::fs::read_to_string(&cache) {
        s
    } else {
        let mut cmd = Command::new("apksigner");
        cmd.args(["verify", "-v", "--print-certs"]);
        if let Some((a, b)) = range {
            cmd.args([
                "--min-sdk-version",
                &a.to_string(),
                "--max-sdk-version",
                &b.to_string(),
            ]);
        }
        let out = cmd.arg(path).output().expect("apksigner");
        let s = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&cache, &s).expect("cache");
        s
    };
    let mut v = Verdict {
        output: output.clone(),
        ..Verdict::default()
    };
    for line in output.lines() {
        if line == "Verifies" {
            v.verifies = true;
        }
        for (i, n) in ["v1", "v2", "v3"].iter().enumerate() {
            if let Some(rest) = line.strip_prefix(&format!("Verified using {n} scheme")) {
                v.schemes[i] = Some(rest.ends_with("true"));
            }
        }
        if let Some(msg) = line.strip_prefix("ERROR: ") {
            v.errors.insert(code_of(msg));
        }
        if let Some((_, d)) = line.split_once("certificate SHA-256 digest: ") {
            if line.starts_with("Signer #") {
                v.signers.insert(d.trim().to_owned());
            }
            if line.starts_with("Source Stamp Signer ") {
                v.stamp_signer = Some(d.trim().to_owned());
            }
        }
        if line == "Verified for SourceStamp: true" {
            v.stamp_verified = true;
        }
    }
    v
}
