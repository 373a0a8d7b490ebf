//! Mach-O executables as iOS ships them: thin or fat (universal), 32- or 64-bit, read with the `object`
//! crate's spec-named structures, plus Apple's code signature ([`codesign`]) and the CMS it carries ([`cms`]).
//!
//! [`parse`] takes bytes and [`Limits`] and returns a [`MachO`] with one [`Slice`] per architecture, or an
//! [`Error`] naming the structure and byte offset. It does no I/O, never panics, and allocates nothing from an
//! untrusted count without a bound. Oddities that do not stop the reading (a slice past the end of the file,
//! load commands overlapping section data, a broken signature blob) become [`Anomaly`] values.

#![forbid(unsafe_code)]

pub mod ber;
pub mod cms;
pub mod codesign;
pub mod der_plist;
pub mod trust;

use object::macho;
use object::read::macho::{FatArch, LoadCommandVariant, MachHeader, Nlist, Section, Segment};
use object::Endianness;

/// Why a Mach-O (or a blob inside it) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data ends inside a structure.
    #[error("{structure} at offset {offset} is truncated")]
    Truncated {
        /// Spec name of the structure.
        structure: &'static str,
        /// Byte offset.
        offset: u64,
    },
    /// A structure's fields are inconsistent.
    #[error("{structure} at offset {offset}: {detail}")]
    Malformed {
        /// Spec name of the structure.
        structure: &'static str,
        /// Byte offset.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The magic number is not a Mach-O one.
    #[error("not a Mach-O file: magic 0x{magic:08x} at offset {offset} (expected 0xfeedfacf, 0xfeedface or fat 0xcafebabe)")]
    NotMachO {
        /// The magic read.
        magic: u32,
        /// Byte offset.
        offset: u64,
    },
    /// A configured limit was exceeded.
    #[error("{what} exceeds the limit of {limit}")]
    Limit {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
}

/// Bounds on what is kept from one Mach-O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fat architectures read (default 16).
    pub max_slices: usize,
    /// Imported symbols kept per slice (default 20,000).
    pub max_imports: usize,
    /// C strings kept per slice (default 50,000).
    pub max_cstrings: usize,
    /// Bytes of `__cstring` scanned per slice (default 64 MiB).
    pub max_cstring_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_slices: 16,
            max_imports: 20_000,
            max_cstrings: 50_000,
            max_cstring_bytes: 64 << 20,
        }
    }
}

/// A non-fatal oddity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// Stable snake_case code.
    pub code: &'static str,
    /// What was seen.
    pub detail: String,
    /// Byte offset in the file.
    pub offset: Option<u64>,
}

/// A parsed Mach-O file.
#[derive(Debug, Clone, Default)]
pub struct MachO {
    /// Whether the file is a fat (universal) binary.
    pub fat: bool,
    /// One entry per architecture read.
    pub slices: Vec<Slice>,
    /// Oddities, with file offsets.
    pub anomalies: Vec<Anomaly>,
}

/// How a library is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DylibKind {
    /// `LC_LOAD_DYLIB`.
    Load,
    /// `LC_LOAD_WEAK_DYLIB`.
    Weak,
    /// `LC_REEXPORT_DYLIB`.
    Reexport,
    /// `LC_LAZY_LOAD_DYLIB`.
    Lazy,
    /// `LC_LOAD_UPWARD_DYLIB`.
    Upward,
}

impl DylibKind {
    /// `load`, `weak`, `reexport`, `lazy` or `upward`.
    pub fn as_str(self) -> &'static str {
        match self {
            DylibKind::Load => "load",
            DylibKind::Weak => "weak",
            DylibKind::Reexport => "reexport",
            DylibKind::Lazy => "lazy",
            DylibKind::Upward => "upward",
        }
    }
}

/// A linked library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dylib {
    /// Install name (`/System/Library/Frameworks/AdSupport.framework/AdSupport`, `@rpath/X.framework/X`).
    pub name: String,
    /// How it is linked.
    pub kind: DylibKind,
}

