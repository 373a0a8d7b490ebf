//! Differential tests: what `llvm-otool-14` and `llvm-objdump-14 --macho` see in each fixture's executables
//! (linked libraries, cryptid, bound Objective-C classes) equals what the report says.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn tool(args: &[&str], file: &std::path::Path) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (apt-get install llvm-14)", args[0]));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn otool_and_objdump_agree() {
    let opts = ipa_analysis::Options::default();
    for name in [
        "baseline",
        "trackers",
        "extensions",
        "appstore",
        "fat",
        "wechat",
    ] {
        let ipa = std::fs::read(ipa_fixtures::build(name).unwrap()).unwrap();
        let report = ipa_analysis::assess(name, &ipa, &opts).unwrap();
        let archive = apk_zip::Archive::parse(&ipa, apk_zip::Limits::default()).unwrap();
        for bin in &report.binaries {
            let bytes = archive.read(archive.find(&bin.path).unwrap()).unwrap();
            let tmp =
                std::env::temp_dir().join(format!("interdict-diff-{}-{name}", std::process::id()));
            std::fs::write(&tmp, &bytes).unwrap();
            for slice in &bin.slices {
                let arch = ["-arch", slice.arch.as_str()];
                let arch: &[&str] = if bin.fat { &arch } else { &[] };
                // Linked libraries: otool -L lists the install names (after LC_ID_DYLIB for a dylib).
                let mut args = vec!["llvm-otool-14"];
                args.extend_from_slice(arch);
                args.push("-L");
                let listed: Vec<String> = tool(&args, &tmp)
                    .lines()
                    .filter(|l| l.starts_with('\t'))
                    .map(|l| {
                        l.trim()
                            .split(" (compatibility")
                            .next()
                            .unwrap_or("")
                            .to_owned()
                    })
                    .collect();
                let mut ours: Vec<String> = slice.dylibs.iter().map(|d| d.name.clone()).collect();
                if slice.file_type == "dylib" {
                    // otool prints the library's own id first.
                    ours.insert(0, listed.first().cloned().unwrap_or_default());
                }
                assert_eq!(listed, ours, "{name} {} {}", bin.path, slice.arch);
                // cryptid.
                let mut args = vec!["llvm-objdump-14", "--macho", "--private-headers"];
                if bin.fat {
                    args.push("--arch");
                    args.push(slice.arch.as_str());
                }
                let cryptid: Option<u32> = tool(&args, &tmp).lines().find_map(|l| {
                    l.trim()
                        .strip_prefix("cryptid ")
                        .and_then(|v| v.trim().parse().ok())
                });
                assert_eq!(cryptid, slice.cryptid, "{name} {}", bin.path);
                // Objective-C classes bound by dyld.
                let mut args = vec![
                    "llvm-objdump-14",
                    "--macho",
                    "--bind",
                    "--lazy-bind",
                    "--weak-bind",
                ];
                if bin.fat {
                    args.push("--arch");
                    args.push(slice.arch.as_str());
                }
                let mut bound: Vec<String> = tool(&args, &tmp)
                    .split_whitespace()
                    .filter_map(|w| w.strip_prefix("_OBJC_CLASS_$_").map(str::to_owned))
                    .collect();
                bound.sort();
                bound.dedup();
                assert_eq!(
                    bound, slice.objc_classes,
                    "{name} {} {}",
                    bin.path, slice.arch
                );
            }
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
