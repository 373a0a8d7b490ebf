//! Network exports of a blocklist, each in the form its consumer loads.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::list::Blocklist;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// DNS Response Policy Zone (BIND, Unbound `rpz:`, PowerDNS, Knot, DNS firewalls).
    Rpz,
    /// Unbound `local-zone: "d." always_nxdomain` lines under `server:`.
    Unbound,
    /// dnsmasq `address=/d/` lines (NXDOMAIN for the name and its subdomains).
    Dnsmasq,
    /// hosts file (`0.0.0.0 d`): exact names only.
    Hosts,
    /// Squid `dstdomain` list (`.d` per line, no entry below another).
    Squid,
    /// Suricata rules on `dns.query` and `tls.sni` with stable sids.
    Suricata,
    /// Plain-text External Dynamic List for firewalls (`d` and `*.d`).
    Edl,
    /// STIX 2.1 bundle of the ban's domains, for partners.
    Stix,
}

impl Format {
    /// All formats.
    pub const ALL: [Format; 8] = [
        Format::Rpz,
        Format::Unbound,
        Format::Dnsmasq,
        Format::Hosts,
        Format::Squid,
        Format::Suricata,
        Format::Edl,
        Format::Stix,
    ];

    /// Parses a format name as used on the command line and in URLs.
    pub fn parse(s: &str) -> Option<Format> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The name used on the command line and in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Format::Rpz => "rpz",
            Format::Unbound => "unbound",
            Format::Dnsmasq => "dnsmasq",
            Format::Hosts => "hosts",
            Format::Squid => "squid",
            Format::Suricata => "suricata",
            Format::Edl => "edl",
            Format::Stix => "stix",
        }
    }

    /// The media type to serve it with.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Stix => "application/stix+json;version=2.1",
            Format::Rpz => "text/dns",
            _ => "text/plain; charset=utf-8",
        }
    }
}

/// What goes into headers and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Policy name.
    pub policy: String,
    /// Policy version: the RPZ SOA serial (must increase with every change).
    pub version: u64,
    /// Generation time, RFC 3339 UTC with milliseconds (`2026-12-03T04:00:00.000Z`).
    pub generated: String,
    /// RPZ zone name (default `rpz.interdict`).
    pub zone: String,
    /// RPZ: answer with a CNAME to this notice host instead of NXDOMAIN.
    pub walled_garden: Option<String>,
    /// hosts: extra subdomain labels written for each entry (hosts files have no wildcards).
    pub hosts_subdomains: Vec<String>,
}

impl Meta {
    /// Metadata with the defaults.
    pub fn new(policy: &str, version: u64, generated: &str) -> Meta {
        Meta {
            policy: policy.to_string(),
            version,
            generated: generated.to_string(),
            zone: "rpz.interdict".to_string(),
            walled_garden: None,
            hosts_subdomains: vec!["www".to_string()],
        }
    }
}

