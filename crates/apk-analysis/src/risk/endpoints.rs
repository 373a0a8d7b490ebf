//! Network endpoints (URLs, host names, IP literals) in strings.
//!
//! A string yields endpoints in two ways:
//! - every `scheme://` occurrence with a network scheme (`http`, `https`, `ws`, `wss`, `ftp`) is a URL whose
//!   authority must parse as a host name or IP literal (`https://%s/` is not an endpoint);
//! - a whole string that is a lowercase host name with a well-known top-level domain, or a dotted-quad IPv4
//!   address (optionally `:port`). Names that are also Java package names in the code (`android.net`) are not
//!   host names (checked in [`Collector::finish`], once every DEX file has been seen).

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::model::Endpoint;

/// Prefix of the source of endpoints named by the network security config.
pub(crate) const NSC_SOURCE: &str = "network_security_config";

/// URLs longer than this are truncated in the report.
const MAX_VALUE: usize = 2048;
/// At most this many distinct endpoints are kept; the rest are counted (see [`Collector::omitted`]).
pub(crate) const MAX_ENDPOINTS: usize = 10_000;
/// The longest scheme in [`SCHEMES`].
const MAX_SCHEME: usize = 5;

const SCHEMES: &[(&str, bool)] = &[
    ("https", false),
    ("http", true),
    ("wss", false),
    ("ws", true),
    ("ftp", true),
];

/// Top-level domains accepted for bare host names. Country codes that double as file extensions
/// (`.so`, `.sh`, `.md`, `.py`, `.rs`, `.pl`, `.js`-like) are left out on purpose.
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "co", "cn", "ru", "info", "biz", "app", "dev", "me", "tv", "us",
    "uk", "de", "fr", "jp", "kr", "in", "br", "eu", "ca", "au", "nl", "it", "es", "ch", "se", "no",
    "fi", "pl", "cz", "tw", "hk", "sg", "vn", "id", "th", "my", "ph", "tr", "ir", "ua", "by", "kz",
    "mx", "ar", "cl", "za", "ae", "sa", "il", "gov", "edu", "mil", "int", "xyz", "online", "site",
    "top", "cloud", "ai", "gg", "ly", "ms", "cc", "ws", "la", "su", "moe", "pro", "mobi", "link",
    "click", "tech", "store", "shop", "news", "live", "games", "bet", "vip", "club", "wang", "ren",
    "ink", "asia",
];

/// Collects endpoints, deduplicated by value, remembering every source.
#[derive(Default)]
pub(crate) struct Collector {
    map: BTreeMap<String, Endpoint>,
    /// Insertion order, so the report lists endpoints in the order they were found.
    order: Vec<String>,
    /// Distinct endpoints found after [`MAX_ENDPOINTS`] were kept (an upper bound: they are not deduplicated).
    omitted: u64,
}

impl Collector {
    fn add(
        &mut self,
        value: &str,
        host: String,
        kind: &'static str,
        cleartext: bool,
        source: &str,
    ) {
        // Cut before copying: a URL may run to the end of a long string, once per `://` in it.
        let mut cut = value.len().min(MAX_VALUE);
        while !value.is_char_boundary(cut) {
            cut = cut.saturating_sub(1);
        }
        let value = value.get(..cut).unwrap_or_default();
        let full = self.map.len() >= MAX_ENDPOINTS;
        match self.map.get_mut(value) {
            Some(e) => {
                if e.source != source
                    && !e.also_in.iter().any(|s| s == source)
                    && e.also_in.len() < 8
                {
                    e.also_in.push(source.to_owned());
                }
            }
            None if full => self.omitted += 1,
            None => {
                let value = value.to_owned();
                self.order.push(value.clone());
                self.map.insert(
                    value.clone(),
                    Endpoint {
                        value,
                        host,
                        kind,
                        cleartext,
                        source: source.to_owned(),
                        also_in: Vec::new(),
                    },
                );
            }
        }
    }

