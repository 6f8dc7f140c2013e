//! synth -> ingest -> archive: records and tensors match the twin on disk
//! (labels, splits, exclusions, band order, normalisation, bicubic).

mod ingest_common;

use bemm_formats::archive::{PatchArchive, Split};
use bemm_formats::bands::{Resolution, BAND_MEAN, BAND_NAMES, BAND_RESOLUTION, BAND_STD, PIXELS};
use bemm_formats::labels::{clc_index, clc_mask_to_classes};
use bemm_tools::ingest::bicubic;
use bemm_tools::ingest::lists::hashed_split;
use half::f16;
use ingest_common::*;
use std::collections::{HashMap, HashSet};
use std::path::Path;

fn read_tiff(path: &Path) -> (u32, tiff::decoder::DecodingResult) {
    let mut d = tiff::decoder::Decoder::new(std::fs::File::open(path).unwrap()).unwrap();
    let (w, _) = d.dimensions().unwrap();
    (w, d.read_image().unwrap())
}

/// Raw band values as f32, straight from the GeoTIFF.
fn raw_band(dir: &Path, patch: &str, band: &str) -> (usize, Vec<f32>) {
    let (w, r) = read_tiff(&dir.join(patch).join(format!("{patch}_{band}.tif")));
    let v = match r {
        tiff::decoder::DecodingResult::U16(v) => v.into_iter().map(|x| x as f32).collect(),
        tiff::decoder::DecodingResult::F32(v) => v,
        _ => panic!("unexpected sample type"),
    };
    (w as usize, v)
}

