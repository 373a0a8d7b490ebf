//! DEX files, native libraries and embedded code.

use apk_zip::{Archive, Entry};

use crate::report::{Anomaly, DexFileInfo, DexSummary, Embedded, NativeLib};
use crate::{is_limit, AssessError, Options};

/// At most this many strings go to `dex.string_values` (over every DEX file); the rest are counted in
/// `dex.string_values_omitted`.
pub(crate) const MAX_STRING_VALUES: usize = 1_000_000;
/// At most this many bytes of strings go to `dex.string_values` (before JSON escaping).
pub(crate) const MAX_STRING_VALUES_BYTES: usize = 64 << 20;
/// At most this many names go to `dex.class_names`; the rest are counted in `dex.class_names_omitted`.
pub(crate) const MAX_CLASS_NAMES: usize = 1_000_000;

pub(crate) struct Code {
    pub(crate) dex: DexSummary,
    pub(crate) native_libs: Vec<NativeLib>,
    pub(crate) embedded: Vec<Embedded>,
}

/// The names ART loads, in order: `classes.dex`, then `classes2.dex`, `classes3.dex`, ... until the first missing one.
fn loaded_dex_names(archive: &Archive<'_>) -> Vec<String> {
    let mut names = Vec::new();
    if archive.find("classes.dex").is_none() {
        return names;
    }
    names.push("classes.dex".to_owned());
    for n in 2.. {
        let name = format!("classes{n}.dex");
        if archive.find(&name).is_none() {
            break;
        }
        names.push(name);
    }
    names
}