/// `LC_ENCRYPTION_INFO(_64)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encryption {
    /// `cryptoff`.
    pub cryptoff: u32,
    /// `cryptsize`.
    pub cryptsize: u32,
    /// `cryptid`: 0 plain, non-zero FairPlay-encrypted.
    pub cryptid: u32,
}

/// One architecture.
#[derive(Debug, Clone, Default)]
pub struct Slice {
    /// Offset of the slice in the file (0 for a thin file).
    pub offset: u64,
    /// Size of the slice.
    pub size: u64,
    /// `arm64`, `arm64e`, `armv7`, `x86_64`, `i386` or `cpu-0x...`.
    pub arch: String,
    /// `filetype` (2 execute, 6 dylib, 8 bundle).
    pub file_type: u32,
    /// `LC_BUILD_VERSION` platform (2 iOS, 7 iOS simulator, ...), or 2 for `LC_VERSION_MIN_IPHONEOS`.
    pub platform: Option<u32>,
    /// Minimum OS, `x.y.z`.
    pub min_os: Option<String>,
    /// SDK, `x.y.z`.
    pub sdk: Option<String>,
    /// Linked libraries in load order.
    pub dylibs: Vec<Dylib>,
    /// `LC_ID_DYLIB` install name.
    pub id_dylib: Option<String>,
    /// `LC_RPATH` entries.
    pub rpaths: Vec<String>,
    /// `LC_UUID`, lowercase hex with dashes.
    pub uuid: Option<String>,
    /// `LC_ENCRYPTION_INFO(_64)`.
    pub encryption: Option<Encryption>,
    /// Undefined external symbols (imports) from the symbol table, sorted, deduplicated, bounded.
    pub imports: Vec<String>,
    /// Whether imports were cut at [`Limits::max_imports`].
    pub imports_truncated: bool,
    /// Printable C strings of `__TEXT,__cstring` (empty when the range is encrypted), bounded.
    pub cstrings: Vec<String>,
    /// Whether `__cstring` lies in the encrypted range and was not read.
    pub cstrings_encrypted: bool,
    /// `(dataoff, datasize)` of `LC_CODE_SIGNATURE`, relative to the slice.
    pub code_signature_range: Option<(u32, u32)>,
    /// The parsed code signature.
    pub code_signature: Option<codesign::CodeSignature>,
    /// Why the code signature could not be read.
    pub code_signature_error: Option<Error>,
    /// Number of load commands.
    pub load_commands: u32,
}

impl Slice {
    /// Whether `cryptid` is non-zero.
    pub fn encrypted(&self) -> bool {
        self.encryption.is_some_and(|e| e.cryptid != 0)
    }

    /// Objective-C classes the slice imports (from `_OBJC_CLASS_$_Name` symbols).
    pub fn objc_classes(&self) -> impl Iterator<Item = &str> {
        self.imports
            .iter()
            .filter_map(|s| s.strip_prefix("_OBJC_CLASS_$_"))
    }
}

/// Names a CPU type the way `lipo` does.
pub fn arch_name(cputype: u32, cpusubtype: u32) -> String {
    let sub = cpusubtype & 0x00ff_ffff;
    match cputype {
        macho::CPU_TYPE_ARM64 if sub == 2 => "arm64e".into(),
        macho::CPU_TYPE_ARM64 => "arm64".into(),
        macho::CPU_TYPE_ARM64_32 => "arm64_32".into(),
        macho::CPU_TYPE_ARM if sub == 11 => "armv7s".into(),
        macho::CPU_TYPE_ARM if sub == 9 => "armv7".into(),
        macho::CPU_TYPE_ARM => "arm".into(),
        macho::CPU_TYPE_X86_64 => "x86_64".into(),
        macho::CPU_TYPE_X86 => "i386".into(),
        other => format!("cpu-0x{other:x}"),
    }
}

