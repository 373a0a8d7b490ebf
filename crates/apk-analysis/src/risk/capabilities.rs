//! Sensitive capabilities, derived from manifest facts (components, their binding permissions and intent
//! filters, requested permissions, application flags) and the XML resources they point at.

use android_binxml::XmlDocument;

use super::model::{Capability, Severity};
use super::resources::XmlResources;
use crate::report::{Assessment, Component};

const P: &str = "android.permission.";

/// What the network security config says.
#[derive(Debug, Default)]
pub(crate) struct NetworkConfig {
    /// The file it was read from.
    pub(crate) path: String,
    /// `<base-config cleartextTrafficPermitted="true">`.
    pub(crate) base_cleartext: bool,
    /// Domains of `<domain-config cleartextTrafficPermitted="true">`.
    pub(crate) cleartext_domains: Vec<String>,
    /// Whether user-installed CAs are trusted outside `<debug-overrides>`.
    pub(crate) trusts_user_cas: bool,
    /// Every `<domain>` named.
    pub(crate) domains: Vec<String>,
}

fn attr_bool(doc_el: &android_binxml::Element, name: &str) -> Option<bool> {
    // The network security config uses un-namespaced attributes.
    let a = doc_el.attributes.iter().find(|a| a.name == name)?;
    a.value
        .as_bool()
        .or_else(|| a.raw_string.as_deref().map(|s| s == "true"))
        .or_else(|| a.value.as_str().map(|s| s == "true"))
}

pub(crate) fn network_config(res: &XmlResources<'_, '_>, a: &Assessment) -> Option<NetworkConfig> {
    let name = a.app.network_security_config.as_deref()?;
    let (path, doc) = res.xml(name)?;
    let mut nc = NetworkConfig {
        path,
        ..NetworkConfig::default()
    };
    for el in &doc.elements {
        let in_debug = ancestors(&doc, el).any(|p| p == "debug-overrides");
        match el.name.as_str() {
            "base-config" => {
                nc.base_cleartext |= attr_bool(el, "cleartextTrafficPermitted").unwrap_or(false);
            }
            "domain" => {
                if let Some(t) = el.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                    nc.domains.push(t.to_owned());
                    let cleartext = el
                        .parent
                        .and_then(|p| doc.elements.get(p))
                        .and_then(|p| attr_bool(p, "cleartextTrafficPermitted"))
                        .unwrap_or(false);
                    if cleartext {
                        nc.cleartext_domains.push(t.to_owned());
                    }
                }
            }
            "certificates" if !in_debug => {
                let src = el.attributes.iter().find(|a| a.name == "src");
                let src = src.and_then(|a| {
                    a.raw_string
                        .clone()
                        .or_else(|| a.value.as_str().map(str::to_owned))
                });
                if src.as_deref() == Some("user") {
                    nc.trusts_user_cas = true;
                }
            }
            _ => {}
        }
    }
    Some(nc)
}

fn ancestors<'d>(
    doc: &'d XmlDocument,
    el: &'d android_binxml::Element,
) -> impl Iterator<Item = &'d str> + 'd {
    let mut cur = el.parent;
    let mut steps = 0usize;
    std::iter::from_fn(move || {
        steps += 1;
        if steps > 64 {
            return None;
        }
        let p = doc.elements.get(cur?)?;
        cur = p.parent;
        Some(p.name.as_str())
    })
}

fn describe(c: &Component) -> String {
    let mut s = format!("<{} android:name=\"{}\"", c.kind, c.name);
    if let Some(p) = &c.permission {
        s.push_str(&format!(" android:permission=\"{p}\""));
    }
    s.push('>');
    if !c.actions.is_empty() {
        s.push_str(&format!(" actions: {}", c.actions.join(", ")));
    }
    s
}

/// Components bound by `permission` or filtering `action`.
fn bound<'a>(a: &'a Assessment, kind: &str, permission: &str, action: &str) -> Vec<&'a Component> {
    a.components
        .iter()
        .filter(|c| c.kind == kind)
        .filter(|c| {
            c.permission.as_deref() == Some(permission) || c.actions.iter().any(|x| x == action)
        })
        .collect()
}

fn requested(a: &Assessment, names: &[&str]) -> Vec<String> {
    a.permissions
        .iter()
        .filter(|p| {
            names
                .iter()
                .any(|n| p.name == format!("{P}{n}") || p.name == *n)
        })
        .map(|p| match p.max_sdk {
            Some(m) => format!(
                "<uses-permission android:name=\"{}\" android:maxSdkVersion=\"{m}\">",
                p.name
            ),
            None => format!("<uses-permission android:name=\"{}\">", p.name),
        })
        .collect()
}

fn meta_value<'a>(c: &'a Component, name: &str) -> Option<&'a str> {
    c.meta_data
        .iter()
        .find(|m| m.name == name)
        .and_then(|m| m.value.as_deref())
}

