//! Tiny hostile APKs that used to take minutes or gigabytes (issue 12, item 11), each built by
//! `apk_fixtures::hostile`. Every test bounds the work by what the report holds (never by the clock);
//! `cargo run --release -p apk-analysis --example hostile` measures the time and memory.

use apk_analysis::{assess, Assessment, Options};
use apk_fixtures::hostile;

fn with_risk() -> Options {
    Options {
        risk: Some(apk_analysis::risk::RiskConfig::default()),
        ..Options::default()
    }
}

fn run(apk: &[u8], options: &Options) -> Assessment {
    assess("hostile.apk", apk, options).unwrap_or_else(|e| panic!("assess failed: {e}"))
}

fn has(r: &Assessment, code: &str) -> bool {
    r.anomalies.iter().any(|a| a.code == code)
}

#[test]
fn dex_strings_sharing_one_run_are_read_once_within_budget() {
    // 20,000 string ids on one 20,000-byte string: 400 MB of strings if each id were read in full.
    let apk = hostile::dex_string_rescan(20_000, 20_000);
    assert!(apk.len() < 15_000, "{} bytes", apk.len());
    let options = Options {
        include_strings: true,
        ..with_risk()
    };
    let r = run(&apk, &options);
    let dex_size = r.dex.files[0].size as usize;
    let values = r.dex.string_values.as_ref().unwrap();
    let bytes: usize = values.iter().map(String::len).sum();
    assert!(
        bytes <= dex_size,
        "{bytes} bytes of strings from a {dex_size}-byte DEX"
    );
    assert!(has(&r, "dex_work_limit"), "{:?}", r.anomalies);
    let json = serde_json::to_vec(&r).unwrap();
    assert!(
        json.len() < 4 * dex_size + 100_000,
        "{} bytes of JSON",
        json.len()
    );
}

#[test]
fn back_to_back_urls_are_scanned_in_one_pass() {
    // 100,000 `://` in one 1.2 MB string: every URL used to be searched and copied to the string's end.
    let apk = hostile::endpoint_rescan(100_000);
    assert!(apk.len() < 15_000, "{} bytes", apk.len());
    let r = run(&apk, &with_risk());
    let endpoints = r.endpoints.as_ref().unwrap();
    assert!(!endpoints.is_empty());
    assert!(endpoints.iter().all(|e| e.value.len() <= 2048));
    assert!(endpoints.iter().all(|e| e.host == "a.co"));
}

#[test]
fn endpoints_are_capped_with_a_count_of_what_was_cut() {
    let apk = hostile::endpoint_flood(12_000);
    let r = run(&apk, &with_risk());
    let endpoints = r.endpoints.as_ref().unwrap();
    assert_eq!(endpoints.len(), 10_000);
    let cut = r
        .anomalies
        .iter()
        .find(|a| a.code == "endpoints_truncated")
        .unwrap_or_else(|| panic!("no endpoints_truncated anomaly: {:?}", r.anomalies));
    assert!(cut.detail.contains("2000 more"), "{}", cut.detail);
}

#[test]
fn resource_references_resolve_against_many_configurations() {
    // 4,000 references into a type of 4,000 configuration chunks: 16 M chunk reads if walked per lookup.
    let apk = hostile::resource_walk(4_000, 4_000);
    assert!(apk.len() < 15_000, "{} bytes", apk.len());
    let r = run(&apk, &with_risk());
    // Every chunk is a non-default configuration: the first in file order wins, as Android falls back.
    let names: Vec<&str> = r.permissions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["android.permission.CAMERA"]);
}

#[test]
fn many_distinct_permissions_are_deduplicated_by_hash() {
    let n = 40_000;
    let apk = hostile::permission_flood(n);
    let r = run(&apk, &with_risk());
    assert_eq!(r.permissions.len(), n);
    assert_eq!(r.declared_permissions.len(), n);
    let levels = &r.risk.as_ref().unwrap().permissions;
    assert_eq!(levels.len(), n);
    assert!(levels.iter().all(|l| l.defined_by == "app"));
}