fn version(v: u32) -> String {
    format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}

/// Whether `data` starts with a Mach-O or fat magic.
pub fn is_macho(data: &[u8]) -> bool {
    data.get(..4).is_some_and(|m| {
        let be = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
        matches!(
            be,
            macho::FAT_MAGIC
                | macho::FAT_MAGIC_64
                | macho::MH_MAGIC
                | macho::MH_CIGAM
                | macho::MH_MAGIC_64
                | macho::MH_CIGAM_64
        )
    })
}

/// Parses a thin or fat Mach-O.
pub fn parse(data: &[u8], limits: &Limits) -> Result<MachO, Error> {
    let magic = data
        .get(..4)
        .map(|m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]))
        .ok_or(Error::Truncated {
            structure: "mach_header",
            offset: 0,
        })?;
    let mut out = MachO::default();
    match magic {
        macho::FAT_MAGIC | macho::FAT_MAGIC_64 => {
            out.fat = true;
            let arches: Vec<(u32, u32, u64, u64)> = if magic == macho::FAT_MAGIC {
                let f = object::read::macho::MachOFatFile32::parse(data)
                    .map_err(|_| fat_error(data))?;
                f.arches()
                    .iter()
                    .map(|x| {
                        (
                            x.cputype(),
                            x.cpusubtype(),
                            x.offset().into(),
                            x.size().into(),
                        )
                    })
                    .collect()
            } else {
                let f = object::read::macho::MachOFatFile64::parse(data)
                    .map_err(|_| fat_error(data))?;
                f.arches()
                    .iter()
                    .map(|x| (x.cputype(), x.cpusubtype(), x.offset(), x.size()))
                    .collect()
            };
            if arches.len() > limits.max_slices {
                return Err(Error::Limit {
                    what: "fat architectures",
                    limit: limits.max_slices as u64,
                });
            }
            for (i, (cpu, sub, off, size)) in arches.into_iter().enumerate() {
                let end = off.checked_add(size);
                let Some(slice_data) = end
                    .filter(|&e| e <= data.len() as u64)
                    .and_then(|e| data.get(off as usize..e as usize))
                else {
                    out.anomalies.push(Anomaly {
                        code: "fat_slice_out_of_bounds",
                        detail: format!(
                            "fat_arch {i} ({}) claims [{off}, {off}+{size}) but the file has {} bytes; the slice is skipped",
                            arch_name(cpu, sub),
                            data.len()
                        ),
                        offset: Some(8 + 20 * i as u64),
                    });
                    continue;
                };
                match parse_thin(slice_data, off, limits, &mut out.anomalies) {
                    Ok(mut s) => {
                        s.size = size;
                        out.slices.push(s);
                    }
                    Err(e) => out.anomalies.push(Anomaly {
                        code: "fat_slice_unreadable",
                        detail: format!("fat_arch {i} ({}): {e}", arch_name(cpu, sub)),
                        offset: Some(off),
                    }),
                }
            }
            if out.slices.is_empty() {
                return Err(Error::Malformed {
                    structure: "fat_header",
                    offset: 0,
                    detail: "no readable architecture slice".into(),
                });
            }
        }
        _ => {
            let mut s = parse_thin(data, 0, limits, &mut out.anomalies)?;
            s.size = data.len() as u64;
            out.slices.push(s);
        }
    }
    Ok(out)
}

fn fat_error(data: &[u8]) -> Error {
    let n = data
        .get(4..8)
        .map(|m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]))
        .unwrap_or(0);
    Error::Malformed {
        structure: "fat_header",
        offset: 4,
        detail: format!(
            "nfat_arch {n} does not fit in the {} bytes of the file",
            data.len()
        ),
    }
}

