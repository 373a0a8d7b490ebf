//! The TOML fixture spec format (see `testdata/fixtures/README.md`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::BuildError;

/// Largest number of generated classes one spec may ask for.
pub const MAX_CLASSES: usize = 1_000_000;
/// Largest number of classes the builder puts in one DEX file (method/type ids stay below 65,536).
pub const MAX_CLASSES_PER_DEX: usize = 60_000;
/// Largest size of one generated native library or asset (64 MiB).
pub const MAX_FILE_SIZE: usize = 64 << 20;

/// One fixture: everything needed to build one APK.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Free text saying what the fixture is for (not used by the builder).
    #[serde(default)]
    pub description: String,
    /// The `AndroidManifest.xml` text, passed verbatim to `aapt package -M`.
    pub manifest: String,
    /// `aapt --min-sdk-version` (only useful when the manifest has no `<uses-sdk>`).
    #[serde(default)]
    pub min_sdk: Option<u32>,
    /// `aapt --target-sdk-version` (only useful when the manifest has no `<uses-sdk>`).
    #[serde(default)]
    pub target_sdk: Option<u32>,
    /// Whether ZIP entries are deflated (`false` stores everything, like `aapt -0 ""`).
    #[serde(default = "default_true")]
    pub compress: bool,
    /// Compiled resources (`res/values*/strings.xml`, `res/xml/*.xml`).
    #[serde(default)]
    pub resources: Resources,
    /// DEX code.
    #[serde(default)]
    pub code: Code,
    /// Native libraries under `lib/<abi>/`.
    #[serde(default)]
    pub native: Vec<Native>,
    /// Extra files (usually under `assets/`).
    #[serde(default)]
    pub assets: Vec<Asset>,
    /// APK signing.
    #[serde(default)]
    pub sign: Sign,
}

fn default_true() -> bool {
    true
}

/// Values resources.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// `<string name="KEY">VALUE</string>` in `res/values/strings.xml`.
    #[serde(default)]
    pub strings: BTreeMap<String, String>,
    /// `<bool name="KEY">VALUE</bool>` in `res/values/strings.xml`.
    #[serde(default)]
    pub bools: BTreeMap<String, bool>,
    /// `<integer name="KEY">VALUE</integer>` in `res/values/strings.xml`.
    #[serde(default)]
    pub integers: BTreeMap<String, i64>,
    /// Per-qualifier strings: key `fr` → `res/values-fr/strings.xml`.
    #[serde(default)]
    pub locales: BTreeMap<String, LocaleResources>,
    /// Raw XML resources: key `nsc` → `res/xml/nsc.xml` with the value as its text.
    #[serde(default)]
    pub xml: BTreeMap<String, String>,
}

impl Resources {
    /// True when no resource is declared (then `aapt` gets no `-S`).
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
            && self.bools.is_empty()
            && self.integers.is_empty()
            && self.locales.is_empty()
            && self.xml.is_empty()
    }
}

/// Strings of one locale/qualifier directory.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocaleResources {
    /// `<string name="KEY">VALUE</string>`.
    #[serde(default)]
    pub strings: BTreeMap<String, String>,
}

/// DEX code of the APK.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Code {
    /// No `classes*.dex` at all.
    #[serde(default)]
    pub none: bool,
    /// Number of generated stub classes `<package>/C<i>`.
    #[serde(default)]
    pub classes: usize,
    /// Package (slash form) of the generated stub classes.
    #[serde(default = "default_gen_package")]
    pub package: String,
    /// Extra stub classes by name (`com/appsflyer/AppsFlyerLib` or dotted form).
    #[serde(default)]
    pub extra_classes: Vec<String>,
    /// String constants loaded with `const-string` from one method of `strings_class`.
    #[serde(default)]
    pub strings: Vec<String>,
    /// Class holding `strings`.
    #[serde(default = "default_strings_class")]
    pub strings_class: String,
    /// Exact number of DEX files; when unset, split by `max_classes_per_dex`.
    #[serde(default)]
    pub dex_files: Option<usize>,
    /// Classes per DEX file when splitting automatically.
    #[serde(default = "default_per_dex")]
    pub max_classes_per_dex: usize,
    /// `smali assemble --api` (decides the DEX format version: 15 → 035, 24 → 037, 26 → 038).
    #[serde(default = "default_api")]
    pub api: u32,
}

impl Default for Code {
    fn default() -> Self {
        Code {
            none: false,
            classes: 0,
            package: default_gen_package(),
            extra_classes: Vec::new(),
            strings: Vec::new(),
            strings_class: default_strings_class(),
            dex_files: None,
            max_classes_per_dex: default_per_dex(),
            api: default_api(),
        }
    }
}

