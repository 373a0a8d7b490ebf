//! Android binary XML (AXML) parsing.

use crate::anomaly::{Anomalies, Anomaly};
use crate::framework_attrs::FRAMEWORK_ATTRS;
use crate::reader::{chunk_header, u16_at, u32_at, u8_at, us};
use crate::string_pool::{parse_string_pool, StringPool, RES_STRING_POOL_TYPE};
use crate::value::{Value, TYPE_STRING};

/// The Android namespace URI.
pub const ANDROID_NS: &str = "http://schemas.android.com/apk/res/android";

const RES_XML_TYPE: u16 = 0x0003;
const RES_XML_START_NAMESPACE_TYPE: u16 = 0x0100;
const RES_XML_END_NAMESPACE_TYPE: u16 = 0x0101;
const RES_XML_START_ELEMENT_TYPE: u16 = 0x0102;
const RES_XML_END_ELEMENT_TYPE: u16 = 0x0103;
const RES_XML_CDATA_TYPE: u16 = 0x0104;
const RES_XML_RESOURCE_MAP_TYPE: u16 = 0x0180;
const NODE_HEADER_SIZE: usize = 16;
const ATTR_SIZE: usize = 20;
const NO_INDEX: u32 = 0xffff_ffff;
/// Hard bound on the number of chunks visited.
const MAX_CHUNKS: usize = 1 << 20;

/// Looks up the framework name of an `android:attr` resource id (API 29 table
/// plus a few later manifest attributes).
pub fn framework_attr_name(id: u32) -> Option<&'static str> {
    FRAMEWORK_ATTRS
        .binary_search_by_key(&id, |&(k, _)| k)
        .ok()
        .and_then(|i| FRAMEWORK_ATTRS.get(i))
        .map(|&(_, n)| n)
}

/// Fatal binary XML errors (the file is unusable as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AxmlError {
    /// Shorter than a chunk header.
    #[error("binary XML too short: {len} bytes (offset {offset})")]
    TooShort {
        /// Offset where more data was needed.
        offset: usize,
        /// Input length.
        len: usize,
    },
    /// No string pool chunk was found.
    #[error("binary XML has no string pool (searched from offset {offset})")]
    NoStringPool {
        /// Offset where the chunk walk started.
        offset: usize,
    },
    /// No element could be parsed.
    #[error("binary XML has no root element (searched from offset {offset})")]
    NoRootElement {
        /// Offset where the chunk walk started.
        offset: usize,
    },
}

/// A namespace declaration (start-namespace chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Prefix, e.g. `android`.
    pub prefix: Option<String>,
    /// URI.
    pub uri: Option<String>,
    /// Byte offset of the chunk.
    pub offset: usize,
}

/// One attribute of an element.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// Namespace URI as written (may be blank or garbage in packed files).
    pub namespace_uri: Option<String>,
    /// Effective name: the framework name when the name index maps to an
    /// `android:attr` resource id (as Android resolves it), else the string.
    pub name: String,
    /// The name string as stored in the string pool.
    pub raw_name: String,
    /// Resource id from the resource map, if any.
    pub resource_id: Option<u32>,
    /// Typed value.
    pub value: Value,
    /// Raw string value, if present.
    pub raw_string: Option<String>,
}

impl Attribute {
    /// True when the resource id is a framework `android:attr` id (0x0101xxxx).
    pub fn is_framework_attr(&self) -> bool {
        matches!(self.resource_id, Some(id) if id >> 16 == 0x0101)
    }
}

/// One element of the document arena.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// Namespace URI of the element, if any.
    pub namespace: Option<String>,
    /// Local name.
    pub name: String,
    /// Attributes in file order.
    pub attributes: Vec<Attribute>,
    /// Byte offset of the start-element chunk.
    pub offset: usize,
    /// Line number recorded by the compiler.
    pub line: u32,
    /// Index of the parent element in [`XmlDocument::elements`].
    pub parent: Option<usize>,
    /// Depth (0 for roots).
    pub depth: usize,
    /// Indices of the children in [`XmlDocument::elements`].
    pub children: Vec<usize>,
    /// Concatenated CDATA/text content directly inside the element.
    pub text: Option<String>,
}