fn parse_thin(
    data: &[u8],
    base: u64,
    limits: &Limits,
    anomalies: &mut Vec<Anomaly>,
) -> Result<Slice, Error> {
    let magic = data
        .get(..4)
        .map(|m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]))
        .ok_or(Error::Truncated {
            structure: "mach_header",
            offset: base,
        })?;
    match magic {
        macho::MH_MAGIC_64 | macho::MH_CIGAM_64 => {
            thin::<macho::MachHeader64<Endianness>>(data, base, limits, anomalies)
        }
        macho::MH_MAGIC | macho::MH_CIGAM => {
            thin::<macho::MachHeader32<Endianness>>(data, base, limits, anomalies)
        }
        other => Err(Error::NotMachO {
            magic: other,
            offset: base,
        }),
    }
}

fn thin<Mach: MachHeader<Endian = Endianness>>(
    data: &[u8],
    base: u64,
    limits: &Limits,
    anomalies: &mut Vec<Anomaly>,
) -> Result<Slice, Error> {
    let header = Mach::parse(data, 0).map_err(|_| Error::Truncated {
        structure: "mach_header",
        offset: base,
    })?;
    let endian = header.endian().map_err(|_| Error::Malformed {
        structure: "mach_header",
        offset: base,
        detail: "unknown byte order".into(),
    })?;
    let mut s = Slice {
        offset: base,
        arch: arch_name(header.cputype(endian), header.cpusubtype(endian)),
        file_type: header.filetype(endian),
        load_commands: header.ncmds(endian),
        ..Default::default()
    };
    let header_size = std::mem::size_of::<Mach>() as u64;
    let cmds_end = header_size + u64::from(header.sizeofcmds(endian));
    let mut iter = header
        .load_commands(endian, data, 0)
        .map_err(|_| Error::Malformed {
            structure: "load_command",
            offset: base + header_size,
            detail: format!(
                "sizeofcmds {} runs past the {}-byte slice",
                header.sizeofcmds(endian),
                data.len()
            ),
        })?;
    let mut cmd_off = header_size;
    let mut first_section_off: Option<u64> = None;
    let mut cstring: Option<(u64, u64)> = None;
    let mut segments: Vec<(u64, u64, String)> = Vec::new();
    let mut symtab = None;
    loop {
        let cmd = match iter.next() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(_) => {
                anomalies.push(Anomaly {
                    code: "load_command_invalid",
                    detail: format!(
                        "load command at offset {cmd_off} has a cmdsize below 8 or past sizeofcmds; later commands are not read"
                    ),
                    offset: Some(base + cmd_off),
                });
                break;
            }
        };
        let this_off = cmd_off;
        cmd_off += u64::from(cmd.cmdsize());
        let Ok(variant) = cmd.variant() else {
            anomalies.push(Anomaly {
                code: "load_command_invalid",
                detail: format!(
                    "load command 0x{:x} at offset {this_off} is too small for its type",
                    cmd.cmd()
                ),
                offset: Some(base + this_off),
            });
            continue;
        };
        match variant {
            LoadCommandVariant::Dylib(d) | LoadCommandVariant::IdDylib(d) => {
                let name = cmd
                    .string(endian, d.dylib.name)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                let kind = match cmd.cmd() {
                    macho::LC_ID_DYLIB => {
                        s.id_dylib = Some(name);
                        continue;
                    }
                    macho::LC_LOAD_WEAK_DYLIB => DylibKind::Weak,
                    macho::LC_REEXPORT_DYLIB => DylibKind::Reexport,
                    macho::LC_LAZY_LOAD_DYLIB => DylibKind::Lazy,
                    macho::LC_LOAD_UPWARD_DYLIB => DylibKind::Upward,
                    _ => DylibKind::Load,
                };
                if s.dylibs.len() < 4096 {
                    s.dylibs.push(Dylib { name, kind });
                }
            }
            LoadCommandVariant::Rpath(r) => {
                if let Ok(p) = cmd.string(endian, r.path) {
                    if s.rpaths.len() < 256 {
                        s.rpaths.push(String::from_utf8_lossy(p).into_owned());
                    }
                }
            }
            LoadCommandVariant::Uuid(u) => {
                let h = cms::hex(&u.uuid);
                s.uuid = Some(format!(
                    "{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                ));
            }
            LoadCommandVariant::EncryptionInfo32(e) => {
                s.encryption = Some(Encryption {
                    cryptoff: e.cryptoff.get(endian),
                    cryptsize: e.cryptsize.get(endian),
                    cryptid: e.cryptid.get(endian),
                })
            }
            LoadCommandVariant::EncryptionInfo64(e) => {
                s.encryption = Some(Encryption {
                    cryptoff: e.cryptoff.get(endian),
                    cryptsize: e.cryptsize.get(endian),
                    cryptid: e.cryptid.get(endian),
                })
            }
            LoadCommandVariant::BuildVersion(b) => {
                s.platform = Some(b.platform.get(endian));
                s.min_os = Some(version(b.minos.get(endian)));
                s.sdk = Some(version(b.sdk.get(endian)));
            }
            LoadCommandVariant::VersionMin(v) if s.platform.is_none() => {
                if cmd.cmd() == macho::LC_VERSION_MIN_IPHONEOS {
                    s.platform = Some(macho::PLATFORM_IOS);
                }
                s.min_os = Some(version(v.version.get(endian)));
                s.sdk = Some(version(v.sdk.get(endian)));
            }
            LoadCommandVariant::LinkeditData(l) if cmd.cmd() == macho::LC_CODE_SIGNATURE => {
                s.code_signature_range = Some((l.dataoff.get(endian), l.datasize.get(endian)));
            }
            LoadCommandVariant::Symtab(st) => symtab = Some(*st),
            LoadCommandVariant::Segment32(seg, sect_data) => {
                segment::<Mach>(
                    seg,
                    sect_data,
                    endian,
                    &mut segments,
                    &mut first_section_off,
                    &mut cstring,
                );
            }
            LoadCommandVariant::Segment64(seg, sect_data) => {
                segment::<Mach>(
                    seg,
                    sect_data,
                    endian,
                    &mut segments,
                    &mut first_section_off,
                    &mut cstring,
                );
            }
            _ => {}
        }
    }
    if let Some(first) = first_section_off.filter(|&f| f < cmds_end) {
        anomalies.push(Anomaly {
            code: "load_commands_overlap_sections",
            detail: format!(
                "load commands end at offset {cmds_end} but section data starts at {first}"
            ),
            offset: Some(base + first),
        });
    }
    segments.sort();
    for w in segments.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if a.1 > 0 && b.1 > 0 && a.0 + a.1 > b.0 {
            anomalies.push(Anomaly {
                code: "segments_overlap",
                detail: format!(
                    "segment {} [{}, {}) overlaps segment {} at {}",
                    a.2,
                    a.0,
                    a.0 + a.1,
                    b.2,
                    b.0
                ),
                offset: Some(base + b.0),
            });
        }
    }
    for (off, size, name) in &segments {
        if off.saturating_add(*size) > data.len() as u64 {
            anomalies.push(Anomaly {
                code: "segment_out_of_bounds",
                detail: format!(
                    "segment {name} [{off}, {}) runs past the {}-byte slice",
                    off.saturating_add(*size),
                    data.len()
                ),
                offset: Some(base + off),
            });
        }
    }

    // Imports: undefined external symbols.
    if let Some(st) = symtab {
        match st.symbols::<Mach, _>(endian, data) {
            Ok(table) => {
                let strings = table.strings();
                let mut seen = std::collections::BTreeSet::new();
                for n in table.iter() {
                    if n.n_type() & macho::N_STAB != 0 || n.n_type() & macho::N_EXT == 0 {
                        continue;
                    }
                    if n.n_type() & macho::N_TYPE != macho::N_UNDF {
                        continue;
                    }
                    if let Ok(name) = n.name(endian, strings) {
                        if seen.len() >= limits.max_imports {
                            s.imports_truncated = true;
                            break;
                        }
                        seen.insert(String::from_utf8_lossy(name).into_owned());
                    }
                }
                s.imports = seen.into_iter().collect();
            }
            Err(_) => anomalies.push(Anomaly {
                code: "symtab_out_of_bounds",
                detail: format!(
                    "LC_SYMTAB symoff {} nsyms {} stroff {} strsize {} run past the {}-byte slice",
                    st.symoff.get(endian),
                    st.nsyms.get(endian),
                    st.stroff.get(endian),
                    st.strsize.get(endian),
                    data.len()
                ),
                offset: Some(base),
            }),
        }
    }

    // C strings, unless they lie in the encrypted range.
    if let Some((off, size)) = cstring {
        let enc = s.encryption.filter(|e| e.cryptid != 0);
        let in_crypt = enc.is_some_and(|e| {
            let (cs, ce) = (
                u64::from(e.cryptoff),
                u64::from(e.cryptoff) + u64::from(e.cryptsize),
            );
            off < ce && off + size > cs
        });
        if in_crypt {
            s.cstrings_encrypted = true;
        } else if let Some(bytes) = off
            .checked_add(size)
            .filter(|&e| e <= data.len() as u64)
            .and_then(|e| data.get(off as usize..e as usize))
        {
            let bytes = &bytes[..bytes.len().min(limits.max_cstring_bytes)];
            for piece in bytes.split(|&b| b == 0) {
                if s.cstrings.len() >= limits.max_cstrings {
                    break;
                }
                if piece.len() >= 4 {
                    if let Ok(t) = std::str::from_utf8(piece) {
                        s.cstrings.push(t.to_owned());
                    }
                }
            }
        }
    }

    // Code signature.
    if let Some((off, size)) = s.code_signature_range {
        let end = u64::from(off) + u64::from(size);
        match data.get(off as usize..end as usize) {
            Some(bytes) if end <= data.len() as u64 => {
                match codesign::parse(bytes, base + u64::from(off)) {
                    Ok(sig) => s.code_signature = Some(sig),
                    Err(e) => s.code_signature_error = Some(e),
                }
            }
            _ => {
                s.code_signature_error = Some(Error::Malformed {
                    structure: "LC_CODE_SIGNATURE",
                    offset: base + u64::from(off),
                    detail: format!("[{off}, {end}) runs past the {}-byte slice", data.len()),
                })
            }
        }
    }
    Ok(s)
}

