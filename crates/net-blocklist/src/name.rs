//! Domain-name normalisation: lowercase, trailing dot stripped, IDNs to A-labels,
//! label syntax checked. Invalid names are refused with the position of the fault.

/// Longest name in presentation form without the trailing dot (RFC 1035: 255 octets on the
/// wire, so 253 characters).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid domain name `{name}` at character {position}: {reason}")]
pub struct NameError {
    /// The name as given (control characters escaped).
    pub name: String,
    /// 1-based character position of the fault in the name as given.
    pub position: usize,
    /// What is wrong and what to do.
    pub reason: String,
}

fn err(name: &str, position: usize, reason: impl Into<String>) -> NameError {
    NameError {
        name: name.escape_debug().to_string(),
        position,
        reason: reason.into(),
    }
}

/// Normalises one domain name for a blocklist.
///
/// Accepts letters, digits and `-` (and `_`, which real service names use) in each label,
/// non-ASCII labels (converted to A-labels with UTS #46), one trailing dot. Refuses empty
/// labels, labels over 63 characters, names over 253, wildcards (`*.d`: a listed name
/// already covers its subdomains), single-label names (a whole TLD), numeric TLDs (IP
/// addresses go to IP lists), and invalid `xn--` labels.
pub fn normalize(input: &str) -> Result<String, NameError> {
    let s = input.strip_suffix('.').unwrap_or(input);
    if s.is_empty() {
        return Err(err(input, 1, "empty name"));
    }
    if input.len() > 4 * (MAX_NAME_LEN + 1) {
        return Err(err(
            input,
            MAX_NAME_LEN + 1,
            format!("longer than {MAX_NAME_LEN} characters"),
        ));
    }
    let mut out = String::with_capacity(s.len());
    let mut pos = 1usize; // 1-based char position of the label start
    let mut labels = 0usize;
    for label in s.split('.') {
        let label_pos = pos;
        let n_chars = label.chars().count();
        if label.is_empty() {
            return Err(err(
                input,
                label_pos,
                "empty label (two dots in a row, or a leading dot)",
            ));
        }
        if !out.is_empty() {
            out.push('.');
        }
        if label.is_ascii() {
            for (i, c) in label.chars().enumerate() {
                let ok = c.is_ascii_alphanumeric() || c == '-' || c == '_';
                if !ok {
                    let reason = if c == '*' {
                        "wildcards are not allowed: a listed name already covers all its subdomains, list `d` instead of `*.d`".to_string()
                    } else if c.is_whitespace() || c.is_control() {
                        "whitespace or control character; one name per entry".to_string()
                    } else {
                        format!(
                            "character `{}` is not allowed in a host name (letters, digits, `-`)",
                            c.escape_debug()
                        )
                    };
                    return Err(err(input, label_pos + i, reason));
                }
            }
            if label.starts_with('-') {
                return Err(err(input, label_pos, "label starts with `-`"));
            }
            if label.ends_with('-') {
                return Err(err(input, label_pos + n_chars - 1, "label ends with `-`"));
            }
            let lower = label.to_ascii_lowercase();
            if lower.starts_with("xn--") {
                let (_, r) = idna::domain_to_unicode(&lower);
                if r.is_err() {
                    return Err(err(input, label_pos, "invalid `xn--` label (bad Punycode)"));
                }
            }
            if lower.len() > MAX_LABEL_LEN {
                return Err(err(
                    input,
                    label_pos + MAX_LABEL_LEN,
                    format!("label longer than {MAX_LABEL_LEN} characters"),
                ));
            }
            out.push_str(&lower);
        } else {
            match idna::domain_to_ascii_strict(label) {
                Ok(a) if !a.is_empty() && !a.contains('.') && a.len() <= MAX_LABEL_LEN => {
                    out.push_str(&a)
                }
                Ok(_) => {
                    return Err(err(
                        input,
                        label_pos,
                        "internationalised label does not map to one valid A-label",
                    ))
                }
                Err(_) => {
                    return Err(err(
                        input,
                        label_pos,
                        "internationalised label is not valid under IDNA (UTS #46)",
                    ))
                }
            }
        }
        labels += 1;
        pos = label_pos + n_chars + 1;
    }
    if out.len() > MAX_NAME_LEN {
        return Err(err(
            input,
            1,
            format!("longer than {MAX_NAME_LEN} characters once converted"),
        ));
    }
    if labels < 2 {
        return Err(err(
            input,
            1,
            "a single label is a whole top-level domain; list the registered domain instead",
        ));
    }
    let tld = out.rsplit('.').next().unwrap_or("");
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(
            input,
            1,
            "looks like an IP address; blocklists of names take domain names only",
        ));
    }
    Ok(out)
}

/// Whether `name` equals `parent` or is below it (both normalised).
pub fn is_within(name: &str, parent: &str) -> bool {
    name == parent
        || (name.len() > parent.len()
            && name.ends_with(parent)
            && name.as_bytes()[name.len() - parent.len() - 1] == b'.')
}

/// The proper parents of a normalised name, nearest first (`a.b.c` → `b.c`, `c`).
pub fn parents(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.').map(move |(i, _)| &name[i + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(normalize("WeChat.COM.").unwrap(), "wechat.com");
        assert_eq!(
            normalize("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(normalize("例え.テスト").unwrap(), "xn--r8jz45g.xn--zckzah");
        assert_eq!(
            normalize("XN--BCHER-KVA.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            normalize("_dmarc.example.com").unwrap(),
            "_dmarc.example.com"
        );
    }

    #[test]
    fn refuses_with_position() {
        let e = normalize("*.tiktok.com").unwrap_err();
        assert_eq!(e.position, 1);
        assert!(e.reason.contains("wildcard"));
        let e = normalize("a..b").unwrap_err();
        assert_eq!(e.position, 3);
        let e = normalize("good.ba d.com").unwrap_err();
        assert_eq!(e.position, 8);
        let e = normalize("x.-bad.com").unwrap_err();
        assert_eq!(e.position, 3);
        let e = normalize("com").unwrap_err();
        assert!(e.reason.contains("top-level"));
        assert!(normalize("10.0.0.1").is_err());
        assert!(normalize("xn--zz.com").is_err());
        assert!(normalize(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(normalize(&format!("{}com", "a.".repeat(130))).is_err());
        assert!(normalize("").is_err());
        assert!(normalize(".").is_err());
        assert!(normalize("https://x.com/").is_err());
    }

    #[test]
    fn within_and_parents() {
        assert!(is_within("a.wechat.com", "wechat.com"));
        assert!(is_within("wechat.com", "wechat.com"));
        assert!(!is_within("notwechat.com", "wechat.com"));
        assert_eq!(parents("a.b.c").collect::<Vec<_>>(), vec!["b.c", "c"]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(n) = normalize(&s) {
                let again = normalize(&n);
                proptest::prop_assert_eq!(again, Ok(n.clone()));
                proptest::prop_assert!(n.len() <= MAX_NAME_LEN);
                proptest::prop_assert!(n.is_ascii());
            }
        }
    }
}
