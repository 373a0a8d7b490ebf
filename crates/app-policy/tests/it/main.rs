//! Property tests of evaluation.

use app_policy::*;
use proptest::prelude::*;

mod bomb;
mod check_scale;

const IDS: &[&str] = &[
    "com.tencent.mm",
    "com.tencent.qq",
    "com.zhiliaoapp.musically",
    "com.kms.free",
    "com.kaspersky.kes",
    "org.mozilla.firefox",
    "com.android.chrome",
    "com.example.app",
];
const GLOBS: &[&str] = &[
    "com.tencent.*",
    "com.*.kes",
    "org.{mozilla,example}.*",
    "com.k?s.free",
];
const SIGNERS: &[&str] = &[
    "1111111111111111111111111111111111111111111111111111111111111111",
    "2222222222222222222222222222222222222222222222222222222222222222",
];
const GROUPS: &[&str] = &["government-issued", "pilot"];

#[derive(Debug, Clone)]
struct R {
    action: u8,
    ids: Vec<usize>,
    globs: Vec<usize>,
    signer: Option<usize>,
    vendor: bool,
    group: Option<usize>,
    effective: Option<u32>,
    grace: u32,
}

#[derive(Debug, Clone)]
struct E {
    rule: usize,
    device: usize,
    expires: u32,
}

fn rule() -> impl Strategy<Value = R> {
    (
        0u8..3,
        prop::collection::vec(0..IDS.len(), 0..3),
        prop::collection::vec(0..GLOBS.len(), 0..2),
        prop::option::of(0..SIGNERS.len()),
        any::<bool>(),
        prop::option::of(0..GROUPS.len()),
        prop::option::of(0u32..40),
        0u32..20,
    )
        .prop_map(
            |(action, ids, globs, signer, vendor, group, effective, grace)| R {
                action,
                ids,
                globs,
                signer,
                vendor,
                group,
                effective,
                grace,
            },
        )
}

fn day(n: u32) -> String {
    Date::parse("2023-10-01")
        .map(|d| d.add_days(n).to_string())
        .unwrap_or_default()
}

fn policy_toml(allowlist: bool, rules: &[R], exceptions: &[E], vendor_first: bool) -> String {
    let mut s = format!(
        "[policy]\nname = \"p\"\nmode = \"{}\"\n",
        if allowlist { "allowlist" } else { "denylist" }
    );
    let v1 = "[[vendors]]\nname = \"Kaspersky\"\napp_ids = [\"com.kms.free\"]\npackage_prefixes = [\"com.kaspersky.\"]\n";
    let v2 = "[[vendors]]\nname = \"Other\"\napp_ids = [\"com.example.app\"]\n";
    if vendor_first {
        s.push_str(v1);
        s.push_str(v2);
    } else {
        s.push_str(v2);
        s.push_str(v1);
    }
    for (i, r) in rules.iter().enumerate() {
        let mut ids: Vec<String> = r.ids.iter().map(|&k| format!("\"{}\"", IDS[k])).collect();
        ids.extend(r.globs.iter().map(|&k| format!("\"{}\"", GLOBS[k])));
        if ids.is_empty() && r.signer.is_none() && !r.vendor {
            ids.push("\"com.example.app\"".into());
        }
        s.push_str(&format!(
            "[[rules]]\nid = \"r{i}\"\naction = \"{}\"\napp_ids = [{}]\ngrace_days = {}\n",
            ["prohibit", "allow", "review"][r.action as usize],
            ids.join(", "),
            r.grace
        ));
        if let Some(k) = r.signer {
            s.push_str(&format!("signer_sha256 = [\"{}\"]\n", SIGNERS[k]));
        }
        if r.vendor {
            s.push_str("vendors = [\"Kaspersky\"]\n");
        }
        if let Some(e) = r.effective {
            s.push_str(&format!("effective = {}\n", day(e)));
        }
        if let Some(g) = r.group {
            s.push_str(&format!("[rules.scope]\ngroups = [\"{}\"]\n", GROUPS[g]));
        }
    }
    for (i, e) in exceptions.iter().enumerate() {
        if rules.is_empty() {
            break;
        }
        s.push_str(&format!("[[exceptions]]\nid = \"e{i}\"\nrule = \"r{}\"\ndevices = [\"d{}\"]\njustification = \"j\"\nrequester = \"a\"\napprover = \"b\"\nexpires = {}\n", e.rule % rules.len(), e.device, day(e.expires)));
    }
    s
}

