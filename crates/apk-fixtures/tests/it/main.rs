//! Builds every fixture with the real tools and checks it with aapt, dexdump and apksigner.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use apk_fixtures::spec::{AssetKind, Scheme, Spec};
use apk_fixtures::{build_spec, fixture, fixture_spec, BuildError};

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> String {
    let line = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{line} failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Scratch directory under the test's target tmp dir.
fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "it-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// `(name, stored?)` of every entry, from `unzip -v`.
fn entries(apk: &Path) -> Vec<(String, bool)> {
    let listing = ok(Command::new("unzip").arg("-v").arg(apk));
    let mut out = Vec::new();
    for line in listing.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // Length Method Size Cmpr Date Time CRC-32 Name
        if cols.len() >= 8 && (cols[1] == "Stored" || cols[1].starts_with("Defl")) {
            out.push((cols[7..].join(" "), cols[1] == "Stored"));
        }
    }
    out
}

fn extract(apk: &Path, entry: &str) -> Vec<u8> {
    let out = run(Command::new("unzip").arg("-p").arg(apk).arg(entry));
    assert!(out.status.success(), "unzip -p {entry}");
    out.stdout
}

fn check_fixture(name: &str) {
    let apk = fixture(name);
    let spec: Spec = fixture_spec(name);
    let dir = scratch(name);

    // aapt parses it and the package matches.
    let out = run(Command::new("aapt").args(["dump", "badging"]).arg(&apk));
    let badging = String::from_utf8_lossy(&out.stdout).into_owned();
    // aapt cannot print the label of an app whose label exists only in a locale (exit 1).
    let badging_fails = name == "label_locale_only";
    assert_eq!(
        out.status.success(),
        !badging_fails,
        "{name}: aapt dump badging: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pkg = spec.package_name().expect("spec has a package");
    assert!(
        badging.starts_with(&format!("package: name='{pkg}'")),
        "{name}: {}",
        badging.lines().next().unwrap_or("")
    );

    // DEX files: count, validity, class counts.
    let listed = entries(&apk);
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    let layout = spec.dex_layout();
    let dex_names: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.starts_with("classes") && n.ends_with(".dex"))
        .collect();
    assert_eq!(dex_names.len(), layout.len(), "{name}: {names:?}");
    for (i, classes) in layout.iter().enumerate() {
        let entry = if i == 0 {
            "classes.dex".to_owned()
        } else {
            format!("classes{}.dex", i + 1)
        };
        let bytes = extract(&apk, &entry);
        let path = dir.join(&entry);
        std::fs::write(&path, &bytes).expect("write dex");
        let header = ok(Command::new("dexdump").arg("-f").arg(&path));
        let defs = header
            .lines()
            .find_map(|l| l.trim().strip_prefix("class_defs_size"))
            .and_then(|v| v.trim_start_matches([' ', ':']).split_whitespace().next())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("{name}: no class_defs_size in dexdump output"));
        assert_eq!(defs, classes.len(), "{name}: {entry}");
    }
    if !spec.code.strings.is_empty() {
        let bytes = extract(&apk, "classes.dex");
        for s in &spec.code.strings {
            if s.is_ascii() {
                assert!(
                    bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                    "{name}: string {s:?} not in classes.dex"
                );
            }
        }
    }

    // Native libraries and assets.
    for lib in &spec.native {
        let entry = format!("lib/{}/{}", lib.abi, lib.name);
        let bytes = extract(&apk, &entry);
        assert_eq!(bytes.len(), lib.size, "{name}: {entry}");
        assert!(bytes.starts_with(b"\x7fELF"), "{name}: {entry}");
        let stored = listed.iter().any(|(n, s)| *n == entry && *s);
        assert_eq!(stored, !lib.compress.unwrap_or(spec.compress), "{entry}");
    }
    for asset in &spec.assets {
        let bytes = extract(&apk, &asset.path);
        match asset.effective_kind() {
            AssetKind::Dex => assert!(bytes.starts_with(b"dex\n0"), "{}", asset.path),
            AssetKind::Apk => {
                assert!(bytes.starts_with(b"PK\x03\x04"), "{}", asset.path);
                let nested = dir.join("nested.apk");
                std::fs::write(&nested, &bytes).expect("write nested apk");
                let b = ok(Command::new("aapt").args(["dump", "badging"]).arg(&nested));
                assert!(b.starts_with("package: name='com.example.nested'"));
                assert!(entries(&nested).iter().any(|(n, _)| n == "classes.dex"));
            }
            AssetKind::Text => {
                assert_eq!(bytes, asset.content.as_deref().unwrap_or("").as_bytes())
            }
            AssetKind::Random | AssetKind::Zeros => assert_eq!(bytes.len(), asset.size),
        }
    }
    if !spec.compress {
        for (n, stored) in &listed {
            let default_compress = spec
                .assets
                .iter()
                .find(|a| a.path == *n)
                .and_then(|a| a.compress)
                .unwrap_or(false);
            // apksigner always deflates the v1 files it adds.
            if !default_compress && !n.starts_with("META-INF/") {
                assert!(stored, "{name}: {n} should be stored");
            }
        }
    }

    // Signatures.
    let verify = run(Command::new("apksigner").args(["verify", "-v"]).arg(&apk));
    let text = String::from_utf8_lossy(&verify.stdout).into_owned();
    if spec.sign.unsigned {
        assert!(!verify.status.success(), "{name}: unsigned APK verified");
        assert!(
            !names.iter().any(|n| n.starts_with("META-INF/")),
            "{names:?}"
        );
    } else {
        assert!(
            verify.status.success(),
            "{name}: apksigner verify failed: {text}{}",
            String::from_utf8_lossy(&verify.stderr)
        );
        for (scheme, label) in [
            (
                Scheme::V2,
                "Verified using v2 scheme (APK Signature Scheme v2): ",
            ),
            (
                Scheme::V3,
                "Verified using v3 scheme (APK Signature Scheme v3): ",
            ),
        ] {
            let want = spec.sign.schemes.contains(&scheme);
            assert!(
                text.contains(&format!("{label}{want}")),
                "{name}: expected {label}{want} in {text}"
            );
        }
        let has_v1 = names
            .iter()
            .any(|n| n.starts_with("META-INF/") && n.ends_with(".SF"));
        assert_eq!(
            has_v1,
            spec.sign.schemes.contains(&Scheme::V1),
            "{name}: {names:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_fixture_builds_and_checks_out() {
    let names = apk_fixtures::all_fixture_names();
    assert!(names.len() >= 18, "{names:?}");
    let queue = Mutex::new(names.clone());
    let failures = Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(name) = queue.lock().unwrap().pop() else {
                    break;
                };
                let result = std::panic::catch_unwind(|| check_fixture(&name));
                if let Err(e) = result {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    failures.lock().unwrap().push(format!("{name}: {msg}"));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn fixture_is_cached() {
    let a = fixture("minimal_nocode");
    let t = std::fs::metadata(&a).unwrap().modified().unwrap();
    let b = fixture("minimal_nocode");
    assert_eq!(a, b);
    assert_eq!(std::fs::metadata(&b).unwrap().modified().unwrap(), t);
    assert!(a
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("minimal_nocode-"));
}

#[test]
fn specific_facts() {
    let multidex = entries(&fixture("multidex"));
    assert!(multidex.iter().any(|(n, _)| n == "classes2.dex"));
    assert!(!multidex.iter().any(|(n, _)| n == "classes3.dex"));

    let out = run(Command::new("aapt")
        .args(["dump", "badging"])
        .arg(fixture("label_locale_only")));
    let b = String::from_utf8_lossy(&out.stdout);
    assert!(
        b.contains("application-label-fr:'Application en français'"),
        "{b}"
    );

    let b = ok(Command::new("aapt")
        .args(["dump", "badging"])
        .arg(fixture("debuggable_bool_ref")));
    assert!(b.contains("application-debuggable"), "{b}");

    let b = ok(Command::new("aapt")
        .args(["dump", "badging"])
        .arg(fixture("unicode_label")));
    assert!(b.contains("微信 تطبيق"), "{b}");
    assert!(b.contains("versionName='2.0-βeta ✓'"), "{b}");

    let b = ok(Command::new("aapt")
        .args(["dump", "badging"])
        .arg(fixture("aapt_sdk_flags")));
    assert!(
        b.contains("sdkVersion:'23'") && b.contains("targetSdkVersion:'29'"),
        "{b}"
    );

    let x = ok(Command::new("aapt")
        .args(["dump", "xmltree"])
        .arg(fixture("permissions_many"))
        .arg("AndroidManifest.xml"));
    assert!(
        x.contains("android:maxSdkVersion(0x01010271)=(type 0x10)0x1c"),
        "{x}"
    );
    assert!(x.contains("android:protectionLevel"), "{x}");

    let p = ok(Command::new("aapt")
        .args(["dump", "xmltree"])
        .arg(fixture("cleartext_nsc"))
        .arg("res/xml/nsc.xml"));
    assert!(p.contains("network-security-config"), "{p}");

    let cert = ok(Command::new("apksigner")
        .args(["verify", "--print-certs", "-v"])
        .arg(fixture("signed_all_ec")));
    assert!(cert.contains("EC"), "{cert}");
}

#[test]
fn build_spec_reports_errors() {
    let out = scratch("errors").join("x.apk");
    assert!(matches!(
        build_spec("manifest = ", &out),
        Err(BuildError::Spec(_))
    ));
    assert!(matches!(
        build_spec(
            "manifest = '<manifest/>'\n[[assets]]\npath = '../evil'",
            &out
        ),
        Err(BuildError::Invalid(_))
    ));
    // aapt rejects an unknown android: attribute; the error carries aapt's message.
    let err = build_spec(
        "manifest = '''<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\" package=\"a.b\">\
         <application android:noSuchAttribute=\"1\"/></manifest>'''",
        &out,
    )
    .unwrap_err();
    match err {
        BuildError::ToolFailed { output, .. } => {
            assert!(output.contains("noSuchAttribute"), "{output}")
        }
        other => panic!("unexpected {other}"),
    }
    assert!(!out.exists());
}

#[test]
fn build_spec_ad_hoc() {
    let out = scratch("adhoc").join("sub/adhoc.apk");
    build_spec(
        "manifest = '''<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\" package=\"com.example.adhoc\">\
         <uses-sdk android:minSdkVersion=\"24\"/><application android:label=\"Ad hoc\"/></manifest>'''\n\
         [code]\ndex_files = 3\nclasses = 7\n[sign]\nschemes = [\"v2\"]\nkey = \"ec-p521\"\n",
        &out,
    )
    .unwrap();
    let e = entries(&out);
    for dex in ["classes.dex", "classes2.dex", "classes3.dex"] {
        assert!(e.iter().any(|(n, _)| n == dex), "{e:?}");
    }
    ok(Command::new("apksigner").arg("verify").arg(&out));
}
