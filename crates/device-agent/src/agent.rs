//! The run loop: collect, queue a check-in, deliver the queue, carry out actions, deliver
//! their results.
//!
//! One cycle, for each logical device:
//!
//! 1. collect the inventory (a device whose sources failed is skipped this cycle);
//! 2. queue a check-in (the next `seq`, persisted in the state file before the check-in is
//!    written);
//! 3. deliver the device's queue in order, enrolling first if needed; each check-in is deleted
//!    once the server acknowledged it;
//! 4. when the queue drained, carry out the actions of the last response (see
//!    [`crate::enforce`]), collect the inventory again, and queue and deliver a follow-up
//!    check-in carrying the results.
//!
//! When the server is unavailable the queue keeps growing (within its bound) and delivery is
//! retried with exponential backoff and full jitter; cycles keep their own interval (±10%).
//! `--once` runs one cycle without retries.
//!
//! Repeats: an action is carried out at most once per cycle. One that may usefully be
//! repeated (a removal, in case the app comes back; a failure that may be transient) is
//! carried out again in later cycles; one that may not (a dry run, a `skipped` or a permanent
//! failure) once per agent run. Report-only mode sends no results.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::client::{
    random_up_to, Backoff, CaCertError, CaCerts, CheckinBody, CheckinResponse, Client, ClientError,
    NewDevice, ServerAction,
};
use crate::enforce::{carry_out, Mode};
use crate::queue::{sha256_hex, ActionResult, Pending, Queue, QueueError};
use crate::source::{collect, collect_one, hostname, DeviceInventory, Source};
use crate::state::{Ack, ActionRecord, DeviceState, State, StateError};

/// Everything the agent needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server base URL: `https://...` (verified TLS) or `http://...` (plain).
    pub server: String,
    /// PEM files of CA certificates trusted for `https://` in addition to the built-in roots.
    pub ca_certs: Vec<PathBuf>,
    /// Enrollment secret (needed only for devices not yet enrolled).
    pub enroll_secret: Option<String>,
    /// State file.
    pub state_path: PathBuf,
    /// Queue directory (one subdirectory per logical device).
    pub queue_dir: PathBuf,
    /// Inventory sources.
    pub sources: Vec<Source>,
    /// Device name for the local machine (default: host name).
    pub name: Option<String>,
    /// Groups to enroll with (default: those of a file source's devices).
    pub groups: Vec<String>,
    /// Ownership to enroll with (default: a file source's, else `corporate`).
    pub ownership: Option<String>,
    /// Time between cycles.
    pub interval: Duration,
    /// One cycle, then exit.
    pub once: bool,
    /// What to do with actions.
    pub mode: Mode,
    /// Longest wait between delivery attempts while the server is unavailable.
    pub max_backoff: Duration,
    /// Most pending check-ins per device.
    pub max_pending: usize,
}

/// What happened in a cycle, per logical device (one JSON line with `--json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CycleReport {
    /// Logical device key (`local`, `adb:SERIAL`, `file:ID`).
    pub device: String,
    /// Server device id, once enrolled.
    pub device_id: Option<String>,
    /// Compliance from the server's last answer (`None`: no answer in this cycle).
    pub compliant: Option<bool>,
    /// Policy version of that answer.
    pub policy_version: Option<i64>,
    /// The actions the server asked for.
    pub actions: Vec<ServerAction>,
    /// Results produced in this cycle (delivered, or queued for delivery).
    pub results: Vec<ActionResult>,
    /// Check-ins still queued.
    pub queued: usize,
    /// Why the server was not reached, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the agent tells its caller as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A device's cycle (or retry) finished.
    Cycle(&'a CycleReport),
    /// A dry run: the exact command that would run.
    WouldRun {
        /// Logical device key.
        device: &'a str,
        /// Command line.
        command: &'a str,
    },
    /// Something worth a line on stderr.
    Warning(String),
}

/// How a `--once` run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every device answered compliant (or the agent was stopped).
    Compliant,
    /// A device is not compliant.
    NonCompliant,
    /// A source failed or the server could not be reached; check-ins stay queued.
    Incomplete,
}

