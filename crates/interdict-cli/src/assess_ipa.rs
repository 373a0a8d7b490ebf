//! `interdict assess` for iOS apps (`.ipa`): the same report family (`interdict.assessment/v1`,
//! `"platform": "ios"`), text summary and HTML page as for APKs.

use std::fmt::Write as _;

use crate::html::{esc, table, STYLE};

/// Whether the input should be read as an IPA: by extension, else by content (a ZIP with `Payload/*.app/`).
pub(crate) fn is_ipa_input(path: &std::path::Path, data: &[u8]) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("ipa") => true,
        Some(e) if e.eq_ignore_ascii_case("apk") => false,
        _ => ipa_analysis::is_ipa(data),
    }
}

/// The iOS options from the APK ones (same limits and risk configuration).
pub(crate) fn options_of(o: &apk_analysis::Options) -> ipa_analysis::Options {
    ipa_analysis::Options {
        limits: o.limits,
        risk: o.risk.clone(),
        ..ipa_analysis::Options::default()
    }
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// A short summary for people.
pub(crate) fn text_summary(r: &ipa_analysis::IpaAssessment) -> String {
    let a = &r.app;
    let mut s = String::new();
    let _ = writeln!(s, "{}", clean(&r.file.path));
    let _ = writeln!(
        s,
        "  bundle    {}  version {} ({})  iOS {}+",
        clean(&a.bundle_id),
        clean(a.version.as_deref().unwrap_or("-")),
        clean(a.build.as_deref().unwrap_or("-")),
        clean(a.minimum_os.as_deref().unwrap_or("-"))
    );
    let _ = writeln!(s, "  name      {}", clean(&a.name));
    let _ = writeln!(s, "  bundle ids (MDM) {}", clean(&r.bundle_ids.join(", ")));
    if let Some(sig) = &r.signing {
        let _ = writeln!(
            s,
            "  signer    team {}  identifier {}  chain {}  distribution {}",
            clean(sig.team_id.as_deref().unwrap_or("-")),
            clean(sig.identifier.as_deref().unwrap_or("-")),
            sig.chain,
            sig.distribution
        );
        if sig.chain != "not_signed" {
            let _ = writeln!(s, "  chain     {}", clean(&sig.chain_note));
            for c in &sig.chain_path {
                let _ = writeln!(
                    s,
                    "    {} ({}, sha256 {})",
                    clean(&c.subject),
                    c.source,
                    &c.sha256
                );
            }
        }
        if let serde_json::Value::Object(m) = &sig.entitlements {
            let keys: Vec<&str> = m.keys().map(String::as_str).collect();
            let _ = writeln!(
                s,
                "  entitlements ({}) {}",
                sig.entitlements_source.unwrap_or("-"),
                clean(&keys.join(", "))
            );
        }
    }
    for b in &r.bundles {
        if let Some(p) = &b.extension_point {
            let _ = writeln!(
                s,
                "  extension {}  {}{}",
                clean(b.bundle_id.as_deref().unwrap_or("-")),
                clean(p),
                if b.requests_open_access {
                    " (RequestsOpenAccess)"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(note) = &r.code_note {
        let _ = writeln!(s, "  NOTE      {}", clean(note));
    }
    if let Some(v) = &r.vendor {
        let _ = writeln!(
            s,
            "  vendor    {} ({}) by {}{} {}{}",
            clean(&v.name),
            clean(&v.country),
            v.matched_by,
            if v.verified { " (verified chain)" } else { "" },
            clean(&v.matched_value),
            if v.of_concern {
                "  [jurisdiction of concern]"
            } else {
                ""
            }
        );
    }
    if let Some(c) = &r.capabilities {
        for c in c {
            let _ = writeln!(
                s,
                "  capability {:<8} {}  [{}]",
                c.severity.as_str(),
                c.title,
                clean(c.evidence.first().map(String::as_str).unwrap_or(""))
            );
        }
    }
    if let Some(t) = &r.trackers {
        if !t.is_empty() {
            let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
            let _ = writeln!(s, "  trackers  {}", clean(&names.join(", ")));
        }
    }
    for c in &r.privacy_contradictions {
        let _ = writeln!(s, "  privacy   {}", clean(c));
    }
    if let Some(risk) = &r.risk {
        let _ = writeln!(s, "  verdict   {} (score {})", risk.verdict, risk.score);
        for f in risk.factors.iter().take(6) {
            let _ = writeln!(s, "    +{:<3} {}", f.points, clean(&f.title));
        }
    }
    if !r.anomalies.is_empty() {
        let _ = writeln!(s, "  anomalies {}", r.anomalies.len());
        for x in r.anomalies.iter().take(5) {
            let _ = writeln!(s, "    {}: {}", x.code, clean(&x.detail));
        }
    }
    s
}

/// One self-contained HTML page (same style as the APK page).
pub(crate) fn render_html(r: &ipa_analysis::IpaAssessment) -> String {
    let a = &r.app;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>interdict: {}</title><style>{STYLE}</style></head><body><main>",
        esc(&a.name)
    );
    let _ = write!(
        o,
        "<h1>{}</h1><p class=\"sub\">iOS &middot; {} &middot; version {} ({}) &middot; team {} &middot; SHA-256 {}</p>",
        esc(&a.name),
        esc(&a.bundle_id),
        esc(a.version.as_deref().unwrap_or("-")),
        esc(a.build.as_deref().unwrap_or("-")),
        esc(r.signing.as_ref().and_then(|s| s.team_id.as_deref()).unwrap_or("-")),
        esc(&r.file.sha256)
    );
    if let Some(note) = &r.code_note {
        let _ = write!(
            o,
            "<div class=\"card\"><strong>{}</strong></div>",
            esc(note)
        );
    }
    if let Some(risk) = &r.risk {
        let _ = write!(
            o,
            "<div class=\"card verdict\"><div class=\"badge {v}\">{v}</div>\
             <div class=\"score\">{s}<small> / 100</small></div>\
             <div class=\"muted\">Review from {rv} points, unacceptable from {un} points.<br>\
             The score is the sum of the reasons below; each one can be checked in the IPA.</div></div>",
            v = esc(risk.verdict),
            s = risk.score,
            rv = risk.thresholds.review,
            un = risk.thresholds.unacceptable,
        );
        o.push_str("<h2>Why: the reasons for this score</h2>");
        table(
            &mut o,
            &["Points", "Reason", "Evidence"],
            risk.factors
                .iter()
                .map(|f| {
                    vec![
                        format!("+{}", f.points),
                        esc(&f.title),
                        format!("<span class=\"ev\">{}</span>", esc(&f.evidence)),
                    ]
                })
                .collect(),
            "No risk factor.",
        );
    }
    o.push_str("<h2>Bundle ids (what iOS MDM can block)</h2>");
    table(
        &mut o,
        &["Bundle id", "Kind", "Extension point"],
        r.bundles
            .iter()
            .filter(|b| b.kind != "framework")
            .map(|b| {
                vec![
                    esc(b.bundle_id.as_deref().unwrap_or("-")),
                    esc(b.kind),
                    esc(&format!(
                        "{}{}",
                        b.extension_point.as_deref().unwrap_or(""),
                        if b.requests_open_access {
                            " (RequestsOpenAccess)"
                        } else {
                            ""
                        }
                    )),
                ]
            })
            .collect(),
        "No bundle.",
    );
    if let Some(sig) = r.signing.as_ref().filter(|s| s.chain != "not_signed") {
        let _ = write!(
            o,
            "<h2>Signer chain</h2><div class=\"card\"><strong>{}</strong><br><span class=\"ev\">{}</span></div>",
            esc(sig.chain),
            esc(&sig.chain_note)
        );
        table(
            &mut o,
            &["Subject", "From", "SHA-256", "Valid until (not enforced)"],
            sig.chain_path
                .iter()
                .map(|c| {
                    vec![
                        esc(&c.subject),
                        esc(c.source),
                        format!("<span class=\"ev\">{}</span>", esc(&c.sha256)),
                        esc(&c.not_after),
                    ]
                })
                .collect(),
            "No certificate path.",
        );
    }
    if let Some(v) = &r.vendor {
        let _ = write!(
            o,
            "<h2>Vendor</h2><div class=\"card\">{} ({}) &middot; matched by {}{} <span class=\"ev\">{}</span>{}<br><span class=\"muted\">{}</span></div>",
            esc(&v.name),
            esc(&v.country),
            esc(v.matched_by),
            if v.verified { " (verified chain)" } else { "" },
            esc(&v.matched_value),
            if v.of_concern { " &middot; <strong>jurisdiction of concern</strong>" } else { "" },
            esc(&v.ownership)
        );
    }
    if let Some(caps) = &r.capabilities {
        o.push_str("<h2>Capabilities</h2>");
        table(
            &mut o,
            &["Severity", "Capability", "Evidence"],
            caps.iter()
                .map(|c| {
                    vec![
                        format!("<span class=\"sev {0}\">{0}</span>", c.severity.as_str()),
                        esc(c.title),
                        format!("<span class=\"ev\">{}</span>", esc(&c.evidence.join("\n"))),
                    ]
                })
                .collect(),
            "No sensitive capability.",
        );
    }
    if let Some(t) = &r.trackers {
        o.push_str("<h2>Trackers</h2>");
        table(
            &mut o,
            &["Tracker", "Categories", "Evidence"],
            t.iter()
                .map(|t| {
                    vec![
                        esc(&t.name),
                        esc(&t.categories.join(", ")),
                        format!(
                            "<span class=\"ev\">{}</span>",
                            esc(&t
                                .evidence
                                .iter()
                                .map(|e| format!(
                                    "{} {}: {}",
                                    e.kind,
                                    e.pattern,
                                    e.matched.join(", ")
                                ))
                                .collect::<Vec<_>>()
                                .join("\n"))
                        ),
                    ]
                })
                .collect(),
            if r.code_analysed {
                "No tracker found."
            } else {
                "No tracker found outside the encrypted code (code not analysed)."
            },
        );
    }
    if let Some(e) = &r.endpoints {
        o.push_str("<h2>Endpoints</h2>");
        table(
            &mut o,
            &["Endpoint", "Found in"],
            e.iter()
                .take(500)
                .map(|e| {
                    vec![
                        format!("<span class=\"ev\">{}</span>", esc(&e.value)),
                        esc(&e.source),
                    ]
                })
                .collect(),
            "No endpoint found.",
        );
    }
    if !r.privacy_contradictions.is_empty() {
        o.push_str("<h2>Privacy manifest contradictions</h2>");
        table(
            &mut o,
            &["Contradiction"],
            r.privacy_contradictions
                .iter()
                .map(|c| vec![esc(c)])
                .collect(),
            "",
        );
    }
    o.push_str("<h2>Anomalies</h2>");
    table(
        &mut o,
        &["Code", "Detail", "Offset"],
        r.anomalies
            .iter()
            .map(|x| {
                vec![
                    esc(&x.code),
                    esc(&x.detail),
                    x.offset.map_or("-".into(), |v| v.to_string()),
                ]
            })
            .collect(),
        "No structural anomaly.",
    );
    o.push_str("<footer>interdict &middot; schema interdict.assessment/v1 (platform ios)</footer></main></body></html>\n");
    o
}

/// Assesses one IPA already read.
pub(crate) fn assess(
    file: apk_analysis::FileInfo,
    data: &[u8],
    options: &apk_analysis::Options,
) -> Result<ipa_analysis::IpaAssessment, apk_analysis::ErrorReport> {
    ipa_analysis::assess_with_file(file.clone(), data, &options_of(options))
        .map_err(|e| ipa_analysis::error_report(file, e.code(), e.to_string()))
}

/// Renders a report in `format`.
pub(crate) fn render(
    report: &ipa_analysis::IpaAssessment,
    format: crate::assess_cmd::Format,
) -> String {
    use crate::assess_cmd::Format;
    match format {
        Format::Text => text_summary(report),
        Format::Html => render_html(report),
        Format::Json | Format::Jsonl => serde_json::to_string(report).unwrap_or_default(),
    }
}
