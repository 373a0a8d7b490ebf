//! Apple's embedded code signature (the data `LC_CODE_SIGNATURE` points at), named after Apple's
//! `cs_blobs.h`: the `SuperBlob` index, the `CodeDirectory`, the entitlements blobs (XML and DER) and the CMS
//! `BlobWrapper`. Everything is big-endian; every offset and length is checked against its container.

use sha2::Digest;

use crate::cms::{self, Certificate};
use crate::Error;

/// `CSMAGIC_EMBEDDED_SIGNATURE`.
pub const CSMAGIC_EMBEDDED_SIGNATURE: u32 = 0xfade_0cc0;
/// `CSMAGIC_EMBEDDED_SIGNATURE_OLD`.
pub const CSMAGIC_EMBEDDED_SIGNATURE_OLD: u32 = 0xfade_0b02;
/// `CSMAGIC_CODEDIRECTORY`.
pub const CSMAGIC_CODEDIRECTORY: u32 = 0xfade_0c02;
/// `CSMAGIC_REQUIREMENTS`.
pub const CSMAGIC_REQUIREMENTS: u32 = 0xfade_0c01;
/// `CSMAGIC_EMBEDDED_ENTITLEMENTS` (XML plist).
pub const CSMAGIC_EMBEDDED_ENTITLEMENTS: u32 = 0xfade_7171;
/// `CSMAGIC_EMBEDDED_DER_ENTITLEMENTS`.
pub const CSMAGIC_EMBEDDED_DER_ENTITLEMENTS: u32 = 0xfade_7172;
/// `CSMAGIC_BLOBWRAPPER` (holds the CMS signature).
pub const CSMAGIC_BLOBWRAPPER: u32 = 0xfade_0b01;

/// Slot numbers of the SuperBlob index.
pub const CSSLOT_CODEDIRECTORY: u32 = 0;
/// Entitlements (XML) slot.
pub const CSSLOT_ENTITLEMENTS: u32 = 5;
/// DER entitlements slot.
pub const CSSLOT_DER_ENTITLEMENTS: u32 = 7;
/// First alternate CodeDirectory slot.
pub const CSSLOT_ALTERNATE_CODEDIRECTORIES: u32 = 0x1000;
/// CMS signature slot.
pub const CSSLOT_SIGNATURESLOT: u32 = 0x10000;

/// At most this many SuperBlob index entries are read.
pub const MAX_BLOBS: u32 = 64;

/// What the signature says.
#[derive(Debug, Clone, Default)]
pub struct CodeSignature {
    /// Offset of the SuperBlob in the Mach-O slice.
    pub offset: u64,
    /// `(slot type, offset)` of each index entry.
    pub slots: Vec<(u32, u32)>,
    /// The primary CodeDirectory (slot 0), and the strongest alternate one if any.
    pub code_directories: Vec<CodeDirectory>,
    /// Entitlements XML plist bytes (slot 5).
    pub entitlements_xml: Option<Vec<u8>>,
    /// DER entitlements bytes (slot 7).
    pub entitlements_der: Option<Vec<u8>>,
    /// The slot-0 CodeDirectory blob as stored in the SuperBlob (header included): the detached content the CMS
    /// signs.
    pub code_directory_bytes: Option<Vec<u8>>,
    /// The CMS signature, when present and non-empty (ad-hoc signatures have an empty wrapper).
    pub cms: Option<CmsSummary>,
    /// Problems found while reading, with offsets relative to the slice.
    pub problems: Vec<(String, String, u64)>,
}

/// The facts of the CMS blob.
#[derive(Debug, Clone, Default)]
pub struct CmsSummary {
    /// Size of the CMS blob.
    pub size: u64,
    /// Certificates carried.
    pub certificates: Vec<Certificate>,
    /// Index of the signer's certificate.
    pub signer: Option<usize>,
    /// BER indefinite lengths were used.
    pub ber_indefinite: bool,
    /// The first `SignerInfo` (for [`crate::trust::verify_signer`]).
    pub signer_info: Option<cms::SignerInfo>,
}

