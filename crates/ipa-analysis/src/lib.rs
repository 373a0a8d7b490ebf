//! What is in this IPA: the iOS counterpart of `apk-analysis`.
//!
//! [`assess`] takes the bytes of an `.ipa` and [`Options`] and returns an [`IpaAssessment`] (schema
//! `interdict.assessment/v1`, `"platform": "ios"`) or an [`AssessError`]. It does no I/O and never panics;
//! the container is read with `apk-zip` (central directory authoritative, size limits, nothing extracted),
//! plists with the `plist` crate after a nesting-depth check, Mach-O and code signatures with `macho`.
//! Risk uses `apk-analysis`'s model: the same capability, tracker, endpoint, vendor and verdict shapes.

#![forbid(unsafe_code)]

mod bundle;
mod plists;
pub mod report;
mod risk;
mod signing;
pub mod trackers;

use std::collections::BTreeSet;

pub use apk_analysis::risk::RiskConfig;
pub use apk_zip::Limits;
pub use report::IpaAssessment;

use report::{Anomaly, FileInfo};

/// What to compute.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Container limits.
    pub limits: Limits,
    /// Mach-O limits.
    pub macho: macho::Limits,
    /// Risk analysis; `None` skips it.
    pub risk: Option<RiskConfig>,
    /// Extra trust anchors (DER certificates) besides Apple's bundled roots, e.g. a test root. A chain ending at
    /// one is `verified` with `chain_anchor: "extra_anchor"`. Unparsable entries are ignored.
    pub extra_anchors: Vec<Vec<u8>>,
}

impl Options {
    /// Apple's bundled roots and intermediates plus [`Options::extra_anchors`].
    pub fn trust_store(&self) -> macho::trust::TrustStore {
        let mut t = macho::trust::TrustStore::apple();
        for a in &self.extra_anchors {
            let _ = t.add_anchor(a);
        }
        t
    }
}

/// Largest plist read (Info.plist, entitlements, manifests, profiles): 8 MiB.
pub const MAX_PLIST_BYTES: usize = 8 << 20;

/// Why an IPA could not be assessed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssessError {
    /// The ZIP container is unreadable or exceeds a limit.
    #[error(transparent)]
    Zip(#[from] apk_zip::ZipError),
    /// No `Payload/<Name>.app/` directory.
    #[error("not an IPA: the archive has no Payload/<Name>.app/ directory")]
    NoApp,
    /// The app's Info.plist is missing or unreadable.
    #[error("Payload/{app}/Info.plist is unreadable: {detail}")]
    BadInfoPlist {
        /// The `.app` name.
        app: String,
        /// What is wrong (with the offset when the plist parser gives one).
        detail: String,
    },
}

impl AssessError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        use apk_zip::ZipError as Z;
        match self {
            AssessError::Zip(
                Z::TooManyEntries { .. }
                | Z::EntryTooLarge { .. }
                | Z::TotalSizeExceeded { .. }
                | Z::CompressionRatioExceeded { .. },
            ) => "limit_exceeded",
            AssessError::Zip(_) => "not_a_zip",
            AssessError::NoApp => "no_app_bundle",
            AssessError::BadInfoPlist { .. } => "bad_info_plist",
        }
    }
}

/// Whether `data` looks like an IPA rather than an APK: a ZIP with a `Payload/*.app/` entry and no
/// `AndroidManifest.xml`. Reads only the central directory.
pub fn is_ipa(data: &[u8]) -> bool {
    let Ok(a) = apk_zip::Archive::parse(data, Limits::default()) else {
        return false;
    };
    a.find("AndroidManifest.xml").is_none()
        && a.entries()
            .iter()
            .any(|e| bundle::app_root(&e.name_lossy()).is_some())
}

/// Assesses one IPA held in memory. `path` is only copied into the report.
pub fn assess(path: &str, data: &[u8], options: &Options) -> Result<IpaAssessment, AssessError> {
    let file = FileInfo {
        path: path.to_owned(),
        size: data.len() as u64,
        sha256: apk_analysis::sha256_hex(data),
    };
    assess_with_file(file, data, options)
}

/// Like [`assess`], with the [`FileInfo`] already computed.
pub fn assess_with_file(
    file: FileInfo,
    data: &[u8],
    options: &Options,
) -> Result<IpaAssessment, AssessError> {
    let archive = apk_zip::Archive::parse(data, options.limits)?;
    let mut anomalies: Vec<Anomaly> = archive
        .anomalies()
        .iter()
        .map(|a| Anomaly {
            code: a.code.as_str().to_owned(),
            detail: a.detail.clone(),
            offset: a.offset,
        })
        .collect();

    // The app: exactly one Payload/<Name>.app/.
    let mut roots: BTreeSet<String> = BTreeSet::new();
    for e in archive.entries() {
        let name = e.name_lossy();
        if name.split('/').any(|c| c == "..") || name.starts_with('/') || name.contains('\\') {
            anomalies.push(Anomaly {
                code: "path_traversal".into(),
                detail: format!("entry name {name:?} escapes the archive root"),
                offset: Some(e.cd_entry_offset),
            });
        }
        if let Some(root) = bundle::app_root(&name) {
            roots.insert(root.to_owned());
        }
    }
    let root = roots.iter().next().cloned().ok_or(AssessError::NoApp)?;
    if roots.len() > 1 {
        anomalies.push(Anomaly {
            code: "multiple_payload_apps".into(),
            detail: format!(
                "{} app bundles under Payload/ ({}); iOS installs exactly one; {root} was assessed",
                roots.len(),
                roots.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            offset: None,
        });
    }

    let trust = options.trust_store();
    let mut ctx = bundle::Ctx {
        archive: &archive,
        options,
        anomalies: &mut anomalies,
        trust: &trust,
    };
    let mut scan = bundle::scan(&mut ctx, &root)?;
    let strings = std::mem::take(&mut scan.strings);
    let entitlements = std::mem::take(&mut scan.entitlements);
    anomalies.extend(archive.read_anomalies().into_iter().map(|a| Anomaly {
        code: a.code.as_str().to_owned(),
        detail: a.detail,
        offset: a.offset,
    }));
    let mut a = scan.into_report(file, anomalies);
    if let Some(cfg) = &options.risk {
        risk::apply(&mut a, cfg, &strings, &entitlements);
    }
    Ok(a)
}

/// The error object for a file that could not be assessed (same shape as the APK one).
pub fn error_report(file: FileInfo, code: &str, message: String) -> apk_analysis::ErrorReport {
    apk_analysis::error_report(file, code, message)
}
