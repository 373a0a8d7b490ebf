//! Normalized device inventory, and importers from what MDMs actually return.

use crate::model::{Ownership, Platform};
use crate::parse::normalize_hex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One device and the apps on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInventory {
    /// The device.
    pub device: Device,
    /// Installed apps.
    #[serde(default)]
    pub apps: Vec<App>,
}

/// Device identity and grouping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Stable id (MDM device id, UDID, host id).
    pub id: String,
    /// Platform.
    pub platform: Platform,
    /// Groups the device belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Ownership.
    #[serde(default)]
    pub ownership: Ownership,
}

/// One installed app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Package name, bundle id or package/program name.
    pub id: String,
    /// Human version string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Numeric version (Android versionCode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_code: Option<i64>,
    /// Signer certificate digests, lowercase hex (64 chars: SHA-256, 40 chars: SHA-1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signers: Vec<String>,
    /// Installer package or source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installer: Option<String>,
    /// Publisher or vendor name, where the source reports one (desktop inventories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
}

/// What a device reports having done about one of the server's actions: an element of a
/// check-in's `action_results`, written by the agent and stored by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionResult {
    /// The action id the server sent.
    pub id: String,
    /// App acted on.
    pub app_id: String,
    /// `uninstall`, `block` or `notify`.
    pub kind: String,
    /// `done`, `failed`, `dry_run` or `skipped`.
    pub status: String,
    /// What happened, in words (the failure reason, "already absent", ...).
    #[serde(default)]
    pub detail: String,
    /// The exact command run (or, for `dry_run`, that would run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// When it happened, device clock, Unix ms.
    pub at_ms: i64,
}

/// Longest `detail` or `command` accepted, characters.
pub const MAX_RESULT_TEXT: usize = 2000;

impl ActionResult {
    /// Cuts `detail` to [`MAX_RESULT_TEXT`] characters (the sender's side of the limit).
    pub fn clamp(mut self) -> Self {
        if self.detail.chars().count() > MAX_RESULT_TEXT {
            self.detail = self.detail.chars().take(MAX_RESULT_TEXT).collect();
        }
        self
    }

    /// Checks the fields a device controls (the receiver's side); the message names the field.
    pub fn validate(&self) -> std::result::Result<(), String> {
        const KINDS: [&str; 3] = ["uninstall", "block", "notify"];
        const STATUSES: [&str; 4] = ["done", "failed", "dry_run", "skipped"];
        if self.id.is_empty() || self.id.len() > 128 {
            return Err("action_results[].id: 1 to 128 characters".into());
        }
        if self.app_id.is_empty() || self.app_id.len() > 512 {
            return Err("action_results[].app_id: 1 to 512 characters".into());
        }
        if !KINDS.contains(&self.kind.as_str()) {
            return Err(format!(
                "action_results[].kind: {:?} is not one of {}",
                self.kind,
                KINDS.join(", ")
            ));
        }
        if !STATUSES.contains(&self.status.as_str()) {
            return Err(format!(
                "action_results[].status: {:?} is not one of {}",
                self.status,
                STATUSES.join(", ")
            ));
        }
        let long = |s: &str| s.chars().count() > MAX_RESULT_TEXT;
        if long(&self.detail) || self.command.as_deref().is_some_and(long) {
            return Err(format!(
                "action_results[].detail/command: at most {MAX_RESULT_TEXT} characters"
            ));
        }
        if self.at_ms < 0 {
            return Err("action_results[].at_ms: negative".into());
        }
        Ok(())
    }
}

/// An inventory or import error, located where the source allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct InventoryError {
    /// File name as given.
    pub file: String,
    /// 1-based line (1 when unknown).
    pub line: usize,
    /// 1-based column (1 when unknown).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl InventoryError {
    fn json(file: &str, e: &serde_json::Error) -> Self {
        InventoryError {
            file: file.to_string(),
            line: e.line().max(1),
            column: e.column().max(1),
            message: e.to_string(),
        }
    }

    fn at_start(file: &str, message: impl Into<String>) -> Self {
        InventoryError {
            file: file.to_string(),
            line: 1,
            column: 1,
            message: message.into(),
        }
    }
}

/// Parses normalized inventory JSON: one device object or an array of them.
pub fn parse_inventory(src: &str, file: &str) -> Result<Vec<DeviceInventory>, InventoryError> {
    let first = src.trim_start().chars().next();
    let mut out = if first == Some('[') {
        serde_json::from_str::<Vec<DeviceInventory>>(src)
            .map_err(|e| InventoryError::json(file, &e))?
    } else {
        vec![serde_json::from_str::<DeviceInventory>(src)
            .map_err(|e| InventoryError::json(file, &e))?]
    };
    for d in &mut out {
        for a in &mut d.apps {
            for s in &mut a.signers {
                *s = normalize_hex(s);
            }
        }
    }
    Ok(out)
}

