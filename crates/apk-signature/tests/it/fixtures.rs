//! The signing fixture matrix: APKs signed by `testdata/signing/gen.sh` (Debian's apksigner) plus
//! defects made here by mutating them. Built once into `$CARGO_TARGET_TMPDIR`, keyed by the script.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// One fixture: file, the manifest's minSdk.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) min_sdk: u32,
    /// The manifest's targetSdkVersion when the index gives it (third field).
    pub(crate) target_sdk: Option<u32>,
}

fn signing_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/signing")
}

/// Whether the Android tools are installed (tests needing them are skipped otherwise).
pub(crate) fn tools_available() -> bool {
    ["apksigner", "aapt", "zipalign", "openssl", "jarsigner"]
        .iter()
        .all(|t| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {t}"))
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        && Path::new("/usr/share/android-framework-res/framework-res.apk").exists()
}

/// Builds (once) and returns the fixture directory.
pub(crate) fn fixture_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = std::fs::read(signing_dir().join("gen.sh")).expect("gen.sh");
        let manifest =
            std::fs::read(signing_dir().join("AndroidManifest.xml.in")).expect("manifest");
        let mut h = DefaultHasher::new();
        (script, manifest, MUTATOR_VERSION).hash(&mut h);
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = root.join(format!("signing-{:016x}", h.finish()));
        if dir.join("DONE").exists() {
            return dir;
        }
        let tmp = root.join(format!("signing-tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let out = Command::new("sh")
            .arg(signing_dir().join("gen.sh"))
            .arg(&tmp)
            .output()
            .expect("run gen.sh");
        assert!(
            out.status.success(),
            "gen.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        crate::mutate::make_all(&tmp);
        std::fs::write(tmp.join("DONE"), b"").expect("DONE");
        if std::fs::rename(&tmp, &dir).is_err() {
            // Another process won the race.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        dir
    })
}

/// Bumped when the Rust mutations change.
const MUTATOR_VERSION: u32 = 6;

/// Every fixture (signed and mutated), from `index.txt`.
pub(crate) fn all() -> Vec<Fixture> {
    let dir = fixture_dir();
    let index = std::fs::read_to_string(dir.join("index.txt")).expect("index.txt");
    index
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let f = it.next()?;
            let min = it.next()?;
            Some(Fixture {
                name: f.trim_end_matches(".apk").to_owned(),
                path: dir.join("apks").join(f),
                min_sdk: min.parse().ok()?,
                target_sdk: it.next().and_then(|t| t.parse().ok()),
            })
        })
        .collect()
}
