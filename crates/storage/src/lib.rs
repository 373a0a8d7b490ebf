//! interdict server storage: the only crate that knows SQL.
//!
//! One [`Store`] serves both backends through sqlx's `Any` driver: SQLite (the default, one
//! file, `journal_mode=WAL`, `synchronous=FULL`, asserted at startup) and PostgreSQL (several
//! stateless servers may share one database). The SQL is written once in the common dialect
//! (`$N` parameters, `ON CONFLICT`, integers for times); the schema has one migration set per
//! backend under `migrations/`.
//!
//! Every state change writes its [`events`](Store::events) row in the same transaction. Event
//! sequence numbers come from a one-row counter that each writing transaction locks, so they are
//! gapless and in commit order even with several servers on one PostgreSQL database.
//!
//! Secrets (API tokens, device tokens, enrollment secrets) are 256-bit random values shown once
//! and stored only as SHA-256 hashes.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod assessments;
mod canonical;
mod connector_lookup;
mod connectors;
mod dashboard;
mod days;
mod findings;
mod intel;
mod ledger;
mod migrate;
mod nanomdm;
mod notifications;
mod password;
mod probe;
mod proposals;
mod quotas;
mod report;
mod reviews;
mod scope;
mod secret;
mod users;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row, Transaction};

pub use app_policy::{ActionResult, MAX_RESULT_TEXT};
pub use assessments::{AssessmentFilter, AssessmentSummary, NewAssessment};
pub use canonical::canonical_json;
pub use connectors::{ConnectorRow, MdmDevice};
pub use dashboard::{DeviceBucket, EventFilter, Freshness, RuleWorst};
pub use days::Zone;
pub use findings::{
    day_of, series_days, Exposure, ExposureScope, FindingWrite, RuleSummary, SeriesPoint,
    StoredActionResult, MAX_SERIES_POINTS,
};
pub use intel::{IndicatorRow, IntelMatchRow, StoredReport};
pub use ledger::{
    bench_skip_leaves, entry_bytes, hash_hex, LedgerEntry, StoredCheckpoint, MAX_ENTRIES_PAGE,
};
pub use nanomdm::{NanoCommand, NANO_FINAL};
pub use notifications::{ExceptionNotice, NewNotification, QueuedNotification, RemovalNotice};
pub use password::{
    check_password_policy, hash_password, verify_password, PasswordError, MAX_PASSWORD_BYTES,
    MIN_PASSWORD_CHARS,
};
pub use probe::create_data_dir;
pub use proposals::{NewPolicy, PolicyProposal};
pub use report::{
    parse_report_time, rfc3339_ms, sha256_hex, ComplianceReport, IssuedReport, ReportCheckpoint,
    ReportDevice, ReportException, ReportFinding, ReportFormat, ReportLedger, ReportPolicy,
    ReportRule, ReportSummary, REPORT_SCHEMA, STALE_AFTER_DAYS,
};
pub use reviews::{
    NewReview, ReviewDocument, ReviewOutcome, RuleReview, MAX_APPELLANT, MAX_DOCUMENTS,
    MAX_REVIEW_TEXT,
};
pub use scope::{Assigned, ScopeChange};
pub use secret::{hash_secret, new_secret, secrets_equal};
pub use users::{
    normalize_email, Audit, NewUser, SessionAuth, SsoPending, TokenInfo, User, MAX_NAME_BYTES,
};

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The URL names no supported backend.
    #[error("unsupported database URL (use sqlite://... or postgres://...)")]
    UnsupportedUrl,
    /// A startup check failed (e.g. the SQLite pragmas did not take effect).
    #[error("storage check failed: {0}")]
    Check(String),
    /// The object does not exist.
    #[error("not found")]
    NotFound,
    /// The change conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The input was refused (what was wrong and what to do).
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this with the credential it holds (e.g. a device claiming more
    /// than its enrollment secret grants).
    #[error("{0}")]
    Forbidden(String),
}

/// Result alias.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Which engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite (one file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Admin roles, weakest first: each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the audit ledger and compliance reports only (an outside auditor).
    Auditor,
    /// Reads everything.
    Viewer,
    /// Also requests exceptions and uploads assessments.
    Analyst,
    /// Also approves or denies exceptions and publishes policy.
    Approver,
    /// Also manages tokens and devices.
    Admin,
}

impl Role {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auditor" => Ok(Role::Auditor),
            "viewer" => Ok(Role::Viewer),
            "analyst" => Ok(Role::Analyst),
            "approver" => Ok(Role::Approver),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?} (auditor, viewer, analyst, approver, admin)"
            )),
        }
    }
}

/// Who is acting: a person or service account, through an API token or a browser session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiPrincipal {
    /// The acting account: its user id (`usr_...`), or for a token made before accounts
    /// existed (no owner), the token's own id. Events name it as the actor, and two-person
    /// rules compare it, so one person is one identity whatever credential they use.
    pub id: String,
    /// Effective role: for a token, the lower of the token's role and its owner's.
    pub role: Role,
    /// Human label (token name or the account's display name).
    pub name: String,
    /// The token used (none: a browser session).
    pub token_id: Option<String>,
    /// The session used, as the SHA-256 of its cookie (none: a token).
    pub session: Option<String>,
}

/// A valid enrollment secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollSecret {
    /// Secret id.
    pub id: String,
    /// The groups it grants: every device enrolled with it is put in all of them, and may
    /// claim no other. Empty: it grants none, and the device's own claim is recorded as its
    /// (self-asserted, `scope_source: "claimed"`) scope.
    pub groups: Vec<String>,
    /// The ownership it grants (`corporate`, `personal`), if any: its devices get it and may
    /// not claim another.
    pub ownership: Option<String>,
}

/// What a device says about itself at enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// Display name.
    pub name: String,
    /// Platform (`android`, `ios`, ...).
    pub platform: String,
    /// Hardware serial.
    #[serde(default)]
    pub serial: String,
    /// `corporate`, `personal` or `unknown`.
    #[serde(default = "unknown")]
    pub ownership: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

fn unknown() -> String {
    "unknown".to_string()
}

/// One installed app as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredApp {
    /// App id.
    pub id: String,
    /// Version string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A device as the check-in path needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    /// Device id.
    pub id: String,
    /// Platform.
    pub platform: String,
    /// Ownership.
    pub ownership: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Hash of the last stored inventory.
    pub inventory_hash: Option<String>,
    /// The last stored inventory (canonical JSON of the full app objects).
    pub apps_json: String,
    /// Compliant at the last check-in.
    pub compliant: bool,
    /// Fingerprint of the open findings stored for the device.
    pub findings_hash: Option<String>,
}

