//! Apple MDM through a NanoMDM-compatible command API (issue 17, item 3).
//!
//! NanoMDM keeps no inventory and has no JSON command API: commands are raw XML plists
//! enqueued with `PUT /v1/enqueue/{id,id,...}` (HTTP Basic `nanomdm:<API key>`), and the
//! devices' answers come back through its MicroMDM-compatible webhook (`acknowledge_event`
//! with the device's raw plist, base64 in `raw_payload`), signed with `X-Hmac-Signature`
//! (base64 HMAC-SHA256 of the body under `-webhook-hmac-key`).
//!
//! This module is the client side and the pure parsing: the configuration
//! ([`NanoMdmConfig`]), the command plists ([`installed_application_list`],
//! [`remove_application`]), the enqueue client with retries ([`NanoMdmClient`]), the
//! webhook's signature ([`verify_signature`]) and body ([`parse_event`]), and the device's
//! answer ([`parse_report`], bounded, typed errors naming the item). The server
//! (`api-server::nanomdm`) stores commands and results.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use app_policy::App;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::config::PushMode;
use crate::http::Counters;
use crate::http::{self, Class};
use crate::{ConnError, ItemError};

/// The webhook's signature header (NanoMDM `-webhook-hmac-key`).
pub const SIGNATURE_HEADER: &str = "x-hmac-signature";
/// Largest device answer (`raw_payload` decoded), bytes.
pub const MAX_RAW_PAYLOAD: usize = 4 << 20;
/// Deepest nesting of arrays and dicts accepted in a device's answer.
pub const MAX_PLIST_DEPTH: usize = 32;
/// Most apps in one device's `InstalledApplicationList`.
pub const MAX_APPS_PER_DEVICE: usize = 5000;
/// Longest enrollment id accepted.
pub const MAX_ID_LEN: usize = 255;
/// The keys asked of `InstalledApplicationList` (`Items`, iOS 14+; `Identifier` is always
/// returned).
pub const ITEMS: [&str; 6] = [
    "Identifier",
    "Name",
    "Version",
    "ShortVersion",
    "DistributorIdentifier",
    "Installing",
];

fn default_interval() -> u64 {
    3600
}
fn default_timeout() -> u64 {
    60
}
fn default_attempts() -> u32 {
    6
}
fn default_ids_per_request() -> usize {
    100
}
fn default_max_age() -> u64 {
    86_400
}
fn default_requeue() -> u64 {
    86_400
}
fn default_platform() -> String {
    "ios".into()
}

/// `kind = "nanomdm"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NanoMdmConfig {
    /// Connector name (also the webhook's URL segment).
    pub name: String,
    /// NanoMDM's root URL (`https://nanomdm.example.org`; the API is under `/v1/`).
    pub base_url: String,
    /// File holding NanoMDM's API key (`-api`): HTTP Basic `nanomdm:<key>`.
    pub api_key_file: PathBuf,
    /// File holding the webhook's HMAC key (NanoMDM `-webhook-hmac-key`), at least 16 bytes.
    pub webhook_secret_file: PathBuf,
    /// The devices: NanoMDM enrollment ids (an iOS device's UDID).
    #[serde(default)]
    pub enrollment_ids: Vec<String>,
    /// More enrollment ids, one per line (`#` starts a comment), read again at every sync
    /// (e.g. written by a query of NanoMDM's database or of Apple Business Manager).
    #[serde(default)]
    pub enrollment_ids_file: Option<PathBuf>,
    /// The devices' ownership (`corporate` or `personal`): NanoMDM does not report it.
    pub ownership: String,
    /// Groups every device of this connector is in.
    #[serde(default)]
    pub groups: Vec<String>,
    /// `ios` (default) or `macos`: the platform the policy's rules are matched for.
    #[serde(default = "default_platform")]
    pub platform: String,
    /// Whether removals are enqueued (`apply`), only listed (`dry_run`), or not (`off`).
    #[serde(default)]
    pub remove: PushMode,
    /// Seconds between scheduled syncs (each enqueues `InstalledApplicationList`).
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Per-request timeout, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Attempts per request (429, 5xx, timeouts) before the request fails.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Enrollment ids per `PUT /v1/enqueue/` (1 to 1000; the URL grows with it).
    #[serde(default = "default_ids_per_request")]
    pub ids_per_request: usize,
    /// A webhook whose `created_at` is older than this is refused (replay window), seconds.
    #[serde(default = "default_max_age")]
    pub webhook_max_age_secs: u64,
    /// A device whose `InstalledApplicationList` is still unanswered gets no new one before
    /// this many seconds (an offline device does not pile up commands), seconds.
    #[serde(default = "default_requeue")]
    pub requeue_after_secs: u64,
}

