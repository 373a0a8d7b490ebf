use device_agent::source::parse::{
    merge_android, parse_adb_devices, parse_dpkg_status, parse_dumpsys_package, parse_flatpak_list,
    parse_pm_list_packages, parse_rpm_qa, parse_snap_list,
};
use device_agent::source::{collect, Origin, Source};
use proptest::prelude::*;

fn testdata(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/").to_string() + name;
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ids(apps: &[app_policy::App]) -> Vec<&str> {
    apps.iter().map(|a| a.id.as_str()).collect()
}

#[test]
fn dpkg_sample_odd_cases() {
    let apps = parse_dpkg_status(&testdata("dpkg-status-sample")).unwrap();
    // half-installed, config-files and not-installed are not installed; a held package is;
    // a package installed for two architectures is one app.
    assert_eq!(
        ids(&apps),
        [
            "kaspersky-endpoint-security",
            "held-pkg",
            "libc6",
            "no-maintainer"
        ]
    );
    let kes = &apps[0];
    assert_eq!(kes.version.as_deref(), Some("11.4.0-6469"));
    assert_eq!(
        kes.publisher.as_deref(),
        Some("AO Kaspersky Lab <support@kaspersky.com>")
    );
    assert_eq!(kes.installer.as_deref(), Some("dpkg"));
    assert_eq!(apps[3].publisher, None);
}

#[test]
fn dpkg_errors_carry_line_numbers() {
    let e =
        parse_dpkg_status("Package: a\nStatus: install ok installed\nnot a field\n").unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    let e = parse_dpkg_status(" continuation first\n").unwrap_err();
    assert_eq!(e.line, 1, "{e}");
    let e =
        parse_dpkg_status("Package: a\n\nStatus: install ok installed\nVersion: 1\n").unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    assert!(e.to_string().contains("line 3"), "{e}");
}

/// The real status file of this Debian machine, compared with what `dpkg-query` says.
#[test]
fn dpkg_real_status_file_matches_dpkg_query() {
    let Ok(text) = std::fs::read_to_string("/var/lib/dpkg/status") else {
        eprintln!("no /var/lib/dpkg/status: not a Debian machine");
        return;
    };
    let apps = parse_dpkg_status(&text).unwrap();
    assert!(apps.len() > 50, "{}", apps.len());
    let out = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Status}\t${Package}\t${Version}\n"])
        .output()
        .unwrap();
    let mut expected: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut c = l.split('\t');
            let (status, name, version) = (c.next()?, c.next()?, c.next()?);
            (status == "installed").then(|| (name.to_string(), version.to_string()))
        })
        .collect();
    expected.sort();
    expected.dedup_by(|a, b| a.0 == b.0);
    let mut got: Vec<(String, String)> = apps
        .iter()
        .map(|a| (a.id.clone(), a.version.clone().unwrap_or_default()))
        .collect();
    got.sort();
    assert_eq!(got, expected);
}

#[test]
fn rpm_recorded() {
    let apps = parse_rpm_qa(&testdata("rpm-qa.txt")).unwrap();
    assert_eq!(
        ids(&apps),
        ["kesl", "bash", "firefox", "perl-interpreter", "local-build"]
    );
    assert_eq!(apps[0].version.as_deref(), Some("11.4.0-6469"));
    assert_eq!(apps[0].publisher.as_deref(), Some("AO Kaspersky Lab"));
    assert_eq!(apps[2].version.as_deref(), Some("0:125.0.3-1.fc40"));
    assert_eq!(apps[3].version.as_deref(), Some("4:5.38.2-506.fc40"));
    assert_eq!(apps[4].publisher, None);
    let e = parse_rpm_qa("a\t(none):1-1\tV\nbroken line\n").unwrap_err();
    assert_eq!(e.line, 2);
}

#[test]
fn flatpak_recorded() {
    let apps = parse_flatpak_list(&testdata("flatpak-list.txt")).unwrap();
    assert_eq!(
        ids(&apps),
        [
            "com.tencent.WeChat",
            "org.mozilla.firefox",
            "org.example.NoVersion"
        ]
    );
    assert_eq!(apps[0].installer.as_deref(), Some("flatpak:flathub"));
    assert_eq!(apps[0].version.as_deref(), Some("3.9.0.28"));
    assert_eq!(apps[2].version, None);
    // A header, as flatpak prints on a terminal, is skipped.
    let with_header = format!(
        "Application ID\tVersion\tOrigin\n{}",
        testdata("flatpak-list.txt")
    );
    assert_eq!(parse_flatpak_list(&with_header).unwrap(), apps);
}

#[test]
fn snap_recorded() {
    let apps = parse_snap_list(&testdata("snap-list.txt")).unwrap();
    assert_eq!(
        ids(&apps),
        [
            "bare",
            "core22",
            "firefox",
            "kaspersky-scanner",
            "my-local-tool",
            "snapd"
        ]
    );
    let firefox = &apps[2];
    assert_eq!(firefox.version.as_deref(), Some("125.0.2-1"));
    assert_eq!(firefox.publisher.as_deref(), Some("mozilla"));
    assert_eq!(apps[3].publisher.as_deref(), Some("kaspersky"));
    assert_eq!(apps[4].publisher, None);
    assert!(
        parse_snap_list("No snaps are installed yet. Try 'snap install hello-world'.\n")
            .unwrap()
            .is_empty()
    );
    assert_eq!(parse_snap_list("garbage\n").unwrap_err().line, 1);
}

