//! Compiling a policy into what MDMs enforce natively. Every export carries warnings for
//! what the target cannot express; nothing is dropped silently.

use crate::date::Date;
use crate::eval::{CompileError, CompiledPolicy};
use crate::inventory::App;
use crate::model::*;
use crate::slug;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Export targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Android Management API `Policy` JSON.
    Amapi,
    /// Apple configuration profile (`.mobileconfig`, Restrictions payload).
    Apple,
    /// Microsoft Intune compliance policies (Graph JSON) with `restrictedApps`.
    Intune,
    /// Fleet policies YAML with osquery SQL.
    Osquery,
}

/// Export knobs.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Only rules in force on this date (default: every rule, whatever its date).
    pub at: Option<Date>,
    /// AMAPI: emit `policyEnforcementRules` with this `wipeAfterDays` (AMAPI requires a
    /// wipe action next to the block action, so it is never invented).
    pub amapi_wipe_after_days: Option<u32>,
    /// osquery: emit detection queries (a row when a prohibited app is present) instead of
    /// Fleet policy queries (a row when the host passes).
    pub osquery_detect: bool,
    /// Assessed iOS apps: rules matching one by Team ID or by its main bundle id are expanded to every
    /// bundle id the IPA contains (app, extensions, watch app, App Clip), since iOS MDM blocks only by
    /// bundle id.
    pub assessed_apps: Vec<AssessedApp>,
}

/// What the export needs from an IPA's assessment (`interdict assess`, `"platform": "ios"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssessedApp {
    /// `app.bundle_id`.
    pub bundle_id: String,
    /// `signing.team_id`.
    pub team_id: Option<String>,
    /// `bundle_ids`: every bundle id in the IPA.
    pub bundle_ids: Vec<String>,
}

/// The exported document and what it could not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// File content (JSON, plist XML or YAML).
    pub content: String,
    /// What the target cannot express.
    pub warnings: Vec<String>,
}

/// Max `applications` entries in one AMAPI policy.
pub const AMAPI_MAX_APPLICATIONS: usize = 3000;
/// Max `restrictedApps` entries in one Intune compliance policy.
pub const INTUNE_MAX_RESTRICTED_APPS: usize = 100;

struct Plan {
    /// Exact ids to list, with the rules that put them there.
    ids: BTreeMap<String, Vec<String>>,
    warnings: Vec<String>,
}

fn in_force(r: &Rule, at: Option<Date>) -> bool {
    match (at, r.effective) {
        (Some(at), Some(e)) => e <= at,
        _ => true,
    }
}

fn probe(id: &str) -> App {
    App {
        id: id.to_string(),
        version: None,
        version_code: None,
        signers: Vec::new(),
        installer: None,
        publisher: None,
    }
}

