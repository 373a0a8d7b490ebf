//! Pure parsers: the text a package manager prints (or keeps on disk) in, [`App`]s out.
//!
//! No I/O and no panics on any input; an unexpected line is a [`ParseError`] with its
//! 1-based line number.

use std::collections::{BTreeMap, HashSet};

use app_policy::App;

/// A line the parser could not make sense of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: line {line}: {message}")]
pub struct ParseError {
    /// Which output was being parsed (`dpkg status`, `rpm -qa`, ...).
    pub what: &'static str,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn err(what: &'static str, line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        what,
        line,
        message: message.into(),
    }
}

/// Keeps the first app of each id, in input order.
fn dedup(apps: Vec<App>) -> Vec<App> {
    let mut seen = HashSet::new();
    apps.into_iter()
        .filter(|a| seen.insert(a.id.clone()))
        .collect()
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Parses a dpkg status file (`/var/lib/dpkg/status`).
///
/// Only packages whose `Status` state is `installed` are reported (`install ok installed`,
/// `hold ok installed`, ...; not `half-installed`, `config-files`, `not-installed`, ...). The id is the `Package` name (a package installed
/// for several architectures is reported once), `version` the `Version` field, `publisher`
/// the `Maintainer` field and `installer` is `dpkg`.
pub fn parse_dpkg_status(src: &str) -> Result<Vec<App>, ParseError> {
    const WHAT: &str = "dpkg status";
    let mut apps = Vec::new();
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    let mut start = 1usize;
    let mut last_key: Option<&str> = None;
    let flush = |fields: &mut BTreeMap<&str, &str>,
                 start: usize,
                 apps: &mut Vec<App>|
     -> Result<(), ParseError> {
        if fields.is_empty() {
            return Ok(());
        }
        let Some(name) = fields.get("Package").copied().and_then(non_empty) else {
            return Err(err(WHAT, start, "stanza without a Package field"));
        };
        // `Status: WANT FLAG STATE`. What is on disk is STATE `installed`, whatever is wanted:
        // `hold ok installed` (a held package) and `deinstall ok installed` (selected for
        // removal, not yet removed) are installed too, and a ban must see them.
        let status = fields.get("Status").copied().unwrap_or_default();
        let words: Vec<&str> = status.split_whitespace().collect();
        if words.len() == 3 && words.get(2) == Some(&"installed") {
            apps.push(App {
                id: name,
                version: fields.get("Version").copied().and_then(non_empty),
                version_code: None,
                signers: Vec::new(),
                installer: Some("dpkg".into()),
                publisher: fields.get("Maintainer").copied().and_then(non_empty),
            });
        }
        fields.clear();
        Ok(())
    };
    for (i, line) in src.lines().enumerate() {
        let n = i.saturating_add(1);
        if line.trim().is_empty() {
            flush(&mut fields, start, &mut apps)?;
            last_key = None;
            continue;
        }
        if fields.is_empty() && last_key.is_none() {
            start = n;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            // Continuation of a multi-line field (Description, Conffiles, ...).
            if last_key.is_none() {
                return Err(err(WHAT, n, "continuation line before any field"));
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(err(
                WHAT,
                n,
                format!("expected `Field: value`, got {line:?}"),
            ));
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(err(WHAT, n, format!("bad field name {key:?}")));
        }
        fields.insert(key, value.trim());
        last_key = Some(key);
    }
    flush(&mut fields, start, &mut apps)?;
    Ok(dedup(apps))
}

/// The `rpm -qa` query format [`parse_rpm_qa`] reads.
pub const RPM_QUERY_FORMAT: &str = "%{NAME}\\t%{EPOCH}:%{VERSION}-%{RELEASE}\\t%{VENDOR}\\n";

/// Parses `rpm -qa --qf '%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\t%{VENDOR}\n'`.
///
/// An epoch of `(none)` is dropped from the version; a vendor of `(none)` is no publisher.
/// `gpg-pubkey` entries (imported signing keys, not software) are skipped.
pub fn parse_rpm_qa(src: &str) -> Result<Vec<App>, ParseError> {
    const WHAT: &str = "rpm -qa";
    let mut apps = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let n = i.saturating_add(1);
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [name, evr, vendor] = cols.as_slice() else {
            return Err(err(
                WHAT,
                n,
                format!("expected 3 tab-separated columns, got {}", cols.len()),
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(err(WHAT, n, "empty package name"));
        }
        if name == "gpg-pubkey" {
            continue;
        }
        let Some((epoch, vr)) = evr.split_once(':') else {
            return Err(err(
                WHAT,
                n,
                format!("expected EPOCH:VERSION-RELEASE, got {evr:?}"),
            ));
        };
        let version = if epoch == "(none)" || epoch.is_empty() {
            vr.to_string()
        } else {
            format!("{epoch}:{vr}")
        };
        let vendor = vendor.trim();
        apps.push(App {
            id: name.to_string(),
            version: non_empty(&version),
            version_code: None,
            signers: Vec::new(),
            installer: Some("rpm".into()),
            publisher: (vendor != "(none)").then(|| non_empty(vendor)).flatten(),
        });
    }
    Ok(dedup(apps))
}

/// Parses `flatpak list --app --columns=application,version,origin` (tab-separated, as
/// flatpak prints when its output is not a terminal). A header line, if any, is skipped.
/// `installer` is `flatpak:<origin>` (the remote it came from).
pub fn parse_flatpak_list(src: &str) -> Result<Vec<App>, ParseError> {
    const WHAT: &str = "flatpak list";
    let mut apps = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let n = i.saturating_add(1);
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
        let (id, version, origin) = match cols.as_slice() {
            [id, version, origin] => (*id, *version, *origin),
            [id, version] => (*id, *version, ""),
            [id] => (*id, "", ""),
            _ => {
                return Err(err(
                    WHAT,
                    n,
                    format!("expected 3 tab-separated columns, got {}", cols.len()),
                ))
            }
        };
        if n == 1 && (id == "Application ID" || id == "Application") {
            continue;
        }
        if id.is_empty() || id.contains(char::is_whitespace) {
            return Err(err(WHAT, n, format!("bad application id {id:?}")));
        }
        apps.push(App {
            id: id.to_string(),
            version: non_empty(version),
            version_code: None,
            signers: Vec::new(),
            installer: Some(match non_empty(origin) {
                Some(o) => format!("flatpak:{o}"),
                None => "flatpak".into(),
            }),
            publisher: None,
        });
    }
    Ok(dedup(apps))
}

/// Parses `snap list` (columns `Name Version Rev Tracking Publisher Notes`).
///
/// Disabled revisions are skipped; the publisher's verification mark (`✓`, `*`, `**`) is
/// removed and `-` is no publisher. `installer` is `snap`.
pub fn parse_snap_list(src: &str) -> Result<Vec<App>, ParseError> {
    const WHAT: &str = "snap list";
    let mut apps = Vec::new();
    let mut header = false;
    for (i, line) in src.lines().enumerate() {
        let n = i.saturating_add(1);
        let t = line.trim();
        if t.is_empty() || t.starts_with("No snaps are installed") {
            continue;
        }
        let cols: Vec<&str> = t.split_whitespace().collect();
        if !header {
            if cols.first() != Some(&"Name") || cols.get(1) != Some(&"Version") {
                return Err(err(WHAT, n, "expected the header `Name Version Rev ...`"));
            }
            header = true;
            continue;
        }
        if cols.len() < 5 {
            return Err(err(
                WHAT,
                n,
                format!("expected at least 5 columns, got {}", cols.len()),
            ));
        }
        let notes = cols.get(5).copied().unwrap_or("-");
        if notes.split(',').any(|x| x == "disabled") {
            continue;
        }
        let publisher = cols
            .get(4)
            .map(|p| p.trim_end_matches(['✓', '*']))
            .filter(|p| !p.is_empty() && *p != "-")
            .map(str::to_string);
        apps.push(App {
            id: cols.first().copied().unwrap_or_default().to_string(),
            version: cols.get(1).and_then(|v| non_empty(v)),
            version_code: None,
            signers: Vec::new(),
            installer: Some("snap".into()),
            publisher,
        });
    }
    Ok(dedup(apps))
}

/// Is `s` a plausible Android package name (`[A-Za-z0-9_.]`, starting with a letter)?
/// Only such names are ever passed to `adb shell`, whose arguments the device's shell reads.
pub fn is_android_package(s: &str) -> bool {
    s.len() <= 255
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
}

/// Parses `pm list packages` output with any of `-f`, `--show-versioncode`, `-i`, `-U`:
/// `package:[PATH=]NAME [versionCode:N] [installer=PKG|null] [uid:N]`.
///
/// `pm list packages` reports no signer: see [`parse_dumpsys_package`] for why no signer
/// digest is read from `dumpsys` either.
pub fn parse_pm_list_packages(src: &str) -> Result<Vec<App>, ParseError> {
    const WHAT: &str = "pm list packages";
    let mut apps = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let n = i.saturating_add(1);
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let Some(rest) = t.strip_prefix("package:") else {
            return Err(err(WHAT, n, format!("expected `package:...`, got {t:?}")));
        };
        let mut words = rest.split_whitespace();
        let first = words.next().unwrap_or_default();
        // With -f the first word is `PATH=NAME`; the path may itself contain `=`.
        let name = match first.rsplit_once('=') {
            Some((_, name)) => name,
            None => first,
        };
        if !is_android_package(name) {
            return Err(err(WHAT, n, format!("bad package name {name:?}")));
        }
        let mut app = App {
            id: name.to_string(),
            version: None,
            version_code: None,
            signers: Vec::new(),
            installer: None,
            publisher: None,
        };
        for w in words {
            if let Some(v) = w.strip_prefix("versionCode:") {
                let code = v
                    .parse::<i64>()
                    .map_err(|_| err(WHAT, n, format!("bad versionCode {v:?}")))?;
                app.version_code = Some(code);
            } else if let Some(v) = w.strip_prefix("installer=") {
                app.installer = (v != "null" && !v.is_empty()).then(|| v.to_string());
            } else if w.starts_with("uid:") {
                // Not part of the inventory.
            } else {
                return Err(err(WHAT, n, format!("unexpected field {w:?}")));
            }
        }
        apps.push(app);
    }
    Ok(dedup(apps))
}

/// What `dumpsys package` says about one package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpsysPackage {
    /// Package name.
    pub id: String,
    /// `versionName=`.
    pub version_name: Option<String>,
    /// `versionCode=`.
    pub version_code: Option<i64>,
    /// `installerPackageName=` (absent or `null`: none).
    pub installer: Option<String>,
    /// The hex inside `signatures=PackageSignatures{... signatures:[...]}`.
    ///
    /// **Not a certificate digest**: Android prints `Integer.toHexString(signature.hashCode())`,
    /// a 32-bit Java hash of the certificate bytes. It identifies nothing securely and is never
    /// put in [`App::signers`], which holds SHA-256 (or SHA-1) certificate digests only.
    pub signature_hashes: Vec<String>,
}

