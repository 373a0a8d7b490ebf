//! Microsoft Intune through Microsoft Graph: OAuth2 client credentials (secret or certificate),
//! `managedDevices` and each device's `detectedApps` pulled page by page, the iOS
//! `restrictedApps` compliance policies (split by 100) and the Android Enterprise `uninstall`
//! assignments of managed Google Play apps pushed with a read-modify-write.
//!
//! Every call goes to Graph's `/beta` endpoint: the v1.0 schema (as Microsoft's `msgraph-sdk`
//! 1.65 models it) has no `iosCompliancePolicy.restrictedApps`, no per-device `detectedApps`,
//! no `androidManagedStoreApp` and no Android Enterprise `deviceEnrollmentType` values, which
//! this connector needs. The test emulator parses and writes every body with the model classes
//! of `msgraph-beta-sdk`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use app_policy::model::{Action, Ownership, Platform};
use app_policy::{App, Device, DeviceInventory};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::PushMode;
use crate::http::Counters;
use crate::http::{self, Class};
use crate::{ConnError, ItemError};

/// Most apps in one `iosCompliancePolicy.restrictedApps` (Graph's limit).
pub const MAX_RESTRICTED_APPS: usize = 100;
/// Most detected apps accepted for one device (beyond: the device is an item error).
pub const MAX_APPS_PER_DEVICE: usize = 5000;
/// Most pages of one listing (a loop of `@odata.nextLink` stops here at the latest).
pub const MAX_PAGES: u64 = 1_000_000;
/// The scope asked of the token endpoint.
pub const SCOPE: &str = "https://graph.microsoft.com/.default";
/// Graph API version used (see the module documentation).
pub const GRAPH_VERSION: &str = "beta";
/// Intune's refresh period of discovered apps (memdocs `app-discovered-apps.md`).
pub const DETECTED_APPS_REFRESH_DAYS: u32 = 7;

fn default_graph_url() -> String {
    "https://graph.microsoft.com".into()
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
fn default_ios_policy_name() -> String {
    "interdict restricted apps".into()
}

/// `kind = "intune"`.
///
/// ```toml
/// [[connector]]
/// name = "intune"
/// kind = "intune"
/// tenant_id = "contoso.onmicrosoft.com"
/// client_id = "6731de76-14a6-49ae-97bc-6eba6914391e"
/// client_secret_file = "/etc/interdict/intune.secret"   # or certificate_file + private_key_file
/// push = "dry_run"
/// ios_policy_name = "interdict restricted apps"          # parts "<name> (1/2)", "(2/2)"
/// android_uninstall = true
/// all_devices_group = "…"                                # AAD group for rules without groups
/// [connector.aad_groups]
/// "government-issued" = "0d6c0b7e-…"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntuneConfig {
    /// Connector name.
    pub name: String,
    /// The Azure AD (Entra ID) tenant: id or domain.
    pub tenant_id: String,
    /// The app registration's application (client) id.
    pub client_id: String,
    /// A file holding the client secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// PEM certificate of the app registration (its SHA-1 thumbprint is the assertion's `x5t`).
    #[serde(default)]
    pub certificate_file: Option<PathBuf>,
    /// PEM private key (PKCS #8 or PKCS #1) of that certificate; signs the client assertion.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// Token endpoint; default `https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Graph root (tests point it at the emulator).
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// Whether to write (`apply`), only record the diff (`dry_run`), or not push (`off`).
    #[serde(default)]
    pub push: PushMode,
    /// Base display name of the iOS compliance policies the connector owns; `""` pushes no iOS.
    #[serde(default = "default_ios_policy_name")]
    pub ios_policy_name: String,
    /// Whether banned Android apps that are managed apps get an `uninstall` assignment.
    #[serde(default = "default_true")]
    pub android_uninstall: bool,
    /// interdict group (a rule's `scope.groups`) → Azure AD group id the assignment targets.
    #[serde(default)]
    pub aad_groups: BTreeMap<String, String>,
    /// Azure AD group for rules that cover every device (no `scope.groups`); without it such
    /// rules are assigned to all devices (`allDevicesAssignmentTarget`).
    #[serde(default)]
    pub all_devices_group: Option<String>,
    /// Seconds between scheduled syncs.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Devices per page (`$top`, 1 to 1000); memory is bounded by it.
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
}

fn default_true() -> bool {
    true
}

fn loopback_or_https(url: &str) -> bool {
    url.starts_with("https://")
        || url.starts_with("http://127.")
        || url.starts_with("http://localhost")
        || url.starts_with("http://[::1]")
}

impl IntuneConfig {
    /// Checks what serde cannot: name, URLs, credentials, group ids.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 64
            || !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "connector name {n:?}: 1 to 64 letters, digits, '-' or '_'"
            ));
        }
        let plain = |s: &str| {
            !s.is_empty()
                && s.len() <= 256
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        };
        if !plain(&self.tenant_id) {
            return Err(format!(
                "[[connector]] {n}: tenant_id {:?} is not a tenant id or domain",
                self.tenant_id
            ));
        }
        if !plain(&self.client_id) {
            return Err(format!(
                "[[connector]] {n}: client_id {:?} is not an application id",
                self.client_id
            ));
        }
        match (
            &self.client_secret_file,
            &self.certificate_file,
            &self.private_key_file,
        ) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            _ => {
                return Err(format!(
                "[[connector]] {n}: give client_secret_file, or certificate_file and private_key_file"
            ))
            }
        }
        if !loopback_or_https(&self.graph_url) {
            return Err(format!(
                "[[connector]] {n}: graph_url must be https:// (plain http only on loopback)"
            ));
        }
        if let Some(t) = &self.token_url {
            if !loopback_or_https(t) {
                return Err(format!(
                    "[[connector]] {n}: token_url must be https:// (plain http only on loopback)"
                ));
            }
        }
        if !(1..=1000).contains(&self.page_size) {
            return Err(format!(
                "[[connector]] {n}: page_size {} is not 1 to 1000",
                self.page_size
            ));
        }
        if self.ios_policy_name.len() > 200 || self.ios_policy_name.contains(['(', ')']) {
            return Err(format!(
                "[[connector]] {n}: ios_policy_name: at most 200 bytes, no parentheses"
            ));
        }
        for (g, id) in self
            .aad_groups
            .iter()
            .map(|(g, id)| (g.as_str(), id))
            .chain(
                self.all_devices_group
                    .iter()
                    .map(|id| ("all_devices_group", id)),
            )
        {
            if !plain(id) {
                return Err(format!(
                    "[[connector]] {n}: Azure AD group id {id:?} for {g:?} is not a group id"
                ));
            }
        }
        Ok(())
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> String {
        self.token_url.clone().unwrap_or_else(|| {
            format!(
                "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                self.tenant_id
            )
        })
    }

    fn api(&self, path: &str) -> String {
        format!(
            "{}/{GRAPH_VERSION}/{path}",
            self.graph_url.trim_end_matches('/')
        )
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How the connector proves who it is to the token endpoint.
pub enum Credential {
    /// `client_secret`.
    Secret(String),
    /// A client assertion (RFC 7523) signed RS256 with the certificate's key, `x5t` = the
    /// certificate's SHA-1 thumbprint.
    Certificate {
        /// Signing key.
        key: Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>,
        /// base64url of SHA-1 of the certificate's DER.
        x5t: String,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Secret(..)"),
            Credential::Certificate { x5t, .. } => write!(f, "Certificate {{ x5t: {x5t} }}"),
        }
    }
}