/// Decides, for the exact app ids the policy knows on `platform`, which rule matches first;
/// keeps those whose deciding rule has an action in `want`. Warns about matchers that
/// cannot become exact ids.
fn plan(
    p: &Policy,
    cp: &CompiledPolicy<'_>,
    platform: Platform,
    want: &[Action],
    target: &str,
    opts: &ExportOptions,
) -> Plan {
    let mut warnings = Vec::new();
    let mut candidates: Vec<&str> = Vec::new();
    let rules: Vec<&Rule> = p
        .rules
        .iter()
        .filter(|r| r.applies_to(platform) && in_force(r, opts.at))
        .collect();
    for r in &rules {
        for a in &r.app_ids {
            if !is_glob(&a.value) {
                candidates.push(&a.value);
            }
        }
        for v in r.vendors.iter().filter_map(|v| p.vendor(&v.value)) {
            candidates.extend(v.app_ids.iter().map(String::as_str));
        }
        if !want.contains(&r.action) {
            continue;
        }
        let globs: Vec<&str> = r
            .app_ids
            .iter()
            .filter(|a| is_glob(&a.value))
            .map(|a| a.value.as_str())
            .collect();
        if !globs.is_empty() {
            warnings.push(format!(
                "rule {}: {target} cannot express app-id globs ({}); list the app ids explicitly",
                r.id,
                globs.join(", ")
            ));
        }
        let n_signers = r.signer_sha256.len().saturating_add(r.signer_sha1.len());
        if n_signers > 0 {
            warnings.push(format!("rule {}: {target} cannot match by signer certificate ({n_signers} digest(s)); expand them to app ids (evaluate inventories with `interdict policy eval` to find them)", r.id));
        }
        for v in r.vendors.iter().filter_map(|v| p.vendor(&v.value)) {
            if !v.package_prefixes.is_empty() {
                warnings.push(format!("rule {}: {target} cannot express vendor {}'s package prefixes ({}); only its listed app ids are exported", r.id, v.name, v.package_prefixes.join(", ")));
            }
            if !v.signer_sha256.is_empty() || !v.signer_sha1.is_empty() {
                warnings.push(format!("rule {}: {target} cannot match vendor {}'s signer digests; only its listed app ids are exported", r.id, v.name));
            }
        }
        if !r.scope.groups.is_empty()
            || !r.scope.exclude_groups.is_empty()
            || !r.scope.ownership.is_empty()
        {
            warnings.push(format!("rule {}: scope (groups/ownership) is not part of the {target} export; assign the export only to in-scope devices", r.id));
        }
    }
    candidates.sort_unstable();
    candidates.dedup();
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut scratch = Vec::new();
    for id in candidates {
        let mut best: Option<usize> = None;
        cp.for_each_hit(&probe(id), &mut scratch, |h, _| {
            let ok = p
                .rules
                .get(h.rule)
                .is_some_and(|r| r.applies_to(platform) && in_force(r, opts.at));
            if ok && best.is_none_or(|b| h.rule < b) {
                best = Some(h.rule);
            }
        });
        if let Some(r) = best.and_then(|b| p.rules.get(b)) {
            if want.contains(&r.action) {
                ids.entry(id.to_string()).or_default().push(r.id.clone());
            }
        }
    }
    // Assessed IPAs: a rule naming an IPA's Team ID or main bundle id covers every bundle id in it.
    for (ri, r) in p.rules.iter().enumerate() {
        if !r.applies_to(platform) || !in_force(r, opts.at) || !want.contains(&r.action) {
            continue;
        }
        let mut matched_team = false;
        for app in &opts.assessed_apps {
            let by_team = app
                .team_id
                .as_deref()
                .is_some_and(|t| r.team_ids.iter().any(|x| x.value.eq_ignore_ascii_case(t)));
            let by_id = r.app_ids.iter().any(|a| a.value == app.bundle_id);
            matched_team |= by_team;
            if !(by_team || by_id) {
                continue;
            }
            for bid in &app.bundle_ids {
                // An earlier rule that decides this id otherwise (e.g. an allow carve-out) wins.
                let mut earlier: Option<usize> = None;
                cp.for_each_hit(&probe(bid), &mut scratch, |h, _| {
                    if h.rule < ri && earlier.is_none_or(|b| h.rule < b) {
                        earlier = Some(h.rule);
                    }
                });
                if earlier
                    .and_then(|b| p.rules.get(b))
                    .is_some_and(|e| !want.contains(&e.action))
                {
                    continue;
                }
                let v = ids.entry(bid.clone()).or_default();
                if !v.contains(&r.id) {
                    v.push(r.id.clone());
                }
            }
        }
        if !r.team_ids.is_empty() && !matched_team {
            warnings.push(format!("rule {}: {target} cannot match by Team ID; no assessed IPA of team {} was given (pass `--assessments report.json` from `interdict assess`)", r.id, r.team_ids.iter().map(|t| t.value.as_str()).collect::<Vec<_>>().join(", ")));
        }
    }
    let review = rules.iter().filter(|r| r.action == Action::Review).count();
    if review > 0 && !want.contains(&Action::Review) {
        warnings.push(format!("{review} review rule(s) are not enforced by {target}; they only flag apps in `policy eval`"));
    }
    Plan { ids, warnings }
}

fn common_warnings(p: &Policy, w: &mut Vec<String>, target: &str) {
    if !p.exceptions.is_empty() {
        let ids: Vec<&str> = p.exceptions.iter().map(|e| e.id.as_str()).collect();
        w.push(format!("{target} has no per-device exceptions with expiry: {} exception(s) ({}) are not in this export; give the excepted devices a separate policy until the exception expires", ids.len(), ids.join(", ")));
    }
}

