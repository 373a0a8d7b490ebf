//! What is in this APK: the API boundary between the format parsers and everything else.
//!
//! [`assess`] takes the bytes of a file and [`Options`], and returns an [`Assessment`] or an [`AssessError`].
//! It does no I/O: the CLI and the server read files and pass bytes.
//! It never panics on any input, and every size it inflates is bounded by [`apk_zip::Limits`].
//!
//! The pipeline follows what Android itself reads:
//! the central directory (via `apk-zip`), `AndroidManifest.xml` and `resources.arsc` (via `android-binxml`), then `classes.dex`, `classes2.dex`, ... in the order ART loads them (via `dex-file`).
//! Every oddity a parser reports becomes an [`report::Anomaly`] with its offset.

#![forbid(unsafe_code)]

mod code;
mod manifest;
pub mod report;
pub mod risk;
mod signing;

use std::borrow::Cow;

pub use apk_zip::Limits;
pub use report::{Assessment, ErrorBody, ErrorReport, FileInfo, SCHEMA};

use report::Anomaly;

/// What to compute besides the default report.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Bounds on the ZIP container (entries, inflated sizes, compression ratio).
    pub limits: Limits,
    /// Put every dotted class name in `dex.class_names`.
    pub include_classes: bool,
    /// Put every DEX string in `dex.string_values`.
    pub include_strings: bool,
    /// Risk analysis (capabilities, trackers, endpoints, vendor, verdict); `None` skips it.
    pub risk: Option<risk::RiskConfig>,
    /// Skip signature verification (the `signing` section is then absent).
    pub skip_signing: bool,
}

/// Why a file could not be assessed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssessError {
    /// The ZIP container is unreadable or exceeds a limit.
    #[error(transparent)]
    Zip(#[from] apk_zip::ZipError),
    /// There is no `AndroidManifest.xml` entry, so this is not an APK.
    #[error("not an APK: the archive has no AndroidManifest.xml entry")]
    NoManifest,
    /// The manifest is not Android binary XML that Android could read.
    #[error("AndroidManifest.xml is unreadable: {0}")]
    BadManifest(String),
}

impl AssessError {
    /// Stable snake_case code for the JSON error object.
    pub fn code(&self) -> &'static str {
        match self {
            AssessError::Zip(e) if is_limit(e) => "limit_exceeded",
            AssessError::Zip(_) => "not_a_zip",
            AssessError::NoManifest => "no_manifest",
            AssessError::BadManifest(_) => "bad_manifest",
        }
    }
}

/// A container anomaly (found while parsing or while reading entries) in report form.
fn zip_anomaly(a: apk_zip::Anomaly) -> Anomaly {
    Anomaly {
        code: a.code.as_str().to_owned(),
        detail: a.detail,
        offset: a.offset,
    }
}

fn is_limit(e: &apk_zip::ZipError) -> bool {
    use apk_zip::ZipError as Z;
    matches!(
        e,
        Z::TooManyEntries { .. }
            | Z::EntryTooLarge { .. }
            | Z::TotalSizeExceeded { .. }
            | Z::CompressionRatioExceeded { .. }
    )
}

/// The lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Assesses one APK held in memory. `path` is only copied into the report.
pub fn assess(path: &str, data: &[u8], options: &Options) -> Result<Assessment, AssessError> {
    let file = FileInfo {
        path: path.to_owned(),
        size: data.len() as u64,
        sha256: sha256_hex(data),
    };
    assess_with_file(file, data, options)
}

/// Like [`assess`], with the [`FileInfo`] already computed by the caller.
pub fn assess_with_file(
    file: FileInfo,
    data: &[u8],
    options: &Options,
) -> Result<Assessment, AssessError> {
    let archive = apk_zip::Archive::parse(data, options.limits)?;
    let mut anomalies: Vec<Anomaly> = archive
        .anomalies()
        .iter()
        .cloned()
        .map(zip_anomaly)
        .collect();

    let manifest_entry = archive
        .find("AndroidManifest.xml")
        .ok_or(AssessError::NoManifest)?;
    let manifest_bytes = archive.read(manifest_entry)?;
    let arsc_bytes: Option<Cow<'_, [u8]>> = match archive.find("resources.arsc") {
        Some(entry) => match archive.read(entry) {
            Ok(bytes) => Some(bytes),
            Err(e) if is_limit(&e) => return Err(e.into()),
            Err(e) => {
                anomalies.push(Anomaly {
                    code: "resources_unreadable".into(),
                    detail: e.to_string(),
                    offset: Some(entry.local_header_offset),
                });
                None
            }
        },
        None => None,
    };
    let parsed = manifest::read(&manifest_bytes, arsc_bytes.as_deref(), &mut anomalies)?;
    let mut dex_scan = options.risk.as_ref().map(risk::DexScan::new);
    let sig_options = apk_signature::Options {
        min_sdk: parsed.app.min_sdk.unwrap_or(1),
        max_sdk: apk_signature::LATEST,
        target_sdk: parsed.app.target_sdk,
        ..apk_signature::Options::default()
    };
    // Each DEX file is inflated once: while it is parsed, its JAR-signature digests are computed for the
    // v1 verifier (only when the APK has a JAR signature), which then runs on the rest of the archive.
    let jar_signed = !options.skip_signing && archive.find("META-INF/MANIFEST.MF").is_some();
    let mut entry_digests = apk_signature::EntryDigests::new();
    let code = code::read(
        &archive,
        options,
        &mut anomalies,
        &mut |name, file| {
            if let Some(scan) = dex_scan.as_mut() {
                scan.visit(name, file);
            }
        },
        jar_signed.then_some(&mut entry_digests),
    );
    let signing = (!options.skip_signing).then(|| {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    apk_signature::verify_with_digests(&archive, &sig_options, &entry_digests)
                })
                .join()
        })
    });
    let code = code?;
    let signing = match signing {
        None => None,
        Some(Ok(report)) => Some(report),
        // The verifier never panics on any input; if it ever did, report it instead of taking the process down.
        Some(Err(_)) => {
            anomalies.push(Anomaly {
                code: "signature_verifier_failed".into(),
                detail: "the signature verifier stopped unexpectedly; signatures are not reported"
                    .into(),
                offset: None,
            });
            None
        }
    };
    anomalies.extend(archive.read_anomalies().into_iter().map(zip_anomaly));

    let mut assessment = Assessment {
        schema: SCHEMA,
        file,
        app: parsed.app,
        permissions: parsed.permissions,
        declared_permissions: parsed.declared_permissions,
        components: parsed.components,
        features: parsed.features,
        queries: parsed.queries,
        meta_data: parsed.meta_data,
        dex: code.dex,
        native_libs: code.native_libs,
        embedded: code.embedded,
        anomalies,
        capabilities: None,
        trackers: None,
        endpoints: None,
        vendor: None,
        risk: None,
        signing: None,
    };
    assessment.signing = signing.as_ref().map(signing::section);
    if let Some(scan) = dex_scan {
        let signers = signing.as_ref().map(signing::facts).unwrap_or_default();
        risk::apply(
            &mut assessment,
            &archive,
            arsc_bytes.as_deref(),
            scan,
            &signers,
        );
    }
    Ok(assessment)
}

/// Builds the error object for a file that could not be assessed.
pub fn error_report(file: FileInfo, code: &str, message: String) -> ErrorReport {
    ErrorReport {
        schema: SCHEMA,
        file,
        error: ErrorBody {
            code: code.to_owned(),
            message,
        },
    }
}