/// A `CodeDirectory`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeDirectory {
    /// Slot it came from.
    pub slot: u32,
    /// `version` (e.g. 0x20400).
    pub version: u32,
    /// `flags` (0x2 adhoc, 0x10000 runtime, 0x20000 linker-signed, ...).
    pub flags: u32,
    /// `identifier`: the signing identifier.
    pub identifier: String,
    /// `teamOffset` string, for version >= 0x20200.
    pub team_id: Option<String>,
    /// `hashType` (1 SHA-1, 2 SHA-256, 3 SHA-256 truncated, 4 SHA-384).
    pub hash_type: u8,
    /// `hashSize`.
    pub hash_size: u8,
    /// `nSpecialSlots`.
    pub special_slots: u32,
    /// `nCodeSlots`.
    pub code_slots: u32,
    /// `codeLimit`.
    pub code_limit: u64,
    /// log2 of `pageSize`.
    pub page_size_log2: u8,
    /// CDHash: SHA-256 (or the CD's own hash type) of the CodeDirectory bytes, lowercase hex (truncated to 20
    /// bytes as `codesign` prints it).
    pub cdhash: String,
}

impl CodeDirectory {
    /// Names of the set flags.
    pub fn flag_names(&self) -> Vec<&'static str> {
        const NAMES: &[(u32, &str)] = &[
            (0x1, "host"),
            (0x2, "adhoc"),
            (0x100, "hard"),
            (0x200, "kill"),
            (0x400, "expires"),
            (0x800, "restrict"),
            (0x1000, "enforcement"),
            (0x2000, "library-validation"),
            (0x10000, "runtime"),
            (0x20000, "linker-signed"),
        ];
        NAMES
            .iter()
            .filter(|(bit, _)| self.flags & bit != 0)
            .map(|(_, n)| *n)
            .collect()
    }

    /// `sha1`, `sha256`, `sha256-truncated`, `sha384` or `unknown`.
    pub fn hash_name(&self) -> &'static str {
        match self.hash_type {
            1 => "sha1",
            2 => "sha256",
            3 => "sha256-truncated",
            4 => "sha384",
            5 => "sha512",
            _ => "unknown",
        }
    }
}

fn be32(d: &[u8], at: usize, structure: &'static str, base: u64) -> Result<u32, Error> {
    d.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(Error::Truncated {
            structure,
            offset: base + at as u64,
        })
}

/// Parses the SuperBlob at `data` (the bytes `LC_CODE_SIGNATURE` names); `base` is its offset in the slice.
pub fn parse(data: &[u8], base: u64) -> Result<CodeSignature, Error> {
    let magic = be32(data, 0, "SuperBlob.magic", base)?;
    if magic != CSMAGIC_EMBEDDED_SIGNATURE && magic != CSMAGIC_EMBEDDED_SIGNATURE_OLD {
        return Err(Error::Malformed {
            structure: "SuperBlob",
            offset: base,
            detail: format!("magic 0x{magic:08x} is not an embedded signature (0xfade0cc0)"),
        });
    }
    let length = be32(data, 4, "SuperBlob.length", base)? as usize;
    if length > data.len() || length < 12 {
        return Err(Error::Malformed {
            structure: "SuperBlob",
            offset: base + 4,
            detail: format!(
                "length {length} exceeds the {} bytes LC_CODE_SIGNATURE gives it",
                data.len()
            ),
        });
    }
    let data = &data[..length];
    let count = be32(data, 8, "SuperBlob.count", base)?;
    if count > MAX_BLOBS || 12 + count as usize * 8 > length {
        return Err(Error::Malformed {
            structure: "SuperBlob",
            offset: base + 8,
            detail: format!(
                "count {count} needs {} index bytes but the blob has {length}",
                12u64 + u64::from(count) * 8
            ),
        });
    }
    let index_end = 12 + count as usize * 8;
    for i in 0..count as usize {
        let off = be32(data, 16 + i * 8, "BlobIndex.offset", base)? as usize;
        if off < index_end {
            return Err(Error::Malformed {
                structure: "SuperBlob",
                offset: base + 8,
                detail: format!(
                    "count {count} makes the index end at {index_end}, past blob {i}'s data at {off}"
                ),
            });
        }
    }
    let mut sig = CodeSignature {
        offset: base,
        ..Default::default()
    };
    for i in 0..count as usize {
        let slot = be32(data, 12 + i * 8, "BlobIndex.type", base)?;
        let off = be32(data, 16 + i * 8, "BlobIndex.offset", base)?;
        sig.slots.push((slot, off));
        match blob_at(data, off as usize, base) {
            Ok((bmagic, blob)) => {
                if let Err(e) = read_slot(&mut sig, slot, bmagic, blob, base + u64::from(off)) {
                    sig.problems.push((
                        "code_signature_blob_invalid".into(),
                        format!("slot 0x{slot:x}: {e}"),
                        base + u64::from(off),
                    ));
                }
            }
            Err(e) => sig.problems.push((
                "code_signature_blob_invalid".into(),
                format!("slot 0x{slot:x}: {e}"),
                base + u64::from(off),
            )),
        }
    }
    Ok(sig)
}

