//! What every connector's HTTP client shares: the client itself (rustls), the classes of
//! answers (retry, re-authenticate, conflict, fail), `Retry-After`, backoff, bounded bodies.

use std::time::Duration;

use crate::ConnError;

/// Largest response body read, bytes (a page of 100 devices with 150 apps each is ~5 MB).
pub const MAX_BODY: usize = 64 << 20;
/// Longest `Retry-After` honoured; longer waits are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Builds the client: rustls, no redirects off the service, `timeout` per request.
pub fn client(timeout: Duration) -> Result<reqwest::Client, ConnError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(30)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("interdict-connectors/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConnError::Config(format!("HTTP client: {e}")))
}

/// What to do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 2xx.
    Ok,
    /// 429, 500, 502, 503, 504: wait and retry.
    Retry,
    /// 401: the access token expired or was revoked; get a new one and retry.
    Reauth,
    /// 409 (and 412): someone else wrote first.
    Conflict,
    /// Anything else: the request is wrong; do not retry.
    Fail,
}

/// Classifies a status code.
pub fn classify(status: u16) -> Class {
    match status {
        200..=299 => Class::Ok,
        401 => Class::Reauth,
        409 | 412 => Class::Conflict,
        408 | 429 | 500 | 502 | 503 | 504 => Class::Retry,
        _ => Class::Fail,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is treated as absent), capped.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let s: u64 = v.trim().parse().ok()?;
    Some(Duration::from_secs(s).min(MAX_RETRY_AFTER))
}

/// Exponential backoff from `base`: base, 2·base, 4·base, ... capped at 60 s.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.min(16))
        .min(Duration::from_secs(60))
}

/// Reads a body up to [`MAX_BODY`] bytes.
pub async fn read_body(mut resp: reqwest::Response, url: &str) -> Result<Vec<u8>, ConnError> {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > MAX_BODY {
                    return Err(ConnError::Malformed {
                        url: url.to_string(),
                        message: format!("response larger than {MAX_BODY} bytes"),
                    });
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) => {
                return Err(ConnError::Transport {
                    method: "GET".into(),
                    url: url.to_string(),
                    message: format!("reading the body: {e}"),
                })
            }
        }
    }
}

/// The first 300 characters of a body, for error messages.
pub fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

/// Percent-encodes a query or form value (RFC 3986 unreserved characters kept).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Counters of one client's requests (shown with the sync's result).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counters {
    /// Requests sent.
    pub requests: u64,
    /// Retries after 429, 5xx or a transport failure.
    pub retries: u64,
    /// Access tokens fetched.
    pub tokens: u64,
}

/// A client's request counters and its pacing between retries: `Retry-After` when the
/// service sent one, else exponential backoff from the client's base step.
#[derive(Default)]
pub(crate) struct Pacing {
    counters: std::sync::Mutex<Counters>,
}

impl Pacing {
    /// The counters so far.
    pub(crate) fn counters(&self) -> Counters {
        self.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub(crate) fn count(&self, f: impl FnOnce(&mut Counters)) {
        if let Ok(mut c) = self.counters.lock() {
            f(&mut c);
        }
    }

    /// Waits before retry number `attempt`, and counts the retry.
    pub(crate) async fn wait(
        &self,
        base: Duration,
        attempt: u32,
        headers: Option<&reqwest::header::HeaderMap>,
    ) {
        let d = headers
            .and_then(retry_after)
            .unwrap_or_else(|| backoff(base, attempt));
        self.count(|c| c.retries += 1);
        tokio::time::sleep(d).await;
    }
}

/// Fetches an OAuth 2.0 access token: POSTs the form `form()` gives (built again for each
/// attempt, so that a signed assertion is fresh) to `url`, retrying transport failures, 429
/// and 5xx up to `attempts` times.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    url: &str,
    form: impl Fn() -> String,
    attempts: u32,
    pacing: &Pacing,
    base: Duration,
) -> Result<String, ConnError> {
    for attempt in 0..attempts {
        pacing.count(|c| c.requests += 1);
        let resp = http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form())
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) if attempt + 1 < attempts => {
                tracing::warn!(error = %e, "token endpoint unreachable; retrying");
                pacing.wait(base, attempt, None).await;
                continue;
            }
            Err(e) => {
                return Err(ConnError::Transport {
                    method: "POST".into(),
                    url: url.to_string(),
                    message: e.to_string(),
                })
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = read_body(resp, url).await?;
        match classify(status) {
            Class::Ok => {
                #[derive(serde::Deserialize)]
                struct Tok {
                    access_token: String,
                }
                let t: Tok = serde_json::from_slice(&body).map_err(|e| ConnError::Malformed {
                    url: url.to_string(),
                    message: e.to_string(),
                })?;
                pacing.count(|c| c.tokens += 1);
                return Ok(t.access_token);
            }
            Class::Retry if attempt + 1 < attempts => {
                pacing.wait(base, attempt, Some(&headers)).await;
            }
            _ => {
                return Err(ConnError::Auth(format!(
                    "token endpoint {url}: HTTP {status}: {}",
                    snippet(&body)
                )))
            }
        }
    }
    Err(ConnError::Auth(format!("token endpoint {url}: no answer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_backoff() {
        assert_eq!(classify(200), Class::Ok);
        assert_eq!(classify(429), Class::Retry);
        assert_eq!(classify(503), Class::Retry);
        assert_eq!(classify(401), Class::Reauth);
        assert_eq!(classify(409), Class::Conflict);
        assert_eq!(classify(400), Class::Fail);
        assert_eq!(
            backoff(Duration::from_millis(100), 3),
            Duration::from_millis(800)
        );
        assert_eq!(backoff(Duration::from_secs(1), 30), Duration::from_secs(60));
        assert_eq!(encode("a b:c/é"), "a%20b%3Ac%2F%C3%A9");
    }
}
