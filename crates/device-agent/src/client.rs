//! The HTTP side: enrollment and check-ins against an `interdict serve`, error classes, and
//! retry backoff.
//!
//! `https://` servers are verified with rustls (ring provider) against Mozilla's roots, the
//! system's trust store and any extra CA certificates ([`CaCerts`], `--ca-cert`); there is no
//! way to turn verification off.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use app_policy::App;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::queue::ActionResult;

/// Connection timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest response body read from the server: a check-in answer is a few KiB; a hostile
/// server cannot stream more than this into the agent's memory.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// Most redirects followed, each to the same origin (scheme, host, port) as the request.
const MAX_REDIRECTS: usize = 5;

/// Largest CA certificate file read (a full system bundle is a few hundred KiB).
const MAX_CA_FILE_BYTES: u64 = 4 << 20;

/// A CA certificate file (`--ca-cert`) that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaCertError {
    /// The file cannot be read.
    #[error("CA certificate file {path}: cannot read it: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file holds no usable certificate.
    #[error("CA certificate file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// CA certificates trusted in addition to the built-in roots, each checked when loaded.
#[derive(Debug, Clone, Default)]
pub struct CaCerts {
    certs: Vec<reqwest::Certificate>,
}

impl CaCerts {
    /// Loads every certificate of each PEM file (one or more `-----BEGIN CERTIFICATE-----`
    /// blocks; other blocks, such as keys, are ignored). A file that cannot be read, holds no
    /// certificate, or holds one that is not a valid X.509 certificate is an error naming it.
    pub fn load(paths: &[PathBuf]) -> Result<CaCerts, CaCertError> {
        let mut certs = Vec::new();
        for path in paths {
            certs.extend(load_pem_file(path)?);
        }
        Ok(CaCerts { certs })
    }

    /// Number of certificates.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// No extra certificate.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

fn load_pem_file(path: &Path) -> Result<Vec<reqwest::Certificate>, CaCertError> {
    let read_err = |error| CaCertError::Read {
        path: path.to_path_buf(),
        error,
    };
    let invalid = |message: String| CaCertError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(invalid(format!(
            "larger than {} MiB: not a PEM certificate file",
            MAX_CA_FILE_BYTES >> 20
        )));
    }
    let certs = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|_| {
        invalid(
            "malformed PEM: a certificate block does not decode (bad base64 or a missing \
             -----END CERTIFICATE----- line)"
                .into(),
        )
    })?;
    if certs.is_empty() {
        return Err(invalid(
            "no certificate in it: expected PEM (-----BEGIN CERTIFICATE-----); a DER file \
             converts with `openssl x509 -inform der -in FILE -out FILE.pem`"
                .into(),
        ));
    }
    let n = certs.len();
    for (i, cert) in certs.iter().enumerate() {
        // The certificate is parsed when a client trusts it: try it alone, without the
        // built-in roots, so that the error names the file and the certificate.
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert.clone())
            .build()
            .map_err(|e| {
                invalid(format!(
                    "certificate {} of {n} is not a valid X.509 certificate: {}",
                    i + 1,
                    error_chain(&e)
                ))
            })?;
    }
    Ok(certs)
}

/// How a request failed, which decides what the agent does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Worth retrying later: connection refused, timeout, 5xx, 429.
    #[error("server unavailable: {0}")]
    Retryable(String),
    /// The credentials were refused (401, 403): the device token was revoked or the
    /// enrollment secret is wrong. Retrying cannot help.
    #[error("the server refused the credentials (HTTP {status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The server holds no inventory with the hash sent (409): send the full inventory.
    #[error("the server needs the full inventory (HTTP 409)")]
    InventoryRequired,
    /// The request was malformed (other 4xx): a bug; the payload is set aside.
    #[error("the server rejected the request (HTTP {status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
}

/// The device described at enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewDevice {
    /// Display name.
    pub name: String,
    /// `linux`, `android`, ...
    pub platform: String,
    /// Serial (machine id, ADB serial).
    pub serial: String,
    /// `corporate`, `personal` or `unknown`.
    pub ownership: String,
    /// Groups.
    pub groups: Vec<String>,
}

/// The server's answer to an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Enrollment {
    /// Device id.
    pub device_id: String,
    /// Bearer token for check-ins.
    pub device_token: String,
}

/// One thing the server wants done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerAction {
    /// Stable id (the same rule and app on the same device always get the same id).
    pub id: String,
    /// `uninstall`, `block` or `notify`.
    pub kind: String,
    /// The app.
    pub app_id: String,
    /// The rule that asks for it.
    pub rule: String,
    /// Deadline (YYYY-MM-DD), if any.
    #[serde(default)]
    pub deadline: Option<String>,
}

