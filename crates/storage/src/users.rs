//! People and service accounts (`users`), the tokens they own, and browser sessions.
//!
//! Every change writes its event in the same transaction, with the actor and the request's
//! source (address and user agent) from an [`Audit`].

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{
    append_event, hash_secret, new_id, new_secret, now_ms, ApiPrincipal, Result, Role,
    StorageError, Store,
};

/// Who made a change, and from where: the event's actor and its `source`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Audit {
    /// The acting account (user id), or `cli`, `init`, `anonymous`.
    pub actor: String,
    /// The client's address (empty when not over the network).
    pub address: String,
    /// The client's `User-Agent` (truncated to 256 bytes).
    pub user_agent: String,
}

impl Audit {
    /// An audit context for a change made on the server host (no address).
    pub fn local(actor: &str) -> Audit {
        Audit {
            actor: actor.to_string(),
            address: String::new(),
            user_agent: String::new(),
        }
    }

    fn source(&self) -> serde_json::Value {
        json!({"address": self.address, "user_agent": self.user_agent})
    }
}

/// Longest display name, email or token name accepted, bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// A person or a service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Id (`usr_...`): the actor in events, the identity two-person rules compare.
    pub id: String,
    /// `person` or `service`.
    pub kind: String,
    /// Lowercased email (none for a service account).
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// `active` or `disabled`.
    pub status: String,
    /// Whether a local password is set.
    pub has_password: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Unix ms of the last successful sign-in.
    pub last_sign_in_at: Option<i64>,
}

/// A new account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// A service account acts only through tokens and has no email or password.
    pub service: bool,
    /// Email (persons); stored lowercased and trimmed.
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Argon2id PHC string (see [`crate::hash_password`]); none: SSO only, or no sign-in yet.
    pub password_hash: Option<String>,
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Token id.
    pub id: String,
    /// Label.
    pub name: String,
    /// The token's own role (it acts with the lower of this and its owner's role).
    pub role: Role,
    /// Owner (none: a token from before accounts, acting as its own service account).
    pub user_id: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub revoked_at: Option<i64>,
}

/// A live session as the authorization layer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAuth {
    /// The signed-in account.
    pub principal: ApiPrincipal,
    /// Unix ms of the last request seen.
    pub last_seen_at: i64,
    /// Unix ms of the absolute end.
    pub expires_at: i64,
}

/// Normalizes an email: trimmed, lowercased; checked for one `@` and a sane length.
pub fn normalize_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= MAX_NAME_BYTES
        && e.split('@').count() == 2
        && !e.starts_with('@')
        && !e.ends_with('@')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(e)
    } else {
        Err(StorageError::Invalid(format!(
            "{email:?} is not an email address (name@example.org)"
        )))
    }
}

fn check_text(field: &str, s: &str) -> Result<()> {
    if s.len() > MAX_NAME_BYTES || s.contains('\0') {
        return Err(StorageError::Invalid(format!(
            "{field} must be at most {MAX_NAME_BYTES} bytes, without NUL"
        )));
    }
    Ok(())
}

const USER_COLUMNS: &str = "SELECT id, kind, email, display_name, role, status, password_hash, \
    created_at, updated_at, last_sign_in_at FROM users";

