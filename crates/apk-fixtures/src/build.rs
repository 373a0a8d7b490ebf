//! Turning a [`Spec`] into an APK with aapt, smali, zipalign and apksigner.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::spec::{AssetKind, KeyType, Scheme, Spec};
use crate::BuildError;

/// Keystore password, key password and alias of every generated key.
pub const KEY_PASSWORD: &str = "android";
/// Alias of the key inside every generated keystore.
pub const KEY_ALIAS: &str = "fixture";

/// Tools the builder runs.
pub const TOOLS: &[&str] = &[
    "aapt",
    "smali",
    "zipalign",
    "apksigner",
    "keytool",
    "python3",
];

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Knobs that do not change the produced APK.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Print progress to stderr.
    pub progress: bool,
}

/// Path of `framework-res.apk` (env `APK_FIXTURES_FRAMEWORK_RES` overrides).
pub fn framework_res() -> PathBuf {
    std::env::var_os("APK_FIXTURES_FRAMEWORK_RES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/android-framework-res/framework-res.apk"))
}

/// Finds an executable on `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Checks that every external tool and `framework-res.apk` are present.
pub fn check_tools() -> Result<(), BuildError> {
    for tool in TOOLS {
        if find_tool(tool).is_none() {
            return Err(BuildError::ToolMissing((*tool).to_owned()));
        }
    }
    let fw = framework_res();
    if !fw.is_file() {
        return Err(BuildError::ToolMissing(fw.display().to_string()));
    }
    Ok(())
}

/// A scratch directory removed on drop; lives in `/dev/shm` when possible.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(prefix: &str) -> Result<TempDir, BuildError> {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() && probe_writable(shm) {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let path = base.join(unique_name(prefix));
        fs::create_dir_all(&path).map_err(|e| io_err(&path, e))?;
        Ok(TempDir(path))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn probe_writable(dir: &Path) -> bool {
    let probe = dir.join(unique_name(".apk-fixtures-probe"));
    let ok = fs::write(&probe, b"").is_ok();
    let _ = fs::remove_file(&probe);
    ok
}

/// A name unique across processes and threads.
pub(crate) fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> BuildError {
    BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    }
    fs::write(path, bytes).map_err(|e| io_err(path, e))
}

/// Runs a tool, returning its stdout; failures carry the command line and stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<Vec<u8>, BuildError> {
    let line = format!("{cmd:?}");
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            BuildError::ToolMissing(program.clone())
        } else {
            BuildError::Io {
                path: PathBuf::from(&program),
                source: e,
            }
        }
    })?;
    if !out.status.success() {
        let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        stderr.push_str(&String::from_utf8_lossy(&out.stdout));
        if stderr.len() > 4000 {
            let mut cut = 4000;
            while !stderr.is_char_boundary(cut) {
                cut -= 1;
            }
            stderr.truncate(cut);
        }
        return Err(BuildError::ToolFailed {
            command: line,
            status: out.status.to_string(),
            output: stderr,
        });
    }
    Ok(out.stdout)
}