impl NanoMdmConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        crate::config::check_name(&self.name)?;
        crate::config::check_base_url(&self.name, &self.base_url)?;
        if !matches!(self.ownership.as_str(), "corporate" | "personal") {
            return Err(format!(
                "[[connector]] {}: ownership {:?} is not corporate or personal",
                self.name, self.ownership
            ));
        }
        if !matches!(self.platform.as_str(), "ios" | "macos") {
            return Err(format!(
                "[[connector]] {}: platform {:?} is not ios or macos",
                self.name, self.platform
            ));
        }
        if !(1..=1000).contains(&self.ids_per_request) {
            return Err(format!(
                "[[connector]] {}: ids_per_request {} is not 1 to 1000",
                self.name, self.ids_per_request
            ));
        }
        if self.webhook_max_age_secs < 60 {
            return Err(format!(
                "[[connector]] {}: webhook_max_age_secs must be at least 60",
                self.name
            ));
        }
        for id in &self.enrollment_ids {
            check_enrollment_id(id).map_err(|e| format!("[[connector]] {}: {e}", self.name))?;
        }
        if self.enrollment_ids.is_empty() && self.enrollment_ids_file.is_none() {
            return Err(format!(
                "[[connector]] {}: no devices: set enrollment_ids or enrollment_ids_file",
                self.name
            ));
        }
        Ok(())
    }

    /// The devices: `enrollment_ids` and the lines of `enrollment_ids_file`, deduplicated,
    /// in order; a malformed line is an [`ItemError`] naming it and the others go on.
    pub fn enrollment_ids(&self) -> Result<(Vec<String>, Vec<ItemError>), ConnError> {
        let mut seen = BTreeSet::new();
        let mut ids = Vec::new();
        let mut errors = Vec::new();
        for id in &self.enrollment_ids {
            if seen.insert(id.clone()) {
                ids.push(id.clone());
            }
        }
        if let Some(path) = &self.enrollment_ids_file {
            let meta = std::fs::metadata(path).map_err(|e| {
                ConnError::Config(format!("enrollment_ids_file {}: {e}", path.display()))
            })?;
            if meta.len() > 64 << 20 {
                return Err(ConnError::Config(format!(
                    "enrollment_ids_file {}: larger than 64 MiB",
                    path.display()
                )));
            }
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConnError::Config(format!("enrollment_ids_file {}: {e}", path.display()))
            })?;
            for (n, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                match check_enrollment_id(line) {
                    Ok(()) => {
                        if seen.insert(line.to_string()) {
                            ids.push(line.to_string());
                        }
                    }
                    Err(message) => errors.push(ItemError {
                        item: format!("{}:{}", path.display(), n + 1),
                        message,
                    }),
                }
            }
        }
        Ok((ids, errors))
    }
}

/// An enrollment id as NanoMDM forms them (a UDID, `UUID:UUID`, `UUID:user@example.org`):
/// 1 to 255 printable ASCII characters, none of `,` `/` `?` `#` `%` or space, which the
/// enqueue URL gives a meaning.
pub fn check_enrollment_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!(
            "enrollment id {:?}: 1 to {MAX_ID_LEN} characters",
            id.chars().take(80).collect::<String>()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, ',' | '/' | '?' | '#' | '%' | '\\'))
    {
        return Err(format!(
            "enrollment id {:?}: character {c:?} not allowed",
            id.chars().take(80).collect::<String>()
        ));
    }
    Ok(())
}

/// One command: its UUID, request type, bundle id (RemoveApplication) and XML plist.
#[derive(Debug, Clone)]
pub struct Command {
    /// `CommandUUID`.
    pub uuid: String,
    /// `RequestType`.
    pub request_type: &'static str,
    /// `Identifier` of a `RemoveApplication`.
    pub identifier: Option<String>,
    /// The command as NanoMDM takes it: an XML plist.
    pub plist: Vec<u8>,
}

