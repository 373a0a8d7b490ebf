//! `interdict assess --format html`: one self-contained HTML page per APK, for people who are not engineers.
//!
//! No external asset (no script, font, image or stylesheet link); the page carries a Content-Security-Policy
//! that forbids loading anything. Every string that comes from the APK (manifest, resources, code) is
//! attacker-controlled and goes through [`esc`].

use std::fmt::Write as _;

use apk_analysis::Assessment;

/// Escapes text for HTML element content and double-quoted attribute values; control characters become U+FFFD.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

pub(crate) const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.15em;margin:28px 0 8px;border-bottom:1px solid #d6d9e0;padding-bottom:4px}
.sub{color:#5a6275;margin:0 0 16px;word-break:break-all}
.card{background:#fff;border-radius:8px;padding:16px 20px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.verdict{display:flex;gap:24px;align-items:center}
.badge{font-size:1.3em;font-weight:700;padding:10px 18px;border-radius:8px;color:#fff;text-transform:uppercase;letter-spacing:.04em}
.acceptable{background:#2e7d32}.review{background:#b26a00}.unacceptable{background:#b71c1c}
.score{font-size:2.4em;font-weight:700;white-space:nowrap}.score small{font-size:.4em;color:#5a6275;font-weight:400}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:8px;overflow:hidden;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #eceef2;vertical-align:top;font-size:.93em}
th{background:#eef0f4;font-weight:600}
td.pts{font-weight:700;text-align:right;width:3em}
.sev{display:inline-block;padding:1px 8px;border-radius:10px;font-size:.8em;font-weight:600;color:#fff}
.critical{background:#7f0000}.high{background:#c62828}.medium{background:#ef6c00}.low{background:#607d8b}
.ev{color:#444b5a;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;word-break:break-all;white-space:pre-wrap}
.muted{color:#5a6275}footer{margin-top:32px;color:#5a6275;font-size:.8em}
"#;

pub(crate) fn table(out: &mut String, head: &[&str], rows: Vec<Vec<String>>, empty: &str) {
    if rows.is_empty() {
        let _ = write!(out, "<p class=\"muted\">{}</p>", esc(empty));
        return;
    }
    out.push_str("<table><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    for r in rows {
        out.push_str("<tr>");
        for cell in r {
            // Cells are already escaped HTML.
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// Renders one assessment as a complete HTML document.
pub(crate) fn render(r: &Assessment) -> String {
    let a = &r.app;
    let mut o = String::new();
    let title = a.label.clone().unwrap_or_else(|| a.package.clone());
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>interdict: {}</title><style>{STYLE}</style></head><body><main>",
        esc(&title)
    );
    let _ = write!(
        o,
        "<h1>{}</h1><p class=\"sub\">{} &middot; version {} &middot; target SDK {} &middot; SHA-256 {}</p>",
        esc(&title),
        esc(&a.package),
        esc(a.version_name.as_deref().unwrap_or("-")),
        a.target_sdk.map_or("-".to_owned(), |v| v.to_string()),
        esc(&r.file.sha256)
    );

    if let Some(risk) = &r.risk {
        let _ = write!(
            o,
            "<div class=\"card verdict\"><div class=\"badge {v}\">{v}</div>\
             <div class=\"score\">{s}<small> / 100</small></div>\
             <div class=\"muted\">Review from {rv} points, unacceptable from {un} points.<br>\
             The score is the sum of the reasons below; each one can be checked in the APK.{capped}</div></div>",
            v = esc(risk.verdict),
            s = risk.score,
            rv = risk.thresholds.review,
            un = risk.thresholds.unacceptable,
            capped = {
                let sum: u32 = risk.factors.iter().fold(0u32, |s, f| s.saturating_add(f.points));
                if sum > risk.score {
                    format!("<br>The reasons add up to {sum} points; the score is capped at 100.")
                } else {
                    String::new()
                }
            }
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
            "No risk factor was found.",
        );
    }

    o.push_str("<h2>Who is behind it</h2>");
    match &r.vendor {
        Some(v) => {
            let _ = write!(
                o,
                "<div class=\"card\"><b>{}</b> ({}){}<br>Matched by {}: <span class=\"ev\">{}</span><br>{}<ul>",
                esc(&v.name),
                esc(&v.country),
                if v.of_concern { " &mdash; <b>a jurisdiction of concern</b>" } else { "" },
                esc(v.matched_by),
                esc(&v.matched_value),
                esc(&v.ownership)
            );
            for s in &v.sources {
                let _ = write!(o, "<li class=\"muted\">{}</li>", esc(s));
            }
            o.push_str("</ul></div>");
        }
        None => o.push_str("<p class=\"muted\">No vendor in the catalog matched this app.</p>"),
    }

    if let Some(caps) = &r.capabilities {
        o.push_str("<h2>What it can reach on the device</h2>");
        table(
            &mut o,
            &["Severity", "Capability", "Evidence in the manifest"],
            caps.iter()
                .map(|c| {
                    vec![
                        format!(
                            "<span class=\"sev {s}\">{s}</span>",
                            s = esc(c.severity.as_str())
                        ),
                        esc(c.title),
                        format!("<span class=\"ev\">{}</span>", esc(&c.evidence.join("\n"))),
                    ]
                })
                .collect(),
            "No sensitive capability.",
        );
    }
    if let Some(trackers) = &r.trackers {
        o.push_str("<h2>Tracking SDKs</h2>");
        table(
            &mut o,
            &["Tracker", "Categories", "Matched"],
            trackers
                .iter()
                .map(|t| {
                    let ev: Vec<String> = t
                        .evidence
                        .iter()
                        .map(|e| {
                            format!(
                                "{} /{}/ → {} ({} total)",
                                e.kind,
                                e.pattern,
                                e.matched.join(", "),
                                e.count
                            )
                        })
                        .collect();
                    vec![
                        esc(&t.name),
                        esc(&t.categories.join(", ")),
                        format!("<span class=\"ev\">{}</span>", esc(&ev.join("\n"))),
                    ]
                })
                .collect(),
            "No known tracker SDK.",
        );
    }
    if let Some(eps) = &r.endpoints {
        let _ = write!(o, "<h2>Where it connects ({} endpoints)</h2>", eps.len());
        table(
            &mut o,
            &["Endpoint", "Host", "Found in"],
            eps.iter()
                .take(500)
                .map(|e| {
                    let mut src = e.source.clone();
                    if !e.also_in.is_empty() {
                        src.push_str(&format!(" (also {})", e.also_in.join(", ")));
                    }
                    vec![
                        format!(
                            "<span class=\"ev\">{}</span>{}",
                            esc(&e.value),
                            if e.cleartext {
                                " <span class=\"sev medium\">unencrypted</span>"
                            } else {
                                ""
                            }
                        ),
                        esc(&e.host),
                        esc(&src),
                    ]
                })
                .collect(),
            "No endpoint found.",
        );
        if eps.len() > 500 {
            let _ = write!(
                o,
                "<p class=\"muted\">{} more in the JSON report.</p>",
                eps.len() - 500
            );
        }
    }
    if let Some(risk) = &r.risk {
        o.push_str("<h2>Requested permissions</h2>");
        table(
            &mut o,
            &["Permission", "Protection level", "Defined by"],
            risk.permissions
                .iter()
                .map(|p| vec![esc(&p.name), esc(&p.protection_level), esc(p.defined_by)])
                .collect(),
            "No permission requested.",
        );
    }
    if !r.anomalies.is_empty() {
        o.push_str("<h2>Structural anomalies</h2>");
        table(
            &mut o,
            &["Code", "Detail", "Offset"],
            r.anomalies
                .iter()
                .take(200)
                .map(|x| {
                    vec![
                        esc(&x.code),
                        esc(&x.detail),
                        x.offset.map_or("-".to_owned(), |v| v.to_string()),
                    ]
                })
                .collect(),
            "",
        );
    }
    let _ = writeln!(
        o,
        "<footer>Generated by interdict {} from {} ({} bytes). Static analysis only: the app was not run. \
         Tracker signatures: Exodus Privacy tracker database, Open Database License (ODbL) 1.0.</footer>\
         </main></body></html>",
        esc(env!("CARGO_PKG_VERSION")),
        esc(&r.file.path),
        r.file.size
    );
    o
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use apk_analysis::risk::RiskConfig;
    use apk_analysis::Options;

    use super::{esc, render};

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            esc("<script>\"x\"&'y'\u{1b}"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;\u{FFFD}"
        );
    }

    fn report(fixture: &str) -> String {
        let path = apk_fixtures::fixture(fixture);
        let data = std::fs::read(&path).unwrap();
        let options = Options {
            risk: Some(RiskConfig {
                concern: vec!["CN".into(), "RU".into()],
                ..RiskConfig::default()
            }),
            ..Options::default()
        };
        let a = apk_analysis::assess(&format!("{fixture}.apk"), &data, &options).unwrap();
        render(&a)
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("interdict-html-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Runs Debian's headless Chromium on `file` with `args`, with no network, no profile and a timeout.
    fn chromium(dir: &Path, file: &Path, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .arg("120")
            .arg("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .args(args)
            .arg(format!("file://{}", file.display()))
            .output()
            .expect("chromium is required (apt-get install chromium; scripts/test.sh installs it)")
    }

    #[test]
    fn hostile_strings_are_inert_in_chromium() {
        let html = report("risk_hostile_strings");
        for bad in ["<script", "<img", "<b>"] {
            let raw_markup = html.match_indices(bad).count();
            assert_eq!(raw_markup, 0, "{bad} reached the page unescaped");
        }
        assert!(html.contains("&lt;script&gt;document.title="));
        let dir = scratch("hostile");
        let file = dir.join("report.html");
        std::fs::write(&file, &html).unwrap();
        let out = chromium(&dir, &file, &["--dump-dom"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dom = String::from_utf8_lossy(&out.stdout);
        assert!(dom.contains("<title>interdict: &lt;script&gt;"), "{dom}");
        assert!(!dom.contains("pwned</title>"));
        assert!(!dom.contains("<script") && !dom.contains("<img"), "{dom}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn report_screenshot_in_headless_chromium() {
        let html = report("risk_vendor_wechat");
        assert!(html.contains("unacceptable") && html.contains("Tencent"));
        assert!(
            !html.contains("http://") && !html.contains("src="),
            "the page must not load anything"
        );
        let dir = scratch("screenshot");
        let file = dir.join("report.html");
        std::fs::write(&file, &html).unwrap();
        let png = dir.join("report.png");
        let out = chromium(
            &dir,
            &file,
            &[
                &format!("--screenshot={}", png.display()),
                "--window-size=1100,1700",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
            "{} bytes",
            bytes.len()
        );
        // `INTERDICT_UPDATE_DOCS=1 cargo test -p interdict-cli report_screenshot` refreshes the copy in docs/.
        if std::env::var_os("INTERDICT_UPDATE_DOCS").is_some() {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
            std::fs::copy(&png, docs.join("risk-report.png")).unwrap();
            std::fs::write(docs.join("risk-report-example.html"), &html).unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