fn default_gen_package() -> String {
    "com/example/gen".to_owned()
}
fn default_strings_class() -> String {
    "com/example/gen/Strings".to_owned()
}
fn default_per_dex() -> usize {
    50_000
}
fn default_api() -> u32 {
    15
}

/// One native library `lib/<abi>/<name>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Native {
    /// ABI directory, e.g. `arm64-v8a`, `armeabi-v7a`, `x86`, `x86_64`.
    pub abi: String,
    /// File name, e.g. `libfoo.so`.
    pub name: String,
    /// Size in bytes (an ELF header followed by deterministic pseudo-random bytes).
    #[serde(default = "default_native_size")]
    pub size: usize,
    /// Overrides the spec-wide `compress` for this entry.
    #[serde(default)]
    pub compress: Option<bool>,
}

fn default_native_size() -> usize {
    4096
}

/// Content kinds of an [`Asset`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    /// `size` deterministic pseudo-random (incompressible) bytes.
    #[default]
    Random,
    /// `size` zero bytes.
    Zeros,
    /// The UTF-8 text of `content`.
    Text,
    /// A small valid DEX (class `com/example/payload/Payload`).
    Dex,
    /// A small nested APK (package `com.example.nested`, with a classes.dex, unsigned).
    Apk,
}

/// One extra file in the APK.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    /// Entry name inside the APK, e.g. `assets/payload.dex`.
    pub path: String,
    /// What the file holds.
    #[serde(default)]
    pub kind: AssetKind,
    /// Size for `random`/`zeros`.
    #[serde(default)]
    pub size: usize,
    /// Text for `text` (setting it implies `kind = "text"`).
    #[serde(default)]
    pub content: Option<String>,
    /// Overrides the spec-wide `compress` for this entry.
    #[serde(default)]
    pub compress: Option<bool>,
}

impl Asset {
    /// The effective kind (`content` implies `text`).
    pub fn effective_kind(&self) -> AssetKind {
        if self.content.is_some() {
            AssetKind::Text
        } else {
            self.kind
        }
    }
}

/// APK signature schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// JAR signing.
    V1,
    /// APK Signature Scheme v2.
    V2,
    /// APK Signature Scheme v3.
    V3,
}

/// Signing key types (generated once with keytool and reused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    /// RSA 1024-bit.
    Rsa1024,
    /// RSA 2048-bit.
    #[default]
    Rsa2048,
    /// RSA 4096-bit.
    Rsa4096,
    /// ECDSA P-256.
    EcP256,
    /// ECDSA P-384.
    EcP384,
    /// ECDSA P-521.
    EcP521,
    /// DSA 2048-bit.
    Dsa,
}

impl KeyType {
    /// Stable name used in spec files and key file names.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa1024 => "rsa1024",
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa4096 => "rsa4096",
            KeyType::EcP256 => "ec-p256",
            KeyType::EcP384 => "ec-p384",
            KeyType::EcP521 => "ec-p521",
            KeyType::Dsa => "dsa",
        }
    }

    /// keytool arguments selecting the algorithm, size and signature algorithm.
    pub(crate) fn keytool_args(self) -> [&'static str; 6] {
        match self {
            KeyType::Rsa1024 => [
                "-keyalg",
                "RSA",
                "-keysize",
                "1024",
                "-sigalg",
                "SHA256withRSA",
            ],
            KeyType::Rsa2048 => [
                "-keyalg",
                "RSA",
                "-keysize",
                "2048",
                "-sigalg",
                "SHA256withRSA",
            ],
            KeyType::Rsa4096 => [
                "-keyalg",
                "RSA",
                "-keysize",
                "4096",
                "-sigalg",
                "SHA256withRSA",
            ],
            KeyType::EcP256 => [
                "-keyalg",
                "EC",
                "-groupname",
                "secp256r1",
                "-sigalg",
                "SHA256withECDSA",
            ],
            KeyType::EcP384 => [
                "-keyalg",
                "EC",
                "-groupname",
                "secp384r1",
                "-sigalg",
                "SHA384withECDSA",
            ],
            KeyType::EcP521 => [
                "-keyalg",
                "EC",
                "-groupname",
                "secp521r1",
                "-sigalg",
                "SHA512withECDSA",
            ],
            KeyType::Dsa => [
                "-keyalg",
                "DSA",
                "-keysize",
                "2048",
                "-sigalg",
                "SHA256withDSA",
            ],
        }
    }
}