/// The server's answer to a check-in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckinResponse {
    /// Policy version evaluated (none: no policy published).
    #[serde(default)]
    pub policy_version: Option<i64>,
    /// Whether the device complies.
    pub compliant: bool,
    /// What to do.
    #[serde(default)]
    pub actions: Vec<ServerAction>,
    /// When the server would like the next check-in.
    #[serde(default)]
    pub next_checkin_s: Option<u64>,
    /// The hash of the inventory the server now holds for the device (newer servers only):
    /// with it, an unchanged inventory is sent as this hash.
    #[serde(default)]
    pub inventory_hash: Option<String>,
}

#[derive(Debug, Serialize)]
struct InventoryBody<'a> {
    apps: &'a [App],
}

/// A check-in request body: the full inventory or the hash the server acknowledged.
#[derive(Debug, Serialize)]
pub struct CheckinBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    inventory: Option<InventoryBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inventory_hash: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    action_results: &'a [ActionResult],
    seq: u64,
}

impl<'a> CheckinBody<'a> {
    /// A check-in carrying the full inventory.
    pub fn full(apps: &'a [App], action_results: &'a [ActionResult], seq: u64) -> Self {
        CheckinBody {
            inventory: Some(InventoryBody { apps }),
            inventory_hash: None,
            action_results,
            seq,
        }
    }

    /// A check-in carrying only the hash of an inventory the server already holds.
    pub fn hashed(hash: &'a str, action_results: &'a [ActionResult], seq: u64) -> Self {
        CheckinBody {
            inventory: None,
            inventory_hash: Some(hash),
            action_results,
            seq,
        }
    }
}

/// An HTTP client for one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

fn short(s: &str) -> String {
    s.trim().chars().take(500).collect()
}

impl Client {
    /// A client for `base` (e.g. `https://interdict.example.org`), trusting `ca` in addition
    /// to the built-in roots for `https://`.
    pub fn new(base: &str, ca: &CaCerts) -> Result<Client, ClientError> {
        let mut builder = reqwest::Client::builder().use_rustls_tls();
        for cert in &ca.certs {
            builder = builder.add_root_certificate(cert.clone());
        }
        let http = builder
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("interdict-agent/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::custom(same_origin_redirects))
            .build()
            .map_err(|e| ClientError::Rejected {
                status: 0,
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.post_with(path, token, None, body).await
    }

    async fn post_with<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        idempotency_key: Option<&str>,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let mut rb = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(k) = idempotency_key {
            rb = rb.header("Idempotency-Key", k);
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| ClientError::Retryable(send_error(&e)))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp, MAX_RESPONSE_BYTES).await?;
        if (200..300).contains(&status) {
            return serde_json::from_slice::<T>(&body)
                .map_err(|e| ClientError::Retryable(format!("reading the response: {e}")));
        }
        let text = String::from_utf8_lossy(&body);
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| short(&text));
        Err(classify(status, message))
    }

    /// Enrolls a device with an enrollment secret. With the same `idempotency_key`, a retry
    /// after a lost answer gets the same device (and a fresh token), not a second one.
    pub async fn enroll(
        &self,
        secret: &str,
        device: &NewDevice,
        idempotency_key: Option<&str>,
    ) -> Result<Enrollment, ClientError> {
        #[derive(Serialize)]
        struct Body<'a> {
            enroll_secret: &'a str,
            device: &'a NewDevice,
        }
        self.post_with(
            "/api/v1/enroll",
            None,
            idempotency_key,
            &Body {
                enroll_secret: secret,
                device,
            },
        )
        .await
    }

    /// Sends one check-in.
    pub async fn checkin(
        &self,
        token: &str,
        body: &CheckinBody<'_>,
    ) -> Result<CheckinResponse, ClientError> {
        self.post("/api/v1/checkin", Some(token), body).await
    }
}

/// The redirect policy: only to the same origin as the original request (the agent never
/// sends its token and inventory to another host), at most [`MAX_REDIRECTS`].
fn same_origin_redirects(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let origin = |u: &reqwest::Url| {
        (
            u.scheme().to_string(),
            u.host_str().map(str::to_ascii_lowercase),
            u.port_or_known_default(),
        )
    };
    let first = attempt.previous().first().map(origin);
    if attempt.previous().len() > MAX_REDIRECTS {
        attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
    } else if first.is_some_and(|f| f != origin(attempt.url())) {
        let to = attempt.url().to_string();
        attempt.error(format!(
            "refused a redirect to another origin ({to}): the agent talks only to its server"
        ))
    } else {
        attempt.follow()
    }
}

