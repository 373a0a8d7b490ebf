//! Zip bombs and the inflation limits.

use std::io::Write;
use std::sync::OnceLock;

use apk_zip::{Archive, Limits, ZipError};
use flate2::write::DeflateEncoder;
use flate2::Compression;

use crate::util::{peak_alloc, RawEntry, ZipBuilder};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// 1 GiB of zeros, raw-deflated (about 1 MB), built once by streaming into the encoder.
fn gib_of_zeros_deflated() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| {
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
        let chunk = vec![0u8; MIB as usize];
        for _ in 0..GIB / MIB {
            enc.write_all(&chunk).expect("deflate");
        }
        enc.finish().expect("deflate")
    })
}

fn bomb_zip(declared: u32) -> Vec<u8> {
    let mut e = RawEntry::stored("classes.dex", b"");
    e.method = 8;
    e.payload = gib_of_zeros_deflated().to_vec();
    e.uncompressed_size = declared;
    e.crc = 0;
    ZipBuilder::new(vec![e]).build()
}

#[test]
fn honest_bomb_rejected_by_declared_size_without_inflating() {
    let data = bomb_zip(GIB as u32);
    assert!(
        data.len() < 2 * MIB as usize,
        "compressed form is small: {}",
        data.len()
    );
    let a = Archive::parse(&data, Limits::default()).expect("parse");
    let (r, peak) = peak_alloc(|| a.read(&a.entries()[0]));
    match r {
        Err(ZipError::EntryTooLarge { name, limit }) => {
            assert_eq!(name, "classes.dex");
            assert_eq!(limit, 512 * MIB);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.inflated_total(), 0);
    assert!(peak < MIB as usize, "peak allocation {peak}");
}

#[test]
fn lying_bomb_rejected_by_entry_size_limit() {
    // Declares 1 KiB; the real output is stopped at the per-entry limit.
    let data = bomb_zip(1024);
    let limits = Limits {
        max_entry_size: 32 * MIB,
        ..Limits::default()
    };
    let a = Archive::parse(&data, limits).expect("parse");
    let (r, peak) = peak_alloc(|| a.read(&a.entries()[0]));
    assert!(
        matches!(r, Err(ZipError::EntryTooLarge { limit, .. }) if limit == 32 * MIB),
        "{r:?}"
    );
    assert!(
        peak < 2 * 32 * MIB as usize + 4 * MIB as usize,
        "peak allocation {peak}"
    );
    let msg = r.expect_err("err").to_string();
    assert!(msg.contains("--max-entry-size"), "{msg}");
}

#[test]
fn lying_bomb_rejected_by_ratio_limit() {
    let data = bomb_zip(1024);
    let limits = Limits {
        max_ratio: 20,
        ..Limits::default()
    };
    let a = Archive::parse(&data, limits).expect("parse");
    let (r, peak) = peak_alloc(|| a.read(&a.entries()[0]));
    match r {
        Err(ZipError::CompressionRatioExceeded { ratio, limit, .. }) => {
            assert_eq!(limit, 20);
            assert!(ratio >= 20, "{ratio}");
        }
        other => panic!("{other:?}"),
    }
    // The buffer never grows past compressed size * 20 (about 20 MiB) plus slack.
    assert!(peak < 64 * MIB as usize, "peak allocation {peak}");
}

#[test]
fn default_limits_stop_the_lying_bomb_at_the_entry_limit() {
    let data = bomb_zip(1024);
    let a = Archive::parse(&data, Limits::default()).expect("parse");
    let (r, peak) = peak_alloc(|| a.read(&a.entries()[0]));
    assert!(matches!(r, Err(ZipError::EntryTooLarge { .. })), "{r:?}");
    assert!(
        peak <= 512 * MIB as usize + MIB as usize,
        "peak allocation {peak}"
    );
}

#[test]
fn small_highly_compressible_entries_are_fine() {
    // 1 MiB of zeros is ~1000:1 but below the ratio floor.
    let zeros = vec![0u8; (MIB) as usize];
    let data = ZipBuilder::new(vec![RawEntry::deflated("res/raw/zeros", &zeros)]).build();
    let limits = Limits {
        max_ratio: 2,
        ..Limits::default()
    };
    let a = Archive::parse(&data, limits).expect("parse");
    assert_eq!(a.read(&a.entries()[0]).expect("read").len(), MIB as usize);
}

#[test]
fn total_budget_is_shared_across_reads() {
    let body: Vec<u8> = (0..4 * MIB).map(|i| (i * 7 % 251) as u8).collect();
    let entries = (0..3)
        .map(|i| RawEntry::deflated(&format!("f{i}"), &body))
        .collect();
    let data = ZipBuilder::new(entries).build();
    let limits = Limits {
        max_total_inflated: 10 * MIB,
        ..Limits::default()
    };
    let a = Archive::parse(&data, limits).expect("parse");
    assert_eq!(a.read(&a.entries()[0]).expect("first").len(), body.len());
    assert_eq!(a.read(&a.entries()[1]).expect("second").len(), body.len());
    let err = a.read(&a.entries()[2]).expect_err("budget");
    assert_eq!(err, ZipError::TotalSizeExceeded { limit: 10 * MIB });
    assert!(err.to_string().contains("--max-total-size"));
    assert!(a.inflated_total() > 10 * MIB);
    // Stored entries are zero-copy and do not count.
    let stored = ZipBuilder::new(vec![RawEntry::stored("s", &body)]).build();
    let s = Archive::parse(&stored, limits).expect("parse");
    for _ in 0..5 {
        s.read(&s.entries()[0]).expect("stored read");
    }
    assert_eq!(s.inflated_total(), 0);
}

#[test]
fn defaults_are_documented_values() {
    let l = Limits::default();
    assert_eq!(l.max_entries, 100_000);
    assert_eq!(l.max_entry_size, 512 * MIB);
    assert_eq!(l.max_total_inflated, 2 * GIB);
    assert_eq!(l.max_ratio, 1000);
    assert_eq!(apk_zip::RATIO_CHECK_FLOOR, MIB);
}
