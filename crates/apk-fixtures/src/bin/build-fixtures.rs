//! Builds every fixture in `testdata/fixtures/` and prints `name<TAB>path`,
//! or with `--large N OUT_DIR` builds the benchmark APK and prints its path,
//! or with `--hostile OUT_DIR` writes the tiny hostile APKs of `apk_fixtures::hostile` and prints their paths.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            for name in apk_fixtures::all_fixture_names() {
                let path = apk_fixtures::fixture(&name);
                println!("{name}\t{}", path.display());
            }
            ExitCode::SUCCESS
        }
        [flag, n, out] if flag == "--large" => {
            let Ok(classes) = n.parse::<usize>() else {
                eprintln!("--large: {n:?} is not a number");
                return ExitCode::from(2);
            };
            let out = PathBuf::from(out);
            if let Err(e) = std::fs::create_dir_all(&out) {
                eprintln!("cannot create {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
            println!("{}", apk_fixtures::large_apk(classes, &out).display());
            ExitCode::SUCCESS
        }
        [flag, out] if flag == "--hostile" => {
            let out = PathBuf::from(out);
            if let Err(e) = std::fs::create_dir_all(&out) {
                eprintln!("cannot create {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
            for (name, apk) in apk_fixtures::hostile::all() {
                let path = out.join(format!("{name}.apk"));
                if let Err(e) = std::fs::write(&path, apk) {
                    eprintln!("cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
                println!("{}", path.display());
            }
            ExitCode::SUCCESS
        }
        [name] if !name.starts_with('-') => {
            println!("{}", apk_fixtures::fixture(name).display());
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: build-fixtures [NAME | --large CLASSES OUT_DIR | --hostile OUT_DIR]");
            ExitCode::from(2)
        }
    }
}
