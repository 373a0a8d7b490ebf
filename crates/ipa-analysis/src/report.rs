//! The iOS report: schema `interdict.assessment/v1` with `"platform": "ios"` (see docs/ipa.md).
//!
//! Field names are a public contract. The risk sections (`capabilities`, `trackers`, `endpoints`, `vendor`,
//! `risk`) have exactly the APK report's shapes; `file`, `anomalies` and the error object too.

use serde::Serialize;

pub use apk_analysis::report::{Anomaly, FileInfo};
use apk_analysis::risk::model::{Capability, Endpoint, Risk, TrackerMatch, VendorMatch};

/// Everything `assess` learned about one IPA.
#[derive(Debug, Clone, Serialize)]
pub struct IpaAssessment {
    /// Always `interdict.assessment/v1`.
    pub schema: &'static str,
    /// Always `ios`.
    pub platform: &'static str,
    /// The file that was read.
    pub file: FileInfo,
    /// The main app's identity.
    pub app: IosApp,
    /// Every bundle id in the IPA (the app, its extensions, watch apps, App Clips), sorted: what iOS MDM can block.
    pub bundle_ids: Vec<String>,
    /// The app and every nested bundle (extensions, watch apps, App Clips, frameworks).
    pub bundles: Vec<Bundle>,
    /// The main app's Info.plist facts.
    pub info: InfoFacts,
    /// `iTunesMetadata.plist` at the IPA root (App Store purchases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub itunes_metadata: Option<ItunesMetadata>,
    /// Each Mach-O executable read (main executable, extensions, frameworks).
    pub binaries: Vec<Binary>,
    /// Whether the main executable's code could be analysed; false when it is FairPlay-encrypted (`cryptid` 1).
    pub code_analysed: bool,
    /// Why code was not analysed (absent when it was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_note: Option<String>,
    /// The main executable's code signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<IosSigning>,
    /// `embedded.mobileprovision`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_profile: Option<ProvisioningProfile>,
    /// Privacy manifests (`PrivacyInfo.xcprivacy`) of the app and its frameworks and extensions.
    pub privacy_manifests: Vec<PrivacyManifest>,
    /// Declarations that contradict the evidence (e.g. `NSPrivacyTracking` false with AdSupport linked).
    pub privacy_contradictions: Vec<String>,
    /// Everything unusual the parsers saw, with byte offsets.
    pub anomalies: Vec<Anomaly>,
    /// Sensitive capabilities joined from usage keys, entitlements, background modes and extension points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<Capability>>,
    /// Tracker SDKs (iOS signature table and Exodus network signatures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trackers: Option<Vec<TrackerMatch>>,
    /// URLs, host names and IP literals, with where they were found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<Endpoint>>,
    /// The vendor (by Team ID, then bundle id prefix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<VendorMatch>,
    /// Score, verdict and factors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
}

/// The main app's identity.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IosApp {
    /// `CFBundleIdentifier`.
    pub bundle_id: String,
    /// `CFBundleDisplayName`, else `CFBundleName`, else the `.app` name.
    pub name: String,
    /// `CFBundleShortVersionString`.
    pub version: Option<String>,
    /// `CFBundleVersion`.
    pub build: Option<String>,
    /// `MinimumOSVersion`.
    pub minimum_os: Option<String>,
    /// `UIDeviceFamily` as names (`iphone`, `ipad`, ...).
    pub device_family: Vec<String>,
    /// `CFBundleExecutable`.
    pub executable: Option<String>,
    /// The `.app` path in the archive (`Payload/X.app/`).
    pub path: String,
    /// `CFBundleSupportedPlatforms`.
    pub supported_platforms: Vec<String>,
}

/// One bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Bundle {
    /// `app`, `app_extension`, `watch_app`, `app_clip`, `framework`.
    pub kind: &'static str,
    /// Path in the archive, ending with `/`.
    pub path: String,
    /// `CFBundleIdentifier` (absent when Info.plist is missing or unreadable).
    pub bundle_id: Option<String>,
    /// `CFBundleShortVersionString`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `NSExtension.NSExtensionPointIdentifier` (extensions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_point: Option<String>,
    /// What the extension point means, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_kind: Option<&'static str>,
    /// `NSExtensionAttributes.RequestsOpenAccess` (custom keyboards: "Full Access").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub requests_open_access: bool,
}

/// Info.plist facts of the main app.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InfoFacts {
    /// `xml` or `binary`.
    pub format: String,
    /// Every `NS*UsageDescription` (and similar protected-resource) key with its text.
    pub usage_descriptions: Vec<UsageDescription>,
    /// `UIBackgroundModes`.
    pub background_modes: Vec<String>,
    /// `CFBundleURLTypes[].CFBundleURLSchemes`.
    pub url_schemes: Vec<String>,
    /// `LSApplicationQueriesSchemes`.
    pub queried_schemes: Vec<String>,
    /// `SKAdNetworkItems[].SKAdNetworkIdentifier`.
    pub skadnetwork_ids: Vec<String>,
    /// `NSAppTransportSecurity`.
    pub ats: Ats,
}