/// Parses `dumpsys package packages` (or `dumpsys package PKG`): the `Package [NAME] (...):`
/// entries of the `Packages:` section. Entries under `Hidden system packages:` (the factory
/// copy of an updated system app) are ignored.
pub fn parse_dumpsys_package(src: &str) -> Result<Vec<DumpsysPackage>, ParseError> {
    const WHAT: &str = "dumpsys package";
    let mut out: Vec<DumpsysPackage> = Vec::new();
    let mut section = String::new();
    let mut current: Option<DumpsysPackage> = None;
    for (i, line) in src.lines().enumerate() {
        let n = i.saturating_add(1);
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len().saturating_sub(line.trim_start().len());
        let t = line.trim();
        if indent == 0 {
            out.extend(current.take());
            section = t.to_string();
            continue;
        }
        if section != "Packages:" {
            continue;
        }
        if let Some(rest) = t.strip_prefix("Package [") {
            out.extend(current.take());
            let Some((name, _)) = rest.split_once(']') else {
                return Err(err(WHAT, n, format!("unterminated package name in {t:?}")));
            };
            if !is_android_package(name) {
                return Err(err(WHAT, n, format!("bad package name {name:?}")));
            }
            current = Some(DumpsysPackage {
                id: name.to_string(),
                ..DumpsysPackage::default()
            });
            continue;
        }
        let Some(p) = current.as_mut() else {
            continue;
        };
        if let Some(v) = t.strip_prefix("versionName=") {
            p.version_name = non_empty(v).filter(|v| v != "null");
        } else if let Some(v) = t.strip_prefix("versionCode=") {
            let v = v.split_whitespace().next().unwrap_or_default();
            let code = v
                .parse::<i64>()
                .map_err(|_| err(WHAT, n, format!("bad versionCode {v:?}")))?;
            p.version_code = Some(code);
        } else if let Some(v) = t.strip_prefix("installerPackageName=") {
            p.installer = non_empty(v).filter(|v| v != "null");
        } else if let Some(v) = t.strip_prefix("signatures=PackageSignatures{") {
            if let Some((_, after)) = v.split_once("signatures:[") {
                let inner = after.split(']').next().unwrap_or_default();
                p.signature_hashes = inner
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
            }
        }
    }
    out.extend(current);
    Ok(out)
}

