//! Who is acting: one reusable piece that turns a request into an [`ApiPrincipal`] (user id,
//! role, and whether through an API token or a browser session), plus local sign-in,
//! sign-out, the session cookie, CSRF protection for browser sessions, and sign-in throttling.
//!
//! * A request with `Authorization: Bearer` is judged by its token only (never by a cookie
//!   beside it) and is not subject to CSRF checks: browsers do not attach it by themselves.
//! * Otherwise the `interdict_session` cookie is looked up in the database on every request,
//!   so signing out, signing out everywhere, or disabling the account ends it at once on every
//!   server sharing the database.
//! * A state-changing request through a session must come from this site: `Sec-Fetch-Site`
//!   (when sent) must be `same-origin` or `none`, and `Origin` (when sent) must match `Host`.
//!   With `SameSite=Lax` on the cookie, this refuses cross-site POSTs in every browser.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{COOKIE, HOST, ORIGIN, RETRY_AFTER, SET_COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use storage::{ApiPrincipal, Audit};

use crate::{bump, ApiError, AppState};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "interdict_session";
/// Largest `Cookie` header read, bytes; a larger one is refused.
pub const MAX_COOKIE_HEADER: usize = 8 * 1024;
/// Largest `next=` accepted after sign-in, bytes.
const MAX_NEXT: usize = 2048;

/// Sign-in and session settings.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// A session ends after this long without a request (default 30 min).
    pub idle: Duration,
    /// A session ends this long after sign-in, whatever its use (default 12 h).
    pub absolute: Duration,
    /// `Secure` on the cookie: `None` means yes unless the server listens on loopback.
    pub cookie_secure: Option<bool>,
    /// Failed sign-ins allowed per account per window before `429` (default 5).
    pub max_failures_per_account: u32,
    /// Failed sign-ins allowed per source address per window before `429` (default 20).
    pub max_failures_per_address: u32,
    /// The throttling window (default 15 min).
    pub failure_window: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            cookie_secure: None,
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            failure_window: Duration::from_secs(15 * 60),
        }
    }
}

/// Per-server sign-in state: the cookie's `Secure` flag and the failure counters.
pub(crate) struct Accounts {
    pub(crate) secure: bool,
    throttle: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Accounts {
    pub(crate) fn new(config: &SessionConfig, listen: SocketAddr) -> Self {
        Accounts {
            secure: config.cookie_secure.unwrap_or(!listen.ip().is_loopback()),
            throttle: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds to wait when `key` has used up its failures in the current window.
    fn blocked(&self, key: &str, max: u32, window: Duration) -> Option<u64> {
        let map = self.throttle.lock().ok()?;
        let (n, start) = map.get(key)?;
        let elapsed = start.elapsed();
        (*n >= max && elapsed < window).then(|| (window - elapsed).as_secs().max(1))
    }

    /// Counts one use of `key`; `Some(seconds to wait)` once `max` uses were counted in the
    /// current window (the refused use is not counted).
    pub(crate) fn over(&self, key: &str, max: u32, window: Duration) -> Option<u64> {
        let wait = self.blocked(key, max, window);
        if wait.is_none() {
            self.fail(key, window);
        }
        wait
    }

    fn fail(&self, key: &str, window: Duration) {
        let Ok(mut map) = self.throttle.lock() else {
            return;
        };
        if map.len() > 100_000 {
            map.retain(|_, (_, start)| start.elapsed() < window);
        }
        let e = map.entry(key.to_string()).or_insert((0, Instant::now()));
        if e.1.elapsed() >= window {
            *e = (0, Instant::now());
        }
        e.0 = e.0.saturating_add(1);
    }

    fn clear(&self, key: &str) {
        if let Ok(mut map) = self.throttle.lock() {
            map.remove(key);
        }
    }
}

/// The request's source for the audit log: peer address and `User-Agent`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Source {
    pub(crate) address: String,
    pub(crate) user_agent: String,
}

impl Source {
    pub(crate) fn from_parts(headers: &HeaderMap, ext: &axum::http::Extensions) -> Source {
        let address = ext
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        let user_agent = headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().filter(|c| !c.is_control()).take(256).collect())
            .unwrap_or_default();
        Source {
            address,
            user_agent,
        }
    }

    pub(crate) fn audit(&self, actor: &str) -> Audit {
        Audit {
            actor: actor.to_string(),
            address: self.address.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Source::from_parts(&parts.headers, &parts.extensions))
    }
}

/// The session cookie's value: `Ok(None)` when there is none, an error when the header is
/// oversized or the value is not a session id's shape (64 hex digits).
fn session_cookie(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut found = None;
    let mut total = 0usize;
    for v in headers.get_all(COOKIE) {
        total = total.saturating_add(v.len());
        if total > MAX_COOKIE_HEADER {
            return Err(ApiError::Invalid(format!(
                "the Cookie header is larger than {MAX_COOKIE_HEADER} bytes; clear this site's cookies"
            )));
        }
        let Ok(s) = v.to_str() else {
            return Err(ApiError::Unauthorized);
        };
        for pair in s.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                if name == SESSION_COOKIE {
                    found = Some(value.trim_matches('"').to_string());
                }
            }
        }
    }
    match found {
        None => Ok(None),
        Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(Some(v)),
        Some(_) => Err(ApiError::Unauthorized),
    }
}

