//! Dev-only test support: builds **real** APKs from TOML specs with Debian's Android tools
//! (`aapt`, `smali`, `zipalign`, `apksigner`, `keytool`, `python3`, `framework-res.apk`).
//!
//! Specs live in `testdata/fixtures/<name>.toml` (format: `testdata/fixtures/README.md`).
//! Built APKs are cached under `<target dir>/apk-fixtures/<name>-<hash>.apk`, keyed by the spec
//! bytes and [`BUILDER_VERSION`], and published with an atomic rename so parallel test threads
//! and processes are safe.
//!
//! [`fixture`] panics when a tool is missing: this crate only ever runs inside tests.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod build;
pub mod hostile;
pub mod spec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};

pub use build::{
    check_tools, find_tool, framework_res, pseudo_random, KEY_ALIAS, KEY_PASSWORD, TOOLS,
};
pub use spec::Spec;

/// Part of every cache key (with the builder's own source text), so cached APKs are rebuilt
/// when the builder changes.
pub const BUILDER_VERSION: &str = "apk-fixtures/1";

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The spec is not valid TOML or does not match the format.
    #[error("invalid fixture spec: {0}")]
    Spec(String),
    /// The spec parsed but asks for something impossible.
    #[error("invalid fixture spec: {0}")]
    Invalid(String),
    /// A required tool or file is missing.
    #[error(
        "required tool `{0}` not found (install Debian packages aapt, zipalign, apksigner, \
         smali, android-framework-res, a JDK with keytool, and python3)"
    )]
    ToolMissing(String),
    /// A tool exited with an error.
    #[error("`{command}` failed ({status}):\n{output}")]
    ToolFailed {
        /// The command line.
        command: String,
        /// Exit status.
        status: String,
        /// Its stderr (then stdout), truncated.
        output: String,
    },
    /// File system error.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// `<workspace>/testdata/fixtures` (env `APK_FIXTURES_SPECS` overrides).
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("APK_FIXTURES_SPECS") {
        return PathBuf::from(dir);
    }
    workspace_root().join("testdata").join("fixtures")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where built fixtures and generated keys are cached.
///
/// `APK_FIXTURES_CACHE`, else `$CARGO_TARGET_TMPDIR/apk-fixtures`, else
/// `$CARGO_TARGET_DIR/apk-fixtures`, else `<workspace>/target/apk-fixtures`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("APK_FIXTURES_CACHE") {
        return PathBuf::from(dir);
    }
    let target = ["CARGO_TARGET_TMPDIR", "CARGO_TARGET_DIR"]
        .iter()
        .find_map(|v| std::env::var_os(v).filter(|s| !s.is_empty()))
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("apk-fixtures")
}

fn key_dir() -> PathBuf {
    cache_dir().join("keys")
}

/// Names of all fixture specs (`*.toml` stems in [`fixtures_dir`]), sorted.
pub fn all_fixture_names() -> Vec<String> {
    let dir = fixtures_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "toml")
                .then(|| path.file_stem()?.to_str().map(str::to_owned))
                .flatten()
        })
        .collect();
    names.sort();
    names
}

/// The parsed spec of fixture `name`; panics if it is missing or invalid.
#[allow(
    clippy::panic,
    reason = "dev-only test support: a broken fixture must fail the test"
)]
pub fn fixture_spec(name: &str) -> Spec {
    let text = read_spec(name);
    Spec::parse(&text).unwrap_or_else(|e| panic!("apk-fixtures: fixture {name:?}: {e}"))
}

#[allow(
    clippy::panic,
    reason = "dev-only test support: a broken fixture must fail the test"
)]
fn read_spec(name: &str) -> String {
    let path = fixtures_dir().join(format!("{name}.toml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "apk-fixtures: cannot read fixture spec {}: {e} (known fixtures: {:?})",
            path.display(),
            all_fixture_names()
        )
    })
}

fn cache_key(spec_text: &str) -> String {
    let mut h = Sha256::new();
    h.update(spec_text.as_bytes());
    h.update(b"\0");
    h.update(BUILDER_VERSION.as_bytes());
    // Any change to the builder itself invalidates the cache too.
    h.update(include_str!("build.rs").as_bytes());
    h.update(include_str!("spec.rs").as_bytes());
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// One lock per output path so threads of one process never build the same APK twice.
fn path_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let map = LOCKS.get_or_init(Default::default);
    let mut map = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(path.to_path_buf()).or_default().clone()
}