impl Credential {
    /// Reads the configured secret or certificate and key.
    pub fn load(cfg: &IntuneConfig) -> Result<Credential, ConnError> {
        let read = |p: &PathBuf, what: &str| {
            std::fs::read_to_string(p)
                .map_err(|e| ConnError::Config(format!("{what} {}: {e}", p.display())))
        };
        if let Some(p) = &cfg.client_secret_file {
            let s = read(p, "client_secret_file")?.trim().to_string();
            if s.is_empty() {
                return Err(ConnError::Config(format!(
                    "client_secret_file {}: empty",
                    p.display()
                )));
            }
            return Ok(Credential::Secret(s));
        }
        let (Some(cert), Some(keyf)) = (&cfg.certificate_file, &cfg.private_key_file) else {
            return Err(ConnError::Config(
                "no client_secret_file, nor certificate_file and private_key_file".into(),
            ));
        };
        let pem = read(cert, "certificate_file")?;
        let der = pem_block(&pem, "CERTIFICATE").ok_or_else(|| {
            ConnError::Config(format!(
                "certificate_file {}: no PEM CERTIFICATE block",
                cert.display()
            ))
        })?;
        use sha1::Digest as _;
        let x5t = b64url(&sha1::Sha1::digest(&der));
        Ok(Credential::Certificate {
            key: Box::new(signing_key(&read(keyf, "private_key_file")?)?),
            x5t,
        })
    }

    /// The client assertion for `token_url`, valid ten minutes from `now_s`.
    pub fn assertion(&self, client_id: &str, token_url: &str, now_s: u64) -> Option<String> {
        use rsa::signature::{SignatureEncoding, Signer};
        let Credential::Certificate { key, x5t } = self else {
            return None;
        };
        let header = json!({"alg": "RS256", "typ": "JWT", "x5t": x5t});
        let claims = json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": jti(client_id, now_s),
            "nbf": now_s,
            "iat": now_s,
            "exp": now_s + 600,
        });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = key.sign(input.as_bytes()).to_bytes();
        Some(format!("{input}.{}", b64url(&sig)))
    }
}

/// A unique assertion id: SHA-256 of the time, a process counter and the client.
fn jti(client_id: &str, now_s: u64) -> String {
    use sha2::Digest as _;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = sha2::Sha256::digest(format!(
        "{client_id}.{now_s}.{nanos}.{n}.{}",
        std::process::id()
    ));
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn signing_key(pem: &str) -> Result<rsa::pkcs1v15::SigningKey<sha2::Sha256>, ConnError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let pem = pem.trim();
    let k = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|e| ConnError::Config(format!("private_key_file: {e}")))?;
    Ok(rsa::pkcs1v15::SigningKey::new(k))
}

/// The bytes of the first PEM block with this label.
fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text.get(start..)?.find(&end)?;
    let b64: String = text
        .get(start..stop)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A Graph client of one tenant.
pub struct IntuneClient {
    cfg: IntuneConfig,
    cred: Credential,
    token_url: String,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<String>>,
    pacing: http::Pacing,
    /// First backoff step (tests shorten it).
    pub backoff_base: Duration,
}

