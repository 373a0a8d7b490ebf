//! Reading the XML resource files that manifest meta-data and attributes point at.

use android_binxml::{ResourceTable, XmlDocument};
use apk_zip::Archive;

/// Access to `res/` XML files by resource name (`@xml/name`).
pub(crate) struct XmlResources<'a, 'b> {
    archive: &'a Archive<'b>,
    table: Option<ResourceTable>,
}

impl<'a, 'b> XmlResources<'a, 'b> {
    pub(crate) fn new(archive: &'a Archive<'b>, arsc: Option<&[u8]>) -> Self {
        XmlResources {
            archive,
            table: arsc.and_then(|b| ResourceTable::parse(b).ok()),
        }
    }

    /// The global string pool of `resources.arsc` (empty without one).
    pub(crate) fn strings(&self) -> &[String] {
        self.table.as_ref().map_or(&[], |t| t.strings())
    }

    /// The file path of a resource name such as `@xml/nsc`: the first `res/<type>[-qualifiers]/<name>.xml`
    /// path in the resource string pool (file resources store their path there), else the conventional path.
    pub(crate) fn path_of(&self, name: &str) -> Option<String> {
        if name.starts_with("res/") {
            return Some(name.to_owned());
        }
        let (ty, key) = name.strip_prefix('@')?.split_once('/')?;
        let suffix = format!("/{key}.xml");
        let found = self.strings().iter().find(|s| {
            s.strip_prefix("res/")
                .and_then(|r| r.strip_suffix(&suffix))
                .is_some_and(|dir| {
                    dir == ty || dir.strip_prefix(ty).is_some_and(|q| q.starts_with('-'))
                })
        });
        Some(
            found
                .cloned()
                .unwrap_or_else(|| format!("res/{ty}/{key}.xml")),
        )
    }

    /// Parses the binary XML file a resource name points at.
    pub(crate) fn xml(&self, name: &str) -> Option<(String, XmlDocument)> {
        let path = self.path_of(name)?;
        let entry = self.archive.find(&path)?;
        let bytes = self.archive.read(entry).ok()?;
        let doc = XmlDocument::parse(&bytes).ok()?;
        Some((path, doc))
    }
}
