//! The manifest model: what Android's package parser reads from `AndroidManifest.xml`.
//!
//! Android reads framework attributes by resource id (through the XML resource map), never by their name string, so this module does the same: a packer that blanks or garbles attribute names changes nothing here.
//! An `android:`-named attribute without a resource id is ignored, as Android ignores it, and recorded as an anomaly.
//! Only elements where Android looks for them count (`<application>` directly under `<manifest>`, components directly under `<application>`); others are ignored.
//! Values that are references (`@string/app_name`, `@bool/debug`) are resolved through resources.arsc, default configuration first.

use std::collections::HashSet;

use android_binxml::{Element, ResourceTable, Value, XmlDocument as Document};

use crate::report::{
    Anomaly, App, Component, DeclaredPermission, Feature, MetaData, Queries, UsesPermission,
};
use crate::AssessError;

/// Framework attribute ids (`android.R.attr`), as in framework-res.
mod attr {
    pub(super) const LABEL: u32 = 0x0101_0001;
    pub(super) const NAME: u32 = 0x0101_0003;
    pub(super) const PERMISSION: u32 = 0x0101_0006;
    pub(super) const PROTECTION_LEVEL: u32 = 0x0101_0009;
    pub(super) const ENABLED: u32 = 0x0101_000e;
    pub(super) const DEBUGGABLE: u32 = 0x0101_000f;
    pub(super) const EXPORTED: u32 = 0x0101_0010;
    pub(super) const AUTHORITIES: u32 = 0x0101_0018;
    pub(super) const VALUE: u32 = 0x0101_0024;
    pub(super) const RESOURCE: u32 = 0x0101_0025;
    pub(super) const SCHEME: u32 = 0x0101_0027;
    pub(super) const HOST: u32 = 0x0101_0028;
    pub(super) const TARGET_ACTIVITY: u32 = 0x0101_0202;
    pub(super) const MIN_SDK_VERSION: u32 = 0x0101_020c;
    pub(super) const VERSION_CODE: u32 = 0x0101_021b;
    pub(super) const VERSION_NAME: u32 = 0x0101_021c;
    pub(super) const TARGET_SDK_VERSION: u32 = 0x0101_0270;
    pub(super) const MAX_SDK_VERSION: u32 = 0x0101_0271;
    pub(super) const ALLOW_BACKUP: u32 = 0x0101_0280;
    pub(super) const GL_ES_VERSION: u32 = 0x0101_0281;
    pub(super) const REQUIRED: u32 = 0x0101_028e;
    pub(super) const USES_CLEARTEXT_TRAFFIC: u32 = 0x0101_04ec;
    pub(super) const NETWORK_SECURITY_CONFIG: u32 = 0x0101_0527;
    pub(super) const COMPILE_SDK_VERSION: u32 = 0x0101_0572;
    pub(super) const VERSION_CODE_MAJOR: u32 = 0x0101_0576;
}

const ANDROID_NS: &str = "http://schemas.android.com/apk/res/android";

pub(crate) struct Manifest {
    pub(crate) app: App,
    pub(crate) permissions: Vec<UsesPermission>,
    pub(crate) declared_permissions: Vec<DeclaredPermission>,
    pub(crate) components: Vec<Component>,
    pub(crate) features: Vec<Feature>,
    pub(crate) queries: Queries,
    pub(crate) meta_data: Vec<MetaData>,
}

/// Attribute access with resource resolution, shared by all element readers.
struct Ctx<'a> {
    doc: &'a Document,
    res: Option<&'a ResourceTable>,
    /// String bytes that references may still copy out of resources.arsc (see [`RESOLVED_STRING_BUDGET`]).
    budget: std::cell::Cell<usize>,
    /// Set when a string was left unresolved for want of budget.
    budget_hit: std::cell::Cell<bool>,
}

/// String bytes copied out of resources.arsc while reading the manifest, at most: many attributes
/// referencing one huge string resource would otherwise copy it once per attribute.
const RESOLVED_STRING_BUDGET: usize = 16 << 20;

