//! Scheme-by-scheme agreement with Debian's apksigner on the whole fixture matrix.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use apk_signature::{verify_with, Options, SigningReport, LATEST};

use crate::fixtures::{self, Fixture};
use crate::oracle::{self, Verdict};

/// Cases where Debian's apksigner (apksig 31.0.2) predates a rule that newer Android enforces.
/// Each lists the error codes we must report instead, for ranges reaching the given API level.
const NEWER_THAN_ORACLE: &[(&str, &[&str], u32, &str)] = &[
    (
        "m-v1-11-signers",
        &["JAR_SIG_MAX_SIGNATURES_EXCEEDED"],
        0,
        "apksig 31 has no signer limit; Android 13+ and apksig 33+ reject more than 10 JAR signers (app-vetting.md §4.3)",
    ),
    (
        "m-v3-rsa2048-v31-stripped",
        &["V31_BLOCK_MISSING"],
        28,
        "apksig 31 predates v3.1; apksig 33+ rejects a v3 signer whose rotation-min-SDK attribute names a missing v3.1 block (app-vetting.md §4.3)",
    ),
];

fn ranges(f: &Fixture) -> Vec<Option<(u32, u32)>> {
    let mut r = vec![None, Some((18, 23))];
    if f.min_sdk < 24 {
        r.push(Some((24, LATEST)));
    }
    if f.min_sdk < 28 {
        r.push(Some((28, LATEST)));
    }
    r
}

fn ours(f: &Fixture, range: Option<(u32, u32)>) -> Result<SigningReport, String> {
    let data = std::fs::read(&f.path).map_err(|e| e.to_string())?;
    let archive =
        apk_zip::Archive::parse(&data, apk_zip::Limits::default()).map_err(|e| e.to_string())?;
    let (min, max) = range.unwrap_or((f.min_sdk, LATEST));
    Ok(verify_with(
        &archive,
        &Options {
            min_sdk: min,
            max_sdk: max,
            target_sdk: f.target_sdk,
            ..Options::default()
        },
    ))
}

/// Compares; returns a description of every disagreement.
fn compare(r: &SigningReport, o: &Verdict) -> Vec<String> {
    let mut diffs = Vec::new();
    if r.verified != o.verifies {
        diffs.push(format!(
            "verdict: ours {} apksigner {}",
            r.verified, o.verifies
        ));
    }
    if o.verifies {
        for (i, s) in [&r.v1, &r.v2, &r.v3].iter().enumerate() {
            let mine = s.checked && s.verified;
            if o.schemes[i] != Some(mine) {
                diffs.push(format!(
                    "v{}: ours {mine} apksigner {:?}",
                    i + 1,
                    o.schemes[i]
                ));
            }
        }
        // apksigner prints the signers of the newest scheme that verified.
        let scheme = if r.v3.checked && r.v3.verified {
            apk_signature::Scheme::V3
        } else if r.v2.checked && r.v2.verified {
            apk_signature::Scheme::V2
        } else {
            apk_signature::Scheme::V1
        };
        let mine: BTreeSet<String> = r
            .signers
            .iter()
            .filter(|s| s.scheme == scheme)
            .map(|s| s.cert.sha256.clone())
            .collect();
        if mine != o.signers {
            diffs.push(format!("signers: ours {mine:?} apksigner {:?}", o.signers));
        }
        // The source stamp: verified or not, and its signer (apksigner prints it only when verified).
        let stamp = r.stamp.as_ref();
        let stamp_ok = stamp.is_some_and(|s| s.verified);
        if stamp_ok != o.stamp_verified {
            diffs.push(format!(
                "stamp verified: ours {stamp_ok} apksigner {} ({:?})",
                o.stamp_verified,
                stamp.map(|s| &s.issues)
            ));
        }
        let mine_stamp = stamp
            .filter(|s| s.verified)
            .and_then(|s| s.cert.as_ref())
            .map(|c| c.sha256.clone());
        if o.stamp_verified && mine_stamp != o.stamp_signer {
            diffs.push(format!(
                "stamp signer: ours {mine_stamp:?} apksigner {:?}",
                o.stamp_signer
            ));
        }
    } else {
        let mine: BTreeSet<String> = r.errors.iter().map(|e| e.code.clone()).collect();
        if mine != o.errors {
            diffs.push(format!("errors: ours {mine:?} apksigner {:?}", o.errors));
        }
    }
    diffs
}