fn segment<Mach: MachHeader<Endian = Endianness>>(
    seg: &impl Segment<Endian = Endianness>,
    sect_data: &[u8],
    endian: Endianness,
    segments: &mut Vec<(u64, u64, String)>,
    first_section_off: &mut Option<u64>,
    cstring: &mut Option<(u64, u64)>,
) {
    let (fileoff, filesize) = seg.file_range(endian);
    let name = String::from_utf8_lossy(seg.name()).into_owned();
    if segments.len() < 256 {
        segments.push((fileoff, filesize, name.clone()));
    }
    if let Ok(sections) = seg.sections(endian, sect_data) {
        for sec in sections {
            let off = u64::from(sec.offset(endian));
            let zerofill = matches!(
                sec.flags(endian) & macho::SECTION_TYPE,
                macho::S_ZEROFILL | macho::S_GB_ZEROFILL | macho::S_THREAD_LOCAL_ZEROFILL
            );
            if off != 0 && !zerofill && sec.size(endian).into() > 0 {
                *first_section_off = Some(first_section_off.map_or(off, |f: u64| f.min(off)));
            }
            if sec.name() == b"__cstring" && name == "__TEXT" {
                *cstring = Some((off, sec.size(endian).into()));
            }
        }
    }
    let _ = std::marker::PhantomData::<Mach>;
}
