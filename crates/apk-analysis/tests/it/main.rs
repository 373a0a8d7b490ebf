//! Integration tests of `apk-analysis` on real APKs built by `apk-fixtures`.

// Tests fail by panicking: unwrap on a broken fixture is the clearest message.
#![allow(clippy::unwrap_used)]

mod bombs;
mod differential;
mod hostile;
mod model;
mod risk;

use std::path::{Path, PathBuf};
use std::process::Command;

use apk_analysis::{assess, Assessment, Options};

/// Assesses a file with default options, panicking with the error on failure.
pub(crate) fn assess_file(path: &Path) -> Assessment {
    let data = std::fs::read(path).unwrap();
    assess(&path.display().to_string(), &data, &Options::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs a tool and returns its standard output, panicking with stderr when it fails.
pub(crate) fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a tool and returns its standard output whatever its exit status.
pub(crate) fn tool_lenient(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh scratch directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("interdict-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Rewrites an APK with `testdata/tools/rezip.py`.
pub(crate) fn rezip(input: &Path, output: &Path, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tools/rezip.py");
    let mut all = vec![
        script.to_str().unwrap(),
        input.to_str().unwrap(),
        output.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    tool("python3", &all);
}