/// The outcome of evaluating one check-in, to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinWrite {
    /// Device id.
    pub device_id: String,
    /// Time, Unix milliseconds.
    pub at_ms: i64,
    /// The new inventory, when it changed: its hash, its canonical JSON and its apps.
    pub inventory: Option<(String, String, Vec<StoredApp>)>,
    /// Compliance after this check-in.
    pub compliant: bool,
    /// Any finding past its deadline.
    pub overdue: bool,
    /// Any finding in grace.
    pub in_grace: bool,
    /// Compliance before (for the change event).
    pub was_compliant: bool,
    /// Active policy version used.
    pub policy_version: Option<i64>,
    /// Device-chosen sequence number of this check-in (0: none).
    pub seq: i64,
    /// The device's findings, when they differ from those stored: their fingerprint and list.
    pub findings: Option<(String, Vec<FindingWrite>)>,
    /// Results the device reports for earlier actions.
    pub action_results: Vec<ActionResult>,
}

impl CheckinWrite {
    /// Whether this check-in changes more than `last_seen` and counters.
    fn is_simple(&self) -> bool {
        self.inventory.is_none()
            && self.compliant == self.was_compliant
            && self.findings.is_none()
            && self.action_results.is_empty()
    }
}

/// One published policy version (immutable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyVersion {
    /// Server-assigned version, 1, 2, ...
    pub version: i64,
    /// Policy name.
    pub name: String,
    /// SHA-256 of the source.
    pub sha256: String,
    /// TOML source.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Token id of the publisher.
    pub created_by: String,
}

/// Filters for [`Store::list_devices`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeviceFilter {
    /// Only (non-)compliant devices.
    pub compliant: Option<bool>,
    /// Only devices with an overdue finding.
    pub overdue: Option<bool>,
    /// Only this platform.
    pub platform: Option<String>,
    /// Only devices in this group.
    pub group: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Return devices whose id sorts after this.
    pub after: Option<String>,
    /// Only this ownership (dashboard filter; not an API parameter).
    #[serde(skip)]
    pub ownership: Option<String>,
    /// Only devices with this freshness, against `stale_before` (dashboard filter).
    #[serde(skip)]
    pub freshness: Option<Freshness>,
    /// A check-in before this (Unix ms) is stale (dashboard filter).
    #[serde(skip)]
    pub stale_before: i64,
    /// Only devices whose name or id contains this (dashboard filter).
    #[serde(skip)]
    pub search: Option<String>,
}

/// A device in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceSummary {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Platform.
    pub platform: String,
    /// Serial.
    pub serial: String,
    /// Ownership.
    pub ownership: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Enrolled, Unix ms.
    pub enrolled_at: i64,
    /// Last check-in, Unix ms.
    pub last_seen: Option<i64>,
    /// Revoked, Unix ms.
    pub revoked_at: Option<i64>,
    /// Compliant at the last check-in.
    pub compliant: bool,
    /// Some finding is overdue.
    pub overdue: bool,
    /// Some finding is in grace.
    pub in_grace: bool,
    /// Policy version of the last evaluation.
    pub policy_version: Option<i64>,
    /// Check-ins stored.
    pub checkins: i64,
    /// Highest device sequence number stored.
    pub last_seq: i64,
    /// Where `groups` and `ownership` come from: `enrollment-secret`, `claimed` (the device's
    /// own word: its secret granted nothing), `admin` or `import`.
    pub scope_source: String,
}

/// One (device, app) install with its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Install {
    /// App id.
    pub app_id: String,
    /// Version.
    pub version: Option<String>,
    /// First seen, Unix ms.
    pub first_seen: i64,
    /// Last seen, Unix ms (for a current install, the device's last check-in).
    pub last_seen: i64,
    /// Removed, Unix ms (none: still installed).
    pub removed_at: Option<i64>,
}

/// Device detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceDetail {
    /// Summary fields.
    #[serde(flatten)]
    pub device: DeviceSummary,
    /// Installs, current and removed.
    pub installs: Vec<Install>,
    /// Open findings, with their status now.
    pub findings: Vec<Exposure>,
    /// The latest action results the device reported (newest first, at most 100).
    pub action_results: Vec<StoredActionResult>,
    /// What the device claimed at enrollment (`groups`, `ownership`), kept apart from what it
    /// was assigned; none for devices enrolled before this was recorded.
    pub claimed: Option<Value>,
}

/// Fleet compliance summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ComplianceSummary {
    /// Active (not revoked) devices.
    pub devices: i64,
    /// Compliant.
    pub compliant: i64,
    /// Non-compliant.
    pub non_compliant: i64,
    /// With a finding in grace.
    pub in_grace: i64,
    /// With an overdue finding.
    pub overdue: i64,
}

/// An exception request and its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExceptionRow {
    /// Id.
    pub id: String,
    /// Device covered.
    pub device_id: String,
    /// Rule relaxed.
    pub rule: String,
    /// App (none: every app the rule matches).
    pub app_id: Option<String>,
    /// Why.
    pub justification: String,
    /// Basis category (`law_enforcement`, `national_security`, `security_research` or
    /// `other`); none for requests made before it was recorded.
    pub basis: Option<String>,
    /// Last day (YYYY-MM-DD, inclusive).
    pub expires: String,
    /// `requested`, `approved`, `denied` or `revoked`.
    pub status: String,
    /// Requester token id.
    pub requested_by: String,
    /// Decider token id.
    pub decided_by: Option<String>,
}

/// An exception request, as [`Store::request_exception`] stores it.
#[derive(Debug, Clone, Copy)]
pub struct NewException<'a> {
    /// Device covered.
    pub device_id: &'a str,
    /// Rule relaxed.
    pub rule: &'a str,
    /// App (none: every app the rule matches).
    pub app_id: Option<&'a str>,
    /// Basis category.
    pub basis: &'a str,
    /// Why.
    pub justification: &'a str,
    /// Last day (YYYY-MM-DD, inclusive).
    pub expires: &'a str,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Sequence number: gapless, increasing in commit order.
    pub seq: i64,
    /// Unix ms.
    pub at: i64,
    /// Who (token id or device id).
    pub actor: String,
    /// What (`device.enrolled`, `policy.published`, ...).
    pub action: String,
    /// On what.
    pub subject: String,
    /// Canonical JSON details (before/after).
    pub body: Value,
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn new_id(prefix: &str) -> String {
    let s = new_secret();
    format!("{prefix}_{}", s.get(..24).unwrap_or(&s))
}

/// The database: a writer pool and a reader pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    write: AnyPool,
    read: AnyPool,
}

impl Store {
    /// The SQLite URL for a data directory.
    pub fn sqlite_url(dir: &std::path::Path) -> String {
        format!("sqlite://{}?mode=rwc", dir.join("interdict.db").display())
    }