impl Element {
    /// Finds an attribute by namespace and effective name.
    ///
    /// For [`ANDROID_NS`] this follows Android: only attributes whose resource
    /// id is a framework `android:attr` id match (the namespace string and
    /// the name string are ignored, since packers blank or falsify them; an
    /// `android:`-prefixed attribute without resource id is invisible to the
    /// platform). For other namespaces (or `None`), the namespace URI must
    /// match exactly. The first match wins, as in Android.
    pub fn attr(&self, ns: Option<&str>, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| {
            a.name == name
                && match ns {
                    Some(ANDROID_NS) => a.is_framework_attr(),
                    Some(u) => a.namespace_uri.as_deref() == Some(u),
                    None => a.namespace_uri.is_none() && a.resource_id.is_none(),
                }
        })
    }

    /// Shorthand for `attr(Some(ANDROID_NS), name)`.
    pub fn android_attr(&self, name: &str) -> Option<&Attribute> {
        self.attr(Some(ANDROID_NS), name)
    }
}

/// A parsed binary XML document.
#[derive(Debug, Clone, PartialEq)]
pub struct XmlDocument {
    /// Flat element arena in document order.
    pub elements: Vec<Element>,
    /// Namespace declarations in document order.
    pub namespaces: Vec<Namespace>,
    /// The resource map (string index → resource id).
    pub resource_map: Vec<u32>,
    /// The string pool.
    pub strings: Vec<String>,
    /// Whether the string pool was UTF-8.
    pub utf8: bool,
    /// Non-fatal irregularities.
    pub anomalies: Vec<Anomaly>,
}

impl XmlDocument {
    /// Parses binary XML. Never panics.
    pub fn parse(data: &[u8]) -> Result<XmlDocument, AxmlError> {
        Parser::new(data).run()
    }

    /// The first root element.
    pub fn root(&self) -> Option<&Element> {
        self.elements.iter().find(|e| e.parent.is_none())
    }

    /// Element by arena index.
    pub fn element(&self, idx: usize) -> Option<&Element> {
        self.elements.get(idx)
    }

    /// Children of `el`, in order.
    pub fn children<'a>(&'a self, el: &'a Element) -> impl Iterator<Item = &'a Element> + 'a {
        el.children
            .iter()
            .filter_map(move |&i| self.elements.get(i))
    }

    /// Children of `el` with the given local name.
    pub fn children_named<'a>(
        &'a self,
        el: &'a Element,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children(el).filter(move |c| c.name == name)
    }

    /// True when an anomaly with this code was recorded.
    pub fn has_anomaly(&self, code: &str) -> bool {
        self.anomalies.iter().any(|a| a.code == code)
    }
}

/// True when `hs` is the header size a known chunk type always has.
fn plausible_header(ty: u16, hs: usize) -> bool {
    match ty {
        RES_XML_START_NAMESPACE_TYPE
        | RES_XML_END_NAMESPACE_TYPE
        | RES_XML_START_ELEMENT_TYPE
        | RES_XML_END_ELEMENT_TYPE
        | RES_XML_CDATA_TYPE => hs == NODE_HEADER_SIZE,
        RES_STRING_POOL_TYPE => hs == 28,
        RES_XML_RESOURCE_MAP_TYPE => hs == 8,
        _ => false,
    }
}

struct Parser<'a> {
    data: &'a [u8],
    an: Anomalies,
    pool: Option<StringPool>,
    res_map: Vec<u32>,
    elements: Vec<Element>,
    namespaces: Vec<Namespace>,
    ns_depth: usize,
    stack: Vec<usize>,
    /// Remaining bytes of strings we may still copy into the output
    /// (guards against amplification by repeated references to huge strings).
    budget: usize,
    budget_hit: bool,
    has_root: bool,
}

impl<'a> Parser<'a> {
    fn new(data: &'a [u8]) -> Self {
        Parser {
            data,
            an: Anomalies::default(),
            pool: None,
            res_map: Vec::new(),
            elements: Vec::new(),
            namespaces: Vec::new(),
            ns_depth: 0,
            stack: Vec::new(),
            budget: data.len().saturating_mul(16).saturating_add(1 << 20),
            budget_hit: false,
            has_root: false,
        }
    }

    fn string(&mut self, idx: u32, at: usize) -> Option<String> {
        if idx == NO_INDEX {
            return None;
        }
        let s = match self.pool.as_ref().and_then(|p| p.get(idx)) {
            Some(s) => s,
            None => {
                self.an.push(
                    "string_index_out_of_range",
                    at,
                    format!("string index {idx} is not in the pool"),
                );
                return Some(String::new());
            }
        };
        if s.len() > self.budget {
            if !self.budget_hit {
                self.budget_hit = true;
                self.an.push(
                    "output_budget_exceeded",
                    at,
                    "too many string bytes referenced; further strings are emptied",
                );
            }
            return Some(String::new());
        }
        self.budget -= s.len();
        Some(s.to_owned())
    }

