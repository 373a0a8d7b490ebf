//! DEX files, native libraries and embedded code.

use apk_zip::{Archive, Entry};

use crate::report::{Anomaly, DexFileInfo, DexSummary, Embedded, NativeLib};
use crate::{is_limit, AssessError, Options};

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
pub(crate) fn read(
    archive: &Archive<'_>,
    options: &Options,
    anomalies: &mut Vec<Anomaly>,
    visit: &mut dyn FnMut(&str, &dex_file::DexFile<'_>),
) -> Result<Code, AssessError> {
    let loaded = loaded_dex_names(archive);
    let mut dex = DexSummary {
        class_names: options.include_classes.then(Vec::new),
        string_values: options.include_strings.then(Vec::new),
        ..DexSummary::default()
    };
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
        match dex_file::DexFile::parse(&bytes) {
            Ok(file) => {
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
                                if let Some(n) = dex_file::descriptor_to_java(desc) {
                                    names.push(n);
                                }
                            }
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
                    values.extend(
                        file.strings()
                            .filter_map(Result::ok)
                            .map(|s| s.into_owned()),
                    );
                }
                let strings = u64::from(file.string_count());
                dex.classes += classes;
                dex.strings += strings;
                dex.files.push(DexFileInfo {
                    name: name.clone(),
                    size: bytes.len() as u64,
                    version: file.header().version,
                    classes,
                    strings,
                });
            }
            Err(e) => anomalies.push(Anomaly {
                code: "dex_unparseable".into(),
                detail: format!("{name}: {e}"),
                offset: None,
            }),
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
