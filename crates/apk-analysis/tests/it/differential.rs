//! Differential tests: on every fixture, interdict must see what Android's own tools see.
//!
//! `aapt dump badging` and `aapt dump permissions` are the oracle for identity, SDK levels, label and permissions;
//! `dexdump -f` is the oracle for class counts.

use std::collections::BTreeMap;

use crate::{assess_file, scratch, tool, tool_lenient};

/// Parses `key='value'` pairs from one aapt line.
fn quoted_pairs(line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = line;
    while let Some(eq) = rest.find("='") {
        let key = rest[..eq]
            .rsplit([' ', ':'])
            .next()
            .unwrap_or("")
            .to_owned();
        let after = &rest[eq + 2..];
        let Some(end) = after.find('\'') else { break };
        out.insert(key, after[..end].to_owned());
        rest = &after[end + 1..];
    }
    out
}

/// A header count from `dexdump -f` output, e.g. `class_defs_size     : 28`.
fn dexdump_count(dump: &str, name: &str, ctx: &str) -> u64 {
    dump.lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .and_then(|v| {
            v.trim()
                .trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{ctx}: no {name} in dexdump output"))
}

fn field<'a>(badging: &'a str, prefix: &str) -> Option<&'a str> {
    badging.lines().find_map(|l| l.strip_prefix(prefix))
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('\'').to_owned()
}

#[test]
fn every_fixture_matches_aapt_and_dexdump() {
    let names = apk_fixtures::all_fixture_names();
    assert!(
        names.len() >= 15,
        "need at least 15 fixtures, have {}",
        names.len()
    );
    let mut checked = 0;
    for name in &names {
        let path = apk_fixtures::fixture(name);
        let p = path.to_str().unwrap();
        let report = assess_file(&path);
        // aapt exits 1 on some valid APKs (e.g. a label that exists only in values-fr) but still prints what it read.
        let badging = tool_lenient("aapt", &["dump", "badging", p]);
        let ctx = format!("fixture {name}");

        let pkg = quoted_pairs(field(&badging, "package:").unwrap());
        assert_eq!(report.app.package, pkg["name"], "{ctx}: package");
        let vc = pkg.get("versionCode").filter(|v| !v.is_empty());
        assert_eq!(
            report.app.version_code.map(|v| v.to_string()).as_ref(),
            vc,
            "{ctx}: versionCode"
        );
        let vn = pkg.get("versionName").filter(|v| !v.is_empty());
        assert_eq!(report.app.version_name.as_ref(), vn, "{ctx}: versionName");
        if let Some(min) = field(&badging, "sdkVersion:") {
            assert_eq!(
                report.app.min_sdk.map(|v| v.to_string()),
                Some(unquote(min)),
                "{ctx}: minSdk"
            );
        }
        if let Some(t) = field(&badging, "targetSdkVersion:") {
            assert_eq!(
                report.app.target_sdk.map(|v| v.to_string()),
                Some(unquote(t)),
                "{ctx}: targetSdk"
            );
        }
        // aapt prints the default-configuration label; when there is none, interdict falls back to another configuration.
        let default_label = field(&badging, "application-label:")
            .map(unquote)
            .filter(|l| !l.is_empty());
        match default_label {
            Some(label) => assert_eq!(
                report.app.label.as_deref(),
                Some(label.as_str()),
                "{ctx}: label"
            ),
            None => {
                let locale_labels: Vec<String> = badging
                    .lines()
                    .filter(|l| l.starts_with("application-label-"))
                    .filter_map(|l| l.split_once(':').map(|(_, v)| unquote(v)))
                    .collect();
                // aapt's badging ignores a literal (non-resource) label; Android uses it, so compare with the compiled attribute.
                let tree = tool("aapt", &["dump", "xmltree", p, "AndroidManifest.xml"]);
                let literal = tree
                    .split("E: application")
                    .nth(1)
                    .and_then(|t| {
                        t.lines()
                            .find(|l| l.contains("android:label(0x01010001)=\""))
                    })
                    .and_then(|l| l.split("(Raw: \"").nth(1))
                    .map(|r| {
                        r.trim_end()
                            .trim_end_matches(')')
                            .trim_end_matches('"')
                            .to_owned()
                    });
                if let Some(literal) = literal {
                    assert_eq!(
                        report.app.label.as_deref(),
                        Some(literal.as_str()),
                        "{ctx}: literal label"
                    );
                } else if locale_labels.is_empty() {
                    assert!(
                        report.app.label.is_none() || report.app.label.as_deref() == Some(""),
                        "{ctx}: label {:?} where aapt has none",
                        report.app.label
                    );
                } else {
                    assert!(
                        locale_labels.contains(report.app.label.as_ref().unwrap()),
                        "{ctx}: label {:?} not among {locale_labels:?}",
                        report.app.label
                    );
                }
            }
        }

        // Permissions exactly as declared (aapt dump permissions adds no implied ones).
        let perms = tool("aapt", &["dump", "permissions", p]);
        let mut expected: Vec<(String, Option<u32>)> = perms
            .lines()
            .filter(|l| {
                l.starts_with("uses-permission:") || l.starts_with("uses-permission-sdk-23:")
            })
            .map(|l| {
                let kv = quoted_pairs(l);
                (
                    kv["name"].clone(),
                    kv.get("maxSdkVersion").and_then(|v| v.parse().ok()),
                )
            })
            .collect();
        expected.dedup_by(|a, b| a.0 == b.0);
        let mut got: Vec<(String, Option<u32>)> = report
            .permissions
            .iter()
            .map(|p| (p.name.clone(), p.max_sdk))
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{ctx}: permissions");
        let declared: Vec<String> = perms
            .lines()
            .filter_map(|l| l.strip_prefix("permission: "))
            .map(|s| s.trim().to_owned())
            .collect();
        let mut got_declared: Vec<String> = report
            .declared_permissions
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let mut declared_sorted = declared.clone();
        got_declared.sort();
        declared_sorted.sort();
        assert_eq!(got_declared, declared_sorted, "{ctx}: declared permissions");

        // Classes per DEX file, as dexdump counts them.
        let dir = scratch(&format!("dex-{name}"));
        for dex in &report.dex.files {
            let out = dir.join(&dex.name);
            tool(
                "python3",
                &[
                    "-c",
                    "import sys,zipfile; open(sys.argv[3],'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))",
                    p,
                    &dex.name,
                    out.to_str().unwrap(),
                ],
            );
            let dump = tool("dexdump", &["-f", out.to_str().unwrap()]);
            let classes = dexdump_count(&dump, "class_defs_size", &ctx);
            assert_eq!(dex.classes, classes, "{ctx}: classes in {}", dex.name);
            let strings = dexdump_count(&dump, "string_ids_size", &ctx);
            assert_eq!(dex.strings, strings, "{ctx}: strings in {}", dex.name);
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            report
                .anomalies
                .iter()
                .all(|a| a.code != "local_header_mismatch"),
            "{ctx}: a clean fixture has no header mismatch: {:?}",
            report.anomalies
        );
        checked += 1;
    }
    assert_eq!(checked, names.len());
}