/// Exports the policy to `target`.
pub fn export(p: &Policy, target: Target, opts: &ExportOptions) -> Result<Export, CompileError> {
    let cp = CompiledPolicy::new(p)?;
    Ok(match target {
        Target::Amapi => amapi(p, &cp, opts),
        Target::Apple => apple(p, &cp, opts),
        Target::Intune => intune(p, &cp, opts),
        Target::Osquery => osquery(p, opts),
    })
}

fn want(p: &Policy) -> &'static [Action] {
    match p.mode {
        Mode::Denylist => &[Action::Prohibit],
        Mode::Allowlist => &[Action::Allow, Action::Review],
    }
}

fn amapi(p: &Policy, cp: &CompiledPolicy<'_>, opts: &ExportOptions) -> Export {
    let target = "AMAPI";
    let mut plan = plan(p, cp, Platform::Android, want(p), target, opts);
    let install_type = match p.mode {
        Mode::Denylist => "BLOCKED",
        Mode::Allowlist => "AVAILABLE",
    };
    let apps: Vec<Value> = plan
        .ids
        .keys()
        .map(|id| json!({"packageName": id, "installType": install_type}))
        .collect();
    if apps.len() > AMAPI_MAX_APPLICATIONS {
        plan.warnings.push(format!("{} applications exceed AMAPI's limit of {AMAPI_MAX_APPLICATIONS} per policy; split the policy", apps.len()));
    }
    let mut policy = serde_json::Map::new();
    match p.mode {
        Mode::Denylist => {
            policy.insert("playStoreMode".into(), json!("BLACKLIST"));
        }
        Mode::Allowlist => {
            policy.insert("playStoreMode".into(), json!("WHITELIST"));
            plan.warnings.push("playStoreMode WHITELIST uninstalls every app not listed, including ones allowed only by globs, signers or vendor prefixes".into());
        }
    }
    policy.insert("applications".into(), Value::Array(apps));
    let grace: Vec<u32> = p
        .rules
        .iter()
        .filter(|r| {
            r.action == Action::Prohibit && r.applies_to(Platform::Android) && in_force(r, opts.at)
        })
        .map(|r| r.grace_days)
        .collect();
    let min_grace = grace.iter().copied().min().unwrap_or(0);
    if grace.iter().any(|&g| g > 0) {
        plan.warnings.push("AMAPI uninstalls BLOCKED apps as soon as the policy applies: rule grace periods cannot delay removal; withhold the rule from the export until its deadline (`--at`)".into());
    }
    match opts.amapi_wipe_after_days {
        Some(wipe) if wipe > min_grace => {
            policy.insert(
                "policyEnforcementRules".into(),
                json!([{
                    "settingName": "applications",
                    "blockAction": {"blockAfterDays": min_grace, "blockScope": "BLOCK_SCOPE_WORK_PROFILE"},
                    "wipeAction": {"wipeAfterDays": wipe}
                }]),
            );
            if grace.iter().any(|&g| g != min_grace) {
                plan.warnings.push(format!("policyEnforcementRules apply to all `applications`: the shortest grace period ({min_grace} days) is used for every rule"));
            }
        }
        Some(wipe) => plan.warnings.push(format!("wipeAfterDays ({wipe}) must be greater than blockAfterDays ({min_grace}); policyEnforcementRules not emitted")),
        None => {
            if min_grace > 0 {
                plan.warnings.push("grace periods are not exported as policyEnforcementRules: AMAPI requires a wipeAction with every blockAction; pass --amapi-wipe-after-days N to emit them".into());
            }
        }
    }
    common_warnings(p, &mut plan.warnings, target);
    Export {
        content: serde_json::to_string_pretty(&Value::Object(policy)).unwrap_or_default() + "\n",
        warnings: plan.warnings,
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A deterministic UUID (RFC 4122 layout, version 5 nibble) from a SHA-256 of `seed`.
fn uuid_from(seed: &str) -> String {
    let h = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn apple(p: &Policy, cp: &CompiledPolicy<'_>, opts: &ExportOptions) -> Export {
    let target = "Apple Restrictions";
    let mut plan = plan(p, cp, Platform::Ios, want(p), target, opts);
    let key = match p.mode {
        Mode::Denylist => "blockedAppBundleIDs",
        Mode::Allowlist => "allowListedAppBundleIDs",
    };
    plan.warnings.push(format!(
        "{key} needs supervised iOS/iPadOS 15+ (or tvOS 15+) and is forbidden with User Enrollment"
    ));
    if p.mode == Mode::Denylist {
        plan.warnings.push("iOS hides blocked apps and prevents launching them but does not uninstall them; send RemoveApplication for managed apps (take over user-installed apps first)".into());
    } else {
        plan.warnings.push("allowListedAppBundleIDs hides every app not listed, including system apps: list the Apple apps users need".into());
    }
    if p.rules
        .iter()
        .any(|r| r.platforms.contains(&Platform::Macos) && !r.platforms.contains(&Platform::Ios))
    {
        plan.warnings.push("macOS-only rules are not expressible in this payload (macOS has no blockedAppBundleIDs); use the osquery export for macOS".into());
    }
    common_warnings(p, &mut plan.warnings, target);
    let ident = format!("org.interdict.policy.{}", slug(&p.name, "policy"));
    let ids: Vec<&String> = plan.ids.keys().collect();
    let content_seed = format!(
        "{}|{:?}|{key}|{}",
        p.name,
        p.version,
        ids.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    );
    let outer_uuid = uuid_from(&format!("profile|{content_seed}"));
    let inner_uuid = uuid_from(&format!("restrictions|{content_seed}"));
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n<dict>\n");
    let kv = |x: &mut String, ind: &str, k: &str, v: &str| {
        let _ = writeln!(
            x,
            "{ind}<key>{}</key>\n{ind}<string>{}</string>",
            xml_escape(k),
            xml_escape(v)
        );
    };
    x.push_str("\t<key>PayloadContent</key>\n\t<array>\n\t\t<dict>\n");
    let _ = writeln!(x, "\t\t\t<key>{key}</key>\n\t\t\t<array>");
    for id in &ids {
        let _ = writeln!(x, "\t\t\t\t<string>{}</string>", xml_escape(id));
    }
    x.push_str("\t\t\t</array>\n");
    kv(
        &mut x,
        "\t\t\t",
        "PayloadDisplayName",
        "Prohibited apps (restrictions)",
    );
    kv(
        &mut x,
        "\t\t\t",
        "PayloadIdentifier",
        &format!("{ident}.restrictions"),
    );
    kv(
        &mut x,
        "\t\t\t",
        "PayloadType",
        "com.apple.applicationaccess",
    );
    kv(&mut x, "\t\t\t", "PayloadUUID", &inner_uuid);
    x.push_str(
        "\t\t\t<key>PayloadVersion</key>\n\t\t\t<integer>1</integer>\n\t\t</dict>\n\t</array>\n",
    );
    let desc = format!(
        "{} (version {}), generated by interdict",
        p.description.clone().unwrap_or_else(|| p.name.clone()),
        p.version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "unversioned".into())
    );
    kv(&mut x, "\t", "PayloadDescription", &desc);
    kv(&mut x, "\t", "PayloadDisplayName", &p.name);
    kv(&mut x, "\t", "PayloadIdentifier", &ident);
    kv(&mut x, "\t", "PayloadType", "Configuration");
    kv(&mut x, "\t", "PayloadUUID", &outer_uuid);
    x.push_str("\t<key>PayloadVersion</key>\n\t<integer>1</integer>\n</dict>\n</plist>\n");
    Export {
        content: x,
        warnings: plan.warnings,
    }
}

/// Whether `id` can be an Android package name (segments of letters, digits and `_`, each
/// starting with a letter, at least two): an iOS bundle id with `-` cannot.
fn is_android_package(id: &str) -> bool {
    let mut n = 0usize;
    for seg in id.split('.') {
        n = n.saturating_add(1);
        let mut b = seg.bytes();
        if !b.next().is_some_and(|c| c.is_ascii_alphabetic())
            || !b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            return false;
        }
    }
    n >= 2
}

/// Intune (Graph): iOS as `iosCompliancePolicy.restrictedApps` (split by 100), Android as the
/// Android Enterprise form: for each app, the body of `mobileApps/{id}/assign` for the managed
/// Google Play app with that `packageId` (intent `uninstall`, or `available` for an
/// allowlist), with the device-owner Play Store mode. Never the Android device-administrator
/// `androidCompliancePolicy`, which Intune retired for Google Play devices in 2024, and no
/// object holds ids of both platforms.
fn intune(p: &Policy, cp: &CompiledPolicy<'_>, opts: &ExportOptions) -> Export {
    let mut warnings = Vec::new();
    let mut policies = Vec::new();
    let ios = plan(p, cp, Platform::Ios, want(p), "Intune iOS", opts);
    let android = plan(p, cp, Platform::Android, want(p), "Intune Android", opts);
    warnings.extend(ios.warnings);
    warnings.extend(android.warnings);
    let both: Vec<&str> = ios
        .ids
        .keys()
        .filter(|id| android.ids.contains_key(*id))
        .map(String::as_str)
        .collect();
    if !both.is_empty() {
        warnings.push(format!("Intune: {} ids are listed for both Android and iOS (a rule or vendor without per-platform ids): each is exported in the iOS policy and in the Android Enterprise list, which never share an object; give such rules `platforms` to keep them apart: {}", both.len(), both.join(", ")));
    }
    // iOS
    let items: Vec<Value> = ios
        .ids
        .iter()
        .map(|(id, rules)| {
            let publisher = rules
                .iter()
                .filter_map(|r| p.rule(r))
                .flat_map(|r| r.vendors.iter())
                .filter_map(|v| p.vendor(&v.value))
                .find(|v| v.app_ids.contains(id))
                .map(|v| v.name.clone());
            json!({"@odata.type": "#microsoft.graph.appListItem", "name": id, "publisher": publisher, "appStoreUrl": null, "appId": id})
        })
        .collect();
    if !items.is_empty() && p.mode == Mode::Allowlist {
        warnings.push("Intune compliance restrictedApps is a denylist: the iOS allowlist is exported as iosGeneralDeviceConfiguration.compliantAppsList with compliantAppListType appsInListCompliant".into());
        policies.push(json!({
            "@odata.type": "#microsoft.graph.iosGeneralDeviceConfiguration",
            "displayName": format!("{} (iOS allowed apps)", p.name),
            "compliantAppListType": "appsInListCompliant",
            "compliantAppsList": items,
        }));
    } else if !items.is_empty() {
        let chunks: Vec<&[Value]> = items.chunks(INTUNE_MAX_RESTRICTED_APPS).collect();
        if chunks.len() > 1 {
            warnings.push(format!("Intune iOS: {} restricted apps exceed the limit of {INTUNE_MAX_RESTRICTED_APPS} per policy; split into {} policies that must all be assigned", items.len(), chunks.len()));
        }
        let grace_days = p
            .rules
            .iter()
            .filter(|r| {
                r.action == Action::Prohibit && r.applies_to(Platform::Ios) && in_force(r, opts.at)
            })
            .map(|r| r.grace_days)
            .min()
            .unwrap_or(0);
        let hours = grace_days.saturating_mul(24).min(8760);
        for (i, chunk) in chunks.iter().enumerate() {
            let name = if chunks.len() > 1 {
                format!(
                    "{} (iOS restricted apps {}/{})",
                    p.name,
                    i.saturating_add(1),
                    chunks.len()
                )
            } else {
                format!("{} (iOS restricted apps)", p.name)
            };
            policies.push(json!({
                "@odata.type": "#microsoft.graph.iosCompliancePolicy",
                "displayName": name,
                "description": p.description,
                "restrictedApps": chunk,
                "scheduledActionsForRule": [{
                    "ruleName": "PasswordRequired",
                    "scheduledActionConfigurations": [{
                        "actionType": "block",
                        "gracePeriodHours": hours,
                        "notificationTemplateId": "",
                        "notificationMessageCCList": []
                    }]
                }]
            }));
        }
        warnings.push("Intune iOS restrictedApps only marks devices noncompliant (it applies to apps installed outside management); removal of managed apps needs an Uninstall assignment".into());
    }
    // Android Enterprise
    let (intent, mode) = match p.mode {
        Mode::Denylist => ("uninstall", "blockList"),
        Mode::Allowlist => ("available", "allowList"),
    };
    let mut apps = Vec::new();
    for id in android.ids.keys() {
        if !is_android_package(id) {
            warnings.push(format!("Intune Android: {id:?} is not an Android package name; left out of the Android Enterprise list"));
            continue;
        }
        apps.push(json!({
            "packageId": id,
            "assign": {"mobileAppAssignments": [{
                "@odata.type": "#microsoft.graph.mobileAppAssignment",
                "intent": intent,
                "target": {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}
            }]}
        }));
    }
    let mut out = serde_json::Map::new();
    out.insert("policies".into(), Value::Array(policies));
    if !apps.is_empty() {
        warnings.push(format!("Intune Android Enterprise: each app is an assignment with intent {intent} of the managed Google Play app (androidManagedStoreApp) with that packageId: POST deviceAppManagement/mobileApps/{{id}}/assign, after adding the app from managed Google Play (Intune acts on managed apps only); retarget allDevicesAssignmentTarget to your groups"));
        out.insert(
            "androidEnterprise".into(),
            json!({
                "playStore": {
                    "@odata.type": "#microsoft.graph.androidDeviceOwnerGeneralDeviceConfiguration",
                    "displayName": format!("{} (Android Enterprise Play Store)", p.name),
                    "playStoreMode": mode
                },
                "apps": apps
            }),
        );
    }
    common_warnings(p, &mut warnings, "Intune");
    Export {
        content: serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default() + "\n",
        warnings,
    }
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Expands `{a,b}` alternatives (no nesting needed beyond recursion) into plain globs.
fn expand_braces(g: &str) -> Vec<String> {
    let Some(open) = g.find('{') else {
        return vec![g.to_string()];
    };
    let Some(close_rel) = g.get(open..).and_then(|s| s.find('}')) else {
        return vec![g.to_string()];
    };
    let close = open.saturating_add(close_rel);
    let (pre, alts, post) = (
        g.get(..open).unwrap_or(""),
        g.get(open.saturating_add(1)..close).unwrap_or(""),
        g.get(close.saturating_add(1)..).unwrap_or(""),
    );
    alts.split(',')
        .flat_map(|a| expand_braces(&format!("{pre}{a}{post}")))
        .collect()
}

/// Converts a globset-style glob into SQLite GLOB syntax.
fn sqlite_glob(g: &str) -> String {
    let mut out = String::new();
    let mut chars = g.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('*' | '?' | '[')) => {
                    let _ = write!(out, "[{e}]");
                }
                Some(e) => out.push(e),
                None => {}
            },
            '[' => {
                out.push('[');
                if chars.peek() == Some(&'!') {
                    chars.next();
                    out.push('^');
                }
            }
            other => out.push(other),
        }
    }
    out
}

