//! Random secrets, their hashes, and constant-time comparison.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new 256-bit random secret as 64 lowercase hex characters.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    // The OS RNG failing is unrecoverable for a server that hands out credentials.
    #[allow(clippy::expect_used)]
    getrandom::getrandom(&mut bytes).expect("the operating system's random source failed");
    hex(&bytes)
}

/// SHA-256 of `secret`, lowercase hex: the only form in which secrets are stored.
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares two hashes in constant time.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = new_secret();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_secret());
        assert_eq!(hash_secret("abc").len(), 64);
        assert!(secrets_equal(&hash_secret("abc"), &hash_secret("abc")));
        assert!(!secrets_equal(&hash_secret("abc"), &hash_secret("abd")));
    }
}
