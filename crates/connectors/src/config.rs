//! The `[[connector]]` sections of the server configuration (`server.toml`).
//!
//! ```toml
//! [[connector]]
//! name = "android"
//! kind = "amapi"
//! enterprise = "enterprises/LC01abcd"
//! service_account_key_file = "/etc/interdict/amapi-key.json"
//! policy = "enterprises/LC01abcd/policies/default"   # where BLOCKED apps are merged
//! push = "dry_run"                                   # off | dry_run | apply
//! interval_secs = 3600
//! groups = ["android-fleet"]
//! [connector.policy_groups]
//! "enterprises/LC01abcd/policies/executives" = ["executives"]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// One `[[connector]]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ConnectorConfig {
    /// Google's Android Management API.
    Amapi(AmapiConfig),
    /// Microsoft Intune through Microsoft Graph (`crate::intune`).
    Intune(crate::intune::IntuneConfig),
    /// Apple MDM through a NanoMDM-compatible command API (`crate::nanomdm`).
    Nanomdm(crate::nanomdm::NanoMdmConfig),
}

impl ConnectorConfig {
    /// The connector's name (unique in the file).
    pub fn name(&self) -> &str {
        match self {
            ConnectorConfig::Amapi(c) => &c.name,
            ConnectorConfig::Intune(c) => &c.name,
            ConnectorConfig::Nanomdm(c) => &c.name,
        }
    }

    /// `amapi`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorConfig::Amapi(_) => "amapi",
            ConnectorConfig::Intune(_) => "intune",
            ConnectorConfig::Nanomdm(_) => "nanomdm",
        }
    }

    /// Seconds between two scheduled syncs.
    pub fn interval_secs(&self) -> u64 {
        match self {
            ConnectorConfig::Amapi(c) => c.interval_secs.max(1),
            ConnectorConfig::Intune(c) => c.interval_secs.max(1),
            ConnectorConfig::Nanomdm(c) => c.interval_secs.max(1),
        }
    }

    /// Checks what serde cannot: names, URLs, enterprise and policy names.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ConnectorConfig::Amapi(c) => c.validate(),
            ConnectorConfig::Intune(c) => c.validate(),
            ConnectorConfig::Nanomdm(c) => c.validate(),
        }
    }
}

/// Whether and how a connector writes into the MDM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushMode {
    /// Pull only.
    Off,
    /// Compute and record the change (the diff), write nothing.
    #[default]
    DryRun,
    /// Write the change.
    Apply,
}

fn default_base_url() -> String {
    "https://androidmanagement.googleapis.com".into()
}
fn default_interval() -> u64 {
    3600
}
fn default_page_size() -> u32 {
    100
}
fn default_timeout() -> u64 {
    60
}
fn default_attempts() -> u32 {
    6
}

/// `kind = "amapi"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmapiConfig {
    /// Connector name.
    pub name: String,
    /// `enterprises/{enterpriseId}`.
    pub enterprise: String,
    /// The Google Cloud service-account key (JSON) of the EMM project.
    pub service_account_key_file: PathBuf,
    /// The policy the ban's `BLOCKED` apps are merged into (`enterprises/{e}/policies/{p}`);
    /// without it nothing is pushed.
    #[serde(default)]
    pub policy: Option<String>,
    /// Whether to write the merge (`apply`), only record the diff (`dry_run`), or not (`off`).
    #[serde(default)]
    pub push: PushMode,
    /// API root (tests point it at the emulator).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Seconds between scheduled syncs.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Devices per page (1 to 100 by the API's description; memory is bounded by it).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Per-request timeout, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Attempts per request (429, 5xx, timeouts, an expired token) before the sync fails.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Groups every device of this connector is in.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Groups by the device's AMAPI policy name.
    #[serde(default)]
    pub policy_groups: BTreeMap<String, Vec<String>>,
}

/// Checks a connector name: 1 to 64 letters, digits, '-' or '_' (it is a URL segment).
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "connector name {name:?}: 1 to 64 letters, digits, '-' or '_'"
        ));
    }
    Ok(())
}

/// Checks a base URL: https, or plain http on loopback only.
pub(crate) fn check_base_url(name: &str, url: &str) -> Result<(), String> {
    if !(url.starts_with("https://")
        || url.starts_with("http://127.")
        || url.starts_with("http://localhost")
        || url.starts_with("http://[::1]"))
    {
        return Err(format!(
            "[[connector]] {name}: base_url must be https:// (plain http only on loopback)"
        ));
    }
    Ok(())
}

impl AmapiConfig {
    fn validate(&self) -> Result<(), String> {
        check_name(&self.name)?;
        let ent = self.enterprise.strip_prefix("enterprises/").unwrap_or("");
        if ent.is_empty() || ent.contains('/') {
            return Err(format!(
                "[[connector]] {}: enterprise {:?} is not enterprises/{{enterpriseId}}",
                self.name, self.enterprise
            ));
        }
        if let Some(p) = &self.policy {
            let prefix = format!("{}/policies/", self.enterprise);
            let id = p.strip_prefix(&prefix).unwrap_or("");
            if id.is_empty() || id.contains('/') {
                return Err(format!(
                    "[[connector]] {}: policy {p:?} is not {prefix}{{policyId}}",
                    self.name
                ));
            }
        }
        if !(1..=100).contains(&self.page_size) {
            return Err(format!(
                "[[connector]] {}: page_size {} is not 1 to 100",
                self.name, self.page_size
            ));
        }
        if !(self.base_url.starts_with("https://")
            || self.base_url.starts_with("http://127.")
            || self.base_url.starts_with("http://localhost")
            || self.base_url.starts_with("http://[::1]"))
        {
            return Err(format!(
                "[[connector]] {}: base_url must be https:// (plain http only on loopback)",
                self.name
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        connector: Vec<ConnectorConfig>,
    }

    #[test]
    fn parses_an_amapi_section_and_refuses_unknown_keys() {
        let ok = r#"
[[connector]]
name = "android"
kind = "amapi"
enterprise = "enterprises/LC01"
service_account_key_file = "/k.json"
policy = "enterprises/LC01/policies/default"
push = "apply"
[connector.policy_groups]
"enterprises/LC01/policies/exec" = ["exec"]
"#;
        let f: File = toml::from_str(ok).expect("parses");
        let ConnectorConfig::Amapi(c) = &f.connector[0] else {
            panic!("amapi")
        };
        assert_eq!(c.push, PushMode::Apply);
        assert_eq!(c.page_size, 100);
        assert!(f.connector[0].validate().is_ok());
        let bad = ok.replace("push = \"apply\"", "pushh = \"apply\"");
        assert!(toml::from_str::<File>(&bad).is_err());
        let bad = ok.replace("policies/default", "policies/a/b");
        let f: File = toml::from_str(&bad).expect("parses");
        assert!(f.connector[0].validate().is_err());
    }
}
