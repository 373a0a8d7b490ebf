//! The bundled Apple certificates are the published ones, and real Apple-issued certificates chain to them:
//! `macho::trust` and `openssl verify` must agree on every one.

use std::path::{Path, PathBuf};
use std::process::Command;

use macho::cms::certificate_from_der;
use macho::trust::{build_chain, Failure, Source, TrustStore, APPLE_INTERMEDIATES, APPLE_ROOTS};
use sha2::Digest;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The SHA-256 values recorded in `data/apple-certs/README.md` (Apple publishes the same fingerprints).
const ROOT_SHA256: &[(&str, &str)] = &[
    (
        "AppleIncRootCertificate.cer",
        "b0b1730ecbc7ff4505142c49f1295e6eda6bcaed7e2c68c5be91b5a11001f024",
    ),
    (
        "AppleRootCA-G2.cer",
        "c2b9b042dd57830e7d117dac55ac8ae19407d38e41d88f3215bc3a890444a050",
    ),
    (
        "AppleRootCA-G3.cer",
        "63343abfb89a6a03ebb57e9b3f5fa7be7c4f5c756f3017b3a8c488c3653e9179",
    ),
    (
        "AppleComputerRootCertificate.cer",
        "0d83b611b648a1a75eb8558400795375cad92e264ed8e9d7a757c1f5ee2bb22d",
    ),
];

#[test]
fn bundled_roots_have_the_recorded_sha256() {
    assert_eq!(APPLE_ROOTS.len(), ROOT_SHA256.len());
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/apple-certs/README.md"),
    )
    .expect("README");
    for ((name, der), (want_name, want)) in APPLE_ROOTS.iter().zip(ROOT_SHA256) {
        assert_eq!(name, want_name);
        assert_eq!(&hex(&sha2::Sha256::digest(der)), want, "{name}");
        assert!(
            readme.contains(want),
            "{name}'s SHA-256 is not in the README"
        );
    }
    for (name, der) in APPLE_INTERMEDIATES {
        let h = hex(&sha2::Sha256::digest(der));
        assert!(
            readme.contains(&h),
            "{name}'s SHA-256 {h} is not in the README"
        );
    }
}

fn real_certs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(workspace().join("testdata/apple-certs"))
        .expect("testdata/apple-certs")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cer"))
        .collect();
    v.sort();
    assert_eq!(v.len(), 5, "{v:?}");
    v
}

/// `openssl verify` with one root as CA file and every bundled intermediate as untrusted; time not checked
/// (the real certificates have expired, and validity is reported, not enforced, by `macho::trust`), and
/// `-ignore_critical`: Apple marks its own certificate-profile extensions (1.2.840.113635.100.6.1.*) critical, which
/// openssl does not know; `macho::trust` checks signatures and names, not extension semantics.
fn openssl_verifies(leaf: &Path, root_pem: &Path, untrusted_pem: &Path) -> bool {
    let out = Command::new("openssl")
        .args(["verify", "-no_check_time", "-ignore_critical", "-CAfile"])
        .arg(root_pem)
        .arg("-untrusted")
        .arg(untrusted_pem)
        .arg(leaf)
        .output()
        .expect("openssl (apt-get install openssl)");
    out.status.success()
}

fn to_pem(der: &[u8], dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(format!("{name}.der"));
    let p = dir.join(format!("{name}.pem"));
    std::fs::write(&d, der).expect("write");
    let st = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-in"])
        .arg(&d)
        .arg("-out")
        .arg(&p)
        .status()
        .expect("openssl");
    assert!(st.success());
    p
}

