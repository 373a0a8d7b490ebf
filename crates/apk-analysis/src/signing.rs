//! Maps the signature verifier's report (`apk-signature`) into the JSON wire format, and into the facts vendor attribution uses.
//!
//! A signer is reported only when its scheme verified: "signed by X" for a file whose signature does not verify would be worse than no answer.

use apk_signature::{CertificateInfo, SchemeResult, SigningReport};

use crate::report::{
    SchemeStatus, SignerCertificate, Signing, SigningIssue, SigningSchemes, SourceStamp,
};
use crate::risk::{SignerCert, SignerFacts};

fn scheme(r: &SchemeResult) -> SchemeStatus {
    SchemeStatus {
        present: r.present,
        // apksigner's "Verified using vN": the scheme counted for the verdict and verified.
        verified: r.checked && r.verified,
        verified_standalone: r.verified,
        errors: r.errors.iter().map(|e| e.code.clone()).collect(),
    }
}

fn cert(scheme: Option<&str>, c: &CertificateInfo) -> SignerCertificate {
    SignerCertificate {
        scheme: scheme.map(str::to_owned),
        sha256: c.sha256.clone(),
        sha1: c.sha1.clone(),
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        serial: c.serial.clone(),
        not_before: c.not_before.clone(),
        not_after: c.not_after.clone(),
        key_algorithm: c.key_algorithm.to_owned(),
        key_bits: c.key_bits,
        min_sdk: None,
        max_sdk: None,
    }
}

fn issues(v: &[apk_signature::Issue]) -> Vec<SigningIssue> {
    v.iter()
        .map(|i| SigningIssue {
            code: i.code.clone(),
            message: i.message.clone(),
        })
        .collect()
}

/// The `signing` section of the report.
pub(crate) fn section(r: &SigningReport) -> Signing {
    Signing {
        verified: r.verified,
        min_sdk: r.min_sdk,
        max_sdk: (r.max_sdk < apk_signature::LATEST).then_some(r.max_sdk),
        summary: r.summary_line(),
        schemes: SigningSchemes {
            v1: scheme(&r.v1),
            v2: scheme(&r.v2),
            v3: scheme(&r.v3),
            v31: scheme(&r.v31),
        },
        errors: issues(&r.errors),
        warnings: issues(&r.warnings),
        signers: r
            .signers
            .iter()
            .map(|s| SignerCertificate {
                min_sdk: s.min_sdk,
                max_sdk: s.max_sdk,
                ..cert(Some(s.scheme.as_str()), &s.cert)
            })
            .collect(),
        lineage: r
            .lineage
            .iter()
            .map(|l| cert(Some(l.scheme.as_str()), &l.cert))
            .collect(),
        source_stamp: r.source_stamp,
        stamp: r.stamp.as_ref().map(|s| SourceStamp {
            verified: s.verified,
            signer: s.cert.as_ref().map(|c| cert(None, c)),
            lineage: s.lineage.iter().map(|c| cert(None, c)).collect(),
            timestamp: s.timestamp,
            issues: issues(&s.issues),
        }),
    }
}

/// `O=` values of a distinguished name written as `CN=x, O=y, C=z`.
fn organizations(dn: &str) -> Vec<String> {
    dn.split(',')
        .filter_map(|part| part.trim().strip_prefix("O="))
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .collect()
}

/// Verified signer certificates, for vendor attribution.
pub(crate) fn facts(r: &SigningReport) -> SignerFacts {
    let mut certificates: Vec<SignerCert> = Vec::new();
    for s in &r.signers {
        if certificates.iter().any(|c| c.sha256 == s.cert.sha256) {
            continue;
        }
        certificates.push(SignerCert {
            sha256: s.cert.sha256.clone(),
            subject_organizations: organizations(&s.cert.subject),
            verified: r.verified,
        });
    }
    SignerFacts { certificates }
}