/// `visit` sees each loaded DEX file while it is parsed (risk analysis scans it in place, without copies).
///
/// One DEX file is inflated at a time and dropped before the next. With `digests`, each one's JAR-signature
/// digests are computed (on a second thread, while it is parsed) so the v1 verifier need not inflate it again.
pub(crate) fn read(
    archive: &Archive<'_>,
    options: &Options,
    anomalies: &mut Vec<Anomaly>,
    visit: &mut dyn FnMut(&str, &dex_file::DexFile<'_>),
    mut digests: Option<&mut apk_signature::EntryDigests>,
) -> Result<Code, AssessError> {
    let loaded = loaded_dex_names(archive);
    let mut dex = DexSummary {
        class_names: options.include_classes.then(Vec::new),
        string_values: options.include_strings.then(Vec::new),
        ..DexSummary::default()
    };
    let mut string_bytes = 0usize;
    for name in &loaded {
        let Some(entry) = archive.find(name) else {
            continue;
        };
        let bytes = match archive.read(entry) {
            Ok(b) => b,
            Err(e) if is_limit(&e) => return Err(e.into()),
            Err(e) => {
                anomalies.push(Anomaly {
                    code: "dex_unreadable".into(),
                    detail: format!("{name}: {e}"),
                    offset: Some(entry.local_header_offset),
                });
                continue;
            }
        };
        let hashing = digests.is_some();
        let (parsed, digested) = std::thread::scope(|scope| {
            let hasher = hashing.then(|| {
                scope.spawn(|| {
                    let mut one = apk_signature::EntryDigests::new();
                    one.insert(entry, &bytes);
                    one
                })
            });
            let parsed = parse_one(name, &bytes, anomalies, visit, &mut dex, &mut string_bytes);
            (parsed, hasher.and_then(|h| h.join().ok()))
        });
        if let (Some(all), Some(one)) = (digests.as_deref_mut(), digested) {
            all.extend(one);
        }
        if let Some(e) = parsed {
            anomalies.push(e);
        }
    }

    let mut native_libs = Vec::new();
    let mut embedded = Vec::new();
    for entry in archive.entries() {
        let name = entry.name_lossy();
        if let Some(lib) = native_lib(&name, entry) {
            native_libs.push(lib);
            continue;
        }
        if loaded.iter().any(|l| *l == name) {
            continue;
        }
        if let Some(kind) = embedded_kind(archive, &name, entry) {
            if kind == "dex" && is_dex_name_at_root(&name) {
                anomalies.push(Anomaly {
                    code: "dex_not_loaded".into(),
                    detail: format!(
                        "{name} is not in the classes.dex, classes2.dex, ... sequence that Android loads"
                    ),
                    offset: Some(entry.local_header_offset),
                });
            }
            embedded.push(Embedded {
                path: name.into_owned(),
                kind,
                size: entry.uncompressed_size,
            });
        }
    }
    Ok(Code {
        dex,
        native_libs,
        embedded,
    })
}

/// Parses one inflated DEX file into `dex`; returns the anomaly for a file that cannot be parsed.
fn parse_one(
    name: &str,
    bytes: &[u8],
    anomalies: &mut Vec<Anomaly>,
    visit: &mut dyn FnMut(&str, &dex_file::DexFile<'_>),
    dex: &mut DexSummary,
    string_bytes: &mut usize,
) -> Option<Anomaly> {
    let file = match dex_file::DexFile::parse(bytes) {
        Ok(file) => file,
        Err(e) => {
            return Some(Anomaly {
                code: "dex_unparseable".into(),
                detail: format!("{name}: {e}"),
                offset: None,
            })
        }
    };
    visit(name, &file);
    for a in file.anomalies() {
        anomalies.push(Anomaly {
            code: a.code.as_str().into(),
            detail: format!("{name}: {}", a.detail),
            offset: Some(a.offset),
        });
    }
    let mut classes = 0u64;
    let mut bad_classes = 0u64;
    for desc in file.class_descriptors() {
        match desc {
            Ok(desc) => {
                classes += 1;
                if let Some(names) = dex.class_names.as_mut() {
                    if names.len() >= MAX_CLASS_NAMES {
                        *dex.class_names_omitted.get_or_insert(0) += 1;
                    } else if let Some(n) = dex_file::descriptor_to_java(desc) {
                        names.push(n);
                    }
                }
            }
            Err(e) if matches!(e, dex_file::DexError::WorkLimit { .. }) => {
                anomalies.push(work_limit_anomaly(name, &e));
            }
            Err(e) => {
                if bad_classes == 0 {
                    anomalies.push(Anomaly {
                        code: "dex_bad_class_def".into(),
                        detail: format!("{name}: {e}"),
                        offset: None,
                    });
                }
                bad_classes += 1;
            }
        }
    }
    if let Some(values) = dex.string_values.as_mut() {
        let mut omitted = 0u64;
        for s in file.strings() {
            match s {
                Ok(s)
                    if values.len() < MAX_STRING_VALUES
                        && *string_bytes + s.len() <= MAX_STRING_VALUES_BYTES =>
                {
                    *string_bytes += s.len();
                    values.push(s.into_owned());
                }
                Ok(_) => omitted += 1,
                Err(e) => {
                    if matches!(e, dex_file::DexError::WorkLimit { .. }) {
                        anomalies.push(work_limit_anomaly(name, &e));
                    }
                }
            }
        }
        if omitted > 0 {
            *dex.string_values_omitted.get_or_insert(0) += omitted;
        }
    }
    let strings = u64::from(file.string_count());
    dex.classes += classes;
    dex.strings += strings;
    dex.files.push(DexFileInfo {
        name: name.to_owned(),
        size: bytes.len() as u64,
        version: file.header().version,
        classes,
        strings,
    });
    None
}

/// The anomaly for a DEX table whose items overlap beyond the work budget (see
/// [`dex_file::DexFile::string_table`]).
pub(crate) fn work_limit_anomaly(name: &str, e: &dex_file::DexError) -> Anomaly {
    let offset = match e {
        dex_file::DexError::WorkLimit { offset, .. } => Some(*offset),
        _ => None,
    };
    Anomaly {
        code: "dex_work_limit".into(),
        detail: format!("{name}: {e}"),
        offset,
    }
}

fn is_dex_name_at_root(name: &str) -> bool {
    !name.contains('/') && name.starts_with("classes") && name.ends_with(".dex")
}

fn native_lib(name: &str, entry: &Entry) -> Option<NativeLib> {
    let rest = name.strip_prefix("lib/")?;
    let (abi, file) = rest.split_once('/')?;
    if abi.is_empty() || file.is_empty() || file.contains('/') || !file.ends_with(".so") {
        return None;
    }
    Some(NativeLib {
        abi: abi.to_owned(),
        name: file.to_owned(),
        size: entry.uncompressed_size,
    })
}

/// Classifies an entry as hidden code by its name, or by its first bytes.
/// Sniffing inflates only the first few bytes of an entry, so images and assets are never inflated whole.
fn embedded_kind(archive: &Archive<'_>, name: &str, entry: &Entry) -> Option<&'static str> {
    if entry.is_dir() || entry.uncompressed_size < 22 {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    for (ext, kind) in [
        (".dex", "dex"),
        (".odex", "dex"),
        (".apk", "apk"),
        (".jar", "jar"),
        (".zip", "zip"),
    ] {
        if lower.ends_with(ext) {
            return Some(kind);
        }
    }
    // The signature files and resources.arsc are known formats; everything else is sniffed.
    if lower.starts_with("meta-inf/") || lower == "resources.arsc" || lower == "androidmanifest.xml"
    {
        return None;
    }
    let head = archive.peek(entry, 8).ok()?;
    if dex_file::has_dex_magic(&head) {
        Some("dex")
    } else if head.starts_with(b"PK\x03\x04") {
        Some("zip")
    } else {
        None
    }
}
