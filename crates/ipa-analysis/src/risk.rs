//! Risk for an IPA: capabilities joined from four sources, trackers, endpoints, vendor and the verdict,
//! all in `apk-analysis`'s model and scored by its `score_input`.

use std::collections::BTreeMap;

use apk_analysis::risk::model::{Capability, Factor, Risk, Severity};
use apk_analysis::risk::verdict::{score_input, ScoreInput};
use apk_analysis::risk::RiskConfig;

use crate::report::IpaAssessment;
use crate::trackers::{self, Evidence, IosTrackerTable};

type Cap = (&'static str, &'static str, Severity);

fn usage_capability(key: &str) -> Option<Cap> {
    use Severity::*;
    Some(match key {
        "NSLocationAlwaysUsageDescription" | "NSLocationAlwaysAndWhenInUseUsageDescription" => (
            "location_always",
            "Location at any time, including in the background",
            High,
        ),
        "NSLocationWhenInUseUsageDescription" | "NSLocationUsageDescription" => {
            ("location", "Precise location while in use", Medium)
        }
        "NSContactsUsageDescription" => ("contacts", "Read the address book", High),
        "NSCameraUsageDescription" => ("camera", "Use the camera", Medium),
        "NSMicrophoneUsageDescription" => ("microphone", "Record audio", High),
        "NSPhotoLibraryUsageDescription" => ("photos", "Read the photo library", Medium),
        "NSCalendarsUsageDescription" | "NSCalendarsFullAccessUsageDescription" => {
            ("calendar", "Read calendars", Medium)
        }
        "NSRemindersUsageDescription" | "NSRemindersFullAccessUsageDescription" => {
            ("reminders", "Read reminders", Low)
        }
        "NSBluetoothAlwaysUsageDescription" | "NSBluetoothPeripheralUsageDescription" => {
            ("bluetooth", "Use Bluetooth (nearby devices, beacons)", Low)
        }
        "NSLocalNetworkUsageDescription" => ("local_network", "Scan the local network", Medium),
        "NSUserTrackingUsageDescription" => (
            "tracking_idfa",
            "Asks to track the user across apps (advertising identifier)",
            High,
        ),
        "NSHealthShareUsageDescription"
        | "NSHealthUpdateUsageDescription"
        | "NSHealthClinicalHealthRecordsShareUsageDescription" => ("health", "Health data", High),
        "NSMotionUsageDescription" => ("motion", "Motion and fitness sensors", Low),
        "NSSpeechRecognitionUsageDescription" => ("speech", "Speech recognition", Medium),
        "NSFaceIDUsageDescription" => ("biometrics", "Face ID", Low),
        "NFCReaderUsageDescription" => ("nfc", "Read NFC tags", Low),
        "NSSiriUsageDescription" => ("siri", "Siri integration", Low),
        "NSHomeKitUsageDescription" => ("homekit", "Control home devices", Medium),
        "NSSensorKitUsageDescription" => (
            "sensorkit",
            "SensorKit research data (keyboard, calls, visits)",
            High,
        ),
        _ => return None,
    })
}

fn entitlement_capability(key: &str) -> Option<Cap> {
    use Severity::*;
    Some(match key {
        "com.apple.developer.networking.networkextension" => (
            "network_extension",
            "Network extension: VPN, content filter or DNS proxy seeing device traffic",
            Critical,
        ),
        "com.apple.developer.networking.vpn.api" => {
            ("vpn_configuration", "Configure a personal VPN", High)
        }
        "com.apple.developer.healthkit" => ("health", "Health data", High),
        "com.apple.developer.homekit" => ("homekit", "Control home devices", Medium),
        "com.apple.developer.family-controls" => {
            ("family_controls", "Screen Time and app usage control", High)
        }
        "com.apple.developer.contacts.notes" => ("contacts", "Read the address book", High),
        "com.apple.developer.sensorkit.reader.allow" => (
            "sensorkit",
            "SensorKit research data (keyboard, calls, visits)",
            High,
        ),
        "get-task-allow" => ("debuggable", "Debuggable build (get-task-allow)", Medium),
        "com.apple.developer.usernotifications.communication" => (
            "communication_notifications",
            "Communication notifications (calls and messages)",
            Low,
        ),
        _ => return None,
    })
}

