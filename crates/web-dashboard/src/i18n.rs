//! The two catalogues (English and French), compiled into the binary from `i18n/*.txt`
//! (`key = text` lines, `#` comments), and the language of a request.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};
use axum::http::HeaderMap;

/// The language cookie's name.
pub const LANG_COOKIE: &str = "interdict_lang";

const EN: &str = include_str!("../i18n/en.txt");
const FR: &str = include_str!("../i18n/fr.txt");

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

impl Lang {
    /// The BCP 47 tag (`lang` attribute).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The other language (the switcher's target).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Fr,
            Lang::Fr => Lang::En,
        }
    }

    /// `en` or `fr` (anything else: none).
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    /// The request's language: the cookie set by the switcher, else the first `en` or `fr`
    /// of `Accept-Language` by quality, else English.
    pub fn of(headers: &HeaderMap) -> Lang {
        for v in headers.get_all(COOKIE) {
            let Ok(s) = v.to_str() else { continue };
            for pair in s.split(';') {
                if let Some((LANG_COOKIE, value)) = pair.trim().split_once('=') {
                    if let Some(l) = Lang::parse(value) {
                        return l;
                    }
                }
            }
        }
        let accept = headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Lang::from_accept(accept)
    }

    /// The best of `en` and `fr` in an `Accept-Language` value (English when neither).
    pub fn from_accept(accept: &str) -> Lang {
        let mut best: Option<(u32, usize, Lang)> = None;
        for (i, item) in accept.split(',').take(32).enumerate() {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let Some(lang) = Lang::parse(primary) else {
                continue;
            };
            let q = (q.clamp(0.0, 1.0) * 1000.0) as u32;
            if q == 0 {
                continue;
            }
            if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map_or(Lang::En, |(_, _, l)| l)
    }
}

fn parse(src: &'static str) -> HashMap<&'static str, &'static str> {
    src.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn catalogue(lang: Lang) -> &'static HashMap<&'static str, &'static str> {
    static CATS: OnceLock<[HashMap<&'static str, &'static str>; 2]> = OnceLock::new();
    let cats = CATS.get_or_init(|| [parse(EN), parse(FR)]);
    match lang {
        Lang::En => &cats[0],
        Lang::Fr => &cats[1],
    }
}

/// The texts of one language, as the templates use them.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    /// The language.
    pub lang: Lang,
}

impl Tr {
    /// The text of `key` (the key itself when missing: a test keeps both catalogues whole).
    pub fn t(&self, key: &str) -> &'static str {
        catalogue(self.lang).get(key).copied().unwrap_or_else(|| {
            tracing::warn!(key, "missing catalogue key");
            "?"
        })
    }

    /// The text of `key` with `{0}`, `{1}` ... replaced by `args`.
    pub fn f(&self, key: &str, args: &[&dyn std::fmt::Display]) -> String {
        let mut s = self.t(key).to_string();
        for (i, a) in args.iter().enumerate() {
            s = s.replace(&format!("{{{i}}}"), &a.to_string());
        }
        s
    }

    /// `f` with one argument.
    pub fn f1(&self, key: &str, a: &dyn std::fmt::Display) -> String {
        self.f(key, &[a])
    }

    /// `f` with two arguments.
    pub fn f2(&self, key: &str, a: &dyn std::fmt::Display, b: &dyn std::fmt::Display) -> String {
        self.f(key, &[a, b])
    }

    /// A count, grouped per language (`1,234` / `1 234`).
    pub fn num(&self, n: &i64) -> String {
        crate::text::group_digits(*n, self.lang)
    }

    /// A Unix-ms time as a date and UTC time, per language.
    pub fn time(&self, ms: &i64) -> String {
        crate::text::format_time(*ms, self.lang)
    }

    /// An optional Unix-ms time (empty when none).
    pub fn otime(&self, ms: &Option<i64>) -> String {
        ms.map(|m| self.time(&m)).unwrap_or_default()
    }

    /// A `YYYY-MM-DD` date per language.
    pub fn date(&self, d: &str) -> String {
        crate::text::format_date(d, self.lang)
    }

    /// An optional date.
    pub fn odate(&self, d: &Option<String>) -> String {
        d.as_deref().map(|d| self.date(d)).unwrap_or_default()
    }

    /// The label of an exposure status.
    pub fn status(&self, s: &str) -> &'static str {
        match s {
            "violation" => self.t("status.violation"),
            "in_grace" => self.t("status.in_grace"),
            "excepted" => self.t("status.excepted"),
            "stale" => self.t("status.stale"),
            "never" => self.t("status.never"),
            "compliant" => self.t("status.compliant"),
            _ => self.t("status.review"),
        }
    }
}

/// Every key of a catalogue (for tests).
pub fn keys(lang: Lang) -> Vec<&'static str> {
    let mut k: Vec<_> = catalogue(lang).keys().copied().collect();
    k.sort_unstable();
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_have_the_same_keys() {
        let en = keys(Lang::En);
        let fr = keys(Lang::Fr);
        let missing_fr: Vec<_> = en.iter().filter(|k| !fr.contains(k)).collect();
        let missing_en: Vec<_> = fr.iter().filter(|k| !en.contains(k)).collect();
        assert!(missing_fr.is_empty(), "missing in fr.txt: {missing_fr:?}");
        assert!(missing_en.is_empty(), "missing in en.txt: {missing_en:?}");
        // Every line is a key = value pair: a typo does not silently drop a key.
        for src in [EN, FR] {
            for l in src.lines().map(str::trim) {
                assert!(
                    l.is_empty() || l.starts_with('#') || l.contains(" = "),
                    "not a key = text line: {l}"
                );
            }
        }
        assert_eq!(
            en.len(),
            EN.lines()
                .filter(|l| !l.starts_with('#') && l.contains(" = "))
                .count(),
            "a key is defined twice in en.txt"
        );
    }

    #[test]
    fn placeholders_match_between_languages() {
        for k in keys(Lang::En) {
            let count = |l| {
                (0..5)
                    .filter(|i| catalogue(l)[k].contains(&format!("{{{i}}}")))
                    .count()
            };
            assert_eq!(count(Lang::En), count(Lang::Fr), "placeholders of {k}");
        }
    }

    #[test]
    fn accept_language_picks_by_quality() {
        assert_eq!(Lang::from_accept(""), Lang::En);
        assert_eq!(Lang::from_accept("fr-CA,fr;q=0.9,en;q=0.8"), Lang::Fr);
        assert_eq!(Lang::from_accept("en-CA,fr;q=0.9"), Lang::En);
        assert_eq!(Lang::from_accept("de,fr;q=0.5,en;q=0.4"), Lang::Fr);
        assert_eq!(Lang::from_accept("fr;q=0,en;q=0.1"), Lang::En);
        assert_eq!(Lang::from_accept("de"), Lang::En);
    }

    #[test]
    fn cookie_overrides_accept_language() {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_LANGUAGE, "en".parse().unwrap());
        h.insert(COOKIE, "a=b; interdict_lang=fr".parse().unwrap());
        assert_eq!(Lang::of(&h), Lang::Fr);
    }
}
