//! Replays every input kept in `fuzz/regressions/<target>/` (inputs that once crashed, hung or ran out
//! of memory under libFuzzer) through the same entry points, on the stable toolchain, in every
//! `cargo test`.

use std::path::PathBuf;

fn regressions_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions")
}

#[test]
fn every_regression_input_is_handled() {
    let mut replayed = 0;
    for (name, run) in fuzz_targets::TARGETS {
        let dir = regressions_dir().join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable regressions directory").path();
            if path.extension().is_some_and(|e| e == "md") || !path.is_file() {
                continue;
            }
            let data = std::fs::read(&path).expect("readable regression input");
            eprintln!("{name}: {}", path.display());
            run(&data);
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no regression inputs under {}",
        regressions_dir().display()
    );
}

#[test]
fn every_target_has_a_libfuzzer_harness() {
    for (name, _) in fuzz_targets::TARGETS {
        let harness = regressions_dir().join(format!("../fuzz_targets/{name}.rs"));
        let text = std::fs::read_to_string(&harness)
            .unwrap_or_else(|e| panic!("{}: {e}", harness.display()));
        assert!(
            text.contains(&format!("fuzz_targets::{name}(")),
            "{} does not call fuzz_targets::{name}",
            harness.display()
        );
    }
}

#[test]
fn entry_points_take_empty_and_tiny_inputs() {
    for (_, run) in fuzz_targets::TARGETS {
        for data in [
            &b""[..],
            b"\0",
            b"PK\x05\x06",
            b"dex\n035\0",
            b"{}",
            b"[policy]",
        ] {
            run(data);
        }
    }
}
