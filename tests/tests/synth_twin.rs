//! `bemm synth`: deterministic, in the real BigEarthNet v1.0 on-disk format,
//! with label statistics skewed like the real archive.

use bemm_formats::bands::{Resolution, BAND_NAMES, BAND_RESOLUTION};
use bemm_formats::labels::{clc_index, clc_mask_to_classes, CLASS_NAMES, NUM_CLASSES};
use bemm_tools::synth::{scene::labels_of, S1_DIR, S2_DIR};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;

fn synth(pairs: u64, seed: u64, out: &Path) {
    bemm_tools::cli::run_args([
        "synth".to_string(),
        "--pairs".into(),
        pairs.to_string(),
        "--seed".into(),
        seed.to_string(),
        "--json".into(),
        "--out".into(),
        out.display().to_string(),
    ])
    .unwrap();
}

/// Every file under `dir`, relative path -> bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn same_seed_same_twin_other_seed_other_twin() {
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    synth(6, 3, a.path());
    synth(6, 3, b.path());
    synth(6, 4, c.path());
    let (ta, tb, tc) = (tree(a.path()), tree(b.path()), tree(c.path()));
    assert_eq!(ta.len(), 6 * 16 + 6);
    assert!(ta == tb, "same seed must give byte-identical files");
    assert_eq!(ta.keys().collect::<Vec<_>>(), tc.keys().collect::<Vec<_>>(), "names do not depend on the seed");
    let differing = ta.iter().filter(|(k, v)| tc[*k] != **v).count();
    assert!(differing > ta.len() / 2, "another seed gives other pixels and labels");
}

fn is_name(s: &str, prefix: &[&str], parts: usize) -> bool {
    let p: Vec<&str> = s.split('_').collect();
    prefix.iter().any(|x| s.starts_with(x))
        && p.len() == parts
        && p[p.len() - 2..].iter().all(|x| x.parse::<u32>().is_ok())
}

