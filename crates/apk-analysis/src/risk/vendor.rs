//! Vendor attribution: the catalog (`data/vendors.toml`, extendable) and matching.

use serde::Deserialize;

use super::model::VendorMatch;

/// The built-in catalog.
pub const BUILTIN_TOML: &str = include_str!("../../data/vendors.toml");

/// One catalog entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vendor {
    /// Vendor name.
    pub name: String,
    /// ISO 3166-1 alpha-2 country of jurisdiction.
    pub country: String,
    /// Ownership notes.
    #[serde(default)]
    pub ownership: String,
    /// Package names: `x` matches `x` and `x.*`.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Substrings of the certificate subject organisation (case-insensitive).
    #[serde(default)]
    pub subject_organizations: Vec<String>,
    /// Signer certificate SHA-256 digests (hex, any case, `:` allowed).
    #[serde(default)]
    pub signer_sha256: Vec<String>,
    /// Apple Team IDs (10 characters, the signing certificate's subject OU and the CodeDirectory team).
    #[serde(default)]
    pub team_ids: Vec<String>,
    /// Public sources.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A `[[vendors]]` entry: the one vendor format that policies (`app-policy`) and assessments
/// read, so that an analyst enters a vendor's app ids, signer digests and Team IDs once.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogVendor {
    name: String,
    /// Optional in a policy's vendors; attribution then names no jurisdiction.
    #[serde(default)]
    country: String,
    #[serde(default)]
    ownership: String,
    #[serde(default)]
    app_ids: Vec<String>,
    /// Each ends with `.`; `com.tencent.` matches `com.tencent` and `com.tencent.*`.
    #[serde(default)]
    package_prefixes: Vec<String>,
    #[serde(default)]
    signer_sha256: Vec<String>,
    /// Policy matchers over inventories; not evidence in an APK (its certificates are hashed with SHA-256).
    #[serde(default)]
    #[allow(dead_code)]
    signer_sha1: Vec<String>,
    /// Desktop inventories' publisher names (policy matchers; not read from packages).
    #[serde(default)]
    #[allow(dead_code)]
    publishers: Vec<String>,
    #[serde(default)]
    subject_organizations: Vec<String>,
    #[serde(default)]
    team_ids: Vec<String>,
    #[serde(default)]
    references: Vec<String>,
    /// The network side (policy exports); not used for attribution.
    #[serde(default)]
    #[allow(dead_code)]
    domains: Vec<toml::Value>,
}

