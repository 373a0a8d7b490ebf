//! Large, hostile policies ("policy bombs") of several shapes, shared by the `bench_check`
//! example and the regression tests of issue 12, item 1.
#![allow(dead_code, unreachable_pub)]

use std::fmt::Write as _;

/// The shapes: each once made `check` quadratic (or could have).
pub const SHAPES: &[&str] = &[
    "exact",
    "same-id",
    "same-id-scoped",
    "globs",
    "prefixes",
    "signers",
    "vendors",
    "exceptions",
];

/// A policy of `n` rules of `shape`.
pub fn policy(shape: &str, n: usize) -> String {
    let mut s = String::with_capacity(n * 96);
    s.push_str("[policy]\nname = \"bomb\"\nmode = \"denylist\"\n\n");
    if shape == "vendors" {
        for v in 0..n / 10 + 1 {
            let _ = write!(
                s,
                "[[vendors]]\nname = \"V{v}\"\npackage_prefixes = [\"com.v{v}.\"]\n\n"
            );
        }
    }
    for i in 0..n {
        let _ = write!(
            s,
            "[[rules]]\nid = \"r{i}\"\naction = \"prohibit\"\nauthority = \"TBS\"\n"
        );
        match shape {
            "exact" => {
                let _ = writeln!(s, "app_ids = [\"com.example.app{i}\"]");
            }
            "same-id" => s.push_str("app_ids = [\"com.same.app\"]\n"),
            "same-id-scoped" => {
                let _ = writeln!(
                    s,
                    "app_ids = [\"com.same.app\", \"com.same.b{i}\"]\nscope = {{ groups = [\"g{i}\"] }}"
                );
            }
            "globs" => {
                let _ = writeln!(s, "app_ids = [\"com.g{i}*x?\"]");
            }
            "prefixes" => {
                let _ = writeln!(
                    s,
                    "app_ids = [\"com.p{}.*\", \"com.p{}.q{i}\"]",
                    i % 100,
                    i % 100
                );
            }
            "signers" => {
                let _ = writeln!(s, "signer_sha256 = [\"{:064x}\"]", i % 1000);
            }
            "vendors" => {
                let _ = writeln!(s, "vendors = [\"V{}\"]", i / 10);
            }
            "exceptions" => {
                let _ = writeln!(s, "app_ids = [\"com.example.app{i}\"]");
            }
            _ => {}
        }
        s.push('\n');
    }
    if shape == "exceptions" {
        for i in 0..n {
            let _ = write!(
                s,
                "[[exceptions]]\nid = \"e{i}\"\nrule = \"r{}\"\ndevices = [\"d{i}\"]\njustification = \"field work\"\nrequester = \"a\"\napprover = \"b\"\nexpires = 2099-01-01\n\n",
                n - 1 - i
            );
        }
    }
    s
}
