//! Archives written by real tools (Python zipfile, Info-ZIP, the Android framework APK).

use std::borrow::Cow;
use std::path::Path;
use std::process::{Command, Stdio};

use apk_zip::{AnomalyCode, Archive, Limits};

use crate::util::{python_zip, small_python_zip, TempDir};

fn read_all(a: &Archive<'_>) {
    for e in a.entries() {
        a.read(e)
            .unwrap_or_else(|err| panic!("read {:?}: {err}", e.name_lossy()));
    }
}

#[test]
fn python_zip_roundtrip() {
    let data = small_python_zip();
    let a = Archive::parse(&data, Limits::default()).expect("parse");
    assert_eq!(a.anomalies(), &[], "clean zip has no anomalies");
    assert_eq!(a.entries().len(), 6);
    assert_eq!(a.declared_entry_count(), 6);
    assert_eq!(a.eocd_offset(), data.len() as u64 - 22);
    assert_eq!(a.cd_offset() + a.cd_size(), a.eocd_offset());
    assert_eq!(a.zip64_eocd_offset(), None);
    assert_eq!(a.data().len(), data.len());

    let m = a.find("AndroidManifest.xml").expect("manifest");
    assert_eq!(m.method, 8);
    let body = a.read(m).expect("read manifest");
    assert!(matches!(body, Cow::Owned(_)));
    assert_eq!(&body[..4], b"\x03\x00\x08\x00");
    assert_eq!(body.len(), 4 + 8 * 20);

    let dex = a
        .read(a.find("classes.dex").expect("dex"))
        .expect("read dex");
    assert!(dex.starts_with(b"dex\n035\0"));
    assert_eq!(dex.len(), 8 + 256 * 8);

    let s = a.find("res/raw/stored.bin").expect("stored");
    let body = a.read(s).expect("read stored");
    assert!(
        matches!(body, Cow::Borrowed(_)),
        "stored entries are zero-copy"
    );
    assert_eq!(&*body, b"stored bytes");
    assert_eq!(a.raw_data(s).expect("raw"), b"stored bytes");
    assert_eq!(s.data_end() - s.data_offset, 12);
    assert_eq!(
        &data[s.data_offset as usize..s.data_end() as usize],
        b"stored bytes"
    );

    let dir = a.find("assets/").expect("dir");
    assert!(dir.is_dir());
    assert_eq!(a.read(dir).expect("dir read").len(), 0);
    let utf = a.find("assets/été.txt").expect("utf-8 name");
    assert_eq!(utf.name_lossy(), "assets/été.txt");
    assert_eq!(&*a.read(utf).expect("read"), "café".as_bytes());
    assert_eq!(
        a.read(a.find("empty.txt").expect("empty"))
            .expect("read")
            .len(),
        0
    );
    assert!(a.find("missing").is_none());

    read_all(&a);
    assert_eq!(a.read_anomalies(), vec![]);
    assert!(a.inflated_total() > 0);
}

#[test]
fn python_zip64_records_and_extras() {
    // Lowering the limits makes zipfile write ZIP64 extras in the central directory and ZIP64 end records.
    let data = python_zip(
        r#"
import zipfile
zipfile.ZIP64_LIMIT = 10
zipfile.ZIP_FILECOUNT_LIMIT = 2
with zipfile.ZipFile(OUT, "w", allowZip64=True) as z:
    for i in range(4):
        z.writestr("f%d.txt" % i, b"zip64 payload %d " % i * 10, compress_type=zipfile.ZIP_DEFLATED)
    with z.open("forced.bin", "w", force_zip64=True) as f:
        f.write(b"forced" * 100)
"#,
    );
    let a = Archive::parse(&data, Limits::default()).expect("parse zip64");
    assert!(a.zip64_eocd_offset().is_some(), "ZIP64 end record used");
    assert_eq!(a.entries().len(), 5);
    for (i, e) in a.entries().iter().take(4).enumerate() {
        assert_eq!(
            &*a.read(e).expect("read"),
            format!("zip64 payload {i} ").repeat(10).as_bytes()
        );
    }
    let f = a.find("forced.bin").expect("forced");
    assert_eq!(&*a.read(f).expect("read"), b"forced".repeat(100).as_slice());
    assert_eq!(a.read_anomalies(), vec![]);
    let codes: Vec<_> = a.anomalies().iter().map(|x| x.code).collect();
    assert!(
        !codes.contains(&AnomalyCode::ExtraFieldMalformed),
        "{:?}",
        a.anomalies()
    );
    assert!(
        !codes.contains(&AnomalyCode::LocalHeaderMismatch),
        "{:?}",
        a.anomalies()
    );
}

