//! No panic on any mutated input; every failure carries an apksigner-style code.

use apk_signature::{verify, LATEST};
use proptest::prelude::*;

use crate::fixtures;

pub(crate) fn check(data: &[u8]) {
    if let Ok(archive) = apk_zip::Archive::parse(data, apk_zip::Limits::default()) {
        for (min, max) in [(14, LATEST), (24, LATEST), (18, 23)] {
            let rep = verify(&archive, min, max);
            if !rep.verified {
                assert!(!rep.errors.is_empty(), "unverified without an error code");
            }
            for e in rep
                .errors
                .iter()
                .chain(rep.v1.errors.iter())
                .chain(rep.v2.errors.iter())
                .chain(rep.v3.errors.iter())
            {
                assert!(
                    e.code
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                    "bad code {:?}",
                    e.code
                );
            }
        }
    }
}

fn signed_tail(name: &str) -> Option<Vec<u8>> {
    if !fixtures::tools_available() {
        return None;
    }
    let all = fixtures::all();
    let f = all.iter().find(|f| f.name == name)?;
    std::fs::read(&f.path).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random byte changes in the signing block, central directory and META-INF region.
    #[test]
    fn mutated_signing_data_never_panics(
        edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..8),
        which in 0usize..3,
    ) {
        let name = ["v123-rsa2048", "v123-lineage-3", "two-signers-v12"][which];
        let Some(mut d) = signed_tail(name) else { return Ok(()) };
        // Mutate only the last 40 KB (signing block, META-INF, central directory, EOCD).
        let len = d.len();
        let window = 40_000.min(len);
        for (pos, byte) in edits {
            let i = len - window + ((pos * window as f64) as usize).min(window - 1);
            d[i] = byte;
        }
        check(&d);
    }

    /// Truncations and arbitrary bytes.
    #[test]
    fn truncated_never_panics(cut in 0.0f64..1.0) {
        let Some(d) = signed_tail("v123-ec256") else { return Ok(()) };
        let n = (cut * d.len() as f64) as usize;
        check(&d[..n]);
        check(&d[n..]);
    }
}

#[test]
fn garbage_never_panics() {
    let mut d = vec![0u8; 200];
    d.extend_from_slice(b"APK Sig Block 42");
    let cd = d.len() as u32;
    d.extend_from_slice(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0");
    d.extend_from_slice(&cd.to_le_bytes());
    d.extend_from_slice(&[0, 0]);
    check(&d);
    // Size fields claiming the whole file and more.
    for size in [0u64, 23, 24, 200, 216, u64::MAX, i32::MAX as u64] {
        let mut e = d.clone();
        let footer = cd as usize - 24;
        e[footer..footer + 8].copy_from_slice(&size.to_le_bytes());
        check(&e);
    }
}