/// Deterministic pseudo-random bytes (splitmix64 seeded from SHA-256 of `seed`).
pub fn pseudo_random(seed: &str, len: usize) -> Vec<u8> {
    let digest = Sha256::digest(seed.as_bytes());
    let mut state = u64::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ]);
    let mut out = Vec::with_capacity(len.saturating_add(8));
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A plausible ELF shared object: a real ELF identification/type/machine header, then noise.
fn native_bytes(abi: &str, seed: &str, size: usize) -> Vec<u8> {
    let mut bytes = pseudo_random(seed, size.max(20));
    let (class, machine): (u8, u16) = match abi {
        "arm64-v8a" => (2, 183),
        "x86_64" => (2, 62),
        "x86" => (1, 3),
        "mips" => (1, 8),
        "mips64" => (2, 8),
        "riscv64" => (2, 243),
        _ => (1, 40), // armeabi, armeabi-v7a
    };
    bytes[..16].copy_from_slice(&[
        0x7f, b'E', b'L', b'F', class, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    bytes[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    bytes.truncate(size);
    bytes
}

/// Escapes text for an aapt `<string>` value.
fn escape_res_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for (i, c) in value.chars().enumerate() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '@' | '?' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a smali string literal (non-ASCII as `\uXXXX`).
fn escape_smali(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out
}

fn stub_class(name: &str) -> String {
    format!(
        ".class public L{name};\n.super Ljava/lang/Object;\n\n\
         .method public static m()V\n    .registers 0\n    return-void\n.end method\n"
    )
}

fn strings_class(name: &str, strings: &[String]) -> String {
    let mut s = format!(
        ".class public L{name};\n.super Ljava/lang/Object;\n\n\
         .method public static values()V\n    .registers 1\n"
    );
    for v in strings {
        let _ = writeln!(s, "    const-string v0, \"{}\"", escape_smali(v));
    }
    s.push_str("    return-void\n.end method\n");
    s
}

fn values_xml(res: &crate::spec::Resources) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<resources>\n");
    for (k, v) in &res.strings {
        let _ = writeln!(
            x,
            "  <string name=\"{k}\">{}</string>",
            escape_res_string(v)
        );
    }
    for (k, v) in &res.bools {
        let _ = writeln!(x, "  <bool name=\"{k}\">{v}</bool>");
    }
    for (k, v) in &res.integers {
        let _ = writeln!(x, "  <integer name=\"{k}\">{v}</integer>");
    }
    x.push_str("</resources>\n");
    x
}

fn locale_xml(strings: &std::collections::BTreeMap<String, String>) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<resources>\n");
    for (k, v) in strings {
        let _ = writeln!(
            x,
            "  <string name=\"{k}\">{}</string>",
            escape_res_string(v)
        );
    }
    x.push_str("</resources>\n");
    x
}

struct Progress {
    on: bool,
    start: Instant,
}

impl Progress {
    fn step(&self, msg: &str) {
        if self.on {
            eprintln!(
                "[apk-fixtures {:>6.1}s] {msg}",
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}

/// Builds the APK for `spec` at `out` (written atomically via a temp file in `out`'s directory).
pub(crate) fn build(
    spec: &Spec,
    out: &Path,
    key_dir: &Path,
    opts: &Options,
) -> Result<(), BuildError> {
    check_tools()?;
    let progress = Progress {
        on: opts.progress,
        start: Instant::now(),
    };
    let tmp = TempDir::new("apk-fixtures-build")?;
    let dir = tmp.path();
    let stage = dir.join("stage");
    fs::create_dir_all(&stage).map_err(|e| io_err(&stage, e))?;
    // Entries to add after aapt: (name inside the APK, compress).
    let mut entries: Vec<(String, bool)> = Vec::new();

    // 1. Manifest and resources → unaligned.apk.
    progress.step("aapt package");
    let manifest_dir = dir.join("manifest");
    write_file(
        &manifest_dir.join("AndroidManifest.xml"),
        spec.manifest.as_bytes(),
    )?;
    let unaligned = dir.join("unaligned.apk");
    let mut aapt = Command::new("aapt");
    aapt.arg("package").arg("-f").arg("-M");
    aapt.arg(manifest_dir.join("AndroidManifest.xml"));
    if !spec.resources.is_empty() {
        let res = dir.join("res");
        let r = &spec.resources;
        if !(r.strings.is_empty() && r.bools.is_empty() && r.integers.is_empty()) {
            write_file(&res.join("values/strings.xml"), values_xml(r).as_bytes())?;
        }
        for (loc, l) in &r.locales {
            let path = res.join(format!("values-{loc}/strings.xml"));
            write_file(&path, locale_xml(&l.strings).as_bytes())?;
        }
        for (name, text) in &r.xml {
            let mut body = String::new();
            if !text.trim_start().starts_with("<?xml") {
                body.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
            }
            body.push_str(text);
            write_file(&res.join(format!("xml/{name}.xml")), body.as_bytes())?;
        }
        aapt.arg("-S").arg(&res);
    }
    aapt.arg("-I").arg(framework_res());
    if let Some(v) = spec.min_sdk {
        aapt.arg("--min-sdk-version").arg(v.to_string());
    }
    if let Some(v) = spec.target_sdk {
        aapt.arg("--target-sdk-version").arg(v.to_string());
    }
    if !spec.compress {
        aapt.arg("-0").arg("");
    }
    aapt.arg("-F").arg(&unaligned);
    run(&mut aapt)?;

    // 2. Code.
    let layout = spec.dex_layout();
    for (i, classes) in layout.iter().enumerate() {
        let dex_name = if i == 0 {
            "classes.dex".to_owned()
        } else {
            format!("classes{}.dex", i + 1)
        };
        progress.step(&format!("smali: {} classes → {dex_name}", classes.len()));
        let src = dir.join(format!("smali{i}"));
        let strings_class = crate::spec::slash_name(&spec.code.strings_class);
        for class in classes {
            let text = if !spec.code.strings.is_empty() && *class == strings_class {
                strings_class_text(class, &spec.code.strings)
            } else {
                stub_class(class)
            };
            write_file(&src.join(format!("{class}.smali")), text.as_bytes())?;
        }
        assemble(&src, &stage.join(&dex_name), spec.code.api)?;
        entries.push((dex_name, spec.compress));
    }

    // 3. Native libraries.
    for lib in &spec.native {
        let name = format!("lib/{}/{}", lib.abi, lib.name);
        let bytes = native_bytes(&lib.abi, &name, lib.size);
        write_file(&stage.join(&name), &bytes)?;
        entries.push((name, lib.compress.unwrap_or(spec.compress)));
    }

    // 4. Assets.
    for asset in &spec.assets {
        progress.step(&format!("asset {}", asset.path));
        let dest = stage.join(&asset.path);
        match asset.effective_kind() {
            AssetKind::Random => write_file(&dest, &pseudo_random(&asset.path, asset.size))?,
            AssetKind::Zeros => write_file(&dest, &vec![0u8; asset.size])?,
            AssetKind::Text => {
                write_file(&dest, asset.content.as_deref().unwrap_or("").as_bytes())?
            }
            AssetKind::Dex => payload_dex(dir, &dest)?,
            AssetKind::Apk => nested_apk(dir, &dest)?,
        }
        entries.push((asset.path.clone(), asset.compress.unwrap_or(spec.compress)));
    }

    // 5. Add staged files, align, sign.
    let packed = if entries.is_empty() && spec.compress {
        unaligned
    } else {
        progress.step(&format!("adding {} entries", entries.len()));
        let packed = dir.join("packed.apk");
        zip_rewrite(&unaligned, &packed, &stage, !spec.compress, &entries)?;
        packed
    };
    progress.step("zipalign");
    let aligned = dir.join("aligned.apk");
    run(Command::new("zipalign")
        .args(["-p", "-f", "4"])
        .arg(&packed)
        .arg(&aligned))?;
    let final_apk = if spec.sign.unsigned {
        aligned
    } else {
        progress.step(&format!(
            "apksigner {:?} with {}",
            spec.sign.schemes,
            spec.sign.key.name()
        ));
        let ks = keystore(key_dir, spec.sign.key)?;
        let signed = dir.join("signed.apk");
        let enabled = |s: Scheme| {
            if spec.sign.schemes.contains(&s) {
                "true"
            } else {
                "false"
            }
        };
        let pass = format!("pass:{KEY_PASSWORD}");
        let mut cmd = Command::new("apksigner");
        cmd.arg("sign")
            .arg("--ks")
            .arg(&ks)
            .args([
                "--ks-key-alias",
                KEY_ALIAS,
                "--ks-pass",
                &pass,
                "--key-pass",
                &pass,
            ])
            .args(["--v1-signing-enabled", enabled(Scheme::V1)])
            .args(["--v2-signing-enabled", enabled(Scheme::V2)])
            .args(["--v3-signing-enabled", enabled(Scheme::V3)])
            .args(["--v4-signing-enabled", "false"]);
        if let Some(v) = spec.sign.min_sdk {
            cmd.arg("--min-sdk-version").arg(v.to_string());
        }
        cmd.arg("--out").arg(&signed).arg(&aligned);
        run(&mut cmd)?;
        signed
    };

    // 6. Publish atomically.
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    let partial = parent.join(unique_name(".partial-apk"));
    fs::copy(&final_apk, &partial).map_err(|e| io_err(&partial, e))?;
    fs::rename(&partial, out).map_err(|e| {
        let _ = fs::remove_file(&partial);
        io_err(out, e)
    })?;
    progress.step(&format!("done: {}", out.display()));
    Ok(())
}

fn strings_class_text(class: &str, strings: &[String]) -> String {
    strings_class(class, strings)
}

fn assemble(src: &Path, out: &Path, api: u32) -> Result<(), BuildError> {
    run(Command::new("smali")
        .arg("assemble")
        .arg("--api")
        .arg(api.to_string())
        .arg("-o")
        .arg(out)
        .arg(src))?;
    Ok(())
}

/// A tiny DEX with class `com/example/payload/Payload` (assembled once per build in `dir`).
fn payload_dex(dir: &Path, dest: &Path) -> Result<(), BuildError> {
    let cached = dir.join("payload.dex");
    if !cached.is_file() {
        let src = dir.join(unique_name("payload-smali"));
        let class = "com/example/payload/Payload";
        write_file(
            &src.join(format!("{class}.smali")),
            strings_class(class, &["payload".to_owned()]).as_bytes(),
        )?;
        assemble(&src, &cached, 15)?;
    }
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    }
    fs::copy(&cached, dest).map_err(|e| io_err(dest, e))?;
    Ok(())
}

/// A small unsigned APK (`com.example.nested`) holding a classes.dex.
fn nested_apk(dir: &Path, dest: &Path) -> Result<(), BuildError> {
    let work = dir.join(unique_name("nested"));
    write_file(
        &work.join("m/AndroidManifest.xml"),
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
          <manifest xmlns:android=\"http://schemas.android.com/apk/res/android\" \
          package=\"com.example.nested\" android:versionCode=\"1\" android:versionName=\"1.0\">\n\
          <uses-sdk android:minSdkVersion=\"21\" android:targetSdkVersion=\"29\"/>\n\
          <application android:label=\"Nested\"/>\n</manifest>\n",
    )?;
    let apk = work.join("nested.apk");
    run(Command::new("aapt")
        .args(["package", "-f", "-M"])
        .arg(work.join("m/AndroidManifest.xml"))
        .arg("-I")
        .arg(framework_res())
        .arg("-F")
        .arg(&apk))?;
    let stage = work.join("stage");
    payload_dex(dir, &stage.join("classes.dex"))?;
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    }
    zip_rewrite(
        &apk,
        dest,
        &stage,
        false,
        &[("classes.dex".to_owned(), true)],
    )?;
    Ok(())
}

const ZIP_PY: &str = r#"
import sys, zipfile
src, dst, stage, store_existing = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for info in zin.infolist():
        data = zin.read(info)
        if store_existing:
            info.compress_type = zipfile.ZIP_STORED
        zout.writestr(info, data)
    for line in sys.stdin.read().split("\n"):
        if not line:
            continue
        flag, name = line.split("\t", 1)
        info = zipfile.ZipInfo(name, date_time=(1981, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED if flag == "1" else zipfile.ZIP_STORED
        with open(stage + "/" + name, "rb") as f:
            zout.writestr(info, f.read())
"#;

/// Copies `src` to `dst` (optionally re-storing every existing entry) and appends staged files
/// (`stage/<name>`) with per-entry compression.
fn zip_rewrite(
    src: &Path,
    dst: &Path,
    stage: &Path,
    store_existing: bool,
    entries: &[(String, bool)],
) -> Result<(), BuildError> {
    let mut list = String::new();
    for (name, compress) in entries {
        let _ = writeln!(list, "{}\t{name}", if *compress { 1 } else { 0 });
    }
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(ZIP_PY)
        .arg(src)
        .arg(dst)
        .arg(stage)
        .arg(if store_existing { "1" } else { "0" })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BuildError::ToolMissing("python3".into()),
            _ => io_err(Path::new("python3"), e),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(list.as_bytes())
            .map_err(|e| io_err(Path::new("python3 stdin"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| io_err(Path::new("python3"), e))?;
    if !out.status.success() {
        return Err(BuildError::ToolFailed {
            command: format!("python3 zip-rewrite {} -> {}", src.display(), dst.display()),
            status: out.status.to_string(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

/// Returns the keystore for `key`, generating it once (cross-process safe via a lock file).
pub(crate) fn keystore(key_dir: &Path, key: KeyType) -> Result<PathBuf, BuildError> {
    let ks = key_dir.join(format!("{}.p12", key.name()));
    if ks.is_file() {
        return Ok(ks);
    }
    fs::create_dir_all(key_dir).map_err(|e| io_err(key_dir, e))?;
    let lock = key_dir.join(format!("{}.lock", key.name()));
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if ks.is_file() {
                    return Ok(ks);
                }
                let stale = fs::metadata(&lock)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(120));
                if stale || Instant::now() > deadline {
                    let _ = fs::remove_file(&lock);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(io_err(&lock, e)),
        }
    }
    let result = (|| {
        if ks.is_file() {
            return Ok(());
        }
        let partial = key_dir.join(unique_name(".partial-key"));
        let dname = format!("CN=apk-fixtures {}, O=interdict tests, C=US", key.name());
        let r = run(Command::new("keytool")
            .args(["-genkeypair", "-noprompt", "-storetype", "PKCS12"])
            .arg("-keystore")
            .arg(&partial)
            .args(["-alias", KEY_ALIAS, "-storepass", KEY_PASSWORD])
            .args([
                "-keypass",
                KEY_PASSWORD,
                "-validity",
                "36500",
                "-dname",
                &dname,
            ])
            .args(key.keytool_args()));
        if let Err(e) = r {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
        fs::rename(&partial, &ks).map_err(|e| io_err(&ks, e))
    })();
    let _ = fs::remove_file(&lock);
    result.map(|()| ks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape_res_string("@a'b\"<&"), "\\@a\\'b\\\"&lt;&amp;");
        assert_eq!(escape_smali("a\"é😀"), "a\\\"\\u00e9\\ud83d\\ude00");
    }

    #[test]
    fn random_is_deterministic() {
        assert_eq!(pseudo_random("x", 33), pseudo_random("x", 33));
        assert_ne!(pseudo_random("x", 33), pseudo_random("y", 33));
        assert_eq!(pseudo_random("x", 5).len(), 5);
    }

    #[test]
    fn elf_header() {
        let b = native_bytes("arm64-v8a", "s", 64);
        assert_eq!(&b[..5], b"\x7fELF\x02");
        assert_eq!(&b[18..20], &183u16.to_le_bytes());
        assert_eq!(native_bytes("x86", "s", 4), b"\x7fELF");
    }
}