/// Whether a browser marks the request as coming from another site (Fetch Metadata first,
/// then `Origin` against `Host`). Requests with neither header are not from a browser.
pub(crate) fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or("null");
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .unwrap_or("");
    origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Who is acting on this request, if anyone: a Bearer token (its owner, with the lower of
/// the token's and the owner's roles), or else a live browser session. A state-changing
/// request through a session is refused when it comes from another site.
pub(crate) async fn identify(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    ext: &axum::http::Extensions,
) -> Result<Option<ApiPrincipal>, ApiError> {
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
        let t = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(ApiError::Unauthorized)?;
        state
            .limiter
            .check(&storage::hash_secret(t), &state.metrics)?;
        return Ok(state.store.api_principal(t).await?);
    }
    let Some(cookie) = session_cookie(headers)? else {
        return Ok(None);
    };
    let idle = i64::try_from(state.config.session.idle.as_millis()).unwrap_or(i64::MAX);
    let Some(s) = state.store.session(&cookie, idle).await? else {
        return Err(ApiError::Unauthorized);
    };
    let p = s.principal;
    if !is_safe(method) && cross_site(headers) {
        let src = Source::from_parts(headers, ext);
        state
            .store
            .record_security_event(
                "session.csrf_refused",
                &p.id,
                json!({"method": method.as_str()}),
                &src.audit(&p.id),
            )
            .await?;
        return Err(ApiError::Forbidden(
            "cross-site request refused: a state-changing request with a session cookie must \
             come from this site (Sec-Fetch-Site/Origin)"
                .into(),
        ));
    }
    state
        .limiter
        .check(p.session.as_deref().unwrap_or_default(), &state.metrics)?;
    Ok(Some(p))
}

