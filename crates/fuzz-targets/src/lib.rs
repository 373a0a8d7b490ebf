//! Fuzzing entry points: one function per target, each taking arbitrary bytes and exercising one parser
//! the way the product does, with the product's limits.
//!
//! The libFuzzer targets in `fuzz/fuzz_targets/` are one line each, calling these; the test
//! `tests/regressions.rs` replays every input kept in `fuzz/regressions/<target>/` through the same
//! functions, so a crash found once is checked by every `cargo test` on the stable toolchain.
//! The functions never return errors: a typed error is a correct answer to a bad input; only a panic,
//! a hang or runaway memory is a finding.

#![forbid(unsafe_code)]

use apk_zip::{Archive, Limits};

/// A fuzzing entry point.
pub type Target = fn(&[u8]);

/// Every target, by the name used for `fuzz/fuzz_targets/<name>.rs` and `fuzz/regressions/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("zip", zip),
    ("binxml", binxml),
    ("arsc", arsc),
    ("dex", dex),
    ("signing", signing),
    ("assess", assess),
    ("policy", policy),
    ("checkin", checkin),
];

/// Container limits for fuzzing: the product's defaults, with totals kept under libFuzzer's
/// 1 GiB memory limit (anything bigger is refused with a typed error, as in production).
pub fn limits() -> Limits {
    Limits {
        max_entries: 10_000,
        max_entry_size: 64 << 20,
        max_total_inflated: 256 << 20,
        ..Limits::default()
    }
}

/// The ZIP reader: parse, then read every entry (up to 256) and the read anomalies.
pub fn zip(data: &[u8]) {
    let Ok(archive) = Archive::parse(data, limits()) else {
        return;
    };
    for e in archive.entries().iter().take(256) {
        let _ = archive.read(e);
        let _ = archive.peek(e, 8);
        let _ = archive.find(&e.name_lossy());
    }
    let _ = archive.read_anomalies();
}

/// Android binary XML (`AndroidManifest.xml` and XML resources).
pub fn binxml(data: &[u8]) {
    if let Ok(doc) = android_binxml::parse_xml(data) {
        let _ = doc.root();
        for el in doc.elements.iter().take(10_000) {
            for a in &el.attributes {
                let _ = a.value.as_display();
            }
        }
    }
}

/// `resources.arsc`: parse, then resolve the first entries of every type of every package, as the
/// manifest reader and the capability checks do.
pub fn arsc(data: &[u8]) {
    let Ok(table) = android_binxml::ResourceTable::parse(data) else {
        return;
    };
    let mut budget = 16 << 20;
    for (pkg, _) in table.packages().into_iter().take(4) {
        for ty in 1..=8u32 {
            for idx in 0..8u32 {
                let id = (pkg << 24) | (ty << 16) | idx;
                let _ = table.resolve(id);
                let _ = table.resolve_value(id, &mut budget);
                let _ = table.name_of(id);
                let _ = table.values_of(id);
            }
        }
    }
}

/// A DEX file: header, the string table, every class descriptor and its Java name.
pub fn dex(data: &[u8]) {
    let Ok(file) = dex_file::DexFile::parse(data) else {
        return;
    };
    for s in file.strings() {
        let _ = s.map(|s| s.len());
    }
    for d in file.class_descriptors().flatten() {
        let _ = dex_file::descriptor_to_java(d);
    }
    for i in 0..file.type_count().min(1_000) {
        let _ = file.type_descriptor(i);
    }
}

/// Signatures. The first byte picks what the rest is:
/// 0 — a whole APK, verified for every API level;
/// 1 — a PKCS#7 `SignedData` (`META-INF/CERT.RSA`), put in a JAR-signed archive with a fixed manifest;
/// 2 — the pairs of an APK Signing Block, put before the central directory of a small archive.
pub fn signing(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let apk = match mode % 3 {
        0 => rest.to_vec(),
        1 => stored_zip(
            &[
                ("AndroidManifest.xml", b"\x03\x00\x08\x00".as_slice()),
                ("META-INF/MANIFEST.MF", MANIFEST_MF),
                ("META-INF/CERT.SF", CERT_SF),
                ("META-INF/CERT.RSA", rest),
            ],
            None,
        ),
        _ => stored_zip(
            &[("AndroidManifest.xml", b"\x03\x00\x08\x00".as_slice())],
            Some(rest),
        ),
    };
    let Ok(archive) = Archive::parse(&apk, limits()) else {
        return;
    };
    let report = apk_signature::verify(&archive, 1, apk_signature::LATEST);
    let _ = report.summary_line();
}