/// Signing settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sign {
    /// Leave the APK unsigned (zipaligned only).
    #[serde(default)]
    pub unsigned: bool,
    /// Enabled schemes; all others are explicitly disabled (v4 is always off).
    #[serde(default = "default_schemes")]
    pub schemes: Vec<Scheme>,
    /// Key type.
    #[serde(default)]
    pub key: KeyType,
    /// `apksigner sign --min-sdk-version` (defaults to the manifest's minSdk).
    #[serde(default)]
    pub min_sdk: Option<u32>,
}

impl Default for Sign {
    fn default() -> Self {
        Sign {
            unsigned: false,
            schemes: default_schemes(),
            key: KeyType::default(),
            min_sdk: None,
        }
    }
}

fn default_schemes() -> Vec<Scheme> {
    vec![Scheme::V1, Scheme::V2]
}

impl Spec {
    /// Parses and validates a spec.
    pub fn parse(text: &str) -> Result<Spec, BuildError> {
        let spec: Spec = toml::from_str(text).map_err(|e| BuildError::Spec(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// The `package="..."` attribute of the `<manifest>` element, if it can be found.
    pub fn package_name(&self) -> Option<String> {
        let start = self.manifest.find("<manifest")?;
        let rest = &self.manifest[start..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        let mut search = tag;
        while let Some(pos) = search.find("package") {
            let before_ok = pos == 0
                || search[..pos]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_whitespace);
            let after = search[pos + "package".len()..].trim_start();
            if before_ok {
                if let Some(after_eq) = after.strip_prefix('=') {
                    let after_eq = after_eq.trim_start();
                    let quote = after_eq.chars().next()?;
                    if quote == '"' || quote == '\'' {
                        let body = &after_eq[1..];
                        let close = body.find(quote)?;
                        return Some(body[..close].to_owned());
                    }
                }
            }
            search = &search[pos + "package".len()..];
        }
        None
    }

    /// Names (slash form) of all classes the spec generates, grouped per DEX file in order.
    pub fn dex_layout(&self) -> Vec<Vec<String>> {
        let code = &self.code;
        if code.none {
            return Vec::new();
        }
        let mut head: Vec<String> = code.extra_classes.iter().map(|c| slash_name(c)).collect();
        if !code.strings.is_empty() {
            head.push(slash_name(&code.strings_class));
        }
        let package = slash_name(&code.package);
        let mut generated = code.classes;
        if generated == 0 && head.is_empty() {
            generated = 1;
        }
        let total = head.len().saturating_add(generated);
        let files = match code.dex_files {
            Some(n) => n.max(1),
            None => total.div_ceil(code.max_classes_per_dex.max(1)).max(1),
        };
        let mut out: Vec<Vec<String>> = vec![Vec::new(); files];
        let names = head
            .into_iter()
            .chain((0..generated).map(|i| format!("{package}/C{i}")));
        for (i, name) in names.enumerate() {
            // Even split: every file gets floor or ceil of total/files classes.
            let slot = (i as u128 * files as u128 / total.max(1) as u128) as usize;
            out[slot.min(files - 1)].push(name);
        }
        out
    }

    fn validate(&self) -> Result<(), BuildError> {
        let bad = |msg: String| Err(BuildError::Invalid(msg));
        if !self.manifest.contains("<manifest") {
            return bad("`manifest` has no <manifest> element".into());
        }
        let r = &self.resources;
        let res_names = r
            .strings
            .keys()
            .chain(r.bools.keys())
            .chain(r.integers.keys())
            .chain(r.xml.keys())
            .chain(r.locales.values().flat_map(|l| l.strings.keys()));
        for name in res_names {
            if !is_resource_name(name) {
                return bad(format!("invalid resource name {name:?} (use [a-z0-9_])"));
            }
        }
        for loc in r.locales.keys() {
            if loc.is_empty()
                || !loc
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '+')
            {
                return bad(format!("invalid resource qualifier {loc:?}"));
            }
        }
        let c = &self.code;
        if c.classes > MAX_CLASSES {
            return bad(format!("code.classes {} > {MAX_CLASSES}", c.classes));
        }
        if c.max_classes_per_dex == 0 || c.max_classes_per_dex > MAX_CLASSES_PER_DEX {
            return bad(format!(
                "code.max_classes_per_dex must be 1..={MAX_CLASSES_PER_DEX}"
            ));
        }
        if c.dex_files == Some(0) || c.dex_files.is_some_and(|n| n > 100) {
            return bad("code.dex_files must be 1..=100".into());
        }
        let names = c
            .extra_classes
            .iter()
            .chain(std::iter::once(&c.strings_class));
        for name in names {
            if !is_class_name(&slash_name(name)) {
                return bad(format!("invalid class name {name:?}"));
            }
        }
        if !is_class_name(&slash_name(&c.package)) {
            return bad(format!("invalid package {:?}", c.package));
        }
        if let Some(n) = c.dex_files {
            let total = c
                .classes
                .saturating_add(c.extra_classes.len())
                .saturating_add(1);
            if total.div_ceil(n) > MAX_CLASSES_PER_DEX {
                return bad(format!(
                    "{total} classes do not fit in {n} dex files of at most {MAX_CLASSES_PER_DEX}"
                ));
            }
        }
        for n in &self.native {
            if !is_path_segment(&n.abi) || !is_path_segment(&n.name) {
                return bad(format!("invalid native lib {}/{}", n.abi, n.name));
            }
            if n.size > MAX_FILE_SIZE {
                return bad(format!("native lib {} too large", n.name));
            }
        }
        for a in &self.assets {
            if !is_entry_path(&a.path) {
                return bad(format!("invalid asset path {:?}", a.path));
            }
            if a.size > MAX_FILE_SIZE {
                return bad(format!("asset {} too large", a.path));
            }
            if a.content.is_some() && !matches!(a.kind, AssetKind::Text | AssetKind::Random) {
                return bad(format!("asset {}: `content` needs kind \"text\"", a.path));
            }
            if a.kind == AssetKind::Text && a.content.is_none() {
                return bad(format!("asset {}: kind \"text\" needs `content`", a.path));
            }
        }
        if let Some(n) = c.dex_files {
            if !c.none && self.dex_layout().iter().map(Vec::len).sum::<usize>() < n {
                return bad(format!("code.dex_files = {n} but fewer classes than that"));
            }
        }
        if !self.sign.unsigned && self.sign.schemes.is_empty() {
            return bad("sign.schemes is empty (use `unsigned = true`)".into());
        }
        Ok(())
    }
}

/// `a.b.C` → `a/b/C`; strips a leading `L` and trailing `;` of descriptors.
pub(crate) fn slash_name(name: &str) -> String {
    let n = name.trim();
    let n = match n.strip_prefix('L').and_then(|s| s.strip_suffix(';')) {
        Some(inner) => inner,
        None => n,
    };
    n.replace('.', "/")
}

fn is_class_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        })
}