fn build_cached(spec_text: &str, out: &Path, opts: &build::Options) -> Result<(), BuildError> {
    if out.is_file() {
        return Ok(());
    }
    let lock = path_lock(out);
    let _guard = lock
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if out.is_file() {
        return Ok(());
    }
    let spec = Spec::parse(spec_text)?;
    build::build(&spec, out, &key_dir(), opts)
}

/// Path of the built APK for fixture `name` (`testdata/fixtures/<name>.toml`), building it if
/// it is not cached yet.
///
/// # Panics
/// If the spec is missing or invalid, a tool is missing, or a tool fails.
#[allow(
    clippy::panic,
    reason = "dev-only test support: a broken fixture must fail the test"
)]
pub fn fixture(name: &str) -> PathBuf {
    let text = read_spec(name);
    let out = cache_dir().join(format!("{name}-{}.apk", cache_key(&text)));
    if let Err(e) = build_cached(&text, &out, &build::Options::default()) {
        panic!("apk-fixtures: cannot build fixture {name:?}: {e}");
    }
    out
}

/// Builds the APK described by `spec_toml` at `out` (always rebuilds; written atomically).
pub fn build_spec(spec_toml: &str, out: &Path) -> Result<(), BuildError> {
    let spec = Spec::parse(spec_toml)?;
    build::build(&spec, out, &key_dir(), &build::Options::default())
}

/// Spec text of the benchmark APK (see [`large_apk`]).
pub fn large_spec(classes: usize) -> String {
    let mut s = String::from(
        "description = \"benchmark APK: many classes over several dex files plus incompressible assets\"\n\
         manifest = '''<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <manifest xmlns:android=\"http://schemas.android.com/apk/res/android\" \
         package=\"com.example.large\" android:versionCode=\"1\" android:versionName=\"1.0\">\n\
         <uses-sdk android:minSdkVersion=\"21\" android:targetSdkVersion=\"30\"/>\n\
         <uses-permission android:name=\"android.permission.INTERNET\"/>\n\
         <application android:label=\"Large\">\n\
         <activity android:name=\".Main\" android:exported=\"true\">\n\
         <intent-filter><action android:name=\"android.intent.action.MAIN\"/>\
         <category android:name=\"android.intent.category.LAUNCHER\"/></intent-filter>\n\
         </activity>\n</application>\n</manifest>\n'''\n",
    );
    s.push_str(&format!(
        "[code]\nclasses = {classes}\nmax_classes_per_dex = 40000\n\
         extra_classes = [\"com/appsflyer/AppsFlyerLib\", \"com/google/firebase/analytics/FirebaseAnalytics\"]\n\
         strings = [\"https://api.example.com/v1\", \"10.0.0.1\"]\n"
    ));
    // 7 × 4.3 MB of random bytes, stored: ≥ 30 MB that no compressor can shrink.
    for i in 0..7 {
        s.push_str(&format!(
            "[[assets]]\npath = \"assets/blob{i}.bin\"\nsize = 4300000\ncompress = false\n"
        ));
    }
    s.push_str("[[native]]\nabi = \"arm64-v8a\"\nname = \"libbench.so\"\nsize = 65536\n");
    s.push_str("[sign]\nschemes = [\"v1\", \"v2\"]\nkey = \"rsa2048\"\n");
    s
}

/// Builds (or reuses) the benchmark APK in `out_dir`: `classes` stub classes split over DEX
/// files of 40,000 classes, plus ~30 MB of stored random assets (≥ 30 MB in total for any number of
/// classes). Builds in `/dev/shm` when available and prints progress to stderr.
///
/// # Panics
/// If a tool is missing or fails.
#[allow(
    clippy::panic,
    reason = "dev-only test support: a broken fixture must fail the test"
)]
pub fn large_apk(classes: usize, out_dir: &Path) -> PathBuf {
    let text = large_spec(classes);
    let out = out_dir.join(format!("large-{classes}-{}.apk", cache_key(&text)));
    if out.is_file() {
        eprintln!("[apk-fixtures] reusing {}", out.display());
        return out;
    }
    eprintln!("[apk-fixtures] building large APK with {classes} classes…");
    let opts = build::Options { progress: true };
    if let Err(e) = build_cached(&text, &out, &opts) {
        panic!("apk-fixtures: cannot build large APK: {e}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_depends_on_spec() {
        assert_eq!(cache_key("a").len(), 16);
        assert_ne!(cache_key("a"), cache_key("b"));
    }

    #[test]
    fn large_spec_parses() {
        let spec = Spec::parse(&large_spec(100_000)).unwrap();
        assert_eq!(spec.dex_layout().len(), 3);
        assert_eq!(spec.package_name().as_deref(), Some("com.example.large"));
    }
}
