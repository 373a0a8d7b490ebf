//! Notifications to people: e-mail over SMTP with STARTTLS (lettre), in English and French,
//! and webhooks signed with HMAC-SHA256.
//!
//! The webhook body (`interdict.notification/v1`) is one JSON object:
//!
//! ```json
//! {"schema": "interdict.notification/v1", "id": "ntf_…", "kind": "removal_required",
//!  "created_at": "2026-12-03T09:00:00Z", "lang": "en", "to": "owner@example.org",
//!  "subject": "Action required: remove WeChat by 2023-10-30",
//!  "text": "…the whole message…", "data": {…the kind's fields…}}
//! ```
//!
//! `text` is what Slack and Teams incoming webhooks show; `data` is for SIEM ingestion. The
//! headers `X-Interdict-Timestamp` (Unix seconds) and `X-Interdict-Signature`
//! (`sha256=` hex HMAC-SHA256 of `{timestamp}.{body}`) let the receiver check origin and age.

use std::path::PathBuf;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

/// The signature header of a webhook: `sha256=` and the hex HMAC-SHA256 of
/// `{timestamp}.{body}` under the shared secret.
pub const SIGNATURE_HEADER: &str = "X-Interdict-Signature";
/// The timestamp header (Unix seconds), part of the signed bytes (replay window).
pub const TIMESTAMP_HEADER: &str = "X-Interdict-Timestamp";
/// The webhook body's schema name.
pub const SCHEMA: &str = "interdict.notification/v1";

/// `sha256=<hex>` over `{timestamp}.{body}`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let out = mac.finalize().into_bytes();
    let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Checks a signature in constant time.
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    if hex.len() % 2 != 0 {
        return false;
    }
    let Some(bytes) = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

/// Language of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// French.
    Fr,
}

impl Lang {
    /// `fr`, `fr-CA`, `fr_CA` → French; anything else English.
    pub fn parse(s: &str) -> Lang {
        if s.to_ascii_lowercase().starts_with("fr") {
            Lang::Fr
        } else {
            Lang::En
        }
    }
}

/// What happened, with what the message needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// To a device's owner: a prohibited app to remove by a date.
    RemovalRequired {
        /// Device display name.
        device: String,
        /// App title (e.g. `WeChat`).
        app: String,
        /// App id.
        app_id: String,
        /// Rule id.
        rule: String,
        /// Deadline, `YYYY-MM-DD`.
        deadline: String,
        /// The rule's rationale.
        reason: String,
    },
    /// To approvers: an exception request waits for a decision.
    ExceptionPending {
        /// Exception id.
        exception: String,
        /// Device.
        device: String,
        /// Rule id.
        rule: String,
        /// Who asked.
        requester: String,
        /// Why.
        justification: String,
        /// Requested end, `YYYY-MM-DD`.
        expires: String,
    },
    /// To the requester: the decision.
    ExceptionDecided {
        /// Exception id.
        exception: String,
        /// Rule id.
        rule: String,
        /// `approved` or `denied`.
        decision: String,
        /// End, `YYYY-MM-DD`.
        expires: String,
    },
    /// To owners and approvers, 14 and 3 days before an exception ends.
    ExceptionEnding {
        /// Exception id.
        exception: String,
        /// Device.
        device: String,
        /// Rule id.
        rule: String,
        /// Days left.
        days_left: u32,
        /// End, `YYYY-MM-DD`.
        expires: String,
    },
}

impl Event {
    /// The kind as in the JSON (`removal_required`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RemovalRequired { .. } => "removal_required",
            Event::ExceptionPending { .. } => "exception_pending",
            Event::ExceptionDecided { .. } => "exception_decided",
            Event::ExceptionEnding { .. } => "exception_ending",
        }
    }
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
}

