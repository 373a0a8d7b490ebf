//! The assessment report: the JSON wire format of `interdict assess` (schema `interdict.assessment/v1`).
//!
//! Field names here are a public contract.
//! Adding a field is a compatible change; renaming or removing one needs a new schema version.

use serde::Serialize;

/// The schema identifier of a successful assessment and of an error object.
pub const SCHEMA: &str = "interdict.assessment/v1";

/// Everything `assess` learned about one APK.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The file that was read.
    pub file: FileInfo,
    /// Identity and top-level manifest flags.
    pub app: App,
    /// `<uses-permission>` and `<uses-permission-sdk-23>` requests, in manifest order, without duplicates.
    pub permissions: Vec<UsesPermission>,
    /// `<permission>` elements: permissions the app itself defines.
    pub declared_permissions: Vec<DeclaredPermission>,
    /// Activities, activity aliases, services, receivers and providers.
    pub components: Vec<Component>,
    /// `<uses-feature>` elements.
    pub features: Vec<Feature>,
    /// `<queries>`: what other apps this app asks to see (Android 11+ package visibility).
    pub queries: Queries,
    /// `<meta-data>` under `<application>`.
    pub meta_data: Vec<MetaData>,
    /// The DEX code Android would load.
    pub dex: DexSummary,
    /// Native libraries under `lib/<abi>/`.
    pub native_libs: Vec<NativeLib>,
    /// DEX, APK, JAR or ZIP files hidden elsewhere in the archive (assets, resources).
    pub embedded: Vec<Embedded>,
    /// Everything unusual the parsers saw, with byte offsets.
    pub anomalies: Vec<Anomaly>,
    /// Sensitive capabilities derived from the manifest (present when risk analysis ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<crate::risk::model::Capability>>,
    /// Tracker SDKs found by code and network signatures (present when risk analysis ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trackers: Option<Vec<crate::risk::model::TrackerMatch>>,
    /// URLs, host names and IP literals, deduplicated, with where they were found (present when risk analysis ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<crate::risk::model::Endpoint>>,
    /// The vendor the app is attributed to (absent when none matched or risk analysis did not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<crate::risk::model::VendorMatch>,
    /// Score, verdict and the factors behind them (present when risk analysis ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<crate::risk::model::Risk>,
    /// Signature schemes, verdict and verified signers (absent when verification was turned off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<Signing>,
}

/// The file an assessment is about.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileInfo {
    /// The path as given on the command line (or the upload name).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the whole file.
    pub sha256: String,
}

/// Identity and flags from `<manifest>`, `<uses-sdk>` and `<application>`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct App {
    /// `package` attribute of `<manifest>`.
    pub package: String,
    /// `android:versionCode` (with `versionCodeMajor` in the high 32 bits when present).
    pub version_code: Option<u64>,
    /// `android:versionName`, resolved through resources when it is a reference.
    pub version_name: Option<String>,
    /// `<uses-sdk android:minSdkVersion>`; Android assumes 1 when absent.
    pub min_sdk: Option<u32>,
    /// `<uses-sdk android:targetSdkVersion>`; Android assumes minSdk when absent.
    pub target_sdk: Option<u32>,
    /// `<uses-sdk android:maxSdkVersion>`.
    pub max_sdk: Option<u32>,
    /// `android:compileSdkVersion`, or else `platformBuildVersionCode`.
    pub compile_sdk: Option<u32>,
    /// The application label, resolved through resources.arsc (default configuration first).
    pub label: Option<String>,
    /// `android:debuggable` on `<application>`, resolved.
    pub debuggable: bool,
    /// `android:allowBackup`, resolved; Android's default is true.
    pub allow_backup: bool,
    /// Whether cleartext traffic is allowed: the explicit attribute, else Android's default for the target SDK (true below 28).
    pub uses_cleartext_traffic: bool,
    /// `android:networkSecurityConfig` as a resource name (e.g. `@xml/network_security_config`) or path.
    pub network_security_config: Option<String>,
}

/// One requested permission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsesPermission {
    /// The permission name.
    pub name: String,
    /// `android:maxSdkVersion`: the request applies only up to this API level.
    pub max_sdk: Option<u32>,
}

/// A permission the app defines.
#[derive(Debug, Clone, Serialize)]
pub struct DeclaredPermission {
    /// The permission name.
    pub name: String,
    /// Protection level as aapt prints it (`normal`, `dangerous`, `signature`, `signature|privileged`, ...).
    pub protection_level: String,
}

