//! Inventory sources: what is installed, from the package managers of this machine, from
//! Android devices over ADB, or from a normalized inventory file.
//!
//! [`parse`] holds the pure parsers; this module runs the commands (never through a shell:
//! program and arguments are passed as a list) and reads the files.
//!
//! Linux sources (dpkg, rpm, flatpak, snap) combine into one logical device, `local`
//! (platform `linux`). Each ADB device is its own logical device `adb:SERIAL` (platform
//! `android`), and each device of a file source is `file:ID`. A logical device whose sources
//! did not all succeed is not reported in that cycle: a partial inventory would tell the
//! server that apps were removed.

pub mod parse;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use app_policy::{App, Ownership, Platform};
use tokio::io::AsyncReadExt;

pub use parse::ParseError;

/// The default dpkg status file.
pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// Longest a collection command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// Most bytes read from a command or an inventory file.
const MAX_OUTPUT: u64 = 64 << 20;

/// Where an inventory comes from (the value of `--source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A dpkg status file (Debian, Ubuntu).
    Dpkg {
        /// Path of the status file.
        path: PathBuf,
    },
    /// `rpm -qa` (Fedora, RHEL, SUSE).
    Rpm,
    /// `flatpak list --app`.
    Flatpak,
    /// `snap list`.
    Snap,
    /// Android devices over ADB.
    Adb {
        /// One device; `None`: every device `adb devices` lists in state `device`.
        serial: Option<String>,
    },
    /// A normalized inventory JSON file (one device or an array), e.g. from an MDM bridge.
    File {
        /// Path of the file.
        path: PathBuf,
    },
}

/// A `--source` value that is not one of the known forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown source {0:?}: expected dpkg, dpkg:PATH, rpm, flatpak, snap, adb, adb:SERIAL or file:PATH")]
pub struct BadSource(pub String);

impl std::str::FromStr for Source {
    type Err = BadSource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        let bad = || BadSource(s.to_string());
        match (kind, arg) {
            ("dpkg", None) => Ok(Source::Dpkg {
                path: PathBuf::from(DPKG_STATUS),
            }),
            ("dpkg", Some(p)) if !p.is_empty() => Ok(Source::Dpkg {
                path: PathBuf::from(p),
            }),
            ("rpm", None) => Ok(Source::Rpm),
            ("flatpak", None) => Ok(Source::Flatpak),
            ("snap", None) => Ok(Source::Snap),
            ("adb", None) => Ok(Source::Adb { serial: None }),
            ("adb", Some(serial)) if !serial.is_empty() => Ok(Source::Adb {
                serial: Some(serial.to_string()),
            }),
            ("file", Some(p)) if !p.is_empty() => Ok(Source::File {
                path: PathBuf::from(p),
            }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Dpkg { path } => write!(f, "dpkg:{}", path.display()),
            Source::Rpm => f.write_str("rpm"),
            Source::Flatpak => f.write_str("flatpak"),
            Source::Snap => f.write_str("snap"),
            Source::Adb { serial: None } => f.write_str("adb"),
            Source::Adb { serial: Some(s) } => write!(f, "adb:{s}"),
            Source::File { path } => write!(f, "file:{}", path.display()),
        }
    }
}

/// The sources used when none is given: dpkg if its status file exists, else rpm if the
/// `rpm` command exists; otherwise none.
pub fn default_sources() -> Vec<Source> {
    if Path::new(DPKG_STATUS).exists() {
        vec![Source::Dpkg {
            path: PathBuf::from(DPKG_STATUS),
        }]
    } else if find_program("rpm").is_some() {
        vec![Source::Rpm]
    } else {
        Vec::new()
    }
}

/// Which package manager an app was found by: it decides how the app is removed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Origin {
    /// dpkg (removed with apt-get, or dpkg).
    Dpkg,
    /// rpm (removed with dnf, yum, or rpm).
    Rpm,
    /// flatpak.
    Flatpak,
    /// snap.
    Snap,
    /// An Android device over ADB.
    Adb {
        /// The device's serial.
        serial: String,
    },
    /// An inventory file: reported only, nothing can be removed from here.
    File,
}