/// Renders `event` in `lang`.
pub fn render(event: &Event, lang: Lang) -> Message {
    let (subject, text) = match (event, lang) {
        (Event::RemovalRequired { device, app, app_id, rule, deadline, reason }, Lang::En) => (
            format!("Action required: remove {app} by {deadline}"),
            format!(
                "Your device {device} has {app} ({app_id}), which is prohibited (rule {rule}).\n\
                 Remove {app} by {deadline}.\n\nReason: {reason}\n"
            ),
        ),
        (Event::RemovalRequired { device, app, app_id, rule, deadline, reason }, Lang::Fr) => (
            format!("Action requise : supprimez {app} d'ici le {deadline}"),
            format!(
                "Votre appareil {device} contient {app} ({app_id}), qui est interdite (règle {rule}).\n\
                 Supprimez {app} d'ici le {deadline}.\n\nMotif : {reason}\n"
            ),
        ),
        (Event::ExceptionPending { exception, device, rule, requester, justification, expires }, Lang::En) => (
            format!("Exception request {exception} awaits your decision"),
            format!(
                "{requester} asks for an exception to rule {rule} for device {device}, until {expires}.\n\
                 Justification: {justification}\n"
            ),
        ),
        (Event::ExceptionPending { exception, device, rule, requester, justification, expires }, Lang::Fr) => (
            format!("La demande d'exception {exception} attend votre décision"),
            format!(
                "{requester} demande une exception à la règle {rule} pour l'appareil {device}, jusqu'au {expires}.\n\
                 Justification : {justification}\n"
            ),
        ),
        (Event::ExceptionDecided { exception, rule, decision, expires }, Lang::En) => (
            format!("Your exception request {exception} was {decision}"),
            format!("Your exception request {exception} to rule {rule} (until {expires}) was {decision}.\n"),
        ),
        (Event::ExceptionDecided { exception, rule, decision, expires }, Lang::Fr) => {
            let d = if decision == "approved" { "approuvée" } else { "refusée" };
            (
                format!("Votre demande d'exception {exception} a été {d}"),
                format!("Votre demande d'exception {exception} à la règle {rule} (jusqu'au {expires}) a été {d}.\n"),
            )
        }
        (Event::ExceptionEnding { exception, device, rule, days_left, expires }, Lang::En) => (
            format!("Exception {exception} ends in {days_left} days ({expires})"),
            format!(
                "The exception {exception} to rule {rule} for device {device} ends on {expires}, in {days_left} days.\n\
                 After that date the rule applies again.\n"
            ),
        ),
        (Event::ExceptionEnding { exception, device, rule, days_left, expires }, Lang::Fr) => (
            format!("L'exception {exception} prend fin dans {days_left} jours ({expires})"),
            format!(
                "L'exception {exception} à la règle {rule} pour l'appareil {device} prend fin le {expires}, dans {days_left} jours.\n\
                 Après cette date, la règle s'applique de nouveau.\n"
            ),
        ),
    };
    Message { subject, text }
}

/// A delivery failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The recipient was refused (SMTP 5xx on the address, webhook 4xx): retrying will not help.
    #[error("refused: {0}")]
    Refused(String),
    /// May work later (connection, 4xx SMTP, webhook 5xx or 429).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Configuration unusable.
    #[error("configuration: {0}")]
    Config(String),
}

impl NotifyError {
    /// Whether a retry may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self, NotifyError::Temporary(_))
    }
}

fn default_smtp_port() -> u16 {
    587
}
fn default_timeout() -> u64 {
    30
}

/// `[notifications.smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name (also the name its certificate must carry).
    pub host: String,
    /// Port (587: submission with STARTTLS).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `From:` address.
    pub from: String,
    /// Extra trusted CA certificate (PEM), e.g. a private CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Login, with the password in `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password (first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Seconds per SMTP conversation.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

/// Sends one e-mail; STARTTLS is required (a server that does not offer it is an error).
pub async fn send_email(
    cfg: &SmtpConfig,
    to: &str,
    lang: Lang,
    msg: &Message,
) -> Result<(), NotifyError> {
    use lettre::message::header::{ContentType, HeaderName, HeaderValue};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

    let from = cfg
        .from
        .parse()
        .map_err(|e| NotifyError::Config(format!("from {:?}: {e}", cfg.from)))?;
    let to_addr = to
        .parse()
        .map_err(|e| NotifyError::Refused(format!("address {to:?}: {e}")))?;
    let email = lettre::Message::builder()
        .from(from)
        .to(to_addr)
        .subject(&msg.subject)
        .header(ContentType::TEXT_PLAIN)
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Content-Language"),
            match lang {
                Lang::En => "en".to_string(),
                Lang::Fr => "fr".to_string(),
            },
        ))
        .body(msg.text.clone())
        .map_err(|e| NotifyError::Config(format!("message: {e}")))?;
    let mut tls = TlsParameters::builder(cfg.host.clone());
    if let Some(ca) = &cfg.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| NotifyError::Config(format!("ca_file {}: {e}", ca.display())))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| NotifyError::Config(format!("ca_file {}: {e}", ca.display())))?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls
        .build_rustls()
        .map_err(|e| NotifyError::Config(format!("TLS: {e}")))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
        .port(cfg.port)
        .tls(Tls::Required(tls))
        .timeout(Some(Duration::from_secs(cfg.timeout_secs.max(1))));
    if let (Some(user), Some(pf)) = (&cfg.username, &cfg.password_file) {
        let pw = std::fs::read_to_string(pf)
            .map_err(|e| NotifyError::Config(format!("password_file {}: {e}", pf.display())))?;
        builder = builder.credentials(Credentials::new(
            user.clone(),
            pw.lines().next().unwrap_or("").to_string(),
        ));
    }
    let transport = builder.build();
    match transport.send(email).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(NotifyError::Refused(format!("{to}: {e}"))),
        Err(e) => Err(NotifyError::Temporary(format!("{to}: {e}"))),
    }
}

