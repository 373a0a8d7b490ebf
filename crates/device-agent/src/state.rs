//! The agent's state file: each logical device's identity (device id and token), check-in
//! counter, what the server last acknowledged, and the actions already carried out.
//!
//! The file holds device tokens, so it is created with mode 0600 (never wider, not even for
//! an instant), written atomically (temporary file in the same directory, fsync, rename,
//! fsync of the directory), and a file readable by group or others is refused.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Most carried-out actions remembered per device (the oldest are forgotten first).
pub const MAX_ACTION_RECORDS: usize = 512;
/// Largest state file read.
const MAX_STATE_BYTES: u64 = 16 << 20;

/// State file errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state file {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is readable or writable by group or others.
    #[error(
        "state file {path} has mode {mode:04o}: it holds device credentials and must be \
         readable only by its owner; run `chmod 600 {path}`"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The file is not a state file.
    #[error("state file {path}: not an interdict agent state file: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// What the server acknowledged last: its hash of the stored inventory, and the local digest
/// of the inventory bytes that were sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    /// `inventory_hash` from the server's response.
    pub hash: String,
    /// SHA-256 (hex) of the inventory JSON the agent sent.
    pub digest: String,
}

/// An action the agent carried out (or decided not to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRecord {
    /// The server's action id.
    pub id: String,
    /// `done`, `failed`, `dry_run` or `skipped`.
    pub status: String,
    /// When (Unix ms).
    pub at_ms: i64,
    /// Whether a later cycle may try again (a failure that may be transient, or a removal of
    /// an app that came back).
    pub retry: bool,
}

/// One logical device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceState {
    /// Server device id (none until enrolled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Bearer token (none until enrolled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// The idempotency key of an enrollment not yet answered, kept so that a retry (in this
    /// run or a later one) gets the same device; cleared once enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enroll_key: Option<String>,
    /// The last check-in counter handed out (the next check-in gets `seq + 1`).
    #[serde(default)]
    pub seq: u64,
    /// Highest seq the server acknowledged.
    #[serde(default)]
    pub acked_seq: u64,
    /// What the server last acknowledged (none: send full inventories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
    /// Actions carried out, oldest first, at most [`MAX_ACTION_RECORDS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionRecord>,
}

impl DeviceState {
    /// The record of action `id`, if any.
    pub fn action(&self, id: &str) -> Option<&ActionRecord> {
        self.actions.iter().rev().find(|a| a.id == id)
    }

    /// Records an action (replacing an older record of the same id), keeping the bound.
    pub fn record_action(&mut self, rec: ActionRecord) {
        self.actions.retain(|a| a.id != rec.id);
        self.actions.push(rec);
        let excess = self.actions.len().saturating_sub(MAX_ACTION_RECORDS);
        if excess > 0 {
            self.actions.drain(..excess);
        }
    }
}

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Format version (1).
    pub version: u32,
    /// The server the identities belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Logical devices by key (`local`, `adb:SERIAL`, `file:ID`).
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceState>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: 1,
            server: None,
            devices: BTreeMap::new(),
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StateError + '_ {
    move |error| StateError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Creates `dir` (and parents) with mode 0700 if missing.
pub fn create_private_dir(dir: &Path) -> Result<(), StateError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))
}

/// Writes `bytes` to `path` atomically with mode 0600: a temporary file in the same
/// directory, fsync, rename over `path`, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // A temporary file left by a crash of this same pid would make create_new fail.
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io(path))
}

impl State {
    /// Reads the state file; a missing file is an empty state. A file readable or writable by
    /// group or others is refused.
    pub fn load(path: &Path) -> Result<State, StateError> {
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(io(path)(e)),
        };
        let mode = f.metadata().map_err(io(path))?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(StateError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let mut buf = Vec::new();
        f.take(MAX_STATE_BYTES)
            .read_to_end(&mut buf)
            .map_err(io(path))?;
        let state: State = serde_json::from_slice(&buf).map_err(|e| StateError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if state.version != 1 {
            return Err(StateError::Corrupt {
                path: path.to_path_buf(),
                message: format!("unsupported version {}", state.version),
            });
        }
        Ok(state)
    }

    /// Writes the state file atomically, mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| StateError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        write_atomic(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_0600_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/agent.json");
        let mut s = State::default();
        s.devices.insert(
            "local".into(),
            DeviceState {
                device_id: Some("d1".into()),
                device_token: Some("secret".into()),
                seq: 7,
                ..DeviceState::default()
            },
        );
        s.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        assert_eq!(State::load(&path).unwrap(), s);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("agent.json")]);
    }

    #[test]
    fn refuses_a_group_readable_file_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.json");
        State::default().save(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = State::load(&path).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, StateError::Permissions { mode: 0o640, .. }),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("chmod 600 {}", path.display())),
            "{msg}"
        );
    }

    #[test]
    fn missing_is_empty_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.json");
        assert_eq!(State::load(&path).unwrap(), State::default());
        write_atomic(&path, b"{not json").unwrap();
        assert!(matches!(
            State::load(&path),
            Err(StateError::Corrupt { .. })
        ));
    }

    #[test]
    fn action_records_are_bounded_and_replaced() {
        let mut d = DeviceState::default();
        for i in 0..(MAX_ACTION_RECORDS + 10) {
            d.record_action(ActionRecord {
                id: format!("a{i}"),
                status: "done".into(),
                at_ms: 1,
                retry: false,
            });
        }
        assert_eq!(d.actions.len(), MAX_ACTION_RECORDS);
        assert!(d.action("a0").is_none());
        let last = format!("a{}", MAX_ACTION_RECORDS + 9);
        d.record_action(ActionRecord {
            id: last.clone(),
            status: "failed".into(),
            at_ms: 2,
            retry: true,
        });
        assert_eq!(d.actions.len(), MAX_ACTION_RECORDS);
        assert_eq!(d.action(&last).unwrap().status, "failed");
    }
}
