//! Test helpers: temp dirs, external zip writers, a hand-rolled ZIP builder and an allocation tracker.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::write::DeflateEncoder;
use flate2::Compression;

// ---------- allocation tracking (per thread) ----------

/// Global allocator that tracks the current and peak live bytes of the calling thread.
pub(crate) struct Tracking;

thread_local! {
    static CURRENT: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn add(n: usize) {
    let _ = CURRENT.try_with(|c| {
        let v = c.get().saturating_add(n);
        c.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn sub(n: usize) {
    let _ = CURRENT.try_with(|c| c.set(c.get().saturating_sub(n)));
}

// SAFETY: every method forwards to the system allocator unchanged; the bookkeeping touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        sub(layout.size());
        add(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns its result with the peak number of bytes this thread allocated above the start level.
pub(crate) fn peak_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(Cell::get);
    (r, peak.saturating_sub(base))
}

// ---------- temp files and external tools ----------

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh, unique temp directory (removed on drop).
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("apk-zip-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a python3 script with `OUT` set to an output path and returns the bytes written there.
pub(crate) fn python_zip(script: &str) -> Vec<u8> {
    let dir = TempDir::new();
    let out = dir.0.join("out.zip");
    let status = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "OUT = {:?}\n{script}",
            out.to_str().expect("utf-8 path")
        ))
        .status()
        .expect("run python3");
    assert!(status.success(), "python3 failed");
    std::fs::read(&out).expect("read python output")
}

/// A small archive written by Python's zipfile: stored, deflated, a directory, UTF-8 and nested names.
pub(crate) fn small_python_zip() -> Vec<u8> {
    python_zip(
        r#"
import zipfile
with zipfile.ZipFile(OUT, "w") as z:
    z.writestr(zipfile.ZipInfo("AndroidManifest.xml"), b"\x03\x00\x08\x00" + b"manifest" * 20, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr("classes.dex", b"dex\n035\x00" + bytes(range(256)) * 8, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr("res/raw/stored.bin", b"stored bytes", compress_type=zipfile.ZIP_STORED)
    z.writestr("assets/", b"")
    z.writestr("assets/\u00e9t\u00e9.txt", "caf\u00e9".encode(), compress_type=zipfile.ZIP_DEFLATED)
    z.writestr("empty.txt", b"", compress_type=zipfile.ZIP_DEFLATED)
"#,
    )
}

// ---------- hand-rolled ZIP builder ----------

pub(crate) fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("deflate");
    e.finish().expect("deflate")
}

/// One entry of a hand-built archive; `lfh_*` fields override what goes into the local header only.
#[derive(Clone, Debug)]
pub(crate) struct RawEntry {
    pub name: Vec<u8>,
    pub method: u16,
    pub flags: u16,
    pub crc: u32,
    pub uncompressed_size: u32,
    /// The bytes as stored (already compressed when method is 8).
    pub payload: Vec<u8>,
    pub lfh_name: Option<Vec<u8>>,
    pub lfh_method: Option<u16>,
    pub lfh_flags: Option<u16>,
    pub lfh_crc: Option<u32>,
    pub lfh_extra: Vec<u8>,
    pub cd_extra: Vec<u8>,
    /// Written right after the payload (e.g. a data descriptor).
    pub trailer: Vec<u8>,
    /// Point the CD record at another entry's local header (index into the builder's entries).
    pub share_lfh_of: Option<usize>,
}

impl RawEntry {
    pub(crate) fn stored(name: &str, data: &[u8]) -> Self {
        RawEntry {
            name: name.as_bytes().to_vec(),
            method: 0,
            flags: 0,
            crc: crc32fast::hash(data),
            uncompressed_size: data.len() as u32,
            payload: data.to_vec(),
            lfh_name: None,
            lfh_method: None,
            lfh_flags: None,
            lfh_crc: None,
            lfh_extra: Vec::new(),
            cd_extra: Vec::new(),
            trailer: Vec::new(),
            share_lfh_of: None,
        }
    }

    pub(crate) fn deflated(name: &str, data: &[u8]) -> Self {
        let mut e = Self::stored(name, data);
        e.method = 8;
        e.payload = deflate(data);
        e
    }

    pub(crate) fn raw_name(mut self, name: &[u8]) -> Self {
        self.name = name.to_vec();
        self
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ZipBuilder {
    pub prefix: Vec<u8>,
    pub entries: Vec<RawEntry>,
    /// Bytes between the last entry and the central directory (e.g. a fake signing block).
    pub before_cd: Vec<u8>,
    /// Bytes between the central directory and the EOCD.
    pub after_cd: Vec<u8>,
    pub comment: Vec<u8>,
    pub eocd_count: Option<u16>,
    pub eocd_disk: u16,
    /// Write 0xFFFFFFFF sizes/offsets with ZIP64 extras, and a ZIP64 end record + locator.
    pub zip64: bool,
}

fn p16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn p32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn p64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

impl ZipBuilder {
    pub(crate) fn new(entries: Vec<RawEntry>) -> Self {
        ZipBuilder {
            entries,
            ..Default::default()
        }
    }

    pub(crate) fn build(&self) -> Vec<u8> {
        let mut out = self.prefix.clone();
        let mut offsets = Vec::new();
        for e in &self.entries {
            offsets.push(out.len() as u64);
            if e.share_lfh_of.is_some() {
                continue;
            }
            let lname = e.lfh_name.as_ref().unwrap_or(&e.name);
            p32(&mut out, 0x0403_4b50);
            p16(&mut out, 20);
            p16(&mut out, e.lfh_flags.unwrap_or(e.flags));
            p16(&mut out, e.lfh_method.unwrap_or(e.method));
            p16(&mut out, 0);
            p16(&mut out, 0x21);
            let dd = e.flags & 8 != 0;
            p32(&mut out, if dd { 0 } else { e.lfh_crc.unwrap_or(e.crc) });
            p32(&mut out, if dd { 0 } else { e.payload.len() as u32 });
            p32(&mut out, if dd { 0 } else { e.uncompressed_size });
            p16(&mut out, lname.len() as u16);
            p16(&mut out, e.lfh_extra.len() as u16);
            out.extend_from_slice(lname);
            out.extend_from_slice(&e.lfh_extra);
            out.extend_from_slice(&e.payload);
            out.extend_from_slice(&e.trailer);
        }
        out.extend_from_slice(&self.before_cd);
        let cd_start = out.len() as u64;
        for (i, e) in self.entries.iter().enumerate() {
            let lfh_off = match e.share_lfh_of {
                Some(j) => offsets[j],
                None => offsets[i],
            };
            let mut extra = e.cd_extra.clone();
            p32(&mut out, 0x0201_4b50);
            p16(&mut out, 0x031e);
            p16(&mut out, 20);
            p16(&mut out, e.flags);
            p16(&mut out, e.method);
            p16(&mut out, 0);
            p16(&mut out, 0x21);
            p32(&mut out, e.crc);
            if self.zip64 {
                let mut z = Vec::new();
                p64(&mut z, u64::from(e.uncompressed_size));
                p64(&mut z, e.payload.len() as u64);
                p64(&mut z, lfh_off);
                let mut x = Vec::new();
                p16(&mut x, 1);
                p16(&mut x, z.len() as u16);
                x.extend_from_slice(&z);
                x.extend_from_slice(&extra);
                extra = x;
                p32(&mut out, u32::MAX);
                p32(&mut out, u32::MAX);
            } else {
                p32(&mut out, e.payload.len() as u32);
                p32(&mut out, e.uncompressed_size);
            }
            p16(&mut out, e.name.len() as u16);
            p16(&mut out, extra.len() as u16);
            p16(&mut out, 0);
            p16(&mut out, 0);
            p16(&mut out, 0);
            p32(&mut out, 0);
            p32(&mut out, if self.zip64 { u32::MAX } else { lfh_off as u32 });
            out.extend_from_slice(&e.name);
            out.extend_from_slice(&extra);
        }
        let cd_size = out.len() as u64 - cd_start;
        out.extend_from_slice(&self.after_cd);
        let count = self.entries.len() as u64;
        if self.zip64 {
            let z_off = out.len() as u64;
            p32(&mut out, 0x0606_4b50);
            p64(&mut out, 44);
            p16(&mut out, 45);
            p16(&mut out, 45);
            p32(&mut out, 0);
            p32(&mut out, 0);
            p64(&mut out, count);
            p64(&mut out, count);
            p64(&mut out, cd_size);
            p64(&mut out, cd_start);
            p32(&mut out, 0x0706_4b50);
            p32(&mut out, 0);
            p64(&mut out, z_off);
            p32(&mut out, 1);
        }
        p32(&mut out, 0x0605_4b50);
        p16(&mut out, self.eocd_disk);
        p16(&mut out, self.eocd_disk);
        let c16 = if self.zip64 {
            0xFFFF
        } else {
            self.eocd_count.unwrap_or(count as u16)
        };
        p16(&mut out, c16);
        p16(&mut out, c16);
        p32(&mut out, if self.zip64 { u32::MAX } else { cd_size as u32 });
        p32(
            &mut out,
            if self.zip64 {
                u32::MAX
            } else {
                cd_start as u32
            },
        );
        p16(&mut out, self.comment.len() as u16);
        out.extend_from_slice(&self.comment);
        out
    }
}
