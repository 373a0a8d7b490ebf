//! Builds every fixture in `testdata/fixtures/` and prints `name<TAB>path`,
//! or with `--large N OUT_DIR` builds the benchmark APK and prints its path.

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
        [name] if !name.starts_with('-') => {
            println!("{}", apk_fixtures::fixture(name).display());
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: build-fixtures [NAME | --large CLASSES OUT_DIR]");
            ExitCode::from(2)
        }
    }
}