/// One logical device's inventory, as collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInventory {
    /// Stable key in the state file: `local`, `adb:SERIAL` or `file:ID`.
    pub key: String,
    /// Platform to enroll with.
    pub platform: Platform,
    /// Serial to enroll with.
    pub serial: String,
    /// Groups from the source itself (file sources), used when no `--group` is given.
    pub groups: Vec<String>,
    /// Ownership from the source itself (file sources).
    pub ownership: Option<Ownership>,
    /// The apps, sorted by id, one per id.
    pub apps: Vec<App>,
    /// For each app id, the package manager that reported it.
    pub origins: BTreeMap<String, Origin>,
}

impl DeviceInventory {
    fn new(key: String, platform: Platform, serial: String) -> Self {
        DeviceInventory {
            key,
            platform,
            serial,
            groups: Vec::new(),
            ownership: None,
            apps: Vec::new(),
            origins: BTreeMap::new(),
        }
    }

    /// Adds apps found by `origin`; an id already present keeps its first origin.
    fn add(&mut self, apps: Vec<App>, origin: &Origin) {
        for a in apps {
            if !self.origins.contains_key(&a.id) {
                self.origins.insert(a.id.clone(), origin.clone());
                self.apps.push(a);
            }
        }
        self.apps.sort_by(|a, b| a.id.cmp(&b.id));
    }

    /// Is `app_id` installed?
    pub fn has(&self, app_id: &str) -> bool {
        self.origins.contains_key(app_id)
    }
}

/// A source that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// A file could not be read.
    #[error("{source_name}: reading {path}: {error}")]
    Io {
        /// The source.
        source_name: String,
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A command could not be run, failed, or printed too much.
    #[error("{source_name}: `{command}`: {message}")]
    Command {
        /// The source.
        source_name: String,
        /// The command line.
        command: String,
        /// Why.
        message: String,
    },
    /// The output could not be parsed.
    #[error("{source_name}: {error}")]
    Parse {
        /// The source.
        source_name: String,
        /// Where and why.
        error: ParseError,
    },
    /// An inventory file is not normalized inventory JSON.
    #[error("{source_name}: {error}")]
    Inventory {
        /// The source.
        source_name: String,
        /// Where and why.
        error: app_policy::InventoryError,
    },
}

/// Finds an executable in `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Quotes one argument for display as POSIX shell would need it (the agent itself never runs
/// a shell: this is only how a command line is printed and reported).
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+@,%^".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// A command line as printed: arguments quoted where a shell would need it.
pub fn command_line(program: &str, args: &[String]) -> String {
    let mut out = shell_quote(program);
    for a in args {
        out.push(' ');
        out.push_str(&shell_quote(a));
    }
    out
}

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// Exit status success.
    pub success: bool,
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

/// Runs `program args` (no shell), `LC_ALL=C`, stdin closed, with a timeout and a bound on
/// output. `Err` is a message: the program is missing, timed out or printed too much.
pub async fn run_command(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<CommandOutput, String> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let work = async {
        let mut o = Vec::new();
        let mut e = Vec::new();
        let ro = async {
            if let Some(s) = out.as_mut() {
                let _ = s
                    .take(MAX_OUTPUT.saturating_add(1))
                    .read_to_end(&mut o)
                    .await;
            }
        };
        let re = async {
            if let Some(s) = err.as_mut() {
                let _ = s.take(1 << 20).read_to_end(&mut e).await;
            }
        };
        tokio::join!(ro, re);
        let status = child.wait().await;
        (o, e, status)
    };
    let (o, e, status) = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("timed out after {} s", timeout.as_secs()))?;
    let status = status.map_err(|e| format!("waiting for {program}: {e}"))?;
    if u64::try_from(o.len()).unwrap_or(u64::MAX) > MAX_OUTPUT {
        return Err(format!("printed more than {MAX_OUTPUT} bytes"));
    }
    Ok(CommandOutput {
        success: status.success(),
        code: status.code(),
        stdout: String::from_utf8_lossy(&o).into_owned(),
        stderr: String::from_utf8_lossy(&e).into_owned(),
    })
}

