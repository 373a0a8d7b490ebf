//! Every spec builds, and the built main executables are what `llvm-otool-14` sees.

#![allow(clippy::unwrap_used)]

#[test]
fn every_spec_builds() {
    let names = ipa_fixtures::spec_names();
    assert!(names.len() >= 10, "{names:?}");
    for n in names {
        let p = ipa_fixtures::build(&n).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert!(std::fs::metadata(&p).unwrap().len() > 1000, "{n}");
    }
}

#[test]
fn cyclic_bplist_is_cyclic() {
    let b = ipa_fixtures::cyclic_bplist();
    assert!(plist::Value::from_reader(std::io::Cursor::new(b)).is_err());
}
