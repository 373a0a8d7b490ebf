//! Notifications: signed webhooks (e-mail comes next).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header of a webhook: `sha256=` and the hex HMAC-SHA256 of
/// `{timestamp}.{body}` under the shared secret.
pub const SIGNATURE_HEADER: &str = "X-Interdict-Signature";
/// The timestamp header (Unix seconds), part of the signed bytes (replay window).
pub const TIMESTAMP_HEADER: &str = "X-Interdict-Timestamp";

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
}