impl IntuneClient {
    /// Reads the credentials and builds the client.
    pub fn new(cfg: &IntuneConfig) -> Result<Self, ConnError> {
        cfg.validate().map_err(ConnError::Config)?;
        Ok(IntuneClient {
            cred: Credential::load(cfg)?,
            token_url: cfg.token_endpoint(),
            cfg: cfg.clone(),
            http: http::client(Duration::from_secs(cfg.timeout_secs.max(1)))?,
            token: tokio::sync::Mutex::new(None),
            pacing: http::Pacing::default(),
            backoff_base: Duration::from_millis(500),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &IntuneConfig {
        &self.cfg
    }

    /// Request counters so far.
    pub fn counters(&self) -> Counters {
        self.pacing.counters()
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        self.pacing.count(f);
    }

    async fn wait(&self, attempt: u32, headers: Option<&reqwest::header::HeaderMap>) {
        self.pacing.wait(self.backoff_base, attempt, headers).await;
    }

    fn token_form(&self) -> String {
        let mut form = format!(
            "grant_type=client_credentials&client_id={}&scope={}",
            http::encode(&self.cfg.client_id),
            http::encode(SCOPE)
        );
        match &self.cred {
            Credential::Secret(s) => {
                form.push_str("&client_secret=");
                form.push_str(&http::encode(s));
            }
            Credential::Certificate { .. } => {
                let a = self
                    .cred
                    .assertion(&self.cfg.client_id, &self.token_url, now_s())
                    .unwrap_or_default();
                form.push_str("&client_assertion_type=");
                form.push_str(&http::encode(
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
                form.push_str("&client_assertion=");
                form.push_str(&a);
            }
        }
        form
    }

    /// An access token, fetched when there is none or `refresh`.
    async fn token(&self, refresh: bool) -> Result<String, ConnError> {
        let mut guard = self.token.lock().await;
        if let (Some(t), false) = (guard.as_ref(), refresh) {
            return Ok(t.clone());
        }
        let url = self.token_url.clone();
        let attempts = self.cfg.max_attempts.max(1);
        let t = http::fetch_token(
            &self.http,
            &url,
            || self.token_form(),
            attempts,
            &self.pacing,
            self.backoff_base,
        )
        .await?;
        *guard = Some(t.clone());
        Ok(t)
    }

    /// One Graph call with retries; `url` is absolute (a `@odata.nextLink` is followed as
    /// given, but only under `graph_url`, so the token never leaves for another host).
    /// A 204 answers `Value::Null`.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, ConnError> {
        let root = format!("{}/", self.cfg.graph_url.trim_end_matches('/'));
        let shown = url.split('?').next().unwrap_or(url).to_string();
        if !url.starts_with(&root) {
            return Err(ConnError::Malformed {
                url: shown,
                message: format!("link outside {root}: refused"),
            });
        }
        let attempts = self.cfg.max_attempts.max(1);
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let token = self.token(false).await?;
            let mut req = self
                .http
                .request(method.clone(), url)
                .bearer_auth(&token)
                .header("accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            self.count(|c| c.requests += 1);
            let last = attempt + 1 >= attempts;
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if !last => {
                    tracing::warn!(error = %e, url = %shown, "request failed; retrying");
                    self.wait(attempt, None).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => {
                    return Err(ConnError::Transport {
                        method: method.to_string(),
                        url: shown,
                        message: e.to_string(),
                    })
                }
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let bytes = match http::read_body(resp, &shown).await {
                Ok(b) => b,
                Err(e) if !last => {
                    tracing::warn!(error = %e, url = %shown, "reading the answer failed; retrying");
                    self.wait(attempt, None).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match http::classify(status) {
                Class::Ok if bytes.is_empty() => return Ok(Value::Null),
                Class::Ok => {
                    return serde_json::from_slice(&bytes).map_err(|e| ConnError::Malformed {
                        url: shown,
                        message: e.to_string(),
                    })
                }
                Class::Reauth if !refreshed => {
                    refreshed = true;
                    self.token(true).await?;
                    continue;
                }
                Class::Retry if !last => {
                    tracing::info!(status, url = %shown, "retrying after Graph's answer");
                    self.wait(attempt, Some(&headers)).await;
                    attempt += 1;
                    continue;
                }
                _ => {
                    return Err(ConnError::Status {
                        method: method.to_string(),
                        url: shown,
                        status,
                        body: http::snippet(&bytes),
                    })
                }
            }
        }
    }

    /// Reads a whole collection (for the small ones: our policies, assignments); `keep` picks
    /// the entries held, so memory holds only those.
    async fn collect(
        &self,
        first: String,
        mut keep: impl FnMut(&Value) -> bool,
    ) -> Result<Vec<Value>, ConnError> {
        let mut out = Vec::new();
        let mut links = Links::default();
        let mut url = Some(first);
        while let Some(u) = url.take() {
            let v = self.call(reqwest::Method::GET, &u, None).await?;
            let (items, next) = collection(v, &u)?;
            out.extend(items.into_iter().filter(|x| keep(x)));
            url = links.next(next, &u)?;
        }
        Ok(out)
    }

    /// A pager over `deviceManagement/managedDevices`, each device with its detected apps.
    pub fn devices(&self) -> DevicePager<'_> {
        DevicePager {
            client: self,
            next: Some(self.cfg.api(&format!(
                "deviceManagement/managedDevices?$top={}&$select={}",
                self.cfg.page_size,
                DEVICE_FIELDS.join(",")
            ))),
            links: Links::default(),
            pages: 0,
        }
    }

    /// The detected apps of one device, all pages (`managedDevices/{id}/detectedApps`);
    /// `Ok(None)` when the device is gone (404).
    pub async fn detected_apps(&self, id: &str) -> Result<Option<Vec<Value>>, ConnError> {
        let first = self.cfg.api(&format!(
            "deviceManagement/managedDevices/{}/detectedApps",
            http::encode(id)
        ));
        let mut out = Vec::new();
        let mut links = Links::default();
        let mut url = Some(first);
        while let Some(u) = url.take() {
            let v = match self.call(reqwest::Method::GET, &u, None).await {
                Ok(v) => v,
                Err(ConnError::Status { status: 404, .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let (items, next) = collection(v, &u)?;
            if out.len() + items.len() > MAX_APPS_PER_DEVICE {
                return Err(ConnError::Malformed {
                    url: u.split('?').next().unwrap_or("").to_string(),
                    message: format!("more than {MAX_APPS_PER_DEVICE} detected apps"),
                });
            }
            out.extend(items);
            url = links.next(next, &u)?;
        }
        Ok(Some(out))
    }
}

/// Follows `@odata.nextLink`s; a link seen twice is a loop.
#[derive(Default)]
struct Links {
    seen: HashSet<String>,
    pages: u64,
}

impl Links {
    fn next(&mut self, next: Option<String>, at: &str) -> Result<Option<String>, ConnError> {
        self.pages += 1;
        let Some(n) = next else { return Ok(None) };
        if !self.seen.insert(n.clone()) || self.pages >= MAX_PAGES {
            return Err(ConnError::Malformed {
                url: at.split('?').next().unwrap_or("").to_string(),
                message: format!("@odata.nextLink {n:?} repeats: the listing loops"),
            });
        }
        Ok(Some(n))
    }
}

/// Splits a collection answer into its `value` and `@odata.nextLink`.
fn collection(v: Value, url: &str) -> Result<(Vec<Value>, Option<String>), ConnError> {
    let bad = |m: String| ConnError::Malformed {
        url: url.split('?').next().unwrap_or("").to_string(),
        message: m,
    };
    let Value::Object(mut o) = v else {
        return Err(bad("the answer is not an object".into()));
    };
    let next = match o.remove("@odata.nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => return Err(bad(format!("@odata.nextLink is not a string: {other}"))),
    };
    let items = match o.remove("value") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(bad(format!("value is {}, not an array", kind_of(&other)))),
    };
    Ok((items, next))
}

/// The `managedDevice` properties read (`$select`).
pub const DEVICE_FIELDS: [&str; 13] = [
    "id",
    "deviceName",
    "managedDeviceOwnerType",
    "operatingSystem",
    "osVersion",
    "complianceState",
    "managementAgent",
    "deviceEnrollmentType",
    "serialNumber",
    "model",
    "emailAddress",
    "userPrincipalName",
    "lastSyncDateTime",
];

const OWNER_TYPE: [&str; 3] = ["unknown", "company", "personal"];
const COMPLIANCE_STATE: [&str; 7] = [
    "unknown",
    "compliant",
    "noncompliant",
    "conflict",
    "error",
    "inGracePeriod",
    "configManager",
];
const MANAGEMENT_AGENT: [&str; 16] = [
    "eas",
    "mdm",
    "easMdm",
    "intuneClient",
    "easIntuneClient",
    "configurationManagerClient",
    "configurationManagerClientMdm",
    "configurationManagerClientMdmEas",
    "unknown",
    "jamf",
    "googleCloudDevicePolicyController",
    "microsoft365ManagedMdm",
    "msSense",
    "intuneAosp",
    "google",
    "unknownFutureValue",
];
const ENROLLMENT_TYPE: [&str; 21] = [
    "unknown",
    "userEnrollment",
    "deviceEnrollmentManager",
    "appleBulkWithUser",
    "appleBulkWithoutUser",
    "windowsAzureADJoin",
    "windowsBulkUserless",
    "windowsAutoEnrollment",
    "windowsBulkAzureDomainJoin",
    "windowsCoManagement",
    "windowsAzureADJoinUsingDeviceAuth",
    "appleUserEnrollment",
    "appleUserEnrollmentWithServiceAccount",
    "azureAdJoinUsingAzureVmExtension",
    "androidEnterpriseDedicatedDevice",
    "androidEnterpriseFullyManaged",
    "androidEnterpriseCorporateWorkProfile",
    "androidAOSPUserOwnedDeviceEnrollment",
    "androidAOSPUserlessDeviceEnrollment",
    "appleAccountDrivenUserEnrollment",
    "unknownFutureValue",
];
const APP_PLATFORM: [&str; 12] = [
    "unknown",
    "windows",
    "windowsMobile",
    "windowsHolographic",
    "ios",
    "macOS",
    "chromeOS",
    "androidOSP",
    "androidDeviceAdministrator",
    "androidWorkProfile",
    "androidDedicatedAndFullyManaged",
    "unknownFutureValue",
];

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn opt_str<'a>(v: &'a Value, field: &str, item: &str) -> Result<Option<&'a str>, ItemError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ItemError {
            item: item.to_string(),
            message: format!("{field} is {}, not a string", kind_of(other)),
        }),
    }
}

fn opt_enum<'a>(
    v: &'a Value,
    field: &str,
    allowed: &[&str],
    item: &str,
) -> Result<Option<&'a str>, ItemError> {
    let s = opt_str(v, field, item)?;
    if let Some(s) = s {
        if !allowed.contains(&s) {
            return Err(ItemError {
                item: item.to_string(),
                message: format!(
                    "{field} {s:?} is not a known value ({})",
                    allowed.join(", ")
                ),
            });
        }
    }
    Ok(s)
}

/// One Intune device mapped to interdict's inventory.
#[derive(Debug, Clone)]
pub struct IntuneDevice {
    /// Graph `managedDevice.id`: the connector's key.
    pub id: String,
    /// Inventory (device id = `id` until the server maps it; apps empty when
    /// `apps_unavailable`).
    pub inventory: DeviceInventory,
    /// Display name (`deviceName`, model).
    pub display_name: String,
    /// `serialNumber`.
    pub serial: String,
    /// `operatingSystem` as Intune reports it.
    pub operating_system: String,
    /// `complianceState`.
    pub compliance_state: Option<String>,
    /// `managementAgent`.
    pub management_agent: Option<String>,
    /// `deviceEnrollmentType`.
    pub enrollment_type: Option<String>,
    /// `emailAddress` (or the UPN): whom notifications about the device go to.
    pub owner_email: Option<String>,
    /// `lastSyncDateTime`.
    pub last_sync: Option<String>,
    /// Why Intune gives no app inventory for this device (fully managed or dedicated Android):
    /// its stored inventory must be kept, not replaced by an empty list.
    pub apps_unavailable: Option<String>,
}

/// Maps one `managedDevice` (without its apps). `Ok(None)`: a platform interdict does not
/// pull from Intune (Windows, macOS, ...).
pub fn map_device(d: &Value, cfg: &IntuneConfig) -> Result<Option<IntuneDevice>, ItemError> {
    let id = match d.get("id") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => s.clone(),
        _ => {
            return Err(ItemError {
                item: String::new(),
                message: "managedDevice without an id".into(),
            })
        }
    };
    let item = format!("managedDevices/{id}");
    let os = opt_str(d, "operatingSystem", &item)?.ok_or_else(|| ItemError {
        item: item.clone(),
        message: "operatingSystem is missing: the device's platform cannot be decided".into(),
    })?;
    let lower = os.to_ascii_lowercase();
    let platform = if lower == "ios" || lower == "ipados" {
        Platform::Ios
    } else if lower.starts_with("android") {
        Platform::Android
    } else {
        return Ok(None);
    };
    let ownership = match opt_enum(d, "managedDeviceOwnerType", &OWNER_TYPE, &item)? {
        None => {
            return Err(ItemError {
                item,
                message: "managedDeviceOwnerType is missing: the device's scope cannot be decided"
                    .into(),
            })
        }
        Some("company") => Ownership::Corporate,
        Some("personal") => Ownership::Personal,
        Some(_) => Ownership::Unknown,
    };
    let compliance_state = opt_enum(d, "complianceState", &COMPLIANCE_STATE, &item)?;
    let management_agent = opt_enum(d, "managementAgent", &MANAGEMENT_AGENT, &item)?;
    let enrollment_type = opt_enum(d, "deviceEnrollmentType", &ENROLLMENT_TYPE, &item)?;
    let serial = opt_str(d, "serialNumber", &item)?.unwrap_or("").to_string();
    let model = opt_str(d, "model", &item)?.filter(|s| !s.is_empty());
    let name = opt_str(d, "deviceName", &item)?.filter(|s| !s.is_empty());
    let display_name = match (name, model) {
        (Some(n), Some(m)) => format!("{n} ({m})"),
        (Some(n), None) => n.to_string(),
        (None, Some(m)) => format!("{m} ({id})"),
        (None, None) => format!("{os} ({id})"),
    };
    let owner_email = opt_str(d, "emailAddress", &item)?
        .filter(|e| !e.is_empty())
        .or(opt_str(d, "userPrincipalName", &item)?)
        .filter(|e| e.contains('@') && e.len() <= 320)
        .map(String::from);
    let apps_unavailable = if platform == Platform::Android {
        match enrollment_type {
            Some("androidEnterpriseFullyManaged") => Some("Android Enterprise fully managed"),
            Some("androidEnterpriseDedicatedDevice") => Some("Android Enterprise dedicated"),
            _ => None,
        }
        .map(|m| format!("{m}: Intune reports no discovered apps for this mode; the stored inventory is kept"))
    } else {
        None
    };
    Ok(Some(IntuneDevice {
        inventory: DeviceInventory {
            device: Device {
                id: id.clone(),
                platform,
                groups: {
                    let g: BTreeSet<String> = cfg.groups.iter().cloned().collect();
                    g.into_iter().collect()
                },
                ownership,
            },
            apps: Vec::new(),
        },
        display_name,
        serial,
        operating_system: os.to_string(),
        compliance_state: compliance_state.map(String::from),
        management_agent: management_agent.map(String::from),
        enrollment_type: enrollment_type.map(String::from),
        owner_email,
        last_sync: opt_str(d, "lastSyncDateTime", &item)?.map(String::from),
        apps_unavailable,
        id,
    }))
}

