//! A numpy user can `np.memmap` a shard's tensors and records, and a feature
//! archive's vectors, from SPEC.md's offsets alone: `python/memmap_archive.py`
//! (no bemm code) reads files written here and must print back the same
//! values. Skips, saying so, when python3 or numpy is missing (CI installs
//! numpy: `python3 -m pip install numpy`).

mod common;

use bemm_formats::archive::{PatchArchive, PatchRecord};
use bemm_formats::bands::{BAND_MEAN, BAND_NAMES, BAND_STD, CHANNELS, PATCH_LEN, SIZE};
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn numpy_available() -> bool {
    Command::new("python3").args(["-c", "import numpy"]).output().map(|o| o.status.success()).unwrap_or(false)
}

fn check_records(got: &Value, want: &[PatchRecord]) {
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g["s2"], w.s2());
        assert_eq!(g["s1"], w.s1());
        assert_eq!(g["labels43"].as_u64().unwrap(), w.labels43);
        assert_eq!(g["labels19"].as_u64().unwrap(), w.labels19 as u64);
        assert_eq!(g["split"].as_u64().unwrap(), w.split as u64);
        assert_eq!(g["flags"].as_u64().unwrap(), w.flags as u64);
    }
}

#[test]
fn numpy_memmaps_shard_and_features_from_the_spec() {
    if !numpy_available() {
        // CI sets BEMM_REQUIRE_ALL: there a missing tool fails instead of skipping.
        assert!(std::env::var_os("BEMM_REQUIRE_ALL").is_none(), "python3 with numpy not found");
        println!("SKIPPED numpy_memmap: python3 with numpy not found (python3 -m pip install numpy)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_archive(dir.path(), &[3]);
    let a = PatchArchive::open(dir.path()).unwrap();
    let (count, dim) = (3usize, 20u32);
    let feats = features_bytes(count, dim);
    let fpath = dir.path().join("features.bemf");
    std::fs::write(&fpath, &feats).unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/memmap_archive.py");
    let out =
        Command::new("python3").arg(&script).arg(dir.path().join("shard-00000.bin")).arg(&fpath).output().unwrap();
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(v["shape"], serde_json::json!([3, CHANNELS, SIZE, SIZE]));
    assert_eq!(v["bands"], serde_json::json!(BAND_NAMES));
    for c in 0..CHANNELS {
        assert_eq!(v["mean"][c].as_f64().unwrap(), BAND_MEAN[c]);
        assert_eq!(v["std"][c].as_f64().unwrap(), BAND_STD[c]);
    }
    let positions = v["probe_positions"].as_array().unwrap();
    for i in 0..count {
        let p = a.patch(i).unwrap();
        assert_eq!(p, patch(i, PATCH_LEN).as_slice());
        let sum: f64 = p.iter().map(|x| x.to_f64()).sum();
        let got = v["patch_sums"][i].as_f64().unwrap();
        assert!((got - sum).abs() <= 1e-9 * sum.abs().max(1.0), "patch {i}: numpy sum {got}, rust {sum}");
        for (k, pos) in positions.iter().enumerate() {
            let (c, y, x) = (
                pos[0].as_u64().unwrap() as usize,
                pos[1].as_u64().unwrap() as usize,
                pos[2].as_u64().unwrap() as usize,
            );
            let want = p[(c * SIZE + y) * SIZE + x].to_f64();
            assert_eq!(v["probes"][i][k].as_f64().unwrap(), want, "patch {i} at ({c},{y},{x})");
        }
    }
    let recs: Vec<PatchRecord> = (0..count).map(|i| *a.record(i).unwrap()).collect();
    check_records(&v["records"], &recs);

    let want = feature_values(count, dim as usize);
    for i in 0..count {
        let row: Vec<f64> = v["features"][i].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let w: Vec<f64> = want[i * dim as usize..(i + 1) * dim as usize].iter().map(|x| x.to_f64()).collect();
        assert_eq!(row, w, "feature row {i}");
    }
    check_records(&v["feature_records"], &recs);
}