async fn capture(source_name: &str, program: &str, args: &[&str]) -> Result<String, SourceError> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
    let cmd = command_line(program, &args);
    let fail = |message: String| SourceError::Command {
        source_name: source_name.to_string(),
        command: cmd.clone(),
        message,
    };
    let out = run_command(program, &args, &[], COMMAND_TIMEOUT)
        .await
        .map_err(fail)?;
    if !out.success {
        let code = out
            .code
            .map_or_else(|| "killed by a signal".to_string(), |c| format!("exit {c}"));
        return Err(fail(format!("{code}: {}", last_line(&out.stderr))));
    }
    Ok(out.stdout)
}

/// The last non-empty line of `s`, at most 500 characters.
pub(crate) fn last_line(s: &str) -> String {
    let line = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.trim().chars().take(500).collect()
}

fn read_file(source_name: &str, path: &Path) -> Result<String, SourceError> {
    use std::io::Read;
    let io = |error| SourceError::Io {
        source_name: source_name.to_string(),
        path: path.to_path_buf(),
        error,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    f.take(MAX_OUTPUT.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io)?;
    if u64::try_from(buf.len()).unwrap_or(u64::MAX) > MAX_OUTPUT {
        return Err(io(std::io::Error::other(format!(
            "larger than {MAX_OUTPUT} bytes"
        ))));
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn parsed<T>(source_name: &str, r: Result<T, ParseError>) -> Result<T, SourceError> {
    r.map_err(|error| SourceError::Parse {
        source_name: source_name.to_string(),
        error,
    })
}

/// Reads this machine's identity for enrollment: `/etc/machine-id`, else the host name.
fn local_serial() -> String {
    for p in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
        if let Ok(s) = std::fs::read_to_string(p) {
            let s = s.trim();
            if !s.is_empty() {
                return s.chars().take(256).collect();
            }
        }
    }
    hostname()
}

/// This machine's host name (`unknown` when it cannot be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().chars().take(256).collect::<String>())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Collects the inventory of one Linux source.
async fn collect_linux(source: &Source) -> Result<(Vec<App>, Origin), SourceError> {
    let name = source.to_string();
    match source {
        Source::Dpkg { path } => {
            let text = read_file(&name, path)?;
            Ok((
                parsed(&name, parse::parse_dpkg_status(&text))?,
                Origin::Dpkg,
            ))
        }
        Source::Rpm => {
            let text = capture(&name, "rpm", &["-qa", "--qf", parse::RPM_QUERY_FORMAT]).await?;
            Ok((parsed(&name, parse::parse_rpm_qa(&text))?, Origin::Rpm))
        }
        Source::Flatpak => {
            let text = capture(
                &name,
                "flatpak",
                &["list", "--app", "--columns=application,version,origin"],
            )
            .await?;
            Ok((
                parsed(&name, parse::parse_flatpak_list(&text))?,
                Origin::Flatpak,
            ))
        }
        Source::Snap => {
            let text = capture(&name, "snap", &["list"]).await?;
            Ok((parsed(&name, parse::parse_snap_list(&text))?, Origin::Snap))
        }
        Source::Adb { .. } | Source::File { .. } => Ok((Vec::new(), Origin::File)),
    }
}

/// Lists the ADB devices ready for commands (state `device`); others are returned as errors.
async fn adb_serials() -> Result<(Vec<String>, Vec<SourceError>), SourceError> {
    let text = capture("adb", "adb", &["devices"]).await?;
    let devices = parsed("adb", parse::parse_adb_devices(&text))?;
    let mut ready = Vec::new();
    let mut errors = Vec::new();
    for d in devices {
        if d.state == "device" {
            ready.push(d.serial);
        } else {
            errors.push(SourceError::Command {
                source_name: format!("adb:{}", d.serial),
                command: "adb devices".into(),
                message: format!("device is {} (not ready), skipped", d.state),
            });
        }
    }
    Ok((ready, errors))
}

/// Collects one Android device over ADB.
pub async fn collect_adb(serial: &str) -> Result<DeviceInventory, SourceError> {
    let name = format!("adb:{serial}");
    let listed = capture(
        &name,
        "adb",
        &[
            "-s",
            serial,
            "shell",
            "pm",
            "list",
            "packages",
            "--user",
            "0",
            "--show-versioncode",
            "-i",
        ],
    )
    .await?;
    let listed = parsed(&name, parse::parse_pm_list_packages(&listed))?;
    let dump = capture(
        &name,
        "adb",
        &["-s", serial, "shell", "dumpsys", "package", "packages"],
    )
    .await?;
    let dump = parsed(&name, parse::parse_dumpsys_package(&dump))?;
    let mut inv = DeviceInventory::new(name, Platform::Android, serial.to_string());
    let origin = Origin::Adb {
        serial: serial.to_string(),
    };
    inv.add(parse::merge_android(listed, &dump), &origin);
    Ok(inv)
}

fn collect_file(path: &Path) -> Result<Vec<DeviceInventory>, SourceError> {
    let name = format!("file:{}", path.display());
    let text = read_file(&name, path)?;
    let devices =
        app_policy::parse_inventory(&text, &path.display().to_string()).map_err(|error| {
            SourceError::Inventory {
                source_name: name.clone(),
                error,
            }
        })?;
    Ok(devices
        .into_iter()
        .map(|d| {
            let mut inv = DeviceInventory::new(
                format!("file:{}", d.device.id),
                d.device.platform,
                d.device.id,
            );
            inv.groups = d.device.groups;
            inv.ownership = Some(d.device.ownership);
            inv.add(d.apps, &Origin::File);
            inv
        })
        .collect())
}

/// Collects every logical device of `sources`. Devices come back in a stable order (`local`
/// first); a device whose sources failed is left out and its errors returned.
pub async fn collect(sources: &[Source]) -> (Vec<DeviceInventory>, Vec<SourceError>) {
    let mut devices = Vec::new();
    let mut errors = Vec::new();
    let mut local: Option<DeviceInventory> = None;
    let mut local_failed = false;
    let mut serials: Vec<String> = Vec::new();
    for s in sources {
        match s {
            Source::Dpkg { .. } | Source::Rpm | Source::Flatpak | Source::Snap => {
                match collect_linux(s).await {
                    Ok((apps, origin)) => local
                        .get_or_insert_with(|| {
                            DeviceInventory::new("local".into(), Platform::Linux, local_serial())
                        })
                        .add(apps, &origin),
                    Err(e) => {
                        local_failed = true;
                        errors.push(e);
                    }
                }
            }
            Source::Adb { serial: Some(s) } => serials.push(s.clone()),
            Source::Adb { serial: None } => match adb_serials().await {
                Ok((ready, errs)) => {
                    serials.extend(ready);
                    errors.extend(errs);
                }
                Err(e) => errors.push(e),
            },
            Source::File { path } => match collect_file(path) {
                Ok(d) => devices.extend(d),
                Err(e) => errors.push(e),
            },
        }
    }
    serials.sort();
    serials.dedup();
    for serial in serials {
        match collect_adb(&serial).await {
            Ok(d) => devices.push(d),
            Err(e) => errors.push(e),
        }
    }
    if let Some(l) = local.filter(|_| !local_failed) {
        devices.insert(0, l);
    }
    (devices, errors)
}

/// Collects one logical device again (before carrying out actions). `Err` when `key` is no
/// longer produced by `sources` or one of its sources failed.
pub async fn collect_one(sources: &[Source], key: &str) -> Result<DeviceInventory, String> {
    if let Some(serial) = key.strip_prefix("adb:") {
        return collect_adb(serial).await.map_err(|e| e.to_string());
    }
    let wanted: Vec<Source> = sources
        .iter()
        .filter(|s| match s {
            Source::Adb { .. } => false,
            Source::File { .. } => key.starts_with("file:"),
            _ => key == "local",
        })
        .cloned()
        .collect();
    let (devices, errors) = collect(&wanted).await;
    if let Some(e) = errors.first() {
        return Err(e.to_string());
    }
    devices
        .into_iter()
        .find(|d| d.key == key)
        .ok_or_else(|| format!("{key}: no longer reported by its sources"))
}