    /// Connects, runs the migrations and checks the durability settings.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StorageError::UnsupportedUrl);
        };
        if backend == Backend::Sqlite {
            probe::check_sqlite_files(url)?;
        }
        let opts = |max: u32| {
            let o = AnyPoolOptions::new().max_connections(max);
            if backend == Backend::Sqlite {
                o.after_connect(|conn, _| {
                    Box::pin(async move {
                        use sqlx::Executor;
                        for pragma in [
                            "PRAGMA journal_mode=WAL",
                            "PRAGMA synchronous=FULL",
                            "PRAGMA busy_timeout=10000",
                            // 64 MiB of page cache per connection (default 2 MiB): the hot
                            // device rows and index pages stay in memory on large fleets.
                            "PRAGMA cache_size=-65536",
                            "PRAGMA foreign_keys=ON",
                        ] {
                            conn.execute(pragma).await?;
                        }
                        Ok(())
                    })
                })
            } else {
                o
            }
        };
        // SQLite has one writer at a time: one write connection, so writers queue in the
        // pool rather than on busy_timeout.
        let (wmax, rmax) = match backend {
            Backend::Sqlite => (1, 4),
            Backend::Postgres => (4, 8),
        };
        let write = opts(wmax).connect(url).await?;
        let read = opts(rmax).connect(url).await?;
        let store = Store {
            backend,
            write,
            read,
        };
        migrate::run(&store.write, backend).await?;
        store.check_durability().await?;
        store.probe_write().await?;
        // Events written before the ledger existed get their leaves now.
        store.ledger_backfill().await?;
        Ok(store)
    }

    /// Which backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pools (waits for open connections).
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    async fn check_durability(&self) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        let mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&self.write)
            .await?
            .try_get(0)?;
        let sync: i64 = sqlx::query("PRAGMA synchronous")
            .fetch_one(&self.write)
            .await?
            .try_get(0)?;
        if !mode.eq_ignore_ascii_case("wal") || sync != 2 {
            return Err(StorageError::Check(format!(
                "journal_mode={mode} synchronous={sync}, want wal and 2 (FULL)"
            )));
        }
        Ok(())
    }

    /// Reports `(journal_mode, synchronous)` for SQLite (for tests and `/healthz`).
    pub async fn sqlite_pragmas(&self) -> Result<Option<(String, i64)>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&self.read)
            .await?
            .try_get(0)?;
        let sync: i64 = sqlx::query("PRAGMA synchronous")
            .fetch_one(&self.read)
            .await?
            .try_get(0)?;
        Ok(Some((mode, sync)))
    }

    /// Copies committed WAL frames into the database file (SQLite; no-op on PostgreSQL).
    /// PASSIVE: never blocks the writer. (SQLite also checkpoints automatically every 1,000
    /// pages; measured, moving that off the commit path did not help and let the WAL grow.)
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.read)
                .await?;
        }
        Ok(())
    }

    /// Cheap liveness probe.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// The row `sql` finds for a secret: `$1` is bound to the secret's hash and the row's
    /// `hash` column is compared with it in constant time (a row that differs is none).
    async fn row_by_secret(&self, sql: &str, secret: &str) -> Result<Option<AnyRow>> {
        let hash = hash_secret(secret);
        let row = sqlx::query(sql)
            .bind(&hash)
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get("hash")?;
        Ok(secrets_equal(&stored, &hash).then_some(row))
    }

    async fn begin(&self) -> Result<Transaction<'static, Any>> {
        Ok(self.write.begin().await?)
    }

    // ---- tokens -------------------------------------------------------------------------

    /// Creates an admin token; returns `(token id, secret)`. The secret is shown once.
    pub async fn create_api_token(
        &self,
        role: Role,
        name: &str,
        actor: &str,
    ) -> Result<(String, String)> {
        let id = new_id("tok");
        let secret = new_secret();
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, hash, role, name, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(hash_secret(&secret))
        .bind(role.as_str())
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            now,
            actor,
            "token.created",
            &id,
            json!({"after": {"role": role.as_str(), "name": name}}),
        )
        .await?;
        tx.commit().await?;
        Ok((id, secret))
    }

    /// Looks up an admin token by its secret.
    pub async fn api_principal(&self, secret: &str) -> Result<Option<ApiPrincipal>> {
        // A token acts for its owner: refused when the owner is disabled, and never with more
        // than the owner's role.
        let Some(row) = self
            .row_by_secret(
                "SELECT t.id, t.hash, t.role, t.name, t.user_id, u.role AS user_role, \
                 u.status AS user_status FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id \
                 WHERE t.hash = $1 AND t.revoked_at IS NULL",
                secret,
            )
            .await?
        else {
            return Ok(None);
        };
        let role: Role = row
            .try_get::<String, _>("role")?
            .parse()
            .map_err(StorageError::Corrupt)?;
        let token_id: String = row.try_get("id")?;
        let owner: Option<String> = row.try_get("user_id")?;
        let (id, role) = match owner {
            None => (token_id.clone(), role),
            Some(user) => {
                if row.try_get::<Option<String>, _>("user_status")?.as_deref() != Some("active") {
                    return Ok(None);
                }
                let user_role: Role = row
                    .try_get::<Option<String>, _>("user_role")?
                    .unwrap_or_default()
                    .parse()
                    .map_err(StorageError::Corrupt)?;
                (user, role.min(user_role))
            }
        };
        Ok(Some(ApiPrincipal {
            id,
            role,
            name: row.try_get("name")?,
            token_id: Some(token_id),
            session: None,
        }))
    }

    /// Revokes an admin token.
    pub async fn revoke_api_token(&self, id: &str, actor: &str) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        append_event(&mut tx, now, actor, "token.revoked", id, json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates an enrollment secret granting `groups` (empty: none; the devices' claims are
    /// then taken as self-asserted); returns the secret.
    pub async fn create_enroll_secret(&self, groups: &[String], actor: &str) -> Result<String> {
        self.create_enroll_secret_granting(groups, None, actor)
            .await
            .map(|(_, secret)| secret)
    }

    /// Creates an enrollment secret granting `groups` and, when given, `ownership` (see
    /// [`EnrollSecret`]); returns `(id, secret)`.
    pub async fn create_enroll_secret_granting(
        &self,
        groups: &[String],
        ownership: Option<&str>,
        actor: &str,
    ) -> Result<(String, String)> {
        let id = new_id("enr");
        let secret = new_secret();
        let now = now_ms();
        let groups: BTreeSet<&String> = groups.iter().collect();
        let groups_json = canonical_json(&json!(groups));
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO enroll_secrets (id, hash, groups_json, ownership, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(hash_secret(&secret))
        .bind(&groups_json)
        .bind(ownership)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            now,
            actor,
            "enroll_secret.created",
            &id,
            json!({"after": {"groups": groups, "ownership": ownership}}),
        )
        .await?;
        tx.commit().await?;
        Ok((id, secret))
    }

    /// Revokes every enrollment secret and creates a new one (rotation); returns it.
    pub async fn rotate_enroll_secret(&self, groups: &[String], actor: &str) -> Result<String> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE enroll_secrets SET revoked_at = $1 WHERE revoked_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        append_event(
            &mut tx,
            now,
            actor,
            "enroll_secret.revoked_all",
            "*",
            json!({}),
        )
        .await?;
        tx.commit().await?;
        self.create_enroll_secret(groups, actor).await
    }

    /// Checks an enrollment secret.
    pub async fn enroll_secret(&self, secret: &str) -> Result<Option<EnrollSecret>> {
        let Some(row) = self
            .row_by_secret(
                "SELECT id, hash, groups_json, ownership FROM enroll_secrets \
                 WHERE hash = $1 AND revoked_at IS NULL",
                secret,
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(EnrollSecret {
            id: row.try_get("id")?,
            groups: groups_of(&row)?,
            ownership: row.try_get("ownership")?,
        }))
    }

    // ---- devices ------------------------------------------------------------------------

    /// Enrolls a device; returns `(device id, device token)`.
    pub async fn enroll(&self, secret: &EnrollSecret, dev: &NewDevice) -> Result<(String, String)> {
        let id = new_id("dev");
        let token = new_secret();
        let now = now_ms();
        let scope = secret.assign(dev).map_err(StorageError::Forbidden)?;
        let groups_json = canonical_json(&json!(scope.groups));
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO devices (id, token_hash, name, platform, serial, ownership, groups_json, \
             enrolled_at, compliant, overdue, in_grace, checkins, last_seq, claimed_json, \
             scope_source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 0, 0, 0, 0, $9, $10)",
        )
        .bind(&id)
        .bind(hash_secret(&token))
        .bind(&dev.name)
        .bind(&dev.platform)
        .bind(&dev.serial)
        .bind(&scope.ownership)
        .bind(&groups_json)
        .bind(now)
        .bind(&scope.claimed_json)
        .bind(scope.source)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            now,
            &secret.id,
            "device.enrolled",
            &id,
            json!({"after": dev, "assigned": scope.event()}),
        )
        .await?;
        tx.commit().await?;
        Ok((id, token))
    }

    /// Enrolls a device under an idempotency key (scoped to the enrollment secret): the first
    /// request enrolls as [`Store::enroll`] does and records the key with a hash of `dev`; a
    /// retry with the same key and the same device answers the same device id with a fresh
    /// token, and the token issued before stops working (one live credential per device: the
    /// earlier answer may have been seen by someone else). Returns `(device id, token,
    /// replayed)`. The same key with a different device, or naming a revoked device, is a
    /// [`StorageError::Conflict`].
    pub async fn enroll_idempotent(
        &self,
        secret: &EnrollSecret,
        dev: &NewDevice,
        key: &str,
    ) -> Result<(String, String, bool)> {
        let request_hash = report::sha256_hex(canonical_json(&json!(dev)).as_bytes());
        let found = sqlx::query(
            "SELECT request_hash, device_id FROM enroll_idempotency \
             WHERE secret_id = $1 AND idem_key = $2",
        )
        .bind(&secret.id)
        .bind(key)
        .fetch_optional(&self.write)
        .await?;
        if let Some(row) = found {
            let hash: String = row.try_get("request_hash")?;
            let id: String = row.try_get("device_id")?;
            if hash != request_hash {
                return Err(StorageError::Conflict(
                    "this Idempotency-Key was used with a different request".into(),
                ));
            }
            let token = new_secret();
            let now = now_ms();
            let mut tx = self.begin().await?;
            let n = sqlx::query(
                "UPDATE devices SET token_hash = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(hash_secret(&token))
            .bind(&id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StorageError::Conflict(
                    "the device of this Idempotency-Key was revoked".into(),
                ));
            }
            append_event(
                &mut tx,
                now,
                &secret.id,
                "device.token_reissued",
                &id,
                json!({"idempotency_key": key}),
            )
            .await?;
            tx.commit().await?;
            return Ok((id, token, true));
        }
        let id = new_id("dev");
        let token = new_secret();
        let now = now_ms();
        let scope = secret.assign(dev).map_err(StorageError::Forbidden)?;
        let groups_json = canonical_json(&json!(scope.groups));
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO devices (id, token_hash, name, platform, serial, ownership, groups_json, \
             enrolled_at, compliant, overdue, in_grace, checkins, last_seq, claimed_json, \
             scope_source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 0, 0, 0, 0, $9, $10)",
        )
        .bind(&id)
        .bind(hash_secret(&token))
        .bind(&dev.name)
        .bind(&dev.platform)
        .bind(&dev.serial)
        .bind(&scope.ownership)
        .bind(&groups_json)
        .bind(now)
        .bind(&scope.claimed_json)
        .bind(scope.source)
        .execute(&mut *tx)
        .await?;
        // A concurrent first request with the same key fails here (primary key): the client
        // retries and gets the device the other one enrolled.
        sqlx::query(
            "INSERT INTO enroll_idempotency (secret_id, idem_key, request_hash, device_id, \
             created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&secret.id)
        .bind(key)
        .bind(&request_hash)
        .bind(&id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StorageError::Conflict(
                "a request with this Idempotency-Key is in progress: retry".into(),
            ),
            other => other.into(),
        })?;
        append_event(
            &mut tx,
            now,
            &secret.id,
            "device.enrolled",
            &id,
            json!({"after": dev, "assigned": scope.event(), "idempotency_key": key}),
        )
        .await?;
        tx.commit().await?;
        Ok((id, token, false))
    }

    /// Looks up a (not revoked) device by its token.
    pub async fn device_by_token(&self, token: &str) -> Result<Option<DeviceAuth>> {
        let Some(row) = self
            .row_by_secret(
                "SELECT d.id, d.token_hash AS hash, d.platform, d.ownership, d.groups_json, \
             i.hash AS inventory_hash, COALESCE(i.apps_json, '[]') AS apps_json, d.compliant, \
             d.findings_hash \
             FROM devices d LEFT JOIN device_inventories i ON i.device_id = d.id \
             WHERE d.token_hash = $1 AND d.revoked_at IS NULL",
                token,
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(DeviceAuth {
            id: row.try_get("id")?,
            platform: row.try_get("platform")?,
            ownership: row.try_get("ownership")?,
            groups: groups_of(&row)?,
            inventory_hash: row.try_get("inventory_hash")?,
            apps_json: row.try_get("apps_json")?,
            compliant: row.try_get::<i64, _>("compliant")? != 0,
            findings_hash: row.try_get("findings_hash")?,
        }))
    }

    /// Stores a batch of check-ins in ONE transaction (group commit): one fsync for all.
    ///
    /// Check-ins that change nothing but `last_seen` and counters (unchanged inventory, same
    /// compliance) are merged per device and written with one `UPDATE ... FROM (VALUES ...)`
    /// statement per chunk; the others are written one by one, in batch order.
    ///
    /// Returns the sequence numbers of the events this transaction appended (`start..end`),
    /// so the caller can tell its own changes from other servers' in the event feed.
    pub async fn apply_checkins(&self, batch: &[CheckinWrite]) -> Result<std::ops::Range<i64>> {
        let complex: BTreeSet<&str> = batch
            .iter()
            .filter(|c| !c.is_simple())
            .map(|c| c.device_id.as_str())
            .collect();
        // Per device: (last write in batch order, count, highest seq).
        let mut simple: BTreeMap<&str, (&CheckinWrite, i64, i64)> = BTreeMap::new();
        let mut tx = self.begin().await?;
        let first = if complex.is_empty() {
            0
        } else {
            lock_counter(&mut tx).await?
        };
        for c in batch {
            if complex.contains(c.device_id.as_str()) {
                apply_checkin(&mut tx, c).await?;
            } else {
                let e = simple.entry(c.device_id.as_str()).or_insert((c, 0, 0));
                e.0 = c;
                e.1 = e.1.saturating_add(1);
                e.2 = e.2.max(c.seq);
            }
        }
        let rows: Vec<(&CheckinWrite, i64, i64)> = simple.into_values().collect();
        for chunk in rows.chunks(500) {
            bulk_touch(&mut tx, chunk).await?;
        }
        let end = if complex.is_empty() {
            0
        } else {
            lock_counter(&mut tx).await?
        };
        tx.commit().await?;
        Ok(first..end)
    }

    /// Lists devices.
    pub async fn list_devices(&self, f: &DeviceFilter) -> Result<Vec<DeviceSummary>> {
        /// `s` as a LIKE pattern matching itself (escape character `\`).
        fn like_literal(s: &str) -> String {
            let mut out = String::with_capacity(s.len() + 8);
            for c in s.chars() {
                if matches!(c, '\\' | '%' | '_') {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        }
        let today = today();
        let mut sql = device_columns(&today);
        sql.push_str(" FROM devices WHERE id > $1");
        let mut n = 1;
        let mut binds: Vec<Value> = vec![json!(f.after.clone().unwrap_or_default())];
        let mut add = |cond: &str, v: Value, sql: &mut String| {
            n += 1;
            sql.push_str(&format!(" AND {cond} ${n}"));
            binds.push(v);
        };
        let violation = format!(
            "EXISTS (SELECT 1 FROM findings f WHERE f.device_id = devices.id \
             AND f.resolved_at IS NULL AND {} = 'violation')",
            effective_status_on(&today)
        );
        // Non-compliant and overdue are the same set: a violation is a finding past its
        // deadline without an exception.
        for want_violation in [f.compliant.map(|c| !c), f.overdue].into_iter().flatten() {
            let not = if want_violation { "" } else { "NOT " };
            sql.push_str(&format!(" AND {not}{violation}"));
        }
        if let Some(p) = &f.platform {
            add("platform =", json!(p), &mut sql);
        }
        if let Some(o) = &f.ownership {
            add("ownership =", json!(o), &mut sql);
        }
        match f.freshness {
            None => {}
            Some(Freshness::Never) => sql.push_str(" AND last_seen IS NULL"),
            Some(Freshness::Stale) => add("last_seen <", json!(f.stale_before), &mut sql),
            Some(Freshness::Fresh) => add("last_seen >=", json!(f.stale_before), &mut sql),
        }
        if let Some(q) = f.search.as_deref().filter(|q| !q.is_empty()) {
            n += 1;
            sql.push_str(&format!(
                " AND (name LIKE ${n} ESCAPE '\\' OR id LIKE ${n} ESCAPE '\\')"
            ));
            binds.push(json!(format!("%{}%", like_literal(q))));
        }
        if let Some(g) = &f.group {
            // groups_json is a canonical JSON array of strings: match the quoted element,
            // literally (`%` and `_` in a group name are not wildcards).
            n += 1;
            sql.push_str(&format!(" AND groups_json LIKE ${n} ESCAPE '\\'"));
            binds.push(json!(format!(
                "%{}%",
                like_literal(&canonical_json(&json!(g)))
            )));
        }
        let limit = f.limit.unwrap_or(100).clamp(1, 1000);
        sql.push_str(&format!(" ORDER BY id LIMIT {limit}"));
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = match b {
                Value::Number(n) => q.bind(n.as_i64().unwrap_or(0)),
                Value::String(s) => q.bind(s.clone()),
                _ => q.bind(b.to_string()),
            };
        }
        let rows = q.fetch_all(&self.read).await?;
        rows.iter().map(device_summary).collect()
    }

    /// One device with its installs (current and removed).
    pub async fn device_detail(&self, id: &str) -> Result<DeviceDetail> {
        let today = today();
        let row = sqlx::query(&format!(
            "{} FROM devices WHERE id = $1",
            device_columns(&today)
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound)?;
        let device = device_summary(&row)?;
        let rows = sqlx::query(
            "SELECT i.app_id, i.version, i.first_seen, i.removed_at, \
             CASE WHEN i.removed_at IS NULL THEN COALESCE(d.last_seen, i.last_seen) \
             ELSE i.last_seen END AS last_seen \
             FROM installs i JOIN devices d ON d.id = i.device_id \
             WHERE i.device_id = $1 ORDER BY i.app_id",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?;
        let installs = rows
            .iter()
            .map(|r| {
                Ok(Install {
                    app_id: r.try_get("app_id")?,
                    version: r.try_get("version")?,
                    first_seen: r.try_get("first_seen")?,
                    last_seen: r.try_get("last_seen")?,
                    removed_at: r.try_get("removed_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let findings = self
            .exposures(ExposureScope::Device(id), &today, None, 10_000)
            .await?;
        let action_results = self.action_results(id, 100).await?;
        let claimed = self.device_claim(id).await?;
        Ok(DeviceDetail {
            device,
            installs,
            findings,
            action_results,
            claimed,
        })
    }

    /// Revokes a device: its token stops working at once.
    pub async fn revoke_device(&self, id: &str, actor: &str) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let n =
            sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        // A revoked device no longer exposes anything: its open findings end here.
        sqlx::query(
            "UPDATE findings SET resolved_at = $1 WHERE device_id = $2 AND resolved_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        append_event(&mut tx, now, actor, "device.revoked", id, json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Fleet summary over active devices, as of now (findings aged by the date).
    pub async fn compliance_summary(&self) -> Result<ComplianceSummary> {
        let devices: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM devices WHERE revoked_at IS NULL")
                .fetch_one(&self.read)
                .await?
                .try_get("n")?;
        let sql = format!(
            "SELECT eff, COUNT(DISTINCT device_id) AS n FROM (\
             SELECT f.device_id, {} AS eff FROM findings f WHERE f.resolved_at IS NULL) AS s \
             GROUP BY eff",
            findings::EFFECTIVE_STATUS
        );
        let (mut violation, mut in_grace) = (0, 0);
        for r in sqlx::query(&sql)
            .bind(today())
            .fetch_all(&self.read)
            .await?
        {
            let eff: String = r.try_get("eff")?;
            let n: i64 = r.try_get("n")?;
            match eff.as_str() {
                "violation" => violation = n,
                "in_grace" => in_grace = n,
                _ => {}
            }
        }
        Ok(ComplianceSummary {
            devices,
            compliant: devices.saturating_sub(violation),
            non_compliant: violation,
            in_grace,
            overdue: violation,
        })
    }

    /// Devices currently holding `app_id` (exposure), with first-seen times.
    pub async fn exposure(&self, app_id: &str) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT device_id, first_seen FROM installs WHERE app_id = $1 AND removed_at IS NULL \
             ORDER BY device_id",
        )
        .bind(app_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("device_id")?, r.try_get("first_seen")?)))
            .collect()
    }

    // ---- policy -------------------------------------------------------------------------

    /// Publishes a new immutable policy version and makes it active; returns its number.
    pub async fn publish_policy(&self, name: &str, source: &str, actor: &str) -> Result<i64> {
        let now = now_ms();
        let sha = hash_secret(source);
        let mut tx = self.begin().await?;
        // Lock the counter first so concurrent publishers (several servers) serialize.
        let _ = lock_counter(&mut tx).await?;
        let prev: Option<i64> = sqlx::query("SELECT MAX(version) FROM policy_versions")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let version = prev.unwrap_or(0).saturating_add(1);
        sqlx::query(
            "INSERT INTO policy_versions (version, name, sha256, source, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(version)
        .bind(name)
        .bind(&sha)
        .bind(source)
        .bind(now)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            now,
            actor,
            "policy.published",
            &format!("policy/{version}"),
            json!({"before": {"version": prev}, "after": {"version": version, "name": name, "sha256": sha}}),
        )
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// The active (latest) policy version, with source.
    pub async fn active_policy(&self) -> Result<Option<PolicyVersion>> {
        let row = sqlx::query(
            "SELECT version, name, sha256, source, created_at, created_by FROM policy_versions \
             ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(policy_row).transpose()
    }

    /// One policy version, with source.
    pub async fn policy_version(&self, version: i64) -> Result<PolicyVersion> {
        let row = sqlx::query(
            "SELECT version, name, sha256, source, created_at, created_by FROM policy_versions \
             WHERE version = $1",
        )
        .bind(version)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound)?;
        policy_row(&row)
    }

    /// All versions, newest first, without sources.
    pub async fn policy_versions(&self) -> Result<Vec<PolicyVersion>> {
        let rows = sqlx::query(
            "SELECT version, name, sha256, '' AS source, created_at, created_by \
             FROM policy_versions ORDER BY version DESC",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(policy_row).collect()
    }

    // ---- exceptions ---------------------------------------------------------------------

    /// Records an exception request.
    pub async fn request_exception(
        &self,
        req: &NewException<'_>,
        actor: &str,
    ) -> Result<ExceptionRow> {
        let NewException {
            device_id,
            rule,
            app_id,
            basis,
            justification,
            expires,
        } = *req;
        let id = new_id("exc");
        let now = now_ms();
        let mut tx = self.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM devices WHERE id = $1")
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StorageError::NotFound);
        }
        sqlx::query(
            "INSERT INTO exceptions (id, device_id, rule, app_id, justification, expires, status, \
             requested_by, created_at, basis) \
             VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8, $9)",
        )
        .bind(&id)
        .bind(device_id)
        .bind(rule)
        .bind(app_id)
        .bind(justification)
        .bind(expires)
        .bind(actor)
        .bind(now)
        .bind(basis)
        .execute(&mut *tx)
        .await?;
        let row = ExceptionRow {
            id: id.clone(),
            device_id: device_id.to_string(),
            rule: rule.to_string(),
            app_id: app_id.map(str::to_string),
            justification: justification.to_string(),
            basis: Some(basis.to_string()),
            expires: expires.to_string(),
            status: "requested".to_string(),
            requested_by: actor.to_string(),
            decided_by: None,
        };
        append_event(
            &mut tx,
            now,
            actor,
            "exception.requested",
            &id,
            json!({"after": row}),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Approves or denies a requested exception, or revokes an approved one; `comment` (the
    /// decider's note) goes into the decision's event.
    /// The decider must differ from the requester ([`StorageError::Conflict`] otherwise).
    ///
    /// A revocation takes effect at once in every read model: in the same transaction, the open
    /// findings the exception covers get `excepted_until` set to the day before `day` (and before
    /// the UTC day), so the effective status shows them in grace or in violation now,
    /// as an expired exception would, without waiting for the device's next check-in; the days
    /// before the revocation keep their history in the burn-down series.
    pub async fn decide_exception(
        &self,
        id: &str,
        to: &str,
        actor: &str,
        comment: Option<&str>,
        day: &str,
    ) -> Result<ExceptionRow> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!("{EXCEPTION_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound)?;
        let mut exc = exception_row(&row)?;
        let allowed = matches!(
            (exc.status.as_str(), to),
            ("requested", "approved") | ("requested", "denied") | ("approved", "revoked")
        );
        if !allowed {
            return Err(StorageError::Conflict(format!(
                "exception is {}, cannot become {to}",
                exc.status
            )));
        }
        if to != "revoked" && exc.requested_by == actor {
            return Err(StorageError::Conflict(
                "the requester cannot decide their own exception".to_string(),
            ));
        }
        let before = exc.status.clone();
        sqlx::query(
            "UPDATE exceptions SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4",
        )
        .bind(to)
        .bind(actor)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        exc.status = to.to_string();
        exc.decided_by = Some(actor.to_string());
        let mut body = json!({"before": {"status": before}, "after": {"status": to}});
        if let Some(c) = comment {
            body["comment"] = json!(c);
        }
        if to == "revoked" {
            let utc = today();
            let first = if day < utc.as_str() {
                day
            } else {
                utc.as_str()
            };
            let until = app_policy::Date::parse(first)
                .map_err(|e| StorageError::Invalid(format!("day: {e}")))?;
            let until = app_policy::Date::from_days_since_epoch(
                i64::from(until.days_since_epoch()).saturating_sub(1),
            )
            .to_string();
            let n = sqlx::query(
                "UPDATE findings SET excepted_until = $1 WHERE exception_id = $2 \
                 AND resolved_at IS NULL AND status = 'excepted' AND excepted_until >= $1",
            )
            .bind(&until)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            body["findings_ended"] = json!(n);
            body["excepted_until"] = json!(until);
        }
        append_event(&mut tx, now, actor, &format!("exception.{to}"), id, body).await?;
        tx.commit().await?;
        Ok(exc)
    }

    /// One exception.
    pub async fn exception(&self, id: &str) -> Result<ExceptionRow> {
        let row = sqlx::query(&format!("{EXCEPTION_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound)?;
        exception_row(&row)
    }

    /// Exceptions, optionally only those with `status`.
    pub async fn exceptions(&self, status: Option<&str>) -> Result<Vec<ExceptionRow>> {
        let rows = match status {
            Some(s) => {
                sqlx::query(&format!(
                    "{EXCEPTION_COLUMNS} WHERE status = $1 ORDER BY id"
                ))
                .bind(s)
                .fetch_all(&self.read)
                .await?
            }
            None => {
                sqlx::query(&format!("{EXCEPTION_COLUMNS} ORDER BY id"))
                    .fetch_all(&self.read)
                    .await?
            }
        };
        rows.iter().map(exception_row).collect()
    }

    // ---- events -------------------------------------------------------------------------

    /// The sequence number of the last committed event (0: none).
    pub async fn last_event_seq(&self) -> Result<i64> {
        let row = sqlx::query("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS n FROM events")
            .fetch_one(&self.read)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Events with `seq > after`, oldest first, at most `limit` (1..=1000).
    pub async fn events(&self, after: i64, limit: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, subject, body FROM events WHERE seq > $1 \
             ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get("body")?;
                Ok(Event {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    body: serde_json::from_str(&body)
                        .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }

    /// Raw event bodies as stored (canonical JSON), for ledger and tests.
    pub async fn event_bodies(&self) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query("SELECT seq, body FROM events ORDER BY seq")
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("body")?)))
            .collect()
    }

    /// Sets a free-form metadata value (not audited: server bookkeeping only).
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Reads a metadata value.
    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }
}

/// The device columns, with `compliant`, `overdue` and `in_grace` derived from the open
/// findings as of `today`, so an ended grace period or an expired exception shows at once.
fn device_columns(today: &str) -> String {
    let has = |status: &str| {
        format!(
            "EXISTS (SELECT 1 FROM findings f WHERE f.device_id = devices.id \
             AND f.resolved_at IS NULL AND {} = '{status}')",
            effective_status_on(today)
        )
    };
    format!(
        "SELECT id, name, platform, serial, ownership, groups_json, enrolled_at, last_seen, \
         revoked_at, CASE WHEN {v} THEN 0 ELSE 1 END AS compliant, \
         CASE WHEN {v} THEN 1 ELSE 0 END AS overdue, \
         CASE WHEN {g} THEN 1 ELSE 0 END AS in_grace, policy_version, checkins, last_seq, \
         scope_source",
        v = has("violation"),
        g = has("in_grace"),
    )
}

/// [`findings::EFFECTIVE_STATUS`] with the day inlined (it is digits and dashes from
/// [`day_of`], never user input).
fn effective_status_on(today: &str) -> String {
    let safe: String = today
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    findings::EFFECTIVE_STATUS.replace("$1", &format!("'{safe}'"))
}

/// Today (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    day_of(now_ms())
}

const EXCEPTION_COLUMNS: &str = "SELECT id, device_id, rule, app_id, justification, basis, \
    expires, status, requested_by, decided_by FROM exceptions";

fn device_summary(r: &AnyRow) -> Result<DeviceSummary> {
    Ok(DeviceSummary {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        platform: r.try_get("platform")?,
        serial: r.try_get("serial")?,
        ownership: r.try_get("ownership")?,
        groups: groups_of(r)?,
        enrolled_at: r.try_get("enrolled_at")?,
        last_seen: r.try_get("last_seen")?,
        revoked_at: r.try_get("revoked_at")?,
        compliant: r.try_get::<i64, _>("compliant")? != 0,
        overdue: r.try_get::<i64, _>("overdue")? != 0,
        in_grace: r.try_get::<i64, _>("in_grace")? != 0,
        policy_version: r.try_get("policy_version")?,
        checkins: r.try_get("checkins")?,
        last_seq: r.try_get("last_seq")?,
        scope_source: r.try_get("scope_source")?,
    })
}

/// The `groups_json` column: a JSON array of group names.
fn groups_of(r: &AnyRow) -> Result<Vec<String>> {
    let groups: String = r.try_get("groups_json")?;
    serde_json::from_str(&groups).map_err(|e| StorageError::Corrupt(e.to_string()))
}

fn policy_row(r: &AnyRow) -> Result<PolicyVersion> {
    Ok(PolicyVersion {
        version: r.try_get("version")?,
        name: r.try_get("name")?,
        sha256: r.try_get("sha256")?,
        source: r.try_get("source")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

fn exception_row(r: &AnyRow) -> Result<ExceptionRow> {
    Ok(ExceptionRow {
        id: r.try_get("id")?,
        device_id: r.try_get("device_id")?,
        rule: r.try_get("rule")?,
        app_id: r.try_get("app_id")?,
        justification: r.try_get("justification")?,
        basis: r.try_get("basis")?,
        expires: r.try_get("expires")?,
        status: r.try_get("status")?,
        requested_by: r.try_get("requested_by")?,
        decided_by: r.try_get("decided_by")?,
    })
}

/// Locks the event counter row for this transaction and returns the next sequence number.
async fn lock_counter(tx: &mut Transaction<'static, Any>) -> Result<i64> {
    // The UPDATE takes the row lock (PostgreSQL) / the write lock (SQLite) until commit, so
    // sequence numbers are handed out in commit order.
    let row =
        sqlx::query("UPDATE event_counter SET next_seq = next_seq WHERE id = 1 RETURNING next_seq")
            .fetch_one(&mut **tx)
            .await?;
    Ok(row.try_get(0)?)
}

/// Appends one event in the caller's transaction.
async fn append_event(
    tx: &mut Transaction<'static, Any>,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    body: Value,
) -> Result<i64> {
    let row = sqlx::query(
        "UPDATE event_counter SET next_seq = next_seq + 1 WHERE id = 1 RETURNING next_seq - 1",
    )
    .fetch_one(&mut **tx)
    .await?;
    let seq: i64 = row.try_get(0)?;
    let body = canonical_json(&body);
    sqlx::query(
        "INSERT INTO events (seq, at, actor, action, subject, body) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(seq)
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(&body)
    .execute(&mut **tx)
    .await?;
    // The ledger leaf in the same transaction: no event without its leaf.
    if ledger::skipping_leaves() {
        return Ok(seq);
    }
    let entry = ledger::entry_bytes(seq, at, actor, action, subject, &body);
    ledger::append_leaf(tx, seq, entry.as_bytes()).await?;
    Ok(seq)
}

/// One statement for many unchanged check-ins: `UPDATE devices ... FROM (VALUES ...)`, which
/// SQLite (3.33+) and PostgreSQL both accept; VALUES columns are `column1`, `column2`, ... in
/// both. Every value is cast so PostgreSQL can type NULLs.
async fn bulk_touch(
    tx: &mut Transaction<'static, Any>,
    rows: &[(&CheckinWrite, i64, i64)],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut sql = String::from(
        "UPDATE devices SET last_seen = v.column2, compliant = v.column3, overdue = v.column4, \
         in_grace = v.column5, policy_version = v.column6, checkins = checkins + v.column7, \
         last_seq = CASE WHEN last_seq < v.column8 THEN v.column8 ELSE last_seq END FROM (VALUES ",
    );
    for i in 0..rows.len() {
        let b = i * 8;
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(CAST(${} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), \
             CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8
        ));
    }
    sql.push_str(") AS v WHERE devices.id = v.column1");
    let mut q = sqlx::query(&sql);
    for (c, count, seq) in rows {
        q = q
            .bind(c.device_id.as_str())
            .bind(c.at_ms)
            .bind(i64::from(c.compliant))
            .bind(i64::from(c.overdue))
            .bind(i64::from(c.in_grace))
            .bind(c.policy_version)
            .bind(*count)
            .bind(*seq);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

async fn apply_checkin(tx: &mut Transaction<'static, Any>, c: &CheckinWrite) -> Result<()> {
    let flags = (
        i64::from(c.compliant),
        i64::from(c.overdue),
        i64::from(c.in_grace),
    );
    match &c.inventory {
        None => {
            sqlx::query(
                "UPDATE devices SET last_seen = $1, compliant = $2, overdue = $3, in_grace = $4, \
                 policy_version = $5, checkins = checkins + 1, \
                 last_seq = CASE WHEN last_seq < $6 THEN $6 ELSE last_seq END WHERE id = $7",
            )
            .bind(c.at_ms)
            .bind(flags.0)
            .bind(flags.1)
            .bind(flags.2)
            .bind(c.policy_version)
            .bind(c.seq)
            .bind(&c.device_id)
            .execute(&mut **tx)
            .await?;
        }
        Some((hash, apps_json, apps)) => {
            let rows = sqlx::query(
                "SELECT app_id, version FROM installs WHERE device_id = $1 AND removed_at IS NULL",
            )
            .bind(&c.device_id)
            .fetch_all(&mut **tx)
            .await?;
            let mut current: BTreeMap<String, Option<String>> = BTreeMap::new();
            for r in &rows {
                current.insert(r.try_get(0)?, r.try_get(1)?);
            }
            let new: BTreeMap<&str, &StoredApp> = apps.iter().map(|a| (a.id.as_str(), a)).collect();
            let mut added = Vec::new();
            for (id, app) in &new {
                if let Some(version) = current.get(*id) {
                    if *version != app.version {
                        sqlx::query(
                            "UPDATE installs SET version = $1 WHERE device_id = $2 AND app_id = $3",
                        )
                        .bind(app.version.clone())
                        .bind(&c.device_id)
                        .bind(*id)
                        .execute(&mut **tx)
                        .await?;
                    }
                } else {
                    added.push((*id, app.version.as_deref()));
                }
            }
            // New installs: one multi-row statement per chunk, not one per app.
            for chunk in added.chunks(200) {
                let mut sql = String::from(
                    "INSERT INTO installs (device_id, app_id, version, first_seen, last_seen) VALUES ",
                );
                for i in 0..chunk.len() {
                    let b = i * 3;
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!(
                        "($1, ${}, ${}, ${}, ${})",
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 4
                    ));
                }
                sql.push_str(
                    " ON CONFLICT (device_id, app_id) DO UPDATE SET version = excluded.version, \
                     first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
                     removed_at = NULL",
                );
                let mut q = sqlx::query(&sql).bind(&c.device_id);
                for (id, version) in chunk {
                    q = q.bind(*id).bind(*version).bind(c.at_ms);
                }
                q.execute(&mut **tx).await?;
            }
            let added: Vec<&str> = added.iter().map(|(id, _)| *id).collect();
            let removed: Vec<&String> = current
                .keys()
                .filter(|id| !new.contains_key(id.as_str()))
                .collect();
            for id in &removed {
                sqlx::query(
                    "UPDATE installs SET removed_at = $1, last_seen = COALESCE((SELECT last_seen \
                     FROM devices WHERE id = $2), last_seen) WHERE device_id = $2 AND app_id = $3",
                )
                .bind(c.at_ms)
                .bind(&c.device_id)
                .bind(id.as_str())
                .execute(&mut **tx)
                .await?;
            }
            sqlx::query(
                "UPDATE devices SET last_seen = $1, compliant = $2, overdue = $3, in_grace = $4, \
                 policy_version = $5, checkins = checkins + 1, \
                 last_seq = CASE WHEN last_seq < $6 THEN $6 ELSE last_seq END WHERE id = $7",
            )
            .bind(c.at_ms)
            .bind(flags.0)
            .bind(flags.1)
            .bind(flags.2)
            .bind(c.policy_version)
            .bind(c.seq)
            .bind(&c.device_id)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO device_inventories (device_id, hash, apps_json) VALUES ($1, $2, $3) \
                 ON CONFLICT (device_id) DO UPDATE SET hash = excluded.hash, \
                 apps_json = excluded.apps_json",
            )
            .bind(&c.device_id)
            .bind(hash)
            .bind(apps_json)
            .execute(&mut **tx)
            .await?;
            if !added.is_empty() || !removed.is_empty() {
                append_event(
                    tx,
                    c.at_ms,
                    &c.device_id,
                    "device.inventory_changed",
                    &c.device_id,
                    json!({"installed": added, "removed": removed}),
                )
                .await?;
            }
        }
    }
    if let Some((hash, list)) = &c.findings {
        findings::sync_findings(tx, &c.device_id, c.at_ms, hash, list).await?;
    }
    findings::store_action_results(tx, &c.device_id, c.at_ms, &c.action_results).await?;
    if c.compliant != c.was_compliant {
        append_event(
            tx,
            c.at_ms,
            &c.device_id,
            "device.compliance_changed",
            &c.device_id,
            json!({"before": {"compliant": c.was_compliant}, "after": {"compliant": c.compliant, "policy_version": c.policy_version}}),
        )
        .await?;
    }
    Ok(())
}
