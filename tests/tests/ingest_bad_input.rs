//! Each kind of bad input is a per-pair error naming folder, file and problem:
//! the pair is skipped and counted, the rest is ingested; `--strict` makes the
//! first one fatal and leaves no shard behind.

mod ingest_common;

use bemm_formats::archive::PatchArchive;
use ingest_common::*;
use std::path::PathBuf;

/// A fresh twin of 10 pairs; returns it and one train pair (S2 folder, S1 folder, S2 name, S1 name).
fn setup() -> (Twin, PathBuf, PathBuf, String, String) {
    let twin = Twin::new(10, 21);
    let (s2, s1) = twin.train_pairs()[0].clone();
    let (s2dir, s1dir) = (twin.s2().join(&s2), twin.s1().join(&s1));
    (twin, s2dir, s1dir, s2, s1)
}

/// Ingest the damaged twin: exactly one pair skipped for `reason`; then with
/// `--strict` an error whose message names `must_name` (folder and file).
fn check(twin: &Twin, reason: &str, must_name: &[&str]) {
    let out = tempfile::tempdir().unwrap();
    let clean_total = {
        let written = twin.list("train.csv").len() + twin.list("val.csv").len() + twin.list("test.csv").len();
        written as u64
    };
    let s = ingest(&twin.options(out.path()));
    assert_eq!(skipped(&s, reason), 1, "{reason}: {:?}", s.ingest);
    assert_eq!(s.ingest.as_ref().unwrap().written, clean_total - 1);
    assert_eq!(PatchArchive::open(out.path()).unwrap().len() as u64, clean_total - 1);

    let strict_out = tempfile::tempdir().unwrap();
    let mut o = twin.options(strict_out.path());
    o.strict = true;
    let err = format!("{:#}", bemm_tools::ingest::run(&o).expect_err("--strict must fail"));
    for n in must_name {
        assert!(err.contains(n), "error {err:?} should name {n:?}");
    }
    // No shard, finished or temporary, was left behind.
    let files: Vec<String> =
        std::fs::read_dir(strict_out.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(files.iter().all(|f| !f.contains("shard")), "{files:?}");
}

#[test]
fn missing_band_file() {
    let (twin, s2dir, _, s2, _) = setup();
    std::fs::remove_file(s2dir.join(format!("{s2}_B11.tif"))).unwrap();
    check(&twin, "missing_file", &[&s2, &format!("{s2}_B11.tif"), "missing"]);
}

#[test]
fn unreadable_band_file() {
    let (twin, _, s1dir, _, s1) = setup();
    let f = s1dir.join(format!("{s1}_VH.tif"));
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 3]).unwrap();
    check(&twin, "unreadable_band", &[&s1, &format!("{s1}_VH.tif"), "unreadable"]);
}

#[test]
fn band_of_the_wrong_size() {
    let (twin, s2dir, _, s2, _) = setup();
    // A 20 m band (60x60) where a 10 m band (120x120) belongs.
    std::fs::copy(s2dir.join(format!("{s2}_B05.tif")), s2dir.join(format!("{s2}_B03.tif"))).unwrap();
    check(&twin, "wrong_size", &[&s2, &format!("{s2}_B03.tif"), "60x60", "expected 120x120"]);
}

#[test]
fn band_of_the_wrong_sample_type() {
    let (twin, s2dir, s1dir, s2, s1) = setup();
    // float32 S1 data where uint16 S2 data belongs (same 120x120 size).
    std::fs::copy(s1dir.join(format!("{s1}_VV.tif")), s2dir.join(format!("{s2}_B08.tif"))).unwrap();
    check(&twin, "wrong_sample_type", &[&s2, &format!("{s2}_B08.tif"), "float32", "expected uint16"]);
}

#[test]
fn metadata_that_is_not_json() {
    let (twin, s2dir, _, s2, _) = setup();
    std::fs::write(s2dir.join(format!("{s2}_labels_metadata.json")), b"{\"labels\": [\"Pastures\"").unwrap();
    check(&twin, "bad_metadata", &[&s2, "_labels_metadata.json", "not valid JSON"]);
}

#[test]
fn metadata_without_labels() {
    let (twin, s2dir, _, s2, _) = setup();
    std::fs::write(s2dir.join(format!("{s2}_labels_metadata.json")), br#"{"coordinates": {}, "tile_source": "x"}"#)
        .unwrap();
    check(&twin, "bad_metadata", &[&s2, "_labels_metadata.json", "no field `labels`"]);
}

#[test]
fn unknown_label_name() {
    let (twin, s2dir, _, s2, _) = setup();
    std::fs::write(s2dir.join(format!("{s2}_labels_metadata.json")), br#"{"labels": ["Pastures", "Lunar regolith"]}"#)
        .unwrap();
    check(&twin, "unknown_label", &[&s2, "_labels_metadata.json", "Lunar regolith"]);
}

#[test]
fn s1_folder_whose_s2_partner_is_missing() {
    let (twin, s2dir, _, s2, s1) = setup();
    std::fs::remove_dir_all(&s2dir).unwrap();
    check(&twin, "missing_s2_partner", &[&s1, &s2, "does not exist"]);
}

#[test]
fn s1_metadata_without_partner_field() {
    let (twin, _, s1dir, _, s1) = setup();
    std::fs::write(s1dir.join(format!("{s1}_labels_metadata.json")), br#"{"labels": ["Pastures"]}"#).unwrap();
    check(&twin, "bad_metadata", &[&s1, "corresponding_s2_patch"]);
}

#[test]
fn odd_and_extra_metadata_fields_are_tolerated() {
    let (twin, s2dir, s1dir, s2, s1) = setup();
    let meta = r#"{"Labels": ["pastures", "Mixed forest"], "weird field": [1, {"x": null}], "coordinates": "n/a"}"#;
    std::fs::write(s2dir.join(format!("{s2}_labels_metadata.json")), meta).unwrap();
    let s1meta = format!(r#"{{"Corresponding-S2-Patch": " {s2} ", "acquisition_time": 17}}"#);
    std::fs::write(s1dir.join(format!("{s1}_labels_metadata.json")), s1meta).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut o = twin.options(out.path());
    o.strict = true;
    ingest(&o);
    let a = PatchArchive::open(out.path()).unwrap();
    let r = a.record(a.find(&s2).expect("pair ingested")).unwrap();
    assert_eq!(r.s1(), s1);
    let pastures = bemm_formats::labels::class_index("Pastures").unwrap();
    let mixed = bemm_formats::labels::class_index("Mixed forest").unwrap();
    assert_eq!(r.labels19, (1 << pastures) | (1 << mixed));
}

#[test]
fn bad_arguments_are_clear_errors() {
    let twin = Twin::new(2, 1);
    let out = tempfile::tempdir().unwrap();
    let mut o = twin.options(out.path());
    o.s1 = twin.root().join("nope");
    let e = format!("{:#}", bemm_tools::ingest::run(&o).unwrap_err());
    assert!(e.contains("--s1") && e.contains("nope"), "{e}");
    let mut o = twin.options(out.path());
    o.splits = Some(twin.s2());
    let e = format!("{:#}", bemm_tools::ingest::run(&o).unwrap_err());
    assert!(e.contains("train split file"), "{e}");
}
