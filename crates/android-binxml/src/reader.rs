//! Bounds-checked little-endian readers.

pub(crate) fn u8_at(d: &[u8], off: usize) -> Option<u8> {
    d.get(off).copied()
}

pub(crate) fn u16_at(d: &[u8], off: usize) -> Option<u16> {
    let b = d.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes(b.try_into().ok()?))
}

pub(crate) fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// Converts a `u32` to `usize` (saturating on exotic targets).
pub(crate) fn us(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// A generic 8-byte chunk header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkHeader {
    pub(crate) ty: u16,
    pub(crate) header_size: u16,
    pub(crate) size: u32,
}

pub(crate) fn chunk_header(d: &[u8], off: usize) -> Option<ChunkHeader> {
    Some(ChunkHeader {
        ty: u16_at(d, off)?,
        header_size: u16_at(d, off.checked_add(2)?)?,
        size: u32_at(d, off.checked_add(4)?)?,
    })
}
