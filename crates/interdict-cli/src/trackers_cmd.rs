//! `interdict trackers`: manage the tracker database used by `interdict assess`.
//!
//! The built-in database is the Exodus Privacy snapshot shipped in `apk-analysis/data`. `import` stores a
//! user database (Exodus API JSON) in the per-user data directory; `assess` then merges it over the built-in
//! one (same id replaces), or uses it alone when imported with `--replace`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use apk_analysis::risk::trackers::{builtin_records, merge_records, parse_trackers, TrackerRecord};
use apk_analysis::risk::TrackerMatcher;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

#[derive(Debug, Args)]
pub(crate) struct TrackersArgs {
    #[command(subcommand)]
    command: TrackersCommand,
}

#[derive(Debug, Subcommand)]
enum TrackersCommand {
    /// Import an Exodus tracker database (the JSON of https://reports.exodus-privacy.eu.org/api/trackers,
    /// `{"trackers": {"<id>": {...}}}`, or a list `{"trackers": [...]}`).
    ///
    /// Stored in $INTERDICT_DATA_DIR, else $XDG_DATA_HOME/interdict, else ~/.local/share/interdict, as
    /// trackers.json. By default its entries extend the built-in database (same id replaces).
    Import {
        /// The JSON file.
        file: PathBuf,
        /// Use only the imported database, not the built-in one.
        #[arg(long)]
        replace: bool,
    },
    /// Print the trackers `interdict assess` would use (id, name, categories).
    List,
    /// Print where the imported database is stored.
    Path,
}

/// The stored form of an import.
#[derive(Serialize, Deserialize)]
struct Stored {
    /// `extend` or `replace`.
    mode: String,
    /// The file it came from.
    imported_from: String,
    trackers: Vec<TrackerRecord>,
}

/// `$INTERDICT_DATA_DIR`, else `$XDG_DATA_HOME/interdict`, else `$HOME/.local/share/interdict`.
pub(crate) fn data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("INTERDICT_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("interdict"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".local/share/interdict"))
}

fn stored_path() -> Option<PathBuf> {
    data_dir().map(|d| d.join("trackers.json"))
}

/// The records assess uses: built-in, merged with (or replaced by) the imported database, then extended by
/// `extra` files (`--trackers FILE`).
pub(crate) fn effective_records(extra: &[PathBuf]) -> anyhow::Result<Vec<TrackerRecord>> {
    records_from(stored_path().as_deref(), extra)
}

/// [`effective_records`] with the stored database at `stored` (when it exists).
fn records_from(stored: Option<&Path>, extra: &[PathBuf]) -> anyhow::Result<Vec<TrackerRecord>> {
    let mut records = builtin_records();
    if let Some(path) = stored.filter(|p| p.exists()) {
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let stored: Stored = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is damaged; re-run `interdict trackers import`",
                path.display()
            )
        })?;
        if stored.mode == "replace" {
            records = stored.trackers;
        } else {
            merge_records(&mut records, stored.trackers);
        }
    }
    for file in extra {
        let text =
            fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let more = parse_trackers(&text).with_context(|| file.display().to_string())?;
        merge_records(&mut records, more);
    }
    Ok(records)
}

/// The compiled matcher for assess; the shared built-in one when nothing was imported or given.
pub(crate) fn matcher(extra: &[PathBuf]) -> anyhow::Result<Arc<TrackerMatcher>> {
    if extra.is_empty() && !stored_path().is_some_and(|p| p.exists()) {
        return Ok(apk_analysis::risk::builtin_trackers());
    }
    Ok(Arc::new(TrackerMatcher::new(effective_records(extra)?)))
}

/// Validates `file` and stores it at `path` (written to a temporary file, then renamed); returns the number
/// of trackers.
fn import(file: &Path, path: &Path, replace: bool) -> anyhow::Result<usize> {
    let text =
        fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let records = parse_trackers(&text).with_context(|| file.display().to_string())?;
    if records.is_empty() {
        bail!("{} holds no tracker", file.display());
    }
    let check = TrackerMatcher::new(records.clone());
    for n in &check.notes {
        eprintln!("interdict: warning: {n}");
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let stored = Stored {
        mode: if replace { "replace" } else { "extend" }.into(),
        imported_from: file.display().to_string(),
        trackers: records,
    };
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(&stored)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(stored.trackers.len())
}

pub(crate) fn run(args: TrackersArgs) -> anyhow::Result<()> {
    match args.command {
        TrackersCommand::Import { file, replace } => {
            let Some(path) = stored_path() else {
                bail!("no data directory: set INTERDICT_DATA_DIR or HOME");
            };
            let n = import(&file, &path, replace)?;
            println!(
                "imported {n} trackers from {} into {} ({})",
                file.display(),
                path.display(),
                if replace {
                    "replacing the built-in database"
                } else {
                    "extending the built-in database"
                }
            );
        }
        TrackersCommand::List => {
            for r in effective_records(&[])? {
                println!("{}\t{}\t{}", r.id, r.name, r.categories.join(", "));
            }
        }
        TrackersCommand::Path => match stored_path() {
            Some(p) => println!("{}", p.display()),
            None => bail!("no data directory: set INTERDICT_DATA_DIR or HOME"),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_extends_or_replaces_the_builtin_database() {
        let dir = std::env::temp_dir().join(format!("interdict-trackers-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("api.json");
        fs::write(
            &file,
            r#"{"trackers": {"1": {"id": 1, "name": "Teemo (renamed)", "code_signature": "com.databerries.",
                "network_signature": "", "website": "", "categories": [{"name": "Location"}]},
              "9001": {"id": 9001, "name": "Acme Tracker", "code_signature": "com.acme.track.",
                "network_signature": "acme\\.example", "website": "", "categories": ["Analytics"]}}}"#,
        )
        .unwrap();
        let stored = dir.join("data/trackers.json");
        assert_eq!(import(&file, &stored, false).unwrap(), 2);
        let records = records_from(Some(&stored), &[]).unwrap();
        assert_eq!(records.len(), 433);
        assert_eq!(
            records.iter().find(|r| r.id == 1).unwrap().name,
            "Teemo (renamed)"
        );
        assert!(records.iter().any(|r| r.id == 9001));
        assert_eq!(import(&file, &stored, true).unwrap(), 2);
        assert_eq!(records_from(Some(&stored), &[]).unwrap().len(), 2);
        // `--trackers FILE` on top of the built-in database.
        assert_eq!(
            records_from(None, std::slice::from_ref(&file))
                .unwrap()
                .len(),
            433
        );
        fs::write(&file, "[]").unwrap();
        assert!(import(&file, &stored, false).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