const MANIFEST_MF: &[u8] = b"Manifest-Version: 1.0\r\nCreated-By: fuzz\r\n\r\nName: AndroidManifest.xml\r\nSHA-256-Digest: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\r\n\r\n";
const CERT_SF: &[u8] = b"Signature-Version: 1.0\r\nCreated-By: fuzz\r\nSHA-256-Digest-Manifest: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\r\n\r\n";

/// A ZIP of stored entries; `block` (the id-value pairs of an APK Signing Block) goes between the
/// entries and the central directory, framed as Android expects.
fn stored_zip(entries: &[(&str, &[u8])], block: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32fast::hash(data);
        let header = |central: bool| {
            let mut h = Vec::new();
            h.extend_from_slice(
                &(if central { 0x0201_4b50u32 } else { 0x0403_4b50 }).to_le_bytes(),
            );
            if central {
                h.extend_from_slice(&20u16.to_le_bytes());
            }
            for v in [20u16, 0, 0, 0, 0x21] {
                h.extend_from_slice(&v.to_le_bytes());
            }
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            if central {
                h.extend_from_slice(&[0; 8]);
                h.extend_from_slice(&0u32.to_le_bytes());
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(header(false));
        out.extend_from_slice(data);
        central.extend(header(true));
    }
    if let Some(pairs) = block {
        let size = pairs.len() as u64 + 24;
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(pairs);
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(b"APK Sig Block 42");
    }
    let cd = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The whole `assess`, with risk analysis and signatures, as `interdict assess` runs it.
pub fn assess(data: &[u8]) {
    let options = apk_analysis::Options {
        limits: limits(),
        risk: Some(apk_analysis::risk::RiskConfig::default()),
        ..apk_analysis::Options::default()
    };
    if let Ok(report) = apk_analysis::assess("fuzz.apk", data, &options) {
        let _ = serde_json::to_vec(&report);
    }
}

fn today() -> app_policy::Date {
    app_policy::Date::from_ymd(2026, 1, 1).unwrap_or(app_policy::Date::from_days_since_epoch(0))
}

/// The policy TOML: parse, check, compile, and evaluate one small inventory.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = app_policy::parse_policy(text, "fuzz.toml") else {
        return;
    };
    let _ = app_policy::check(&policy, today());
    if let Ok(compiled) = app_policy::CompiledPolicy::new(&policy) {
        if let Ok(inv) = serde_json::from_str::<app_policy::DeviceInventory>(SAMPLE_INVENTORY) {
            let _ = compiled.evaluate(&inv, today());
        }
    }
}

const SAMPLE_INVENTORY: &str = r#"{"device":{"id":"d1","platform":"android","groups":["staff"]},
"apps":[{"id":"com.tencent.mm","version_code":2000,"signers":["aa"]},{"id":"com.example.app"}]}"#;

const SAMPLE_POLICY: &str = r#"
[policy]
name = "fuzz"
version = 1
mode = "blocklist"
"#;

/// What a device sends at check-in (the server's body shape), then the inventory types and importer,
/// evaluated against a small policy.
pub fn checkin(data: &[u8]) {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "fields are parsed, as the server does, not read")]
    struct Body {
        #[serde(default)]
        inventory: Option<InventoryBody>,
        #[serde(default)]
        inventory_hash: Option<String>,
        #[serde(default)]
        action_results: Vec<app_policy::ActionResult>,
        #[serde(default)]
        seq: i64,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct InventoryBody {
        apps: Vec<app_policy::App>,
    }
    let compiled_policy = app_policy::parse_policy(SAMPLE_POLICY, "sample.toml").ok();
    let compiled = compiled_policy
        .as_ref()
        .and_then(|p| app_policy::CompiledPolicy::new(p).ok());
    if let Ok(body) = serde_json::from_slice::<Body>(data) {
        if let (Some(inv), Some(c)) = (body.inventory, compiled.as_ref()) {
            let device = app_policy::DeviceInventory {
                device: app_policy::Device {
                    id: "fuzz".into(),
                    platform: app_policy::Platform::Android,
                    groups: Vec::new(),
                    ownership: app_policy::Ownership::default(),
                },
                apps: inv.apps,
            };
            let _ = c.evaluate(&device, today());
        }
    }
    if let Ok(inv) = serde_json::from_slice::<app_policy::DeviceInventory>(data) {
        if let Some(c) = compiled.as_ref() {
            let _ = c.evaluate(&inv, today());
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = app_policy::parse_inventory(text, "fuzz.json");
    }
}
