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