/// What the caller knows about the device(s) that the source does not say.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Device id to use when the source has none (Apple responses without UDID, osquery rows).
    pub device_id: Option<String>,
    /// Groups to put the device(s) in.
    pub groups: Vec<String>,
    /// Ownership to set when the source does not report it.
    pub ownership: Option<Ownership>,
    /// Platform override (Apple: `ios` by default; osquery: derived from the table).
    pub platform: Option<Platform>,
}

/// Imported devices plus what the importer had to guess or leave out.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// Normalized devices.
    pub devices: Vec<DeviceInventory>,
    /// Notes on lossy or incomplete input.
    pub warnings: Vec<String>,
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int_field(v: &Value, k: &str) -> Option<i64> {
    match v.get(k)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Imports Android Management API `Device` JSON: one `Device`, an array of them, or a
/// `devices.list` response (`{"devices": [...]}`). Uses `applicationReports[]`
/// (`packageName`, `versionName`, `versionCode`, `signingKeyCertFingerprints`,
/// `installerPackageName`, `state`), `name` and `ownership`.
pub fn import_amapi(
    src: &str,
    file: &str,
    opts: &ImportOptions,
) -> Result<Imported, InventoryError> {
    let v: Value = serde_json::from_str(src).map_err(|e| InventoryError::json(file, &e))?;
    let list: Vec<&Value> = match &v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.contains_key("devices") => match o.get("devices") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => return Err(InventoryError::at_start(file, "`devices` is not an array")),
        },
        Value::Object(_) => vec![&v],
        _ => {
            return Err(InventoryError::at_start(
                file,
                "expected an AMAPI Device object or array",
            ))
        }
    };
    let mut out = Imported::default();
    for (i, d) in list.into_iter().enumerate() {
        if !d.is_object() {
            return Err(InventoryError::at_start(
                file,
                format!("device #{i} is not an object"),
            ));
        }
        let name = str_field(d, "name");
        let id = name
            .as_deref()
            .and_then(|n| n.rsplit('/').next())
            .map(str::to_string)
            .or_else(|| opts.device_id.clone())
            .unwrap_or_else(|| format!("amapi-device-{i}"));
        if name.is_none() && opts.device_id.is_none() {
            out.warnings
                .push(format!("device #{i} has no `name`; using id `{id}`"));
        }
        let ownership = match str_field(d, "ownership").as_deref() {
            Some("COMPANY_OWNED") => Ownership::Corporate,
            Some("PERSONALLY_OWNED") => Ownership::Personal,
            _ => opts.ownership.unwrap_or_default(),
        };
        let mut apps = Vec::new();
        match d.get("applicationReports") {
            Some(Value::Array(reports)) => {
                for r in reports {
                    let Some(pkg) = str_field(r, "packageName") else {
                        out.warnings.push(format!("{id}: an application report has no packageName; skipped"));
                        continue;
                    };
                    if str_field(r, "state").as_deref() == Some("REMOVED") {
                        continue;
                    }
                    let signers = match r.get("signingKeyCertFingerprints") {
                        Some(Value::Array(a)) => a
                            .iter()
                            .filter_map(Value::as_str)
                            .map(normalize_hex)
                            .collect(),
                        _ => Vec::new(),
                    };
                    apps.push(App {
                        id: pkg,
                        version: str_field(r, "versionName"),
                        version_code: int_field(r, "versionCode"),
                        signers,
                        installer: str_field(r, "installerPackageName"),
                        publisher: None,
                    });
                }
            }
            _ => out.warnings.push(format!(
                "{id}: no applicationReports (enable statusReportingSettings.applicationReportsEnabled); device has no apps"
            )),
        }
        if apps.iter().any(|a| !a.signers.is_empty()) {
            // Stated once per import below.
        }
        out.devices.push(DeviceInventory {
            device: Device {
                id,
                platform: Platform::Android,
                groups: opts.groups.clone(),
                ownership,
            },
            apps,
        });
    }
    if out
        .devices
        .iter()
        .flat_map(|d| &d.apps)
        .any(|a| !a.signers.is_empty())
    {
        out.warnings.push(
            "AMAPI reports SHA-1 signer fingerprints: only `signer_sha1` matchers can match them"
                .into(),
        );
    }
    Ok(out)
}

