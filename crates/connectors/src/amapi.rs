//! Google's Android Management API: service-account auth, devices pull, policy merge, reconcile.
//!
//! Field names and enums are those of the API's discovery document
//! (`androidmanagement.v1.json`); the test emulator checks every body against it.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use app_policy::model::{Ownership, Platform};
use app_policy::{App, Device, DeviceInventory};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{AmapiConfig, PushMode};
use crate::http::{self, Class};
use crate::{ConnError, ItemError};

/// OAuth scope of the API.
pub const SCOPE: &str = "https://www.googleapis.com/auth/androidmanagement";
/// Most `applications` in one policy (API limit).
pub const MAX_APPLICATIONS: usize = 3000;
/// Most apps accepted from one device's reports (beyond: the device is an item error).
pub const MAX_APPS_PER_DEVICE: usize = 5000;
/// Most pages in one pull (a loop of page tokens stops here at the latest).
pub const MAX_PAGES: u64 = 1_000_000;

/// The fields of a Google service-account key file that are used.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    /// `service_account`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The account (`iss` of the JWT).
    pub client_email: String,
    /// PKCS #8 PEM.
    pub private_key: String,
    /// Key id (`kid`).
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// Where the JWT is exchanged for an access token.
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signer of RS256 JWT assertions for a service account.
pub struct JwtSigner {
    key: ServiceAccountKey,
    rsa: rsa::pkcs1v15::SigningKey<sha2::Sha256>,
}

impl JwtSigner {
    /// Parses the key file's JSON.
    pub fn from_json(text: &str) -> Result<Self, ConnError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let key: ServiceAccountKey = serde_json::from_str(text)
            .map_err(|e| ConnError::Config(format!("service-account key: {e}")))?;
        if key.kind != "service_account" {
            return Err(ConnError::Config(format!(
                "service-account key: type {:?} is not \"service_account\"",
                key.kind
            )));
        }
        let pem = key.private_key.trim();
        let rsa = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| ConnError::Config(format!("service-account key: private_key: {e}")))?;
        Ok(JwtSigner {
            key,
            rsa: rsa::pkcs1v15::SigningKey::new(rsa),
        })
    }

    /// The key's fields.
    pub fn key(&self) -> &ServiceAccountKey {
        &self.key
    }

    /// A signed assertion (RFC 7523) valid for one hour from `now_s`.
    pub fn assertion(&self, now_s: u64) -> String {
        use rsa::signature::{SignatureEncoding, Signer};
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key.private_key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.key.client_email,
            "scope": SCOPE,
            "aud": self.key.token_uri,
            "iat": now_s,
            "exp": now_s + 3600,
        });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = self.rsa.sign(input.as_bytes()).to_bytes();
        format!("{input}.{}", b64url(&sig))
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub use crate::http::Counters;

/// A client of one enterprise.
pub struct AmapiClient {
    cfg: AmapiConfig,
    signer: JwtSigner,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<String>>,
    pacing: http::Pacing,
    /// First backoff step (tests shorten it).
    pub backoff_base: Duration,
}

