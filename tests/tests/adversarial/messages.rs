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

/// (case, file cut: `model`, `shard` or `features`, bytes kept (`None`: all
/// but the last), expected error substring).
type ShortFile = (&'static str, &'static str, Option<usize>, &'static str);
const SHORT_FILES: &[ShortFile] = &[
    (
        "model shorter than its header",
        "model",
        Some(40),
        "model file: too short: the input holds 40 bytes, expected at least 64",
    ),
    ("model shorter than it declares", "model", None, "model file: too short: the input holds "),
    ("empty model", "model", Some(0), "model file: too short: the input holds 0 bytes, expected at least 64"),
    (
        "shard shorter than its header",
        "shard",
        Some(100),
        "patch shard: too short: the input holds 100 bytes, expected at least 512",
    ),
    ("shard shorter than it declares", "shard", None, "patch shard: too short: the input holds "),
    (
        "feature file shorter than its header",
        "features",
        Some(20),
        "feature archive: too short: the input holds 20 bytes, expected at least 128",
    ),
    ("feature file shorter than it declares", "features", None, "feature archive: too short: the input holds "),
];

#[test]
fn a_file_shorter_than_its_header_is_too_short_with_its_name_and_sizes() {
    let st = Setup::new(4);
    let feats = st.path("f.bemf");
    bemm(&["features".into(), s(&st.model), s(&st.archive), "--out".into(), s(&feats)]).unwrap();
    let name = bemm_formats::archive::PatchArchive::open(&st.archive).unwrap().record(0).unwrap().s2().to_string();
    let shard_file = bemm_formats::archive::Manifest::load(&st.archive).unwrap().shards[0].file.clone();
    check_table(
        SHORT_FILES,
        |c| c.0.to_string(),
        |c| c.3,
        |c| {
            let d = tempfile::tempdir().unwrap();
            let (model, archive, f) = (d.path().join("cut.bemm"), d.path().join("archive"), d.path().join("cut.bemf"));
            std::fs::copy(&st.model, &model).unwrap();
            std::fs::copy(&feats, &f).unwrap();
            std::fs::create_dir(&archive).unwrap();
            for e in std::fs::read_dir(&st.archive).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), archive.join(e.file_name())).unwrap();
            }
            let cut = match c.1 {
                "model" => model.clone(),
                "shard" => archive.join(&shard_file),
                _ => f.clone(),
            };
            let bytes = std::fs::read(&cut).unwrap();
            std::fs::write(&cut, &bytes[..c.2.unwrap_or(bytes.len() - 1)]).unwrap();
            let before = snapshot(&[d.path()]);
            let e = match c.1 {
                "features" => bemm_err(&["search".into(), s(&f), "--query".into(), name.clone()]),
                _ => bemm_err(&["predict".into(), s(&model), s(&archive), "--out".into(), s(&d.path().join("p.csv"))]),
            };
            assert!(snapshot(&[d.path()]) == before, "{}: inputs changed", c.0);
            let file = cut.file_name().unwrap().to_string_lossy().into_owned();
            if !e.contains(&file) {
                return format!("the error does not name {file}: {e}");
            }
            e
        },
    );
}