#[test]
fn real_apple_certificates_chain_to_a_bundled_root_and_openssl_agrees() {
    let dir = std::env::temp_dir().join(format!("macho-apple-certs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let mut untrusted = Vec::new();
    for (name, der) in APPLE_INTERMEDIATES {
        untrusted.extend(std::fs::read(to_pem(der, &dir, name)).expect("pem"));
    }
    let untrusted_pem = dir.join("intermediates.pem");
    std::fs::write(&untrusted_pem, untrusted).expect("write");
    let roots: Vec<(String, PathBuf)> = APPLE_ROOTS
        .iter()
        .map(|(n, der)| ((*n).to_owned(), to_pem(der, &dir, n)))
        .collect();
    let store = TrustStore::apple();
    for leaf_path in real_certs() {
        let der = std::fs::read(&leaf_path).expect("read");
        let leaf = certificate_from_der(&der).expect("parse");
        let ours = build_chain(&leaf, &[], &store);
        assert!(
            ours.verified(),
            "{}: {:?}",
            leaf_path.display(),
            ours.failure
        );
        assert!(ours.apple_root);
        assert_eq!(ours.path.last().map(|p| p.source), Some(Source::AppleRoot));
        let our_root = ours
            .path
            .last()
            .map(|p| p.sha256.clone())
            .unwrap_or_default();
        let leaf_pem = to_pem(&der, &dir, "leaf");
        // Differential: for each bundled root, openssl must verify exactly when our path ends there.
        for (name, pem) in &roots {
            let root_sha = APPLE_ROOTS
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, d)| hex(&sha2::Sha256::digest(d)))
                .unwrap_or_default();
            let theirs = openssl_verifies(&leaf_pem, pem, &untrusted_pem);
            assert_eq!(
                theirs,
                root_sha == our_root,
                "{} with root {name}: openssl says {theirs}, macho::trust path ends at {our_root}",
                leaf_path.display()
            );
        }
        // Without Apple's anchors, the same leaf does not verify.
        let v = build_chain(&leaf, &[], &TrustStore::empty());
        assert!(matches!(v.failure, Some(Failure::NoIssuer { .. })), "{v:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tampered_real_certificates_fail_like_openssl() {
    let dir = std::env::temp_dir().join(format!("macho-apple-tamper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let mut untrusted = Vec::new();
    for (name, der) in APPLE_INTERMEDIATES {
        untrusted.extend(std::fs::read(to_pem(der, &dir, name)).expect("pem"));
    }
    let untrusted_pem = dir.join("intermediates.pem");
    std::fs::write(&untrusted_pem, untrusted).expect("write");
    let root = to_pem(APPLE_ROOTS[0].1, &dir, "root");
    let store = TrustStore::apple();
    for leaf_path in real_certs() {
        let mut der = std::fs::read(&leaf_path).expect("read");
        // Flip a byte in the middle of the signature value (the last bytes of the certificate).
        let n = der.len();
        der[n - 20] ^= 0x01;
        let leaf = certificate_from_der(&der).expect("parse");
        let ours = build_chain(&leaf, &[], &store);
        assert!(
            matches!(ours.failure, Some(Failure::LinkSignature { .. })),
            "{}: {:?}",
            leaf_path.display(),
            ours.failure
        );
        let pem = to_pem(&der, &dir, "tampered");
        assert!(!openssl_verifies(&pem, &root, &untrusted_pem));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_forged_apple_root_carried_in_the_cms_is_not_apples() {
    // A self-signed "Apple Root CA" (same subject text as Apple's) issuing a leaf: the path ends at it, and it is
    // not the bundled root (different key and SHA-256), so the chain is "not Apple's", whatever its name says.
    let dir = std::env::temp_dir().join(format!("macho-forged-root-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    std::fs::write(
        dir.join("ca.ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n",
    )
    .expect("write");
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-days",
            "30",
            "-subj",
            "/C=US/O=Apple Inc./OU=Apple Certification Authority/CN=Apple Root CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=Apple Development: Mallory (EVIL123456)/OU=EVIL123456",
        ],
    );
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            "7",
            "-days",
            "30",
            "-outform",
            "DER",
            "-out",
            "leaf.der",
        ],
    );
    openssl(
        &dir,
        &[
            "x509", "-in", "root.pem", "-outform", "DER", "-out", "root.der",
        ],
    );
    let leaf = certificate_from_der(&std::fs::read(dir.join("leaf.der")).expect("leaf")).unwrap();
    let root = certificate_from_der(&std::fs::read(dir.join("root.der")).expect("root")).unwrap();
    assert_eq!(root.subject_cn, ["Apple Root CA"]);
    let v = build_chain(&leaf, &[root], &TrustStore::apple());
    match &v.failure {
        Some(f @ Failure::UntrustedRoot { subject, .. }) => {
            assert!(subject.contains("Apple Root CA"));
            assert!(f
                .to_string()
                .starts_with("chains to a root that is not Apple's"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!v.apple_root);
    let _ = std::fs::remove_dir_all(&dir);
}
