//! Public keys and signature verification, delegated to the RustCrypto crates.

use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;

use crate::asn1::{oid_string, parse_one, tag, unsigned_bytes};

/// Largest RSA modulus accepted (apksig's corpus goes up to 16384 bits).
const MAX_RSA_BITS: usize = 16384;
/// Largest DSA prime accepted (FIPS 186-4 stops at 3072 bits).
const MAX_DSA_P_BITS: u64 = 3072;
/// Largest DSA subgroup order accepted (FIPS 186-4: 160, 224 or 256 bits).
const MAX_DSA_Q_BITS: u64 = 256;

/// A message digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum HashAlg {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha1 => Sha1::digest(data).to_vec(),
            HashAlg::Sha224 => Sha224::digest(data).to_vec(),
            HashAlg::Sha256 => Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// Digest over two parts (used for PKCS#7 signed attributes with the first byte replaced).
    pub(crate) fn digest2(self, a: &[u8], b: &[u8]) -> Vec<u8> {
        fn run<D: Digest>(a: &[u8], b: &[u8]) -> Vec<u8> {
            let mut h = D::new();
            h.update(a);
            h.update(b);
            h.finalize().to_vec()
        }
        match self {
            HashAlg::Sha1 => run::<Sha1>(a, b),
            HashAlg::Sha224 => run::<Sha224>(a, b),
            HashAlg::Sha256 => run::<Sha256>(a, b),
            HashAlg::Sha384 => run::<Sha384>(a, b),
            HashAlg::Sha512 => run::<Sha512>(a, b),
        }
    }

    /// Java's name ("SHA-256").
    pub(crate) fn jca_name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "SHA-1",
            HashAlg::Sha224 => "SHA-224",
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
            HashAlg::Sha512 => "SHA-512",
        }
    }

    pub(crate) fn from_oid(oid: &str) -> Option<Self> {
        Some(match oid {
            "1.3.14.3.2.26" => HashAlg::Sha1,
            "2.16.840.1.101.3.4.2.4" => HashAlg::Sha224,
            "2.16.840.1.101.3.4.2.1" => HashAlg::Sha256,
            "2.16.840.1.101.3.4.2.2" => HashAlg::Sha384,
            "2.16.840.1.101.3.4.2.3" => HashAlg::Sha512,
            _ => return None,
        })
    }
}

/// How a signature is computed from a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigKind {
    RsaPkcs1,
    RsaPss,
    Ecdsa,
    Dsa,
}

/// The key type of a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    Ec,
    Dsa,
}

enum EcKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

enum Inner {
    Rsa(RsaPublicKey),
    Ec(EcKey),
    Dsa(dsa::VerifyingKey),
}