impl Ctx<'_> {
    /// The value of the framework attribute `id` on `el`, with references resolved.
    fn value(&self, el: &Element, id: u32) -> Option<Value> {
        let a = el.attributes.iter().find(|a| a.resource_id == Some(id))?;
        Some(self.resolve(&a.value))
    }

    fn resolve(&self, v: &Value) -> Value {
        match (v, self.res) {
            (Value::Reference(id), Some(res)) if *id != 0 => {
                let mut budget = self.budget.get();
                let value = res.resolve_value(*id, &mut budget);
                self.budget.set(budget);
                if matches!(value, Some(Value::Other { data_type: 3, .. })) {
                    self.budget_hit.set(true);
                }
                value.unwrap_or_else(|| v.clone())
            }
            _ => v.clone(),
        }
    }

    fn string(&self, el: &Element, id: u32) -> Option<String> {
        match self.value(el, id)? {
            Value::String(s) => Some(s),
            Value::Reference(r) => Some(self.resource_name(r)),
            other => Some(other.as_display()),
        }
    }

    fn bool(&self, el: &Element, id: u32) -> Option<bool> {
        match self.value(el, id)? {
            Value::Bool(b) => Some(b),
            Value::IntDec(i) => Some(i != 0),
            Value::IntHex(i) => Some(i != 0),
            Value::String(s) => match s.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    fn int(&self, el: &Element, id: u32) -> Option<i64> {
        match self.value(el, id)? {
            Value::IntDec(i) => Some(i64::from(i)),
            Value::IntHex(i) => Some(i64::from(i)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// An SDK level: an integer, or a codename string (Android maps an unreleased codename to the development level; reported as None).
    fn sdk(&self, el: &Element, id: u32) -> Option<u32> {
        self.int(el, id).and_then(|v| u32::try_from(v).ok())
    }

    fn resource_name(&self, id: u32) -> String {
        match self.res.and_then(|r| r.name_of(id)) {
            Some((ty, key)) => format!("@{ty}/{key}"),
            None => format!("@0x{id:08x}"),
        }
    }

    fn children<'e>(
        &'e self,
        el: &'e Element,
        name: &'e str,
    ) -> impl Iterator<Item = &'e Element> + 'e {
        el.children
            .iter()
            .filter_map(move |&i| self.doc.elements.get(i))
            .filter(move |c| c.name == name)
    }
}

fn expand_class(package: &str, name: &str) -> String {
    if name.starts_with('.') {
        format!("{package}{name}")
    } else if !name.contains('.') && !package.is_empty() {
        format!("{package}.{name}")
    } else {
        name.to_owned()
    }
}

/// Removes repeated strings, keeping the first of each, in linear time (a hostile manifest may repeat
/// one element tens of thousands of times).
fn dedup_keep_first(v: &mut Vec<String>) {
    if v.len() < 2 {
        return;
    }
    let mut seen: HashSet<String> = HashSet::with_capacity(v.len());
    v.retain(|s| seen.insert(s.clone()));
}

pub(crate) fn read(
    manifest: &[u8],
    arsc: Option<&[u8]>,
    anomalies: &mut Vec<Anomaly>,
) -> Result<Manifest, AssessError> {
    let doc =
        android_binxml::parse_xml(manifest).map_err(|e| AssessError::BadManifest(e.to_string()))?;
    for a in &doc.anomalies {
        anomalies.push(Anomaly {
            code: a.code.to_string(),
            detail: format!("AndroidManifest.xml: {}", a.detail),
            offset: Some(a.offset as u64),
        });
    }
    let table = match arsc.map(ResourceTable::parse) {
        Some(Ok(t)) => {
            for a in t.anomalies() {
                anomalies.push(Anomaly {
                    code: a.code.to_string(),
                    detail: format!("resources.arsc: {}", a.detail),
                    offset: Some(a.offset as u64),
                });
            }
            Some(t)
        }
        Some(Err(e)) => {
            anomalies.push(Anomaly {
                code: "resources_unparseable".into(),
                detail: e.to_string(),
                offset: None,
            });
            None
        }
        None => None,
    };
    let ctx = Ctx {
        doc: &doc,
        res: table.as_ref(),
        budget: std::cell::Cell::new(RESOLVED_STRING_BUDGET),
        budget_hit: std::cell::Cell::new(false),
    };
    let root = doc
        .root()
        .ok_or_else(|| AssessError::BadManifest("the document has no root element".into()))?;
    if root.name != "manifest" {
        return Err(AssessError::BadManifest(format!(
            "the root element is <{}>, Android requires <manifest>",
            root.name
        )));
    }
    flag_unresolvable_android_attrs(&doc, anomalies);

    let package = root
        .attributes
        .iter()
        .find(|a| a.name == "package" && a.resource_id.is_none())
        .and_then(|a| match &a.value {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default();
    if package.is_empty() {
        anomalies.push(Anomaly {
            code: "manifest_no_package".into(),
            detail: "<manifest> has no package attribute; Android refuses to install it".into(),
            offset: Some(root.offset as u64),
        });
    }
    let mut app = App {
        package: package.clone(),
        ..App::default()
    };
    let minor = ctx.int(root, attr::VERSION_CODE).map(|v| v as u32);
    let major = ctx.int(root, attr::VERSION_CODE_MAJOR).map(|v| v as u32);
    app.version_code = match (major, minor) {
        (None, None) => None,
        (major, minor) => {
            Some((u64::from(major.unwrap_or(0)) << 32) | u64::from(minor.unwrap_or(0)))
        }
    };
    app.version_name = ctx.string(root, attr::VERSION_NAME);
    app.compile_sdk = ctx.sdk(root, attr::COMPILE_SDK_VERSION).or_else(|| {
        root.attributes
            .iter()
            .find(|a| a.name == "platformBuildVersionCode" && a.resource_id.is_none())
            .and_then(|a| match &a.value {
                Value::IntDec(i) => u32::try_from(*i).ok(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            })
    });
    // Android reads the first <uses-sdk>.
    if let Some(sdk) = ctx.children(root, "uses-sdk").next() {
        app.min_sdk = ctx.sdk(sdk, attr::MIN_SDK_VERSION);
        app.target_sdk = ctx.sdk(sdk, attr::TARGET_SDK_VERSION);
        app.max_sdk = ctx.sdk(sdk, attr::MAX_SDK_VERSION);
    }
    let effective_target = app.target_sdk.or(app.min_sdk).unwrap_or(1);

    let mut permissions: Vec<UsesPermission> = Vec::new();
    // De-duplication by name in a hash set: a manifest may list tens of thousands.
    let mut permission_names: HashSet<String> = HashSet::new();
    for tag in [
        "uses-permission",
        "uses-permission-sdk-23",
        "uses-permission-sdk-m",
    ] {
        for el in ctx.children(root, tag) {
            let Some(name) = ctx.string(el, attr::NAME) else {
                continue;
            };
            let p = UsesPermission {
                name,
                max_sdk: ctx.sdk(el, attr::MAX_SDK_VERSION),
            };
            if permission_names.insert(p.name.clone()) {
                permissions.push(p);
            }
        }
    }
    let declared_permissions = ctx
        .children(root, "permission")
        .filter_map(|el| {
            Some(DeclaredPermission {
                name: ctx.string(el, attr::NAME)?,
                protection_level: protection_level(ctx.value(el, attr::PROTECTION_LEVEL)),
            })
        })
        .collect();
    let features = ctx
        .children(root, "uses-feature")
        .map(|el| Feature {
            name: ctx.string(el, attr::NAME),
            required: ctx.bool(el, attr::REQUIRED).unwrap_or(true),
            gl_es_version: ctx
                .int(el, attr::GL_ES_VERSION)
                .filter(|v| *v != 0)
                .map(|v| format!("{}.{}", (v >> 16) & 0xffff, v & 0xffff)),
        })
        .collect();
    let mut queries = Queries::default();
    for q in ctx.children(root, "queries") {
        for p in ctx.children(q, "package") {
            if let Some(n) = ctx.string(p, attr::NAME) {
                queries.packages.push(n);
            }
        }
        for i in ctx.children(q, "intent") {
            for a in ctx.children(i, "action") {
                if let Some(n) = ctx.string(a, attr::NAME) {
                    queries.intent_actions.push(n);
                }
            }
        }
        for p in ctx.children(q, "provider") {
            if let Some(n) = ctx.string(p, attr::AUTHORITIES) {
                queries.providers.push(n);
            }
        }
    }
    dedup_keep_first(&mut queries.packages);
    dedup_keep_first(&mut queries.intent_actions);
    dedup_keep_first(&mut queries.providers);

    let mut applications = ctx.children(root, "application");
    let application = applications.next();
    if let Some(second) = applications.next() {
        anomalies.push(Anomaly {
            code: "manifest_multiple_application".into(),
            detail: "<manifest> has more than one <application>; Android reads only the first"
                .into(),
            offset: Some(second.offset as u64),
        });
    }
    let mut components = Vec::new();
    let mut meta_data = Vec::new();
    app.allow_backup = true;
    app.uses_cleartext_traffic = effective_target < 28;
    if let Some(application) = application {
        app.label = ctx.string(application, attr::LABEL);
        app.debuggable = ctx.bool(application, attr::DEBUGGABLE).unwrap_or(false);
        app.allow_backup = ctx.bool(application, attr::ALLOW_BACKUP).unwrap_or(true);
        if let Some(b) = ctx.bool(application, attr::USES_CLEARTEXT_TRAFFIC) {
            app.uses_cleartext_traffic = b;
        }
        app.network_security_config = application
            .attributes
            .iter()
            .find(|a| a.resource_id == Some(attr::NETWORK_SECURITY_CONFIG))
            .map(|a| match &a.value {
                Value::Reference(id) => ctx.resource_name(*id),
                other => other.as_display(),
            });
        meta_data = read_meta_data(&ctx, application);
        for &child in &application.children {
            let Some(el) = doc.elements.get(child) else {
                continue;
            };
            let kind: &'static str = match el.name.as_str() {
                "activity" => "activity",
                "activity-alias" => "activity-alias",
                "service" => "service",
                "receiver" => "receiver",
                "provider" => "provider",
                _ => continue,
            };
            if let Some(c) = read_component(&ctx, el, kind, &package, effective_target, anomalies) {
                components.push(c);
            }
        }
    } else {
        // Without <application>, Android still installs the package with default flags.
        app.label = None;
    }
    if ctx.budget_hit.get() {
        anomalies.push(Anomaly {
            code: "resource_string_budget_exceeded".into(),
            detail: format!(
                "manifest references copied more than {RESOLVED_STRING_BUDGET} bytes of strings out of resources.arsc; the rest are left unresolved"
            ),
            offset: None,
        });
    }
    Ok(Manifest {
        app,
        permissions,
        declared_permissions,
        components,
        features,
        queries,
        meta_data,
    })
}

fn read_meta_data(ctx: &Ctx<'_>, el: &Element) -> Vec<MetaData> {
    ctx.children(el, "meta-data")
        .filter_map(|m| {
            let name = ctx.string(m, attr::NAME)?;
            let value = ctx.string(m, attr::VALUE).or_else(|| {
                m.attributes
                    .iter()
                    .find(|a| a.resource_id == Some(attr::RESOURCE))
                    .map(|a| match &a.value {
                        Value::Reference(id) => ctx.resource_name(*id),
                        other => other.as_display(),
                    })
            });
            Some(MetaData { name, value })
        })
        .collect()
}

fn read_component(
    ctx: &Ctx<'_>,
    el: &Element,
    kind: &'static str,
    package: &str,
    effective_target: u32,
    anomalies: &mut Vec<Anomaly>,
) -> Option<Component> {
    let Some(raw_name) = ctx.string(el, attr::NAME) else {
        anomalies.push(Anomaly {
            code: "component_without_name".into(),
            detail: format!("<{kind}> has no android:name; Android refuses the package"),
            offset: Some(el.offset as u64),
        });
        return None;
    };
    let mut c = Component {
        kind,
        name: expand_class(package, &raw_name),
        exported: false,
        exported_reason: "default",
        permission: ctx.string(el, attr::PERMISSION),
        enabled: ctx.bool(el, attr::ENABLED).unwrap_or(true),
        actions: Vec::new(),
        categories: Vec::new(),
        data_schemes: Vec::new(),
        data_hosts: Vec::new(),
        authorities: Vec::new(),
        meta_data: read_meta_data(ctx, el),
        target_activity: ctx
            .string(el, attr::TARGET_ACTIVITY)
            .filter(|_| kind == "activity-alias")
            .map(|t| expand_class(package, &t)),
    };
    let mut filters = 0;
    for f in ctx.children(el, "intent-filter") {
        filters += 1;
        for a in ctx.children(f, "action") {
            if let Some(n) = ctx.string(a, attr::NAME) {
                c.actions.push(n);
            }
        }
        for a in ctx.children(f, "category") {
            if let Some(n) = ctx.string(a, attr::NAME) {
                c.categories.push(n);
            }
        }
        for d in ctx.children(f, "data") {
            if let Some(s) = ctx.string(d, attr::SCHEME) {
                c.data_schemes.push(s);
            }
            if let Some(h) = ctx.string(d, attr::HOST) {
                c.data_hosts.push(h);
            }
        }
    }
    dedup_keep_first(&mut c.actions);
    dedup_keep_first(&mut c.categories);
    dedup_keep_first(&mut c.data_schemes);
    dedup_keep_first(&mut c.data_hosts);
    if kind == "provider" {
        if let Some(auth) = ctx.string(el, attr::AUTHORITIES) {
            c.authorities = auth.split(';').map(str::to_owned).collect();
        }
    }
    match ctx.bool(el, attr::EXPORTED) {
        Some(b) => {
            c.exported = b;
            c.exported_reason = "explicit";
        }
        None if kind == "provider" => {
            // Providers were exported by default up to API 16.
            c.exported = effective_target <= 16;
        }
        None if filters > 0 => {
            c.exported = true;
            c.exported_reason = "intent_filter";
            if effective_target >= 31 {
                anomalies.push(Anomaly {
                    code: "exported_not_declared".into(),
                    detail: format!(
                        "{} has intent filters but no android:exported; Android 12+ refuses to install an app targeting SDK {effective_target} like this",
                        c.name
                    ),
                    offset: Some(el.offset as u64),
                });
            }
        }
        None => {}
    }
    Some(c)
}

/// Protection level as aapt and AOSP spell it: base level, then flags, joined by `|`.
fn protection_level(v: Option<Value>) -> String {
    let raw = match v {
        None => return "normal".into(),
        Some(Value::IntDec(i)) => i as u32,
        Some(Value::IntHex(i)) => i,
        Some(Value::String(s)) => return s,
        Some(other) => return other.as_display(),
    };
    let base = match raw & 0xf {
        0 => "normal",
        1 => "dangerous",
        2 => "signature",
        3 => "signatureOrSystem",
        4 => "internal",
        _ => "unknown",
    };
    const FLAGS: [(u32, &str); 16] = [
        (0x10, "privileged"),
        (0x20, "development"),
        (0x40, "appop"),
        (0x80, "pre23"),
        (0x100, "installer"),
        (0x200, "verifier"),
        (0x400, "preinstalled"),
        (0x800, "setup"),
        (0x1000, "instant"),
        (0x2000, "runtime"),
        (0x4000, "oem"),
        (0x8000, "vendorPrivileged"),
        (0x10000, "textClassifier"),
        (0x20000, "wellbeing"),
        (0x4000000, "role"),
        (0x8000000, "knownSigner"),
    ];
    let mut out = base.to_owned();
    for (bit, name) in FLAGS {
        if raw & bit != 0 {
            out.push('|');
            out.push_str(name);
        }
    }
    out
}

/// Android ignores an `android:` attribute that has no resource id; a manifest written that way hides the attribute from Android but not from naive tools.
fn flag_unresolvable_android_attrs(doc: &Document, anomalies: &mut Vec<Anomaly>) {
    let mut reported = 0;
    for el in &doc.elements {
        for a in &el.attributes {
            if a.resource_id.is_none() && a.namespace_uri.as_deref() == Some(ANDROID_NS) {
                if reported < 20 {
                    anomalies.push(Anomaly {
                        code: "android_attribute_without_resource_id".into(),
                        detail: format!(
                            "<{}> android:{} has no resource id, so Android ignores it",
                            el.name, a.name
                        ),
                        offset: Some(el.offset as u64),
                    });
                }
                reported += 1;
            }
        }
    }
}
