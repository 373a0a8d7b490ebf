//! Start-up that tells the truth (issue 12, items 5 and 10): the data directory and the SQLite
//! file are checked for writing before the pools open, and a write is probed once connected,
//! so a read-only file or directory fails at once with its path instead of starting "healthy"
//! (or waiting for a pool timeout). Data files are created 0600 in a 0700 directory.

use std::path::{Path, PathBuf};

use crate::{Result, StorageError, Store};

/// Creates the data directory (and its parents) with mode 0700 on Unix; an existing
/// directory is left as it is.
pub fn create_data_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// The file of a `sqlite://PATH?...` URL, unless in-memory.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Whether the URL asks for a read-only database (`mode=ro`).
fn read_only_url(url: &str) -> bool {
    url.split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv == "mode=ro"))
}

fn unwritable(what: &str, path: &Path, e: &dyn std::fmt::Display) -> StorageError {
    StorageError::Check(format!(
        "{what} {} is not writable ({e}); the server must create and write the database, its \
         -wal and -shm files there: fix the ownership or permissions, or choose another --data-dir",
        path.display()
    ))
}

/// Before connecting to SQLite: the directory accepts a new file, and the database file (made
/// 0600 if new) opens for writing.
pub(crate) fn check_sqlite_files(url: &str) -> Result<()> {
    let Some(db) = sqlite_path(url) else {
        return Ok(());
    };
    if read_only_url(url) {
        return Err(unwritable("database", &db, &"the URL says mode=ro"));
    }
    let dir = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(StorageError::Check(format!(
            "data directory {} does not exist (or is not a directory); create it or run \
             `interdict init --data-dir {}`",
            dir.display(),
            dir.display()
        )));
    }
    let probe = dir.join(format!(".interdict-write-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| unwritable("data directory", &dir, &e))?;
    let _ = std::fs::remove_file(&probe);
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A new database file is private; SQLite gives its -wal and -shm files the same mode.
        open.mode(0o600);
    }
    open.open(&db)
        .map_err(|e| unwritable("database file", &db, &e))?;
    Ok(())
}

impl Store {
    /// Probes a write: one transaction that updates the event counter to itself and rolls
    /// back. Fails on a read-only database (file, directory, disk or URL) with the reason.
    pub async fn probe_write(&self) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("UPDATE event_counter SET next_seq = next_seq WHERE id = 1")
            .execute(&mut *tx)
            .await
            .map_err(|e| StorageError::Check(format!("the database refuses writes: {e}")))?;
        tx.rollback().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/i/interdict.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/i/interdict.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert!(read_only_url("sqlite:///x.db?mode=ro"));
        assert!(!read_only_url("sqlite:///x.db?mode=rwc"));
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = std::env::temp_dir().join(format!("interdict-probe-{}", std::process::id()));
        let dir = tmp.join("a/b");
        create_data_dir(&dir).expect("create");
        let url = format!("sqlite://{}?mode=rwc", dir.join("interdict.db").display());
        check_sqlite_files(&url).expect("writable");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("interdict.db")), 0o600);
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