    /// Scans one string.
    pub(crate) fn scan(&mut self, s: &str, source: &str) {
        if s.len() < 4 {
            return;
        }
        if s.contains("://") {
            self.scan_urls(s, source);
            return;
        }
        if let Some((host, kind)) = bare_endpoint(s) {
            self.add(s, host, kind, false, source);
        }
    }

    /// Every `scheme://` occurrence in `s`. Linear in the length of `s`: each `://` is found by a
    /// forward search that never goes back, the end of the URL (the next terminator) is searched once
    /// and reused by every `://` before it, and the scheme is read back at most [`MAX_SCHEME`] letters.
    fn scan_urls(&mut self, s: &str, source: &str) {
        let bytes = s.as_bytes();
        let mut from = 0;
        // The first terminator at or after some earlier `from` (or the end of `s`): still the first one
        // at or after any later `from` up to it.
        let mut term_at: Option<usize> = None;
        while let Some(rel) = s.get(from..).and_then(|t| t.find("://")) {
            let at = from.saturating_add(rel);
            from = at.saturating_add(3);
            // The scheme: ASCII letters right before `://` (more than MAX_SCHEME letters is no scheme of ours).
            let mut start = at;
            while start > 0
                && at - start <= MAX_SCHEME
                && bytes.get(start - 1).is_some_and(u8::is_ascii_alphabetic)
            {
                start -= 1;
            }
            if at - start > MAX_SCHEME {
                continue;
            }
            let Some(scheme) = s.get(start..at) else {
                continue;
            };
            let scheme = scheme.to_ascii_lowercase();
            let Some(&(_, cleartext)) = SCHEMES.iter().find(|(n, _)| *n == scheme) else {
                continue;
            };
            // The URL ends at whitespace, a quote or angle bracket.
            let url_end = match term_at {
                Some(t) if t >= from => t,
                _ => {
                    let rest = s.get(from..).unwrap_or("");
                    let t = from
                        + rest
                            .find(|c: char| {
                                c.is_whitespace()
                                    || matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\')
                            })
                            .unwrap_or(rest.len());
                    term_at = Some(t);
                    t
                }
            };
            let len = url_end.saturating_sub(from);
            let Some(after) = s.get(from..url_end) else {
                continue;
            };
            let authority = after.split(['/', '?', '#']).next().unwrap_or("");
            let hostport = authority.rsplit('@').next().unwrap_or("");
            let Some(host) = parse_host_port(hostport) else {
                continue;
            };
            let Some(url) = s.get(start..from.saturating_add(len)) else {
                continue;
            };
            self.add(url, host, "url", cleartext, source);
        }
    }

    /// How many endpoints were left out because [`MAX_ENDPOINTS`] were already kept.
    pub(crate) fn omitted(&self) -> u64 {
        self.omitted
    }

    /// The endpoints in the order they were first found. `packages` holds the slashed package names of the
    /// code (`android/net`): a bare host name equal to one is a package name, unless the network security
    /// config names it.
    pub(crate) fn finish(mut self, packages: &HashSet<String>) -> Vec<Endpoint> {
        self.order
            .iter()
            .filter_map(|v| self.map.remove(v))
            .filter(|e| {
                e.kind != "host"
                    || e.source.starts_with(NSC_SOURCE)
                    || e.also_in.iter().any(|s| s.starts_with(NSC_SOURCE))
                    || !packages.contains(&e.value.replace('.', "/"))
            })
            .collect()
    }
}

/// A cheap test on raw (MUTF-8) string bytes: whether [`Collector::scan`] could find anything. True for
/// strings with `://`, and for short strings made only of the characters of a lowercase host name, an
/// IPv4 address and a port.
pub(crate) fn may_contain_endpoint(bytes: &[u8]) -> bool {
    if bytes.len() < 4 {
        return false;
    }
    if bytes.len() <= 253
        && bytes.contains(&b'.')
        && bytes.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_' | b':')
        })
    {
        return true;
    }
    // `contains` on one byte is a memchr; the window test runs only on strings with a colon.
    bytes.contains(&b':') && bytes.windows(3).any(|w| w == b"://")
}