#[test]
fn android_recorded() {
    let listed = parse_pm_list_packages(&testdata("pm-list-packages.txt")).unwrap();
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[0].installer, None);
    assert_eq!(listed[2].id, "com.tencent.mm");
    assert_eq!(listed[2].version_code, Some(2360));
    assert_eq!(listed[2].installer.as_deref(), Some("com.android.vending"));
    // -f (path=name, with `=` inside the path) and -U.
    let f = parse_pm_list_packages(&testdata("pm-list-packages-f-U.txt")).unwrap();
    assert_eq!(ids(&f), ["com.android.settings", "com.tencent.mm"]);
    assert_eq!(f[1].version_code, Some(2360));

    let dump = parse_dumpsys_package(&testdata("dumpsys-package.txt")).unwrap();
    // Only the `Packages:` section: the hidden factory copy of YouTube is not a second entry.
    let names: Vec<&str> = dump.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        names,
        [
            "com.android.settings",
            "com.google.android.youtube",
            "com.tencent.mm",
            "com.kms.free"
        ]
    );
    assert_eq!(dump[1].version_name.as_deref(), Some("19.16.39"));
    assert_eq!(dump[3].signature_hashes, ["6e5d4c3b", "1f2e3d4c"]);
    let apps = merge_android(listed, &dump);
    let mm = apps.iter().find(|a| a.id == "com.tencent.mm").unwrap();
    assert_eq!(mm.version.as_deref(), Some("8.0.40"));
    assert_eq!(mm.version_code, Some(2360));
    // The 32-bit `signatures:[...]` hash is not a certificate digest: no signers.
    assert!(apps.iter().all(|a| a.signers.is_empty()));
    let side = apps
        .iter()
        .find(|a| a.id == "com.example.sideloaded")
        .unwrap();
    assert_eq!(side.version, None);

    let e = parse_pm_list_packages("package:com.a versionCode:1\nWARNING: linker\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(parse_pm_list_packages("package:com.a;reboot\n").is_err());
}

#[test]
fn adb_devices_recorded() {
    let d = parse_adb_devices(&testdata("adb-devices.txt")).unwrap();
    let v: Vec<(&str, &str)> = d
        .iter()
        .map(|d| (d.serial.as_str(), d.state.as_str()))
        .collect();
    assert_eq!(
        v,
        [
            ("R58N123ABC", "device"),
            ("emulator-5554", "device"),
            ("0123456789", "unauthorized"),
            ("ZY22", "offline")
        ]
    );
}

#[test]
fn source_specs() {
    for (s, want) in [
        ("dpkg", "dpkg:/var/lib/dpkg/status"),
        ("dpkg:/tmp/status", "dpkg:/tmp/status"),
        ("rpm", "rpm"),
        ("flatpak", "flatpak"),
        ("snap", "snap"),
        ("adb", "adb"),
        ("adb:R58N123", "adb:R58N123"),
        ("file:inv.json", "file:inv.json"),
    ] {
        let src: Source = s.parse().unwrap();
        assert_eq!(src.to_string(), want);
    }
    for bad in ["", "apt", "file", "file:", "adb:", "rpm:x"] {
        assert!(bad.parse::<Source>().is_err(), "{bad}");
    }
}

#[tokio::test]
async fn collect_combines_linux_sources_and_file_devices() {
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status");
    std::fs::write(&status, testdata("dpkg-status-sample")).unwrap();
    let file = dir.path().join("inv.json");
    std::fs::write(
        &file,
        r#"[{"device": {"id": "phone-1", "platform": "android", "groups": ["g"]},
             "apps": [{"id": "com.tencent.mm"}]}]"#,
    )
    .unwrap();
    let sources: Vec<Source> = [
        format!("dpkg:{}", status.display()),
        format!("file:{}", file.display()),
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let (devices, errors) = collect(&sources).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[0].key, "local");
    assert_eq!(devices[0].origins.get("libc6"), Some(&Origin::Dpkg));
    assert_eq!(devices[1].key, "file:phone-1");
    assert_eq!(devices[1].groups, ["g"]);
    assert_eq!(
        devices[1].origins.get("com.tencent.mm"),
        Some(&Origin::File)
    );

    // A failing source leaves its device out (a partial inventory would look like removals).
    let missing: Source = "dpkg:/nonexistent/status".parse().unwrap();
    let (devices, errors) = collect(&[sources[0].clone(), missing]).await;
    assert!(devices.is_empty());
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].to_string().contains("/nonexistent/status"),
        "{}",
        errors[0]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic(s in "(?s).{0,400}") {
        let _ = parse_dpkg_status(&s);
        let _ = parse_rpm_qa(&s);
        let _ = parse_flatpak_list(&s);
        let _ = parse_snap_list(&s);
        let _ = parse_pm_list_packages(&s);
        let _ = parse_dumpsys_package(&s);
        let _ = parse_adb_devices(&s);
    }

    #[test]
    fn parsers_never_panic_on_near_misses(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("Package: x".to_string()),
                Just("Status: install ok installed".to_string()),
                Just(" cont".to_string()),
                Just(String::new()),
                Just("package:com.a versionCode:".to_string()),
                Just("  Package [com.b] (1):".to_string()),
                Just("    versionCode=x".to_string()),
                Just("Packages:".to_string()),
                Just("Name Version Rev Tracking Publisher Notes".to_string()),
                Just("a\t:\t".to_string()),
                "[ -~\t✓]{0,30}",
            ],
            0..30,
        )
    ) {
        let s = lines.join("\n");
        let _ = parse_dpkg_status(&s);
        let _ = parse_rpm_qa(&s);
        let _ = parse_flatpak_list(&s);
        let _ = parse_snap_list(&s);
        let _ = parse_pm_list_packages(&s);
        let _ = parse_dumpsys_package(&s);
        let _ = parse_adb_devices(&s);
    }
}