/// One app component.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// `activity`, `activity-alias`, `service`, `receiver` or `provider`.
    pub kind: &'static str,
    /// Fully qualified class name (`.Foo` expanded with the package).
    pub name: String,
    /// Whether other apps can reach it.
    pub exported: bool,
    /// Why: `explicit`, `intent_filter` (implied), or `default`.
    pub exported_reason: &'static str,
    /// `android:permission` needed to reach it.
    pub permission: Option<String>,
    /// `android:enabled` (default true).
    pub enabled: bool,
    /// Intent-filter actions, in order, without duplicates.
    pub actions: Vec<String>,
    /// Intent-filter categories.
    pub categories: Vec<String>,
    /// Intent-filter `<data android:scheme>` values.
    pub data_schemes: Vec<String>,
    /// Intent-filter `<data android:host>` values.
    pub data_hosts: Vec<String>,
    /// Provider authorities (providers only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorities: Vec<String>,
    /// `<meta-data>` of this component.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub meta_data: Vec<MetaData>,
    /// The aliased activity (activity-alias only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_activity: Option<String>,
}

/// A `<uses-feature>` element.
#[derive(Debug, Clone, Serialize)]
pub struct Feature {
    /// Feature name, or `None` for a `glEsVersion` requirement.
    pub name: Option<String>,
    /// `android:required` (default true).
    pub required: bool,
    /// `android:glEsVersion` as `major.minor`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gl_es_version: Option<String>,
}

/// The `<queries>` element.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Queries {
    /// `<package android:name>` entries.
    pub packages: Vec<String>,
    /// Actions of `<intent>` entries.
    pub intent_actions: Vec<String>,
    /// `<provider android:authorities>` entries.
    pub providers: Vec<String>,
}

/// A `<meta-data>` element.
#[derive(Debug, Clone, Serialize)]
pub struct MetaData {
    /// `android:name`.
    pub name: String,
    /// `android:value` (or `android:resource` as a resource name), resolved where possible.
    pub value: Option<String>,
}

/// The DEX files Android loads (`classes.dex`, `classes2.dex`, ...).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DexSummary {
    /// Each DEX file.
    pub files: Vec<DexFileInfo>,
    /// Total classes defined.
    pub classes: u64,
    /// Total strings.
    pub strings: u64,
    /// Dotted class names (only with `include_classes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_names: Option<Vec<String>>,
    /// How many class names were left out of `class_names` by its cap (absent when none were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_names_omitted: Option<u64>,
    /// String constants (only with `include_strings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_values: Option<Vec<String>>,
    /// How many strings were left out of `string_values` by its caps (1,000,000 strings, 64 MiB)
    /// (absent when none were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_values_omitted: Option<u64>,
}

/// One DEX file.
#[derive(Debug, Clone, Serialize)]
pub struct DexFileInfo {
    /// Entry name in the archive.
    pub name: String,
    /// Inflated size in bytes.
    pub size: u64,
    /// Format version from the magic (35, 37, 38, 39, ...).
    pub version: u16,
    /// Classes defined.
    pub classes: u64,
    /// Strings in `string_ids`.
    pub strings: u64,
}

/// A native library.
#[derive(Debug, Clone, Serialize)]
pub struct NativeLib {
    /// ABI folder, e.g. `arm64-v8a`.
    pub abi: String,
    /// File name, e.g. `libfoo.so`.
    pub name: String,
    /// Inflated size in bytes (from the central directory).
    pub size: u64,
}

/// Code found outside the places Android loads it from.
#[derive(Debug, Clone, Serialize)]
pub struct Embedded {
    /// Entry name in the archive.
    pub path: String,
    /// `dex`, `apk`, `jar` or `zip`.
    pub kind: &'static str,
    /// Inflated size in bytes.
    pub size: u64,
}

/// A structural oddity, often a sign of deliberate anti-analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// Stable snake_case identifier.
    pub code: String,
    /// What was seen, in words.
    pub detail: String,
    /// Byte offset in the file (or in the inflated entry named by `detail`), when known.
    pub offset: Option<u64>,
}

/// The object written instead of an [`Assessment`] when a file could not be assessed.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The file concerned (size and hash when it could be read).
    pub file: FileInfo,
    /// What went wrong.
    pub error: ErrorBody,
}