pub(crate) fn cookie_header(
    state: &AppState,
    value: &str,
    max_age: u64,
) -> Result<HeaderValue, ApiError> {
    let secure = if state.accounts.secure {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Checks a post-sign-in destination: a path on this site only (no scheme, no `//host`, no
/// backslash tricks, no control characters).
pub(crate) fn safe_next(next: &str) -> bool {
    next.len() <= MAX_NEXT
        && next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInBody {
    email: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

impl SignInBody {
    /// A sign-in from the dashboard's form.
    pub(crate) fn new(email: &str, password: &str) -> Self {
        SignInBody {
            email: email.to_string(),
            password: password.to_string(),
            next: None,
        }
    }
}

pub(crate) fn too_many(retry_after: u64) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"error": format!(
            "too many failed sign-ins; try again in {retry_after} s"
        )})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        r.headers_mut().insert(RETRY_AFTER, v);
    }
    r
}

/// `POST /api/v1/sign-in`: email and password → a new session cookie. Every failure is the
/// same `401` after the same work (an unknown or disabled account verifies a dummy hash), and
/// an event names the reason for the auditors.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    src: Source,
    headers: HeaderMap,
    b: Result<Json<SignInBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = crate::handlers::body(b)?;
    if cross_site(&headers) {
        state
            .store
            .record_security_event(
                "session.csrf_refused",
                "anonymous",
                json!({"route": "sign-in"}),
                &src.audit("anonymous"),
            )
            .await?;
        return Err(ApiError::Forbidden(
            "cross-site sign-in refused: sign in from this site's own page".into(),
        ));
    }
    if let Some(next) = &b.next {
        if !safe_next(next) {
            let shown: String = next.chars().take(256).collect();
            state
                .store
                .record_security_event(
                    "session.open_redirect_refused",
                    "anonymous",
                    json!({"next": shown}),
                    &src.audit("anonymous"),
                )
                .await?;
            return Err(ApiError::Invalid(
                "next must be a path on this site (starting with one /)".into(),
            ));
        }
    }
    let cfg = &state.config.session;
    let email = storage::normalize_email(&b.email).unwrap_or_else(|_| b.email.to_lowercase());
    let acct_key = format!("acct:{email}");
    let addr_key = format!("addr:{}", src.address);
    for (key, max) in [
        (&acct_key, cfg.max_failures_per_account),
        (&addr_key, cfg.max_failures_per_address),
    ] {
        if let Some(wait) = state.accounts.blocked(key, max, cfg.failure_window) {
            bump(&state.metrics.auth_failures);
            tracing::warn!(address = %src.address, "sign-in throttled");
            return Ok(too_many(wait));
        }
    }
    let found = state.store.user_for_sign_in(&email).await?;
    let stored = found.as_ref().and_then(|(_, h)| h.clone());
    let password = b.password;
    let verified =
        tokio::task::spawn_blocking(move || storage::verify_password(&password, stored.as_deref()))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    let failure = match &found {
        None => Some("unknown_account"),
        Some((u, None)) if u.status == "active" => Some("no_local_password"),
        Some((u, _)) if u.status != "active" => Some("account_disabled"),
        _ if !verified => Some("wrong_password"),
        _ => None,
    };
    if let Some(reason) = failure {
        state.accounts.fail(&acct_key, cfg.failure_window);
        state.accounts.fail(&addr_key, cfg.failure_window);
        bump(&state.metrics.auth_failures);
        state
            .store
            .record_sign_in_failure(
                found.as_ref().map(|(u, _)| u.id.as_str()),
                &email,
                reason,
                &src.audit("anonymous"),
            )
            .await?;
        return Err(ApiError::Unauthorized);
    }
    let Some((user, _)) = found else {
        return Err(ApiError::Unauthorized);
    };
    state.accounts.clear(&acct_key);
    let absolute = i64::try_from(cfg.absolute.as_millis()).unwrap_or(i64::MAX);
    let secret = state
        .store
        .start_session(&user.id, "password", absolute, &src.audit(&user.id))
        .await?;
    let mut r = Json(json!({
        "user": user,
        "next": b.next.unwrap_or_else(|| "/".to_string()),
        "idle_timeout_s": cfg.idle.as_secs(),
        "expires_in_s": cfg.absolute.as_secs(),
    }))
    .into_response();
    r.headers_mut().insert(
        SET_COOKIE,
        cookie_header(&state, &secret, cfg.absolute.as_secs())?,
    );
    Ok(r)
}

