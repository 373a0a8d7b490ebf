//! The app bundle and everything nested in it: Info.plists, extensions, frameworks, executables, the
//! signature, the provisioning profile, privacy manifests and `iTunesMetadata.plist`.

use std::borrow::Cow;

use plist::Value;

use crate::plists;
use crate::report::*;
use crate::{AssessError, Options};

pub(crate) struct Ctx<'c, 'a> {
    pub(crate) archive: &'c apk_zip::Archive<'a>,
    pub(crate) options: &'c Options,
    pub(crate) anomalies: &'c mut Vec<Anomaly>,
    /// Apple's roots and intermediates plus `Options::extra_anchors`.
    pub(crate) trust: &'c macho::trust::TrustStore,
}

/// `Payload/<Name>.app/` when `name` lies in one (the `.app` name has no `/`).
pub(crate) fn app_root(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("Payload/")?;
    let idx = rest.find(".app/")?;
    let app = &rest[..idx];
    if app.is_empty() || app.contains('/') {
        return None;
    }
    name.get(..("Payload/".len() + idx + ".app/".len()))
}

/// What a scan found; turned into the report by [`Scan::into_report`].
pub(crate) struct Scan {
    app: IosApp,
    info: InfoFacts,
    bundles: Vec<Bundle>,
    binaries: Vec<Binary>,
    itunes: Option<ItunesMetadata>,
    signing: Option<IosSigning>,
    profile: Option<ProvisioningProfile>,
    manifests: Vec<PrivacyManifest>,
    code_analysed: bool,
    code_note: Option<String>,
    /// Entitlements of each bundle: (bundle path, JSON).
    pub(crate) entitlements: Vec<(String, serde_json::Value)>,
    /// Text scanned for endpoints: (text, source).
    pub(crate) strings: Vec<(String, String)>,
}

impl Scan {
    pub(crate) fn into_report(self, file: FileInfo, anomalies: Vec<Anomaly>) -> IpaAssessment {
        let mut ids: Vec<String> = self
            .bundles
            .iter()
            .filter(|b| b.kind != "framework")
            .filter_map(|b| b.bundle_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        let mut signing = self.signing;
        if let Some(s) = signing.as_mut() {
            s.distribution = match (&self.profile, self.code_analysed) {
                (Some(p), _) => p.kind,
                (None, false) => "app_store",
                (None, true) => "unknown",
            };
        }
        IpaAssessment {
            schema: apk_analysis::SCHEMA,
            platform: "ios",
            file,
            app: self.app,
            bundle_ids: ids,
            bundles: self.bundles,
            info: self.info,
            itunes_metadata: self.itunes,
            binaries: self.binaries,
            code_analysed: self.code_analysed,
            code_note: self.code_note,
            signing,
            provisioning_profile: self.profile,
            privacy_manifests: self.manifests,
            privacy_contradictions: Vec::new(),
            anomalies,
            capabilities: None,
            trackers: None,
            endpoints: None,
            vendor: None,
            risk: None,
        }
    }
}

impl<'a> Ctx<'_, 'a> {
    fn anomaly(&mut self, code: &str, detail: String, offset: Option<u64>) {
        if self.anomalies.len() < 1000 {
            self.anomalies.push(Anomaly {
                code: code.into(),
                detail,
                offset,
            });
        }
    }

    /// Reads an entry, or records why not. Limit errors abort the assessment.
    fn read(&mut self, name: &str) -> Result<Option<Cow<'a, [u8]>>, AssessError> {
        let Some(entry) = self.archive.find(name) else {
            return Ok(None);
        };
        match self.archive.read(entry) {
            Ok(b) => Ok(Some(b)),
            Err(e) if is_limit(&e) => Err(e.into()),
            Err(e) => {
                let off = entry.local_header_offset;
                self.anomaly("entry_unreadable", format!("{name}: {e}"), Some(off));
                Ok(None)
            }
        }
    }

    fn plist(&mut self, name: &str) -> Result<Option<(Value, &'static str)>, AssessError> {
        let Some(bytes) = self.read(name)? else {
            return Ok(None);
        };
        let fmt = plists::format(&bytes);
        match plists::parse(&bytes) {
            Ok(v) => Ok(Some((v, fmt))),
            Err(e) => {
                let off = self.archive.find(name).map(|e| e.local_header_offset);
                self.anomaly("plist_unreadable", format!("{name}: {e}"), off);
                Ok(None)
            }
        }
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

fn bundle_kind(dir: &str) -> &'static str {
    if dir.ends_with(".appex/") {
        "app_extension"
    } else if dir.ends_with(".framework/") {
        "framework"
    } else if dir.contains("/Watch/") && dir.ends_with(".app/") {
        "watch_app"
    } else if dir.contains("/AppClips/") && dir.ends_with(".app/") {
        "app_clip"
    } else if dir.ends_with(".app/") {
        "app"
    } else {
        "bundle"
    }
}