/// Maps a device's `detectedApp` list. A malformed entry (no `displayName`, a `sizeInByte`
/// that is not an integer, an unknown `platform`) refuses the whole device, named as
/// `managedDevices/{id}/detectedApps[i] (name)`: an inventory with a hole could hide a
/// banned app.
///
/// `detectedApp` has no bundle id or package field: Intune reports the app under
/// `displayName`, which becomes the app id; `publisher` is kept.
pub fn map_apps(device_id: &str, apps: &[Value]) -> Result<Vec<App>, ItemError> {
    let mut out: Vec<App> = Vec::with_capacity(apps.len());
    for (i, a) in apps.iter().enumerate() {
        let at = format!("managedDevices/{device_id}/detectedApps[{i}]");
        if !a.is_object() {
            return Err(ItemError {
                item: at,
                message: format!("is {}, not an object", kind_of(a)),
            });
        }
        let Some(name) = opt_str(a, "displayName", &at)?
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            return Err(ItemError {
                item: at,
                message: "displayName is missing".into(),
            });
        };
        let at = format!("{at} ({name})");
        if name.len() > 255 {
            return Err(ItemError {
                item: at,
                message: "displayName longer than 255 bytes".into(),
            });
        }
        opt_enum(a, "platform", &APP_PLATFORM, &at)?;
        match a.get("sizeInByte") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
            Some(other) => {
                return Err(ItemError {
                    item: at,
                    message: format!("sizeInByte is {}, not an integer", kind_of(other)),
                })
            }
        }
        let version = opt_str(a, "version", &at)?
            .filter(|s| !s.is_empty())
            .map(String::from);
        let publisher = opt_str(a, "publisher", &at)?
            .filter(|s| !s.is_empty())
            .map(String::from);
        out.push(App {
            id: name.to_string(),
            version,
            version_code: None,
            signers: Vec::new(),
            installer: None,
            publisher,
        });
    }
    Ok(out)
}

