//! The code signature and `embedded.mobileprovision` in report form.

use macho::cms::Certificate;
use macho::codesign::CodeSignature;

use crate::plists;
use crate::report::{IosCertificate, IosSigning, ProvisioningProfile};

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

/// The entitlements as JSON: the XML blob parsed, else a note that only the DER blob is present.
pub(crate) fn entitlements(sig: &CodeSignature) -> Option<serde_json::Value> {
    if let Some(xml) = &sig.entitlements_xml {
        if let Ok(v) = plists::parse(xml) {
            return Some(plists::to_json(&v, 0));
        }
    }
    None
}

/// The `signing` section from the main executable's signature.
pub(crate) fn section(sig: &CodeSignature, ents: Option<serde_json::Value>) -> IosSigning {
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
    let (chain, note) = match signer {
        None if cd.is_some_and(|c| c.flags & 0x2 != 0) || sig.cms.is_none() => (
            "not_signed",
            "ad-hoc signature (no CMS signer): iOS runs it only on development devices".to_owned(),
        ),
        None => (
            "not_verified",
            "the CMS blob carries no signer certificate that matches its SignerInfo".to_owned(),
        ),
        Some(c) if c.self_issued() => (
            "not_verified",
            format!(
                "the signer certificate is self-signed ({}), so it does not chain to Apple's roots: the Team ID and subject are self-asserted",
                c.subject
            ),
        ),
        Some(c) if c.issuer.contains("Apple") => (
            "not_verified",
            format!(
                "issued by {:?}; this version does not check the chain to Apple's roots cryptographically, so treat the Team ID as unverified",
                c.issuer
            ),
        ),
        Some(c) => (
            "not_verified",
            format!("issued by {:?}, which is not an Apple CA", c.issuer),
        ),
    };
    IosSigning {
        signed: true,
        identifier: cd.map(|c| c.identifier.clone()),
        team_id: team,
        hash_type: cd.map(|c| c.hash_name()),
        flags: cd.map(|c| c.flag_names()).unwrap_or_default(),
        cdhash: cd.map(|c| c.cdhash.clone()),
        entitlements: ents.unwrap_or(serde_json::Value::Null),
        entitlement_blobs: blobs,
        certificate: signer.map(cert),
        chain,
        chain_note: note,
        distribution: "unknown",
    }
}

/// Parses `embedded.mobileprovision` (CMS SignedData, DER or BER, with the plist attached).
pub(crate) fn profile(data: &[u8]) -> Result<ProvisioningProfile, String> {
    let sd =
        macho::cms::parse_signed_data(data, crate::MAX_PLIST_BYTES).map_err(|e| e.to_string())?;
    let content = sd
        .content
        .as_deref()
        .ok_or("the CMS has no attached content (the profile plist)")?;
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
        signer: sd.signer.and_then(|i| sd.certificates.get(i)).map(cert),
    })
}