fn devices() -> impl Strategy<Value = Vec<DeviceInventory>> {
    prop::collection::vec(
        (
            prop::collection::vec((0..IDS.len(), prop::option::of(0..SIGNERS.len())), 0..6),
            prop::option::of(0..GROUPS.len()),
        ),
        1..4,
    )
    .prop_map(|devs| {
        devs.into_iter()
            .enumerate()
            .map(|(i, (apps, g))| DeviceInventory {
                device: Device {
                    id: format!("d{i}"),
                    platform: Platform::Android,
                    groups: g.map(|g| vec![GROUPS[g].to_string()]).unwrap_or_default(),
                    ownership: Ownership::Corporate,
                },
                apps: apps
                    .into_iter()
                    .map(|(a, s)| App {
                        id: IDS[a].into(),
                        version: None,
                        version_code: None,
                        signers: s.map(|s| vec![SIGNERS[s].into()]).unwrap_or_default(),
                        installer: None,
                        publisher: None,
                    })
                    .collect(),
            })
            .collect()
    })
}

/// Straightforward reference: scan rules in order, no indexes.
fn reference_violation(p: &Policy, d: &DeviceInventory, app: &App, at: Date) -> bool {
    let matches = |r: &Rule| {
        r.app_ids.iter().any(|a| {
            if a.value.contains(['*', '?', '[', '{']) {
                globset::Glob::new(&a.value)
                    .map(|g| g.compile_matcher().is_match(&app.id))
                    .unwrap_or(false)
            } else {
                a.value == app.id
            }
        }) || r
            .signer_sha256
            .iter()
            .any(|s| app.signers.contains(&s.value))
            || r.vendors
                .iter()
                .filter_map(|v| p.vendor(&v.value))
                .any(|v| {
                    v.app_ids.contains(&app.id)
                        || v.package_prefixes
                            .iter()
                            .any(|pre| app.id.starts_with(pre.as_str()))
                })
    };
    let decider = p.rules.iter().find(|r| {
        matches(r)
            && r.scope.covers(&d.device.groups, d.device.ownership)
            && r.effective.is_none_or(|e| e <= at)
    });
    match decider {
        None => {
            p.mode == Mode::Allowlist && p.effective.is_none_or(|e| e.add_days(p.grace_days) <= at)
        }
        Some(r) if r.action != Action::Prohibit => false,
        Some(r) => {
            let past = r.deadline().is_none_or(|dl| dl <= at);
            let excepted = p.exceptions.iter().any(|e| {
                e.rule.value == r.id
                    && e.covers(&d.device.id, &d.device.groups, &app.id)
                    && e.active(at)
            });
            past && !excepted
        }
    }
}

fn violations(r: &Report) -> Vec<(String, String)> {
    r.devices
        .iter()
        .flat_map(|d| {
            d.findings
                .iter()
                .filter(|f| f.status == Status::Violation)
                .map(move |f| (d.device_id.clone(), f.app_id.clone()))
        })
        .collect()
}