/// One page of devices.
#[derive(Debug, Default)]
pub struct Page {
    /// Devices read whole (with their apps, unless `apps_unavailable`).
    pub devices: Vec<IntuneDevice>,
    /// Devices refused, named.
    pub errors: Vec<ItemError>,
    /// Devices of platforms not pulled (Windows, macOS, ...).
    pub other_platforms: u64,
}

/// Pages through `managedDevices`; one page of devices (and one device's apps) at a time.
pub struct DevicePager<'a> {
    client: &'a IntuneClient,
    next: Option<String>,
    links: Links,
    pages: u64,
}

impl DevicePager<'_> {
    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Page>, ConnError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let v = self.client.call(reqwest::Method::GET, &url, None).await?;
        let (items, next) = collection(v, &url)?;
        self.pages += 1;
        self.next = self.links.next(next, &url)?;
        let mut page = Page::default();
        for (i, d) in items.iter().enumerate() {
            let mut dev = match map_device(d, &self.client.cfg) {
                Ok(Some(dev)) => dev,
                Ok(None) => {
                    page.other_platforms += 1;
                    continue;
                }
                Err(mut e) => {
                    if e.item.is_empty() {
                        e.item = format!("managedDevices[{i}] of page {}", self.pages);
                    }
                    page.errors.push(e);
                    continue;
                }
            };
            if dev.apps_unavailable.is_none() {
                match self.client.detected_apps(&dev.id).await? {
                    None => {
                        page.errors.push(ItemError {
                            item: format!("managedDevices/{}", dev.id),
                            message: "the device was removed from Intune during the pull".into(),
                        });
                        continue;
                    }
                    Some(apps) => match map_apps(&dev.id, &apps) {
                        Ok(a) => dev.inventory.apps = a,
                        Err(e) => {
                            page.errors.push(e);
                            continue;
                        }
                    },
                }
            }
            page.devices.push(dev);
        }
        Ok(Some(page))
    }

    /// Whether the last page was read.
    pub fn complete(&self) -> bool {
        self.next.is_none() && self.pages > 0
    }

    /// Pages read so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }
}

// ---------------------------------------------------------------------------------------
// Push

/// Where assignments go: Azure AD groups, or all devices.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Target {
    /// `groupAssignmentTarget`.
    Group(String),
    /// `allDevicesAssignmentTarget`.
    AllDevices,
}

impl Target {
    fn to_json(&self) -> Value {
        match self {
            Target::Group(g) => {
                json!({"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": g})
            }
            Target::AllDevices => {
                json!({"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"})
            }
        }
    }

    fn from_json(v: &Value) -> Option<Target> {
        match v.get("@odata.type").and_then(Value::as_str)? {
            "#microsoft.graph.groupAssignmentTarget" => Some(Target::Group(
                v.get("groupId").and_then(Value::as_str)?.to_string(),
            )),
            "#microsoft.graph.allDevicesAssignmentTarget" => Some(Target::AllDevices),
            _ => None,
        }
    }