impl From<CatalogVendor> for Vendor {
    fn from(v: CatalogVendor) -> Vendor {
        let mut packages = v.app_ids;
        for p in v.package_prefixes {
            let p = p.trim_end_matches('.').to_string();
            if !p.is_empty() && !packages.contains(&p) {
                packages.push(p);
            }
        }
        Vendor {
            name: v.name,
            country: v.country,
            ownership: v.ownership,
            packages,
            subject_organizations: v.subject_organizations,
            signer_sha256: v.signer_sha256,
            team_ids: v.team_ids,
            sources: v.references,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    /// The shared format (what policies' `[[vendors]]` tables hold).
    #[serde(default)]
    vendors: Vec<CatalogVendor>,
    /// The older assessment-only format (`packages`, `sources`), still read.
    #[serde(default)]
    vendor: Vec<Vendor>,
    /// A policy file's other tables: a policy is also a catalog of its own vendors.
    #[serde(default)]
    #[allow(dead_code)]
    policy: Option<toml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    rules: Option<toml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    exceptions: Option<toml::Value>,
}

/// Why a catalog could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid vendor catalog: {0}")]
pub struct CatalogError(String);

/// A list of vendors.
#[derive(Debug, Clone, Default)]
pub struct VendorCatalog {
    /// Entries, in file order.
    pub vendors: Vec<Vendor>,
}

/// The certificate facts vendor attribution can use (from the signature verifier, when available).
#[derive(Debug, Clone, Default)]
pub struct SignerFacts {
    /// Signer certificates.
    pub certificates: Vec<SignerCert>,
}

/// One signer certificate.
#[derive(Debug, Clone, Default)]
pub struct SignerCert {
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
    /// Subject O= values.
    pub subject_organizations: Vec<String>,
    /// Whether the signature made with this certificate verified.
    pub verified: bool,
}

fn normalize_digest(d: &str) -> String {
    d.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl VendorCatalog {
    /// Parses a catalog: `[[vendors]]` tables in the format policies use (`data/vendors.toml`,
    /// or a policy file's own vendors), or the older `[[vendor]]` tables.
    pub fn parse(toml_text: &str) -> Result<VendorCatalog, CatalogError> {
        let f: CatalogFile = toml::from_str(toml_text).map_err(|e| CatalogError(e.to_string()))?;
        let mut all: Vec<Vendor> = f.vendors.into_iter().map(Vendor::from).collect();
        all.extend(f.vendor);
        for v in &all {
            let alpha2 = v.country.len() == 2 && v.country.bytes().all(|b| b.is_ascii_uppercase());
            if !alpha2 && !v.country.is_empty() {
                return Err(CatalogError(format!(
                    "vendor {:?}: country must be an ISO 3166-1 alpha-2 code like CN, got {:?}",
                    v.name, v.country
                )));
            }
            for d in &v.signer_sha256 {
                if normalize_digest(d).len() != 64 {
                    return Err(CatalogError(format!(
                        "vendor {:?}: signer_sha256 {d:?} is not 64 hex digits",
                        v.name
                    )));
                }
            }
        }
        Ok(VendorCatalog { vendors: all })
    }

    /// The built-in catalog.
    pub fn builtin() -> VendorCatalog {
        VendorCatalog::parse(BUILTIN_TOML).unwrap_or_default()
    }

    /// Attributes an iOS app: Team ID first (`team_id`), then the longest matching bundle id prefix
    /// (`package`). Both are self-asserted unless the signer chains to Apple.
    pub fn attribute_ios(
        &self,
        bundle_id: &str,
        team_ids: &[String],
        concern: &[String],
    ) -> Option<VendorMatch> {
        for team in team_ids {
            for v in &self.vendors {
                if v.team_ids.iter().any(|t| t.eq_ignore_ascii_case(team)) {
                    return Some(VendorMatch {
                        name: v.name.clone(),
                        country: v.country.clone(),
                        matched_by: "team_id",
                        matched_value: team.clone(),
                        ownership: v.ownership.clone(),
                        of_concern: concern.iter().any(|c| c.eq_ignore_ascii_case(&v.country)),
                        sources: v.sources.clone(),
                        verified: false,
                    });
                }
            }
        }
        self.attribute(bundle_id, &SignerFacts::default(), concern)
    }

    /// Adds `other`'s vendors; one with the same name replaces the existing entry.
    pub fn extend(&mut self, other: VendorCatalog) {
        for v in other.vendors {
            match self
                .vendors
                .iter_mut()
                .find(|x| x.name.eq_ignore_ascii_case(&v.name))
            {
                Some(x) => *x = v,
                None => self.vendors.push(v),
            }
        }
    }

    /// Adds `other`'s evidence: a vendor with the same name keeps what it had and gains the
    /// other's packages, digests, organisations, Team IDs and sources (country and ownership
    /// notes only where it had none). Used for a policy's own `[[vendors]]`, which usually
    /// repeat built-in vendors with fewer facts.
    pub fn merge(&mut self, other: VendorCatalog) {
        fn union(into: &mut Vec<String>, from: Vec<String>) {
            for x in from {
                if !into.iter().any(|y| y.eq_ignore_ascii_case(&x)) {
                    into.push(x);
                }
            }
        }
        for v in other.vendors {
            match self
                .vendors
                .iter_mut()
                .find(|x| x.name.eq_ignore_ascii_case(&v.name))
            {
                Some(x) => {
                    if x.country.is_empty() {
                        x.country = v.country;
                    }
                    if x.ownership.is_empty() {
                        x.ownership = v.ownership;
                    }
                    union(&mut x.packages, v.packages);
                    union(&mut x.subject_organizations, v.subject_organizations);
                    union(&mut x.signer_sha256, v.signer_sha256);
                    union(&mut x.team_ids, v.team_ids);
                    union(&mut x.sources, v.sources);
                }
                None => self.vendors.push(v),
            }
        }
    }

    /// Attributes an app: verified signer digest first, then certificate subject, then the longest matching
    /// package name. `concern` holds the jurisdictions of concern.
    pub fn attribute(
        &self,
        package: &str,
        signers: &SignerFacts,
        concern: &[String],
    ) -> Option<VendorMatch> {
        let make = |v: &Vendor, by: &'static str, value: &str| VendorMatch {
            name: v.name.clone(),
            country: v.country.clone(),
            matched_by: by,
            matched_value: value.to_owned(),
            ownership: v.ownership.clone(),
            of_concern: concern.iter().any(|c| c.eq_ignore_ascii_case(&v.country)),
            sources: v.sources.clone(),
            verified: false,
        };
        for cert in signers.certificates.iter().filter(|c| c.verified) {
            let digest = normalize_digest(&cert.sha256);
            for v in &self.vendors {
                if v.signer_sha256
                    .iter()
                    .any(|d| normalize_digest(d) == digest)
                {
                    return Some(make(v, "signer_sha256", &digest));
                }
            }
        }
        for cert in &signers.certificates {
            for org in &cert.subject_organizations {
                let lower = org.to_lowercase();
                for v in &self.vendors {
                    if v.subject_organizations
                        .iter()
                        .any(|s| !s.is_empty() && lower.contains(&s.to_lowercase()))
                    {
                        return Some(make(v, "certificate_subject", org));
                    }
                }
            }
        }
        let mut best: Option<(&Vendor, &str)> = None;
        for v in &self.vendors {
            for p in &v.packages {
                let hit = package == p
                    || package
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with('.'));
                if hit && best.is_none_or(|(_, b)| p.len() > b.len()) {
                    best = Some((v, p));
                }
            }
        }
        best.map(|(v, p)| make(v, "package", p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_attributes_the_banned_apps() {
        let c = VendorCatalog::builtin();
        assert_eq!(c.vendors.len(), 3);
        let concern = vec!["CN".to_owned()];
        let none = SignerFacts::default();
        let m = c.attribute("com.tencent.mm", &none, &concern).unwrap();
        assert_eq!(
            (m.name.as_str(), m.matched_by, m.of_concern),
            ("Tencent", "package", true)
        );
        assert_eq!(
            c.attribute("com.zhiliaoapp.musically", &none, &concern)
                .unwrap()
                .name,
            "ByteDance"
        );
        let k = c.attribute("com.kaspersky.kes", &none, &concern).unwrap();
        assert_eq!(
            (k.name.as_str(), k.country.as_str(), k.of_concern),
            ("Kaspersky", "RU", false)
        );
        assert!(c.attribute("com.tencentx.mm", &none, &concern).is_none());
        assert!(c.attribute("com.example", &none, &concern).is_none());
    }

    #[test]
    fn team_id_then_bundle_prefix() {
        let c = VendorCatalog::builtin();
        let concern = vec!["CN".to_owned()];
        let m = c
            .attribute_ios("com.example.x", &["88L2Q4487U".into()], &concern)
            .unwrap();
        assert_eq!((m.name.as_str(), m.matched_by), ("Tencent", "team_id"));
        let b = c
            .attribute_ios("com.tencent.xin", &["ABCDE12345".into()], &concern)
            .unwrap();
        assert_eq!((b.name.as_str(), b.matched_by), ("Tencent", "package"));
        assert_eq!(
            c.attribute_ios("x.y", &["2Y8XE5CQ94".into()], &[])
                .unwrap()
                .name,
            "Kaspersky"
        );
        assert_eq!(
            c.attribute_ios("x.y", &["22MMUN2RN5".into()], &[])
                .unwrap()
                .name,
            "ByteDance"
        );
    }

    #[test]
    fn signer_beats_package() {
        let mut c = VendorCatalog::builtin();
        let digest = "AB".repeat(32);
        c.extend(
            VendorCatalog::parse(&format!(
                "[[vendor]]\nname = \"Acme\"\ncountry = \"US\"\nsigner_sha256 = [\"{digest}\"]\n"
            ))
            .unwrap(),
        );
        let signers = SignerFacts {
            certificates: vec![SignerCert {
                sha256: digest.to_lowercase(),
                subject_organizations: vec!["Tencent".into()],
                verified: true,
            }],
        };
        let m = c.attribute("com.tencent.mm", &signers, &[]).unwrap();
        assert_eq!((m.name.as_str(), m.matched_by), ("Acme", "signer_sha256"));
        assert!(VendorCatalog::parse("[[vendor]]\nname='x'\ncountry='China'\n").is_err());
    }

    /// One format (issue 14 item 6): a policy file is a catalog of its own vendors, and merging
    /// it keeps the built-in evidence (Team IDs) while adding the policy's.
    #[test]
    fn a_policy_is_a_catalog_and_merges_into_the_builtin_one() {
        let canada = include_str!("../../../../examples/canada-gc-mobile-v2.toml");
        let own = VendorCatalog::parse(canada).expect("the policy's [[vendors]]");
        assert_eq!(own.vendors.len(), 3);
        let tencent = &own.vendors[0];
        assert!(tencent.packages.contains(&"com.tencent".to_string()));
        assert!(tencent.team_ids.is_empty());
        let digest = "cd".repeat(32);
        let extra = format!(
            "[policy]\nname = \"x\"\n[[vendors]]\nname = \"tencent\"\nsigner_sha256 = [\"{digest}\"]\n\
             [[vendors]]\nname = \"Newco\"\napp_ids = [\"org.newco.app\"]\n[[rules]]\nid = \"r\"\n"
        );
        let mut c = VendorCatalog::builtin();
        c.merge(own);
        c.merge(VendorCatalog::parse(&extra).expect("parse"));
        let t = c
            .vendors
            .iter()
            .find(|v| v.name == "Tencent")
            .expect("Tencent");
        assert!(
            t.team_ids.contains(&"88L2Q4487U".to_string()),
            "built-in kept"
        );
        assert!(
            t.signer_sha256.contains(&digest),
            "the policy's digest added"
        );
        assert_eq!(t.country, "CN");
        let signers = SignerFacts {
            certificates: vec![SignerCert {
                sha256: digest.clone(),
                subject_organizations: vec![],
                verified: true,
            }],
        };
        let m = c
            .attribute("com.example.repack", &signers, &[])
            .expect("by digest");
        assert_eq!(
            (m.name.as_str(), m.matched_by),
            ("Tencent", "signer_sha256")
        );
        let n = c
            .attribute("org.newco.app", &SignerFacts::default(), &[])
            .expect("Newco");
        assert_eq!((n.name.as_str(), n.country.as_str()), ("Newco", ""));
        // Unknown keys are still refused, with the key named.
        let e = VendorCatalog::parse("[[vendors]]\nname = \"x\"\nteam_id = [\"A\"]\n")
            .expect_err("unknown key");
        assert!(e.to_string().contains("team_id"), "{e}");
    }
}