/// Renders `list` in `format`.
pub fn render(list: &Blocklist, format: Format, meta: &Meta) -> String {
    let mut o = String::with_capacity(64 + list.entries.len() * 48);
    let header = |o: &mut String, c: &str| {
        let _ = writeln!(o, "{c} interdict network export ({})", format.name());
        let _ = writeln!(
            o,
            "{c} policy: {} version {}",
            clean(&meta.policy),
            meta.version
        );
        let _ = writeln!(o, "{c} generated: {}", meta.generated);
        let _ = writeln!(o, "{c} entries: {}", list.entries.len());
        let _ = writeln!(o, "{c} sha256 of sorted entries: {}", list.digest());
        if !list.removed.is_empty() {
            let _ = writeln!(
                o,
                "{c} never-block list removed {} name(s): {}",
                list.removed.len(),
                list.removed
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    };
    match format {
        Format::Rpz => {
            header(&mut o, ";");
            let _ = writeln!(o, "$TTL 300");
            let _ = writeln!(
                o,
                "@ IN SOA localhost. hostmaster.localhost. ( {} 3600 600 86400 300 )",
                meta.version
            );
            let _ = writeln!(o, "  IN NS localhost.");
            let target = match &meta.walled_garden {
                Some(w) => format!("{w}."),
                None => ".".to_string(),
            };
            for e in &list.entries {
                let _ = writeln!(o, "{} CNAME {target}", e.name);
                let _ = writeln!(o, "*.{} CNAME {target}", e.name);
            }
        }
        Format::Unbound => {
            header(&mut o, "#");
            o.push_str("server:\n");
            for e in &list.entries {
                let _ = writeln!(o, "    local-zone: \"{}.\" always_nxdomain", e.name);
            }
        }
        Format::Dnsmasq => {
            header(&mut o, "#");
            for e in &list.entries {
                let _ = writeln!(o, "address=/{}/", e.name);
            }
        }
        Format::Hosts => {
            header(&mut o, "#");
            let _ = writeln!(
                o,
                "# hosts files block exact names only: listed are each entry, {} and the subdomains seen in assessments",
                meta.hosts_subdomains
                    .iter()
                    .map(|s| format!("`{s}.`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut all = BTreeSet::new();
            for e in &list.entries {
                all.insert(e.name.clone());
                for s in &meta.hosts_subdomains {
                    let n = format!("{s}.{}", e.name);
                    if n.len() <= crate::name::MAX_NAME_LEN {
                        all.insert(n);
                    }
                }
            }
            all.extend(list.observed.iter().cloned());
            for n in all {
                let _ = writeln!(o, "0.0.0.0 {n}");
            }
        }
        Format::Squid => {
            header(&mut o, "#");
            for e in &list.entries {
                let _ = writeln!(o, ".{}", e.name);
            }
        }
        Format::Suricata => {
            header(&mut o, "#");
            for (e, sid) in list.entries.iter().zip(sids(list)) {
                let msg = format!(
                    "interdict ban {} ({} v{})",
                    e.name,
                    clean(&meta.policy),
                    meta.version
                );
                let _ = writeln!(
                    o,
                    "alert dns $HOME_NET any -> any any (msg:\"{msg} dns\"; dns.query; dotprefix; content:\".{}\"; endswith; nocase; classtype:policy-violation; sid:{}; rev:1;)",
                    e.name, sid
                );
                let _ = writeln!(
                    o,
                    "alert tls $HOME_NET any -> any any (msg:\"{msg} tls\"; tls.sni; dotprefix; content:\".{}\"; endswith; nocase; classtype:policy-violation; sid:{}; rev:1;)",
                    e.name,
                    sid + 1
                );
            }
        }
        Format::Edl => {
            for e in &list.entries {
                let _ = writeln!(o, "{}", e.name);
                let _ = writeln!(o, "*.{}", e.name);
            }
        }
        Format::Stix => o = stix_bundle(list, meta),
    }
    o
}

/// Text safe inside a comment or a quoted rule message.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '"' || c == ';' || c == '\\' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// First Suricata sid of the range interdict uses (even: dns, odd: tls).
pub const SID_BASE: u32 = 3_400_000_000;
const SID_SLOTS: u32 = 400_000_000;

/// Stable sids: from the SHA-256 of the name, so a name keeps its sid across versions;
/// the rare collision is resolved by probing in name order.
fn sids(list: &Blocklist) -> Vec<u32> {
    use sha2::Digest as _;
    let mut used = std::collections::HashSet::new();
    list.entries
        .iter()
        .map(|e| {
            let h = sha2::Sha256::digest(e.name.as_bytes());
            let mut slot = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) % SID_SLOTS;
            while !used.insert(slot) {
                slot = (slot + 1) % SID_SLOTS;
            }
            SID_BASE + slot * 2
        })
        .collect()
}

/// A UUID (version 5 layout, SHA-256 based) for deterministic STIX ids.
pub fn stable_uuid(kind: &str, key: &str) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"interdict\0");
    h.update(kind.as_bytes());
    h.update(b"\0");
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = crate::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn stix_bundle(list: &Blocklist, meta: &Meta) -> String {
    use serde_json::json;
    let identity = format!("identity--{}", stable_uuid("identity", &meta.policy));
    let mut objects = vec![json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": identity,
        "created": meta.generated,
        "modified": meta.generated,
        "name": format!("interdict policy {}", meta.policy),
        "identity_class": "organization",
    })];
    for e in &list.entries {
        let key = format!("{}\0{}", meta.policy, e.name);
        objects.push(json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": format!("indicator--{}", stable_uuid("indicator", &key)),
            "created_by_ref": identity,
            "created": meta.generated,
            "modified": meta.generated,
            "name": format!("Prohibited service domain {}", e.name),
            "description": format!(
                "Domain of a service prohibited by policy {} version {}; a policy decision, not an indication of malicious activity. Sources: {}",
                meta.policy, meta.version, e.sources.join("; ")
            ),
            "indicator_types": ["attribution"],
            "pattern": format!("[domain-name:value = '{0}' OR domain-name:value LIKE '%.{0}']", e.name),
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": meta.generated,
            "labels": ["interdict-ban"],
        }));
    }
    let bundle = json!({
        "type": "bundle",
        "id": format!("bundle--{}", stable_uuid("bundle", &format!("{}\0{}\0{}", meta.policy, meta.version, list.digest()))),
        "objects": objects,
    });
    let mut s = serde_json::to_string_pretty(&bundle).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::{Blocklist, Candidate};
    use crate::never::NeverBlock;

    fn list() -> Blocklist {
        let c = |n: &str| Candidate {
            name: n.into(),
            source: "src".into(),
            location: "l".into(),
        };
        Blocklist::build(
            &[
                c("wechat.com"),
                c("api.wechat.com"),
                c("kaspersky.com"),
                c("app-measurement.com"),
            ],
            &NeverBlock::shipped(),
        )
        .unwrap()
    }

    #[test]
    fn every_format_lists_every_entry() {
        let l = list();
        let m = Meta::new("p", 7, "2026-12-03T04:00:00.000Z");
        for f in Format::ALL {
            let s = render(&l, f, &m);
            assert!(s.contains("wechat.com"), "{f:?}");
            assert!(s.contains("kaspersky.com"), "{f:?}");
            assert!(!s.contains("0.0.0.0 app-measurement.com"), "{f:?}");
            assert_eq!(Format::parse(f.name()), Some(f));
        }
        let rpz = render(&l, Format::Rpz, &m);
        assert!(rpz.contains("( 7 3600"));
        assert!(rpz.contains("\nwechat.com CNAME .\n*.wechat.com CNAME .\n"));
        assert!(!rpz.contains("\napi.wechat.com"));
        let squid = render(&l, Format::Squid, &m);
        assert!(squid.contains("\n.wechat.com\n") && !squid.contains(".api.wechat.com"));
        let hosts = render(&l, Format::Hosts, &m);
        assert!(
            hosts.contains("0.0.0.0 api.wechat.com\n")
                && hosts.contains("0.0.0.0 www.wechat.com\n")
        );
    }

    #[test]
    fn sids_are_stable_and_distinct() {
        let l = list();
        let a = sids(&l);
        assert_eq!(a, sids(&l));
        assert!(a.iter().all(|s| *s >= SID_BASE && s % 2 == 0));
        let set: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(set.len(), a.len());
    }

    #[test]
    fn stix_bundle_is_json() {
        let s = render(
            &list(),
            Format::Stix,
            &Meta::new("p", 1, "2026-12-03T04:00:00.000Z"),
        );
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["objects"].as_array().unwrap().len(), 3);
        assert!(stable_uuid("a", "b").starts_with(&stable_uuid("a", "b")[..8]));
        assert_eq!(&stable_uuid("a", "b")[14..15], "5");
    }
}
