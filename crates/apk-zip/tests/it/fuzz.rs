//! Truncation and mutation fuzzing: parse and read must never panic.

use std::sync::OnceLock;

use apk_zip::{Archive, Limits};
use proptest::prelude::*;

use crate::util::{small_python_zip, RawEntry, ZipBuilder};

fn small_limits() -> Limits {
    Limits {
        max_entries: 1000,
        max_entry_size: 4 << 20,
        max_total_inflated: 16 << 20,
        max_ratio: 1000,
    }
}

/// Parses and reads everything; only the absence of panics matters.
fn exercise(data: &[u8]) {
    if let Ok(a) = Archive::parse(data, small_limits()) {
        for e in a.entries() {
            let _ = a.raw_data(e);
            if let Ok(body) = a.read(e) {
                assert!(body.len() as u64 <= small_limits().max_entry_size.max(e.compressed_size));
            }
            let _ = e.name_lossy();
        }
        let _ = a.find("AndroidManifest.xml");
        let _ = a.read_anomalies();
        for x in a.anomalies() {
            let _ = x.to_string();
        }
    }
}

/// Seed archives, built once (one needs a python3 subprocess).
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(build_corpus)
}

fn build_corpus() -> Vec<Vec<u8>> {
    let mut zip64 = ZipBuilder::new(vec![
        RawEntry::deflated("classes.dex", &b"dex\n035\0".repeat(30)),
        RawEntry::stored("a", b"stored"),
    ]);
    zip64.zip64 = true;
    let mut dd = RawEntry::deflated("dd", b"descriptor");
    dd.flags = 8;
    let mut t = b"PK\x07\x08".to_vec();
    t.extend_from_slice(&dd.crc.to_le_bytes());
    t.extend_from_slice(&(dd.payload.len() as u32).to_le_bytes());
    t.extend_from_slice(&dd.uncompressed_size.to_le_bytes());
    dd.trailer = t;
    let mut commented = ZipBuilder::new(vec![dd, RawEntry::stored("b", b"bbb")]);
    commented.comment = b"comment PK\x05\x06 inside".to_vec();
    vec![small_python_zip(), zip64.build(), commented.build()]
}

#[test]
fn truncated_at_every_offset() {
    for data in corpus() {
        let data = data.as_slice();
        for i in 0..=data.len() {
            exercise(&data[..i]);
            exercise(&data[i..]);
        }
    }
}

#[test]
fn every_single_byte_set_to_boundary_values() {
    let data = &corpus()[1];
    let mut m = data.clone();
    for i in 0..data.len() {
        for v in [0x00, 0xFF, 0x7F, 0x80] {
            m[i] = v;
            exercise(&m);
        }
        m[i] = data[i];
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn random_byte_flips(which in 0usize..3, flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        let mut data = corpus()[which].clone();
        for (idx, byte) in flips {
            let i = idx.index(data.len());
            data[i] = byte;
        }
        exercise(&data);
    }

    #[test]
    fn random_splices(which in 0usize..3, at in any::<prop::sample::Index>(), junk in prop::collection::vec(any::<u8>(), 0..64), cut in 0usize..64) {
        let mut data = corpus()[which].clone();
        let i = at.index(data.len());
        let end = (i + cut).min(data.len());
        data.splice(i..end, junk);
        exercise(&data);
    }

    #[test]
    fn arbitrary_bytes_with_eocd_tail(body in prop::collection::vec(any::<u8>(), 0..512), tail in prop::collection::vec(any::<u8>(), 18)) {
        let mut data = body;
        data.extend_from_slice(b"PK\x05\x06");
        data.extend_from_slice(&tail);
        exercise(&data);
    }
}