/// One usage description.
#[derive(Debug, Clone, Serialize)]
pub struct UsageDescription {
    /// The key.
    pub key: String,
    /// The text shown to the user.
    pub text: String,
}

/// App Transport Security.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ats {
    /// `NSAllowsArbitraryLoads`.
    pub allows_arbitrary_loads: bool,
    /// `NSAllowsArbitraryLoadsInWebContent`.
    pub allows_arbitrary_loads_in_web_content: bool,
    /// `NSAllowsArbitraryLoadsForMedia`.
    pub allows_arbitrary_loads_for_media: bool,
    /// `NSAllowsLocalNetworking`.
    pub allows_local_networking: bool,
    /// `NSExceptionDomains`.
    pub exception_domains: Vec<AtsException>,
}

/// One ATS exception domain.
#[derive(Debug, Clone, Serialize)]
pub struct AtsException {
    /// The domain.
    pub domain: String,
    /// `NSExceptionAllowsInsecureHTTPLoads` (or the temporary/third-party variants).
    pub allows_insecure_http: bool,
    /// `NSIncludesSubdomains`.
    pub includes_subdomains: bool,
    /// `NSExceptionMinimumTLSVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_tls: Option<String>,
}

/// `iTunesMetadata.plist`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ItunesMetadata {
    /// `artistName` (the seller).
    pub artist_name: Option<String>,
    /// `artistId`.
    pub artist_id: Option<i64>,
    /// `softwareVersionBundleId`.
    pub bundle_id: Option<String>,
    /// `itemId`.
    pub item_id: Option<i64>,
}

/// One Mach-O file.
#[derive(Debug, Clone, Serialize)]
pub struct Binary {
    /// Path in the archive.
    pub path: String,
    /// Whether it is a fat (universal) file.
    pub fat: bool,
    /// One entry per architecture.
    pub slices: Vec<BinarySlice>,
}

/// One architecture of a Mach-O file.
#[derive(Debug, Clone, Serialize)]
pub struct BinarySlice {
    /// `arm64`, `x86_64`, ...
    pub arch: String,
    /// `execute`, `dylib`, `bundle` or the number.
    pub file_type: String,
    /// `ios`, `ios-simulator`, ... from `LC_BUILD_VERSION`.
    pub platform: Option<String>,
    /// Minimum OS.
    pub min_os: Option<String>,
    /// SDK.
    pub sdk: Option<String>,
    /// `LC_ENCRYPTION_INFO(_64)` `cryptid` (absent without the command).
    pub cryptid: Option<u32>,
    /// Linked libraries: `{name, kind}`.
    pub dylibs: Vec<LinkedLibrary>,
    /// `LC_RPATH`.
    pub rpaths: Vec<String>,
    /// Imported Objective-C classes (from the symbol table), sorted.
    pub objc_classes: Vec<String>,
    /// Number of imported symbols.
    pub imports: u64,
    /// `LC_UUID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// CodeDirectory summary of this slice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_directory: Option<CodeDirectoryInfo>,
}

/// A linked library.
#[derive(Debug, Clone, Serialize)]
pub struct LinkedLibrary {
    /// Install name.
    pub name: String,
    /// `load`, `weak`, `reexport`, `lazy`, `upward`.
    pub kind: &'static str,
}

/// CodeDirectory facts.
#[derive(Debug, Clone, Serialize)]
pub struct CodeDirectoryInfo {
    /// Signing identifier.
    pub identifier: String,
    /// Team ID.
    pub team_id: Option<String>,
    /// Hash type name.
    pub hash_type: &'static str,
    /// Version, hex.
    pub version: String,
    /// Flag names.
    pub flags: Vec<&'static str>,
    /// CDHash (first 20 bytes, hex).
    pub cdhash: String,
}