/// The generic blob at `off`: magic and the whole blob (header included), bounds-checked.
fn blob_at(data: &[u8], off: usize, base: u64) -> Result<(u32, &[u8]), Error> {
    let magic = be32(data, off, "Blob.magic", base)?;
    let len = be32(data, off + 4, "Blob.length", base)? as usize;
    if len < 8 || off.checked_add(len).is_none_or(|e| e > data.len()) {
        return Err(Error::Malformed {
            structure: "Blob",
            offset: base + off as u64 + 4,
            detail: format!(
                "length {len} at offset {off} runs past the SuperBlob's {} bytes",
                data.len()
            ),
        });
    }
    Ok((magic, &data[off..off + len]))
}

fn read_slot(
    sig: &mut CodeSignature,
    slot: u32,
    magic: u32,
    blob: &[u8],
    at: u64,
) -> Result<(), Error> {
    let expect = |want: u32, name: &'static str| {
        if magic == want {
            Ok(())
        } else {
            Err(Error::Malformed {
                structure: name,
                offset: at,
                detail: format!("magic 0x{magic:08x}, expected 0x{want:08x}"),
            })
        }
    };
    match slot {
        CSSLOT_CODEDIRECTORY | 0x1000..=0x1004 => {
            expect(CSMAGIC_CODEDIRECTORY, "CodeDirectory")?;
            let mut cd = code_directory(blob, at)?;
            cd.slot = slot;
            if slot == CSSLOT_CODEDIRECTORY && sig.code_directory_bytes.is_none() {
                sig.code_directory_bytes = Some(blob.to_vec());
            }
            sig.code_directories.push(cd);
        }
        CSSLOT_ENTITLEMENTS => {
            expect(CSMAGIC_EMBEDDED_ENTITLEMENTS, "Entitlements")?;
            sig.entitlements_xml = Some(blob[8..].to_vec());
        }
        CSSLOT_DER_ENTITLEMENTS => {
            expect(CSMAGIC_EMBEDDED_DER_ENTITLEMENTS, "EntitlementsDer")?;
            sig.entitlements_der = Some(blob[8..].to_vec());
        }
        CSSLOT_SIGNATURESLOT => {
            expect(CSMAGIC_BLOBWRAPPER, "BlobWrapper")?;
            let body = &blob[8..];
            if !body.is_empty() {
                let sd = cms::parse_signed_data(body, 1 << 20)?;
                sig.cms = Some(CmsSummary {
                    size: body.len() as u64,
                    certificates: sd.certificates,
                    signer: sd.signer,
                    ber_indefinite: sd.ber_indefinite,
                    signer_info: sd.signer_info,
                });
            }
        }
        _ => {}
    }
    Ok(())
}