fn user_row(r: &AnyRow) -> Result<User> {
    let role: String = r.try_get("role")?;
    let hash: Option<String> = r.try_get("password_hash")?;
    Ok(User {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        role: role.parse().map_err(StorageError::Corrupt)?,
        status: r.try_get("status")?,
        has_password: hash.is_some(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        last_sign_in_at: r.try_get("last_sign_in_at")?,
    })
}

impl Store {
    // ---- accounts -----------------------------------------------------------------------

    /// Creates an account (event `user.created`). An email already taken is a conflict.
    pub async fn create_user(&self, new: &NewUser, audit: &Audit) -> Result<User> {
        check_text("display name", &new.display_name)?;
        let email = match (&new.email, new.service) {
            (Some(e), false) => Some(normalize_email(e)?),
            (None, false) => {
                return Err(StorageError::Invalid(
                    "a person needs an email address".into(),
                ))
            }
            (Some(_), true) => {
                return Err(StorageError::Invalid(
                    "a service account has no email address".into(),
                ))
            }
            (None, true) => None,
        };
        if new.service && new.password_hash.is_some() {
            return Err(StorageError::Invalid(
                "a service account signs in only with tokens".into(),
            ));
        }
        if new.display_name.trim().is_empty() {
            return Err(StorageError::Invalid("a display name is required".into()));
        }
        let id = new_id("usr");
        let now = now_ms();
        let kind = if new.service { "service" } else { "person" };
        let mut tx = self.begin().await?;
        if let Some(e) = &email {
            let taken = sqlx::query("SELECT 1 FROM users WHERE email = $1")
                .bind(e)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(StorageError::Conflict(format!(
                    "an account with email {e} already exists"
                )));
            }
        }
        sqlx::query(
            "INSERT INTO users (id, kind, email, display_name, role, status, password_hash, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $7)",
        )
        .bind(&id)
        .bind(kind)
        .bind(email.as_deref())
        .bind(&new.display_name)
        .bind(new.role.as_str())
        .bind(new.password_hash.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            now,
            &audit.actor,
            "user.created",
            &id,
            json!({"after": {"kind": kind, "email": email, "display_name": new.display_name,
                "role": new.role.as_str(), "password": new.password_hash.is_some()},
                "source": audit.source()}),
        )
        .await?;
        tx.commit().await?;
        self.user(&id).await
    }

    /// One account by id.
    pub async fn user(&self, id: &str) -> Result<User> {
        let row = sqlx::query(&format!("{USER_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound)?;
        user_row(&row)
    }

    /// Every account, by email then id.
    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("{USER_COLUMNS} ORDER BY kind, email, id"))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(user_row).collect()
    }

    /// The account with this email and its password hash, for sign-in (any status).
    pub async fn user_for_sign_in(&self, email: &str) -> Result<Option<(User, Option<String>)>> {
        let Ok(email) = normalize_email(email) else {
            return Ok(None);
        };
        let row = sqlx::query(&format!(
            "{USER_COLUMNS} WHERE email = $1 AND kind = 'person'"
        ))
        .bind(&email)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| Ok((user_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    /// Disables or re-enables an account (events `user.disabled` / `user.enabled`). Disabling
    /// ends every session of the account in the same transaction; its tokens stop working
    /// at once (they are checked against the account on every request).
    pub async fn set_user_active(&self, id: &str, active: bool, audit: &Audit) -> Result<User> {
        let now = now_ms();
        let (to, action) = if active {
            ("active", "user.enabled")
        } else {
            ("disabled", "user.disabled")
        };
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE users SET status = $1, updated_at = $2 WHERE id = $3 AND status <> $1",
        )
        .bind(to)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            let exists = sqlx::query("SELECT 1 FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            return match exists {
                None => Err(StorageError::NotFound),
                Some(_) => Err(StorageError::Conflict(format!(
                    "the account is already {to}"
                ))),
            };
        }
        let mut ended = 0;
        if !active {
            ended = sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        append_event(
            &mut tx,
            now,
            &audit.actor,
            action,
            id,
            json!({"after": {"status": to}, "sessions_ended": ended, "source": audit.source()}),
        )
        .await?;
        tx.commit().await?;
        self.user(id).await
    }

    /// Changes an account's role (event `user.role_changed` with before and after).
    pub async fn set_user_role(&self, id: &str, role: Role, audit: &Audit) -> Result<User> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT role FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound)?;
        let before: String = row.try_get("role")?;
        sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
            .bind(role.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_event(
            &mut tx,
            now,
            &audit.actor,
            "user.role_changed",
            id,
            json!({"before": {"role": before}, "after": {"role": role.as_str()},
                "source": audit.source()}),
        )
        .await?;
        tx.commit().await?;
        self.user(id).await
    }

    /// Sets a person's password (event `user.password_set`); ends their other sessions.
    pub async fn set_user_password(&self, id: &str, phc: &str, audit: &Audit) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND kind = 'person'",
        )
        .bind(phc)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            now,
            &audit.actor,
            "user.password_set",
            id,
            json!({"source": audit.source()}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- tokens owned by accounts --------------------------------------------------------

    /// Creates a token owned by `user_id`; returns `(token id, secret)`. The token's role may
    /// not exceed its owner's. Event `token.created`.
    pub async fn create_user_token(
        &self,
        user_id: &str,
        role: Role,
        name: &str,
        audit: &Audit,
    ) -> Result<(String, String)> {
        check_text("token name", name)?;
        let owner = self.user(user_id).await?;
        if owner.status != "active" {
            return Err(StorageError::Conflict(
                "the account is disabled; enable it before giving it tokens".into(),
            ));
        }
        if role > owner.role {
            return Err(StorageError::Invalid(format!(
                "a token's role ({}) may not exceed its owner's ({})",
                role.as_str(),
                owner.role.as_str()
            )));
        }
        let id = new_id("tok");
        let secret = new_secret();
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, hash, role, name, created_at, user_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(hash_secret(&secret))
        .bind(role.as_str())
        .bind(name)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            now,
            &audit.actor,
            "token.created",
            &id,
            json!({"after": {"role": role.as_str(), "name": name, "user_id": user_id},
                "source": audit.source()}),
        )
        .await?;
        tx.commit().await?;
        Ok((id, secret))
    }

    /// Every token (never a secret or hash), newest first; only `user_id`'s when given.
    pub async fn api_tokens(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>> {
        let sql = "SELECT id, name, role, user_id, created_at, revoked_at FROM api_tokens";
        let rows = match user_id {
            Some(u) => {
                sqlx::query(&format!(
                    "{sql} WHERE user_id = $1 ORDER BY created_at DESC, id"
                ))
                .bind(u)
                .fetch_all(&self.read)
                .await?
            }
            None => {
                sqlx::query(&format!("{sql} ORDER BY created_at DESC, id"))
                    .fetch_all(&self.read)
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role")?;
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    role: role.parse().map_err(StorageError::Corrupt)?,
                    user_id: r.try_get("user_id")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a token (event `token.revoked` with its owner and the source). Every server
    /// checks tokens against the database on each request, so the token is refused at once.
    pub async fn revoke_token(&self, id: &str, audit: &Audit) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT user_id, revoked_at FROM api_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound)?;
        if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
            return Err(StorageError::Conflict(
                "the token is already revoked".into(),
            ));
        }
        let owner: Option<String> = row.try_get("user_id")?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_event(
            &mut tx,
            now,
            &audit.actor,
            "token.revoked",
            id,
            json!({"user_id": owner, "source": audit.source()}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- sign-in and sessions ------------------------------------------------------------

    /// Records a successful sign-in: a new session (its secret returned, stored only as its
    /// hash), the account's `last_sign_in_at`, and the event `session.signed_in`, in one
    /// transaction. `method` is `password` or `oidc`.
    pub async fn start_session(
        &self,
        user_id: &str,
        method: &str,
        absolute_ms: i64,
        audit: &Audit,
    ) -> Result<String> {
        let secret = new_secret();
        let hash = hash_secret(&secret);
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, method, created_at, last_seen_at, \
             expires_at, address, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .bind(&hash)
        .bind(user_id)
        .bind(method)
        .bind(now)
        .bind(now.saturating_add(absolute_ms))
        .bind(&audit.address)
        .bind(&audit.user_agent)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        append_event(
            &mut tx,
            now,
            user_id,
            "session.signed_in",
            user_id,
            json!({"method": method, "session": &hash[..16], "source": audit.source()}),
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Records a failed sign-in (event `session.sign_in_failed`): the account when one
    /// matched (`subject`), else `unknown`; the reason stays in the audit log, never in the
    /// answer.
    pub async fn record_sign_in_failure(
        &self,
        user_id: Option<&str>,
        attempted: &str,
        reason: &str,
        audit: &Audit,
    ) -> Result<()> {
        let now = now_ms();
        let attempted: String = attempted.chars().take(MAX_NAME_BYTES).collect();
        let mut tx = self.begin().await?;
        append_event(
            &mut tx,
            now,
            "anonymous",
            "session.sign_in_failed",
            user_id.unwrap_or("unknown"),
            json!({"attempted": attempted, "reason": reason, "source": audit.source()}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a refused, security-relevant request (a cross-site POST with a session, an
    /// open redirect in `next=`) as its own event.
    pub async fn record_security_event(
        &self,
        action: &str,
        subject: &str,
        mut body: serde_json::Value,
        audit: &Audit,
    ) -> Result<()> {
        if let Some(o) = body.as_object_mut() {
            o.insert("source".into(), audit.source());
        }
        let mut tx = self.begin().await?;
        append_event(&mut tx, now_ms(), &audit.actor, action, subject, body).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session with this cookie secret: not revoked, not past its absolute end or
    /// `idle_ms` of inactivity, of an active account. Refreshes `last_seen_at` at most once
    /// a minute.
    pub async fn session(&self, secret: &str, idle_ms: i64) -> Result<Option<SessionAuth>> {
        let Some(row) = self
            .row_by_secret(
                "SELECT s.id_hash AS hash, s.user_id, s.last_seen_at, s.expires_at, \
                 u.role, u.display_name FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.id_hash = $1 AND s.revoked_at IS NULL AND u.status = 'active'",
                secret,
            )
            .await?
        else {
            return Ok(None);
        };
        let now = now_ms();
        let last: i64 = row.try_get("last_seen_at")?;
        let expires: i64 = row.try_get("expires_at")?;
        if now >= expires || now.saturating_sub(last) >= idle_ms {
            return Ok(None);
        }
        let hash: String = row.try_get("hash")?;
        if now.saturating_sub(last) >= 60_000 {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(&hash)
                .execute(&self.write)
                .await?;
        }
        let role: String = row.try_get("role")?;
        Ok(Some(SessionAuth {
            principal: ApiPrincipal {
                id: row.try_get("user_id")?,
                role: role.parse().map_err(StorageError::Corrupt)?,
                name: row.try_get("display_name")?,
                token_id: None,
                session: Some(hash),
            },
            last_seen_at: last,
            expires_at: expires,
        }))
    }

    /// Ends one session (event `session.signed_out`).
    pub async fn end_session(&self, session_hash: &str, audit: &Audit) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE id_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(session_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StorageError::NotFound);
        }
        append_event(
            &mut tx,
            now,
            &audit.actor,
            "session.signed_out",
            &audit.actor,
            json!({"session": session_hash.get(..16).unwrap_or(""), "source": audit.source()}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends every session of an account (event `session.signed_out_everywhere`); returns how
    /// many were live.
    pub async fn end_all_sessions(&self, user_id: &str, audit: &Audit) -> Result<u64> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StorageError::NotFound);
        }
        let n = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        append_event(
            &mut tx,
            now,
            &audit.actor,
            "session.signed_out_everywhere",
            user_id,
            json!({"sessions_ended": n, "source": audit.source()}),
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// A single sign-on attempt in flight (see [`Store::put_sso_pending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoPending {
    /// The ID token's expected nonce.
    pub nonce: String,
    /// The PKCE code verifier.
    pub pkce_verifier: String,
    /// Where to send the browser after sign-in (already checked to be a local path).
    pub next: String,
}

impl Store {
    /// Stores a sign-on attempt under the hash of its `state`; drops attempts older than
    /// `max_age_ms`.
    pub async fn put_sso_pending(
        &self,
        state: &str,
        p: &SsoPending,
        max_age_ms: i64,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query("DELETE FROM sso_pending WHERE created_at < $1")
            .bind(now.saturating_sub(max_age_ms))
            .execute(&self.write)
            .await?;
        sqlx::query(
            "INSERT INTO sso_pending (state_hash, nonce, pkce_verifier, next, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash_secret(state))
        .bind(&p.nonce)
        .bind(&p.pkce_verifier)
        .bind(&p.next)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Takes (deletes and returns) the attempt with this `state`, if it exists and is younger
    /// than `max_age_ms`: a state works once.
    pub async fn take_sso_pending(
        &self,
        state: &str,
        max_age_ms: i64,
    ) -> Result<Option<SsoPending>> {
        let row = sqlx::query(
            "DELETE FROM sso_pending WHERE state_hash = $1 \
             RETURNING nonce, pkce_verifier, next, created_at",
        )
        .bind(hash_secret(state))
        .fetch_optional(&self.write)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let created: i64 = r.try_get("created_at")?;
        if now_ms().saturating_sub(created) > max_age_ms {
            return Ok(None);
        }
        Ok(Some(SsoPending {
            nonce: r.try_get("nonce")?,
            pkce_verifier: r.try_get("pkce_verifier")?,
            next: r.try_get("next")?,
        }))
    }

    /// Signs in a person through single sign-on: the account linked by its (verified) email,
    /// its role set to `role` (the claim mapping) with a `user.role_changed` event when it
    /// differs, or, with `create`, a new account (`user.created`). Returns the account, or
    /// `None` when there is none and `create` is off, or it is disabled.
    pub async fn sso_account(
        &self,
        email: &str,
        display_name: &str,
        role: Role,
        create: bool,
        audit: &Audit,
    ) -> Result<Option<User>> {
        let email = normalize_email(email)?;
        match self.user_for_sign_in(&email).await? {
            Some((u, _)) if u.status != "active" => Ok(None),
            Some((u, _)) if u.role == role => Ok(Some(u)),
            Some((u, _)) => Ok(Some(self.set_user_role(&u.id, role, audit).await?)),
            None if create => {
                let name: String = display_name.chars().take(MAX_NAME_BYTES / 4).collect();
                let u = self
                    .create_user(
                        &NewUser {
                            service: false,
                            email: Some(email.clone()),
                            display_name: if name.trim().is_empty() { email } else { name },
                            role,
                            password_hash: None,
                        },
                        audit,
                    )
                    .await?;
                Ok(Some(u))
            }
            None => Ok(None),
        }
    }
}
