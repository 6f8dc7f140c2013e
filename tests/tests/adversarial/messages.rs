//! Error messages: each cause printed once, magic numbers as text with the
//! kind of a common wrong file named, and `bemm info` on a model file.

use crate::common::*;

/// (case, first bytes of the file given as MODEL, expected error substring).
const WRONG_FILES: &[(&str, &[u8], &str)] = &[
    ("PNG image", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "found \"\\x89PNG\\r\\n\\x1a\\n\" (this is a PNG image)"),
    ("GeoTIFF", b"II*\0\x08\0\0\0\x10\0\0\x01", "(this is a TIFF / GeoTIFF image)"),
    ("patch shard", b"BEMPATCH\x01\0\0\0", "found \"BEMPATCH\" (this is a patch archive shard)"),
    ("feature archive", b"BEMFEATS\x01\0\0\0", "(this is a feature archive)"),
    ("zip / .pt", b"PK\x03\x04\x14\0\0\0", "(this is a zip archive"),
    ("safetensors", b"\x80\0\0\0\0\0\0\0{\"a\":", "looks like a safetensors file"),
];

#[test]
fn wrong_files_are_named_by_what_they_are() {
    let st = Setup::new(4);
    check_table(
        WRONG_FILES,
        |c| c.0.to_string(),
        |c| c.2,
        |c| {
            let p = st.path("wrong.bemm");
            let mut b = c.1.to_vec();
            b.resize(256, 0);
            std::fs::write(&p, &b).unwrap();
            let e = bemm_err(&["predict".into(), s(&p), s(&st.archive), "--out".into(), s(&st.path("p.csv"))]);
            assert!(!e.contains("[137, 80"), "{e}");
            e
        },
    );
}

#[test]
fn each_cause_is_printed_once() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("missing.bemm");
    let e =
        bemm_err(&["predict".into(), s(&missing), s(&d.path().join("a")), "--out".into(), s(&d.path().join("p.csv"))]);
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
    assert!(e.contains("missing.bemm"), "{e}");
    // An archive whose listed shard is missing.
    let arch = d.path().join("a");
    std::fs::create_dir(&arch).unwrap();
    let mut m = bemm_formats::archive::Manifest::new(4);
    m.shards.push(bemm_formats::archive::ShardEntry { file: "gone.bemp".into(), chunk: 0, count: 1, bytes: 1 });
    m.save(&arch).unwrap();
    let e = bemm_err(&["info".into(), s(&arch)]);
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
}

#[test]
fn info_describes_a_model_file_and_a_feature_archive() {
    let st = Setup::new(4);
    bemm(&["info".into(), s(&st.model)]).expect("info on a model file");
    bemm(&["info".into(), s(&st.model), "--json".into()]).expect("info --json on a model file");
    let f = st.path("f.bemf");
    bemm(&["features".into(), s(&st.model), s(&st.archive), "--out".into(), s(&f)]).unwrap();
    bemm(&["info".into(), s(&f)]).expect("info on a feature archive");
    let png = st.path("x.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n0123456789abcdef").unwrap();
    let e = bemm_err(&["info".into(), s(&png)]);
    assert!(e.contains("PNG image"), "{e}");
}