/// Errors that stop the agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The state file.
    #[error(transparent)]
    State(#[from] StateError),
    /// The queue.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// No inventory source.
    #[error("no inventory source: pass --source (dpkg, rpm, flatpak, snap, adb, file:PATH)")]
    NoSources,
    /// The state file belongs to another server.
    #[error(
        "state file {path} holds identities for {theirs}, not {ours}: use another --state \
         (or delete the file to enroll again)"
    )]
    OtherServer {
        /// State file.
        path: PathBuf,
        /// Its server.
        theirs: String,
        /// The configured server.
        ours: String,
    },
    /// A device is not enrolled and no enrollment secret was given.
    #[error("device {0} is not enrolled: pass --enroll-secret (or INTERDICT_ENROLL_SECRET)")]
    NoSecret(String),
    /// The server refused a device's token or the enrollment secret.
    #[error(
        "device {device}: {error}; the token was revoked or the server's data reset: remove \
         the device from {state} and enroll again with --enroll-secret"
    )]
    Refused {
        /// Logical device key.
        device: String,
        /// The refusal.
        error: ClientError,
        /// State file.
        state: PathBuf,
    },
    /// The enrollment secret was refused.
    #[error("enrolling device {device}: {error}")]
    Enroll {
        /// Logical device key.
        device: String,
        /// The refusal.
        error: ClientError,
    },
    /// The server URL is not `https://HOST[:PORT]` or `http://HOST[:PORT]`.
    #[error("server URL {0:?}: expected https://HOST[:PORT] (or http://HOST[:PORT])")]
    BadServer(String),
    /// A `--ca-cert` file cannot be used.
    #[error(transparent)]
    CaCert(#[from] CaCertError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(ClientError),
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The queue subdirectory name of a logical device key: the key itself when it is a plain
/// name, else a sanitized form with a short digest so that two keys never share a queue.
pub fn queue_name(key: &str) -> String {
    let plain = !key.is_empty()
        && !key.starts_with('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if plain {
        return key.to_string();
    }
    let clean: String = key
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let digest = sha256_hex(key.as_bytes());
    format!("{clean}-{}", digest.get(..12).unwrap_or(&digest))
}

/// Longest interval or backoff accepted (a year).
pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 86_400);

/// Parses an interval: one or more `<number><unit>` with units `ms`, `s`, `m`, `h`, `d`
/// (`15m`, `30s`, `1h30m`). Zero and more than [`MAX_INTERVAL`] are refused.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad interval {s:?}: expected e.g. 30s, 15m, 1h, 1h30m");
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let (num, tail) = rest.split_at(digits);
        let n: u64 = num.parse().map_err(|_| bad())?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let ms_per = match unit {
            "ms" => 1u64,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let add = n.checked_mul(ms_per).ok_or_else(bad)?;
        total = total
            .checked_add(Duration::from_millis(add))
            .ok_or_else(bad)?;
        rest = tail;
    }
    if total.is_zero() || total > MAX_INTERVAL {
        return Err(bad());
    }
    Ok(total)
}

/// `server` parsed, if it is an `http://` or `https://` URL with a host and nothing after its
/// path.
fn server_url(server: &str) -> Option<reqwest::Url> {
    let url = reqwest::Url::parse(server).ok()?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.query().is_none()
        && url.fragment().is_none();
    ok.then_some(url)
}

/// Whether `url`'s host is this machine: a loopback address, `localhost` or `*.localhost`
/// (which never leave it).
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return match ip {
            std::net::IpAddr::V4(v4) => v4.is_loopback(),
            std::net::IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        };
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether a state file written for `theirs` may be used with `ours`: the same host and path,
/// moved from `http://` to `https://` (on any port). The device tokens already went to that
/// host; the reverse, a downgrade, is refused.
fn is_https_upgrade(theirs: &str, ours: &reqwest::Url) -> bool {
    let Some(old) = server_url(theirs) else {
        return false;
    };
    old.scheme() == "http"
        && ours.scheme() == "https"
        && old.host_str() == ours.host_str()
        && old.path().trim_end_matches('/') == ours.path().trim_end_matches('/')
        && old.username() == ours.username()
}

