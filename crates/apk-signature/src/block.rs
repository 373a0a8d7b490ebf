//! The APK Signing Block (just before the central directory) and its ID-value pairs.

/// "APK Sig Block 42".
pub(crate) const MAGIC: &[u8; 16] = b"APK Sig Block 42";
/// Pair ids.
pub(crate) const V2_ID: u32 = 0x7109_871a;
pub(crate) const V3_ID: u32 = 0xf053_68c0;
pub(crate) const V31_ID: u32 = 0x1b93_ad61;
pub(crate) const STAMP_V1_ID: u32 = 0x2b09_189e;
pub(crate) const STAMP_V2_ID: u32 = 0x6dff_800d;

/// A located signing block.
#[derive(Debug, Clone)]
pub(crate) struct SigningBlock<'a> {
    /// File offset of the block's first byte (its leading size field).
    pub(crate) offset: u64,
    /// The ID-value pairs area.
    pub(crate) pairs: &'a [u8],
}

/// Why no signing block was found (apksig's `SignatureNotFoundException` cases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotFound {
    CdNotFollowedByEocd,
    TooSmall,
    NoMagic,
    BadSize,
    SizeMismatch,
}

fn u64_at(data: &[u8], off: usize) -> Option<u64> {
    let b = data.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// Finds the signing block the way apksig does.
pub(crate) fn find(
    data: &[u8],
    cd_offset: u64,
    cd_size: u64,
    eocd_offset: u64,
) -> Result<SigningBlock<'_>, NotFound> {
    if cd_offset.checked_add(cd_size) != Some(eocd_offset) {
        return Err(NotFound::CdNotFollowedByEocd);
    }
    let cd = usize::try_from(cd_offset).map_err(|_| NotFound::TooSmall)?;
    if cd < 32 {
        return Err(NotFound::TooSmall);
    }
    let footer = cd - 24;
    if data.get(footer + 8..cd) != Some(&MAGIC[..]) {
        return Err(NotFound::NoMagic);
    }
    let size_footer = u64_at(data, footer).ok_or(NotFound::TooSmall)?;
    if size_footer < 24 || size_footer > (i32::MAX as u64) - 8 {
        return Err(NotFound::BadSize);
    }
    let total = size_footer + 8;
    let start = (cd as u64).checked_sub(total).ok_or(NotFound::BadSize)?;
    let start = usize::try_from(start).map_err(|_| NotFound::BadSize)?;
    let size_header = u64_at(data, start).ok_or(NotFound::BadSize)?;
    if size_header != size_footer {
        return Err(NotFound::SizeMismatch);
    }
    let pairs = data.get(start + 8..footer).ok_or(NotFound::BadSize)?;
    Ok(SigningBlock {
        offset: start as u64,
        pairs,
    })
}

impl<'a> SigningBlock<'a> {
    /// The value of the first pair with `id`, or `None` (also when a malformed pair comes first,
    /// as apksig stops there).
    pub(crate) fn find_pair(&self, id: u32) -> Option<&'a [u8]> {
        self.pairs_iter().find(|&(i, _)| i == id).map(|(_, v)| v)
    }

    /// Ids of all well-formed pairs, in order.
    pub(crate) fn ids(&self) -> Vec<u32> {
        self.pairs_iter().map(|(i, _)| i).collect()
    }

    fn pairs_iter(&self) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
        let mut rest = self.pairs;
        std::iter::from_fn(move || {
            let len = u64_at(rest, 0)?;
            if !(4..=i32::MAX as u64).contains(&len) {
                rest = &[];
                return None;
            }
            let len = len as usize;
            let body = rest.get(8..8 + len)?;
            let id = u32::from_le_bytes(body.get(..4)?.try_into().ok()?);
            rest = rest.get(8 + len..).unwrap_or(&[]);
            Some((id, body.get(4..).unwrap_or(&[])))
        })
    }
}

/// Reads length-prefixed (u32 LE) values, the framing of every v2/v3 structure.
#[derive(Debug, Clone)]
pub(crate) struct Lp<'a> {
    rest: &'a [u8],
}

impl<'a> Lp<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Lp { rest: data }
    }

    pub(crate) fn has_remaining(&self) -> bool {
        !self.rest.is_empty()
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        let b = self.rest.get(..4)?;
        self.rest = self.rest.get(4..)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    /// A length-prefixed slice.
    pub(crate) fn slice(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        if len > i32::MAX as usize {
            return None;
        }
        let v = self.rest.get(..len)?;
        self.rest = self.rest.get(len..)?;
        Some(v)
    }

    /// Whatever is left.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.rest
    }
}
