//! `bemm synth --layout v2` writes the same pairs as v1 in the v2.0 layout
//! (product/patch folders, parquet metadata): ingesting either gives the same
//! patches, 19-class labels and splits, so the v2 ingest path is exercised at
//! scale on data whose truth is known.

use bemm_formats::archive::PatchArchive;
use bemm_tools::cli::run_args;
use bemm_tools::synth::{pair_names_in, Layout};
use std::collections::HashMap;

#[test]
fn v2_twin_ingests_to_the_same_archive_as_v1() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_string_lossy().into_owned();
    let pairs = 90u64;
    for layout in ["v1", "v2"] {
        run_args([
            "synth",
            "--pairs",
            &pairs.to_string(),
            "--seed",
            "11",
            "--layout",
            layout,
            "--out",
            &d(layout),
            "--json",
        ])
        .unwrap();
    }
    run_args([
        "ingest",
        "--s2",
        &d("v1/BigEarthNet-v1.0"),
        "--s1",
        &d("v1/BigEarthNet-S1-v1.0"),
        "--splits",
        &d("v1"),
        "--snow",
        &d("v1/patches_with_seasonal_snow.csv"),
        "--cloud",
        &d("v1/patches_with_cloud_and_shadow.csv"),
        "--out",
        &d("a1"),
        "--json",
    ])
    .unwrap();
    run_args([
        "ingest",
        "--s2",
        &d("v2/BigEarthNet-S2"),
        "--s1",
        &d("v2/BigEarthNet-S1"),
        "--metadata",
        &d("v2/metadata.parquet"),
        "--snow-cloud-metadata",
        &d("v2/metadata_for_patches_with_snow_cloud_or_shadow.parquet"),
        "--out",
        &d("a2"),
        "--json",
    ])
    .unwrap();
    let (a1, a2) =
        (PatchArchive::open(&dir.path().join("a1")).unwrap(), PatchArchive::open(&dir.path().join("a2")).unwrap());
    assert!(a1.len() > 60, "{} patches", a1.len());
    assert_eq!(a1.len(), a2.len());
    let v2_name: HashMap<String, String> =
        (0..pairs).map(|i| (pair_names_in(Layout::V1, i).0, pair_names_in(Layout::V2, i).0)).collect();
    let index2: HashMap<String, usize> = (0..a2.len()).map(|i| (a2.record(i).unwrap().s2().to_string(), i)).collect();
    for i in 0..a1.len() {
        let r1 = a1.record(i).unwrap();
        let j = index2[&v2_name[r1.s2()]];
        let r2 = a2.record(j).unwrap();
        assert_eq!(r1.labels19, r2.labels19, "{}", r1.s2());
        assert_eq!(r1.split(), r2.split(), "{}", r1.s2());
        assert_eq!(r1.s1(), r2.s1());
        assert_eq!(a1.patch(i).unwrap(), a2.patch(j).unwrap(), "{}: tensors differ", r1.s2());
    }
}
