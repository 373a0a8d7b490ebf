//! The notifier (issue 17): decides who hears what from the stored state, queues each
//! notification once (`storage::notifications_enqueue`), sends what is due by e-mail and
//! webhook (`connectors::notify`), and records each attempt; a temporary failure is retried
//! with exponential backoff up to `max_attempts`, then shown failed (`notification.failed`).
//!
//! Who hears what:
//! - a device's owner (the e-mail and language its connector reports), of each open finding
//!   that asks for a removal, with the deadline and the rule's reason;
//! - approvers and admins (accounts with an e-mail), of each requested exception;
//! - the requester (an account with an e-mail), of the decision;
//! - the owner and the approvers, 14 and 3 days before an approved exception ends.
//!
//! Every notification also goes to each configured webhook.

use std::path::PathBuf;

use app_policy::Date;
use connectors::notify::{self, Event, Lang, NotifyError, SmtpConfig};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use storage::{NewNotification, Store};

use crate::checkin::{load_active, today};
use crate::ApiError;

fn d_interval() -> u64 {
    60
}
fn d_attempts() -> u32 {
    8
}
fn d_retry() -> u64 {
    60
}

/// `[notifications]` of server.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Seconds between two runs of the notifier.
    #[serde(default = "d_interval")]
    pub interval_secs: u64,
    /// Language when the recipient's is unknown.
    #[serde(default)]
    pub default_lang: Lang,
    /// Attempts before a notification is shown failed.
    #[serde(default = "d_attempts")]
    pub max_attempts: u32,
    /// First retry delay, seconds (then doubled, capped at 60 s × 2^k by `http::backoff`).
    #[serde(default = "d_retry")]
    pub retry_base_secs: u64,
    /// E-mail.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// Webhooks.
    #[serde(default)]
    pub webhook: Vec<WebhookConfig>,
}

/// `[[notifications.webhook]]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name (the recipient shown in the queue).
    pub name: String,
    /// URL.
    pub url: String,
    /// File holding the shared secret (first line).
    pub secret_file: PathBuf,
    /// The secret, read by [`NotificationsConfig::load_secrets`].
    #[serde(skip)]
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl NotificationsConfig {
    /// Reads each webhook's secret file.
    pub fn load_secrets(&mut self) -> Result<(), String> {
        for w in &mut self.webhook {
            let s = std::fs::read_to_string(&w.secret_file).map_err(|e| {
                format!(
                    "webhook {}: secret_file {}: {e}",
                    w.name,
                    w.secret_file.display()
                )
            })?;
            let s = s.lines().next().unwrap_or("").trim().to_string();
            if s.len() < 16 {
                return Err(format!(
                    "webhook {}: the secret is shorter than 16 bytes",
                    w.name
                ));
            }
            w.secret = s.into_bytes();
        }
        Ok(())
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct NotifyRun {
    /// Newly queued.
    pub queued: u64,
    /// Delivered now.
    pub sent: u64,
    /// Failed for good now.
    pub failed: u64,
    /// Failed now, to be retried.
    pub retrying: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    event: Event,
    lang: Lang,
    to: String,
}

struct Queue<'a> {
    cfg: &'a NotificationsConfig,
    out: Vec<NewNotification>,
}

impl Queue<'_> {
    /// `to` by e-mail (when configured) and the event to every webhook.
    fn push(&mut self, key: &str, to: Option<&str>, lang: Lang, event: &Event) {
        let to_s = to.unwrap_or("").to_string();
        let payload = json!(Payload {
            event: event.clone(),
            lang,
            to: to_s.clone()
        });
        if let (Some(_), Some(to)) = (&self.cfg.smtp, to) {
            self.out.push(NewNotification {
                dedup_key: format!("{key}:email:{to}"),
                channel: "email".into(),
                recipient: to.to_string(),
                kind: event.kind().into(),
                payload: payload.clone(),
            });
        }
        for w in &self.cfg.webhook {
            self.out.push(NewNotification {
                dedup_key: format!("{key}:webhook:{}:{to_s}", w.name),
                channel: "webhook".into(),
                recipient: w.name.clone(),
                kind: event.kind().into(),
                payload: payload.clone(),
            });
        }
    }
}

fn owner(mdm: &Value, default: Lang) -> (Option<String>, Lang) {
    let email = mdm["owner_email"].as_str().map(String::from);
    let lang = mdm["owner_lang"]
        .as_str()
        .map(Lang::parse)
        .unwrap_or(default);
    (email, lang)
}