/// A random UUID (version 4), upper-case as Apple writes them.
pub fn new_uuid() -> Result<String, ConnError> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b)
        .map_err(|e| ConnError::Config(format!("the operating system's random source: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn command(
    uuid: String,
    request_type: &'static str,
    identifier: Option<String>,
    body: plist::Dictionary,
) -> Result<Command, ConnError> {
    let mut top = plist::Dictionary::new();
    top.insert("Command".into(), plist::Value::Dictionary(body));
    top.insert("CommandUUID".into(), plist::Value::String(uuid.clone()));
    let mut out = Vec::new();
    plist::Value::Dictionary(top)
        .to_writer_xml(&mut out)
        .map_err(|e| ConnError::Config(format!("writing the {request_type} plist: {e}")))?;
    Ok(Command {
        uuid,
        request_type,
        identifier,
        plist: out,
    })
}

/// `InstalledApplicationList` with `ManagedAppsOnly` false (every app the device lists,
/// user-installed ones included) and the [`ITEMS`] keys.
pub fn installed_application_list(uuid: String) -> Result<Command, ConnError> {
    let mut c = plist::Dictionary::new();
    c.insert(
        "RequestType".into(),
        plist::Value::String("InstalledApplicationList".into()),
    );
    c.insert("ManagedAppsOnly".into(), plist::Value::Boolean(false));
    c.insert(
        "Items".into(),
        plist::Value::Array(
            ITEMS
                .iter()
                .map(|s| plist::Value::String((*s).into()))
                .collect(),
        ),
    );
    command(uuid, "InstalledApplicationList", None, c)
}

/// `RemoveApplication` of `bundle_id`. Apple removes **managed** apps only: on a
/// user-installed app the device answers `Error` ("The app ... is not managed").
pub fn remove_application(uuid: String, bundle_id: &str) -> Result<Command, ConnError> {
    if bundle_id.is_empty() || bundle_id.len() > 255 || bundle_id.contains('\0') {
        return Err(ConnError::Config(format!(
            "bundle id {bundle_id:?} is not 1 to 255 bytes"
        )));
    }
    let mut c = plist::Dictionary::new();
    c.insert(
        "RequestType".into(),
        plist::Value::String("RemoveApplication".into()),
    );
    c.insert(
        "Identifier".into(),
        plist::Value::String(bundle_id.to_string()),
    );
    command(uuid, "RemoveApplication", Some(bundle_id.to_string()), c)
}

/// What NanoMDM answered to one enqueue.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EnqueueResult {
    /// The command's UUID.
    pub command_uuid: String,
    /// Ids the command was queued for.
    pub queued: Vec<String>,
    /// Ids it was not queued for, with NanoMDM's error.
    pub failed: Vec<ItemError>,
    /// Queued, but the APNs push failed: the device gets the command at its next check-in.
    pub push_errors: Vec<ItemError>,
}

#[derive(Debug, Deserialize, Default)]
struct ApiResult {
    #[serde(default)]
    status: BTreeMap<String, IdResult>,
    #[serde(default)]
    push_error: Option<String>,
    #[serde(default)]
    command_error: Option<String>,
    #[serde(default)]
    command_uuid: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct IdResult {
    #[serde(default)]
    push_error: Option<String>,
    #[serde(default)]
    command_error: Option<String>,
}

/// Percent-encodes an enrollment id for the URL path (`:` and `@` kept).
fn encode_id(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A client of one NanoMDM server.
pub struct NanoMdmClient {
    cfg: NanoMdmConfig,
    key: String,
    http: reqwest::Client,
    pacing: http::Pacing,
    /// First backoff step (tests shorten it).
    pub backoff_base: Duration,
}

/// Reads a secret file: its content without the final line break, at least `min` bytes.
pub fn read_secret(path: &std::path::Path, what: &str, min: usize) -> Result<Vec<u8>, ConnError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ConnError::Config(format!("{what} {}: {e}", path.display())))?;
    if meta.len() > 4096 {
        return Err(ConnError::Config(format!(
            "{what} {}: larger than 4096 bytes",
            path.display()
        )));
    }
    let mut b = std::fs::read(path)
        .map_err(|e| ConnError::Config(format!("{what} {}: {e}", path.display())))?;
    while b.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
        b.pop();
    }
    if b.len() < min {
        return Err(ConnError::Config(format!(
            "{what} {}: shorter than {min} bytes",
            path.display()
        )));
    }
    Ok(b)
}