/// What an extension point means (see docs/ipa.md).
pub(crate) fn extension_kind(point: &str) -> Option<&'static str> {
    Some(match point {
        "com.apple.keyboard-service" => "custom keyboard",
        "com.apple.networkextension.packet-tunnel" => "VPN packet tunnel",
        "com.apple.networkextension.app-proxy" => "VPN app proxy",
        "com.apple.networkextension.filter-data" => "content filter (data)",
        "com.apple.networkextension.filter-control" => "content filter (control)",
        "com.apple.networkextension.dns-proxy" => "DNS proxy",
        "com.apple.usernotifications.service" => "notification service",
        "com.apple.usernotifications.content-extension" => "notification content",
        "com.apple.share-services" => "share",
        "com.apple.ui-services" => "action",
        "com.apple.widget-extension" => "today widget",
        "com.apple.widgetkit-extension" => "widget",
        "com.apple.callkit.call-directory" => "call directory (caller ID)",
        "com.apple.identitylookup.message-filter" => "SMS/MMS filter",
        "com.apple.Safari.content-blocker" => "Safari content blocker",
        "com.apple.Safari.web-extension" => "Safari web extension",
        "com.apple.broadcast-services-upload" => "screen broadcast upload",
        "com.apple.authentication-services-credential-provider-ui" => "password autofill provider",
        "com.apple.fileprovider-nonui" | "com.apple.fileprovider-ui" => "file provider",
        "com.apple.intents-service" => "Siri intents",
        "com.apple.photo-editing" => "photo editing",
        _ => return None,
    })
}

