//! What the web dashboard (crate `web-dashboard`) needs from the server: who is acting, local
//! sign-in and sign-out, the active policy, and the writes with the API's own validation, so
//! the pages reuse the API's checks and never copy them.
//!
//! The dashboard's router is built by the function in [`Config::pages`](crate::Config) over
//! the server's state and merged under `/` beside the API (which stays under `/api/v1`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::{Extension, Json, Router};
use storage::{ApiPrincipal, Store};

use crate::session::{self, Source};
use crate::{handlers, ActivePolicy, ApiError, AppState};

/// Builds the pages' router over the server's state.
pub type PagesFn = fn(AppState) -> Router;

/// Why a sign-in from the page failed.
#[derive(Debug)]
pub enum SignInFailure {
    /// Wrong email or password, unknown or disabled account (one answer for all).
    Refused,
    /// Too many failures: wait this many seconds.
    Throttled(u64),
    /// Anything else (cross-site form, storage error).
    Other(ApiError),
}

impl AppState {
    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The calendar of the read models.
    pub fn time_zone(&self) -> &storage::Zone {
        &self.config.time_zone
    }

    /// Largest APK accepted, bytes (the dashboard's upload route takes the same limit).
    pub fn max_upload_bytes(&self) -> usize {
        self.config.max_upload_bytes.max(self.config.max_body_bytes)
    }

    /// Largest policy file accepted, bytes.
    pub fn max_policy_bytes(&self) -> usize {
        self.config.max_policy_bytes.max(self.config.max_body_bytes)
    }

    /// Seconds between a device's check-ins.
    pub fn checkin_interval_s(&self) -> u64 {
        self.config.next_checkin_s
    }

    /// The active policy version, parsed and compiled (none before the first publication).
    pub fn active(&self) -> Option<Arc<ActivePolicy>> {
        self.active_policy()
    }

    /// Who is acting on this request (token or session cookie), checking CSRF for
    /// state-changing requests through a session, as the API does.
    pub async fn principal(&self, parts: &Parts) -> Result<Option<ApiPrincipal>, ApiError> {
        session::identify(self, &parts.method, &parts.headers, &parts.extensions).await
    }

    /// Local sign-in as `POST /api/v1/sign-in` does it (throttling, events, CSRF): the
    /// `Set-Cookie` value of the new session.
    pub async fn sign_in(
        &self,
        parts: &Parts,
        email: &str,
        password: &str,
    ) -> Result<HeaderValue, SignInFailure> {
        let src = Source::from_parts(&parts.headers, &parts.extensions);
        let body = session::SignInBody::new(email, password);
        match session::sign_in(
            State(self.clone()),
            src,
            parts.headers.clone(),
            Ok(Json(body)),
        )
        .await
        {
            Ok(r) if r.status().is_success() => r
                .headers()
                .get(SET_COOKIE)
                .cloned()
                .ok_or(SignInFailure::Other(ApiError::Internal("no cookie".into()))),
            Ok(r) => Err(SignInFailure::Throttled(
                r.headers()
                    .get(axum::http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(60),
            )),
            Err(ApiError::Unauthorized) => Err(SignInFailure::Refused),
            Err(e) => Err(SignInFailure::Other(e)),
        }
    }

    /// Ends the session and answers the `Set-Cookie` value that clears it.
    pub async fn sign_out(&self, parts: &Parts, p: &ApiPrincipal) -> Result<HeaderValue, ApiError> {
        let src = Source::from_parts(&parts.headers, &parts.extensions);
        if let Some(hash) = &p.session {
            self.store.end_session(hash, &src.audit(&p.id)).await?;
        }
        session::cookie_header(self, "", 0)
    }

    /// `POST /api/v1/exceptions` with the same checks; `body` has its JSON fields.
    pub async fn request_exception(
        &self,
        p: ApiPrincipal,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        let req: handlers::ExceptionRequest =
            serde_json::from_value(body).map_err(|e| ApiError::Invalid(e.to_string()))?;
        let Json(v) =
            handlers::request_exception(State(self.clone()), Extension(p), Ok(Json(req))).await?;
        Ok(v)
    }

    /// Approves, denies or revokes an exception (`to`: `approved`, `denied`, `revoked`), as
    /// the API does (two-person rule, expiry re-checked, policy recompiled).
    pub async fn decide_exception(
        &self,
        p: &ApiPrincipal,
        id: &str,
        to: &str,
        comment: Option<&str>,
    ) -> Result<serde_json::Value, ApiError> {
        let body = match comment.filter(|c| !c.trim().is_empty()) {
            Some(c) => serde_json::to_vec(&serde_json::json!({ "comment": c }))
                .map_err(|e| ApiError::Internal(e.to_string()))?,
            None => Vec::new(),
        };
        let Json(v) = handlers::decide(self, p, id, to, &body).await?;
        Ok(v)
    }
}

/// What publishing a policy from the page did.
#[derive(Debug)]
pub struct Published {
    /// 200 published (or unchanged), 202 pending a second person's approval.
    pub status: axum::http::StatusCode,
    /// The API's answer (`version`, `status`, `text`, `proposal` ...).
    pub body: serde_json::Value,
}

impl AppState {
    /// `PUT /api/v1/policy?reason=` with the same checks (version order, limits, weakening
    /// becomes a proposal). The caller must hold the approver role.
    pub async fn publish_policy(
        &self,
        p: ApiPrincipal,
        source: String,
        reason: Option<String>,
    ) -> Result<Published, ApiError> {
        let q = handlers::PublishQuery::new(reason);
        let r = handlers::put_policy(
            State(self.clone()),
            Extension(p),
            Ok(axum::extract::Query(q)),
            source,
        )
        .await?;
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 16 * 1024 * 1024)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let body = serde_json::from_slice(&bytes).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Published { status, body })
    }
}