/// Derives every capability, in a fixed order.
pub(crate) fn derive(
    a: &Assessment,
    res: &XmlResources<'_, '_>,
    nsc: Option<&NetworkConfig>,
) -> Vec<Capability> {
    let mut out = Vec::new();
    let mut push = |id, title, severity, evidence: Vec<String>| {
        if !evidence.is_empty() {
            out.push(Capability {
                id,
                title,
                severity,
                evidence,
            });
        }
    };

    // Bound services and receivers.
    let acc = bound(
        a,
        "service",
        "android.permission.BIND_ACCESSIBILITY_SERVICE",
        "android.accessibilityservice.AccessibilityService",
    );
    let mut ev: Vec<String> = Vec::new();
    for c in &acc {
        ev.push(describe(c));
        if let Some((path, doc)) =
            meta_value(c, "android.accessibilityservice").and_then(|n| res.xml(n))
        {
            if let Some(root) = doc.root() {
                let flags: Vec<String> = [
                    "canRetrieveWindowContent",
                    "canPerformGestures",
                    "canRequestFilterKeyEvents",
                    "accessibilityEventTypes",
                    "accessibilityFlags",
                ]
                .iter()
                .filter_map(|n| {
                    root.android_attr(n).map(|v| {
                        format!(
                            "{n}={}",
                            v.raw_string.clone().unwrap_or_else(|| v.value.as_display())
                        )
                    })
                })
                .collect();
                ev.push(format!(
                    "{path}: {}",
                    if flags.is_empty() {
                        "no flags".to_owned()
                    } else {
                        flags.join(", ")
                    }
                ));
            }
        }
    }
    push(
        "accessibility_service",
        "Can read the screen and act as the user in every app (accessibility service)",
        Severity::Critical,
        ev,
    );

    let admin = bound(
        a,
        "receiver",
        "android.permission.BIND_DEVICE_ADMIN",
        "android.app.action.DEVICE_ADMIN_ENABLED",
    );
    let mut ev: Vec<String> = Vec::new();
    let mut wipe = false;
    for c in &admin {
        ev.push(describe(c));
        if let Some((path, doc)) =
            meta_value(c, "android.app.device_admin").and_then(|n| res.xml(n))
        {
            let policies: Vec<&str> = doc
                .elements
                .iter()
                .filter(|e| {
                    e.parent
                        .and_then(|p| doc.elements.get(p))
                        .is_some_and(|p| p.name == "uses-policies")
                })
                .map(|e| e.name.as_str())
                .collect();
            wipe |= policies
                .iter()
                .any(|p| *p == "wipe-data" || *p == "reset-password");
            ev.push(format!(
                "{path}: uses-policies {}",
                if policies.is_empty() {
                    "none".to_owned()
                } else {
                    policies.join(", ")
                }
            ));
        }
    }
    push(
        "device_admin",
        "Device administrator: can lock, set password rules or wipe the device",
        if wipe {
            Severity::Critical
        } else {
            Severity::High
        },
        ev,
    );

    let ev = bound(
        a,
        "service",
        "android.permission.BIND_VPN_SERVICE",
        "android.net.VpnService",
    )
    .iter()
    .map(|c| describe(c))
    .collect();
    push(
        "vpn_service",
        "VPN service: can see and redirect all network traffic",
        Severity::High,
        ev,
    );
    let ev = bound(
        a,
        "service",
        "android.permission.BIND_NOTIFICATION_LISTENER_SERVICE",
        "android.service.notification.NotificationListenerService",
    )
    .iter()
    .map(|c| describe(c))
    .collect();
    push(
        "notification_listener",
        "Reads every notification (messages, one-time codes)",
        Severity::High,
        ev,
    );
    let ev = bound(
        a,
        "service",
        "android.permission.BIND_INPUT_METHOD",
        "android.view.InputMethod",
    )
    .iter()
    .map(|c| describe(c))
    .collect();
    push(
        "input_method",
        "Keyboard (input method): sees everything the user types",
        Severity::High,
        ev,
    );

    // Permission-based capabilities.
    push(
        "sms_read",
        "Reads or receives SMS/MMS messages",
        Severity::High,
        requested(
            a,
            &["READ_SMS", "RECEIVE_SMS", "RECEIVE_MMS", "RECEIVE_WAP_PUSH"],
        ),
    );
    push(
        "sms_send",
        "Sends SMS messages",
        Severity::High,
        requested(a, &["SEND_SMS"]),
    );
    push(
        "call_log",
        "Reads or changes the call log",
        Severity::High,
        requested(
            a,
            &["READ_CALL_LOG", "WRITE_CALL_LOG", "PROCESS_OUTGOING_CALLS"],
        ),
    );
    push(
        "contacts",
        "Reads or changes contacts and accounts",
        Severity::Medium,
        requested(a, &["READ_CONTACTS", "WRITE_CONTACTS", "GET_ACCOUNTS"]),
    );
    push(
        "location_precise",
        "Precise (GPS) location",
        Severity::Medium,
        requested(a, &["ACCESS_FINE_LOCATION"]),
    );
    let mut ev = requested(a, &["ACCESS_BACKGROUND_LOCATION"]);
    let target = a.app.target_sdk.or(a.app.min_sdk).unwrap_or(1);
    if ev.is_empty() && target < 29 {
        let fg = requested(a, &["ACCESS_FINE_LOCATION", "ACCESS_COARSE_LOCATION"]);
        if !fg.is_empty() {
            ev = fg;
            ev.push(format!(
                "targetSdkVersion {target} < 29: a location grant also covers the background"
            ));
        }
    }
    push(
        "location_background",
        "Location while the app is not in use (background location)",
        Severity::High,
        ev,
    );
    push(
        "camera",
        "Camera",
        Severity::Medium,
        requested(a, &["CAMERA"]),
    );
    push(
        "microphone",
        "Microphone (records audio)",
        Severity::Medium,
        requested(a, &["RECORD_AUDIO"]),
    );
    push(
        "all_files_access",
        "Reads and writes all files in shared storage (all-files access)",
        Severity::High,
        requested(a, &["MANAGE_EXTERNAL_STORAGE"]),
    );
    push(
        "install_packages",
        "Installs other apps",
        Severity::High,
        requested(a, &["REQUEST_INSTALL_PACKAGES", "INSTALL_PACKAGES"]),
    );
    push(
        "query_all_packages",
        "Lists every installed app",
        Severity::Medium,
        requested(a, &["QUERY_ALL_PACKAGES"]),
    );
    push(
        "draw_over_apps",
        "Draws over other apps (overlays, tapjacking)",
        Severity::High,
        requested(a, &["SYSTEM_ALERT_WINDOW"]),
    );
    push(
        "usage_stats",
        "Sees which apps the user uses and when (usage stats)",
        Severity::Medium,
        requested(a, &["PACKAGE_USAGE_STATS"]),
    );
    push(
        "phone_identifiers",
        "Reads phone state, number and device identifiers",
        Severity::Medium,
        requested(
            a,
            &[
                "READ_PHONE_STATE",
                "READ_PHONE_NUMBERS",
                "READ_PRIVILEGED_PHONE_STATE",
            ],
        ),
    );

    let mut ev = requested(a, &["RECEIVE_BOOT_COMPLETED"]);
    if !ev.is_empty() {
        ev.extend(
            a.components
                .iter()
                .filter(|c| {
                    c.kind == "receiver"
                        && c.actions.iter().any(|x| {
                            x == "android.intent.action.BOOT_COMPLETED"
                                || x == "android.intent.action.LOCKED_BOOT_COMPLETED"
                        })
                })
                .map(describe),
        );
    }
    push(
        "start_at_boot",
        "Starts by itself when the device boots",
        Severity::Low,
        ev,
    );

    // Exported components other apps can reach without any permission (the launcher activity is expected).
    let open: Vec<&Component> = a
        .components
        .iter()
        .filter(|c| c.exported && c.enabled && c.permission.is_none())
        .filter(|c| {
            !(matches!(c.kind, "activity" | "activity-alias")
                && c.actions.iter().any(|x| x == "android.intent.action.MAIN")
                && c.categories
                    .iter()
                    .any(|x| x == "android.intent.category.LAUNCHER"))
        })
        .collect();
    let sev = if open
        .iter()
        .any(|c| matches!(c.kind, "service" | "provider" | "receiver"))
    {
        Severity::Medium
    } else {
        Severity::Low
    };
    push(
        "exported_unprotected",
        "Components other apps can start without a permission",
        sev,
        open.iter()
            .map(|c| format!("{} (exported: {})", describe(c), c.exported_reason))
            .collect(),
    );

    let mut ev = Vec::new();
    if a.app.uses_cleartext_traffic {
        ev.push(format!("<application> usesCleartextTraffic is true (explicitly or by default for targetSdkVersion {target})"));
    }
    if let Some(n) = nsc {
        if n.base_cleartext {
            ev.push(format!(
                "{}: <base-config cleartextTrafficPermitted=\"true\">",
                n.path
            ));
        }
        if !n.cleartext_domains.is_empty() {
            ev.push(format!(
                "{}: cleartext permitted for {}",
                n.path,
                n.cleartext_domains.join(", ")
            ));
        }
    }
    push(
        "cleartext_traffic",
        "Allows unencrypted (HTTP) network traffic",
        Severity::Medium,
        ev,
    );
    if let Some(n) = nsc.filter(|n| n.trusts_user_cas) {
        push(
            "user_ca_trusted",
            "Trusts user-installed certificate authorities (traffic interception possible)",
            Severity::Medium,
            vec![format!(
                "{}: <certificates src=\"user\"> outside <debug-overrides>",
                n.path
            )],
        );
    }
    if a.app.debuggable {
        push(
            "debuggable",
            "Debuggable: anyone with USB access can inspect and control the app",
            Severity::High,
            vec!["<application android:debuggable=\"true\">".to_owned()],
        );
    }
    if a.app.allow_backup {
        push(
            "backup_allowed",
            "App data can be copied off the device by backup",
            Severity::Low,
            vec!["<application> allowBackup is true (explicitly or by default)".to_owned()],
        );
    }
    out
}