    fn label(&self) -> String {
        match self {
            Target::Group(g) => format!("group {g}"),
            Target::AllDevices => "all devices".into(),
        }
    }
}

/// The assignment targets of the prohibit rules in force on `today` for `platform`:
/// each rule's `scope.groups` through `aad_groups`, `all_devices_group` (or all devices) for a
/// rule without groups. Returns the targets and what could not be mapped.
pub fn targets(
    policy: &app_policy::Policy,
    platform: Platform,
    today: app_policy::Date,
    cfg: &IntuneConfig,
) -> (BTreeSet<Target>, Vec<String>) {
    let mut out = BTreeSet::new();
    let mut warnings = Vec::new();
    for r in &policy.rules {
        if r.action != Action::Prohibit
            || !r.applies_to(platform)
            || r.effective.is_some_and(|e| e > today)
        {
            continue;
        }
        if r.scope.groups.is_empty() {
            out.insert(match &cfg.all_devices_group {
                Some(g) => Target::Group(g.clone()),
                None => Target::AllDevices,
            });
        } else {
            for g in &r.scope.groups {
                match cfg.aad_groups.get(g) {
                    Some(id) => {
                        out.insert(Target::Group(id.clone()));
                    }
                    None => warnings.push(format!(
                        "rule {}: group {g:?} has no Azure AD group in [connector.aad_groups]; not assigned",
                        r.id
                    )),
                }
            }
        }
        if !r.scope.exclude_groups.is_empty() || !r.scope.ownership.is_empty() {
            warnings.push(format!("rule {}: exclude_groups and ownership are not expressed in Intune assignments (Intune marks every assigned device)", r.id));
        }
    }
    (out, warnings)
}

/// The display names of the parts of `base`: `"<base> (1/2)"`, `"<base> (2/2)"`.
pub fn part_names(base: &str, parts: usize) -> Vec<String> {
    (1..=parts)
        .map(|k| format!("{base} ({k}/{parts})"))
        .collect()
}

/// Whether `name` is one of ours: `"<base> (k/n)"`.
pub fn is_ours(base: &str, name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix(" ("))
        .and_then(|r| r.strip_suffix(')'))
    else {
        return false;
    };
    let mut it = rest.split('/');
    matches!((it.next(), it.next(), it.next()), (Some(k), Some(n), None)
        if !k.is_empty() && !n.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) && n.bytes().all(|b| b.is_ascii_digit()))
}

/// One change of the push.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Change {
    /// `create`, `update`, `assign`, `delete`, `uninstall`, `unchanged`.
    pub op: &'static str,
    /// Policy display name or package.
    pub what: String,
    /// Details (apps added and removed, targets).
    pub detail: String,
}

/// The plan and result of a push.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PushOutcome {
    /// `dry_run` or `apply`.
    pub applied: bool,
    /// iOS: apps in the restricted list.
    pub ios_apps: usize,
    /// iOS: policies (parts) the list needs.
    pub ios_parts: usize,
    /// Android: banned packages that are managed apps in Intune (uninstall assignments).
    pub android_managed: usize,
    /// Android: banned packages that are not managed apps: Intune cannot uninstall them.
    pub android_not_managed: Vec<String>,
    /// Every change, in order.
    pub changes: Vec<Change>,
    /// What the administrator should know.
    pub warnings: Vec<String>,
    /// Conflicts met (each followed by a new read).
    pub conflicts: u32,
}

impl PushOutcome {
    /// The diff as text, one line per change.
    pub fn diff_text(&self) -> String {
        let mut out = String::new();
        for c in &self.changes {
            let sign = match c.op {
                "create" => '+',
                "delete" => '-',
                "unchanged" => '=',
                _ => '~',
            };
            out.push_str(&format!("{sign} {} {}: {}\n", c.op, c.what, c.detail));
        }
        out
    }

    /// Nothing to write.
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(|c| c.op == "unchanged")
    }
}

fn app_ids(list: &[Value]) -> Vec<String> {
    list.iter()
        .filter_map(|a| a.get("appId").and_then(Value::as_str).map(String::from))
        .collect()
}

