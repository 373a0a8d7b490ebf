//! The code signature and `embedded.mobileprovision` in report form.

use macho::cms::Certificate;
use macho::codesign::CodeSignature;
use macho::der_plist::DerValue;
use macho::trust::{verify_signer, TrustStore, Verification};

use crate::plists;
use crate::report::{ChainCert, IosCertificate, IosSigning, ProvisioningProfile};

/// Why validity periods are not enforced (said in every chain note).
const VALIDITY_NOTE: &str = "validity periods are reported in chain_path but not enforced: iOS keeps running App Store apps after the signing certificate expires, and an assessment must not change with the day it is run";

fn cert(c: &Certificate) -> IosCertificate {
    IosCertificate {
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        sha256: c.sha256.clone(),
        team_id: c.subject_ou.first().cloned(),
        not_after: c.not_after.clone(),
        self_signed: c.self_issued(),
    }
}

/// The DER entitlements as JSON, in the shape of the XML blob's (`plists::to_json`).
pub(crate) fn der_to_json(v: &DerValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        DerValue::Bool(b) => J::Bool(*b),
        DerValue::Int(i) => J::from(*i),
        DerValue::String(s) => J::String(s.clone()),
        DerValue::Array(a) => J::Array(a.iter().map(der_to_json).collect()),
        DerValue::Dict(d) => {
            J::Object(d.iter().map(|(k, x)| (k.clone(), der_to_json(x))).collect())
        }
    }
}

/// What the entitlements blobs say.
pub(crate) struct Entitlements {
    /// The XML blob parsed, else the DER blob decoded.
    pub(crate) value: Option<serde_json::Value>,
    /// Which blob `value` came from: `xml` or `der`.
    pub(crate) source: Option<&'static str>,
    /// Problems: (anomaly code, detail).
    pub(crate) problems: Vec<(&'static str, String)>,
}

/// The entitlements as JSON: the XML blob parsed, else the DER blob decoded; both present and different is an
/// `entitlements_mismatch` anomaly (iOS enforces the DER blob on iOS 15 and later).
pub(crate) fn entitlements(sig: &CodeSignature) -> Entitlements {
    let mut problems = Vec::new();
    let xml = sig
        .entitlements_xml
        .as_ref()
        .and_then(|x| match plists::parse(x) {
            Ok(v) => Some(plists::to_json(&v, 0)),
            Err(e) => {
                problems.push((
                    "entitlements_unreadable",
                    format!("XML entitlements blob: {e}"),
                ));
                None
            }
        });
    let der = sig
        .entitlements_der
        .as_ref()
        .and_then(|d| match macho::der_plist::decode(d) {
            Ok(v) => Some(der_to_json(&v)),
            Err(e) => {
                problems.push((
                    "entitlements_unreadable",
                    format!("DER entitlements blob: {e}"),
                ));
                None
            }
        });
    if let (Some(x), Some(d)) = (&xml, &der) {
        if x != d {
            let keys = |v: &serde_json::Value| -> Vec<String> {
                v.as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default()
            };
            let (kx, kd) = (keys(x), keys(d));
            let differing: Vec<String> = kx
                .iter()
                .chain(kd.iter())
                .filter(|k| x.get(k.as_str()) != d.get(k.as_str()))
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .take(8)
                .collect();
            problems.push((
                "entitlements_mismatch",
                format!(
                    "the XML (slot 5) and DER (slot 7) entitlements disagree on {}; iOS 15 and later enforce the DER blob",
                    differing.join(", ")
                ),
            ));
        }
    }
    let source = if xml.is_some() {
        Some("xml")
    } else if der.is_some() {
        Some("der")
    } else {
        None
    };
    Entitlements {
        value: xml.or(der),
        source,
        problems,
    }
}

fn chain_path(v: &Verification) -> Vec<ChainCert> {
    v.path
        .iter()
        .map(|p| ChainCert {
            subject: p.subject.clone(),
            sha256: p.sha256.clone(),
            source: p.source.as_str(),
            not_before: p.not_before.clone(),
            not_after: p.not_after.clone(),
        })
        .collect()
}

/// `apple_root` or `extra_anchor` when the chain verified.
fn anchor_kind(v: &Verification) -> Option<&'static str> {
    v.verified().then_some(if v.apple_root {
        "apple_root"
    } else {
        "extra_anchor"
    })
}

/// `verified`/`not_verified` and the note.
fn outcome(v: &Verification, what: &str) -> (&'static str, String) {
    match &v.failure {
        None => {
            let root = v
                .path
                .last()
                .map(|p| p.subject.as_str())
                .unwrap_or_default();
            let whose = if v.apple_root {
                "Apple root"
            } else {
                "extra trust anchor given in the options (not an Apple root)"
            };
            (
                "verified",
                format!(
                    "verified: {what} and the chain to the {whose} \"{root}\" ({} certificates, each signature checked); {VALIDITY_NOTE}",
                    v.path.len()
                ),
            )
        }
        Some(f) => ("not_verified", format!("{f}")),
    }
}