/// Scans the app rooted at `root` (`Payload/X.app/`).
pub(crate) fn scan(ctx: &mut Ctx<'_, '_>, root: &str) -> Result<Scan, AssessError> {
    let app_name = root
        .trim_start_matches("Payload/")
        .trim_end_matches('/')
        .to_owned();
    let info_name = format!("{root}Info.plist");
    let info_bytes = ctx.read(&info_name)?.map(|b| b.into_owned());
    let Some(info_bytes) = info_bytes else {
        return Err(AssessError::BadInfoPlist {
            app: app_name,
            detail: "missing".into(),
        });
    };
    let info = plists::parse(&info_bytes).map_err(|detail| AssessError::BadInfoPlist {
        app: app_name.clone(),
        detail,
    })?;
    if info.as_dictionary().is_none() {
        return Err(AssessError::BadInfoPlist {
            app: app_name,
            detail: "the top-level object is not a dictionary".into(),
        });
    }
    let family = match plists::get(&info, "UIDeviceFamily") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_unsigned_integer())
            .map(|n| match n {
                1 => "iphone".to_owned(),
                2 => "ipad".to_owned(),
                3 => "tv".to_owned(),
                4 => "watch".to_owned(),
                6 => "mac".to_owned(),
                7 => "vision".to_owned(),
                n => n.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let app = IosApp {
        bundle_id: plists::string(&info, "CFBundleIdentifier").unwrap_or_default(),
        name: plists::string(&info, "CFBundleDisplayName")
            .or_else(|| plists::string(&info, "CFBundleName"))
            .unwrap_or_else(|| app_name.trim_end_matches(".app").to_owned()),
        version: plists::string(&info, "CFBundleShortVersionString"),
        build: plists::string(&info, "CFBundleVersion"),
        minimum_os: plists::string(&info, "MinimumOSVersion"),
        device_family: family,
        executable: plists::string(&info, "CFBundleExecutable"),
        path: root.to_owned(),
        supported_platforms: plists::strings(&info, "CFBundleSupportedPlatforms"),
    };
    if app.bundle_id.is_empty() {
        ctx.anomaly(
            "missing_bundle_id",
            format!("{info_name} has no CFBundleIdentifier"),
            None,
        );
    }
    let facts = info_facts(&info, plists::format(&info_bytes));
    let mut strings: Vec<(String, String)> = Vec::new();
    for d in &facts.ats.exception_domains {
        strings.push((d.domain.clone(), "Info.plist NSExceptionDomains".into()));
    }

    let mut scan = Scan {
        app,
        info: facts,
        bundles: Vec::new(),
        binaries: Vec::new(),
        itunes: None,
        signing: None,
        profile: None,
        manifests: Vec::new(),
        code_analysed: true,
        code_note: None,
        entitlements: Vec::new(),
        strings,
    };

    // Every bundle: the root and each directory under it holding an Info.plist.
    let mut dirs: Vec<String> = vec![root.to_owned()];
    let mut manifests: Vec<String> = Vec::new();
    for e in ctx.archive.entries() {
        let n = e.name_lossy();
        if !n.starts_with(root) {
            continue;
        }
        if let Some(dir) = n.strip_suffix("Info.plist") {
            let is_bundle =
                dir.ends_with(".appex/") || dir.ends_with(".app/") || dir.ends_with(".framework/");
            if dir != root && is_bundle && dirs.len() < 512 {
                dirs.push(dir.to_owned());
            }
        }
        if n.ends_with("PrivacyInfo.xcprivacy") && manifests.len() < 512 {
            manifests.push(n.into_owned());
        }
    }
    dirs[1..].sort();
    for dir in dirs {
        let is_root = dir == root;
        let plist_owned;
        let plist = if is_root {
            &info
        } else {
            match ctx.plist(&format!("{dir}Info.plist"))? {
                Some((v, _)) => {
                    plist_owned = v;
                    &plist_owned
                }
                None => {
                    scan.bundles.push(Bundle {
                        kind: bundle_kind(&dir),
                        path: dir.clone(),
                        bundle_id: None,
                        version: None,
                        extension_point: None,
                        extension_kind: None,
                        requests_open_access: false,
                    });
                    continue;
                }
            }
        };
        let ext = plists::get(plist, "NSExtension");
        let point = ext.and_then(|x| plists::string(x, "NSExtensionPointIdentifier"));
        let open_access = ext
            .and_then(|x| plists::get(x, "NSExtensionAttributes"))
            .is_some_and(|a| plists::boolean(a, "RequestsOpenAccess"));
        let kind = if is_root { "app" } else { bundle_kind(&dir) };
        scan.bundles.push(Bundle {
            kind,
            path: dir.clone(),
            bundle_id: plists::string(plist, "CFBundleIdentifier"),
            version: plists::string(plist, "CFBundleShortVersionString"),
            extension_kind: point.as_deref().and_then(extension_kind),
            extension_point: point,
            requests_open_access: open_access,
        });
        // The executable.
        let Some(exe) = plists::string(plist, "CFBundleExecutable") else {
            continue;
        };
        if exe.contains('/') || exe.contains('\\') || exe == ".." || exe.is_empty() {
            ctx.anomaly(
                "executable_outside_bundle",
                format!("{dir}Info.plist: CFBundleExecutable {exe:?} is not a file name inside the bundle; it was not read"),
                None,
            );
            continue;
        }
        let path = format!("{dir}{exe}");
        let Some(bytes) = ctx.read(&path)? else {
            ctx.anomaly(
                "executable_missing",
                format!("{path} (CFBundleExecutable) is not in the archive"),
                None,
            );
            continue;
        };
        binary(ctx, &mut scan, &path, &bytes, is_root, kind);
        drop(bytes);
    }

    for m in manifests {
        if let Some((v, _)) = ctx.plist(&m)? {
            scan.manifests.push(privacy_manifest(&m, &v));
        }
    }
    if let Some(bytes) = ctx.read(&format!("{root}embedded.mobileprovision"))? {
        let bytes = bytes.into_owned();
        match crate::signing::profile(&bytes, ctx.trust) {
            Ok(p) => scan.profile = Some(p),
            Err(e) => ctx.anomaly(
                "provisioning_profile_unreadable",
                format!("{root}embedded.mobileprovision: {e}"),
                None,
            ),
        }
    }
    if let Some((v, _)) = ctx.plist("iTunesMetadata.plist")? {
        scan.itunes = Some(ItunesMetadata {
            artist_name: plists::string(&v, "artistName"),
            artist_id: plists::get(&v, "artistId").and_then(Value::as_signed_integer),
            bundle_id: plists::string(&v, "softwareVersionBundleId"),
            item_id: plists::get(&v, "itemId").and_then(Value::as_signed_integer),
        });
    }
    Ok(scan)
}

fn binary(
    ctx: &mut Ctx<'_, '_>,
    scan: &mut Scan,
    path: &str,
    bytes: &[u8],
    is_main: bool,
    kind: &str,
) {
    let parsed = match macho::parse(bytes, &ctx.options.macho) {
        Ok(m) => m,
        Err(e) => {
            ctx.anomaly("macho_unreadable", format!("{path}: {e}"), None);
            if is_main {
                scan.code_analysed = false;
                scan.code_note = Some(format!(
                    "code not analysed: the main executable is unreadable ({e})"
                ));
            }
            return;
        }
    };
    for a in &parsed.anomalies {
        ctx.anomaly(a.code, format!("{path}: {}", a.detail), a.offset);
    }
    let mut slices = Vec::new();
    for s in &parsed.slices {
        if let Some(err) = &s.code_signature_error {
            ctx.anomaly(
                "code_signature_invalid",
                format!("{path} ({}): {err}", s.arch),
                None,
            );
        }
        if let Some(sig) = &s.code_signature {
            for (code, detail, off) in &sig.problems {
                ctx.anomaly(code, format!("{path} ({}): {detail}", s.arch), Some(*off));
            }
        }
        let cd = s
            .code_signature
            .as_ref()
            .and_then(|c| c.code_directories.first())
            .map(|cd| CodeDirectoryInfo {
                identifier: cd.identifier.clone(),
                team_id: cd.team_id.clone(),
                hash_type: cd.hash_name(),
                version: format!("0x{:x}", cd.version),
                flags: cd.flag_names(),
                cdhash: cd.cdhash.clone(),
            });
        slices.push(BinarySlice {
            arch: s.arch.clone(),
            file_type: match s.file_type {
                2 => "execute".into(),
                6 => "dylib".into(),
                8 => "bundle".into(),
                n => n.to_string(),
            },
            platform: s.platform.map(|p| match p {
                1 => "macos".into(),
                2 => "ios".into(),
                3 => "tvos".into(),
                4 => "watchos".into(),
                6 => "maccatalyst".into(),
                7 => "ios-simulator".into(),
                11 => "visionos".into(),
                n => n.to_string(),
            }),
            min_os: s.min_os.clone(),
            sdk: s.sdk.clone(),
            cryptid: s.encryption.map(|e| e.cryptid),
            dylibs: s
                .dylibs
                .iter()
                .map(|d| LinkedLibrary {
                    name: d.name.clone(),
                    kind: d.kind.as_str(),
                })
                .collect(),
            rpaths: s.rpaths.clone(),
            objc_classes: s.objc_classes().map(str::to_owned).collect(),
            imports: s.imports.len() as u64,
            uuid: s.uuid.clone(),
            code_directory: cd,
        });
        if !s.encrypted() {
            for c in &s.cstrings {
                if c.contains("://") || c.contains('.') {
                    scan.strings.push((c.clone(), path.to_owned()));
                }
            }
        }
    }
    // Entitlements and the main signature come from the preferred slice: arm64, else the first.
    let pick = parsed
        .slices
        .iter()
        .find(|s| s.arch == "arm64" || s.arch == "arm64e")
        .or_else(|| parsed.slices.first());
    if let Some(s) = pick {
        if let Some(sig) = &s.code_signature {
            let ents = crate::signing::entitlements(sig);
            for (code, detail) in &ents.problems {
                ctx.anomaly(
                    code,
                    format!("{path} ({}): {detail}", s.arch),
                    Some(sig.offset),
                );
            }
            if let Some(v) = &ents.value {
                scan.entitlements.push((path.to_owned(), v.clone()));
            }
            if is_main {
                scan.signing = Some(crate::signing::section(sig, &ents, ctx.trust));
            }
        } else if is_main {
            scan.signing = Some(IosSigning {
                signed: false,
                chain: "not_signed",
                chain_note: "the main executable has no LC_CODE_SIGNATURE; iOS will not run it"
                    .into(),
                distribution: "unknown",
                ..Default::default()
            });
        }
        if is_main && s.encrypted() {
            scan.code_analysed = false;
            scan.code_note = Some(format!(
                "code not analysed: {path} is FairPlay-encrypted (cryptid {}, {} bytes from offset {}); code strings and the app's own classes are unreadable, so finding no tracker or endpoint in code is not evidence of absence. Imports, linked libraries, plists, the signature and entitlements were read.",
                s.encryption.map_or(0, |e| e.cryptid),
                s.encryption.map_or(0, |e| e.cryptsize),
                s.encryption.map_or(0, |e| e.cryptoff)
            ));
        }
    }
    let _ = kind;
    scan.binaries.push(Binary {
        path: path.to_owned(),
        fat: parsed.fat,
        slices,
    });
}

fn info_facts(info: &Value, format: &str) -> InfoFacts {
    let mut f = InfoFacts {
        format: format.to_owned(),
        ..Default::default()
    };
    if let Some(d) = info.as_dictionary() {
        for (k, v) in d.iter() {
            let usage = (k.starts_with("NS") && k.ends_with("UsageDescription"))
                || k == "NFCReaderUsageDescription"
                || k == "NSLocationTemporaryUsageDescriptionDictionary"
                || k == "NETestAppMapping";
            if usage {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Dictionary(dd) => format!("{} entries", dd.len()),
                    _ => String::new(),
                };
                f.usage_descriptions.push(UsageDescription {
                    key: k.clone(),
                    text,
                });
            }
        }
    }
    f.usage_descriptions.sort_by(|a, b| a.key.cmp(&b.key));
    f.background_modes = plists::strings(info, "UIBackgroundModes");
    f.queried_schemes = plists::strings(info, "LSApplicationQueriesSchemes");
    let url_types: Vec<&Value> = match plists::get(info, "CFBundleURLTypes") {
        Some(Value::Array(a)) => a.iter().take(1000).collect(),
        Some(v @ Value::Dictionary(_)) => vec![v],
        _ => Vec::new(),
    };
    for t in url_types {
        f.url_schemes
            .extend(plists::strings(t, "CFBundleURLSchemes"));
    }
    if let Some(Value::Array(items)) = plists::get(info, "SKAdNetworkItems") {
        for i in items.iter().take(10_000) {
            if let Some(id) = plists::string(i, "SKAdNetworkIdentifier") {
                f.skadnetwork_ids.push(id.to_ascii_lowercase());
            }
        }
    }
    if let Some(ats) = plists::get(info, "NSAppTransportSecurity") {
        f.ats.allows_arbitrary_loads = plists::boolean(ats, "NSAllowsArbitraryLoads");
        f.ats.allows_arbitrary_loads_in_web_content =
            plists::boolean(ats, "NSAllowsArbitraryLoadsInWebContent");
        f.ats.allows_arbitrary_loads_for_media =
            plists::boolean(ats, "NSAllowsArbitraryLoadsForMedia");
        f.ats.allows_local_networking = plists::boolean(ats, "NSAllowsLocalNetworking");
        if let Some(Value::Dictionary(doms)) = plists::get(ats, "NSExceptionDomains") {
            for (domain, d) in doms.iter().take(10_000) {
                f.ats.exception_domains.push(AtsException {
                    domain: domain.clone(),
                    allows_insecure_http: plists::boolean(d, "NSExceptionAllowsInsecureHTTPLoads")
                        || plists::boolean(d, "NSTemporaryExceptionAllowsInsecureHTTPLoads")
                        || plists::boolean(d, "NSThirdPartyExceptionAllowsInsecureHTTPLoads"),
                    includes_subdomains: plists::boolean(d, "NSIncludesSubdomains"),
                    minimum_tls: plists::string(d, "NSExceptionMinimumTLSVersion"),
                });
            }
        }
    }
    f
}

fn privacy_manifest(path: &str, v: &Value) -> PrivacyManifest {
    let mut m = PrivacyManifest {
        path: path.to_owned(),
        tracking: plists::get(v, "NSPrivacyTracking").and_then(Value::as_boolean),
        tracking_domains: plists::strings(v, "NSPrivacyTrackingDomains"),
        ..Default::default()
    };
    if let Some(Value::Array(items)) = plists::get(v, "NSPrivacyCollectedDataTypes") {
        for i in items.iter().take(1000) {
            if let Some(t) = plists::string(i, "NSPrivacyCollectedDataType") {
                if plists::boolean(i, "NSPrivacyCollectedDataTypeTracking") {
                    m.collected_for_tracking.push(t.clone());
                }
                m.collected_data_types.push(t);
            }
        }
    }
    if let Some(Value::Array(items)) = plists::get(v, "NSPrivacyAccessedAPITypes") {
        for i in items.iter().take(1000) {
            if let Some(t) = plists::string(i, "NSPrivacyAccessedAPIType") {
                let reasons = plists::strings(i, "NSPrivacyAccessedAPITypeReasons");
                m.accessed_api_types
                    .push(format!("{t}: {}", reasons.join(", ")));
            }
        }
    }
    m
}