    fn run(mut self) -> Result<XmlDocument, AxmlError> {
        let data = self.data;
        let len = data.len();
        let Some(file) = chunk_header(data, 0) else {
            return Err(AxmlError::TooShort { offset: 0, len });
        };
        let mut pos;
        if file.ty == RES_STRING_POOL_TYPE {
            self.an.push(
                "unexpected_file_type",
                0,
                "file starts with a string pool instead of an XML header",
            );
            pos = 0;
        } else {
            if file.ty != RES_XML_TYPE {
                self.an.push(
                    "unexpected_file_type",
                    0,
                    format!("first chunk type {:#06x}, expected 0x0003", file.ty),
                );
            }
            let hs = usize::from(file.header_size);
            if hs != 8 {
                self.an.push(
                    "bad_file_header_size",
                    2,
                    format!("file header size {hs}, expected 8"),
                );
            }
            pos = if (8..=len).contains(&hs) && hs < 64 {
                hs
            } else {
                8
            };
            if us(file.size) != len {
                self.an.push(
                    "file_size_mismatch",
                    4,
                    format!("header declares {} bytes, file has {len}", file.size),
                );
            }
        }
        let start = pos;
        let mut visited = 0usize;
        while pos.saturating_add(8) <= len && visited < MAX_CHUNKS {
            visited += 1;
            let Some(h) = chunk_header(data, pos) else {
                break;
            };
            let hs = usize::from(h.header_size);
            let mut size = us(h.size);
            if h.ty == RES_XML_END_NAMESPACE_TYPE && size == 0 {
                self.an.push(
                    "zero_size_end_namespace",
                    pos,
                    "end-namespace chunk with size 0 (advanced by 24 bytes)",
                );
                size = 24;
            }
            if size < 8 || hs < 8 || hs > size {
                self.an.push(
                    "bad_chunk_size",
                    pos,
                    format!("chunk type {:#06x}: size {size}, header size {hs}", h.ty),
                );
                match self.resync(pos + 4) {
                    Some(p) => {
                        pos = p;
                        continue;
                    }
                    None => break,
                }
            }
            let declared_end = pos.saturating_add(size);
            if declared_end > len {
                if !plausible_header(h.ty, hs) {
                    self.an.push(
                        "bad_chunk_size",
                        pos,
                        format!(
                            "chunk type {:#06x} declares {size} bytes, {} available",
                            h.ty,
                            len - pos
                        ),
                    );
                    match self.resync(pos + 4) {
                        Some(p) => {
                            pos = p;
                            continue;
                        }
                        None => break,
                    }
                }
                self.an.push(
                    "chunk_truncated",
                    pos,
                    format!(
                        "chunk type {:#06x} declares {size} bytes, {} available",
                        h.ty,
                        len - pos
                    ),
                );
                self.chunk(h.ty, pos, hs, len);
                match self.resync(pos.saturating_add(hs)) {
                    Some(p) => pos = p,
                    None => break,
                }
            } else {
                self.chunk(h.ty, pos, hs, declared_end);
                pos = declared_end;
            }
        }
        if visited >= MAX_CHUNKS {
            self.an.push("too_many_chunks", pos, "chunk limit reached");
        }
        let Some(pool) = self.pool else {
            return Err(AxmlError::NoStringPool { offset: start });
        };
        if self.elements.is_empty() {
            return Err(AxmlError::NoRootElement { offset: start });
        }
        if !self.stack.is_empty() {
            self.an.push(
                "unclosed_elements",
                len,
                format!("{} element(s) not closed", self.stack.len()),
            );
        }
        Ok(XmlDocument {
            elements: self.elements,
            namespaces: self.namespaces,
            resource_map: self.res_map,
            strings: pool.strings,
            utf8: pool.utf8,
            anomalies: self.an.list,
        })
    }

    /// Scans forward (4-byte steps) for a plausible chunk header.
    fn resync(&mut self, from: usize) -> Option<usize> {
        let data = self.data;
        let mut p = from;
        while p.saturating_add(8) <= data.len() {
            if let Some(h) = chunk_header(data, p) {
                let hs = usize::from(h.header_size);
                let size = us(h.size);
                let plausible_hs = plausible_header(h.ty, hs);
                if plausible_hs && size >= hs && p.saturating_add(size) <= data.len() {
                    self.an.push(
                        "resynced",
                        p,
                        format!("skipped {} bytes to the next plausible chunk", p - from + 4),
                    );
                    return Some(p);
                }
            }
            p += 4;
        }
        None
    }

