//! Field caps on everything a client sends (issue 12, item 6): lengths in bytes, and no NUL
//! byte anywhere (PostgreSQL refuses NUL in text; SQLite would store it and cut it short in
//! some tools), so every backend sees the same, bounded strings.

use crate::ApiError;

/// Longest app id, bytes: Android's package-name limit.
pub(crate) const MAX_APP_ID: usize = 255;
/// Longest device name, serial, group name or token name, bytes.
pub(crate) const MAX_NAME: usize = 256;
/// Longest justification, bytes.
pub(crate) const MAX_JUSTIFICATION: usize = 4096;
/// Most groups per device or enrollment secret.
pub(crate) const MAX_GROUPS: usize = 64;
/// Longest other short text (versions, installers, publishers, signers, kinds, statuses).
pub(crate) const MAX_SHORT: usize = 1024;

/// `value` of `field` is at most `max` bytes and has no NUL byte.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::Invalid(format!(
            "{field} is {} bytes; the limit is {max}",
            value.len()
        )));
    }
    if value.contains('\0') {
        return Err(ApiError::Invalid(format!(
            "{field} contains a NUL byte; remove it"
        )));
    }
    Ok(())
}

/// Like [`text`] for an optional value.
pub(crate) fn opt(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    value.map_or(Ok(()), |v| text(field, v, max))
}

/// A list of group names: at most [`MAX_GROUPS`], each a valid name.
pub(crate) fn groups(field: &str, groups: &[String]) -> Result<(), ApiError> {
    if groups.len() > MAX_GROUPS {
        return Err(ApiError::Invalid(format!(
            "{field} has {} groups; the limit is {MAX_GROUPS}",
            groups.len()
        )));
    }
    for g in groups {
        text(field, g, MAX_NAME)?;
    }
    Ok(())
}

/// Every string of an app from an inventory.
pub(crate) fn app(i: usize, a: &app_policy::App) -> Result<(), ApiError> {
    let f = |name: &str| format!("apps[{i}].{name}");
    text(&f("id"), &a.id, MAX_APP_ID)?;
    opt(&f("version"), a.version.as_deref(), MAX_SHORT)?;
    opt(&f("installer"), a.installer.as_deref(), MAX_SHORT)?;
    opt(&f("publisher"), a.publisher.as_deref(), MAX_SHORT)?;
    if a.signers.len() > 16 {
        return Err(ApiError::Invalid(format!(
            "{} has {} signers; the limit is 16",
            f("signers"),
            a.signers.len()
        )));
    }
    for s in &a.signers {
        text(&f("signers[]"), s, MAX_SHORT)?;
    }
    Ok(())
}

/// Every string of an action result.
pub(crate) fn action_result(i: usize, r: &app_policy::ActionResult) -> Result<(), ApiError> {
    let f = |name: &str| format!("action_results[{i}].{name}");
    text(&f("id"), &r.id, 64)?;
    text(&f("app_id"), &r.app_id, MAX_APP_ID)?;
    text(&f("kind"), &r.kind, 32)?;
    text(&f("status"), &r.status, 32)?;
    text(&f("detail"), &r.detail, MAX_SHORT * 8)?;
    opt(&f("command"), r.command.as_deref(), MAX_SHORT * 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_nul() {
        assert!(text("x", &"a".repeat(255), MAX_APP_ID).is_ok());
        let e = text("apps[0].id", &"a".repeat(256), MAX_APP_ID)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("apps[0].id is 256 bytes; the limit is 255"),
            "{e}"
        );
        assert!(text("name", "a\0b", MAX_NAME).is_err());
        assert!(groups("groups", &vec!["g".to_string(); 65]).is_err());
    }
}