/// `interval` ±10%.
fn jittered(interval: Duration) -> Duration {
    let tenth = interval / 10;
    interval
        .saturating_sub(tenth)
        .saturating_add(random_up_to(tenth.saturating_mul(2)))
}

/// What delivering one device's queue did.
#[derive(Debug, Default)]
struct Flush {
    /// The server's answer to the last check-in delivered.
    last: Option<CheckinResponse>,
    /// The digest of the last inventory delivered.
    last_inventory: Option<String>,
    /// Everything queued was delivered.
    drained: bool,
    /// Why delivery stopped, when the server was unavailable.
    unavailable: Option<String>,
}

struct Agent<'e> {
    cfg: Config,
    state: State,
    client: Client,
    backoff: Backoff,
    run_start_ms: i64,
    /// Enrollment details of the devices collected in this run.
    meta: BTreeMap<String, NewDevice>,
    /// The last delivery attempt found the server unavailable.
    last_unavailable: bool,
    /// A source failed in the last collection.
    source_failed: bool,
    stop: watch::Receiver<bool>,
    on_event: &'e mut dyn FnMut(Event<'_>),
}

/// Runs the agent until `shutdown` completes (or after one cycle with `once`).
///
/// A shutdown request lets the current step finish (a check-in in flight, a command running)
/// and returns; everything not acknowledged stays in the queue for the next start.
pub async fn run(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Outcome, AgentError> {
    if cfg.sources.is_empty() {
        return Err(AgentError::NoSources);
    }
    let server = cfg.server.trim_end_matches('/').to_string();
    let url = server_url(&server).ok_or_else(|| AgentError::BadServer(server.clone()))?;
    if url.scheme() == "http" && !is_loopback(&url) {
        on_event(Event::Warning(format!(
            "{server} is plain http://: device tokens will cross the network unencrypted \
             (use https://)"
        )));
    }
    let ca = CaCerts::load(&cfg.ca_certs)?;
    let mut state = State::load(&cfg.state_path)?;
    match &state.server {
        Some(theirs) if *theirs != server && !state.devices.is_empty() => {
            if !is_https_upgrade(theirs, &url) {
                return Err(AgentError::OtherServer {
                    path: cfg.state_path.clone(),
                    theirs: theirs.clone(),
                    ours: server,
                });
            }
            on_event(Event::Warning(format!(
                "state file {}: server {theirs} is now reached as {server} (same host, over \
                 HTTPS); plain http:// is no longer accepted for it",
                cfg.state_path.display()
            )));
            state.server = Some(server.clone());
        }
        _ => state.server = Some(server.clone()),
    }
    state.save(&cfg.state_path)?;
    let client = Client::new(&server, &ca).map_err(AgentError::Client)?;
    let (tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let mut agent = Agent {
        backoff: Backoff::new(Duration::from_secs(1), cfg.max_backoff.min(MAX_INTERVAL)),
        cfg,
        state,
        client,
        run_start_ms: now_ms(),
        meta: BTreeMap::new(),
        last_unavailable: false,
        source_failed: false,
        stop,
        on_event,
    };
    if agent.cfg.once {
        return agent.once().await;
    }
    agent.forever().await
}

impl Agent<'_> {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    fn warn(&mut self, msg: String) {
        (self.on_event)(Event::Warning(msg));
    }

    fn save(&self) -> Result<(), AgentError> {
        self.state.save(&self.cfg.state_path)?;
        Ok(())
    }

    fn queue(&self, key: &str) -> Result<Queue, AgentError> {
        Ok(Queue::open(
            &self.cfg.queue_dir.join(queue_name(key)),
            self.cfg.max_pending,
        )?)
    }

    fn device(&mut self, key: &str) -> &mut DeviceState {
        self.state.devices.entry(key.to_string()).or_default()
    }

    async fn forever(&mut self) -> Result<Outcome, AgentError> {
        let mut stop = self.stop.clone();
        let mut next_cycle = tokio::time::Instant::now();
        let mut next_flush: Option<tokio::time::Instant> = None;
        loop {
            if self.stopping() {
                return Ok(Outcome::Compliant);
            }
            let now = tokio::time::Instant::now();
            if now >= next_cycle {
                // While backing off, a cycle only queues; delivery waits for the backoff.
                let deliver = next_flush.is_none_or(|t| now >= t);
                self.collect_and_queue(deliver).await?;
                next_cycle = now + jittered(self.cfg.interval.min(MAX_INTERVAL));
                if deliver {
                    next_flush = self.after_delivery();
                }
            } else if next_flush.is_some_and(|t| now >= t) {
                self.deliver_all(&[]).await?;
                next_flush = self.after_delivery();
            }
            let wake = next_flush.map_or(next_cycle, |t| t.min(next_cycle));
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                r = stop.changed() => {
                    if r.is_err() {
                        // The shutdown task is gone without a request: keep running.
                        tokio::time::sleep_until(wake).await;
                    }
                }
            }
        }
    }

    /// When to try delivering next, after a delivery attempt.
    fn after_delivery(&mut self) -> Option<tokio::time::Instant> {
        if self.last_unavailable {
            Some(tokio::time::Instant::now() + self.backoff.next_delay())
        } else {
            self.backoff.reset();
            None
        }
    }

    /// One `--once` cycle and its outcome.
    async fn once(&mut self) -> Result<Outcome, AgentError> {
        let reports = self.collect_and_queue(true).await?;
        let mut outcome = if self.source_failed || reports.is_empty() {
            Outcome::Incomplete
        } else {
            Outcome::Compliant
        };
        for r in &reports {
            match r.compliant {
                None => outcome = Outcome::Incomplete,
                Some(false) if outcome == Outcome::Compliant => outcome = Outcome::NonCompliant,
                _ => {}
            }
        }
        Ok(outcome)
    }

    /// Collects every device, queues a check-in for each, and (if `deliver`) delivers.
    async fn collect_and_queue(&mut self, deliver: bool) -> Result<Vec<CycleReport>, AgentError> {
        let (devices, errors) = collect(&self.cfg.sources).await;
        self.source_failed = !errors.is_empty();
        for e in errors {
            self.warn(format!("inventory not collected: {e}"));
        }
        let mut keys = Vec::new();
        for inv in devices {
            self.remember(&inv);
            let q = self.queue(&inv.key)?;
            let digest = q.store_inventory(&inv.apps)?;
            self.enqueue(&inv.key, &q, digest, Vec::new())?;
            keys.push(inv.key);
        }
        if deliver {
            return self.deliver_all(&keys).await;
        }
        let mut reports = Vec::new();
        for key in keys {
            let report = CycleReport {
                device_id: self.device(&key).device_id.clone(),
                queued: self.queue(&key)?.len()?,
                error: Some("server unavailable: check-in queued, delivery backing off".into()),
                device: key,
                ..CycleReport::default()
            };
            (self.on_event)(Event::Cycle(&report));
            reports.push(report);
        }
        Ok(reports)
    }

    fn remember(&mut self, inv: &DeviceInventory) {
        let name = match (&self.cfg.name, inv.key.as_str()) {
            (Some(n), "local") => n.clone(),
            (None, "local") => hostname(),
            _ => inv.serial.clone(),
        };
        let groups = if self.cfg.groups.is_empty() {
            inv.groups.clone()
        } else {
            self.cfg.groups.clone()
        };
        let ownership = self
            .cfg
            .ownership
            .clone()
            .or_else(|| {
                inv.ownership
                    .and_then(|o| serde_json::to_value(o).ok())
                    .and_then(|v| v.as_str().map(str::to_string))
            })
            .unwrap_or_else(|| "corporate".into());
        let platform = serde_json::to_value(inv.platform)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "linux".into());
        self.meta.insert(
            inv.key.clone(),
            NewDevice {
                name,
                platform,
                serial: inv.serial.clone(),
                ownership,
                groups,
            },
        );
    }

    /// Queues a check-in with the next seq (persisted first, so a seq is never reused).
    fn enqueue(
        &mut self,
        key: &str,
        q: &Queue,
        digest: String,
        action_results: Vec<ActionResult>,
    ) -> Result<(), AgentError> {
        let d = self.device(key);
        d.seq = d.seq.saturating_add(1);
        let seq = d.seq;
        self.save()?;
        let outcome = q.push(&Pending {
            seq,
            at_ms: now_ms(),
            inventory: digest,
            action_results,
        })?;
        if !outcome.dropped.is_empty() {
            self.warn(format!(
                "{key}: queue full ({} check-ins): dropped {} older inventory-only check-in(s)",
                self.cfg.max_pending,
                outcome.dropped.len()
            ));
        }
        if !outcome.stored {
            self.warn(format!(
                "{key}: queue full of action results: this inventory-only check-in was dropped"
            ));
        }
        Ok(())
    }

    /// Delivers the queues of `cycle_keys` and of every other device with something queued.
    async fn deliver_all(&mut self, cycle_keys: &[String]) -> Result<Vec<CycleReport>, AgentError> {
        self.last_unavailable = false;
        let cycle_start = now_ms();
        let mut keys: Vec<String> = cycle_keys.to_vec();
        for k in self.state.devices.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        let mut reports = Vec::new();
        for key in keys {
            let q = self.queue(&key)?;
            if !cycle_keys.contains(&key) && q.is_empty()? {
                continue;
            }
            let mut report = CycleReport {
                device: key.clone(),
                ..CycleReport::default()
            };
            let f = self.flush(&key, &q).await?;
            self.absorb(&mut report, &f);
            let acting = self.cfg.mode != Mode::Report && f.drained && !self.stopping();
            if let (true, Some(resp)) = (acting, &f.last) {
                let (results, fresh) = self.act(&key, &resp.actions, cycle_start).await?;
                if !results.is_empty() {
                    let digest = match fresh {
                        Some(inv) => Some(q.store_inventory(&inv.apps)?),
                        None => f.last_inventory.clone(),
                    };
                    if let Some(digest) = digest {
                        report.results = results.clone();
                        self.enqueue(&key, &q, digest, results)?;
                        let f2 = self.flush(&key, &q).await?;
                        self.absorb(&mut report, &f2);
                    }
                }
            }
            report.device_id = self.device(&key).device_id.clone();
            report.queued = q.len()?;
            (self.on_event)(Event::Cycle(&report));
            reports.push(report);
        }
        Ok(reports)
    }

    fn absorb(&mut self, report: &mut CycleReport, f: &Flush) {
        if let Some(resp) = &f.last {
            report.compliant = Some(resp.compliant);
            report.policy_version = resp.policy_version;
            if report.actions.is_empty() {
                report.actions = resp.actions.clone();
            }
        }
        if let Some(u) = &f.unavailable {
            self.last_unavailable = true;
            report.error = Some(u.clone());
        }
    }

    /// Enrolls `key` if it has no token yet. `Ok(None)`: the server is unavailable (message).
    async fn ensure_enrolled(&mut self, key: &str) -> Result<Result<String, String>, AgentError> {
        if let Some(t) = &self.device(key).device_token {
            return Ok(Ok(t.clone()));
        }
        let Some(meta) = self.meta.get(key).cloned() else {
            return Ok(Err(format!(
                "{key} is not enrolled and was not collected in this run"
            )));
        };
        let Some(secret) = self.cfg.enroll_secret.clone() else {
            return Err(AgentError::NoSecret(key.to_string()));
        };
        // The key is saved before it is sent: a retry after a lost answer, in this run or a
        // later one, sends the same key and gets the same device.
        let idem = match self.device(key).enroll_key.clone() {
            Some(k) => k,
            None => {
                let k = crate::client::new_idempotency_key();
                self.device(key).enroll_key = Some(k.clone());
                self.save()?;
                k
            }
        };
        match self.client.enroll(&secret, &meta, Some(&idem)).await {
            Ok(e) => {
                let d = self.device(key);
                d.device_id = Some(e.device_id);
                d.device_token = Some(e.device_token.clone());
                d.enroll_key = None;
                self.save()?;
                Ok(Ok(e.device_token))
            }
            Err(ClientError::Retryable(m)) => Ok(Err(m)),
            Err(error) => Err(AgentError::Enroll {
                device: key.to_string(),
                error,
            }),
        }
    }

    /// Delivers `key`'s queue in order, one check-in in memory at a time.
    async fn flush(&mut self, key: &str, q: &Queue) -> Result<Flush, AgentError> {
        let mut flush = Flush::default();
        let token = match self.ensure_enrolled(key).await? {
            Ok(t) => t,
            Err(m) => {
                flush.unavailable = Some(m);
                return Ok(flush);
            }
        };
        for seq in q.pending()? {
            if self.stopping() {
                return Ok(flush);
            }
            let p = match q.read(seq) {
                Ok(p) => p,
                Err(e) => {
                    q.reject(seq, &e.to_string())?;
                    self.warn(format!("{key}: unreadable check-in {seq} set aside: {e}"));
                    continue;
                }
            };
            let apps = match q.load_inventory(&p.inventory) {
                Ok(a) => a,
                Err(e) => {
                    q.reject(seq, &e.to_string())?;
                    self.warn(format!("{key}: check-in {seq} set aside: {e}"));
                    continue;
                }
            };
            let mut ack = self
                .device(key)
                .ack
                .clone()
                .filter(|a| a.digest == p.inventory);
            loop {
                let body = match &ack {
                    Some(a) => CheckinBody::hashed(&a.hash, &p.action_results, seq),
                    None => CheckinBody::full(&apps, &p.action_results, seq),
                };
                match self.client.checkin(&token, &body).await {
                    Ok(resp) => {
                        q.remove(seq)?;
                        let d = self.device(key);
                        d.acked_seq = d.acked_seq.max(seq);
                        d.ack = resp.inventory_hash.clone().map(|hash| Ack {
                            hash,
                            digest: p.inventory.clone(),
                        });
                        self.save()?;
                        flush.last = Some(resp);
                        flush.last_inventory = Some(p.inventory.clone());
                        break;
                    }
                    Err(ClientError::InventoryRequired) if ack.is_some() => {
                        // The server does not hold that inventory: send it in full.
                        ack = None;
                        self.device(key).ack = None;
                    }
                    Err(ClientError::Retryable(m)) => {
                        flush.unavailable = Some(m);
                        return Ok(flush);
                    }
                    Err(error @ ClientError::Refused { .. }) => {
                        return Err(AgentError::Refused {
                            device: key.to_string(),
                            error,
                            state: self.cfg.state_path.clone(),
                        })
                    }
                    Err(e) => {
                        q.reject(seq, &e.to_string())?;
                        self.warn(format!(
                            "{key}: check-in {seq} rejected by the server, set aside in {}: {e}",
                            q.dir().join("rejected").display()
                        ));
                        break;
                    }
                }
            }
        }
        flush.drained = true;
        q.gc()?;
        Ok(flush)
    }

    /// Carries out `actions` (dry run or for real); returns the results and the inventory
    /// collected after acting.
    async fn act(
        &mut self,
        key: &str,
        actions: &[ServerAction],
        cycle_start: i64,
    ) -> Result<(Vec<ActionResult>, Option<DeviceInventory>), AgentError> {
        let run_start = self.run_start_ms;
        let todo: Vec<&ServerAction> = actions
            .iter()
            .filter(
                |a| match self.state.devices.get(key).and_then(|d| d.action(&a.id)) {
                    // Repeatable actions once per cycle, the others once per run.
                    Some(rec) => rec.at_ms < if rec.retry { cycle_start } else { run_start },
                    None => true,
                },
            )
            .collect();
        if todo.is_empty() {
            return Ok((Vec::new(), None));
        }
        let mode = self.cfg.mode;
        // Idempotence: act on what is installed now, not on what the server last saw.
        let fresh = collect_one(&self.cfg.sources, key).await;
        let now = now_ms();
        let mut results = Vec::new();
        let mut removed_any = false;
        for a in todo {
            let (result, retry) = match &fresh {
                Err(e) => (
                    ActionResult {
                        id: a.id.clone(),
                        app_id: a.app_id.clone(),
                        kind: a.kind.clone(),
                        status: "failed".into(),
                        detail: format!("cannot read the inventory before acting: {e}"),
                        command: None,
                        at_ms: now,
                    }
                    .clamp(),
                    true,
                ),
                Ok(inv) => {
                    let o = carry_out(a, inv.origins.get(&a.app_id), mode, now).await;
                    if let (Mode::DryRun, Some(cmd)) = (mode, &o.result.command) {
                        (self.on_event)(Event::WouldRun {
                            device: key,
                            command: cmd,
                        });
                    }
                    removed_any |= mode == Mode::Enforce && o.ran && o.result.status == "done";
                    (o.result, o.retry)
                }
            };
            results.push((result, retry));
        }
        let mut latest = fresh.ok();
        if removed_any {
            match collect_one(&self.cfg.sources, key).await {
                Ok(inv) => {
                    for (r, _) in &mut results {
                        if r.status == "done" && r.command.is_some() && inv.has(&r.app_id) {
                            r.status = "failed".into();
                            r.detail =
                                "the command succeeded but the app is still installed".into();
                        }
                    }
                    latest = Some(inv);
                }
                Err(e) => {
                    self.warn(format!("{key}: inventory after removal not collected: {e}"));
                    latest = None;
                }
            }
        }
        let d = self.device(key);
        for (r, retry) in &results {
            d.record_action(ActionRecord {
                id: r.id.clone(),
                status: r.status.clone(),
                at_ms: r.at_ms,
                retry: *retry,
            });
        }
        self.save()?;
        Ok((results.into_iter().map(|(r, _)| r).collect(), latest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_interval("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_interval("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_interval("1d").unwrap(), Duration::from_secs(86400));
        for bad in [
            "",
            "0s",
            "15",
            "m",
            "1x",
            "-1s",
            "1.5h",
            "99999999999999999999d",
            "366d",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(100));
            assert!(
                d >= Duration::from_secs(90) && d <= Duration::from_secs(110),
                "{d:?}"
            );
        }
    }

    #[test]
    fn queue_names_are_safe_and_distinct() {
        assert_eq!(queue_name("local"), "local");
        let a = queue_name("adb:R58N123");
        assert!(a.starts_with("adb_R58N123-"), "{a}");
        assert_ne!(queue_name("adb:a/b"), queue_name("adb:a_b"));
        assert!(!queue_name("file:../../etc").contains('/'));
        assert!(!queue_name("..").starts_with('.'));
    }

    #[test]
    fn server_urls() {
        for ok in [
            "https://interdict.example.org",
            "https://10.0.0.1:8443/interdict",
            "http://127.0.0.1:8080",
            "HTTPS://[::1]:443",
        ] {
            assert!(server_url(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1:8080",
            "ftp://example.org",
            "unix:/run/interdict.sock",
            "https://",
            "https://example.org/?x=1",
            "https://example.org/#f",
        ] {
            assert!(server_url(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        let lo = |s: &str| is_loopback(&server_url(s).unwrap());
        for yes in [
            "http://127.0.0.1:8080",
            "http://127.5.6.7",
            "http://[::1]:8080",
            "http://[::ffff:127.0.0.1]",
            "http://localhost:8080",
            "http://LOCALHOST.",
            "http://agent.localhost",
        ] {
            assert!(lo(yes), "{yes}");
        }
        for no in [
            "http://10.0.0.1:8080",
            "http://[fe80::1]",
            "http://0.0.0.0",
            "http://interdict.example.org",
            "http://localhost.example.org",
            "http://notlocalhost",
        ] {
            assert!(!lo(no), "{no}");
        }
    }

    #[test]
    fn only_an_upgrade_to_https_on_the_same_host_keeps_the_identities() {
        let up = |theirs: &str, ours: &str| is_https_upgrade(theirs, &server_url(ours).unwrap());
        assert!(up("http://mdm.example.org:8080", "https://mdm.example.org"));
        assert!(up("http://10.0.0.1:8080/x", "https://10.0.0.1:8443/x/"));
        assert!(!up("https://mdm.example.org", "http://mdm.example.org"));
        assert!(!up("http://mdm.example.org", "https://other.example.org"));
        assert!(!up("http://mdm.example.org/a", "https://mdm.example.org/b"));
        assert!(!up(
            "https://mdm.example.org:1",
            "https://mdm.example.org:2"
        ));
        assert!(!up("garbage", "https://mdm.example.org"));
    }
}