impl IntuneClient {
    /// Pushes the iOS restricted list (`appListItem`s, as `policy export --to intune` writes
    /// them) into the connector's compliance policies, split by [`MAX_RESTRICTED_APPS`], and
    /// assigns each to `targets`. Only policies named `"<ios_policy_name> (k/n)"` are read and
    /// written; parts no longer needed are deleted. With [`PushMode::DryRun`] nothing is written.
    pub async fn push_ios(
        &self,
        items: &[Value],
        targets: &BTreeSet<Target>,
        mode: PushMode,
        out: &mut PushOutcome,
    ) -> Result<(), ConnError> {
        let base = self.cfg.ios_policy_name.clone();
        if base.is_empty() {
            return Ok(());
        }
        let chunks: Vec<&[Value]> = items.chunks(MAX_RESTRICTED_APPS).collect();
        let names = part_names(&base, chunks.len());
        out.ios_apps = items.len();
        out.ios_parts = chunks.len();
        if chunks.len() > 1 {
            out.warnings.push(format!("iOS: {} restricted apps exceed Intune's limit of {MAX_RESTRICTED_APPS} per compliance policy: split into {} policies, each assigned to the same groups", items.len(), chunks.len()));
        }
        if targets.is_empty() && !items.is_empty() {
            out.warnings
                .push("iOS: no assignment target (map the rules' groups in [connector.aad_groups]); the policies are not assigned".into());
        }
        let list_url = self.cfg.api("deviceManagement/deviceCompliancePolicies");
        let want_targets: Vec<Value> = targets
            .iter()
            .map(|t| json!({"@odata.type": "#microsoft.graph.deviceCompliancePolicyAssignment", "target": t.to_json()}))
            .collect();
        for round in 0..5u32 {
            let ours = self
                .collect(list_url.clone(), |p| {
                    p.get("@odata.type").and_then(Value::as_str)
                        == Some("#microsoft.graph.iosCompliancePolicy")
                        && p.get("displayName")
                            .and_then(Value::as_str)
                            .is_some_and(|n| is_ours(&base, n))
                })
                .await?;
            let by_name: BTreeMap<String, &Value> = ours
                .iter()
                .filter_map(|p| Some((p.get("displayName")?.as_str()?.to_string(), p)))
                .collect();
            let mut changes = Vec::new();
            let result: Result<(), ConnError> = async {
                for (name, chunk) in names.iter().zip(&chunks) {
                    let want = app_ids(chunk);
                    let id = match by_name.get(name) {
                        None => {
                            changes.push(Change {
                                op: "create",
                                what: name.clone(),
                                detail: format!("iosCompliancePolicy, {} restricted apps", chunk.len()),
                            });
                            if mode != PushMode::Apply {
                                continue;
                            }
                            let body = json!({
                                "@odata.type": "#microsoft.graph.iosCompliancePolicy",
                                "displayName": name,
                                "description": "Written by interdict: apps prohibited by the organization's directive. Edit the interdict policy, not this list.",
                                "restrictedApps": chunk,
                                "scheduledActionsForRule": [{
                                    "ruleName": "PasswordRequired",
                                    "scheduledActionConfigurations": [{
                                        "actionType": "block",
                                        "gracePeriodHours": 0,
                                        "notificationTemplateId": "",
                                        "notificationMessageCCList": []
                                    }]
                                }]
                            });
                            let created = self.call(reqwest::Method::POST, &list_url, Some(&body)).await?;
                            let id = created.get("id").and_then(Value::as_str).ok_or_else(|| ConnError::Malformed {
                                url: list_url.clone(),
                                message: "created policy without an id".into(),
                            })?.to_string();
                            self.assign_policy(&id, &want_targets).await?;
                            changes.push(Change { op: "assign", what: name.clone(), detail: labels(targets) });
                            continue;
                        }
                        Some(p) => p.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
                    };
                    let have = p_apps(by_name.get(name).copied());
                    if have != want {
                        let hs: BTreeSet<&String> = have.iter().collect();
                        let ws: BTreeSet<&String> = want.iter().collect();
                        let added: Vec<&str> = ws.difference(&hs).map(|s| s.as_str()).collect();
                        let removed: Vec<&str> = hs.difference(&ws).map(|s| s.as_str()).collect();
                        changes.push(Change {
                            op: "update",
                            what: name.clone(),
                            detail: format!("restrictedApps +[{}] -[{}]", added.join(", "), removed.join(", ")),
                        });
                        if mode == PushMode::Apply {
                            let body = json!({"@odata.type": "#microsoft.graph.iosCompliancePolicy", "restrictedApps": chunk});
                            let url = self.cfg.api(&format!("deviceManagement/deviceCompliancePolicies/{}", http::encode(&id)));
                            self.call(reqwest::Method::PATCH, &url, Some(&body)).await?;
                        }
                    } else {
                        changes.push(Change { op: "unchanged", what: name.clone(), detail: format!("{} restricted apps", want.len()) });
                    }
                    let url = self.cfg.api(&format!("deviceManagement/deviceCompliancePolicies/{}/assignments", http::encode(&id)));
                    let current: BTreeSet<Target> = self
                        .collect(url, |_| true)
                        .await?
                        .iter()
                        .filter_map(|a| a.get("target").and_then(Target::from_json))
                        .collect();
                    if &current != targets {
                        changes.push(Change { op: "assign", what: name.clone(), detail: format!("{} (was {})", labels(targets), labels(&current)) });
                        if mode == PushMode::Apply {
                            self.assign_policy(&id, &want_targets).await?;
                        }
                    }
                }
                for (name, p) in &by_name {
                    if names.contains(name) {
                        continue;
                    }
                    changes.push(Change { op: "delete", what: name.clone(), detail: "part no longer needed".into() });
                    if mode == PushMode::Apply {
                        let id = p.get("id").and_then(Value::as_str).unwrap_or("");
                        let url = self.cfg.api(&format!("deviceManagement/deviceCompliancePolicies/{}", http::encode(id)));
                        match self.call(reqwest::Method::DELETE, &url, None).await {
                            Ok(_) | Err(ConnError::Status { status: 404, .. }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => {
                    out.changes.extend(changes);
                    return Ok(());
                }
                Err(e) if e.is_conflict() && round < 4 => {
                    out.conflicts += 1;
                    tracing::warn!(error = %e, "conflict writing an iOS compliance policy; reading again");
                    tokio::time::sleep(http::backoff(self.backoff_base, round)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(ConnError::Conflict(
            "iOS compliance policies still changing".into(),
        ))
    }

    async fn assign_policy(&self, id: &str, assignments: &[Value]) -> Result<(), ConnError> {
        let url = self.cfg.api(&format!(
            "deviceManagement/deviceCompliancePolicies/{}/assign",
            http::encode(id)
        ));
        self.call(
            reqwest::Method::POST,
            &url,
            Some(&json!({ "assignments": assignments })),
        )
        .await
        .map(|_| ())
    }

    /// Gives each banned package that is a managed Google Play app in Intune
    /// (`androidManagedStoreApp`) an `uninstall` assignment to each target: read its
    /// assignments, replace those to our targets, keep every other one, write them with
    /// `mobileApps/{id}/assign`. Packages that are not managed apps are listed: Intune cannot
    /// uninstall them (they are detected only, on the devices that report them).
    pub async fn push_android(
        &self,
        packages: &BTreeSet<String>,
        targets: &BTreeSet<Target>,
        mode: PushMode,
        out: &mut PushOutcome,
    ) -> Result<(), ConnError> {
        if !self.cfg.android_uninstall || packages.is_empty() {
            return Ok(());
        }
        if targets.is_empty() {
            out.warnings.push("Android: no assignment target (map the rules' groups in [connector.aad_groups]); nothing assigned".into());
            return Ok(());
        }
        let apps = self
            .collect(self.cfg.api("deviceAppManagement/mobileApps"), |a| {
                a.get("@odata.type").and_then(Value::as_str)
                    == Some("#microsoft.graph.androidManagedStoreApp")
                    && a.get("packageId")
                        .and_then(Value::as_str)
                        .is_some_and(|p| packages.contains(p))
            })
            .await?;
        let mut found = BTreeSet::new();
        for app in &apps {
            let (Some(id), Some(pkg)) = (
                app.get("id").and_then(Value::as_str),
                app.get("packageId").and_then(Value::as_str),
            ) else {
                continue;
            };
            found.insert(pkg.to_string());
            let url = self.cfg.api(&format!(
                "deviceAppManagement/mobileApps/{}/assignments",
                http::encode(id)
            ));
            let current = self.collect(url, |_| true).await?;
            let mut kept = Vec::new();
            let mut ours_now: BTreeMap<Target, String> = BTreeMap::new();
            for a in &current {
                match a.get("target").and_then(Target::from_json) {
                    Some(t) if targets.contains(&t) => {
                        let intent = a
                            .get("intent")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        ours_now.insert(t, intent);
                    }
                    _ => {
                        let mut k = a.clone();
                        if let Some(o) = k.as_object_mut() {
                            o.remove("id");
                        }
                        kept.push(k);
                    }
                }
            }
            let todo: Vec<String> = targets
                .iter()
                .filter(|t| ours_now.get(t).map(String::as_str) != Some("uninstall"))
                .map(|t| match ours_now.get(t) {
                    Some(was) => format!("{} {was} -> uninstall", t.label()),
                    None => format!("{} + uninstall", t.label()),
                })
                .collect();
            if todo.is_empty() {
                out.changes.push(Change {
                    op: "unchanged",
                    what: pkg.to_string(),
                    detail: "uninstall already assigned".into(),
                });
                continue;
            }
            out.changes.push(Change {
                op: "uninstall",
                what: pkg.to_string(),
                detail: format!("{}; {} other assignments kept", todo.join(", "), kept.len()),
            });
            if mode == PushMode::Apply {
                let mut all = kept;
                for t in targets {
                    all.push(json!({
                        "@odata.type": "#microsoft.graph.mobileAppAssignment",
                        "intent": "uninstall",
                        "target": t.to_json(),
                    }));
                }
                let url = self.cfg.api(&format!(
                    "deviceAppManagement/mobileApps/{}/assign",
                    http::encode(id)
                ));
                self.call(
                    reqwest::Method::POST,
                    &url,
                    Some(&json!({ "mobileAppAssignments": all })),
                )
                .await?;
            }
        }
        out.android_managed = found.len();
        out.android_not_managed = packages.difference(&found).cloned().collect();
        if !out.android_not_managed.is_empty() {
            out.warnings.push(format!(
                "Android: {} banned packages are not managed apps in Intune (add them from managed Google Play to uninstall them); they are detected only: {}",
                out.android_not_managed.len(),
                out.android_not_managed.join(", ")
            ));
        }
        Ok(())
    }
}

fn p_apps(p: Option<&Value>) -> Vec<String> {
    p.and_then(|p| p.get("restrictedApps"))
        .and_then(Value::as_array)
        .map(|a| app_ids(a))
        .unwrap_or_default()
}

fn labels(t: &BTreeSet<Target>) -> String {
    if t.is_empty() {
        return "no target".into();
    }
    t.iter().map(Target::label).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> IntuneConfig {
        toml::from_str(
            r#"name = "intune"
tenant_id = "t1"
client_id = "c1"
client_secret_file = "/nonexistent"
groups = ["fleet"]
"#,
        )
        .expect("config")
    }

    #[test]
    fn names_parts_and_recognises_only_ours() {
        assert_eq!(part_names("ban", 2), vec!["ban (1/2)", "ban (2/2)"]);
        assert!(is_ours("ban", "ban (1/2)"));
        assert!(is_ours("ban", "ban (10/12)"));
        assert!(!is_ours("ban", "ban"));
        assert!(!is_ours("ban", "ban (x/2)"));
        assert!(!is_ours("ban", "banner (1/2)"));
        assert!(!is_ours("ban", "ban (1/2) copy"));
    }

    #[test]
    fn validates_credentials_and_urls() {
        let c = cfg();
        assert!(c.validate().is_ok());
        let mut bad = c.clone();
        bad.certificate_file = Some("/c.pem".into());
        assert!(bad.validate().is_err(), "secret and certificate");
        let mut bad = c.clone();
        bad.graph_url = "http://graph.example".into();
        assert!(bad.validate().is_err());
        let mut bad = c;
        bad.aad_groups.insert("g".into(), "a/b".into());
        assert!(bad.validate().is_err());
    }

    #[test]
    fn maps_a_device_and_names_bad_items() {
        let c = cfg();
        let d = json!({"id": "d1", "deviceName": "Ana's iPhone", "operatingSystem": "iOS",
            "managedDeviceOwnerType": "company", "complianceState": "compliant",
            "emailAddress": "ana@example.org"});
        let m = map_device(&d, &c).expect("maps").expect("ios");
        assert_eq!(m.inventory.device.platform, Platform::Ios);
        assert_eq!(m.inventory.device.ownership, Ownership::Corporate);
        assert_eq!(m.owner_email.as_deref(), Some("ana@example.org"));
        let mut w = d.clone();
        w["operatingSystem"] = json!("Windows");
        assert!(map_device(&w, &c).expect("ok").is_none());
        let mut no = d.clone();
        no.as_object_mut()
            .map(|o| o.remove("managedDeviceOwnerType"));
        let e = map_device(&no, &c).expect_err("ownership");
        assert_eq!(e.item, "managedDevices/d1");
        let mut bad = d.clone();
        bad["complianceState"] = json!("sortOf");
        assert!(map_device(&bad, &c)
            .expect_err("enum")
            .message
            .contains("sortOf"));
        let mut fm = d;
        fm["operatingSystem"] = json!("Android");
        fm["deviceEnrollmentType"] = json!("androidEnterpriseFullyManaged");
        assert!(map_device(&fm, &c)
            .expect("ok")
            .expect("android")
            .apps_unavailable
            .is_some());

        let apps = [
            json!({"id": "a", "displayName": "com.tencent.xin", "version": "8.0", "platform": "ios", "sizeInByte": 10}),
            json!({"id": "b", "displayName": "x", "sizeInByte": "big"}),
        ];
        let e = map_apps("d1", &apps).expect_err("size");
        assert_eq!(e.item, "managedDevices/d1/detectedApps[1] (x)");
        let ok = map_apps("d1", &apps[..1]).expect("ok");
        assert_eq!(ok[0].id, "com.tencent.xin");
        assert!(map_apps("d1", &[json!({"version": "1"})]).is_err());
    }
}