/// The `signing` section from the main executable's signature.
pub(crate) fn section(sig: &CodeSignature, ents: &Entitlements, store: &TrustStore) -> IosSigning {
    let cd = sig.code_directories.first();
    let signer = sig
        .cms
        .as_ref()
        .and_then(|c| c.signer.and_then(|i| c.certificates.get(i)));
    let team = cd
        .and_then(|c| c.team_id.clone())
        .or_else(|| signer.and_then(|c| c.subject_ou.first().cloned()));
    let mut blobs = Vec::new();
    if sig.entitlements_xml.is_some() {
        blobs.push("xml");
    }
    if sig.entitlements_der.is_some() {
        blobs.push("der");
    }
    let mut verification = None;
    let (chain, note) = match signer {
        None if cd.is_some_and(|c| c.flags & 0x2 != 0) || sig.cms.is_none() => (
            "not_signed",
            "ad-hoc signature (no CMS signer): iOS runs it only on development devices".to_owned(),
        ),
        None => (
            "not_verified",
            "the CMS blob carries no signer certificate that matches its SignerInfo".to_owned(),
        ),
        Some(c) => {
            let cms = sig.cms.as_ref();
            let v = verify_signer(
                cms.and_then(|m| m.signer_info.as_ref()),
                Some(c),
                cms.map(|m| &m.certificates[..]).unwrap_or_default(),
                Some(sig.code_directory_bytes.as_deref().unwrap_or_default()),
                store,
            );
            let (chain, note) = outcome(
                &v,
                "the CMS signature over the signed attributes, the messageDigest over the slot-0 CodeDirectory",
            );
            verification = Some(v);
            (chain, note)
        }
    };
    let path = verification.as_ref().map(chain_path).unwrap_or_default();
    let anchor = verification.as_ref().and_then(anchor_kind);
    IosSigning {
        signed: true,
        identifier: cd.map(|c| c.identifier.clone()),
        team_id: team,
        hash_type: cd.map(|c| c.hash_name()),
        flags: cd.map(|c| c.flag_names()).unwrap_or_default(),
        cdhash: cd.map(|c| c.cdhash.clone()),
        entitlements: ents.value.clone().unwrap_or(serde_json::Value::Null),
        entitlements_source: ents.source,
        entitlement_blobs: blobs,
        certificate: signer.map(cert),
        chain,
        chain_note: note,
        chain_path: path,
        chain_anchor: anchor,
        signer_signature_verified: verification.as_ref().is_some_and(|v| v.signer_signature),
        message_digest_verified: verification.as_ref().and_then(|v| v.message_digest),
        distribution: "unknown",
    }
}

/// Parses `embedded.mobileprovision` (CMS SignedData, DER or BER, with the plist attached).
pub(crate) fn profile(data: &[u8], store: &TrustStore) -> Result<ProvisioningProfile, String> {
    let sd =
        macho::cms::parse_signed_data(data, crate::MAX_PLIST_BYTES).map_err(|e| e.to_string())?;
    let content = sd
        .content
        .as_deref()
        .ok_or("the CMS has no attached content (the profile plist)")?;
    let signer = sd.signer.and_then(|i| sd.certificates.get(i));
    // (a) and (c), and (b) over the attached plist.
    let v = verify_signer(
        sd.signer_info.as_ref(),
        signer,
        &sd.certificates,
        Some(content),
        store,
    );
    let (chain, note) = outcome(
        &v,
        "the CMS signature over the signed attributes, the messageDigest over the attached profile plist",
    );
    let chain_v = v;
    let v = plists::parse(content)?;
    let ents = plists::get(&v, "Entitlements");
    let all = plists::boolean(&v, "ProvisionsAllDevices");
    let devices = match plists::get(&v, "ProvisionedDevices") {
        Some(plist::Value::Array(a)) => a.len() as u64,
        _ => 0,
    };
    let get_task_allow = ents.is_some_and(|e| plists::boolean(e, "get-task-allow"));
    let kind = if all {
        "enterprise"
    } else if get_task_allow {
        "development"
    } else if devices > 0 {
        "ad_hoc"
    } else {
        "app_store"
    };
    Ok(ProvisioningProfile {
        name: plists::string(&v, "Name"),
        uuid: plists::string(&v, "UUID"),
        team_id: plists::strings(&v, "TeamIdentifier").into_iter().next(),
        team_name: plists::string(&v, "TeamName"),
        app_id: ents.and_then(|e| plists::string(e, "application-identifier")),
        expiration: plists::get(&v, "ExpirationDate")
            .and_then(plist::Value::as_date)
            .map(|d| d.to_xml_format()),
        provisions_all_devices: all,
        provisioned_devices: devices,
        get_task_allow,
        kind,
        encoding: if sd.ber_indefinite {
            "ber_indefinite"
        } else {
            "der"
        },
        signer: signer.map(cert),
        signer_chain: chain,
        signer_chain_note: note,
        signer_chain_path: chain_path(&chain_v),
    })
}