fn background_capability(mode: &str) -> Option<Cap> {
    use Severity::*;
    Some(match mode {
        "location" => (
            "background_location",
            "Location updates in the background",
            High,
        ),
        "voip" => (
            "background_voip",
            "Runs in the background for VoIP calls",
            Medium,
        ),
        "audio" => (
            "background_audio",
            "Plays or records audio in the background",
            Low,
        ),
        "bluetooth-central" | "bluetooth-peripheral" => {
            ("background_bluetooth", "Bluetooth in the background", Low)
        }
        "fetch" | "processing" | "remote-notification" => (
            "background_refresh",
            "Wakes in the background to fetch data",
            Low,
        ),
        _ => return None,
    })
}

fn extension_capability(point: &str, open_access: bool) -> Option<Cap> {
    use Severity::*;
    Some(match point {
        "com.apple.keyboard-service" if open_access => (
            "keyboard_full_access",
            "Custom keyboard with Full Access: sees what is typed and may send it over the network",
            Critical,
        ),
        "com.apple.keyboard-service" => (
            "custom_keyboard",
            "Custom keyboard: sees what is typed with it",
            High,
        ),
        "com.apple.networkextension.packet-tunnel"
        | "com.apple.networkextension.app-proxy"
        | "com.apple.networkextension.dns-proxy"
        | "com.apple.networkextension.filter-data"
        | "com.apple.networkextension.filter-control" => (
            "network_extension",
            "Network extension: VPN, content filter or DNS proxy seeing device traffic",
            Critical,
        ),
        "com.apple.callkit.call-directory" | "com.apple.identitylookup.message-filter" => (
            "call_sms_metadata",
            "Caller ID or SMS filter: sees call and message metadata",
            High,
        ),
        "com.apple.broadcast-services-upload" => {
            ("screen_broadcast", "Records and uploads the screen", High)
        }
        "com.apple.authentication-services-credential-provider-ui" => {
            ("credential_provider", "Password autofill provider", High)
        }
        "com.apple.usernotifications.service" => (
            "notification_service",
            "Reads and rewrites push notifications",
            Medium,
        ),
        _ => return None,
    })
}

struct Caps(BTreeMap<&'static str, Capability>);

impl Caps {
    fn add(&mut self, cap: Cap, evidence: String) {
        let c = self.0.entry(cap.0).or_insert_with(|| Capability {
            id: cap.0,
            title: cap.1,
            severity: cap.2,
            evidence: Vec::new(),
        });
        c.severity = c.severity.max(cap.2);
        if c.evidence.len() < 20 && !c.evidence.contains(&evidence) {
            c.evidence.push(evidence);
        }
    }
}

fn value_text(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}...", &s[..s.floor_char_boundary_compat(117)])
    } else {
        s
    }
}

