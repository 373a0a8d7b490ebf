//! Risk assessment: how much of the device an app can reach (capabilities), which tracking SDKs it carries
//! (trackers), where it talks to (endpoints), who stands behind it (vendor), and a verdict made of
//! explainable factors (see `docs/risk.md`).

mod capabilities;
mod endpoints;
pub mod model;
pub mod permissions;
mod resources;
pub mod trackers;
pub mod vendor;
pub mod verdict;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use apk_zip::Archive;

use crate::report::Assessment;
use model::{PermissionLevel, Thresholds};
pub use trackers::{TrackerMatcher, TrackerRecord, TrackerScan};
pub use vendor::{SignerCert, SignerFacts, VendorCatalog};

/// What risk analysis uses besides the APK.
#[derive(Clone)]
pub struct RiskConfig {
    /// Compiled tracker signatures (built-in Exodus database unless replaced).
    pub trackers: Arc<TrackerMatcher>,
    /// Vendor catalog.
    pub vendors: Arc<VendorCatalog>,
    /// ISO 3166-1 alpha-2 codes of the jurisdictions of concern (e.g. `CN`, `RU`).
    pub concern: Vec<String>,
    /// Verdict thresholds.
    pub thresholds: Thresholds,
}

impl RiskConfig {
    /// Adds a jurisdiction of concern, trimmed and in upper case, once. Returns false, adding
    /// nothing, when `code` is not an ISO 3166-1 alpha-2 code (two letters).
    pub fn add_concern(&mut self, code: &str) -> bool {
        let c = code.trim().to_ascii_uppercase();
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            return false;
        }
        if !self.concern.contains(&c) {
            self.concern.push(c);
        }
        true
    }
}

impl std::fmt::Debug for RiskConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RiskConfig")
            .field("trackers", &self.trackers)
            .field("vendors", &self.vendors.vendors.len())
            .field("concern", &self.concern)
            .field("thresholds", &self.thresholds)
            .finish()
    }
}

/// The built-in tracker matcher, compiled once per process.
pub fn builtin_trackers() -> Arc<TrackerMatcher> {
    static M: OnceLock<Arc<TrackerMatcher>> = OnceLock::new();
    M.get_or_init(|| Arc::new(TrackerMatcher::new(trackers::builtin_records())))
        .clone()
}

impl Default for RiskConfig {
    /// Built-in trackers and vendors, no jurisdiction of concern, default thresholds.
    fn default() -> Self {
        RiskConfig {
            trackers: builtin_trackers(),
            vendors: Arc::new(VendorCatalog::builtin()),
            concern: Vec::new(),
            thresholds: Thresholds::default(),
        }
    }
}

/// What risk analysis takes from each DEX file while the code reader has it open: tracker matches over every
/// type descriptor, endpoints in every string, and package names. Works on the borrowed DEX data, so the
/// risk step copies nothing per class or string (see docs/risk.md, performance).
pub(crate) struct DexScan<'c> {
    cfg: &'c RiskConfig,
    trackers: TrackerScan<'c>,
    endpoints: endpoints::Collector,
    /// Slashed package names (`android/net`) and their parents.
    packages: HashSet<String>,
    /// The last package inserted (type lists are sorted, so most names repeat it).
    last_package: String,
}

impl<'c> DexScan<'c> {
    pub(crate) fn new(cfg: &'c RiskConfig) -> Self {
        DexScan {
            cfg,
            trackers: cfg.trackers.start(),
            endpoints: endpoints::Collector::default(),
            packages: HashSet::new(),
            last_package: String::new(),
        }
    }

    /// Scans one loaded DEX file (`dex_name` is its entry name, e.g. `classes2.dex`).
    ///
    /// One pass over the string table: every type descriptor is a string, so a string shaped like a class
    /// descriptor (`Lcom/foo/Bar;`) goes to tracker matching and the package list, every other string to
    /// endpoint extraction. (Walking `type_ids` as well would look each string up a second time.)
    pub(crate) fn visit(&mut self, dex_name: &str, file: &dex_file::DexFile<'_>) {
        // The string table is read within a budget of the file's size: string ids that repeat or
        // overlap one long string cannot make this pass quadratic.
        for bytes in file.string_table() {
            let Ok(bytes) = bytes else {
                continue;
            };
            if let Some(inner) = bytes.strip_prefix(b"L").and_then(|d| d.strip_suffix(b";")) {
                self.class(inner);
            } else if endpoints::may_contain_endpoint(bytes) {
                self.endpoints
                    .scan(&dex_file::decode_mutf8(bytes), dex_name);
            }
        }
    }