impl NanoMdmClient {
    /// Reads the API key file and builds the client.
    pub fn new(cfg: &NanoMdmConfig) -> Result<Self, ConnError> {
        let key = read_secret(&cfg.api_key_file, "api_key_file", 1)?;
        let key = String::from_utf8(key).map_err(|_| {
            ConnError::Config(format!(
                "api_key_file {}: not UTF-8",
                cfg.api_key_file.display()
            ))
        })?;
        Ok(NanoMdmClient {
            cfg: cfg.clone(),
            key,
            http: http::client(Duration::from_secs(cfg.timeout_secs.max(1)))?,
            pacing: http::Pacing::default(),
            backoff_base: Duration::from_millis(500),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NanoMdmConfig {
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

    /// `PUT /v1/enqueue/{ids}` with the command's plist. 429, 5xx and transport failures are
    /// retried with the same CommandUUID (NanoMDM refuses a UUID it already holds, so a
    /// command is never queued twice). A 207 or 500 with NanoMDM's per-id result is an answer:
    /// the ids with a `command_error` are [`EnqueueResult::failed`], those whose APNs push
    /// failed are queued with a push error.
    pub async fn enqueue(&self, ids: &[String], cmd: &Command) -> Result<EnqueueResult, ConnError> {
        if ids.is_empty() {
            return Ok(EnqueueResult {
                command_uuid: cmd.uuid.clone(),
                ..EnqueueResult::default()
            });
        }
        let path: Vec<String> = ids.iter().map(|i| encode_id(i)).collect();
        let url = format!(
            "{}/v1/enqueue/{}",
            self.cfg.base_url.trim_end_matches('/'),
            path.join(",")
        );
        let shown = format!(
            "{}/v1/enqueue/ ({} ids, {} {})",
            self.cfg.base_url.trim_end_matches('/'),
            ids.len(),
            cmd.request_type,
            cmd.uuid
        );
        let attempts = self.cfg.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            let last = attempt + 1 >= attempts;
            self.count(|c| c.requests += 1);
            let resp = self
                .http
                .put(&url)
                .basic_auth("nanomdm", Some(&self.key))
                .header("content-type", "application/xml")
                .body(cmd.plist.clone())
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) if !last => {
                    tracing::warn!(error = %e, url = %shown, "enqueue failed; retrying");
                    self.wait(attempt, None).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => {
                    return Err(ConnError::Transport {
                        method: "PUT".into(),
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
            let parsed: Option<ApiResult> = serde_json::from_slice(&bytes).ok();
            match (http::classify(status), status) {
                (Class::Ok, _) => {
                    let r = parsed.ok_or_else(|| ConnError::Malformed {
                        url: shown.clone(),
                        message: format!(
                            "HTTP {status} without NanoMDM's JSON result: {}",
                            http::snippet(&bytes)
                        ),
                    })?;
                    return Ok(self.result(ids, cmd, r));
                }
                // NanoMDM answers 500 when every id failed, or when only the APNs push
                // failed: its per-id result says which; only an enqueue failure of the whole
                // request (`command_error` at the top) or a body that is not NanoMDM's is
                // retried.
                (_, 500)
                    if parsed.as_ref().is_some_and(|r| {
                        r.command_error.is_none()
                            && (!r.status.is_empty() || r.push_error.is_some())
                    }) =>
                {
                    return Ok(self.result(ids, cmd, parsed.unwrap_or_default()));
                }
                (Class::Retry, _) if !last => {
                    tracing::info!(status, url = %shown, "retrying after NanoMDM's answer");
                    self.wait(attempt, Some(&headers)).await;
                    attempt += 1;
                    continue;
                }
                (Class::Reauth, _) => {
                    return Err(ConnError::Auth(format!(
                        "NanoMDM refused the API key (HTTP 401 from {shown})"
                    )))
                }
                _ => {
                    return Err(ConnError::Status {
                        method: "PUT".into(),
                        url: shown,
                        status,
                        body: http::snippet(&bytes),
                    })
                }
            }
        }
    }

    fn result(&self, ids: &[String], cmd: &Command, r: ApiResult) -> EnqueueResult {
        let mut out = EnqueueResult {
            command_uuid: cmd.uuid.clone(),
            ..EnqueueResult::default()
        };
        if let Some(u) = &r.command_uuid {
            if !u.eq_ignore_ascii_case(&cmd.uuid) {
                tracing::warn!(sent = %cmd.uuid, answered = %u, "NanoMDM answered another command UUID");
            }
        }
        for id in ids {
            let s = r.status.get(id);
            if let Some(e) = s
                .and_then(|s| s.command_error.clone())
                .or_else(|| r.command_error.clone())
            {
                out.failed.push(ItemError {
                    item: id.clone(),
                    message: format!("{} not queued: {e}", cmd.request_type),
                });
                continue;
            }
            if let Some(e) = s
                .and_then(|s| s.push_error.clone())
                .or_else(|| r.push_error.clone())
            {
                out.push_errors.push(ItemError {
                    item: id.clone(),
                    message: format!("queued, APNs push failed: {e}"),
                });
            }
            out.queued.push(id.clone());
        }
        out
    }
}

/// HMAC-SHA256 of `body` under `secret`, base64 (standard alphabet, padded): the value of
/// NanoMDM's `X-Hmac-Signature`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `header` is the signature of `body` under `secret` (compared in constant time).
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(h) = header else {
        return false;
    };
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(h.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Why a webhook body is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookError {
    /// The JSON is not a MicroMDM/NanoMDM webhook event.
    #[error("webhook body: {0}")]
    Body(String),
    /// The device's answer (`raw_payload`) is refused.
    #[error("{0}")]
    Payload(ItemError),
}

/// A NanoMDM (MicroMDM-compatible) webhook event.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEvent {
    /// `mdm.Connect` for command results, `mdm.Authenticate`, `mdm.TokenUpdate`, ...
    pub topic: String,
    /// Event id (MicroMDM sets it; NanoMDM may leave it empty).
    #[serde(default)]
    pub event_id: String,
    /// RFC 3339 time NanoMDM made the event.
    pub created_at: String,
    /// A command result.
    #[serde(default)]
    pub acknowledge_event: Option<AckEvent>,
}

/// `acknowledge_event`.
#[derive(Debug, Clone, Deserialize)]
pub struct AckEvent {
    /// Device UDID (device channel).
    #[serde(default)]
    pub udid: Option<String>,
    /// Enrollment id (User Enrollment).
    #[serde(default)]
    pub enrollment_id: Option<String>,
    /// `Acknowledged`, `Error`, `CommandFormatError`, `NotNow` or `Idle`.
    pub status: String,
    /// The command answered (absent for `Idle`).
    #[serde(default)]
    pub command_uuid: Option<String>,
    /// The device's plist, base64 (Go's `[]byte` in JSON).
    #[serde(default)]
    pub raw_payload: Option<String>,
}

impl AckEvent {
    /// The NanoMDM enrollment id the result is for: `enrollment_id`, else `udid`.
    pub fn enrollment(&self) -> Option<&str> {
        self.enrollment_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(self.udid.as_deref().filter(|s| !s.is_empty()))
    }
}

/// Parses a webhook body (JSON, already size-limited by the server).
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let e: WebhookEvent =
        serde_json::from_slice(body).map_err(|e| WebhookError::Body(e.to_string()))?;
    if e.topic.len() > 255 || e.event_id.len() > 255 {
        return Err(WebhookError::Body(
            "topic or event_id longer than 255".into(),
        ));
    }
    if let Some(a) = &e.acknowledge_event {
        for (field, v) in [
            ("udid", &a.udid),
            ("enrollment_id", &a.enrollment_id),
            ("command_uuid", &a.command_uuid),
        ] {
            if v.as_deref().is_some_and(|s| s.len() > MAX_ID_LEN) {
                return Err(WebhookError::Body(format!(
                    "acknowledge_event.{field} longer than {MAX_ID_LEN}"
                )));
            }
        }
        if !matches!(
            a.status.as_str(),
            "Acknowledged" | "Error" | "CommandFormatError" | "NotNow" | "Idle"
        ) {
            return Err(WebhookError::Body(format!(
                "acknowledge_event.status {:?} is not Acknowledged, Error, CommandFormatError, NotNow or Idle",
                a.status.chars().take(40).collect::<String>()
            )));
        }
    }
    Ok(e)
}

/// Unix milliseconds of an RFC 3339 time (`2026-12-03T10:00:00.123456789Z`, `+01:00`).
pub fn rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        ms = frac.parse::<i64>().ok()? * 10i64.pow(3 - frac.len() as u32);
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(c @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let v = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *c == b'+' {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) - offset_min * 60) * 1000 + ms)
}

/// A device's answer to a command, from its plist.
#[derive(Debug, Clone)]
pub struct Report {
    /// `Status`.
    pub status: String,
    /// `CommandUUID`.
    pub command_uuid: Option<String>,
    /// `UDID` or `EnrollmentID`.
    pub device: Option<String>,
    /// The apps of an `InstalledApplicationList` answer (`None` when absent).
    pub apps: Option<Vec<App>>,
    /// The `ErrorChain`, in words ("" when none).
    pub error: String,
    /// Whether the error says the app is not managed (RemoveApplication on a user-installed
    /// app).
    pub not_managed: bool,
}

fn check_xml(data: &[u8], item: &str) -> Result<(), ItemError> {
    if data.starts_with(b"bplist") {
        return Err(ItemError {
            item: item.to_string(),
            message: "raw_payload is a binary plist; Apple devices answer in XML".into(),
        });
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'<' {
            let rest = &data[i + 1..];
            if rest.starts_with(b"!DOCTYPE") || rest.starts_with(b"!doctype") {
                // The standard Apple DOCTYPE only; an internal subset could declare entities.
                let end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
                if rest[..end].contains(&b'[') {
                    return Err(ItemError {
                        item: item.to_string(),
                        message: "raw_payload declares a DOCTYPE internal subset".into(),
                    });
                }
            }
            let closing = rest.first() == Some(&b'/');
            let name = if closing { &rest[1..] } else { rest };
            if name.starts_with(b"array") || name.starts_with(b"dict") {
                let end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
                let self_closing = end > 0 && rest.get(end - 1) == Some(&b'/');
                if closing {
                    depth = depth.saturating_sub(1);
                } else if !self_closing {
                    depth += 1;
                    if depth > MAX_PLIST_DEPTH {
                        return Err(ItemError {
                            item: item.to_string(),
                            message: format!(
                                "raw_payload nests deeper than {MAX_PLIST_DEPTH} levels at offset {i}"
                            ),
                        });
                    }
                }
            }
        }
        i += 1;
    }
    Ok(())
}

/// Decodes `raw_payload` (base64) with its size bound.
pub fn decode_raw_payload(b64: &str, item: &str) -> Result<Vec<u8>, ItemError> {
    if b64.len() > MAX_RAW_PAYLOAD / 3 * 4 + 4 {
        return Err(ItemError {
            item: item.to_string(),
            message: format!("raw_payload larger than {MAX_RAW_PAYLOAD} bytes"),
        });
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| ItemError {
            item: item.to_string(),
            message: format!("raw_payload is not base64: {e}"),
        })
}

fn opt_string(
    d: &plist::Dictionary,
    key: &str,
    item: &str,
    max: usize,
) -> Result<Option<String>, ItemError> {
    match d.get(key) {
        None => Ok(None),
        Some(plist::Value::String(s)) if s.len() <= max && !s.contains('\0') => Ok(Some(s.clone())),
        Some(plist::Value::String(_)) => Err(ItemError {
            item: item.to_string(),
            message: format!("{key} longer than {max} bytes or with a NUL"),
        }),
        Some(_) => Err(ItemError {
            item: item.to_string(),
            message: format!("{key} is not a string"),
        }),
    }
}

/// Parses a device's answer (CPU-bound: call it off the async threads). `item` names the
/// device in errors. A malformed app entry refuses the whole list, named
/// (`{item}/InstalledApplicationList[i]`): an inventory with a hole could hide a banned app.
pub fn parse_report(raw: &[u8], item: &str) -> Result<Report, ItemError> {
    if raw.len() > MAX_RAW_PAYLOAD {
        return Err(ItemError {
            item: item.to_string(),
            message: format!("raw_payload larger than {MAX_RAW_PAYLOAD} bytes"),
        });
    }
    check_xml(raw, item)?;
    let v = plist::Value::from_reader_xml(std::io::Cursor::new(raw)).map_err(|e| ItemError {
        item: item.to_string(),
        message: format!("raw_payload is not an XML plist: {e}"),
    })?;
    let d = v.as_dictionary().ok_or_else(|| ItemError {
        item: item.to_string(),
        message: "raw_payload is not a dictionary".into(),
    })?;
    let status = opt_string(d, "Status", item, 64)?.ok_or_else(|| ItemError {
        item: item.to_string(),
        message: "raw_payload has no Status".into(),
    })?;
    let command_uuid = opt_string(d, "CommandUUID", item, MAX_ID_LEN)?;
    let device = match opt_string(d, "UDID", item, MAX_ID_LEN)? {
        Some(u) => Some(u),
        None => opt_string(d, "EnrollmentID", item, MAX_ID_LEN)?,
    };
    let mut error = String::new();
    let mut not_managed = false;
    if let Some(chain) = d.get("ErrorChain") {
        let arr = chain.as_array().ok_or_else(|| ItemError {
            item: item.to_string(),
            message: "ErrorChain is not an array".into(),
        })?;
        let mut parts = Vec::new();
        for (i, e) in arr.iter().take(16).enumerate() {
            let at = format!("{item}/ErrorChain[{i}]");
            let Some(e) = e.as_dictionary() else {
                return Err(ItemError {
                    item: at,
                    message: "not a dictionary".into(),
                });
            };
            let text = match opt_string(e, "USEnglishDescription", &at, 2000)? {
                Some(t) => Some(t),
                None => opt_string(e, "LocalizedDescription", &at, 2000)?,
            };
            let domain = opt_string(e, "ErrorDomain", &at, 200)?;
            let code = e
                .get("ErrorCode")
                .and_then(|c| c.as_signed_integer())
                .map(|c| c.to_string());
            let t = text.unwrap_or_else(|| "(no description)".into());
            not_managed |= t.contains("not managed");
            parts.push(match (domain, code) {
                (Some(d), Some(c)) => format!("{t} ({d} {c})"),
                (Some(d), None) => format!("{t} ({d})"),
                (None, Some(c)) => format!("{t} (code {c})"),
                (None, None) => t,
            });
        }
        error = parts.join("; ");
        if error.len() > 2000 {
            let mut cut = 2000;
            while !error.is_char_boundary(cut) {
                cut -= 1;
            }
            error.truncate(cut);
        }
    }
    let apps = match d.get("InstalledApplicationList") {
        None => None,
        Some(v) => Some(map_apps(v, item)?),
    };
    Ok(Report {
        status,
        command_uuid,
        device,
        apps,
        error,
        not_managed,
    })
}

/// Maps `InstalledApplicationList` to interdict's apps: `Identifier` (required, the only
/// identity iOS gives), version from `ShortVersion` (else `Version`), `Version` as a number
/// when it is one, installer from `DistributorIdentifier` (alternative marketplaces).
pub fn map_apps(list: &plist::Value, item: &str) -> Result<Vec<App>, ItemError> {
    let arr = list.as_array().ok_or_else(|| ItemError {
        item: item.to_string(),
        message: "InstalledApplicationList is not an array".into(),
    })?;
    if arr.len() > MAX_APPS_PER_DEVICE {
        return Err(ItemError {
            item: item.to_string(),
            message: format!(
                "{} apps in InstalledApplicationList, more than {MAX_APPS_PER_DEVICE}",
                arr.len()
            ),
        });
    }
    let mut apps = Vec::with_capacity(arr.len());
    for (i, a) in arr.iter().enumerate() {
        let at = format!("{item}/InstalledApplicationList[{i}]");
        let Some(d) = a.as_dictionary() else {
            return Err(ItemError {
                item: at,
                message: "not a dictionary".into(),
            });
        };
        let Some(id) = opt_string(d, "Identifier", &at, 255)?.filter(|s| !s.is_empty()) else {
            return Err(ItemError {
                item: at,
                message: "Identifier is missing".into(),
            });
        };
        let at = format!("{at} ({id})");
        let short = opt_string(d, "ShortVersion", &at, 255)?;
        let long = opt_string(d, "Version", &at, 255)?;
        let distributor = opt_string(d, "DistributorIdentifier", &at, 255)?;
        opt_string(d, "Name", &at, 1024)?;
        apps.push(App {
            id,
            version_code: long.as_deref().and_then(|s| s.parse().ok()),
            version: short.or(long),
            signers: Vec::new(),
            installer: distributor,
            publisher: None,
        });
    }
    Ok(apps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            rfc3339_ms("2026-12-03T10:00:00.123456789Z"),
            Some(1_796_292_000_123)
        );
        assert_eq!(
            rfc3339_ms("2026-12-03T05:00:00-05:00"),
            rfc3339_ms("2026-12-03T10:00:00Z")
        );
        for bad in [
            "",
            "2026-12-03",
            "2026-13-03T10:00:00Z",
            "2026-12-03T10:00:00",
            "2026-12-03T10:00:00.Z",
            "x026-12-03T10:00:00Z",
        ] {
            assert_eq!(rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn signatures_and_uuids() {
        let s = sign(b"0123456789abcdef", b"{}");
        assert!(verify_signature(b"0123456789abcdef", b"{}", Some(&s)));
        assert!(!verify_signature(b"0123456789abcdeX", b"{}", Some(&s)));
        assert!(!verify_signature(b"0123456789abcdef", b"{ }", Some(&s)));
        assert!(!verify_signature(b"0123456789abcdef", b"{}", Some("***")));
        assert!(!verify_signature(b"0123456789abcdef", b"{}", None));
        let u = new_uuid().expect("uuid");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn commands_are_plists_with_their_keys() {
        let c = remove_application("A-B".into(), "com.tencent.xin").expect("cmd");
        let v = plist::Value::from_reader_xml(std::io::Cursor::new(&c.plist)).expect("plist");
        let d = v.as_dictionary().expect("dict");
        assert_eq!(
            d.get("CommandUUID").and_then(|v| v.as_string()),
            Some("A-B")
        );
        let cmd = d
            .get("Command")
            .and_then(|v| v.as_dictionary())
            .expect("command");
        assert_eq!(
            cmd.get("RequestType").and_then(|v| v.as_string()),
            Some("RemoveApplication")
        );
        assert_eq!(
            cmd.get("Identifier").and_then(|v| v.as_string()),
            Some("com.tencent.xin")
        );
        let c = installed_application_list("C".into()).expect("cmd");
        let v = plist::Value::from_reader_xml(std::io::Cursor::new(&c.plist)).expect("plist");
        let cmd = v
            .as_dictionary()
            .and_then(|d| d.get("Command"))
            .and_then(|v| v.as_dictionary())
            .expect("command")
            .clone();
        assert_eq!(
            cmd.get("ManagedAppsOnly").and_then(|v| v.as_boolean()),
            Some(false)
        );
        assert_eq!(
            cmd.get("Items").and_then(|v| v.as_array()).map(Vec::len),
            Some(ITEMS.len())
        );
        assert!(remove_application("D".into(), "").is_err());
    }

    #[test]
    fn reports_errors_name_the_item() {
        let ok = br#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict><key>CommandUUID</key><string>U1</string><key>Status</key><string>Acknowledged</string>
<key>UDID</key><string>dev1</string><key>InstalledApplicationList</key><array>
<dict><key>Identifier</key><string>com.tencent.xin</string><key>ShortVersion</key><string>8.0.45</string><key>Version</key><string>845</string></dict>
</array></dict></plist>"#;
        let r = parse_report(ok, "apple/dev1").expect("report");
        let apps = r.apps.expect("apps");
        assert_eq!(apps[0].id, "com.tencent.xin");
        assert_eq!(apps[0].version.as_deref(), Some("8.0.45"));
        assert_eq!(apps[0].version_code, Some(845));
        let bad = String::from_utf8_lossy(ok).replace("<key>Identifier</key>", "<key>Ident</key>");
        let e = parse_report(bad.as_bytes(), "apple/dev1").expect_err("no id");
        assert_eq!(e.item, "apple/dev1/InstalledApplicationList[0]");
        let deep = format!(
            "<plist><dict><key>Status</key><string>Error</string><key>x</key>{}{}</dict></plist>",
            "<array>".repeat(40),
            "</array>".repeat(40)
        );
        assert!(parse_report(deep.as_bytes(), "d")
            .expect_err("deep")
            .message
            .contains("deeper"));
        assert!(parse_report(b"bplist00", "d").is_err());
        assert!(parse_report(b"<plist><dict></dict></plist>", "d")
            .expect_err("status")
            .message
            .contains("Status"));
        let err = br#"<plist><dict><key>Status</key><string>Error</string><key>ErrorChain</key><array><dict>
<key>ErrorCode</key><integer>12029</integer><key>ErrorDomain</key><string>MCMDMErrorDomain</string>
<key>USEnglishDescription</key><string>The app "com.tencent.xin" is not managed.</string></dict></array></dict></plist>"#;
        let r = parse_report(err, "d").expect("error report");
        assert!(r.not_managed);
        assert!(r.error.contains("MCMDMErrorDomain 12029"), "{}", r.error);
    }

    #[test]
    fn enrollment_ids_are_checked() {
        assert!(check_enrollment_id("8b3b8ba3783e9ade1dae4fbb944ab3afc0ce5b69").is_ok());
        assert!(check_enrollment_id("68656c6c:appleid@example.com").is_ok());
        for bad in ["", "a,b", "a/b", "a b", "a%2c"] {
            assert!(check_enrollment_id(bad).is_err(), "{bad}");
        }
    }
}