/// The error of an [`ErrorReport`].
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    /// Stable snake_case identifier, e.g. `not_a_zip`, `limit_exceeded`, `no_manifest`, `unreadable`.
    pub code: String,
    /// A human-readable explanation naming the offset or field.
    pub message: String,
}

/// APK signatures, verified the way Android verifies them (the `apk-signature` crate).
#[derive(Debug, Clone, Serialize)]
pub struct Signing {
    /// Whether the APK verifies for every platform version in `min_sdk..=max_sdk`.
    pub verified: bool,
    /// Lowest platform version judged (the app's minSdk).
    pub min_sdk: u32,
    /// Highest platform version judged; `null` means the newest.
    pub max_sdk: Option<u32>,
    /// One line: the verdict and the signer.
    pub summary: String,
    /// Each scheme: present in the file, verified, and errors.
    pub schemes: SigningSchemes,
    /// Errors that decide the verdict, named after apksigner's (`V2_SIG_DID_NOT_VERIFY`, `JAR_SIG_NO_MANIFEST`, ...).
    pub errors: Vec<SigningIssue>,
    /// Warnings that do not change the verdict.
    pub warnings: Vec<SigningIssue>,
    /// Signers of the schemes that verified.
    pub signers: Vec<SignerCertificate>,
    /// The v3 proof-of-rotation lineage, oldest first.
    pub lineage: Vec<SignerCertificate>,
    /// Whether a source stamp is present (stamp block or `stamp-cert-sha256` entry).
    pub source_stamp: bool,
    /// The source stamp, verified as apksig verifies it, with its signer reported separately from
    /// the APK's signers; `null` when the APK has no stamp.
    pub stamp: Option<SourceStamp>,
}

/// A source stamp (the distribution channel's signature over the APK's signed digests).
#[derive(Debug, Clone, Serialize)]
pub struct SourceStamp {
    /// The stamp's certificate matches `stamp-cert-sha256` and its signatures verified. A stamp that
    /// does not verify does not change the APK's verdict (as in Android), only this flag.
    pub verified: bool,
    /// The stamp signer's certificate (SHA-256 over its bytes as stored, subject, ...).
    pub signer: Option<SignerCertificate>,
    /// The stamp's proof-of-rotation lineage, oldest first.
    pub lineage: Vec<SignerCertificate>,
    /// When the stamp was made (seconds since the epoch), from its signed timestamp attribute.
    pub timestamp: Option<u64>,
    /// Why it did not verify, with apksig's codes (`SOURCE_STAMP_DID_NOT_VERIFY`, ...).
    pub issues: Vec<SigningIssue>,
}

/// The four signature schemes.
#[derive(Debug, Clone, Serialize)]
pub struct SigningSchemes {
    /// JAR signing.
    pub v1: SchemeStatus,
    /// APK Signature Scheme v2.
    pub v2: SchemeStatus,
    /// APK Signature Scheme v3.
    pub v3: SchemeStatus,
    /// APK Signature Scheme v3.1 (rotation targeting).
    pub v31: SchemeStatus,
}

/// One scheme's result: present, parsed and verified are kept apart.
#[derive(Debug, Clone, Serialize)]
pub struct SchemeStatus {
    /// The scheme's data is in the file.
    pub present: bool,
    /// The scheme counted for the verdict in the judged range and verified (apksigner's "Verified using").
    pub verified: bool,
    /// The scheme verifies on its own, whether or not Android would consult it in the range.
    pub verified_standalone: bool,
    /// apksigner-style error codes of this scheme.
    pub errors: Vec<String>,
}

/// A verification error or warning.
#[derive(Debug, Clone, Serialize)]
pub struct SigningIssue {
    /// apksigner's name for it.
    pub code: String,
    /// What it means, in words.
    pub message: String,
}

/// A certificate, with digests over its bytes as stored in the APK.
#[derive(Debug, Clone, Serialize)]
pub struct SignerCertificate {
    /// `v1`, `v2`, `v3` or `v31`.
    pub scheme: Option<String>,
    /// SHA-256 of the certificate, lowercase hex.
    pub sha256: String,
    /// SHA-1 of the certificate, lowercase hex.
    pub sha1: String,
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
    /// `RSA`, `EC` or `DSA`.
    pub key_algorithm: String,
    /// Key size in bits (curve size for EC).
    pub key_bits: u32,
    /// v3 signers: lowest platform version this signer applies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_sdk: Option<u32>,
    /// v3 signers: highest platform version this signer applies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sdk: Option<u32>,
}