/// One run: queue what is new, send what is due.
pub async fn run_once(store: &Store, cfg: &NotificationsConfig) -> Result<NotifyRun, ApiError> {
    let now = storage::now_ms();
    let active = load_active(store).await?;
    let mut q = Queue {
        cfg,
        out: Vec::new(),
    };
    let def = cfg.default_lang;
    if let Some(p) = &active {
        for n in store.removal_notices().await? {
            let (email, lang) = owner(&n.mdm, def);
            let Some(email) = email else { continue };
            let rule = p.policy().rules.iter().find(|r| r.id == n.rule);
            let event = Event::RemovalRequired {
                device: n.device_name.clone(),
                app: rule
                    .and_then(|r| r.title.clone())
                    .unwrap_or_else(|| n.app_id.clone()),
                app_id: n.app_id.clone(),
                rule: n.rule.clone(),
                deadline: n.deadline.clone(),
                reason: rule.and_then(|r| r.rationale.clone()).unwrap_or_default(),
            };
            let key = format!(
                "removal:{}:{}:{}:{}",
                n.device_id, n.rule, n.app_id, n.deadline
            );
            q.push(&key, Some(&email), lang, &event);
        }
    }
    let approvers = store.approver_emails().await?;
    let today = today();
    for e in store.exception_notices().await? {
        match e.status.as_str() {
            "requested" => {
                let event = Event::ExceptionPending {
                    exception: e.id.clone(),
                    device: e.device_name.clone(),
                    rule: e.rule.clone(),
                    requester: e.requester_name.clone(),
                    justification: e.justification.clone(),
                    expires: e.expires.clone(),
                };
                for a in &approvers {
                    q.push(&format!("pending:{}", e.id), Some(a), def, &event);
                }
                if approvers.is_empty() {
                    q.push(&format!("pending:{}", e.id), None, def, &event);
                }
            }
            "approved" | "denied" => {
                let event = Event::ExceptionDecided {
                    exception: e.id.clone(),
                    rule: e.rule.clone(),
                    decision: e.status.clone(),
                    expires: e.expires.clone(),
                };
                q.push(
                    &format!("decided:{}:{}", e.id, e.status),
                    e.requester_email.as_deref(),
                    def,
                    &event,
                );
                if e.status == "approved" {
                    let Ok(end) = Date::parse(&e.expires) else {
                        continue;
                    };
                    let left = end.days_since_epoch() - today.days_since_epoch();
                    let threshold = match left {
                        0..=3 => 3,
                        4..=14 => 14,
                        _ => continue,
                    };
                    let event = Event::ExceptionEnding {
                        exception: e.id.clone(),
                        device: e.device_name.clone(),
                        rule: e.rule.clone(),
                        days_left: u32::try_from(left).unwrap_or(0),
                        expires: e.expires.clone(),
                    };
                    let key = format!("ending:{}:{threshold}", e.id);
                    let (email, lang) = owner(&e.mdm, def);
                    if let Some(o) = email {
                        q.push(&key, Some(&o), lang, &event);
                    }
                    for a in &approvers {
                        q.push(&key, Some(a), def, &event);
                    }
                }
            }
            _ => {}
        }
    }
    let mut run = NotifyRun {
        queued: store.notifications_enqueue(&q.out, now).await?,
        ..NotifyRun::default()
    };
    let http = connectors::http::client(std::time::Duration::from_secs(30))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    for n in store.notifications_due(now, 500).await? {
        let result = match serde_json::from_value::<Payload>(n.payload.clone()) {
            Err(e) => Err(NotifyError::Config(format!("payload: {e}"))),
            Ok(p) => match n.channel.as_str() {
                "email" => match &cfg.smtp {
                    Some(smtp) => {
                        let msg = notify::render(&p.event, p.lang);
                        notify::send_email(smtp, &n.recipient, p.lang, &msg).await
                    }
                    None => Err(NotifyError::Config("no [notifications.smtp]".into())),
                },
                "webhook" => match cfg.webhook.iter().find(|w| w.name == n.recipient) {
                    Some(w) => {
                        let at = storage::rfc3339_ms(n.created_at);
                        let body = notify::webhook_body(&n.id, &at, &p.to, p.lang, &p.event);
                        notify::send_webhook(&http, &w.url, &w.secret, &body, now / 1000).await
                    }
                    None => Err(NotifyError::Config(format!(
                        "no webhook named {}",
                        n.recipient
                    ))),
                },
                other => Err(NotifyError::Config(format!("channel {other}"))),
            },
        };
        let at = storage::now_ms();
        match result {
            Ok(()) => {
                run.sent += 1;
                store.notification_attempted(&n.id, None, None, at).await?;
            }
            Err(e) => {
                let attempts = u32::try_from(n.attempts + 1).unwrap_or(u32::MAX);
                let retry = (e.is_temporary() && attempts < cfg.max_attempts).then(|| {
                    let d = connectors::http::backoff(
                        std::time::Duration::from_secs(cfg.retry_base_secs.max(1)),
                        attempts - 1,
                    );
                    at + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
                });
                tracing::warn!(notification = %n.id, error = %e, retry = retry.is_some(), "notification not delivered");
                if retry.is_some() {
                    run.retrying += 1;
                } else {
                    run.failed += 1;
                }
                store
                    .notification_attempted(&n.id, Some(&e.to_string()), retry, at)
                    .await?;
            }
        }
    }
    Ok(run)
}

/// Runs the notifier every `interval_secs` until aborted.
pub(crate) async fn task(store: Store, cfg: NotificationsConfig) {
    let interval = std::time::Duration::from_secs(cfg.interval_secs.max(1));
    loop {
        if let Err(e) = run_once(&store, &cfg).await {
            tracing::error!(error = %e, "notifier run failed");
        }
        tokio::time::sleep(interval).await;
    }
}