impl AppState {
    /// `POST /api/v1/users/{id}/role` (admin; not one's own role).
    pub async fn set_user_role(
        &self,
        parts: &Parts,
        p: ApiPrincipal,
        id: &str,
        role: storage::Role,
    ) -> Result<(), ApiError> {
        let src = Source::from_parts(&parts.headers, &parts.extensions);
        let body = crate::accounts::RoleBody::new(role);
        let _done = crate::accounts::set_role(
            State(self.clone()),
            Extension(p),
            src,
            axum::extract::Path(id.to_string()),
            Ok(Json(body)),
        )
        .await?;
        Ok(())
    }

    /// `POST /api/v1/tokens/{id}/revoke` (admin).
    pub async fn revoke_token(
        &self,
        parts: &Parts,
        p: ApiPrincipal,
        id: &str,
    ) -> Result<(), ApiError> {
        let src = Source::from_parts(&parts.headers, &parts.extensions);
        let _done = crate::accounts::revoke_token(
            State(self.clone()),
            Extension(p),
            src,
            axum::extract::Path(id.to_string()),
        )
        .await?;
        Ok(())
    }

    /// `POST /api/v1/enroll-secrets/rotate` with no groups (admin): the new secret, shown once.
    pub async fn rotate_enroll_secret(&self, p: ApiPrincipal) -> Result<String, ApiError> {
        let Json(v) = handlers::rotate_enroll_secret(
            State(self.clone()),
            Extension(p),
            Ok(Json(handlers::RotateRequest::default())),
        )
        .await?;
        Ok(v["enroll_secret"].as_str().unwrap_or_default().to_string())
    }

    /// Stores a dashboard setting and records who changed it, from where, in an event.
    pub async fn set_setting(
        &self,
        parts: &Parts,
        p: &ApiPrincipal,
        key: &str,
        value: &str,
    ) -> Result<(), ApiError> {
        let src = Source::from_parts(&parts.headers, &parts.extensions);
        self.store.set_meta(key, value).await?;
        self.store
            .record_security_event(
                "settings.changed",
                key,
                serde_json::json!({ "key": key, "value": value }),
                &src.audit(&p.id),
            )
            .await?;
        Ok(())
    }
}

impl AppState {
    /// `POST /api/v1/assessments` with the same analysis and storage: the stored summary, or
    /// the refusal's status and message.
    pub async fn upload_assessment(
        &self,
        p: ApiPrincipal,
        apk: axum::body::Bytes,
    ) -> Result<serde_json::Value, (axum::http::StatusCode, String)> {
        use axum::response::IntoResponse;
        match crate::assessments::upload(
            State(self.clone()),
            Extension(p),
            crate::assessments::ApkContentType,
            axum::http::HeaderMap::new(),
            axum::body::Body::from(apk),
        )
        .await
        {
            Ok((_, Json(v))) => Ok(v),
            Err(e) => {
                let message = e.to_string();
                Err((e.into_response().status(), message))
            }
        }
    }
}