type Stripped = (String, bool, Vec<(String, String, Status, Option<Date>)>);

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn prohibited_app_is_never_compliant(allow in any::<bool>(), rules in prop::collection::vec(rule(), 0..6), exc in prop::collection::vec((0usize..6, 0usize..3, 0u32..60).prop_map(|(rule, device, expires)| E { rule, device, expires }), 0..3), devs in devices(), at in 0u32..60) {
        let p = parse_policy(&policy_toml(allow, &rules, &exc, true), "p.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let cp = CompiledPolicy::new(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let at = Date::parse(&day(at)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for d in &devs {
            let rep = cp.evaluate(d, at);
            let expected = d.apps.iter().any(|a| reference_violation(&p, d, a, at));
            prop_assert_eq!(!rep.compliant, expected, "device {:?}\nreport {:?}", d, rep);
        }
    }

    #[test]
    fn adding_an_exception_never_adds_a_violation(rules in prop::collection::vec(rule(), 1..6), exc in prop::collection::vec((0usize..6, 0usize..3, 0u32..60).prop_map(|(rule, device, expires)| E { rule, device, expires }), 0..3), extra in (0usize..6, 0usize..3, 0u32..60).prop_map(|(rule, device, expires)| E { rule, device, expires }), devs in devices(), at in 0u32..60) {
        let p1 = parse_policy(&policy_toml(false, &rules, &exc, true), "p.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut more = exc.clone();
        more.push(extra);
        let p2 = parse_policy(&policy_toml(false, &rules, &more, true), "p.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let at = Date::parse(&day(at)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let r1 = CompiledPolicy::new(&p1).map_err(|e| TestCaseError::fail(e.to_string()))?.evaluate_all(&devs, at);
        let r2 = CompiledPolicy::new(&p2).map_err(|e| TestCaseError::fail(e.to_string()))?.evaluate_all(&devs, at);
        let (v1, v2) = (violations(&r1), violations(&r2));
        prop_assert!(v2.iter().all(|v| v1.contains(v)), "{:?} vs {:?}", v1, v2);
    }

    #[test]
    fn evaluation_is_order_independent(allow in any::<bool>(), rules in prop::collection::vec(rule(), 0..6), exc in prop::collection::vec((0usize..6, 0usize..3, 0u32..60).prop_map(|(rule, device, expires)| E { rule, device, expires }), 0..4), devs in devices(), at in 0u32..60, seed in any::<u64>()) {
        let p1 = parse_policy(&policy_toml(allow, &rules, &exc, true), "p.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut rexc = exc.clone();
        rexc.reverse();
        let p2 = parse_policy(&policy_toml(allow, &rules, &rexc, false), "p.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut shuffled = devs.clone();
        shuffled.reverse();
        for (i, d) in shuffled.iter_mut().enumerate() {
            let n = d.apps.len();
            if n > 1 { d.apps.rotate_left((seed as usize).wrapping_add(i) % n); d.apps.reverse(); }
        }
        let at = Date::parse(&day(at)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let r1 = CompiledPolicy::new(&p1).map_err(|e| TestCaseError::fail(e.to_string()))?.evaluate_all(&devs, at);
        let r2 = CompiledPolicy::new(&p2).map_err(|e| TestCaseError::fail(e.to_string()))?.evaluate_all(&shuffled, at);
        // Exception ids differ in order only; compare everything but the ids' positions.
        let strip = |r: &Report| -> Vec<Stripped> {
            r.devices.iter().map(|d| (d.device_id.clone(), d.compliant, d.findings.iter().map(|f| (f.app_id.clone(), f.rule.clone(), f.status, f.deadline)).collect())).collect()
        };
        prop_assert_eq!(strip(&r1), strip(&r2));
    }
}

/// Id segments that put dots before, on and after 8-byte word boundaries and make ids longer
/// than 64 bytes.
const SEGMENTS: &[&str] = &[
    "com",
    "a",
    "abcdefg",
    "abcdefgh",
    "tencent",
    "é",
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
];

fn segmented_id() -> impl Strategy<Value = String> {
    prop::collection::vec(0..SEGMENTS.len(), 1..6)
        .prop_map(|s| s.iter().map(|&i| SEGMENTS[i]).collect::<Vec<_>>().join("."))
}

/// `id` up to and including its `n`-th dot (counting round), or `id.` when it has none.
fn dotted_prefix(id: &str, n: usize) -> String {
    let dots: Vec<usize> = id.match_indices('.').map(|(i, _)| i).collect();
    match dots.get(n % dots.len().max(1)) {
        Some(&i) => id[..=i].to_string(),
        None => format!("{id}."),
    }
}

/// Signer digests, some written with leading zeros, and one that is also an app id.
fn signer(n: usize) -> String {
    match n % 4 {
        0 => format!("{n:064x}"),
        1 => format!("{:0<64}", format!("{n:x}")),
        2 => "com.a".to_string(),
        _ => format!("{:064x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The compiled indexes decide each app by the same rule as a scan of the rules in order,
    /// for exact ids, `x.*` globs, vendor package prefixes and signers.
    #[test]
    fn indexes_agree_with_a_scan(ids in prop::collection::vec(segmented_id(), 1..6), rules in prop::collection::vec((0u8..4, 0usize..64, 0usize..8), 1..10), apps in prop::collection::vec((0usize..64, 0usize..8, 0usize..8, any::<bool>()), 1..12)) {
        let pick = |i: usize| ids[i % ids.len()].clone();
        // (exact id, prefix, signer) of each rule; the prefix comes from a glob or a vendor.
        let mut matchers: Vec<(Option<String>, Option<String>, Option<String>)> = Vec::new();
        let mut toml = String::from("[policy]\nname = \"p\"\nmode = \"denylist\"\n");
        for (i, &(kind, id, n)) in rules.iter().enumerate() {
            let m = match kind {
                0 => (Some(pick(id)), None, None),
                1 | 2 => (None, Some(dotted_prefix(&pick(id), n)), None),
                _ => (None, None, Some(signer(n))),
            };
            toml.push_str(&format!("[[rules]]\nid = \"r{i}\"\naction = \"prohibit\"\n"));
            match (&m, kind) {
                ((Some(e), _, _), _) => toml.push_str(&format!("app_ids = [{e:?}]\n")),
                ((_, Some(p), _), 1) => toml.push_str(&format!("app_ids = [\"{p}*\"]\n")),
                ((_, Some(_), _), _) => toml.push_str(&format!("vendors = [\"v{i}\"]\n")),
                ((_, _, Some(s)), _) => toml.push_str(&format!("signer_sha256 = [{s:?}]\n")),
                _ => {}
            }
            matchers.push(m);
        }
        for (i, (_, p, _)) in matchers.iter().enumerate() {
            if let (Some(p), 2) = (p, rules[i].0) {
                toml.push_str(&format!("[[vendors]]\nname = \"v{i}\"\npackage_prefixes = [{p:?}]\n"));
            }
        }
        let p = parse_policy(&toml, "p.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let cp = CompiledPolicy::new(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let at = Date::parse("2024-01-01").map_err(|e| TestCaseError::fail(e.to_string()))?;
        for &(id, extra, s, signed) in &apps {
            let id = if extra % 3 == 0 { format!("{}{}", dotted_prefix(&pick(id), extra), pick(extra)) } else { pick(id) };
            let app = App { id, version: None, version_code: None, signers: if signed { vec![signer(s)] } else { vec![] }, installer: None, publisher: None };
            let expected = matchers.iter().position(|(e, pre, sg)| {
                e.as_ref().is_some_and(|e| *e == app.id)
                    || pre.as_ref().is_some_and(|pre| app.id.starts_with(pre.as_str()))
                    || sg.as_ref().is_some_and(|sg| app.signers.contains(sg))
            });
            let device = DeviceInventory {
                device: Device { id: "d".into(), platform: Platform::Android, groups: vec![], ownership: Ownership::Corporate },
                apps: vec![app],
            };
            let report = cp.evaluate(&device, at);
            let got: Vec<String> = report.findings.iter().map(|f| f.rule.clone()).collect();
            prop_assert_eq!(got, expected.map(|i| format!("r{i}")).into_iter().collect::<Vec<_>>(), "{}\n{:?}", toml, device.apps);
        }
    }
}

#[test]
fn parsers_never_panic_on_garbage() {
    for src in ["", "[", "[policy]\nname=1", "\u{0}\u{ffff}", "[[rules]]\nid=\"x\"", "[policy]\nname=\"x\"\nmode=\"denylist\"\n[[exceptions]]\nid=\"e\"\nrule=\"r\"\njustification=\"\"\nrequester=\"\"\napprover=\"\"\nexpires=2023-13-45\n"] {
        let _ = parse_policy(src, "x.toml");
        let _ = parse_inventory(src, "x.json");
        let _ = import_amapi(src, "x.json", &ImportOptions::default());
        let _ = import_osquery(src, "x.json", &ImportOptions::default());
        let _ = import_apple(src.as_bytes(), "x.plist", &ImportOptions::default());
        let _ = parse_list(src, "x.csv", ListFormat::Csv);
    }
}