fn labels_of(dir: &Path, patch: &str) -> u64 {
    let text = std::fs::read_to_string(dir.join(patch).join(format!("{patch}_labels_metadata.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["labels"].as_array().unwrap().iter().map(|l| 1u64 << clc_index(l.as_str().unwrap()).unwrap()).sum()
}

#[test]
fn archive_matches_the_twin() {
    let twin = Twin::new(40, 7);
    let out = tempfile::tempdir().unwrap();
    let summary = ingest(&twin.options(out.path()));
    let a = PatchArchive::open(out.path()).unwrap();
    a.verify().unwrap();

    // Expected membership from the official-format list files.
    let mut split_of = HashMap::new();
    for (file, split) in [("train.csv", Split::Train), ("val.csv", Split::Validation), ("test.csv", Split::Test)] {
        for l in twin.list(file) {
            let (s2, s1) = l.split_once(',').unwrap();
            split_of.insert(s2.to_string(), (split, s1.to_string()));
        }
    }
    let snow: HashSet<String> = twin.list("patches_with_seasonal_snow.csv").into_iter().collect();
    let cloud: HashSet<String> = twin.list("patches_with_cloud_and_shadow.csv").into_iter().collect();
    let no_target: HashSet<String> = twin.list("patches_with_no_19_class_targets.csv").into_iter().collect();
    assert!(!snow.is_empty() || !cloud.is_empty() || !no_target.is_empty(), "seed 7 should exercise an exclusion");

    // Every listed pair is in the archive, with its split; nothing else is.
    assert_eq!(a.len(), split_of.len());
    assert_eq!(summary.patches, split_of.len());
    let i = summary.ingest.as_ref().unwrap();
    assert_eq!(i.read, 40);
    assert_eq!(i.written as usize, split_of.len());
    assert_eq!(skipped(&summary, "excluded_seasonal_snow") as usize, snow.len());
    assert_eq!(skipped(&summary, "excluded_cloud_or_shadow") as usize, cloud.len());
    assert_eq!(skipped(&summary, "no_19_class_label") as usize, no_target.len());

    let mut prev_s1 = String::new();
    for r in a.records() {
        let (split, s1) = &split_of[r.s2()];
        assert_eq!(r.split(), *split, "{}", r.s2());
        assert_eq!(r.s1(), s1);
        assert!(r.s1() > prev_s1.as_str(), "records are in sorted S1 order");
        prev_s1 = r.s1().to_string();
        assert_eq!(r.labels43, labels_of(&twin.s2(), r.s2()));
        assert_eq!(r.labels19, clc_mask_to_classes(r.labels43));
        assert_ne!(r.labels19, 0);
        assert_eq!(r.flags, 0);
        assert!(!snow.contains(r.s2()) && !cloud.contains(r.s2()));
    }

    // Tensors: band order, normalisation, bicubic for the 20 m bands.
    for idx in [0, a.len() / 2, a.len() - 1] {
        let r = a.record(idx).unwrap();
        let t = a.patch(idx).unwrap();
        for (c, band) in BAND_NAMES.iter().enumerate() {
            let (dir, patch) = match BAND_RESOLUTION[c] {
                Resolution::S1 => (twin.s1(), r.s1().to_string()),
                _ => (twin.s2(), r.s2().to_string()),
            };
            let (side, raw) = raw_band(&dir, &patch, band);
            assert_eq!(side, BAND_RESOLUTION[c].side(), "{band}");
            let full = if side == 60 { bicubic::resize(&raw, 60, 60, 120, 120) } else { raw };
            for p in (0..PIXELS).step_by(97) {
                let want = ((full[p] as f64 - BAND_MEAN[c]) / BAND_STD[c]) as f32;
                let got = t[c * PIXELS + p].to_f32();
                // f16 keeps 11 significant bits.
                assert!(
                    (got - want).abs() <= want.abs() * 1e-3 + 1e-3,
                    "{} band {band} px {p}: {got} vs {want}",
                    r.s2()
                );
                assert_eq!(t[c * PIXELS + p], f16::from_f32(got));
            }
        }
    }
}

#[test]
fn keep_excluded_keeps_flagged_pairs() {
    let twin = Twin::new(40, 7);
    let out = tempfile::tempdir().unwrap();
    let mut o = twin.options(out.path());
    o.keep_excluded = true;
    let s = ingest(&o);
    let a = PatchArchive::open(out.path()).unwrap();
    let snow: HashSet<String> = twin.list("patches_with_seasonal_snow.csv").into_iter().collect();
    let cloud: HashSet<String> = twin.list("patches_with_cloud_and_shadow.csv").into_iter().collect();
    let no_target = twin.list("patches_with_no_19_class_targets.csv").len();
    assert_eq!(a.len(), 40 - no_target);
    assert_eq!(skipped(&s, "excluded_seasonal_snow"), 0);
    for r in a.records() {
        assert_eq!(r.snow(), snow.contains(r.s2()));
        assert_eq!(r.cloud(), cloud.contains(r.s2()));
        if r.snow() || r.cloud() {
            // Excluded patches are in no official split.
            assert_eq!(r.split(), Split::Unassigned);
        }
    }
    assert_eq!(s.snow as usize, snow.len());
    assert_eq!(s.cloud as usize, cloud.len());
}

#[test]
fn without_split_files_the_split_is_a_stable_hash_of_the_name() {
    let twin = Twin::new(30, 3);
    let out = tempfile::tempdir().unwrap();
    let mut o = twin.options(out.path());
    o.splits = None;
    ingest(&o);
    let a = PatchArchive::open(out.path()).unwrap();
    let mut seen = HashSet::new();
    for r in a.records() {
        assert_eq!(r.split(), hashed_split(r.s2()));
        seen.insert(r.split());
    }
    assert!(seen.contains(&Split::Train) && !seen.contains(&Split::Unassigned));
    // Documented thresholds: 52 % / 24 % / 24 % of names in a large sample.
    let n = 20_000;
    let train =
        (0..n).filter(|i| hashed_split(&format!("S2A_MSIL2A_20170613T101031_{i}_{}", i % 97)) == Split::Train).count();
    assert!((train as f64 / n as f64 - 0.52).abs() < 0.02, "{train}");
}

#[test]
fn s2_only_split_files_are_accepted() {
    let twin = Twin::new(20, 5);
    // Rewrite the split files with one S2 name per line (the S2-only copies).
    for f in ["train.csv", "val.csv", "test.csv"] {
        let names: Vec<String> = twin.list(f).iter().map(|l| l.split(',').next().unwrap().to_string()).collect();
        std::fs::write(twin.root().join(f), names.join("\n") + "\n").unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    ingest(&twin.options(out.path()));
    let a = PatchArchive::open(out.path()).unwrap();
    let train: HashSet<String> = twin.list("train.csv").into_iter().collect();
    assert!(a.records().all(|r| r.split() != Split::Unassigned));
    assert_eq!(a.records().filter(|r| r.split() == Split::Train).count(), train.len());
}

#[test]
fn info_reports_the_same_summary_as_ingest() {
    let twin = Twin::new(12, 11);
    let out = tempfile::tempdir().unwrap();
    let s = ingest(&twin.options(out.path()));
    let a = PatchArchive::open(out.path()).unwrap();
    let again = bemm_tools::ingest::summary::Summary::of(&a);
    assert_eq!(s.to_json(), again.to_json());
    let j = s.to_json();
    assert_eq!(j["ingest"]["pairs_read"], 12);
    assert_eq!(j["complete"], true);
    let labels_total: u64 = j["labels"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    let bits: u64 = a.records().map(|r| r.labels19.count_ones() as u64).sum();
    assert_eq!(labels_total, bits);
    bemm_tools::cli::run_args([
        "info".to_string(),
        out.path().display().to_string(),
        "--json".into(),
        "--verify".into(),
    ])
    .unwrap();
    assert!(bemm_tools::cli::run_args(["info".to_string(), twin.root().display().to_string()]).is_err());
}

#[test]
fn bicubic_matches_pytorch_reference_values() {
    // tests/fixtures/bicubic/bicubic_torch.json, made by make_fixture.py beside it with
    // torch.nn.functional.interpolate(mode="bicubic", align_corners=False).
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bicubic/bicubic_torch.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for c in cases {
        let g = |k: &str| c[k].as_u64().unwrap() as usize;
        let (h, w, oh, ow) = (g("h"), g("w"), g("oh"), g("ow"));
        let input: Vec<f32> = c["input"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        let want: Vec<f32> = c["output"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        let got = bicubic::resize(&input, h, w, oh, ow);
        // float32 rounding only: the four-tap sums cancel, so allow a few ulp of the largest input.
        let tol = 1e-6 * input.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert_eq!(got.len(), want.len());
        for (i, (g, t)) in got.iter().zip(&want).enumerate() {
            assert!((g - t).abs() <= tol, "{h}x{w}->{oh}x{ow} px {i}: {g} vs torch {t}");
            // and equal to f16 precision once normalised (B05 statistics).
            let n = |x: f32| f16::from_f32((x - 950.683_7) / 729.898_3).to_f32();
            assert!((n(*g) - n(*t)).abs() <= n(*t).abs() * 1e-3 + 1e-3, "px {i}");
        }
    }
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let twin = Twin::new(20, 13);
    let (one, many) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (out, threads) in [(&one, "1"), (&many, "3")] {
        let mut args: Vec<String> =
            ["ingest", "--json", "--shard-size", "6", "--threads", threads].map(String::from).to_vec();
        for (flag, p) in [
            ("--s2", twin.s2()),
            ("--s1", twin.s1()),
            ("--splits", twin.root().to_path_buf()),
            ("--out", out.path().to_path_buf()),
        ] {
            args.push(flag.into());
            args.push(p.display().to_string());
        }
        bemm_tools::cli::run_args(args).unwrap();
    }
    let files: Vec<_> = std::fs::read_dir(one.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(files.len() >= 4);
    for f in files {
        assert!(
            std::fs::read(one.path().join(&f)).unwrap() == std::fs::read(many.path().join(&f)).unwrap(),
            "{f:?} differs"
        );
    }
}
