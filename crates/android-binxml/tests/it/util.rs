//! Building small APKs with aapt and reading entries out of them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) const FRAMEWORK: &str = "/usr/share/android-framework-res/framework-res.apk";

pub(crate) const MANIFEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="com.example.t" android:versionCode="7" android:versionName="1.2">
  <uses-sdk android:minSdkVersion="21" android:targetSdkVersion="29"/>
  <uses-permission android:name="android.permission.INTERNET"/>
  <uses-permission android:name="android.permission.CAMERA" android:maxSdkVersion="28"/>
  <application android:label="@string/app_name" android:debuggable="@bool/dbg" android:allowBackup="false" android:icon="@string/only_fr" android:theme="@style/S">
    <activity android:name=".Main" android:exported="true" android:screenOrientation="portrait" android:windowSoftInputMode="stateHidden|adjustResize">
      <intent-filter><action android:name="android.intent.action.MAIN"/><category android:name="android.intent.category.LAUNCHER"/></intent-filter>
    </activity>
    <meta-data android:name="k" android:value="Ünïcödé ☃"/>
  </application>
</manifest>
"#;

pub(crate) const STRINGS: &str = r#"<resources><string name="app_name">Héllo Äpp</string><string name="alias">@string/app_name</string><bool name="dbg">true</bool><color name="c">#ff00ff00</color><dimen name="d">12dp</dimen><integer name="i">42</integer><style name="S"><item name="android:textSize">12sp</item></style></resources>"#;
pub(crate) const STRINGS_FR: &str = r#"<resources><string name="app_name">Bonjour</string><string name="only_fr">Seulement</string></resources>"#;
pub(crate) const PREFS: &str = r#"<PreferenceScreen xmlns:android="http://schemas.android.com/apk/res/android"><CheckBoxPreference android:key="k" android:title="Tïtle" android:maxHeight="12.5dp" android:alpha="0.5"/>hello</PreferenceScreen>"#;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub(crate) struct Built {
    pub(crate) dir: PathBuf,
    pub(crate) apk: PathBuf,
}

impl Drop for Built {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// Builds the standard test APK (optionally `--utf16`).
pub(crate) fn build(utf16: bool) -> Built {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("binxml-it-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    write(&dir, "AndroidManifest.xml", MANIFEST);
    write(&dir, "res/values/strings.xml", STRINGS);
    write(&dir, "res/values-fr/strings.xml", STRINGS_FR);
    write(&dir, "res/xml/prefs.xml", PREFS);
    let apk = dir.join("out.apk");
    let mut cmd = Command::new("aapt");
    cmd.arg("package");
    if utf16 {
        cmd.arg("--utf16");
    }
    let out = cmd
        .args(["-f", "-M"])
        .arg(dir.join("AndroidManifest.xml"))
        .arg("-S")
        .arg(dir.join("res"))
        .args(["-I", FRAMEWORK, "-F"])
        .arg(&apk)
        .output()
        .expect("run aapt");
    assert!(
        out.status.success(),
        "aapt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Built { dir, apk }
}

impl Built {
    pub(crate) fn entry(&self, name: &str) -> Vec<u8> {
        let out = Command::new("unzip")
            .arg("-p")
            .arg(&self.apk)
            .arg(name)
            .output()
            .expect("run unzip");
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "unzip {name}"
        );
        out.stdout
    }

    pub(crate) fn aapt_dump(&self, args: &[&str]) -> String {
        let out = Command::new("aapt")
            .arg("dump")
            .args(args.iter().take(1))
            .arg(&self.apk)
            .args(args.iter().skip(1))
            .output()
            .expect("run aapt dump");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