    fn chunk(&mut self, ty: u16, pos: usize, hs: usize, end: usize) {
        match ty {
            RES_STRING_POOL_TYPE => {
                if self.pool.is_some() {
                    self.an.push(
                        "duplicate_string_pool",
                        pos,
                        "additional string pool ignored",
                    );
                } else {
                    self.pool = Some(parse_string_pool(self.data, pos, end, &mut self.an));
                }
            }
            RES_XML_RESOURCE_MAP_TYPE => {
                if !self.res_map.is_empty() {
                    self.an.push(
                        "duplicate_resource_map",
                        pos,
                        "additional resource map ignored",
                    );
                    return;
                }
                let mut p = pos + hs;
                while p + 4 <= end {
                    if let Some(id) = u32_at(self.data, p) {
                        self.res_map.push(id);
                    }
                    p += 4;
                }
            }
            RES_XML_START_NAMESPACE_TYPE | RES_XML_END_NAMESPACE_TYPE => {
                if hs < NODE_HEADER_SIZE {
                    self.an
                        .push("bad_node_header", pos, "namespace node header too small");
                }
                let ext = pos + hs;
                let (prefix, uri) = match (u32_at(self.data, ext), u32_at(self.data, ext + 4)) {
                    (Some(p), Some(u)) if ext + 8 <= end => (p, u),
                    _ => {
                        if ty == RES_XML_START_NAMESPACE_TYPE {
                            self.an
                                .push("truncated_node", pos, "namespace node truncated");
                        }
                        (NO_INDEX, NO_INDEX)
                    }
                };
                if ty == RES_XML_START_NAMESPACE_TYPE {
                    let prefix = self.string(prefix, pos);
                    let uri = self.string(uri, pos);
                    self.namespaces.push(Namespace {
                        prefix,
                        uri,
                        offset: pos,
                    });
                    self.ns_depth += 1;
                } else if self.ns_depth == 0 {
                    self.an.push(
                        "unbalanced_end_namespace",
                        pos,
                        "end-namespace without matching start",
                    );
                } else {
                    self.ns_depth -= 1;
                }
            }
            RES_XML_START_ELEMENT_TYPE => self.start_element(pos, hs, end),
            RES_XML_END_ELEMENT_TYPE => {
                if self.stack.pop().is_none() {
                    self.an.push(
                        "unbalanced_end_element",
                        pos,
                        "end-element without matching start",
                    );
                }
            }
            RES_XML_CDATA_TYPE => {
                let ext = pos + hs;
                let idx = if ext + 4 <= end {
                    u32_at(self.data, ext)
                } else {
                    None
                };
                let text = idx.and_then(|i| self.string(i, pos));
                match (text, self.stack.last().copied()) {
                    (Some(t), Some(cur)) => {
                        if let Some(el) = self.elements.get_mut(cur) {
                            el.text.get_or_insert_with(String::new).push_str(&t);
                        }
                    }
                    (_, None) => {
                        self.an
                            .push("cdata_outside_element", pos, "text outside any element")
                    }
                    _ => {}
                }
            }
            _ => {
                self.an.push(
                    "unknown_chunk_type",
                    pos,
                    format!("chunk type {ty:#06x} skipped ({} bytes)", end - pos),
                );
            }
        }
    }

    /// Records duplicate attributes (same resource id, or same namespace and
    /// name without resource id) in O(n log n).
    fn check_duplicates(&mut self, attrs: &[Attribute], pos: usize) {
        let mut keys: Vec<(Option<u32>, Option<&str>, &str)> = attrs
            .iter()
            .map(|a| match a.resource_id {
                Some(id) => (Some(id), None, ""),
                None => (None, a.namespace_uri.as_deref(), a.name.as_str()),
            })
            .collect();
        keys.sort_unstable();
        if let Some(w) = keys.windows(2).find(|w| w.first() == w.get(1)) {
            let detail = match w.first() {
                Some((Some(id), _, _)) => format!("attribute with resource id {id:#010x} repeated"),
                Some((None, _, n)) => format!("attribute {n:?} repeated"),
                None => String::new(),
            };
            self.an.push("duplicate_attribute", pos, detail);
        }
    }