/// Parses a CodeDirectory blob (header included); `at` is its offset in the slice.
pub fn code_directory(b: &[u8], at: u64) -> Result<CodeDirectory, Error> {
    let r = |o: usize, s: &'static str| be32(b, o, s, at);
    let version = r(8, "CodeDirectory.version")?;
    let flags = r(12, "CodeDirectory.flags")?;
    let hash_offset = r(16, "CodeDirectory.hashOffset")?;
    let ident_offset = r(20, "CodeDirectory.identOffset")?;
    let special_slots = r(24, "CodeDirectory.nSpecialSlots")?;
    let code_slots = r(28, "CodeDirectory.nCodeSlots")?;
    let code_limit = r(32, "CodeDirectory.codeLimit")?;
    let sizes = b.get(36..40).ok_or(Error::Truncated {
        structure: "CodeDirectory.hashSize",
        offset: at + 36,
    })?;
    let (hash_size, hash_type, page_size_log2) = (sizes[0], sizes[1], sizes[3]);
    let identifier = c_string(b, ident_offset as usize, "CodeDirectory.identOffset", at)?;
    let team_id = if version >= 0x20200 {
        let team_offset = r(48, "CodeDirectory.teamOffset")?;
        if team_offset == 0 {
            None
        } else {
            Some(c_string(
                b,
                team_offset as usize,
                "CodeDirectory.teamOffset",
                at,
            )?)
        }
    } else {
        None
    };
    let code_limit64 = if version >= 0x20300 {
        let hi = r(56, "CodeDirectory.codeLimit64")?;
        let lo = r(60, "CodeDirectory.codeLimit64")?;
        (u64::from(hi) << 32) | u64::from(lo)
    } else {
        0
    };
    // The hash table: nSpecialSlots hashes before hashOffset, nCodeSlots after it.
    let hs = u64::from(hash_size);
    let start = u64::from(hash_offset)
        .checked_sub(hs * u64::from(special_slots))
        .ok_or(Error::Malformed {
            structure: "CodeDirectory",
            offset: at + 16,
            detail: format!(
                "hashOffset {hash_offset} is smaller than {special_slots} special slots of {hash_size} bytes"
            ),
        })?;
    let end = u64::from(hash_offset) + hs * u64::from(code_slots);
    if start < 8 || end > b.len() as u64 {
        return Err(Error::Malformed {
            structure: "CodeDirectory",
            offset: at + 16,
            detail: format!(
                "hash slots [{start}, {end}) fall outside the {}-byte CodeDirectory",
                b.len()
            ),
        });
    }
    let digest = match hash_type {
        1 => sha1::Sha1::digest(b).to_vec(),
        _ => sha2::Sha256::digest(b).to_vec(),
    };
    Ok(CodeDirectory {
        slot: 0,
        version,
        flags,
        identifier,
        team_id,
        hash_type,
        hash_size,
        special_slots,
        code_slots,
        code_limit: if code_limit64 != 0 {
            code_limit64
        } else {
            u64::from(code_limit)
        },
        page_size_log2,
        cdhash: cms::hex(&digest[..digest.len().min(20)]),
    })
}

fn c_string(b: &[u8], off: usize, structure: &'static str, at: u64) -> Result<String, Error> {
    let tail = b
        .get(off..)
        .filter(|t| !t.is_empty())
        .ok_or(Error::Malformed {
            structure,
            offset: at,
            detail: format!(
                "offset {off} points past the {}-byte CodeDirectory",
                b.len()
            ),
        })?;
    let n = tail.iter().position(|&c| c == 0).ok_or(Error::Malformed {
        structure,
        offset: at + off as u64,
        detail: "string is not NUL-terminated inside the CodeDirectory".into(),
    })?;
    Ok(String::from_utf8_lossy(&tail[..n.min(1024)]).into_owned())
}

/// Builds a SuperBlob from `(slot, blob)` pairs (each blob with its own magic and length header).
///
/// Used by fixture builders and tests to write signatures without Apple's tools.
pub fn build_superblob(blobs: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let header = 12 + 8 * blobs.len();
    let total: usize = header + blobs.iter().map(|(_, b)| b.len()).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&CSMAGIC_EMBEDDED_SIGNATURE.to_be_bytes());
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(blobs.len() as u32).to_be_bytes());
    let mut off = header;
    for (slot, b) in blobs {
        out.extend_from_slice(&slot.to_be_bytes());
        out.extend_from_slice(&(off as u32).to_be_bytes());
        off += b.len();
    }
    for (_, b) in blobs {
        out.extend_from_slice(b);
    }
    out
}