#[test]
fn agrees_with_apksigner_scheme_by_scheme() {
    if !fixtures::tools_available() {
        eprintln!("skipping: Android tools not installed");
        return;
    }
    let all = fixtures::all();
    let cache = fixtures::fixture_dir().join("oracle");
    std::fs::create_dir_all(&cache).unwrap();
    // Warm the apksigner cache on both cores.
    let jobs: Vec<(Fixture, Option<(u32, u32)>)> = all
        .iter()
        .flat_map(|f| ranges(f).into_iter().map(move |r| (f.clone(), r)))
        .collect();
    let (a, b) = jobs.split_at(jobs.len() / 2);
    std::thread::scope(|s| {
        for half in [a, b] {
            let cache = &cache;
            s.spawn(move || {
                for (f, r) in half {
                    oracle::run(&f.path, *r, cache);
                }
            });
        }
    });

    let mut table = String::from(
        "| fixture | minSdk | ranges | apksigner verdicts | agree |\n|---|---|---|---|---|\n",
    );
    let (mut checks, mut agreed, mut fixtures_ok, mut failures) = (0, 0, 0, Vec::new());
    for f in &all {
        let mut row_ok = true;
        let mut verdicts = Vec::new();
        let rs = ranges(f);
        for &r in &rs {
            let o = oracle::run(&f.path, r, &cache);
            let rep = match ours(f, r) {
                Ok(rep) => rep,
                Err(e) => {
                    failures.push(format!("{} {r:?}: cannot parse: {e}", f.name));
                    row_ok = false;
                    continue;
                }
            };
            checks += 1;
            verdicts.push(if o.verifies {
                "ok".to_owned()
            } else {
                o.errors.iter().cloned().collect::<Vec<_>>().join("+")
            });
            let max = r.map_or(LATEST, |(_, b)| b);
            let diffs = if let Some((_, codes, _, _)) = NEWER_THAN_ORACLE
                .iter()
                .find(|(n, _, from, _)| *n == f.name && max >= *from)
            {
                let mine: BTreeSet<String> = rep.errors.iter().map(|e| e.code.clone()).collect();
                let want: BTreeSet<String> = codes.iter().map(|c| (*c).to_owned()).collect();
                if mine == want && !rep.verified {
                    vec![]
                } else {
                    vec![format!(
                        "documented divergence: want {want:?}, got {mine:?}"
                    )]
                }
            } else {
                compare(&rep, &o)
            };
            if diffs.is_empty() {
                agreed += 1;
            } else {
                row_ok = false;
                failures.push(format!(
                    "{} {r:?}: {}\n--- apksigner:\n{}",
                    f.name,
                    diffs.join("; "),
                    o.output
                ));
            }
        }
        if row_ok {
            fixtures_ok += 1;
        }
        let range_names: Vec<String> = rs
            .iter()
            .map(|r| match r {
                None => "default".into(),
                Some((a, b)) if *b == LATEST => format!("{a}+"),
                Some((a, b)) => format!("{a}-{b}"),
            })
            .collect();
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} |",
            f.name,
            f.min_sdk,
            range_names.join(", "),
            verdicts.join(", "),
            if row_ok { "yes" } else { "NO" }
        );
    }
    let _ = writeln!(
        table,
        "\n{fixtures_ok}/{} fixtures, {agreed}/{checks} (fixture, range) checks agree",
        all.len()
    );
    let out = fixtures::fixture_dir().join("agreement.md");
    std::fs::write(&out, &table).unwrap();
    println!("{table}");
    assert!(all.len() >= 40, "only {} fixtures", all.len());
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
