//! Issue 12, item 1: `check` is near-linear in the size of the policy; the shadowed-rule
//! search is bounded. These policies took `check` minutes when it was quadratic.

use app_policy::{check, parse_policy, Date, Diagnostic};

use crate::bomb;

fn run(shape: &str, n: usize) -> Vec<Diagnostic> {
    let src = bomb::policy(shape, n);
    let p = parse_policy(&src, "bomb.toml").unwrap_or_else(|e| panic!("{shape}: {e}"));
    check(&p, Date::from_days_since_epoch(20_454))
}

fn count(d: &[Diagnostic], code: &str) -> usize {
    d.iter().filter(|d| d.code == code).count()
}

/// 30,000 rules naming the same app id: the search stops with a located warning instead of
/// comparing every pair of rules (which took minutes).
#[test]
fn same_app_id_bomb_stops_with_a_warning() {
    let d = run("same-id-scoped", 30_000);
    let stop: Vec<_> = d
        .iter()
        .filter(|d| d.code == "shadow-search-truncated")
        .collect();
    assert_eq!(stop.len(), 1, "{stop:?}");
    assert!(stop[0].location.starts_with("bomb.toml:"), "{}", stop[0]);
    assert!(stop[0]
        .message
        .contains("rules from here on were not checked"));
    // Each rule has its own group, so none is shadowed.
    assert_eq!(count(&d, "shadowed"), 0);
}

/// 20,000 rules naming 2,001 vendors, ten rules per vendor: every rule but the first of each
/// vendor is shadowed, and all of them are found (vendor and rule lookups are indexed).
#[test]
fn vendor_rules_are_all_checked() {
    let n = 20_000;
    let d = run("vendors", n);
    assert_eq!(count(&d, "shadow-search-truncated"), 0);
    assert_eq!(count(&d, "shadowed"), n - n / 10);
    let first = d
        .iter()
        .find(|d| d.code == "shadowed")
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(first.contains("earlier rule `r0`"), "{first}");
}

/// 20,000 exceptions each pointing at its own rule: no `missing-rule`, found by lookup.
#[test]
fn exceptions_are_checked_against_an_index_of_rules() {
    let d = run("exceptions", 20_000);
    assert_eq!(count(&d, "missing-rule"), 0);
    assert_eq!(count(&d, "shadowed"), 0);
}

/// Prefix globs shared by many rules: each exact id under a prefix is shadowed by the first
/// rule with that prefix... only when every matcher is covered, so none here (each rule's own
/// exact id is matched by the shared prefix of rule i % 100, the first of its class).
#[test]
fn shared_prefixes_are_checked_in_full() {
    let n = 5_000;
    let d = run("prefixes", n);
    assert_eq!(count(&d, "shadow-search-truncated"), 0);
    // Rules 100.. repeat an earlier rule's prefix and their exact id falls under it.
    assert_eq!(count(&d, "shadowed"), n - 100);
}