/// `host`, `host:port`, `[v6]:port` → lowercase host (or IP), when valid.
fn parse_host_port(hp: &str) -> Option<String> {
    if let Some(rest) = hp.strip_prefix('[') {
        let (v6, _) = rest.split_once(']')?;
        return v6.parse::<Ipv6Addr>().ok().map(|a| a.to_string());
    }
    let host = match hp.rsplit_once(':') {
        Some((h, port))
            if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            h
        }
        Some((h, "")) => h,
        Some(_) => return None,
        None => hp,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<Ipv4Addr>().is_ok() || is_hostname(&host, false) {
        Some(host)
    } else {
        None
    }
}

/// A DNS name with at least two labels, letters/digits/hyphens (and `_` in leading labels), alphabetic TLD.
/// With `known_tld`, the TLD must also be in [`TLDS`].
fn is_hostname(h: &str, known_tld: bool) -> bool {
    if h.is_empty() || h.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = h.split('.').collect();
    if labels.len() < 2 {
        return h == "localhost";
    }
    let tld = labels.last().copied().unwrap_or("");
    if !tld.bytes().all(|b| b.is_ascii_lowercase()) || tld.len() < 2 {
        return false;
    }
    if known_tld && !TLDS.contains(&tld) {
        return false;
    }
    labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    })
}

/// A whole string that is a host name with a known TLD, or an IPv4 literal with an optional port.
fn bare_endpoint(s: &str) -> Option<(String, &'static str)> {
    if s.len() > 253
        || !s.contains('.')
        || !s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_' | b':')
        })
    {
        return None;
    }
    let (h, port) = match s.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, Some(p))
        }
        _ => (s, None),
    };
    if let Ok(ip) = h.parse::<Ipv4Addr>() {
        // Version-like strings (`1.2.3.4`, all octets < 10) are not endpoints.
        if ip.octets().iter().all(|&o| o < 10) || ip.is_unspecified() {
            return None;
        }
        return Some((ip.to_string(), "ip"));
    }
    if port.is_none() && is_hostname(h, true) && h.split('.').count() >= 2 {
        // At least one label must contain a letter that is not the TLD (rules out `1.com`-like noise).
        return Some((h.to_owned(), "host"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(strings: &[&str]) -> Vec<Endpoint> {
        let mut pk = HashSet::new();
        pk.insert("android/net".to_owned());
        let mut c = Collector::default();
        for s in strings {
            c.scan(s, "classes.dex");
        }
        c.finish(&pk)
    }

    #[test]
    fn urls_hosts_ips() {
        let e = scan(&[
            "https://api.example.com/v1",
            "see http://Tracking.Example.org:8080/x?y=1 now",
            "https://%s/path",
            "content://com.foo.provider/x",
            "10.0.0.1",
            "1.2.3.4",
            "192.168.1.254:8080",
            "ws://[::1]:80/live",
            "api.example.com",
            "android.net",
            "libfoo.so",
            "com.example.Foo",
            "support@example.com",
            "https://api.example.com/v1",
        ]);
        let v: Vec<(&str, &str, &str)> = e
            .iter()
            .map(|e| (e.value.as_str(), e.host.as_str(), e.kind))
            .collect();
        assert_eq!(
            v,
            vec![
                ("https://api.example.com/v1", "api.example.com", "url"),
                (
                    "http://Tracking.Example.org:8080/x?y=1",
                    "tracking.example.org",
                    "url"
                ),
                ("10.0.0.1", "10.0.0.1", "ip"),
                ("192.168.1.254:8080", "192.168.1.254", "ip"),
                ("ws://[::1]:80/live", "::1", "url"),
                ("api.example.com", "api.example.com", "host"),
            ]
        );
        assert!(e[1].cleartext && !e[0].cleartext);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "://",
            "a://",
            "http://",
            "http://[",
            "http://[::1",
            "é://é",
            "http://é.com",
            "x:://y",
        ] {
            let _ = scan(&[s]);
        }
    }
}
