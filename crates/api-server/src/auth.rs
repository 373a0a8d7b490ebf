//! Authentication and authorization, in one place: a layer on every route that reads the
//! route's [`Access`] from the route table, checks the bearer token, rate-limits per token,
//! and hands the principal to the handler as a request extension.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::cache::{CachedDevice, DeviceCtx};
use crate::{bump, Access, ApiError, AppState};

fn bearer(req: &Request) -> Option<String> {
    let v = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let t = v.strip_prefix("Bearer ")?.trim();
    // Tokens are 64 hex characters: refuse anything else before touching storage.
    (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())).then(|| t.to_string())
}

pub(crate) async fn authorize(
    State((state, access)): State<(AppState, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    match check(&state, access, &mut req).await {
        Ok(()) => next.run(req).await,
        Err(e) => {
            if matches!(e, ApiError::Unauthorized | ApiError::Forbidden(_)) {
                bump(&state.metrics.auth_failures);
            }
            e.into_response()
        }
    }
}

async fn check(state: &AppState, access: Access, req: &mut Request) -> Result<(), ApiError> {
    match access {
        Access::Public | Access::EnrollSecret | Access::WebhookSignature => Ok(()),
        Access::Device => {
            let token = bearer(req).ok_or(ApiError::Unauthorized)?;
            let token_hash = storage::hash_secret(&token);
            state.limiter.check(&token_hash, &state.metrics)?;
            let device = match state.devices.get(&token_hash) {
                Some(d) => d,
                None => {
                    let auth = state
                        .store
                        .device_by_token(&token)
                        .await?
                        .ok_or(ApiError::Unauthorized)?;
                    let d = Arc::new(CachedDevice::from_auth(auth)?);
                    state.devices.put(&token_hash, Arc::clone(&d));
                    d
                }
            };
            req.extensions_mut()
                .insert(DeviceCtx { token_hash, device });
            Ok(())
        }
        Access::Role(min) => {
            // A Bearer token, or else a browser session (with its CSRF check).
            let p = crate::session::identify(state, req.method(), req.headers(), req.extensions())
                .await?
                .ok_or(ApiError::Unauthorized)?;
            if p.role < min {
                return Err(ApiError::Forbidden(format!(
                    "needs role {} or higher",
                    min.as_str()
                )));
            }
            req.extensions_mut().insert(p);
            Ok(())
        }
    }
}

/// Per-token token bucket (in memory, per server process).
pub(crate) struct RateLimiter {
    /// Tokens per second.
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate` requests per second, bursts of twice that.
    pub(crate) fn new(rate: u32) -> Self {
        RateLimiter {
            rate: f64::from(rate),
            burst: f64::from(rate) * 2.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `n` requests per minute, bursts of `n`.
    pub(crate) fn per_minute(n: u32) -> Self {
        RateLimiter {
            rate: f64::from(n) / 60.0,
            burst: f64::from(n),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn check(&self, key: &str, metrics: &crate::Metrics) -> Result<(), ApiError> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let burst = self.burst;
        let now = Instant::now();
        let mut map = self
            .buckets
            .lock()
            .map_err(|_| ApiError::Internal("rate limiter poisoned".into()))?;
        if map.len() > 1_000_000 {
            map.clear();
        }
        let entry = map.entry(key.to_string()).or_insert((burst, now));
        let elapsed = now.duration_since(entry.1).as_secs_f64();
        entry.0 = (entry.0 + elapsed * self.rate).min(burst);
        entry.1 = now;
        if entry.0 < 1.0 {
            bump(&metrics.rate_limited);
            // Whole seconds until the bucket holds a token again.
            let wait = ((1.0 - entry.0) / self.rate).ceil().clamp(1.0, 86_400.0);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            return Err(ApiError::RateLimited(wait as u64));
        }
        entry.0 -= 1.0;
        Ok(())
    }
}
