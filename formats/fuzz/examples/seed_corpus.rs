//! Writes one valid file per format into `corpus/<target>/` so the fuzzers
//! start from real structure: `cargo run --example seed_corpus [DIR]` (DIR
//! defaults to `corpus/` beside this crate's manifest). The `inference`
//! target is seeded from every file of `model_file/` there (the seed and
//! whatever earlier fuzzing found), each with an options byte in front and
//! input values behind, plus a tiny ResNet-like engine model.
use bemm_engine::arch::{build, Arch, RandomWeights};
use bemm_formats::archive::{name_bytes, Manifest, PatchRecord, ShardEntry, ShardWriter};
use bemm_formats::f16;
use bemm_formats::features::encode_features;
use bemm_formats::model::{GraphBuilder, ModelBuilder, OwnedMeta};
use std::fs;
use std::path::{Path, PathBuf};

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
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    for t in ["model_file", "patch_shard", "feature_archive", "manifest", "inference"] {
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
    // The same graph with its second convolution int8 (format 1.1): seeds
    // the QConv layer, the i8/i32/f32 tensors and their validation.
    let mut q = m.clone();
    q.graph.quantize(c1, 0.05, 3, bemm_formats::model::WeightBits::Eight)?;
    fs::write(root.join("model_file/seed-int8.bemm"), q.to_bytes()?)?;

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
    let n = inference_seeds(&root)?;
    println!("seed corpus written under {} ({n} inference seeds)", root.display());
    Ok(())
}

/// `inference` seeds: options byte, model file, input values (f16, LE).
fn inference_seeds(root: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let mut models: Vec<(String, Vec<u8>)> = Vec::new();
    for e in fs::read_dir(root.join("model_file"))? {
        let p = e?.path();
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        models.push((name, fs::read(&p)?));
    }
    let meta = OwnedMeta::bigearthnet("tiny", &[0, 1, 2]);
    let tiny = build(Arch::Tiny, 3, 16, 19, &mut RandomWeights::new(5), meta).map_err(|e| e.to_string())?.to_bytes()?;
    models.push(("tiny-engine".into(), tiny));
    let input: Vec<u8> =
        (0..257).flat_map(|i| f16::from_f32(((i * 37 % 101) as f32 / 50.0 - 1.0) * 2.0).to_le_bytes()).collect();
    let mut n = 0;
    for (name, model) in &models {
        // batch 2 through the C ABI; fast precision; small GEMM panels and no
        // Winograd; the input kept as given with a NaN in it.
        for opts in [0x21u8, 0x04, 0x18, 0x40] {
            let mut seed = vec![opts];
            seed.extend_from_slice(model);
            seed.extend_from_slice(&input);
            if opts == 0x40 {
                seed.extend_from_slice(&f16::NAN.to_le_bytes());
            }
            fs::write(root.join("inference").join(format!("{name}-{opts:02x}")), seed)?;
            n += 1;
        }
    }
    Ok(n)
}