#[test]
fn twin_is_in_the_real_on_disk_format() {
    let dir = tempfile::tempdir().unwrap();
    synth(24, 9, dir.path());
    let s2_root = dir.path().join(S2_DIR);
    let s1_root = dir.path().join(S1_DIR);
    let s2_names: HashSet<String> =
        std::fs::read_dir(&s2_root).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(s2_names.len(), 24);
    let mut partners = HashSet::new();
    for e in std::fs::read_dir(&s1_root).unwrap() {
        let s1 = e.unwrap().file_name().into_string().unwrap();
        // S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48
        assert!(is_name(&s1, &["S1A_IW_GRDH_1SDV_", "S1B_IW_GRDH_1SDV_"], 8), "{s1}");
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(s1_root.join(&s1).join(format!("{s1}_labels_metadata.json"))).unwrap(),
        )
        .unwrap();
        for k in ["labels", "coordinates", "projection", "scene_source", "acquisition_time"] {
            assert!(meta.get(k).is_some(), "{s1}: S1 metadata lacks {k}");
        }
        let s2 = meta["corresponding_s2_patch"].as_str().unwrap().to_string();
        assert!(s2_names.contains(&s2), "{s1} links to a missing S2 folder {s2}");
        assert!(partners.insert(s2.clone()), "one S1 folder per S2 folder");
        for band in ["VV", "VH"] {
            let bytes = std::fs::read(s1_root.join(&s1).join(format!("{s1}_{band}.tif"))).unwrap();
            assert_eq!(&bytes[..4], b"II*\0", "little-endian classic TIFF");
            let mut d = Decoder::new(std::io::Cursor::new(bytes)).unwrap();
            assert_eq!(d.dimensions().unwrap(), (120, 120));
            let DecodingResult::F32(v) = d.read_image().unwrap() else { panic!("{s1}_{band}: not float32") };
            let mean = v.iter().sum::<f32>() / v.len() as f32;
            assert!((-30.0..0.0).contains(&mean), "{band} mean {mean} dB");
        }
    }
    for s2 in &s2_names {
        assert!(is_name(s2, &["S2A_MSIL2A_", "S2B_MSIL2A_"], 5), "{s2}");
        let folder = s2_root.join(s2);
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join(format!("{s2}_labels_metadata.json"))).unwrap()).unwrap();
        for k in ["labels", "coordinates", "projection", "tile_source", "acquisition_date"] {
            assert!(meta.get(k).is_some(), "{s2}: S2 metadata lacks {k}");
        }
        let labels = meta["labels"].as_array().unwrap();
        assert!((1..=13).contains(&labels.len()));
        assert!(labels.iter().all(|l| clc_index(l.as_str().unwrap()).is_some()), "real CLC names");
        let mut bands: Vec<(&str, u32)> = BAND_NAMES
            .iter()
            .enumerate()
            .filter(|(c, _)| BAND_RESOLUTION[*c] != Resolution::S1)
            .map(|(c, b)| (*b, BAND_RESOLUTION[c].side() as u32))
            .collect();
        bands.extend([("B01", 20), ("B09", 20)]);
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 13, "12 bands + metadata, no B10");
        for (band, side) in bands {
            let bytes = std::fs::read(folder.join(format!("{s2}_{band}.tif"))).unwrap();
            let mut d = Decoder::new(std::io::Cursor::new(bytes)).unwrap();
            assert_eq!(d.dimensions().unwrap(), (side, side), "{s2}_{band}");
            assert_eq!(d.get_tag_u32(Tag::Compression).unwrap(), 1, "uncompressed");
            assert!(d.get_tag_f64_vec(Tag::ModelPixelScaleTag).unwrap()[0] == 1200.0 / side as f64);
            assert_eq!(d.get_tag_f64_vec(Tag::ModelTiepointTag).unwrap().len(), 6);
            assert!(d.get_tag_u16_vec(Tag::GeoKeyDirectoryTag).unwrap().len() >= 4);
            let DecodingResult::U16(v) = d.read_image().unwrap() else { panic!("{s2}_{band}: not uint16") };
            assert!(v.iter().all(|x| (1..=20000).contains(x)), "reflectance x 10000 in range");
        }
    }
    // Official list formats: `S2,S1` per line in split files, one S2 name per line otherwise, no header.
    let mut in_split = HashSet::new();
    for f in ["train.csv", "val.csv", "test.csv"] {
        for line in std::fs::read_to_string(dir.path().join(f)).unwrap().lines() {
            let (s2, s1) = line.split_once(',').unwrap();
            assert!(s2_names.contains(s2) && s1_root.join(s1).is_dir(), "{f}: {line}");
            assert!(in_split.insert(s2.to_string()));
        }
    }
    let mut listed = 0;
    for f in
        ["patches_with_seasonal_snow.csv", "patches_with_cloud_and_shadow.csv", "patches_with_no_19_class_targets.csv"]
    {
        for s2 in std::fs::read_to_string(dir.path().join(f)).unwrap().lines() {
            assert!(s2_names.contains(s2) && !in_split.contains(s2), "{f}: {s2} must exist and be in no split");
            listed += 1;
        }
    }
    assert!(in_split.len() + listed >= 24, "every patch is in a split or an exclusion list");
}

#[test]
fn label_statistics_are_skewed_like_the_real_archive() {
    let n = 20_000u64;
    let mut per_class = [0u64; NUM_CLASSES];
    let mut per_count = [0u64; 13];
    let mut no_target = 0;
    for i in 0..n {
        let clc = labels_of(5, i);
        let mask: u64 = clc.iter().map(|c| 1u64 << c).sum();
        let classes = clc_mask_to_classes(mask);
        if classes == 0 {
            no_target += 1;
            continue;
        }
        per_count[classes.count_ones() as usize] += 1;
        for (c, n) in per_class.iter_mut().enumerate() {
            *n += (classes >> c & 1) as u64;
        }
    }
    let class = |name: &str| per_class[CLASS_NAMES.iter().position(|c| *c == name).unwrap()];
    // 1 to 12 labels, most pairs 1-4, a long tail.
    assert_eq!(per_count[0], 0);
    assert!(per_count[1..=4].iter().sum::<u64>() as f64 > 0.7 * n as f64);
    assert!(per_count[9..=12].iter().sum::<u64>() > 0);
    // Skew: forests and arable land are common, beaches and coastal wetlands rare.
    assert!(class("Mixed forest") > 20 * class("Beaches, dunes, sands"));
    assert!(class("Arable land") > 20 * class("Coastal wetlands"));
    assert!(per_class.iter().all(|n| *n > 0), "every class occurs: {per_class:?}");
    // A few pairs carry only labels outside the 19-class nomenclature, like the real 57.
    assert!(no_target > 0 && no_target < n / 50);
}
