//! `bemm predict` and `bemm features` on an archive made by synth + ingest:
//! one CSV row / one feature vector per patch of the split, equal to what
//! the engine computes directly for that patch.

mod ingest_common;

use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_engine::OwnedModel;
use bemm_formats::archive::{PatchArchive, Split};
use bemm_formats::features::FeatureArchive;
use bemm_formats::labels::CLASS_NAMES;
use bemm_formats::model::OwnedMeta;
use half::f16;
use ingest_common::*;

/// Split one CSV line per RFC 4180 (quoted fields may hold commas).
fn fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[test]
fn predict_and_features_cover_the_split_and_match_the_engine() {
    let twin = Twin::new(24, 3);
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    ingest(&twin.options(&archive_dir));
    let mut meta = OwnedMeta::bigearthnet("tiny", &(0..12).collect::<Vec<_>>());
    meta.thresholds[2] = 0.25;
    let model = arch::build(Arch::Tiny, 12, 120, 19, &mut RandomWeights::new(5), meta).unwrap().to_bytes().unwrap();
    let model_path = dir.path().join("tiny.bemm");
    std::fs::write(&model_path, &model).unwrap();
    let csv = dir.path().join("pred.csv");
    let feats = dir.path().join("f.bemf");
    let (mp, ap) = (model_path.to_str().unwrap(), archive_dir.to_str().unwrap());
    bemm_tools::cli::run_args([
        "predict",
        mp,
        ap,
        "--split",
        "train",
        "--out",
        csv.to_str().unwrap(),
        "--threads",
        "2",
        "--batch",
        "3",
    ])
    .unwrap();
    bemm_tools::cli::run_args([
        "features",
        mp,
        ap,
        "--split",
        "train",
        "--out",
        feats.to_str().unwrap(),
        "--threads",
        "2",
        "--batch",
        "2",
    ])
    .unwrap();

    let archive = PatchArchive::open(&archive_dir).unwrap();
    let idx = archive.indices(Some(Split::Train));
    assert!(idx.len() >= 4, "twin has {} train patches", idx.len());
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header = fields(lines[0]);
    assert_eq!(header.len(), 21);
    assert_eq!(header[0], "name");
    assert_eq!(&header[1..20], CLASS_NAMES.as_slice());
    assert_eq!(header[20], "predicted");
    assert_eq!(lines.len() - 1, idx.len());

    let owned = OwnedModel::open(&model_path).unwrap();
    let m = owned.model();
    let fa_bytes = std::fs::read(&feats).unwrap();
    let fa_buf: Vec<u64> = fa_bytes
        .chunks(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(a)
        })
        .collect();
    let fa = FeatureArchive::parse(&bytemuck::cast_slice::<u64, u8>(&fa_buf)[..fa_bytes.len()]).unwrap();
    assert_eq!(fa.len(), idx.len());
    assert_eq!(fa.dim() as usize, m.feature_len());
    assert!(fa.header().description().starts_with("tiny feature layer"));

    let mut scratch = vec![0f32; m.scratch_len(1)];
    for (row, (&i, line)) in idx.iter().zip(&lines[1..]).enumerate() {
        let f = fields(line);
        let rec = archive.record(i).unwrap();
        assert_eq!(f[0], rec.s2());
        assert_eq!(fa.record(row).unwrap().s2(), rec.s2());
        let mut probs = vec![0f32; 19];
        let mut feat = vec![0f32; m.feature_len()];
        m.infer(archive.patch(i).unwrap(), 1, &mut scratch, &mut probs, &mut feat).unwrap();
        for j in 0..19 {
            let p: f32 = f[1 + j].parse().unwrap();
            assert!((p - probs[j]).abs() <= 1e-5, "row {row} class {j}: {p} vs {}", probs[j]);
        }
        let mask = m.predicted(&probs);
        let want: Vec<&str> = (0..19).filter(|j| mask >> j & 1 == 1).map(|j| CLASS_NAMES[j]).collect();
        assert_eq!(f[20], want.join(";"));
        let got: &[f16] = fa.vector(row).unwrap();
        for (g, w) in got.iter().zip(&feat) {
            assert_eq!(*g, f16::from_f32(*w));
        }
    }
}