struct Cond {
    exact: Vec<String>,
    globs: Vec<String>,
    prefixes: Vec<String>,
    publishers: Vec<String>,
}

fn rule_cond(p: &Policy, r: &Rule) -> Cond {
    let mut c = Cond {
        exact: Vec::new(),
        globs: Vec::new(),
        prefixes: Vec::new(),
        publishers: Vec::new(),
    };
    for a in &r.app_ids {
        if is_glob(&a.value) {
            c.globs
                .extend(expand_braces(&a.value).iter().map(|g| sqlite_glob(g)));
        } else {
            c.exact.push(a.value.clone());
        }
    }
    for v in r.vendors.iter().filter_map(|v| p.vendor(&v.value)) {
        c.exact.extend(v.app_ids.iter().cloned());
        c.prefixes.extend(v.package_prefixes.iter().cloned());
        c.publishers.extend(v.publishers.iter().cloned());
    }
    c.exact.sort();
    c.exact.dedup();
    c
}

fn cond_sql(c: &Cond, id_col: &str, pub_col: Option<&str>) -> Option<String> {
    let mut parts = Vec::new();
    if !c.exact.is_empty() {
        parts.push(format!(
            "{id_col} IN ({})",
            c.exact
                .iter()
                .map(|s| sql_str(s))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for g in &c.globs {
        parts.push(format!("{id_col} GLOB {}", sql_str(g)));
    }
    for pre in &c.prefixes {
        parts.push(format!(
            "substr({id_col}, 1, {}) = {}",
            pre.chars().count(),
            sql_str(pre)
        ));
    }
    if let Some(pc) = pub_col {
        if !c.publishers.is_empty() {
            parts.push(format!(
                "lower({pc}) IN ({})",
                c.publishers
                    .iter()
                    .map(|s| sql_str(&s.to_lowercase()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    (!parts.is_empty()).then(|| format!("({})", parts.join(" OR ")))
}

/// (fleet platform, interdict platform, [(table, id column, publisher column)])
/// (table, id column, publisher column)
type OsqTable = (&'static str, &'static str, Option<&'static str>);

const OSQ_TABLES: &[(&str, Platform, &[OsqTable])] = &[
    (
        "darwin",
        Platform::Macos,
        &[("apps", "bundle_identifier", None)],
    ),
    (
        "windows",
        Platform::Windows,
        &[("programs", "name", Some("publisher"))],
    ),
    (
        "linux",
        Platform::Linux,
        &[
            ("deb_packages", "name", Some("maintainer")),
            ("rpm_packages", "name", Some("vendor")),
        ],
    ),
];

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn osquery(p: &Policy, opts: &ExportOptions) -> Export {
    let mut warnings = Vec::new();
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Fleet policies generated by interdict from policy {} (version {}).",
        p.name,
        p.version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "unversioned".into())
    );
    if opts.osquery_detect {
        y.push_str("# Detection form: each query returns a row per prohibited app present.\n");
    } else {
        y.push_str("# Fleet form: a host passes when the query returns a row, i.e. no prohibited app is present.\n# The inner SELECT after NOT EXISTS is the detection query (a row per prohibited app).\n");
    }
    let mut n = 0usize;
    for &(fleet_platform, platform, tables) in OSQ_TABLES {
        let rules: Vec<(usize, &Rule)> = p
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.applies_to(platform) && in_force(r, opts.at))
            .collect();
        // (name, description, resolution, detection selects)
        let mut items: Vec<(String, String, String, Vec<String>)> = Vec::new();
        match p.mode {
            Mode::Denylist => {
                for &(i, r) in rules.iter().filter(|(_, r)| r.action == Action::Prohibit) {
                    let c = rule_cond(p, r);
                    // Earlier allow rules carve exceptions out (first match decides).
                    let carve: Vec<Cond> = rules
                        .iter()
                        .filter(|(j, a)| *j < i && a.action == Action::Allow)
                        .map(|(_, a)| rule_cond(p, a))
                        .collect();
                    let mut selects = Vec::new();
                    for &(table, id_col, pub_col) in tables {
                        let Some(mut cond) = cond_sql(&c, id_col, pub_col) else {
                            continue;
                        };
                        for a in &carve {
                            if let Some(ac) = cond_sql(a, id_col, pub_col) {
                                cond = format!("{cond} AND NOT {ac}");
                            }
                        }
                        selects.push(format!(
                            "SELECT {id_col} AS app_id FROM {table} WHERE {cond}"
                        ));
                    }
                    if selects.is_empty() {
                        continue;
                    }
                    if !r.signer_sha256.is_empty() || !r.signer_sha1.is_empty() {
                        warnings.push(format!("rule {} ({fleet_platform}): signer digests are not in the {} table(s); only app ids, globs, vendor prefixes and publishers are queried", r.id, tables.iter().map(|t| t.0).collect::<Vec<_>>().join("/")));
                    }
                    let desc = r
                        .rationale
                        .clone()
                        .unwrap_or_else(|| r.title.clone().unwrap_or_else(|| r.id.clone()));
                    let resolution = format!(
                        "Uninstall the prohibited app ({}).{}",
                        r.title.clone().unwrap_or_else(|| r.id.clone()),
                        r.authority
                            .as_ref()
                            .map(|a| format!(" Authority: {a}."))
                            .unwrap_or_default()
                    );
                    items.push((
                        format!("interdict: {} ({fleet_platform})", r.id),
                        desc,
                        resolution,
                        selects,
                    ));
                }
            }
            Mode::Allowlist => {
                let allowed: Vec<Cond> = rules
                    .iter()
                    .filter(|(_, r)| r.action != Action::Prohibit)
                    .map(|(_, r)| rule_cond(p, r))
                    .collect();
                let mut selects = Vec::new();
                for &(table, id_col, pub_col) in tables {
                    let conds: Vec<String> = allowed
                        .iter()
                        .filter_map(|c| cond_sql(c, id_col, pub_col))
                        .collect();
                    let cond = if conds.is_empty() {
                        "1".to_string()
                    } else {
                        format!("NOT ({})", conds.join(" OR "))
                    };
                    selects.push(format!(
                        "SELECT {id_col} AS app_id FROM {table} WHERE {cond}"
                    ));
                }
                items.push((
                    format!("interdict: {} allowlist ({fleet_platform})", p.name),
                    "Only allowed apps may be installed.".into(),
                    "Uninstall apps that are not on the allowlist.".into(),
                    selects,
                ));
                if rules.iter().any(|(_, r)| r.action == Action::Prohibit) {
                    warnings.push(format!("{fleet_platform}: in allowlist mode prohibit rules that carve apps out of allow rules are not exported to osquery"));
                }
            }
        }
        for (name, desc, resolution, selects) in items {
            let detect = selects.join(" UNION ALL ");
            let query = if opts.osquery_detect {
                format!("{detect};")
            } else {
                format!("SELECT 1 WHERE NOT EXISTS ({detect});")
            };
            let _ = write!(
                y,
                "- name: {}\n  platform: {}\n  description: {}\n  resolution: {}\n  critical: true\n  query: {}\n",
                yaml_str(&name), fleet_platform, yaml_str(&desc), yaml_str(&resolution), yaml_str(&query)
            );
            n = n.saturating_add(1);
        }
    }
    if n == 0 {
        y.push_str("[]\n");
        warnings.push(
            "no rule applies to macOS, Windows or Linux; osquery does not run on Android or iOS"
                .into(),
        );
    }
    if p.rules
        .iter()
        .any(|r| r.applies_to(Platform::Android) || r.applies_to(Platform::Ios))
    {
        warnings.push("osquery does not inventory Android or iOS devices: use the AMAPI, Apple or Intune export for mobile rules".into());
    }
    if p.rules.iter().any(|r| {
        !r.scope.groups.is_empty()
            || !r.scope.exclude_groups.is_empty()
            || !r.scope.ownership.is_empty()
    }) {
        warnings.push("scope (groups/ownership) is not in the YAML: target the policies with Fleet teams or labels_include_any".into());
    }
    warnings.push(
        "Fleet detects but does not remove: attach a run_script or webhook automation to uninstall"
            .into(),
    );
    common_warnings(p, &mut warnings, "Fleet");
    Export {
        content: y,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intune_splits_ios_and_keeps_android_apart() {
        let ios: Vec<String> = (0..150)
            .map(|i| format!("\"com.ios-only.app{i}\""))
            .collect();
        let src = format!(
            "[policy]\nname = \"p\"\nversion = 1\nmode = \"denylist\"\n\n[[rules]]\nid = \"ios\"\naction = \"prohibit\"\napp_ids = [{}]\nplatforms = [\"ios\"]\nrationale = \"r\"\nauthority = \"a\"\n\n[[rules]]\nid = \"android\"\naction = \"prohibit\"\napp_ids = [\"com.tencent.mm\"]\nplatforms = [\"android\"]\nrationale = \"r\"\nauthority = \"a\"\n",
            ios.join(", ")
        );
        let p = crate::parse_policy(&src, "p.toml").expect("policy");
        let out = export(&p, Target::Intune, &ExportOptions::default()).expect("export");
        let v: Value = serde_json::from_str(&out.content).expect("json");
        let pols = v["policies"].as_array().expect("policies");
        assert_eq!(pols.len(), 2);
        assert_eq!(pols[0]["displayName"], "p (iOS restricted apps 1/2)");
        assert_eq!(
            pols[0]["restrictedApps"].as_array().map(Vec::len),
            Some(100)
        );
        assert_eq!(pols[1]["restrictedApps"].as_array().map(Vec::len), Some(50));
        for pol in pols {
            assert_eq!(pol["@odata.type"], "#microsoft.graph.iosCompliancePolicy");
            assert!(
                !pol.to_string().contains("com.tencent.mm"),
                "no Android id in an iOS object"
            );
        }
        let apps = v["androidEnterprise"]["apps"].as_array().expect("apps");
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0]["packageId"], "com.tencent.mm");
        assert_eq!(
            apps[0]["assign"]["mobileAppAssignments"][0]["intent"],
            "uninstall"
        );
        assert!(!out.content.contains("androidCompliancePolicy"));
        assert!(is_android_package("com.tencent.mm"));
        assert!(!is_android_package("com.ios-only.app1"));
        assert!(!is_android_package("single"));
        assert!(!is_android_package("com.1bad"));
    }

    #[test]
    fn globs_translate() {
        assert_eq!(expand_braces("com.{a,b}.*"), vec!["com.a.*", "com.b.*"]);
        assert_eq!(sqlite_glob("com.[!x]?\\*"), "com.[^x]?[*]");
        let u = uuid_from("x");
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'5');
    }
}