/// Ownership from what an Apple MDM reports about enrollment, at the top level or in a
/// `DeviceInformation` response's `QueryResponses`: a User Enrollment (`IsUserEnrollment`,
/// or `EnrollmentType` `User`) is a personal device; a supervised one (`IsSupervised`) is the
/// organization's. `None` when neither is said.
fn apple_ownership(dict: &plist::Dictionary) -> Option<Ownership> {
    let q = dict
        .get("QueryResponses")
        .and_then(plist::Value::as_dictionary);
    let get = |k: &str| dict.get(k).or_else(|| q.and_then(|q| q.get(k)));
    let user = get("IsUserEnrollment").and_then(plist::Value::as_boolean) == Some(true)
        || get("EnrollmentType").and_then(plist::Value::as_string) == Some("User");
    if user {
        return Some(Ownership::Personal);
    }
    match get("IsSupervised").and_then(plist::Value::as_boolean) {
        Some(true) => Some(Ownership::Corporate),
        _ => None,
    }
}

/// Imports an Apple MDM `InstalledApplicationList` command response (XML or binary plist):
/// `UDID` and `InstalledApplicationList[]` with `Identifier`, `ShortVersion`, `Version`; the
/// ownership comes from `IsSupervised` / `IsUserEnrollment` / `EnrollmentType` when the
/// response (or its merged `QueryResponses`) carries them, else from the options.
pub fn import_apple(
    bytes: &[u8],
    file: &str,
    opts: &ImportOptions,
) -> Result<Imported, InventoryError> {
    let v = plist::Value::from_reader(std::io::Cursor::new(bytes))
        .map_err(|e| InventoryError::at_start(file, format!("not a property list: {e}")))?;
    let dict = v
        .as_dictionary()
        .ok_or_else(|| InventoryError::at_start(file, "expected a dictionary at the top level"))?;
    let list = dict
        .get("InstalledApplicationList")
        .and_then(plist::Value::as_array)
        .ok_or_else(|| InventoryError::at_start(file, "no `InstalledApplicationList` array"))?;
    let mut out = Imported::default();
    let udid = dict
        .get("UDID")
        .and_then(plist::Value::as_string)
        .map(str::to_string);
    let id = udid
        .or_else(|| opts.device_id.clone())
        .or_else(|| {
            dict.get("EnrollmentID")
                .and_then(plist::Value::as_string)
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            out.warnings
                .push("no UDID in the response and no --device-id; using `apple-device`".into());
            "apple-device".into()
        });
    let mut apps = Vec::new();
    for item in list {
        let Some(d) = item.as_dictionary() else {
            continue;
        };
        let Some(ident) = d.get("Identifier").and_then(plist::Value::as_string) else {
            out.warnings
                .push(format!("{id}: an app without Identifier was skipped"));
            continue;
        };
        let short = d.get("ShortVersion").and_then(plist::Value::as_string);
        let long = d.get("Version").and_then(plist::Value::as_string);
        apps.push(App {
            id: ident.to_string(),
            version: short.or(long).map(str::to_string),
            version_code: long.and_then(|s| s.parse().ok()),
            signers: Vec::new(),
            installer: d
                .get("DistributorIdentifier")
                .and_then(plist::Value::as_string)
                .map(str::to_string),
            publisher: None,
        });
    }
    out.warnings.push(
        "Apple inventories carry no signer or publisher: only app-id and vendor-app-id/prefix matchers apply; system apps are not listed".into(),
    );
    let ownership = apple_ownership(dict).or(opts.ownership).unwrap_or_default();
    out.devices.push(DeviceInventory {
        device: Device {
            id,
            platform: opts.platform.unwrap_or(Platform::Ios),
            groups: opts.groups.clone(),
            ownership,
        },
        apps,
    });
    Ok(out)
}

