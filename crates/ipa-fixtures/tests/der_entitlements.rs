//! The DER entitlements encoder: Apple's known answers, `openssl asn1parse` as an independent parser of its
//! bytes, and `macho::der_plist` decoding it back to the XML's content.

#![allow(clippy::unwrap_used)]

use macho::der_plist::{decode, DerValue};

const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>application-identifier</key><string>ABCDE12345.com.example.app</string>
<key>get-task-allow</key><false/>
<key>aps-environment</key><string>production</string>
<key>keychain-access-groups</key><array><string>ABCDE12345.com.example.app</string><string>ABCDE12345.shared</string></array>
<key>com.example.numbers</key><array><integer>0</integer><integer>-1</integer><integer>127</integer><integer>128</integer><integer>-129</integer><integer>4294967296</integer></array>
<key>com.example.nested</key><dict><key>on</key><true/><key>empty</key><array/><key>d</key><dict/></dict>
</dict></plist>"#;

fn write_tmp(name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::write(&p, data).unwrap();
    p
}

#[test]
fn known_answers_from_apples_codesign() {
    // Bytes from apple-codesign 0.29.0 plist_der.rs tests (produced by Apple's codesign).
    let cases: &[(&str, &[u8])] = &[
        ("<dict/>", &[112, 5, 2, 1, 1, 176, 0]),
        (
            "<dict><key>key</key><integer>-1</integer></dict>",
            &[112, 15, 2, 1, 1, 176, 10, 48, 8, 12, 3, 107, 101, 121, 2, 1, 255],
        ),
        (
            "<dict><key>key</key><array><true/><string>foo</string></array></dict>",
            &[
                112, 22, 2, 1, 1, 176, 17, 48, 15, 12, 3, 107, 101, 121, 48, 8, 1, 1, 255, 12, 3,
                102, 111, 111,
            ],
        ),
        (
            "<dict><key>key3</key><integer>42</integer><key>key</key><false/><key>key2</key><true/></dict>",
            &[
                112, 37, 2, 1, 1, 176, 32, 48, 8, 12, 3, 107, 101, 121, 1, 1, 0, 48, 9, 12, 4, 107,
                101, 121, 50, 1, 1, 255, 48, 9, 12, 4, 107, 101, 121, 51, 2, 1, 42,
            ],
        ),
    ];
    for (body, want) in cases {
        let xml = format!("<?xml version=\"1.0\"?><plist version=\"1.0\">{body}</plist>");
        assert_eq!(
            ipa_fixtures::der_entitlements(&xml).unwrap(),
            *want,
            "{body}"
        );
    }
}

fn json_of(v: &DerValue) -> serde_json_like::V {
    serde_json_like::from_der(v)
}

/// A tiny comparable form, so the test needs no JSON crate.
mod serde_json_like {
    use macho::der_plist::DerValue;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq)]
    pub(crate) enum V {
        B(bool),
        I(i64),
        S(String),
        A(Vec<V>),
        D(BTreeMap<String, V>),
    }

    pub(crate) fn from_der(v: &DerValue) -> V {
        match v {
            DerValue::Bool(b) => V::B(*b),
            DerValue::Int(i) => V::I(*i),
            DerValue::String(s) => V::S(s.clone()),
            DerValue::Array(a) => V::A(a.iter().map(from_der).collect()),
            DerValue::Dict(d) => V::D(d.iter().map(|(k, x)| (k.clone(), from_der(x))).collect()),
        }
    }

    pub(crate) fn from_plist(v: &plist::Value) -> V {
        match v {
            plist::Value::Boolean(b) => V::B(*b),
            plist::Value::Integer(i) => V::I(i.as_signed().unwrap()),
            plist::Value::String(s) => V::S(s.clone()),
            plist::Value::Array(a) => V::A(a.iter().map(from_plist).collect()),
            plist::Value::Dictionary(d) => {
                V::D(d.iter().map(|(k, x)| (k.clone(), from_plist(x))).collect())
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn decoding_the_encoder_output_gives_back_the_xml_content() {
    let der = ipa_fixtures::der_entitlements(XML).unwrap();
    let decoded = decode(&der).unwrap();
    let xml = plist::Value::from_reader_xml(XML.as_bytes()).unwrap();
    assert_eq!(json_of(&decoded), serde_json_like::from_plist(&xml));
    // Keys are written sorted, as Apple's codesign does.
    let DerValue::Dict(entries) = decoded else {
        panic!()
    };
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
}

#[test]
fn openssl_asn1parse_reads_the_encoder_output() {
    let der = ipa_fixtures::der_entitlements(XML).unwrap();
    let p = write_tmp("der-ent", &der);
    let out = std::process::Command::new("openssl")
        .args(["asn1parse", "-inform", "DER", "-in"])
        .arg(&p)
        .output()
        .expect("openssl (apt-get install openssl)");
    let _ = std::fs::remove_file(&p);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Top level: [APPLICATION 16] spanning the whole input, then INTEGER 1, then the [CONTEXT 16] dictionary.
    let field = |line: &str, name: &str| -> usize {
        let rest = line.split(name).nth(1).unwrap().trim_start();
        rest.split(' ').next().unwrap().parse().unwrap()
    };
    assert!(
        lines[0].starts_with("    0:d=0")
            && lines[0].contains("cons: appl [ 16 ]")
            && field(lines[0], "hl=") + field(lines[0], " l=") == der.len(),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("d=1") && lines[1].contains("INTEGER") && lines[1].ends_with(":01"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("d=1") && lines[2].contains("cons: cont [ 16 ]"),
        "{}",
        lines[2]
    );
    // Every entry is a SEQUENCE whose first child is the key as a UTF8STRING.
    let keys: Vec<&str> = lines
        .windows(2)
        .filter(|w| w[0].contains("d=2") && w[0].contains("SEQUENCE"))
        .map(|w| {
            assert!(
                w[1].contains("d=3") && w[1].contains("UTF8STRING"),
                "{}",
                w[1]
            );
            w[1].rsplit(':').next().unwrap()
        })
        .collect();
    assert_eq!(
        keys,
        [
            "application-identifier",
            "aps-environment",
            "com.example.nested",
            "com.example.numbers",
            "get-task-allow",
            "keychain-access-groups"
        ]
    );
    // Value types as openssl names them.
    for want in [
        "BOOLEAN           :0",
        "BOOLEAN           :255",
        "INTEGER           :-01",
        "INTEGER           :-81",
        "INTEGER           :80",
        "INTEGER           :0100000000",
        "UTF8STRING        :production",
    ] {
        assert!(text.contains(want), "{want} missing in\n{text}");
    }
    // Nested dictionaries are [CONTEXT 16] too; arrays are SEQUENCEs.
    assert!(text.matches("cont [ 16 ]").count() >= 3, "{text}");
}