/// The webhook body of a notification.
pub fn webhook_body(id: &str, created_at: &str, to: &str, lang: Lang, event: &Event) -> Value {
    let msg = render(event, lang);
    let mut data = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Some(o) = data.as_object_mut() {
        o.remove("kind");
    }
    json!({
        "schema": SCHEMA,
        "id": id,
        "kind": event.kind(),
        "created_at": created_at,
        "lang": lang,
        "to": to,
        "subject": msg.subject,
        "text": format!("{}\n\n{}", msg.subject, msg.text),
        "data": data,
    })
}

/// Posts one signed webhook (one attempt: the caller's queue retries with backoff).
pub async fn send_webhook(
    client: &reqwest::Client,
    url: &str,
    secret: &[u8],
    body: &Value,
    now_s: i64,
) -> Result<(), NotifyError> {
    let bytes = serde_json::to_vec(body).map_err(|e| NotifyError::Config(e.to_string()))?;
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, now_s.to_string())
        .header(SIGNATURE_HEADER, sign(secret, now_s, &bytes))
        .body(bytes)
        .send()
        .await
        .map_err(|e| NotifyError::Temporary(format!("{url}: {e}")))?;
    let status = resp.status().as_u16();
    match status {
        200..=299 => Ok(()),
        408 | 425 | 429 | 500..=599 => Err(NotifyError::Temporary(format!("{url}: HTTP {status}"))),
        _ => Err(NotifyError::Refused(format!("{url}: HTTP {status}"))),
    }
}

/// Sends with `attempts` tries and exponential backoff from `base` for temporary failures;
/// the last error is returned (the caller records it: never dropped silently).
pub async fn with_retries<F, Fut>(
    attempts: u32,
    base: Duration,
    mut f: F,
) -> Result<u32, NotifyError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), NotifyError>>,
{
    let mut n = 0;
    loop {
        n += 1;
        match f().await {
            Ok(()) => return Ok(n),
            Err(e) if e.is_temporary() && n < attempts.max(1) => {
                tokio::time::sleep(crate::http::backoff(base, n - 1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let s = sign(b"k", 1700000000, b"{}");
        assert!(verify(b"k", 1700000000, b"{}", &s));
        assert!(!verify(b"k", 1700000001, b"{}", &s));
        assert!(!verify(b"x", 1700000000, b"{}", &s));
        assert!(!verify(b"k", 1700000000, b"{}", "sha256=zz"));
    }

    #[test]
    fn renders_english_and_french() {
        let e = Event::RemovalRequired {
            device: "Pixel 8 (d1)".into(),
            app: "WeChat".into(),
            app_id: "com.tencent.mm".into(),
            rule: "ca-2023-10-wechat".into(),
            deadline: "2023-10-30".into(),
            reason: "Unacceptable level of risk".into(),
        };
        assert_eq!(
            render(&e, Lang::En).subject,
            "Action required: remove WeChat by 2023-10-30"
        );
        let fr = render(&e, Lang::Fr);
        assert_eq!(
            fr.subject,
            "Action requise : supprimez WeChat d'ici le 2023-10-30"
        );
        assert!(fr.text.contains("Motif : Unacceptable level of risk"));
        assert_eq!(Lang::parse("fr-CA"), Lang::Fr);
        let b = webhook_body("n1", "2026-12-03T00:00:00Z", "a@b", Lang::En, &e);
        assert_eq!(b["kind"], "removal_required");
        assert_eq!(b["data"]["app_id"], "com.tencent.mm");
        assert!(b["data"].get("kind").is_none());
    }
}
