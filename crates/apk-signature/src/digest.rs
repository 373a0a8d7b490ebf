//! The v2/v3 chunked content digest, computed in parallel straight from the input slice.

use rayon::prelude::*;
use sha2::{Digest, Sha256, Sha512};

/// Chunk size of the content digest.
pub(crate) const CHUNK: usize = 1 << 20;

/// Content digest algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ContentDigest {
    ChunkedSha256,
    ChunkedSha512,
}

impl ContentDigest {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ContentDigest::ChunkedSha256 => "CHUNKED_SHA256",
            ContentDigest::ChunkedSha512 => "CHUNKED_SHA512",
        }
    }
}

/// The computed digests, in the order of `algs` given to [`compute`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Digests {
    pub(crate) sha256: Option<Vec<u8>>,
    pub(crate) sha512: Option<Vec<u8>>,
}

impl Digests {
    pub(crate) fn get(&self, alg: ContentDigest) -> Option<&[u8]> {
        match alg {
            ContentDigest::ChunkedSha256 => self.sha256.as_deref(),
            ContentDigest::ChunkedSha512 => self.sha512.as_deref(),
        }
    }
}

/// The SHA-256 and SHA-512 digests of one chunk (each only if requested).
type ChunkDigests = (Option<[u8; 32]>, Option<[u8; 64]>);

/// Computes the requested content digests over (entries before `block_offset`, the central
/// directory, and the EOCD with its CD-offset field set to `block_offset`).
///
/// Returns `None` when the offsets do not fit in the input.
pub(crate) fn compute(
    data: &[u8],
    block_offset: u64,
    cd_offset: u64,
    cd_size: u64,
    eocd_offset: u64,
    want256: bool,
    want512: bool,
) -> Option<Digests> {
    let b = usize::try_from(block_offset).ok()?;
    let c = usize::try_from(cd_offset).ok()?;
    let cs = usize::try_from(cd_size).ok()?;
    let e = usize::try_from(eocd_offset).ok()?;
    let entries = data.get(..b)?;
    let cd = data.get(c..c.checked_add(cs)?)?;
    let mut eocd = data.get(e..)?.to_vec();
    let field = eocd.get_mut(16..20)?;
    field.copy_from_slice(&u32::try_from(block_offset).ok()?.to_le_bytes());

    let mut chunks: Vec<&[u8]> = Vec::new();
    for section in [entries, cd, &eocd[..]] {
        chunks.extend(section.chunks(CHUNK));
    }
    let count = u32::try_from(chunks.len()).ok()?;
    let per_chunk: Vec<ChunkDigests> = chunks
        .par_iter()
        .map(|chunk| {
            let len = (chunk.len() as u32).to_le_bytes();
            let a = want256.then(|| {
                let mut h = Sha256::new();
                h.update([0xa5]);
                h.update(len);
                h.update(chunk);
                h.finalize().into()
            });
            let b = want512.then(|| {
                let mut h = Sha512::new();
                h.update([0xa5]);
                h.update(len);
                h.update(chunk);
                h.finalize().into()
            });
            (a, b)
        })
        .collect();
    let mut out = Digests::default();
    if want256 {
        let mut h = Sha256::new();
        h.update([0x5a]);
        h.update(count.to_le_bytes());
        for (a, _) in &per_chunk {
            if let Some(a) = a {
                h.update(a);
            }
        }
        out.sha256 = Some(h.finalize().to_vec());
    }
    if want512 {
        let mut h = Sha512::new();
        h.update([0x5a]);
        h.update(count.to_le_bytes());
        for (_, b) in &per_chunk {
            if let Some(b) = b {
                h.update(b);
            }
        }
        out.sha512 = Some(h.finalize().to_vec());
    }
    Some(out)
}