impl AmapiClient {
    /// Reads the key file and builds the client.
    pub fn new(cfg: &AmapiConfig) -> Result<Self, ConnError> {
        let text = std::fs::read_to_string(&cfg.service_account_key_file).map_err(|e| {
            ConnError::Config(format!(
                "service_account_key_file {}: {e}",
                cfg.service_account_key_file.display()
            ))
        })?;
        let signer = JwtSigner::from_json(&text)?;
        Ok(AmapiClient {
            cfg: cfg.clone(),
            signer,
            http: http::client(Duration::from_secs(cfg.timeout_secs.max(1)))?,
            token: tokio::sync::Mutex::new(None),
            pacing: http::Pacing::default(),
            backoff_base: Duration::from_millis(500),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AmapiConfig {
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

    /// An access token, fetched when there is none or `refresh`.
    async fn token(&self, refresh: bool) -> Result<String, ConnError> {
        let mut guard = self.token.lock().await;
        if let (Some(t), false) = (guard.as_ref(), refresh) {
            return Ok(t.clone());
        }
        let url = self.signer.key().token_uri.clone();
        let attempts = self.cfg.max_attempts.max(1);
        let t = http::fetch_token(
            &self.http,
            &url,
            || {
                format!(
                    "grant_type={}&assertion={}",
                    http::encode("urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    self.signer.assertion(now_s())
                )
            },
            attempts,
            &self.pacing,
            self.backoff_base,
        )
        .await?;
        *guard = Some(t.clone());
        Ok(t)
    }

    /// One API call with retries; `path` is relative to `{base_url}/v1/`.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ConnError> {
        let url = format!("{}/v1/{path}", self.cfg.base_url.trim_end_matches('/'));
        let mut full = url.clone();
        for (i, (k, v)) in query.iter().enumerate() {
            full.push(if i == 0 { '?' } else { '&' });
            full.push_str(k);
            full.push('=');
            full.push_str(&http::encode(v));
        }
        let attempts = self.cfg.max_attempts.max(1);
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let token = self.token(false).await?;
            let mut req = self.http.request(method.clone(), &full).bearer_auth(&token);
            if let Some(b) = body {
                req = req.json(b);
            }
            self.count(|c| c.requests += 1);
            let last = attempt + 1 >= attempts;
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if !last => {
                    tracing::warn!(error = %e, url = %url, "request failed; retrying");
                    self.wait(attempt, None).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => {
                    return Err(ConnError::Transport {
                        method: method.to_string(),
                        url,
                        message: e.to_string(),
                    })
                }
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let bytes = match http::read_body(resp, &url).await {
                Ok(b) => b,
                Err(e) if !last => {
                    tracing::warn!(error = %e, url = %url, "reading the answer failed; retrying");
                    self.wait(attempt, None).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match http::classify(status) {
                Class::Ok => {
                    return serde_json::from_slice(&bytes).map_err(|e| ConnError::Malformed {
                        url,
                        message: e.to_string(),
                    })
                }
                Class::Reauth if !refreshed => {
                    // The access token expired: one new token, then the same request again.
                    refreshed = true;
                    self.token(true).await?;
                    continue;
                }
                Class::Retry if !last => {
                    tracing::info!(status, url = %url, "retrying after the service's answer");
                    self.wait(attempt, Some(&headers)).await;
                    attempt += 1;
                    continue;
                }
                _ => {
                    return Err(ConnError::Status {
                        method: method.to_string(),
                        url,
                        status,
                        body: http::snippet(&bytes),
                    })
                }
            }
        }
    }

    /// A pager over `enterprises.devices.list`.
    pub fn devices(&self) -> DevicePager<'_> {
        DevicePager {
            client: self,
            next: None,
            done: false,
            seen_tokens: HashSet::new(),
            pages: 0,
        }
    }

    /// `enterprises.policies.get`; `None` when the policy does not exist yet.
    pub async fn get_policy(&self, name: &str) -> Result<Option<Value>, ConnError> {
        match self.call(reqwest::Method::GET, name, &[], None).await {
            Ok(v) => Ok(Some(v)),
            Err(ConnError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `enterprises.policies.patch` of `applications` only (`updateMask=applications`).
    pub async fn patch_applications(&self, name: &str, apps: &[Value]) -> Result<Value, ConnError> {
        let body = json!({ "applications": apps });
        self.call(
            reqwest::Method::PATCH,
            name,
            &[("updateMask", "applications".to_string())],
            Some(&body),
        )
        .await
    }

    /// Merges `blocked` into the configured policy as `installType: BLOCKED`, keeping every
    /// other app: read, merge, patch; on a conflict (409, or a version that moved by more than
    /// our write) read and merge again. With [`PushMode::DryRun`] only the plan is returned.
    pub async fn push(
        &self,
        blocked: &BTreeSet<String>,
        mode: PushMode,
    ) -> Result<PushOutcome, ConnError> {
        let Some(name) = self.cfg.policy.clone() else {
            return Err(ConnError::Config(format!(
                "[[connector]] {}: no policy to push into",
                self.cfg.name
            )));
        };
        let mut conflicts = 0u32;
        for _ in 0..5 {
            let current = self.get_policy(&name).await?;
            let version = current.as_ref().and_then(policy_version);
            let apps = match current.as_ref().map(|p| p.get("applications")) {
                Some(Some(Value::Array(a))) => a.clone(),
                Some(Some(other)) => {
                    return Err(ConnError::Malformed {
                        url: name.clone(),
                        message: format!("applications is not an array: {other}"),
                    })
                }
                _ => Vec::new(),
            };
            let mut plan = merge_blocked(&apps, blocked);
            if current
                .as_ref()
                .and_then(|p| p.get("uninstallAppsDisabled"))
                .and_then(Value::as_bool)
                == Some(true)
            {
                plan.warnings.push("the policy sets uninstallAppsDisabled: Android keeps BLOCKED apps that are already installed".into());
            }
            if plan.merged.len() > MAX_APPLICATIONS {
                return Err(ConnError::Config(format!(
                    "{name}: {} applications exceed the API's limit of {MAX_APPLICATIONS}",
                    plan.merged.len()
                )));
            }
            plan.read_version = version;
            if plan.is_noop() || mode != PushMode::Apply {
                return Ok(PushOutcome {
                    policy: name,
                    plan,
                    applied: false,
                    conflicts,
                    written_version: None,
                });
            }
            match self.patch_applications(&name, &plan.merged).await {
                Ok(written) => {
                    let wv = policy_version(&written);
                    if let (Some(r), Some(w)) = (version, wv) {
                        if w > r + 1 {
                            // Another writer got in between: our write replaced their list.
                            // Read again; the next merge is a no-op if ours is still whole.
                            conflicts += 1;
                            tracing::warn!(policy = %name, read = r, written = w, "policy changed between read and write; merging again");
                            let again = self.get_policy(&name).await?;
                            let apps = again
                                .as_ref()
                                .and_then(|p| p.get("applications"))
                                .and_then(Value::as_array)
                                .cloned()
                                .unwrap_or_default();
                            if merge_blocked(&apps, blocked).is_noop() {
                                return Ok(PushOutcome {
                                    policy: name,
                                    plan,
                                    applied: true,
                                    conflicts,
                                    written_version: wv,
                                });
                            }
                            continue;
                        }
                    }
                    return Ok(PushOutcome {
                        policy: name,
                        plan,
                        applied: true,
                        conflicts,
                        written_version: wv,
                    });
                }
                Err(e) if e.is_conflict() => {
                    conflicts += 1;
                    tracing::warn!(policy = %name, "conflict writing the policy; reading it again");
                    tokio::time::sleep(http::backoff(self.backoff_base, conflicts)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(ConnError::Conflict(format!(
            "{name}: still changing after {conflicts} attempts"
        )))
    }
}

fn policy_version(p: &Value) -> Option<i64> {
    match p.get("version")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// What a merge changes in a policy's `applications`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PushPlan {
    /// Apps added as `BLOCKED`.
    pub added: Vec<String>,
    /// Apps already listed whose `installType` becomes `BLOCKED`: (package, previous type).
    pub changed: Vec<(String, String)>,
    /// Apps of the ban already `BLOCKED`.
    pub already_blocked: usize,
    /// Other apps of the policy, kept as they are.
    pub kept: usize,
    /// What the administrator should know (e.g. `uninstallAppsDisabled`).
    pub warnings: Vec<String>,
    /// `Policy.version` read.
    pub read_version: Option<i64>,
    /// The whole merged list.
    #[serde(skip)]
    pub merged: Vec<Value>,
}

impl PushPlan {
    /// Nothing to write.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty()
    }

    /// The diff as text, one line per change.
    pub fn diff_text(&self) -> String {
        let mut out = String::new();
        for p in &self.added {
            out.push_str(&format!("+ {p} installType=BLOCKED\n"));
        }
        for (p, was) in &self.changed {
            out.push_str(&format!("~ {p} installType {was} -> BLOCKED\n"));
        }
        out.push_str(&format!(
            "= {} already BLOCKED, {} other apps kept\n",
            self.already_blocked, self.kept
        ));
        out
    }
}

/// The result of [`AmapiClient::push`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushOutcome {
    /// Policy name.
    pub policy: String,
    /// The merge.
    pub plan: PushPlan,
    /// Whether the merge was written.
    pub applied: bool,
    /// Conflicts met (each followed by a new read and merge).
    pub conflicts: u32,
    /// `Policy.version` after the write.
    pub written_version: Option<i64>,
}

/// Merges `blocked` into `apps` (an AMAPI `applications` list): each banned package gets
/// `installType: BLOCKED` (an entry of its own is added when absent), every other entry is
/// kept as it is, in its place.
pub fn merge_blocked(apps: &[Value], blocked: &BTreeSet<String>) -> PushPlan {
    let mut plan = PushPlan::default();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    let mut merged = Vec::with_capacity(apps.len() + blocked.len());
    for a in apps {
        let pkg = a.get("packageName").and_then(Value::as_str).unwrap_or("");
        if !pkg.is_empty() && blocked.contains(pkg) && listed.insert(pkg.to_string()) {
            let was = a
                .get("installType")
                .and_then(Value::as_str)
                .unwrap_or("INSTALL_TYPE_UNSPECIFIED")
                .to_string();
            if was == "BLOCKED" {
                plan.already_blocked += 1;
                merged.push(a.clone());
            } else {
                let mut b = a.clone();
                b["installType"] = json!("BLOCKED");
                plan.changed.push((pkg.to_string(), was));
                merged.push(b);
            }
        } else {
            plan.kept += 1;
            merged.push(a.clone());
        }
    }
    for p in blocked {
        if !listed.contains(p) {
            plan.added.push(p.clone());
            merged.push(json!({"packageName": p, "installType": "BLOCKED"}));
        }
    }
    plan.merged = merged;
    plan
}

/// One page of devices.
#[derive(Debug, Default)]
pub struct Page {
    /// Devices read whole.
    pub devices: Vec<PulledDevice>,
    /// Devices refused, named.
    pub errors: Vec<ItemError>,
}

/// Pages through `enterprises.devices.list`. Only one page is held at a time.
pub struct DevicePager<'a> {
    client: &'a AmapiClient,
    next: Option<String>,
    done: bool,
    seen_tokens: HashSet<String>,
    pages: u64,
}

impl DevicePager<'_> {
    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Page>, ConnError> {
        if self.done {
            return Ok(None);
        }
        let cfg = &self.client.cfg;
        let mut query = vec![("pageSize", cfg.page_size.to_string())];
        if let Some(t) = &self.next {
            query.push(("pageToken", t.clone()));
        }
        let path = format!("{}/devices", cfg.enterprise);
        let v = self
            .client
            .call(reqwest::Method::GET, &path, &query, None)
            .await?;
        self.pages += 1;
        let next = match v.get("nextPageToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(ConnError::Malformed {
                    url: path,
                    message: format!("nextPageToken is not a string: {other}"),
                })
            }
        };
        if let Some(t) = &next {
            if !self.seen_tokens.insert(t.clone()) || self.pages >= MAX_PAGES {
                return Err(ConnError::Malformed {
                    url: path,
                    message: format!("page token {t:?} repeats: the listing loops"),
                });
            }
        }
        self.done = next.is_none();
        self.next = next;
        let mut page = Page::default();
        match v.get("devices") {
            None => {}
            Some(Value::Array(devs)) => {
                for (i, d) in devs.iter().enumerate() {
                    match map_device(d, cfg) {
                        Ok(p) => page.devices.push(p),
                        Err(e) => {
                            let mut e = e;
                            if e.item.is_empty() {
                                e.item = format!("devices[{i}] of page {}", self.pages);
                            }
                            page.errors.push(e);
                        }
                    }
                }
            }
            Some(other) => {
                return Err(ConnError::Malformed {
                    url: path,
                    message: format!("devices is not an array: {}", kind_of(other)),
                })
            }
        }
        Ok(Some(page))
    }

    /// Whether the last page was read.
    pub fn complete(&self) -> bool {
        self.done
    }

    /// Pages read so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }
}

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

/// One device as the MDM reports it, mapped to interdict's inventory.
#[derive(Debug, Clone)]
pub struct PulledDevice {
    /// AMAPI resource name (`enterprises/{e}/devices/{d}`): the connector's key.
    pub name: String,
    /// Inventory (device id = `name` until the server maps it to its own id).
    pub inventory: DeviceInventory,
    /// Display name (model and device id).
    pub display_name: String,
    /// Hardware serial, when reported.
    pub serial: String,
    /// `DEVICE_OWNER` or `PROFILE_OWNER`.
    pub management_mode: Option<String>,
    /// `ACTIVE`, `DISABLED`, ...
    pub state: Option<String>,
    /// `policyName`.
    pub policy_name: Option<String>,
    /// `appliedPolicyVersion`.
    pub applied_policy_version: Option<i64>,
    /// `policyCompliant`.
    pub policy_compliant: Option<bool>,
    /// Packages of `APP_INSTALLED` non-compliance: blocked by the policy, still installed.
    pub blocked_still_installed: Vec<String>,
    /// Packages reported with state `REMOVED`.
    pub removed: Vec<String>,
    /// `lastStatusReportTime`.
    pub last_status_report_time: Option<String>,
    /// The owner's e-mail, from `enrollmentTokenData` when the EMM put a JSON object there
    /// (`{"owner_email": "...", "lang": "fr"}`): whom notifications about the device go to.
    pub owner_email: Option<String>,
    /// The owner's language (`en`, `fr`), from the same place.
    pub owner_lang: Option<String>,
}

const OWNERSHIP: [&str; 3] = ["OWNERSHIP_UNSPECIFIED", "COMPANY_OWNED", "PERSONALLY_OWNED"];
const MANAGEMENT_MODE: [&str; 3] = [
    "MANAGEMENT_MODE_UNSPECIFIED",
    "DEVICE_OWNER",
    "PROFILE_OWNER",
];
const APP_STATE: [&str; 3] = ["APPLICATION_STATE_UNSPECIFIED", "REMOVED", "INSTALLED"];
const APP_SOURCE: [&str; 4] = [
    "APPLICATION_SOURCE_UNSPECIFIED",
    "SYSTEM_APP_FACTORY_VERSION",
    "SYSTEM_APP_UPDATED_VERSION",
    "INSTALLED_FROM_PLAY_STORE",
];
const NON_COMPLIANCE_REASON: [&str; 15] = [
    "NON_COMPLIANCE_REASON_UNSPECIFIED",
    "API_LEVEL",
    "MANAGEMENT_MODE",
    "USER_ACTION",
    "INVALID_VALUE",
    "APP_NOT_INSTALLED",
    "UNSUPPORTED",
    "APP_INSTALLED",
    "PENDING",
    "APP_INCOMPATIBLE",
    "APP_NOT_UPDATED",
    "OS_NOT_PERMITTED",
    "DEVICE_INCOMPATIBLE",
    "APP_SIGNING_CERT_MISMATCH",
    "PROJECT_NOT_PERMITTED",
];

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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Maps one `Device` of the API to a [`PulledDevice`]. Any malformed part (a missing
/// ownership, an unknown enum value, a malformed app entry) refuses the whole device, named:
/// an inventory with a hole could hide a banned app.
pub fn map_device(d: &Value, cfg: &AmapiConfig) -> Result<PulledDevice, ItemError> {
    let name = match d.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(ItemError {
                item: String::new(),
                message: "device without a name".into(),
            })
        }
    };
    if !name.starts_with(&format!("{}/devices/", cfg.enterprise)) {
        return Err(ItemError {
            item: name,
            message: format!("not a device of {}", cfg.enterprise),
        });
    }
    let item = name.as_str();
    let ownership = match opt_enum(d, "ownership", &OWNERSHIP, item)? {
        None => {
            return Err(ItemError {
                item: name.clone(),
                message: "ownership is missing: the device's scope cannot be decided".into(),
            })
        }
        Some("COMPANY_OWNED") => Ownership::Corporate,
        Some("PERSONALLY_OWNED") => Ownership::Personal,
        Some(_) => Ownership::Unknown,
    };
    let management_mode = opt_enum(d, "managementMode", &MANAGEMENT_MODE, item)?.map(String::from);
    let state = opt_str(d, "state", item)?.map(String::from);
    let policy_name = opt_str(d, "policyName", item)?.map(String::from);
    let applied_policy_version = match d.get("appliedPolicyVersion") {
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    let policy_compliant = d.get("policyCompliant").and_then(Value::as_bool);
    let hw = d.get("hardwareInfo");
    let serial = hw
        .and_then(|h| h.get("serialNumber"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let model = hw
        .and_then(|h| h.get("model"))
        .and_then(Value::as_str)
        .unwrap_or("Android");
    let short = name.rsplit('/').next().unwrap_or(&name);
    let display_name = format!("{model} ({short})");

    let mut apps = Vec::new();
    let mut removed = Vec::new();
    match d.get("applicationReports") {
        None | Some(Value::Null) => {}
        Some(Value::Array(reports)) => {
            if reports.len() > MAX_APPS_PER_DEVICE {
                return Err(ItemError {
                    item: name.clone(),
                    message: format!(
                        "{} application reports, more than {MAX_APPS_PER_DEVICE}",
                        reports.len()
                    ),
                });
            }
            for (i, r) in reports.iter().enumerate() {
                let at = format!("{name}/applicationReports[{i}]");
                if !r.is_object() {
                    return Err(ItemError {
                        item: at,
                        message: format!("is {}, not an object", kind_of(r)),
                    });
                }
                let Some(pkg) = opt_str(r, "packageName", &at)?.filter(|p| !p.is_empty()) else {
                    return Err(ItemError {
                        item: at,
                        message: "packageName is missing".into(),
                    });
                };
                let at = format!("{at} ({pkg})");
                if pkg.len() > 255 {
                    return Err(ItemError {
                        item: at,
                        message: "packageName longer than 255 bytes".into(),
                    });
                }
                let st = opt_enum(r, "state", &APP_STATE, &at)?;
                let source = opt_enum(r, "applicationSource", &APP_SOURCE, &at)?;
                let version = opt_str(r, "versionName", &at)?.map(String::from);
                let version_code = match r.get("versionCode") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) if n.is_i64() => n.as_i64(),
                    Some(other) => {
                        return Err(ItemError {
                            item: at,
                            message: format!("versionCode is {}, not an integer", kind_of(other)),
                        })
                    }
                };
                let mut signers = Vec::new();
                match r.get("signingKeyCertFingerprints") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(a)) => {
                        for f in a {
                            let Some(s) = f.as_str() else {
                                return Err(ItemError {
                                    item: at,
                                    message: "signingKeyCertFingerprints has a non-string".into(),
                                });
                            };
                            let h: String = s
                                .chars()
                                .filter(|c| *c != ':')
                                .collect::<String>()
                                .to_ascii_lowercase();
                            if h.len() != 40 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return Err(ItemError {
                                    item: at,
                                    message: format!(
                                        "signingKeyCertFingerprints {s:?} is not a SHA-1 in hex"
                                    ),
                                });
                            }
                            signers.push(h);
                        }
                    }
                    Some(other) => {
                        return Err(ItemError {
                            item: at,
                            message: format!("signingKeyCertFingerprints is {}", kind_of(other)),
                        })
                    }
                }
                if let Some(Value::Array(certs)) = r.get("signingKeyCerts") {
                    for c in certs {
                        let b = c
                            .get("signingKeyCertFingerprintSha256")
                            .and_then(Value::as_str)
                            .and_then(|s| {
                                base64::engine::general_purpose::STANDARD
                                    .decode(s)
                                    .or_else(|_| {
                                        base64::engine::general_purpose::URL_SAFE.decode(s)
                                    })
                                    .ok()
                            });
                        match b {
                            Some(b) if b.len() == 32 => signers.push(hex(&b)),
                            _ => {
                                return Err(ItemError {
                                    item: at,
                                    message: "signingKeyCerts[].signingKeyCertFingerprintSha256 is not 32 bytes of base64".into(),
                                })
                            }
                        }
                    }
                }
                signers.sort();
                signers.dedup();
                if st == Some("REMOVED") {
                    removed.push(pkg.to_string());
                    continue;
                }
                let installer = opt_str(r, "installerPackageName", &at)?
                    .map(String::from)
                    .or_else(|| match source {
                        Some("INSTALLED_FROM_PLAY_STORE") => Some("com.android.vending".into()),
                        _ => None,
                    });
                apps.push(App {
                    id: pkg.to_string(),
                    version,
                    version_code,
                    signers,
                    installer,
                    publisher: None,
                });
            }
        }
        Some(other) => {
            return Err(ItemError {
                item: name.clone(),
                message: format!("applicationReports is {}, not an array", kind_of(other)),
            })
        }
    }
    let mut blocked_still_installed = Vec::new();
    match d.get("nonComplianceDetails") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, n) in list.iter().enumerate() {
                let at = format!("{name}/nonComplianceDetails[{i}]");
                let reason = opt_enum(n, "nonComplianceReason", &NON_COMPLIANCE_REASON, &at)?;
                if reason == Some("APP_INSTALLED") {
                    if let Some(p) = opt_str(n, "packageName", &at)? {
                        blocked_still_installed.push(p.to_string());
                    }
                }
            }
        }
        Some(other) => {
            return Err(ItemError {
                item: name.clone(),
                message: format!("nonComplianceDetails is {}, not an array", kind_of(other)),
            })
        }
    }
    let mut groups: BTreeSet<String> = cfg.groups.iter().cloned().collect();
    if let Some(p) = &policy_name {
        if let Some(g) = cfg.policy_groups.get(p) {
            groups.extend(g.iter().cloned());
        }
    }
    let token_data: Option<Value> =
        opt_str(d, "enrollmentTokenData", item)?.and_then(|t| serde_json::from_str(t).ok());
    let owner = |k: &str| {
        token_data
            .as_ref()
            .and_then(|t| t.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 320)
            .map(String::from)
    };
    let owner_email = owner("owner_email").filter(|e| e.contains('@'));
    let owner_lang = owner("lang");
    Ok(PulledDevice {
        owner_email,
        owner_lang,
        inventory: DeviceInventory {
            device: Device {
                id: name.clone(),
                platform: Platform::Android,
                groups: groups.into_iter().collect(),
                ownership,
            },
            apps,
        },
        name,
        display_name,
        serial,
        management_mode,
        state,
        policy_name,
        applied_policy_version,
        policy_compliant,
        blocked_still_installed,
        removed,
        last_status_report_time: opt_str(d, "lastStatusReportTime", "")
            .ok()
            .flatten()
            .map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AmapiConfig {
        toml::from_str(
            r#"name = "a"
enterprise = "enterprises/E1"
service_account_key_file = "/nonexistent"
groups = ["fleet"]
[policy_groups]
"enterprises/E1/policies/exec" = ["exec"]
"#,
        )
        .expect("config")
    }

    #[test]
    fn merge_keeps_other_apps_and_blocks_banned_ones() {
        let apps = vec![
            json!({"packageName": "com.example.mail", "installType": "FORCE_INSTALLED", "managedConfiguration": {"a": 1}}),
            json!({"packageName": "com.tencent.mm", "installType": "AVAILABLE"}),
            json!({"packageName": "com.zhiliaoapp.musically", "installType": "BLOCKED"}),
        ];
        let blocked: BTreeSet<String> = [
            "com.tencent.mm",
            "com.zhiliaoapp.musically",
            "com.kaspersky.free",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let plan = merge_blocked(&apps, &blocked);
        assert_eq!(plan.added, vec!["com.kaspersky.free"]);
        assert_eq!(
            plan.changed,
            vec![("com.tencent.mm".to_string(), "AVAILABLE".to_string())]
        );
        assert_eq!((plan.already_blocked, plan.kept), (1, 1));
        assert_eq!(plan.merged.len(), 4);
        assert_eq!(plan.merged[0], apps[0]);
        assert_eq!(plan.merged[1]["installType"], "BLOCKED");
        assert!(plan
            .diff_text()
            .contains("+ com.kaspersky.free installType=BLOCKED"));
        let again = merge_blocked(&plan.merged, &blocked);
        assert!(again.is_noop());
    }

    #[test]
    fn maps_a_device_and_names_bad_items() {
        let c = cfg();
        let d = json!({
            "name": "enterprises/E1/devices/d1",
            "ownership": "COMPANY_OWNED",
            "managementMode": "DEVICE_OWNER",
            "policyName": "enterprises/E1/policies/exec",
            "hardwareInfo": {"model": "Pixel 8", "serialNumber": "S1"},
            "applicationReports": [
                {"packageName": "com.tencent.mm", "versionName": "8.0", "versionCode": 2400,
                 "signingKeyCertFingerprints": ["AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"],
                 "signingKeyCerts": [{"signingKeyCertFingerprintSha256": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}],
                 "state": "INSTALLED", "applicationSource": "INSTALLED_FROM_PLAY_STORE"},
                {"packageName": "com.old", "state": "REMOVED"}
            ],
            "nonComplianceDetails": [{"settingName": "applications", "nonComplianceReason": "APP_INSTALLED", "packageName": "com.tencent.mm"}]
        });
        let p = map_device(&d, &c).expect("maps");
        assert_eq!(p.inventory.device.ownership, Ownership::Corporate);
        assert_eq!(p.inventory.device.groups, vec!["exec", "fleet"]);
        assert_eq!(p.inventory.apps.len(), 1);
        let app = &p.inventory.apps[0];
        assert_eq!(app.signers.len(), 2);
        assert!(app
            .signers
            .contains(&"abcdef0123456789abcdef0123456789abcdef01".to_string()));
        assert_eq!(app.installer.as_deref(), Some("com.android.vending"));
        assert_eq!(p.removed, vec!["com.old"]);
        assert_eq!(p.blocked_still_installed, vec!["com.tencent.mm"]);

        let mut no_owner = d.clone();
        no_owner.as_object_mut().map(|o| o.remove("ownership"));
        let e = map_device(&no_owner, &c).expect_err("no ownership");
        assert_eq!(e.item, "enterprises/E1/devices/d1");
        assert!(e.message.contains("ownership"));

        let mut bad_enum = d.clone();
        bad_enum["managementMode"] = json!("SUPER_OWNER");
        assert!(map_device(&bad_enum, &c)
            .expect_err("enum")
            .message
            .contains("SUPER_OWNER"));

        let mut bad_app = d.clone();
        bad_app["applicationReports"][1] = json!({"versionName": 3});
        let e = map_device(&bad_app, &c).expect_err("bad app");
        assert_eq!(e.item, "enterprises/E1/devices/d1/applicationReports[1]");
    }
}