/// `POST /api/v1/sign-out`: ends this browser session and clears the cookie.
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    src: Source,
) -> Result<Response, ApiError> {
    let Some(hash) = &p.session else {
        return Err(ApiError::Invalid(
            "sign-out ends a browser session; an API token is ended with \
             POST /api/v1/tokens/{id}/revoke"
                .into(),
        ));
    };
    state.store.end_session(hash, &src.audit(&p.id)).await?;
    let mut r = Json(json!({"signed_out": true})).into_response();
    r.headers_mut()
        .insert(SET_COOKIE, cookie_header(&state, "", 0)?);
    Ok(r)
}

/// `POST /api/v1/sign-out-everywhere`: ends every session of the caller's account.
pub(crate) async fn sign_out_everywhere(
    State(state): State<AppState>,
    Extension(p): Extension<ApiPrincipal>,
    src: Source,
) -> Result<Response, ApiError> {
    let n = state
        .store
        .end_all_sessions(&p.id, &src.audit(&p.id))
        .await?;
    let mut r = Json(json!({"sessions_ended": n})).into_response();
    r.headers_mut()
        .insert(SET_COOKIE, cookie_header(&state, "", 0)?);
    Ok(r)
}

/// `GET /api/v1/me`: who is acting.
pub(crate) async fn me(Extension(p): Extension<ApiPrincipal>) -> Json<serde_json::Value> {
    Json(json!({
        "id": p.id,
        "role": p.role,
        "name": p.name,
        "via": if p.session.is_some() { "session" } else { "token" },
        "token_id": p.token_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_this_site() {
        for ok in ["/", "/dashboard", "/exceptions?status=requested"] {
            assert!(safe_next(ok), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a b",
            "/\tx",
            "",
        ] {
            assert!(!safe_next(bad), "{bad}");
        }
    }

    #[test]
    fn cross_site_reads_fetch_metadata_then_origin() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert!(!cross_site(&h(&[])));
        assert!(!cross_site(&h(&[("sec-fetch-site", "same-origin")])));
        assert!(cross_site(&h(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&h(&[("sec-fetch-site", "same-site")])));
        assert!(!cross_site(&h(&[
            ("origin", "http://a.example:8080"),
            ("host", "a.example:8080")
        ])));
        assert!(cross_site(&h(&[
            ("origin", "http://evil.example"),
            ("host", "a.example:8080")
        ])));
        assert!(cross_site(&h(&[("origin", "null"), ("host", "a.example")])));
    }

    #[test]
    fn throttle_counts_per_key_and_window() {
        let a = Accounts::new(
            &SessionConfig::default(),
            "127.0.0.1:0".parse().expect("addr"),
        );
        assert!(!a.secure, "loopback: no Secure flag");
        let w = Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(a.over("k", 3, w), None);
        }
        let wait = a.over("k", 3, w).expect("blocked");
        assert!((1..=60).contains(&wait));
        assert_eq!(a.over("other", 3, w), None);
        a.clear("k");
        assert_eq!(a.over("k", 3, w), None);
        // An elapsed window starts again.
        assert_eq!(a.blocked("k", 1, Duration::ZERO), None);
        let public = Accounts::new(
            &SessionConfig::default(),
            "0.0.0.0:443".parse().expect("addr"),
        );
        assert!(public.secure);
    }

    #[test]
    fn session_cookie_shape() {
        let mut m = HeaderMap::new();
        assert!(matches!(session_cookie(&m), Ok(None)));
        m.insert(
            COOKIE,
            HeaderValue::from_static("a=b; interdict_session=xyz"),
        );
        assert!(session_cookie(&m).is_err());
        let good = format!("other=1; {SESSION_COOKIE}={}", "ab".repeat(32));
        m.insert(COOKIE, HeaderValue::from_str(&good).unwrap());
        assert_eq!(session_cookie(&m).unwrap(), Some("ab".repeat(32)));
        let big = format!("x={}", "a".repeat(MAX_COOKIE_HEADER));
        m.insert(COOKIE, HeaderValue::from_str(&big).unwrap());
        assert!(matches!(session_cookie(&m), Err(ApiError::Invalid(_))));
    }
}