/// Imports osquery JSON results (`osqueryi --json`, or a scheduled-query log line with
/// `snapshot`/`hostIdentifier`) of the `apps` (macOS), `programs` (Windows),
/// `deb_packages` or `rpm_packages` (Linux) tables. Each array of rows becomes one device.
pub fn import_osquery(
    src: &str,
    file: &str,
    opts: &ImportOptions,
) -> Result<Imported, InventoryError> {
    let v: Value = serde_json::from_str(src).map_err(|e| InventoryError::json(file, &e))?;
    let mut batches: Vec<(Option<String>, &Vec<Value>)> = Vec::new();
    match &v {
        Value::Array(rows) if rows.iter().all(|r| r.get("snapshot").is_none()) => {
            batches.push((None, rows));
        }
        Value::Array(logs) => {
            for l in logs {
                if let Some(Value::Array(rows)) = l.get("snapshot") {
                    batches.push((str_field(l, "hostIdentifier"), rows));
                }
            }
        }
        Value::Object(o) => match o.get("snapshot").or_else(|| o.get("rows")) {
            Some(Value::Array(rows)) => batches.push((str_field(&v, "hostIdentifier"), rows)),
            _ => {
                return Err(InventoryError::at_start(
                    file,
                    "expected an array of rows or an object with `snapshot`",
                ))
            }
        },
        _ => {
            return Err(InventoryError::at_start(
                file,
                "expected osquery JSON results",
            ))
        }
    }
    let mut out = Imported::default();
    for (i, (host, rows)) in batches.into_iter().enumerate() {
        let id = host
            .or_else(|| opts.device_id.clone())
            .unwrap_or_else(|| format!("osquery-host-{i}"));
        let mut platform = opts.platform;
        let mut apps = Vec::new();
        for r in rows {
            let (app, p) = if r.get("bundle_identifier").is_some() {
                // apps (macOS): name, bundle_identifier, bundle_short_version, bundle_version.
                let Some(id) = str_field(r, "bundle_identifier").filter(|s| !s.is_empty()) else {
                    continue;
                };
                (
                    App {
                        id,
                        version: str_field(r, "bundle_short_version"),
                        version_code: int_field(r, "bundle_version"),
                        signers: Vec::new(),
                        installer: None,
                        publisher: None,
                    },
                    Platform::Macos,
                )
            } else if r.get("identifying_number").is_some() || r.get("install_location").is_some() {
                // programs (Windows): name, version, publisher, identifying_number.
                let Some(name) = str_field(r, "name") else {
                    continue;
                };
                (
                    App {
                        id: name,
                        version: str_field(r, "version"),
                        version_code: None,
                        signers: Vec::new(),
                        installer: str_field(r, "install_source").filter(|s| !s.is_empty()),
                        publisher: str_field(r, "publisher").filter(|s| !s.is_empty()),
                    },
                    Platform::Windows,
                )
            } else if r.get("release").is_some()
                || r.get("maintainer").is_some()
                || r.get("revision").is_some()
            {
                // rpm_packages: name, version, release, vendor; deb_packages: name, version, maintainer.
                let Some(name) = str_field(r, "name") else {
                    continue;
                };
                let publisher = str_field(r, "vendor").or_else(|| str_field(r, "maintainer"));
                (
                    App {
                        id: name,
                        version: str_field(r, "version"),
                        version_code: None,
                        signers: Vec::new(),
                        installer: None,
                        publisher: publisher.filter(|s| !s.is_empty()),
                    },
                    Platform::Linux,
                )
            } else {
                out.warnings.push(format!(
                    "{id}: a row matches none of apps, programs, deb_packages, rpm_packages; skipped"
                ));
                continue;
            };
            if platform.is_none() {
                platform = Some(p);
            }
            apps.push(app);
        }
        let Some(platform) = platform else {
            out.warnings
                .push(format!("{id}: no usable rows; device skipped"));
            continue;
        };
        out.devices.push(DeviceInventory {
            device: Device {
                id,
                platform,
                groups: opts.groups.clone(),
                ownership: opts.ownership.unwrap_or_default(),
            },
            apps,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apple(extra: &str) -> Ownership {
        let src = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>UDID</key><string>u1</string>{extra}
<key>InstalledApplicationList</key><array>
<dict><key>Identifier</key><string>com.tencent.xin</string></dict></array>
</dict></plist>"#
        );
        let opts = ImportOptions {
            ownership: Some(Ownership::Unknown),
            ..Default::default()
        };
        import_apple(src.as_bytes(), "r.plist", &opts)
            .expect("import")
            .devices[0]
            .device
            .ownership
    }

    #[test]
    fn apple_ownership_comes_from_the_enrollment_when_reported() {
        assert_eq!(apple(""), Ownership::Unknown, "not said: the option");
        assert_eq!(
            apple("<key>IsSupervised</key><true/>"),
            Ownership::Corporate
        );
        assert_eq!(
            apple("<key>QueryResponses</key><dict><key>IsSupervised</key><true/></dict>"),
            Ownership::Corporate
        );
        assert_eq!(
            apple("<key>IsSupervised</key><false/><key>IsUserEnrollment</key><true/>"),
            Ownership::Personal
        );
        assert_eq!(
            apple("<key>EnrollmentType</key><string>User</string>"),
            Ownership::Personal
        );
        assert_eq!(apple("<key>IsSupervised</key><false/>"), Ownership::Unknown);
    }
}