/// A parsed public key.
pub(crate) struct PublicKey {
    inner: Inner,
    bits: u32,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({:?}, {} bits)", self.kind(), self.bits)
    }
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo (RSA, EC P-256/384/521, DSA).
    pub(crate) fn from_spki(spki: &[u8]) -> Option<Self> {
        let seq = parse_one(spki)?;
        let mut r = seq.children();
        let alg = r.expect(tag::SEQUENCE)?;
        let bits = r.expect(tag::BIT_STRING)?;
        let key_bytes = bits.content.get(1..)?;
        let mut a = alg.children();
        let oid = oid_string(a.expect(tag::OID)?.content);
        let params = a.next_tlv();
        match oid.as_str() {
            "1.2.840.113549.1.1.1" => {
                let k = parse_one(key_bytes)?;
                let mut kr = k.children();
                let n = unsigned_bytes(kr.expect(tag::INTEGER)?.content);
                let e = unsigned_bytes(kr.expect(tag::INTEGER)?.content);
                let n = BigUint::from_bytes_be(n);
                let e = BigUint::from_bytes_be(e);
                let nbits = u32::try_from(n.bits()).ok()?;
                let key = RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS).ok()?;
                Some(PublicKey {
                    inner: Inner::Rsa(key),
                    bits: nbits,
                })
            }
            "1.2.840.10045.2.1" => {
                let curve = oid_string(params.filter(|p| p.tag == tag::OID)?.content);
                let (key, bits) = match curve.as_str() {
                    "1.2.840.10045.3.1.7" => (
                        EcKey::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes).ok()?),
                        256,
                    ),
                    "1.3.132.0.34" => (
                        EcKey::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes).ok()?),
                        384,
                    ),
                    "1.3.132.0.35" => (
                        EcKey::P521(p521::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes).ok()?),
                        521,
                    ),
                    _ => return None,
                };
                Some(PublicKey {
                    inner: Inner::Ec(key),
                    bits,
                })
            }
            "1.2.840.10040.4.1" => {
                let p = params.filter(|p| p.tag == tag::SEQUENCE)?;
                let mut pr = p.children();
                let big = |t: Option<crate::asn1::Tlv<'_>>| {
                    t.map(|t| dsa::BigUint::from_bytes_be(unsigned_bytes(t.content)))
                };
                let pp = big(pr.expect(tag::INTEGER))?;
                let q = big(pr.expect(tag::INTEGER))?;
                let g = big(pr.expect(tag::INTEGER))?;
                let y = big(parse_one(key_bytes).filter(|t| t.tag == tag::INTEGER))?;
                let pbits = pp.bits() as u64;
                if pbits > MAX_DSA_P_BITS || q.bits() as u64 > MAX_DSA_Q_BITS {
                    return None;
                }
                let comps = dsa::Components::from_components(pp, q, g).ok()?;
                let key = dsa::VerifyingKey::from_components(comps, y).ok()?;
                Some(PublicKey {
                    inner: Inner::Dsa(key),
                    bits: u32::try_from(pbits).ok()?,
                })
            }
            _ => None,
        }
    }

    pub(crate) fn kind(&self) -> KeyKind {
        match self.inner {
            Inner::Rsa(_) => KeyKind::Rsa,
            Inner::Ec(_) => KeyKind::Ec,
            Inner::Dsa(_) => KeyKind::Dsa,
        }
    }

    pub(crate) fn bits(&self) -> u32 {
        self.bits
    }

    /// Verifies `sig` over `msg`. `Ok(false)`: the signature does not verify; `Err`: it could not
    /// even be checked (malformed signature encoding, key/algorithm mismatch) — Java's exceptions.
    pub(crate) fn verify(
        &self,
        kind: SigKind,
        hash: HashAlg,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<bool, String> {
        let digest = hash.digest(msg);
        self.verify_prehashed(kind, hash, &digest, sig)
    }

    pub(crate) fn verify_prehashed(
        &self,
        kind: SigKind,
        hash: HashAlg,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<bool, String> {
        match (&self.inner, kind) {
            (Inner::Rsa(k), SigKind::RsaPkcs1) => {
                let scheme = match hash {
                    HashAlg::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
                    HashAlg::Sha224 => Pkcs1v15Sign::new::<Sha224>(),
                    HashAlg::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
                    HashAlg::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
                    HashAlg::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
                };
                Ok(k.verify(scheme, digest, sig).is_ok())
            }
            (Inner::Rsa(k), SigKind::RsaPss) => {
                let scheme = match hash {
                    HashAlg::Sha256 => Pss::new_with_salt::<Sha256>(32),
                    HashAlg::Sha512 => Pss::new_with_salt::<Sha512>(64),
                    _ => return Err("unsupported PSS digest".into()),
                };
                Ok(k.verify(scheme, digest, sig).is_ok())
            }
            (Inner::Ec(k), SigKind::Ecdsa) => {
                // A digest shorter than the group order is the same integer left-padded with zeros
                // (the ecdsa crate wants at least half the field size).
                let field: usize = match k {
                    EcKey::P256(_) => 32,
                    EcKey::P384(_) => 48,
                    EcKey::P521(_) => 66,
                };
                let mut padded = vec![0u8; field.saturating_sub(digest.len())];
                padded.extend_from_slice(digest);
                let digest = &padded[..];
                let bad = |e: ecdsa::Error| format!("invalid ECDSA signature encoding: {e}");
                Ok(match k {
                    EcKey::P256(k) => {
                        let s = p256::ecdsa::Signature::from_der(sig).map_err(bad)?;
                        k.verify_prehash(digest, &s).is_ok()
                    }
                    EcKey::P384(k) => {
                        let s = p384::ecdsa::Signature::from_der(sig).map_err(bad)?;
                        k.verify_prehash(digest, &s).is_ok()
                    }
                    EcKey::P521(k) => {
                        let s = p521::ecdsa::Signature::from_der(sig).map_err(bad)?;
                        k.verify_prehash(digest, &s).is_ok()
                    }
                })
            }
            (Inner::Dsa(k), SigKind::Dsa) => {
                use der::Decode;
                let s = dsa::Signature::from_der(sig)
                    .map_err(|e| format!("invalid DSA signature encoding: {e}"))?;
                Ok(k.verify_prehash(digest, &s).is_ok())
            }
            _ => Err(format!("{kind:?} signature with a {:?} key", self.kind())),
        }
    }
}

#[cfg(test)]
mod dsa_bounds {
    use super::*;

    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut o = vec![tag];
        let n = content.len();
        if n < 0x80 {
            o.push(n as u8);
        } else {
            o.extend([0x82, (n >> 8) as u8, n as u8]);
        }
        o.extend_from_slice(content);
        o
    }

    /// The magnitude bytes of a number of exactly `bits` bits (top bit set), odd or even.
    fn num(bits: usize, odd: bool) -> Vec<u8> {
        let mut v = vec![0x5a; bits / 8];
        v[0] = 0x80;
        let l = v.len() - 1;
        v[l] = if odd { 0x5b } else { 0x5a };
        v
    }

    fn int(magnitude: &[u8]) -> Vec<u8> {
        let mut c = vec![0];
        c.extend_from_slice(magnitude);
        der(0x02, &c)
    }

    /// DSA parameters the `dsa` crate accepts: y = p - 1 and an even q, so y^q = 1 (mod p).
    fn dsa_spki(p_bits: usize, q_bits: usize) -> Vec<u8> {
        let p = num(p_bits, true);
        let y = num(p_bits, false); // p - 1
        let mut params = int(&p);
        params.extend(int(&num(q_bits, false)));
        params.extend(der(0x02, &[2]));
        let mut alg = der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01]);
        alg.extend(der(0x30, &params));
        let mut bits = vec![0];
        bits.extend(int(&y));
        let mut body = der(0x30, &alg);
        body.extend(der(0x03, &bits));
        der(0x30, &body)
    }

    #[test]
    fn dsa_parameters_beyond_fips_186_are_refused() {
        assert!(PublicKey::from_spki(&dsa_spki(2048, 256)).is_some());
        assert!(PublicKey::from_spki(&dsa_spki(3072, 256)).is_some());
        // Before: anything up to 8192 bits for p and for q.
        assert!(PublicKey::from_spki(&dsa_spki(4096, 256)).is_none());
        assert!(PublicKey::from_spki(&dsa_spki(2048, 512)).is_none());
        assert!(PublicKey::from_spki(&dsa_spki(8192, 8192)).is_none());
    }
}