fn is_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

fn is_path_segment(seg: &str) -> bool {
    !seg.is_empty() && seg != "." && seg != ".." && !seg.contains(['/', '\\', '\0'])
}

fn is_entry_path(path: &str) -> bool {
    !path.starts_with('/') && path.split('/').all(is_path_segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_name_found() {
        let spec = Spec::parse(
            "manifest = '''<manifest xmlns:android=\"x\" android:versionCode=\"1\"\n package = 'com.a.b'>'''",
        )
        .unwrap();
        assert_eq!(spec.package_name().as_deref(), Some("com.a.b"));
    }

    #[test]
    fn layout_splits() {
        let spec = Spec::parse(
            "manifest = '<manifest package=\"a.b\"/>'\n[code]\nclasses = 10\nmax_classes_per_dex = 4\nextra_classes = [\"x.Y\"]\nstrings = [\"s\"]",
        )
        .unwrap();
        let l = spec.dex_layout();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0][0], "x/Y");
        assert_eq!(l[0][1], "com/example/gen/Strings");
        assert_eq!(l.iter().map(Vec::len).sum::<usize>(), 12);
        let spec = Spec::parse("manifest = '<manifest package=\"a.b\"/>'").unwrap();
        assert_eq!(
            spec.dex_layout(),
            vec![vec!["com/example/gen/C0".to_owned()]]
        );
        let spec =
            Spec::parse("manifest = '<manifest package=\"a.b\"/>'\n[code]\nnone = true").unwrap();
        assert!(spec.dex_layout().is_empty());
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "manifest = 'x'",
            "manifest = '<manifest/>'\nbogus = 1",
            "manifest = '<manifest/>'\n[[assets]]\npath = '../x'",
            "manifest = '<manifest/>'\n[[assets]]\npath = '/x'",
            "manifest = '<manifest/>'\n[code]\nextra_classes = ['a//b']",
            "manifest = '<manifest/>'\n[resources.strings]\nBad-Name = 'x'",
            "manifest = '<manifest/>'\n[sign]\nschemes = []",
            "manifest = '<manifest/>'\n[sign]\nkey = 'rsa999'",
        ] {
            assert!(Spec::parse(bad).is_err(), "{bad}");
        }
    }
}