    fn class(&mut self, inner: &[u8]) {
        // Valid UTF-8 reads the same as MUTF-8 (one validation pass instead of two).
        let name = match std::str::from_utf8(inner) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => dex_file::decode_mutf8(inner),
        };
        self.trackers.class(&name);
        let Some((pkg, _)) = name.rsplit_once('/') else {
            return;
        };
        if pkg == self.last_package {
            return;
        }
        self.last_package.clear();
        self.last_package.push_str(pkg);
        let mut cur = pkg;
        loop {
            if self.packages.contains(cur) {
                break;
            }
            self.packages.insert(cur.to_owned());
            match cur.rsplit_once('/') {
                Some((parent, _)) => cur = parent,
                None => break,
            }
        }
    }
}

/// Endpoints in free text, for analysers of other platforms: each `(text, source)` pair is scanned as DEX
/// strings are (URLs, host names, IP literals), deduplicated in first-seen order.
pub fn endpoints_in<'a>(
    texts: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<model::Endpoint> {
    let mut col = endpoints::Collector::default();
    for (text, source) in texts {
        if text.contains("://") || endpoints::may_contain_endpoint(text.as_bytes()) {
            col.scan(text, source);
        }
    }
    col.finish(&HashSet::new())
}

/// Runs risk analysis and fills the report's `capabilities`, `trackers`, `endpoints`, `vendor` and `risk`.
pub(crate) fn apply(
    a: &mut Assessment,
    archive: &Archive<'_>,
    arsc: Option<&[u8]>,
    scan: DexScan<'_>,
    signers: &SignerFacts,
) {
    let DexScan {
        cfg,
        trackers: mut tracker_scan,
        endpoints: mut col,
        packages,
        ..
    } = scan;
    let res = resources::XmlResources::new(archive, arsc);
    let nsc = capabilities::network_config(&res, a);
    let capabilities = capabilities::derive(a, &res, nsc.as_ref());

    // Endpoints: DEX strings (already scanned), resource strings, the network security config, manifest meta-data.
    for s in res.strings() {
        col.scan(s, "resources.arsc");
    }
    if let Some(n) = &nsc {
        let source = format!("{} ({})", endpoints::NSC_SOURCE, n.path);
        for d in &n.domains {
            col.scan(d, &source);
        }
    }
    let metas = a
        .meta_data
        .iter()
        .chain(a.components.iter().flat_map(|c| c.meta_data.iter()));
    for m in metas {
        if let Some(v) = &m.value {
            col.scan(v, "manifest");
        }
    }
    if col.omitted() > 0 {
        a.anomalies.push(crate::report::Anomaly {
            code: "endpoints_truncated".into(),
            detail: format!(
                "more than {} distinct endpoints: {} more were found and left out of the report",
                endpoints::MAX_ENDPOINTS,
                col.omitted()
            ),
            offset: None,
        });
    }
    let endpoints = col.finish(&packages);
    for e in &endpoints {
        tracker_scan.host(&e.host);
    }
    let trackers = tracker_scan.finish();
    let vendor = cfg.vendors.attribute(&a.app.package, signers, &cfg.concern);

    let target = a.app.target_sdk.or(a.app.min_sdk).unwrap_or(1);
    // First declaration of each name wins, as the linear search did.
    let mut declared: std::collections::HashMap<&str, &str> =
        std::collections::HashMap::with_capacity(a.declared_permissions.len());
    for d in &a.declared_permissions {
        declared
            .entry(d.name.as_str())
            .or_insert(d.protection_level.as_str());
    }
    let perm_levels: Vec<PermissionLevel> = a
        .permissions
        .iter()
        .map(|p| {
            if let Some(l) = permissions::platform_level(&p.name, target) {
                PermissionLevel {
                    name: p.name.clone(),
                    protection_level: l.to_owned(),
                    defined_by: "platform",
                }
            } else if let Some(level) = declared.get(p.name.as_str()) {
                PermissionLevel {
                    name: p.name.clone(),
                    protection_level: (*level).to_owned(),
                    defined_by: "app",
                }
            } else {
                PermissionLevel {
                    name: p.name.clone(),
                    protection_level: "unknown".into(),
                    defined_by: "unknown",
                }
            }
        })
        .collect();

    let score = verdict::score(
        a,
        &capabilities,
        &trackers,
        &endpoints,
        vendor.as_ref(),
        cfg.thresholds,
    );
    a.risk = Some(verdict::risk(
        score,
        cfg.thresholds,
        perm_levels,
        cfg.trackers.notes.clone(),
    ));
    a.capabilities = Some(capabilities);
    a.trackers = Some(trackers);
    a.endpoints = Some(endpoints);
    a.vendor = vendor;
}
