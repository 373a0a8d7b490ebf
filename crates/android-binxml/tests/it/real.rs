//! Real aapt-built data compared with `aapt dump`.

use android_binxml::{Attribute, ResourceTable, Value, XmlDocument, ANDROID_NS};

use crate::util::build;

/// Renders an attribute value the way `aapt dump xmltree` does (without the
/// `(Raw: …)` suffix).
fn aapt_value(a: &Attribute) -> String {
    match &a.value {
        Value::String(s) => format!("\"{s}\""),
        Value::Reference(r) => format!("@0x{r:08x}"),
        Value::IntDec(v) => format!("(type 0x10)0x{:x}", *v as u32),
        Value::IntHex(v) => format!("(type 0x11)0x{v:x}"),
        Value::Bool(b) => format!("(type 0x12)0x{}", if *b { "ffffffff" } else { "0" }),
        Value::Dimension(d) => format!("(type 0x5)0x{d:x}"),
        Value::Float(f) => format!("(type 0x4)0x{:x}", f.to_bits()),
        other => format!("{other:?}"),
    }
}

/// (depth, line) pairs where line is `E: name` / `A: name=value` / `C: text`.
fn aapt_lines(dump: &str) -> Vec<String> {
    dump.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("E: ") || l.starts_with("A: ") || l.starts_with("C: "))
        .map(|l| {
            let l = match l.find(" (Raw: ") {
                Some(i) => &l[..i],
                None => l,
            };
            let l = match l.find(" (line=") {
                Some(i) => &l[..i],
                None => l,
            };
            l.to_owned()
        })
        .collect()
}

fn my_lines(doc: &XmlDocument) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(doc: &XmlDocument, idx: usize, out: &mut Vec<String>) {
        let el = doc.element(idx).expect("element");
        out.push(format!("E: {}", el.name));
        for a in &el.attributes {
            let prefix = match (a.namespace_uri.as_deref(), a.resource_id) {
                (Some(ANDROID_NS), Some(id)) => format!("android:{}(0x{id:08x})", a.name),
                (_, Some(id)) => format!("{}(0x{id:08x})", a.name),
                _ => a.name.clone(),
            };
            out.push(format!("A: {prefix}={}", aapt_value(a)));
        }
        for &c in &el.children {
            walk(doc, c, out);
        }
        if let Some(t) = &el.text {
            out.push(format!("C: \"{t}\""));
        }
    }
    for (i, e) in doc.elements.iter().enumerate() {
        if e.parent.is_none() {
            walk(doc, i, &mut out);
        }
    }
    out
}

#[test]
fn manifest_matches_aapt_xmltree() {
    let b = build(false);
    let data = b.entry("AndroidManifest.xml");
    let doc = XmlDocument::parse(&data).expect("parse");
    assert!(!doc.utf8, "aapt writes manifests in UTF-16");
    assert!(doc.anomalies.is_empty(), "{:?}", doc.anomalies);
    let expected = aapt_lines(&b.aapt_dump(&["xmltree", "AndroidManifest.xml"]));
    assert_eq!(my_lines(&doc), expected);
    let root = doc.root().expect("root");
    assert_eq!(root.name, "manifest");
    assert_eq!(
        root.attr(None, "package").and_then(|a| a.value.as_str()),
        Some("com.example.t")
    );
    assert_eq!(
        root.android_attr("versionCode").map(|a| a.value.clone()),
        Some(Value::IntDec(7))
    );
    assert_eq!(
        root.android_attr("compileSdkVersion")
            .map(|a| a.value.clone()),
        Some(Value::IntDec(29))
    );
    let app = doc
        .children_named(root, "application")
        .next()
        .expect("application");
    assert_eq!(app.depth, 1);
    assert_eq!(
        app.android_attr("allowBackup").map(|a| a.value.clone()),
        Some(Value::Bool(false))
    );
    let meta = doc.children_named(app, "meta-data").next().expect("meta");
    assert_eq!(
        meta.android_attr("value").and_then(|a| a.value.as_str()),
        Some("Ünïcödé ☃")
    );
    let act = doc
        .children_named(app, "activity")
        .next()
        .expect("activity");
    assert_eq!(
        act.android_attr("windowSoftInputMode")
            .map(|a| a.value.as_display()),
        Some("0x00000012".to_owned())
    );
}

#[test]
fn utf8_xml_resource_matches_aapt() {
    let b = build(false);
    let data = b.entry("res/xml/prefs.xml");
    let doc = XmlDocument::parse(&data).expect("parse");
    assert!(doc.utf8, "aapt writes res/xml in UTF-8");
    assert!(doc.anomalies.is_empty(), "{:?}", doc.anomalies);
    let expected = aapt_lines(&b.aapt_dump(&["xmltree", "res/xml/prefs.xml"]));
    assert_eq!(my_lines(&doc), expected);
    let root = doc.root().expect("root");
    let cb = doc.children(root).next().expect("child");
    assert_eq!(
        cb.android_attr("title").and_then(|a| a.value.as_str()),
        Some("Tïtle")
    );
    assert_eq!(
        cb.android_attr("maxHeight").map(|a| a.value.as_display()),
        Some("12.5dip".to_owned())
    );
    assert_eq!(
        cb.android_attr("alpha").map(|a| a.value.as_display()),
        Some("0.5".to_owned())
    );
    assert_eq!(root.text.as_deref(), Some("hello"));
}

