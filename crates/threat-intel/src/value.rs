//! Normalised values: host names, addresses and CIDR blocks, hashes.

use std::net::IpAddr;

/// Lowercase A-label form of a host name without the trailing dot, or `None` when it is
/// not a plausible host name (empty, spaces, invalid IDNA).
pub fn host_key(s: &str) -> Option<String> {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 1024 {
        return None;
    }
    if s.is_ascii() {
        if s.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'/')
        {
            return None;
        }
        return Some(s.to_ascii_lowercase());
    }
    idna::domain_to_ascii(s).ok().filter(|a| !a.is_empty())
}

/// Lowercase hex of a SHA-256, or `None` unless it is 64 hex digits (separators `:` allowed).
pub fn sha256_key(s: &str) -> Option<String> {
    let h: String = s.chars().filter(|c| *c != ':').collect();
    (h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| h.to_ascii_lowercase())
}

/// An address block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// Network address (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn mask(width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let all = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        all & !((1u128 << (width - prefix)) - 1).min(all)
    }
}

impl Cidr {
    /// Whether `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, wa) = bits(self.addr);
        let (b, wb) = bits(ip);
        wa == wb && (a & mask(wa, self.prefix)) == (b & mask(wa, self.prefix))
    }

    /// Whether `inner` is inside the block.
    pub fn contains_cidr(&self, inner: &Cidr) -> bool {
        inner.prefix >= self.prefix && self.contains(inner.addr)
    }
}

/// Parses `addr` or `addr/prefix` (IPv4 or IPv6).
pub fn parse_cidr(s: &str) -> Option<Cidr> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.trim().parse().ok()?;
    let width = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= width)?,
        None => width,
    };
    Some(Cidr { addr, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = parse_cidr("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let c = parse_cidr("2001:db8::/32").unwrap();
        assert!(c.contains("2001:db8:1::1".parse().unwrap()));
        assert!(parse_cidr("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(parse_cidr("1.2.3.4/33").is_none());
        assert!(parse_cidr("::/0").unwrap().contains("::1".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/8")
            .unwrap()
            .contains_cidr(&parse_cidr("10.2.0.0/16").unwrap()));
        assert_eq!(host_key("EXAMPLE.com."), Some("example.com".into()));
        assert_eq!(sha256_key(&"AB".repeat(32)), Some("ab".repeat(32)));
    }
}