/// Combines `pm list packages` (the authority on what is installed for the user) with
/// `dumpsys package` (version names): one [`App`] per listed package.
pub fn merge_android(listed: Vec<App>, dumpsys: &[DumpsysPackage]) -> Vec<App> {
    let by_id: BTreeMap<&str, &DumpsysPackage> =
        dumpsys.iter().map(|d| (d.id.as_str(), d)).collect();
    listed
        .into_iter()
        .map(|mut a| {
            if let Some(d) = by_id.get(a.id.as_str()) {
                a.version = a.version.or_else(|| d.version_name.clone());
                a.version_code = a.version_code.or(d.version_code);
                a.installer = a.installer.or_else(|| d.installer.clone());
            }
            a
        })
        .collect()
}

/// One device from `adb devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdbDevice {
    /// Serial (what `adb -s` takes).
    pub serial: String,
    /// `device`, `offline`, `unauthorized`, ...
    pub state: String,
}

/// Parses `adb devices` (optionally `-l`): the lines after `List of devices attached`.
pub fn parse_adb_devices(src: &str) -> Result<Vec<AdbDevice>, ParseError> {
    const WHAT: &str = "adb devices";
    let mut out = Vec::new();
    let mut listed = false;
    for (i, line) in src.lines().enumerate() {
        let n = i.saturating_add(1);
        let t = line.trim();
        if t.is_empty() || t.starts_with('*') {
            // `* daemon started successfully` and friends.
            continue;
        }
        if t.starts_with("List of devices attached") {
            listed = true;
            continue;
        }
        if !listed {
            return Err(err(WHAT, n, format!("unexpected line {t:?}")));
        }
        let mut words = t.split_whitespace();
        let (Some(serial), Some(state)) = (words.next(), words.next()) else {
            return Err(err(WHAT, n, format!("expected `SERIAL STATE`, got {t:?}")));
        };
        out.push(AdbDevice {
            serial: serial.to_string(),
            state: state.to_string(),
        });
    }
    Ok(out)
}