/// The response body, at most `max` bytes: a longer one (declared or streamed) is an error
/// before it is read into memory.
async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, ClientError> {
    let too_big = || {
        ClientError::Retryable(format!(
            "the server's response is larger than {} MiB; refused",
            max >> 20
        ))
    };
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ClientError::Retryable(format!("reading the response: {e}")))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Maps an HTTP error status to what the agent does about it.
pub fn classify(status: u16, message: String) -> ClientError {
    match status {
        401 | 403 => ClientError::Refused { status, message },
        409 => ClientError::InventoryRequired,
        408 | 429 | 500..=599 => ClientError::Retryable(format!("HTTP {status}: {message}")),
        _ => ClientError::Rejected { status, message },
    }
}

/// The message of a failed request; a refused server certificate says how to trust a private
/// CA.
fn send_error(e: &reqwest::Error) -> String {
    let m = error_chain(e);
    if e.is_connect() && m.contains("certificate") {
        format!(
            "{m} (the server's TLS certificate was not accepted: check the URL's host name, \
             and pass --ca-cert FILE if the server's certificate comes from a private CA)"
        )
    } else {
        m
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A new enrollment idempotency key: unique, not secret (128 bits of [`jitter_u64`]).
pub fn new_idempotency_key() -> String {
    format!("agent-{:016x}{:016x}", jitter_u64(), jitter_u64())
}

/// A random `u64` for jitter (not for secrets): SHA-256 of the time, the pid and a counter.
pub fn jitter_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(now.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    for (dst, src) in b.iter_mut().zip(d.iter()) {
        *dst = *src;
    }
    u64::from_le_bytes(b)
}

/// A uniformly random duration in `[0, max]` (millisecond resolution).
pub fn random_up_to(max: Duration) -> Duration {
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(jitter_u64() % ms.saturating_add(1))
}

/// Exponential backoff with full jitter: attempt `n` waits a random time in
/// `[0, min(max, base * 2^n)]` (never less than 100 ms).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// From `base` (1 s by default) up to `max` (5 min by default).
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        let cap = self.base.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        random_up_to(cap).max(Duration::from_millis(100))
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert!(matches!(
            classify(401, String::new()),
            ClientError::Refused { .. }
        ));
        assert!(matches!(
            classify(403, String::new()),
            ClientError::Refused { .. }
        ));
        assert_eq!(classify(409, String::new()), ClientError::InventoryRequired);
        assert!(matches!(
            classify(429, String::new()),
            ClientError::Retryable(_)
        ));
        assert!(matches!(
            classify(503, String::new()),
            ClientError::Retryable(_)
        ));
        assert!(matches!(
            classify(422, String::new()),
            ClientError::Rejected { .. }
        ));
        assert!(matches!(
            classify(400, String::new()),
            ClientError::Rejected { .. }
        ));
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        for n in 0..40u32 {
            let d = b.next_delay();
            let cap = Duration::from_secs(1u64 << n.min(20)).min(Duration::from_secs(300));
            assert!(d <= cap.max(Duration::from_millis(100)), "{n}: {d:?}");
            assert!(d >= Duration::from_millis(100));
        }
        assert_eq!(b.attempts(), 40);
        b.reset();
        assert_eq!(b.attempts(), 0);
        // Jitter: not every delay at the cap is the same.
        let mut b = Backoff::new(Duration::from_secs(300), Duration::from_secs(300));
        let ds: std::collections::HashSet<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(ds.len() > 1);
    }

    #[test]
    fn ca_cert_files_that_cannot_be_used_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let load = |name: &str, content: Option<&[u8]>| {
            let p = dir.path().join(name);
            if let Some(c) = content {
                std::fs::write(&p, c).unwrap();
            }
            let e = CaCerts::load(std::slice::from_ref(&p))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&p.display().to_string()), "{e}");
            e
        };
        let e = load("missing.pem", None);
        assert!(e.contains("cannot read"), "{e}");
        let e = load("empty.pem", Some(b""));
        assert!(e.contains("no certificate"), "{e}");
        let e = load(
            "key.pem",
            Some(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        );
        assert!(e.contains("no certificate"), "{e}");
        let e = load(
            "bad-base64.pem",
            Some(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
        );
        assert!(e.contains("malformed PEM"), "{e}");
        let e = load(
            "not-x509.pem",
            Some(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        );
        assert!(e.contains("certificate 1 of 1 is not a valid X.509"), "{e}");
        let e = CaCerts::load(&[dir.path().to_path_buf()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read"), "{e}");
        assert!(CaCerts::load(&[]).unwrap().is_empty());
    }

    #[test]
    fn checkin_body_shapes() {
        let apps = vec![App {
            id: "a".into(),
            version: None,
            version_code: None,
            signers: vec![],
            installer: None,
            publisher: None,
        }];
        let v = serde_json::to_value(CheckinBody::full(&apps, &[], 3)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"inventory": {"apps": [{"id": "a"}]}, "seq": 3})
        );
        let v = serde_json::to_value(CheckinBody::hashed("h", &[], 4)).unwrap();
        assert_eq!(v, serde_json::json!({"inventory_hash": "h", "seq": 4}));
    }
}