/// Parses `aapt dump resources` lines into (config, id, type, key, t, d).
fn aapt_resources(dump: &str) -> Vec<(String, u32, String, String, u8, u32)> {
    let mut out = Vec::new();
    let mut config = String::new();
    for l in dump.lines().map(str::trim) {
        if let Some(c) = l.strip_prefix("config ") {
            config = c.trim_end_matches(':').to_owned();
            config = if config == "(default)" {
                "default".into()
            } else {
                config
            };
        } else if let Some(r) = l.strip_prefix("resource ") {
            let mut it = r.split_whitespace();
            let id = u32::from_str_radix(
                it.next()
                    .expect("aapt dump format")
                    .trim_start_matches("0x"),
                16,
            )
            .expect("aapt dump format");
            let name = it.next().expect("aapt dump format").trim_end_matches(':');
            let (_, tn) = name.split_once(':').expect("aapt dump format");
            let (ty, key) = tn.split_once('/').expect("aapt dump format");
            let t = it.next().expect("aapt dump format");
            let (t, d) = match (
                t.strip_prefix("t=0x"),
                it.next().and_then(|d| d.strip_prefix("d=0x")),
            ) {
                (Some(t), Some(d)) => (
                    u8::from_str_radix(t, 16).expect("aapt dump format"),
                    u32::from_str_radix(d, 16).expect("aapt dump format"),
                ),
                _ => (0xff, 0),
            };
            out.push((config.clone(), id, ty.to_owned(), key.to_owned(), t, d));
        }
    }
    out
}

fn check_table(utf16: bool) {
    let b = build(utf16);
    let data = b.entry("resources.arsc");
    let t = ResourceTable::parse(&data).expect("parse arsc");
    assert!(t.anomalies().is_empty(), "{:?}", t.anomalies());
    assert_eq!(t.packages(), vec![(0x7f, "com.example.t")]);
    let rows = aapt_resources(&b.aapt_dump(&["resources"]));
    assert!(rows.len() >= 9, "{rows:?}");
    for (config, id, ty, key, tt, d) in &rows {
        assert_eq!(t.name_of(*id), Some((ty.as_str(), key.as_str())), "{id:#x}");
        let vals = t.values_of(*id);
        let (cfg, rv) = vals
            .iter()
            .find(|(c, _)| c.describe() == *config)
            .unwrap_or_else(|| panic!("{id:#x} has no value for {config}: {vals:?}"));
        assert_eq!(cfg.describe(), *config);
        if *tt == 0xff {
            assert!(rv.complex.is_some());
            continue;
        }
        let expect = match *tt {
            0x03 => Value::String(t.strings()[*d as usize].clone()),
            0x01 => continue,
            0x12 => Value::Bool(*d != 0),
            0x1c => Value::Color(*d),
            0x05 => Value::Dimension(*d),
            0x10 => Value::IntDec(*d as i32),
            other => panic!("unexpected type {other:#x}"),
        };
        assert_eq!(rv.value, expect, "{id:#x} {config}");
    }
    let id_of = |ty: &str, key: &str| {
        rows.iter()
            .find(|r| r.2 == ty && r.3 == key)
            .map(|r| r.1)
            .unwrap_or_else(|| panic!("{ty}/{key}"))
    };
    // Label through the manifest reference, default config.
    let doc = XmlDocument::parse(&b.entry("AndroidManifest.xml")).expect("manifest");
    let app = doc
        .elements
        .iter()
        .find(|e| e.name == "application")
        .expect("app");
    let label_ref = app
        .android_attr("label")
        .and_then(|a| a.value.as_reference())
        .expect("label ref");
    let label = t.resolve(label_ref).expect("label");
    assert_eq!(label.value, Value::String("Héllo Äpp".into()));
    assert!(label.config.is_default());
    let dbg_ref = app
        .android_attr("debuggable")
        .and_then(|a| a.value.as_reference())
        .expect("dbg ref");
    assert_eq!(t.resolve(dbg_ref).map(|v| v.value), Some(Value::Bool(true)));
    // Only in values-fr: falls back to the first non-default config.
    let icon_ref = app
        .android_attr("icon")
        .and_then(|a| a.value.as_reference())
        .expect("icon ref");
    let only_fr = t.resolve(icon_ref).expect("only_fr");
    assert_eq!(only_fr.value, Value::String("Seulement".into()));
    assert_eq!(only_fr.config.language(), "fr");
    assert_eq!(only_fr.config.describe(), "fr");
    // Per-locale labels.
    let per: Vec<(String, Value)> = t
        .values_of(label_ref)
        .into_iter()
        .map(|(c, v)| (c.describe(), v.value))
        .collect();
    assert_eq!(
        per,
        vec![
            ("default".into(), Value::String("Héllo Äpp".into())),
            ("fr".into(), Value::String("Bonjour".into()))
        ]
    );
    // Reference chain: alias -> app_name.
    let alias = t.resolve(id_of("string", "alias")).expect("alias");
    assert_eq!(alias.value, Value::String("Héllo Äpp".into()));
    assert_eq!(alias.id, label_ref);
    // Style bag.
    let style = t.resolve(id_of("style", "S")).expect("style");
    let bag = style.complex.expect("complex");
    assert_eq!(bag.count, 1);
    assert_eq!(bag.values.len(), 1);
    assert_eq!(bag.values[0].0, 0x0101_0095); // android:textSize
    assert_eq!(bag.values[0].1.as_display(), "12.0sp");
    assert_eq!(
        t.resolve(id_of("dimen", "d")).map(|v| v.value.as_display()),
        Some("12.0dip".into())
    );
    assert_eq!(
        t.resolve(id_of("color", "c")).map(|v| v.value.as_display()),
        Some("#ff00ff00".into())
    );
    assert!(t.resolve(0x7f7f_0000).is_none());
    assert!(t.resolve(0x0101_0000).is_none());
}

#[test]
fn arsc_utf8_matches_aapt_dump() {
    check_table(false);
}

#[test]
fn arsc_utf16_matches_aapt_dump() {
    check_table(true);
}