trait FloorBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorBoundary for String {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

fn list(items: impl IntoIterator<Item = String>, max: usize) -> String {
    let all: Vec<String> = items.into_iter().collect();
    let n = all.len();
    let mut shown: Vec<String> = all.into_iter().take(max).collect();
    if n > max {
        shown.push(format!("and {} more", n - max));
    }
    shown.join(", ")
}

/// Fills `capabilities`, `trackers`, `endpoints`, `vendor`, `privacy_contradictions` and `risk`.
pub(crate) fn apply(
    a: &mut IpaAssessment,
    cfg: &RiskConfig,
    strings: &[(String, String)],
    entitlements: &[(String, serde_json::Value)],
) {
    // Capabilities from four sources.
    let mut caps = Caps(BTreeMap::new());
    for u in &a.info.usage_descriptions {
        if let Some(c) = usage_capability(&u.key) {
            caps.add(c, format!("Info.plist {}: {:?}", u.key, u.text));
        }
    }
    for (path, ents) in entitlements {
        if let serde_json::Value::Object(map) = ents {
            for (k, v) in map {
                if k == "get-task-allow" && v != &serde_json::Value::Bool(true) {
                    continue;
                }
                if let Some(c) = entitlement_capability(k) {
                    caps.add(c, format!("entitlement {k} = {} ({path})", value_text(v)));
                }
            }
        }
    }
    for m in &a.info.background_modes {
        if let Some(c) = background_capability(m) {
            caps.add(c, format!("Info.plist UIBackgroundModes: {m}"));
        }
    }
    for b in &a.bundles {
        if let Some(p) = &b.extension_point {
            if let Some(c) = extension_capability(p, b.requests_open_access) {
                let extra = if b.requests_open_access {
                    " with RequestsOpenAccess"
                } else {
                    ""
                };
                caps.add(
                    c,
                    format!("{}: NSExtensionPointIdentifier {p}{extra}", b.path),
                );
            }
        }
    }
    let capabilities: Vec<Capability> = caps.0.into_values().collect();

    // Trackers.
    let mut ev = Evidence::default();
    let mut linked_frameworks: Vec<String> = Vec::new();
    for bin in &a.binaries {
        for s in &bin.slices {
            ev.objc_classes.extend(s.objc_classes.iter().cloned());
            for d in &s.dylibs {
                let base = d.name.rsplit('/').next().unwrap_or(&d.name).to_owned();
                ev.frameworks.insert(base.clone());
                linked_frameworks.push(base);
            }
        }
    }
    for b in a.bundles.iter().filter(|b| b.kind == "framework") {
        if let Some(name) = b
            .path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".framework"))
        {
            ev.frameworks.insert(name.to_owned());
        }
        if let Some(id) = &b.bundle_id {
            ev.bundle_ids.insert(id.clone());
        }
    }
    ev.skadnetwork
        .extend(a.info.skadnetwork_ids.iter().cloned());
    let mut tracker_list = trackers::matches(IosTrackerTable::builtin(), &ev);

    // Endpoints: code strings (when not encrypted), ATS exception domains, privacy-manifest tracking domains.
    let mut texts: Vec<(String, String)> = strings.to_vec();
    for m in &a.privacy_manifests {
        for d in &m.tracking_domains {
            texts.push((d.clone(), format!("{} NSPrivacyTrackingDomains", m.path)));
        }
    }
    let endpoints =
        apk_analysis::risk::endpoints_in(texts.iter().map(|(t, s)| (t.as_str(), s.as_str())));
    let mut net = cfg.trackers.start();
    for e in &endpoints {
        net.host(&e.host);
    }
    for t in net.finish() {
        if !tracker_list.iter().any(|x| x.name == t.name) {
            tracker_list.push(t);
        }
    }

    // Privacy-manifest contradictions.
    let root_manifest = a
        .privacy_manifests
        .iter()
        .find(|m| m.path == format!("{}PrivacyInfo.xcprivacy", a.app.path));
    let ad_evidence: Vec<String> = {
        let mut v = Vec::new();
        if linked_frameworks.iter().any(|f| f == "AdSupport") {
            v.push("AdSupport is linked".to_owned());
        }
        if ev.objc_classes.contains("ASIdentifierManager") {
            v.push("ASIdentifierManager (IDFA) is imported".to_owned());
        }
        if a.info
            .usage_descriptions
            .iter()
            .any(|u| u.key == "NSUserTrackingUsageDescription")
        {
            v.push("NSUserTrackingUsageDescription asks for tracking permission".to_owned());
        }
        for t in &tracker_list {
            if t.categories.iter().any(|c| c == "Advertisement")
                && t.evidence.iter().any(|e| e.kind == "code")
            {
                v.push(format!("advertising SDK {} is embedded", t.name));
            }
        }
        v
    };
    let mut contradictions = Vec::new();
    if let Some(m) = root_manifest {
        if m.tracking == Some(false) && !ad_evidence.is_empty() {
            contradictions.push(format!(
                "{} declares NSPrivacyTracking false, but {}",
                m.path,
                ad_evidence.join("; ")
            ));
        }
        for other in a
            .privacy_manifests
            .iter()
            .filter(|o| o.tracking == Some(true))
        {
            if m.tracking == Some(false) {
                contradictions.push(format!(
                    "{} declares NSPrivacyTracking false, but the embedded {} declares tracking{}",
                    m.path,
                    other.path,
                    if other.tracking_domains.is_empty() {
                        String::new()
                    } else {
                        format!(" to {}", other.tracking_domains.join(", "))
                    }
                ));
            }
        }
    }
    a.privacy_contradictions = contradictions;

    // Vendor: Team ID (signature, certificate, profile), then bundle id prefix.
    let mut teams: Vec<String> = Vec::new();
    if let Some(s) = &a.signing {
        teams.extend(s.team_id.clone());
        teams.extend(s.certificate.as_ref().and_then(|c| c.team_id.clone()));
    }
    if let Some(p) = &a.provisioning_profile {
        teams.extend(p.team_id.clone());
    }
    teams.dedup();
    let mut vendor = cfg
        .vendors
        .attribute_ios(&a.app.bundle_id, &teams, &cfg.concern);
    // A Team ID match is verified only when the code signer's chain verified and its certificate OU is that
    // team (iOS requires the CodeDirectory team to equal it). A verified profile alone is not enough: any
    // genuine profile can be copied into an IPA signed by someone else.
    if let Some(v) = vendor.as_mut().filter(|v| v.matched_by == "team_id") {
        let same = |t: Option<&String>| t.is_some_and(|t| t.eq_ignore_ascii_case(&v.matched_value));
        let code = a.signing.as_ref().is_some_and(|s| {
            s.chain == "verified" && same(s.certificate.as_ref().and_then(|c| c.team_id.as_ref()))
        });
        v.verified = code;
    }

    // Platform factors.
    let mut extra = Vec::new();
    if let Some(p) = a
        .provisioning_profile
        .as_ref()
        .filter(|p| p.provisions_all_devices)
    {
        extra.push(Factor {
            id: "enterprise_distribution".into(),
            points: 15,
            title: "Enterprise (in-house) distribution: installs on any device without App Review"
                .into(),
            evidence: format!(
                "embedded.mobileprovision ProvisionsAllDevices, team {}",
                p.team_id.clone().unwrap_or_default()
            ),
        });
    }
    match &a.signing {
        Some(s) if !s.signed => extra.push(Factor {
            id: "not_signed".into(),
            points: 10,
            title: "The main executable is not signed, so its origin cannot be attributed; the verdict is at least \"review\" whatever the score".into(),
            evidence: s.chain_note.clone(),
        }),
        _ => {}
    }
    if !a.code_analysed {
        extra.push(Factor {
            id: "code_not_analysed".into(),
            points: 0,
            title: "Code not analysed (encrypted): absence of code findings is not evidence".into(),
            evidence: a.code_note.clone().unwrap_or_default(),
        });
    }
    if !a.privacy_contradictions.is_empty() {
        extra.push(Factor {
            id: "privacy_manifest_contradiction".into(),
            points: (a.privacy_contradictions.len() as u32)
                .saturating_mul(5)
                .min(10),
            title: "The privacy manifest contradicts the evidence".into(),
            evidence: list(a.privacy_contradictions.iter().cloned(), 2),
        });
    }
    let ats = &a.info.ats;
    if ats.allows_arbitrary_loads || ats.exception_domains.iter().any(|d| d.allows_insecure_http) {
        extra.push(Factor {
            id: "ats_weakened".into(),
            points: 3,
            title: "App Transport Security weakened (cleartext HTTP allowed)".into(),
            evidence: list(
                std::iter::once("NSAllowsArbitraryLoads".to_owned())
                    .filter(|_| ats.allows_arbitrary_loads)
                    .chain(
                        ats.exception_domains
                            .iter()
                            .filter(|d| d.allows_insecure_http)
                            .map(|d| format!("{} allows insecure HTTP", d.domain)),
                    ),
                4,
            ),
        });
    }
    let mut codes: Vec<&str> = a.anomalies.iter().map(|x| x.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let score = score_input(
        &ScoreInput {
            capabilities: &capabilities,
            trackers: &tracker_list,
            endpoints: &endpoints,
            vendor: vendor.as_ref(),
            anomaly_codes: &codes,
            thresholds: cfg.thresholds,
            // An unsigned executable has no origin to attribute, as an APK whose signature
            // does not verify.
            at_least_review: a.signing.as_ref().is_some_and(|s| !s.signed),
        },
        extra,
    );
    a.risk = Some(Risk {
        score: score.0,
        verdict: score.1,
        thresholds: cfg.thresholds,
        factors: score.2,
        permissions: Vec::new(),
        notes: cfg.trackers.notes.clone(),
    });
    a.capabilities = Some(capabilities);
    a.trackers = Some(tracker_list);
    a.endpoints = Some(endpoints);
    a.vendor = vendor;
}
