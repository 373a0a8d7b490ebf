//! Local passwords: Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), stored as a
//! PHC string; a length and common-password policy; and a fixed dummy hash so that a sign-in
//! for an unknown account costs the same as one for a known account.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most bytes a password may have (bounds the hashing work an attacker can ask for).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_CHARS`].
    #[error("the password has {0} characters; use at least {MIN_PASSWORD_CHARS} (a passphrase of several words is easiest)")]
    TooShort(usize),
    /// Longer than [`MAX_PASSWORD_BYTES`].
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// On the built-in list of common passwords, or one character repeated.
    #[error("the password is too common (it is on the list of passwords attackers try first); choose another")]
    Common,
    /// The stored hash is not a PHC string this server can verify.
    #[error("the stored password hash is not a valid Argon2 PHC string")]
    BadHash,
}

/// Passwords attackers try first (lowercase; compared case-insensitively), those of at least
/// [`MIN_PASSWORD_CHARS`] characters from the common breached-password top lists.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789123",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "abcdefghijkl",
    "administrator",
    "changeme1234",
    "iloveyou1234",
    "letmein12345",
    "passw0rd1234",
    "password1234",
    "password12345",
    "password123!",
    "password1234!",
    "passwordpassword",
    "q1w2e3r4t5y6",
    "qazwsxedcrfv",
    "qwerty123456",
    "qwertyuiop12",
    "qwertyuiopasdf",
    "superman1234",
    "trustno11234",
    "welcome12345",
    "welcome1234!",
    "zaq12wsxcde3",
    "correcthorsebatterystaple",
    "correct horse battery staple",
    "interdict1234",
    "interdictadmin",
    "admin1234567",
    "adminadmin12",
    "p@ssw0rd1234",
    "p@ssword1234",
    "summer202420",
    "winter202420",
    "000000000000",
    "111111111111",
    "aaaaaaaaaaaa",
];

/// Checks a new password against the policy (length, common list).
pub fn check_password_policy(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort(chars));
    }
    let lower = password.to_lowercase();
    let first = lower.chars().next();
    if COMMON.contains(&lower.as_str()) || lower.chars().all(|c| Some(c) == first) {
        return Err(PasswordError::Common);
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    #[allow(clippy::expect_used)]
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (after [`check_password_policy`]) into an Argon2id PHC string. CPU-bound
/// (tens of milliseconds): servers call it off the async threads.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_password_policy(password)?;
    let mut salt = [0u8; 16];
    // The OS RNG failing is unrecoverable for a server that stores credentials.
    #[allow(clippy::expect_used)]
    getrandom::getrandom(&mut salt).expect("the operating system's random source failed");
    let salt = SaltString::encode_b64(&salt).map_err(|_| PasswordError::BadHash)?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::BadHash)
}

/// Verifies `password` against a stored PHC string, or against a fixed dummy hash when there
/// is none (unknown account, SSO-only account), so both paths do the same work. Returns false
/// for the dummy. Over-long passwords are refused after the same work.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let candidate = if password.len() > MAX_PASSWORD_BYTES {
        &password.as_bytes()[..MAX_PASSWORD_BYTES]
    } else {
        password.as_bytes()
    };
    let (phc, real) = match stored {
        Some(s) => (s, password.len() <= MAX_PASSWORD_BYTES),
        None => (dummy_hash(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        // Do the work anyway: the timing must not tell a corrupt row from a wrong password.
        let _ = PasswordHash::new(dummy_hash())
            .map(|h| argon2().verify_password(candidate, &h).is_ok());
        return false;
    };
    let ok = argon2().verify_password(candidate, &parsed).is_ok();
    ok && real
}

/// A valid Argon2id hash of a random password nobody knows, made once per process.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut salt = [0u8; 16];
        let _ = getrandom::getrandom(&mut salt);
        let secret = crate::new_secret();
        SaltString::encode_b64(&salt)
            .ok()
            .and_then(|s| {
                argon2()
                    .hash_password(secret.as_bytes(), &s)
                    .ok()
                    .map(|h| h.to_string())
            })
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_short_long_and_common() {
        assert_eq!(
            check_password_policy("short"),
            Err(PasswordError::TooShort(5))
        );
        assert_eq!(
            check_password_policy("Password1234"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_password_policy("zzzzzzzzzzzzzz"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_password_policy(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(PasswordError::TooLong)
        );
        // Characters, not bytes: 12 accented letters pass.
        assert!(check_password_policy("éèêëàâäôöûüç").is_ok());
    }

    #[test]
    fn hash_is_argon2id_phc_and_verifies() {
        let h = hash_password("a long passphrase here").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("a long passphrase here", Some(&h)));
        assert!(!verify_password("a long passphrase herE", Some(&h)));
        assert!(!verify_password("a long passphrase here", None));
        assert!(!verify_password(
            "a long passphrase here",
            Some("not a phc string")
        ));
        assert_ne!(
            h,
            hash_password("a long passphrase here").unwrap(),
            "salted"
        );
    }
}