/// Wraps `payload` in a blob with `magic`.
pub fn blob(magic: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&magic.to_be_bytes());
    out.extend_from_slice(&((payload.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Builds a version 0x20400 CodeDirectory over `code` (SHA-256 page hashes, 4 KiB pages), with the given
/// special-slot hashes (index 1 = slot -1, ...).
pub fn build_code_directory(
    identifier: &str,
    team_id: Option<&str>,
    flags: u32,
    code: &[u8],
    special: &[Option<[u8; 32]>],
) -> Vec<u8> {
    const HEADER: usize = 88; // through execSegFlags (version 0x20400)
    let ident_off = HEADER;
    let team_off = ident_off + identifier.len() + 1;
    let strings_end = team_off + team_id.map_or(0, |t| t.len() + 1);
    let n_special = special.len();
    let hash_off = strings_end + 32 * n_special;
    let pages = code.len().div_ceil(4096);
    let total = hash_off + 32 * pages;
    let mut b = Vec::with_capacity(total);
    let push = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_be_bytes());
    push(&mut b, CSMAGIC_CODEDIRECTORY);
    push(&mut b, total as u32);
    push(&mut b, 0x20400);
    push(&mut b, flags);
    push(&mut b, hash_off as u32);
    push(&mut b, ident_off as u32);
    push(&mut b, n_special as u32);
    push(&mut b, pages as u32);
    push(&mut b, code.len() as u32);
    b.extend_from_slice(&[32, 2, 0, 12]); // hashSize, hashType SHA-256, platform, pageSize 2^12
    push(&mut b, 0); // spare2
    push(&mut b, 0); // scatterOffset
    push(
        &mut b,
        if team_id.is_some() {
            team_off as u32
        } else {
            0
        },
    );
    push(&mut b, 0); // spare3
    b.extend_from_slice(&0u64.to_be_bytes()); // codeLimit64
    b.extend_from_slice(&0u64.to_be_bytes()); // execSegBase
    b.extend_from_slice(&0u64.to_be_bytes()); // execSegLimit
    b.extend_from_slice(&1u64.to_be_bytes()); // execSegFlags: main binary
    debug_assert_eq!(b.len(), HEADER);
    b.extend_from_slice(identifier.as_bytes());
    b.push(0);
    if let Some(t) = team_id {
        b.extend_from_slice(t.as_bytes());
        b.push(0);
    }
    // Special slots are stored in reverse: slot -n first, slot -1 last.
    for h in special.iter().rev() {
        b.extend_from_slice(&h.unwrap_or([0; 32]));
    }
    for page in code.chunks(4096) {
        b.extend_from_slice(&sha2::Sha256::digest(page));
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let cd = build_code_directory(
            "com.example.demo",
            Some("ABCDE12345"),
            0,
            &[7u8; 10000],
            &[None, None, None, None, None],
        );
        let ent = blob(CSMAGIC_EMBEDDED_ENTITLEMENTS, b"<plist/>");
        build_superblob(&[(0, cd), (5, ent), (0x10000, blob(CSMAGIC_BLOBWRAPPER, &[]))])
    }

    #[test]
    fn round_trip() {
        let sig = parse(&sample(), 0).unwrap();
        assert!(sig.problems.is_empty(), "{:?}", sig.problems);
        let cd = &sig.code_directories[0];
        assert_eq!(cd.identifier, "com.example.demo");
        assert_eq!(cd.team_id.as_deref(), Some("ABCDE12345"));
        assert_eq!(
            (cd.version, cd.hash_name(), cd.code_slots),
            (0x20400, "sha256", 3)
        );
        assert_eq!(sig.entitlements_xml.as_deref(), Some(&b"<plist/>"[..]));
        assert!(sig.cms.is_none());
    }

    #[test]
    fn bad_ident_offset_is_a_problem_with_offset() {
        let mut s = sample();
        // CodeDirectory at offset 12 + 3*8 = 36; identOffset at +20.
        s[56..60].copy_from_slice(&0x7fff_ff00u32.to_be_bytes());
        let sig = parse(&s, 1000).unwrap();
        assert!(sig.code_directories.is_empty());
        assert_eq!(sig.problems[0].0, "code_signature_blob_invalid");
        assert!(
            sig.problems[0].1.contains("identOffset"),
            "{:?}",
            sig.problems
        );
    }

    #[test]
    fn count_past_data_is_an_error() {
        let mut s = sample();
        for count in [4u32, 40, 1000] {
            s[8..12].copy_from_slice(&count.to_be_bytes());
            match parse(&s, 0) {
                Err(Error::Malformed {
                    structure, offset, ..
                }) => {
                    assert_eq!((structure, offset), ("SuperBlob", 8))
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