#[test]
fn info_zip_stdin_zip64_with_data_descriptor() {
    // Info-ZIP writes ZIP64 local headers, a data descriptor and ZIP64 end records when streaming stdin.
    let dir = TempDir::new();
    let path = dir.0.join("stdin.zip");
    let mut child = Command::new("zip")
        .arg("-q")
        .arg(&path)
        .arg("-")
        .stdin(Stdio::piped())
        .spawn()
        .expect("run zip");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(&b"streamed line\n".repeat(1000))
            .expect("write");
    }
    assert!(child.wait().expect("wait").success());
    let data = std::fs::read(&path).expect("read");
    let a = Archive::parse(&data, Limits::default()).expect("parse");
    assert!(a.zip64_eocd_offset().is_some());
    let e = a.find("-").expect("entry '-'");
    assert_eq!(
        &*a.read(e).expect("read"),
        b"streamed line\n".repeat(1000).as_slice()
    );
    assert_eq!(a.anomalies(), &[]);
    assert_eq!(a.read_anomalies(), vec![]);
}

#[test]
fn info_zip_with_comment_and_many_files() {
    let dir = TempDir::new();
    let src = dir.0.join("src");
    std::fs::create_dir_all(src.join("sub")).expect("mkdir");
    for i in 0..50 {
        std::fs::write(
            src.join(format!("sub/f{i}.txt")),
            format!("file {i}\n").repeat(i + 1),
        )
        .expect("write");
    }
    let zip = dir.0.join("a.zip");
    let ok = Command::new("zip")
        .current_dir(&src)
        .args(["-q", "-r", "-z"])
        .arg(&zip)
        .arg(".")
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(b"an archive comment\n")?;
            c.wait()
        })
        .expect("zip");
    assert!(ok.success());
    let data = std::fs::read(&zip).expect("read");
    let a = Archive::parse(&data, Limits::default()).expect("parse");
    assert_eq!(a.comment(), b"an archive comment");
    assert_eq!(a.entries().len(), 51); // 50 files + sub/
    for i in 0..50 {
        let e = a.find(&format!("sub/f{i}.txt")).expect("entry");
        assert_eq!(
            &*a.read(e).expect("read"),
            format!("file {i}\n").repeat(i + 1).as_bytes()
        );
    }
    assert_eq!(a.anomalies(), &[]);
}

#[test]
fn max_size_comment_is_supported() {
    let data = python_zip(
        r#"
import zipfile
with zipfile.ZipFile(OUT, "w") as z:
    z.writestr("a.txt", b"aaaa")
    z.comment = b"C" * 65535
"#,
    );
    let a = Archive::parse(&data, Limits::default()).expect("parse");
    assert_eq!(a.comment().len(), 65535);
    assert_eq!(a.eocd_offset(), data.len() as u64 - 22 - 65535);
    assert_eq!(&*a.read(&a.entries()[0]).expect("read"), b"aaaa");
    assert_eq!(a.anomalies(), &[]);
}

#[test]
fn every_comment_length_near_chunk_boundaries() {
    // A chunked backward search can miss an EOCD straddling a chunk boundary (apkInspector's eocd_at_offset_1026).
    let base = crate::util::ZipBuilder::new(vec![crate::util::RawEntry::stored("x", b"xyz")]);
    for len in (1000..1060).chain(4090..4100).chain(65500..65536) {
        let mut b = base.clone();
        b.comment = vec![b'#'; len];
        let data = b.build();
        let a = Archive::parse(&data, Limits::default())
            .unwrap_or_else(|e| panic!("comment {len}: {e}"));
        assert_eq!(a.comment().len(), len);
        assert_eq!(&*a.read(&a.entries()[0]).expect("read"), b"xyz");
    }
}

#[test]
fn android_framework_res_apk() {
    let path = Path::new("/usr/share/android-framework-res/framework-res.apk");
    let Ok(data) = std::fs::read(path) else {
        eprintln!("skipping: {} not installed", path.display());
        return;
    };
    let a = Archive::parse(&data, Limits::default()).expect("parse framework-res.apk");
    assert!(a.entries().len() > 1000, "{} entries", a.entries().len());
    let m = a.find("AndroidManifest.xml").expect("manifest");
    let body = a.read(m).expect("read manifest");
    assert_eq!(&body[..2], &[0x03, 0x00], "binary XML chunk type");
    assert!(a.find("resources.arsc").is_some());
    assert_eq!(a.anomalies(), &[]);
    read_all(&a);
    assert_eq!(a.read_anomalies(), vec![], "all CRCs match");
}

#[test]
fn archive_is_sync_and_reads_in_parallel() {
    fn assert_sync<T: Sync + Send>() {}
    assert_sync::<Archive<'static>>();
    let data = small_python_zip();
    let a = Archive::parse(&data, Limits::default()).expect("parse");
    let dex = a.find("classes.dex").expect("dex");
    let want = a.read(dex).expect("read").into_owned();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20 {
                    assert_eq!(&*a.read(dex).expect("read"), want.as_slice());
                }
            });
        }
    });
    assert_eq!(a.inflated_total(), want.len() as u64 * 81);
}
