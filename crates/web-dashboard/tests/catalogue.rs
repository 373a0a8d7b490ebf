//! The catalogues cover every text the templates and pages use, and no template holds
//! user-visible text of its own.

use std::path::Path;

use web_dashboard::i18n::{keys, Lang};

fn files(dir: &str, ext: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == ext) {
            out.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).expect("read"),
            ));
        }
    }
    assert!(!out.is_empty(), "no *.{ext} in {}", dir.display());
    out
}

/// Every `"key.name"` literal passed to `t(`, `f1(`, `f2(` or `f(`, and every
/// `("status.x", ...)` pair in the page code.
fn used_keys(src: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while let Some(pos) = src[i..].find('"') {
        let start = i + pos + 1;
        let Some(len) = src[start..].find('"') else {
            break;
        };
        let lit = &src[start..start + len];
        let before = src[..start - 1].trim_end();
        let called = ["t(", "f1(", "f(", "f2(", "(", "count("]
            .iter()
            .any(|c| before.ends_with(c));
        if called
            && !lit.is_empty()
            && lit.contains('.')
            && lit
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_' || b.is_ascii_digit())
            && lit.split('.').count() >= 2
            && !lit.ends_with(".csv")
            && !lit.ends_with(".json")
            && !lit.ends_with(".html")
        {
            found.push(lit.to_string());
        }
        i = start + len + 1;
        if i >= bytes.len() {
            break;
        }
    }
    found
}

#[test]
fn every_key_used_is_in_both_catalogues() {
    let en = keys(Lang::En);
    let fr = keys(Lang::Fr);
    let mut sources = files("templates", "html");
    sources.extend(files("src", "rs"));
    let mut checked = 0;
    for (path, src) in &sources {
        for k in used_keys(src) {
            assert!(
                en.contains(&k.as_str()),
                "{path}: key {k} missing from en.txt"
            );
            assert!(
                fr.contains(&k.as_str()),
                "{path}: key {k} missing from fr.txt"
            );
            checked += 1;
        }
    }
    assert!(
        checked > 100,
        "only {checked} key uses found: the scanner is broken"
    );
}

/// The template with every `{{ }}`, `{% %}`, `{# #}` and tag removed, and the attributes
/// that carry visible or spoken text: what is left must be punctuation only.
#[test]
fn templates_have_no_hard_coded_text() {
    for (path, src) in files("templates", "html") {
        // Attributes read aloud or shown must come from an expression.
        for attr in ["aria-label=\"", "title=\"", "placeholder=\"", "alt=\""] {
            let mut rest = src.as_str();
            while let Some(p) = rest.find(attr) {
                let v = &rest[p + attr.len()..];
                assert!(
                    v.starts_with("{{"),
                    "{path}: {attr}... is not from the catalogue: {}",
                    &v[..v.len().min(40)]
                );
                rest = v;
            }
        }
        let mut text = String::new();
        let mut s = src.as_str();
        // Drop askama blocks first (they may contain `<` or `>`), then tags.
        while !s.is_empty() {
            if let Some(r) = s.strip_prefix("{{") {
                s = &r[r.find("}}").expect("closed {{") + 2..];
            } else if let Some(r) = s.strip_prefix("{%") {
                s = &r[r.find("%}").expect("closed {%") + 2..];
            } else if let Some(r) = s.strip_prefix("{#") {
                s = &r[r.find("#}").expect("closed {#") + 2..];
            } else if let Some(r) = s.strip_prefix('<') {
                let end = r.find('>').expect("closed tag");
                // Skip <title>...{% block %} content handled by the loop; tag body only.
                s = &r[end + 1..];
                text.push(' ');
            } else {
                let c = s.chars().next().expect("char");
                text.push(c);
                s = &s[c.len_utf8()..];
            }
        }
        for word in text.split_whitespace() {
            assert!(
                word.chars().all(|c| !c.is_alphanumeric()),
                "{path}: hard-coded text {word:?} (put it in i18n/en.txt and i18n/fr.txt)"
            );
        }
    }
}