    fn start_element(&mut self, pos: usize, hs: usize, end: usize) {
        let data = self.data;
        if hs < NODE_HEADER_SIZE {
            self.an
                .push("bad_node_header", pos, "element node header too small");
        }
        let line = u32_at(data, pos + 8).unwrap_or(0);
        let ext = pos + hs;
        if ext + 20 > end {
            self.an
                .push("truncated_node", pos, "start-element extension truncated");
            return;
        }
        let (Some(ns), Some(name), Some(attr_start), Some(attr_size), Some(attr_count)) = (
            u32_at(data, ext),
            u32_at(data, ext + 4),
            u16_at(data, ext + 8),
            u16_at(data, ext + 10),
            u16_at(data, ext + 12),
        ) else {
            return;
        };
        let mut stride = usize::from(attr_size);
        if stride != ATTR_SIZE {
            self.an.push(
                "unexpected_attribute_size",
                ext + 10,
                format!("attributeSize {attr_size}, expected 20"),
            );
            if stride < ATTR_SIZE {
                stride = ATTR_SIZE;
            }
        }
        if attr_start != 20 {
            self.an.push(
                "unexpected_attribute_start",
                ext + 8,
                format!("attributeStart {attr_start}, expected 20"),
            );
        }
        let attrs_at = ext + usize::from(attr_start);
        let room = end.saturating_sub(attrs_at);
        let max_count = if room >= ATTR_SIZE {
            (room - ATTR_SIZE) / stride + 1
        } else {
            0
        };
        let mut count = usize::from(attr_count);
        if count > max_count {
            self.an.push(
                "attribute_count_exceeds_chunk",
                ext + 12,
                format!("attributeCount {attr_count}, only {max_count} fit"),
            );
            count = max_count;
        }
        let namespace = self.string(ns, pos);
        let name = self.string(name, pos).unwrap_or_default();
        let mut attributes = Vec::with_capacity(count);
        for i in 0..count {
            let a = attrs_at + i * stride;
            let (Some(a_ns), Some(a_name), Some(a_raw), Some(dtype), Some(dval)) = (
                u32_at(data, a),
                u32_at(data, a + 4),
                u32_at(data, a + 8),
                u8_at(data, a + 15),
                u32_at(data, a + 16),
            ) else {
                break;
            };
            let resource_id = self.res_map.get(us(a_name)).copied().filter(|&id| id != 0);
            let raw_name = self.string(a_name, a).unwrap_or_default();
            let eff = resource_id.and_then(framework_attr_name);
            let name = match eff {
                Some(n) => {
                    if raw_name != n {
                        self.an.push(
                            "attribute_name_mismatch",
                            a,
                            format!(
                                "attribute string {raw_name:?} but resource id {:#010x} is android:{n}",
                                resource_id.unwrap_or(0)
                            ),
                        );
                    }
                    n.to_owned()
                }
                None => raw_name.clone(),
            };
            let namespace_uri = self.string(a_ns, a);
            let raw_string = self.string(a_raw, a);
            let value = if dtype == TYPE_STRING {
                if self.pool.as_ref().and_then(|p| p.get(dval)).is_some() {
                    Value::String(self.string(dval, a).unwrap_or_default())
                } else {
                    self.an.push(
                        "string_index_out_of_range",
                        a + 16,
                        format!("attribute string value index {dval} not in the pool"),
                    );
                    Value::Other {
                        data_type: dtype,
                        data: dval,
                    }
                }
            } else {
                Value::from_raw(dtype, dval, |_| None)
            };
            attributes.push(Attribute {
                namespace_uri,
                name,
                raw_name,
                resource_id,
                value,
                raw_string,
            });
        }
        self.check_duplicates(&attributes, pos);
        let idx = self.elements.len();
        let parent = self.stack.last().copied();
        if parent.is_none() {
            if self.has_root {
                self.an
                    .push("multiple_root_elements", pos, "more than one root element");
            }
            self.has_root = true;
        }
        let depth = self.stack.len();
        if let Some(p) = parent.and_then(|p| self.elements.get_mut(p)) {
            p.children.push(idx);
        }
        self.elements.push(Element {
            namespace,
            name,
            attributes,
            offset: pos,
            line,
            parent,
            depth,
            children: Vec::new(),
            text: None,
        });
        self.stack.push(idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framework_table_is_sorted_and_known_ids_resolve() {
        assert!(FRAMEWORK_ATTRS.windows(2).all(|w| match w {
            [a, b] => a.0 < b.0,
            _ => true,
        }));
        assert_eq!(framework_attr_name(0x0101_0003), Some("name"));
        assert_eq!(framework_attr_name(0x0101_000f), Some("debuggable"));
        assert_eq!(framework_attr_name(0x0101_0572), Some("compileSdkVersion"));
        assert_eq!(
            framework_attr_name(0x0101_0573),
            Some("compileSdkVersionCodename")
        );
        assert_eq!(
            framework_attr_name(0x0101_063e),
            Some("dataExtractionRules")
        );
        assert_eq!(framework_attr_name(0x7f01_0000), None);
    }
}
