//! Writes one valid file per format into `corpus/<target>/` so the fuzzers
//! start from real structure: `cargo run --example seed_corpus`.
use bemm_formats::archive::{name_bytes, Manifest, PatchRecord, ShardEntry, ShardWriter};
use bemm_formats::f16;
use bemm_formats::features::encode_features;
use bemm_formats::model::{GraphBuilder, ModelBuilder, OwnedMeta};
use std::fs;
use std::path::Path;

fn record(i: usize) -> PatchRecord {
    PatchRecord {
        s2_name: name_bytes(&format!("S2A_MSIL2A_20170613T101031_{i}_48")).unwrap(),
        s1_name: name_bytes(&format!("S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{i}_48")).unwrap(),
        labels43: 0x801 << i,
        labels19: 0x105 << i,
        split: (i % 4) as u8,
        flags: (i % 3) as u8,
        reserved: [0; 2],
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for t in ["model_file", "patch_shard", "feature_archive", "manifest"] {
        fs::create_dir_all(root.join(t))?;
    }
    let w = |n: usize| (0..n).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<f32>>();

    let mut g = GraphBuilder::new(2, 6, 6);
    let c0 = g.conv(GraphBuilder::INPUT, 4, 3, 1, 1, w(72), w(4), true)?;
    let c1 = g.conv(c0, 4, 3, 1, 1, w(144), w(4), false)?;
    let a = g.add(c1, c0, true)?;
    let p = g.max_pool(a, 2, 2, 0)?;
    let q = g.avg_pool(p, 3, 1, 1)?;
    let r = g.relu(q)?;
    let gap = g.global_avg_pool(r)?;
    let f = g.block_mean(gap, 2)?;
    let l = g.linear(gap, 19, w(76), w(19), false)?;
    g.sigmoid(l)?;
    let m = ModelBuilder { graph: g, output: l, feature: f, meta: OwnedMeta::bigearthnet("seed", &[0, 1]) };
    fs::write(root.join("model_file/seed.bemm"), m.to_bytes()?)?;

    let tmp = std::env::temp_dir().join(format!("bemm-seed-{}", std::process::id()));
    fs::create_dir_all(&tmp)?;
    let path = tmp.join("shard.bin");
    let mut sw = ShardWriter::create(&path, &["VV", "VH"], &[-12.6, -19.3], &[5.1, 5.5], 3, 5)?;
    for i in 0..3 {
        let patch: Vec<f16> = w(30).iter().map(|v| f16::from_f32(v * i as f32)).collect();
        sw.push(&record(i), &patch)?;
    }
    let (count, bytes) = sw.finish()?;
    fs::copy(&path, root.join("patch_shard/seed.bin"))?;
    let mut man = Manifest::new(1000);
    man.shards.push(ShardEntry { file: "shard.bin".into(), chunk: 0, count, bytes });
    man.save(&tmp)?;
    fs::copy(tmp.join("manifest.json"), root.join("manifest/seed.json"))?;
    fs::remove_dir_all(&tmp)?;

    let recs: Vec<PatchRecord> = (0..3).map(record).collect();
    let v: Vec<f16> = w(3 * 40).iter().map(|x| f16::from_f32(x.abs())).collect();
    fs::write(root.join("feature_archive/seed.bemf"), encode_features(40, &v, &recs, "seed features", 7)?)?;
    println!("seed corpus written under {}", root.display());
    Ok(())
}