/// The main executable's signature.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IosSigning {
    /// Whether an embedded signature is present.
    pub signed: bool,
    /// Signing identifier (CodeDirectory).
    pub identifier: Option<String>,
    /// Team ID: CodeDirectory team, else the signer certificate's OU.
    pub team_id: Option<String>,
    /// Hash type of the primary CodeDirectory.
    pub hash_type: Option<&'static str>,
    /// CodeDirectory flag names.
    pub flags: Vec<&'static str>,
    /// CDHash of the primary CodeDirectory.
    pub cdhash: Option<String>,
    /// Entitlements (XML blob, else the DER blob decoded), as JSON.
    pub entitlements: serde_json::Value,
    /// Which blob `entitlements` came from: `xml` or `der` (absent without entitlements).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlements_source: Option<&'static str>,
    /// Which entitlement blobs are present: `xml`, `der`.
    pub entitlement_blobs: Vec<&'static str>,
    /// The CMS signer certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<IosCertificate>,
    /// `verified` when (a) the CMS SignerInfo signature verifies with the signer certificate's key, (b) its
    /// `messageDigest` is the digest of the slot-0 CodeDirectory as stored, and (c) a chain from the signer through
    /// the CMS's certificates and the bundled Apple intermediates reaches a bundled Apple root (or an extra anchor
    /// from `Options::extra_anchors`), each link's signature verified; `not_verified` otherwise (`chain_note` names
    /// the first failing step); `not_signed` for ad-hoc or missing signatures.
    pub chain: &'static str,
    /// Why the chain is as reported: the first failing step, or what was verified.
    pub chain_note: String,
    /// The path from the signer certificate towards the root, as far as it was built (subjects, SHA-256, where
    /// each certificate came from, validity as stored: reported, not enforced).
    pub chain_path: Vec<ChainCert>,
    /// When verified: `apple_root` or `extra_anchor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_anchor: Option<&'static str>,
    /// Step (a): the SignerInfo signature verified with the signer certificate's key.
    pub signer_signature_verified: bool,
    /// Step (b): the messageDigest matched the CodeDirectory (absent when not reached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_digest_verified: Option<bool>,
    /// Distribution inferred from the profile and signer: `app_store`, `enterprise`, `ad_hoc`, `development`,
    /// `unknown`.
    pub distribution: &'static str,
}

/// One certificate of a chain path.
#[derive(Debug, Clone, Serialize)]
pub struct ChainCert {
    /// Subject.
    pub subject: String,
    /// SHA-256 of the DER bytes.
    pub sha256: String,
    /// `cms` (carried in the signature), `apple_intermediate`, `apple_root` (bundled) or `extra_anchor`.
    pub source: &'static str,
    /// `notBefore` as stored.
    pub not_before: String,
    /// `notAfter` as stored.
    pub not_after: String,
}

/// A certificate.
#[derive(Debug, Clone, Serialize)]
pub struct IosCertificate {
    /// Subject.
    pub subject: String,
    /// Issuer.
    pub issuer: String,
    /// SHA-256 of the DER bytes.
    pub sha256: String,
    /// Subject OU (the Team ID on Apple certificates).
    pub team_id: Option<String>,
    /// `notAfter`.
    pub not_after: String,
    /// Whether subject equals issuer.
    pub self_signed: bool,
}

/// `embedded.mobileprovision`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProvisioningProfile {
    /// `Name`.
    pub name: Option<String>,
    /// `UUID`.
    pub uuid: Option<String>,
    /// `TeamIdentifier[0]`.
    pub team_id: Option<String>,
    /// `TeamName`.
    pub team_name: Option<String>,
    /// `Entitlements.application-identifier`.
    pub app_id: Option<String>,
    /// `ExpirationDate`, ISO 8601.
    pub expiration: Option<String>,
    /// `ProvisionsAllDevices`: enterprise (in-house) distribution.
    pub provisions_all_devices: bool,
    /// Size of `ProvisionedDevices`.
    pub provisioned_devices: u64,
    /// `Entitlements.get-task-allow`.
    pub get_task_allow: bool,
    /// `enterprise`, `ad_hoc`, `development` or `app_store`.
    pub kind: &'static str,
    /// CMS encoding: `der` or `ber_indefinite`.
    pub encoding: &'static str,
    /// The profile's signer certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<IosCertificate>,
    /// The profile signer: `verified` (SignerInfo signature, messageDigest over the attached plist, chain to an
    /// Apple root or extra anchor) or `not_verified`.
    pub signer_chain: &'static str,
    /// The first failing step, or what was verified.
    pub signer_chain_note: String,
    /// The path built from the profile signer.
    pub signer_chain_path: Vec<ChainCert>,
}

/// One privacy manifest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PrivacyManifest {
    /// Path in the archive.
    pub path: String,
    /// `NSPrivacyTracking`.
    pub tracking: Option<bool>,
    /// `NSPrivacyTrackingDomains`.
    pub tracking_domains: Vec<String>,
    /// `NSPrivacyCollectedDataTypes[].NSPrivacyCollectedDataType`.
    pub collected_data_types: Vec<String>,
    /// Collected data types marked `NSPrivacyCollectedDataTypeTracking`.
    pub collected_for_tracking: Vec<String>,
    /// `NSPrivacyAccessedAPITypes`: `category: reason, reason`.
    pub accessed_api_types: Vec<String>,
}
