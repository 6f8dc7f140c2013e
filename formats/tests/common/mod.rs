//! Fixtures shared by the integration tests: small but complete files of
//! every format, aligned buffers, and header patching with checksum repair.
#![allow(dead_code)]

use bemm_formats::archive::{name_bytes, Manifest, PatchRecord, ShardEntry, ShardWriter, Split};
use bemm_formats::bands::{BAND_MEAN, BAND_NAMES, BAND_STD};
use bemm_formats::checksum::xxh64;
use bemm_formats::f16;
use bemm_formats::features::encode_features;
use bemm_formats::model::{GraphBuilder, ModelBuilder, OwnedMeta, COMPACT_FEATURE_DIM};
use std::path::Path;

/// Deterministic pseudo-random values in [-1, 1) (64-bit LCG), so fixtures
/// are reproducible without a rand dependency.
pub fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Bytes copied to an address congruent to `misalign` modulo 64 (0 = as a
/// memory map would give them).
pub struct Aligned {
    store: Vec<[u64; 8]>,
    start: usize,
    len: usize,
}

impl Aligned {
    pub fn new(data: &[u8]) -> Self {
        Self::at(data, 0)
    }
    pub fn at(data: &[u8], misalign: usize) -> Self {
        let mut store = vec![[0u64; 8]; (data.len() + misalign).div_ceil(64) + 1];
        bytemuck::cast_slice_mut::<[u64; 8], u8>(&mut store)[misalign..misalign + data.len()].copy_from_slice(data);
        Aligned { store, start: misalign, len: data.len() }
    }
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<[u64; 8], u8>(&self.store)[self.start..self.start + self.len]
    }
}

pub fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(b[off..off + 2].try_into().unwrap())
}
pub fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
pub fn get_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}
pub fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// The test model: every layer kind of the format on a 12 x 8 x 8 input.
/// conv0 (id 0) is also the second operand of an add, so `input2 = 0` is covered.
pub fn model_builder() -> ModelBuilder {
    let mut g = GraphBuilder::new(12, 8, 8);
    let c0 = g.conv(GraphBuilder::INPUT, 8, 3, 1, 1, values(1, 8 * 12 * 9), values(2, 8), true).unwrap();
    let c1 = g.conv(c0, 8, 3, 1, 1, values(3, 8 * 8 * 9), values(4, 8), false).unwrap();
    let a = g.add(c1, c0, true).unwrap();
    let mp = g.max_pool(a, 3, 2, 1).unwrap();
    let c2 = g.conv(mp, 16, 1, 1, 0, values(5, 16 * 8), values(6, 16), false).unwrap();
    let r = g.relu(c2).unwrap();
    let ap = g.avg_pool(r, 2, 2, 0).unwrap();
    let gap = g.global_avg_pool(ap).unwrap();
    let feat = g.block_mean(gap, 4).unwrap();
    let logits = g.linear(gap, 19, values(7, 19 * 16), values(8, 19), false).unwrap();
    let _probs = g.sigmoid(logits).unwrap();
    let mut meta = OwnedMeta::bigearthnet("tiny-resnet", &(0..12).collect::<Vec<_>>());
    meta.training_data = "synthetic fixture".into();
    meta.epochs = 3;
    meta.scores = vec![("val_f2".into(), 0.5), ("test_f2".into(), 0.25)];
    meta.thresholds[3] = 0.375;
    ModelBuilder { graph: g, output: logits, feature: feat, meta }
}

/// A model using the project's compact feature head (`COMPACT_FEATURE_DIM`).
pub fn compact_model_builder() -> ModelBuilder {
    let mut g = GraphBuilder::new(2, 16, 16);
    let c = g.conv(GraphBuilder::INPUT, 256, 3, 2, 1, values(11, 256 * 2 * 9), values(12, 256), true).unwrap();
    let gap = g.global_avg_pool(c).unwrap();
    let feat = g.block_mean(gap, COMPACT_FEATURE_DIM).unwrap();
    let logits = g.linear(gap, 19, values(13, 19 * 256), values(14, 19), false).unwrap();
    ModelBuilder { graph: g, output: logits, feature: feat, meta: OwnedMeta::bigearthnet("compact", &[0, 1]) }
}

pub fn model_bytes() -> Vec<u8> {
    model_builder().to_bytes().unwrap()
}

/// Re-seal a model file after editing it: recompute the trailing XXH64.
pub fn reseal_model(b: &mut [u8]) {
    let n = get_u64(b, 56) as usize;
    let s = xxh64(&b[..n - 8]);
    put_u64(b, n - 8, s);
}

/// Deterministic record `i`.
pub fn record(i: usize) -> PatchRecord {
    let split = [Split::Train, Split::Validation, Split::Test, Split::Unassigned][i % 4];
    PatchRecord {
        s2_name: name_bytes(&format!("S2A_MSIL2A_20170613T101031_{}_{}", 10 + i, 48 + i)).unwrap(),
        s1_name: name_bytes(&format!("S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{}_{}", 10 + i, 48 + i)).unwrap(),
        labels43: 0x0000_0400_0080_0801u64.rotate_left(i as u32) & ((1u64 << 43) - 1),
        labels19: (0x0004_0105u32 << (i % 3)) & ((1 << 19) - 1),
        split: split as u8,
        flags: (i % 4) as u8,
        reserved: [0; 2],
    }
}

/// Deterministic patch `i` of `n` elements.
pub fn patch(i: usize, n: usize) -> Vec<f16> {
    values(100 + i as u64, n).into_iter().map(|v| f16::from_f32(v * 3.0)).collect()
}

/// Write a shard of `count` patches at `path`; returns (count, bytes).
pub fn write_shard(path: &Path, bands: &[&str], h: u32, w: u32, first: usize, count: usize) -> (u64, u64) {
    let mean: Vec<f64> = (0..bands.len()).map(|c| BAND_MEAN[c % 12]).collect();
    let std: Vec<f64> = (0..bands.len()).map(|c| BAND_STD[c % 12]).collect();
    let mut wr = ShardWriter::create(path, bands, &mean, &std, h, w).unwrap();
    let n = bands.len() * (h * w) as usize;
    for i in first..first + count {
        wr.push(&record(i), &patch(i, n)).unwrap();
    }
    wr.finish().unwrap()
}

/// A small shard (2 bands, 4 x 5, 3 patches) as bytes: small enough to
/// corrupt at every byte.
pub fn small_shard_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.bin");
    write_shard(&p, &["VV", "VH"], 4, 5, 0, 3);
    std::fs::read(&p).unwrap()
}

/// A patch archive in `dir` with shards of the given sizes (real geometry).
pub fn write_archive(dir: &Path, sizes: &[usize]) -> Manifest {
    let mut m = Manifest::new(8);
    let mut first = 0;
    for (k, &n) in sizes.iter().enumerate() {
        let file = format!("shard-{k:05}.bin");
        let (count, bytes) = write_shard(&dir.join(&file), &BAND_NAMES, 120, 120, first, n);
        m.shards.push(ShardEntry { file, chunk: k as u64, count, bytes });
        first += n;
    }
    m.source = serde_json::json!({"made_by": "bemm-formats tests"});
    m.save(dir).unwrap();
    m
}

/// Feature vectors (`count * dim`) for the feature fixtures.
pub fn feature_values(count: usize, dim: usize) -> Vec<f16> {
    values(7777, count * dim).into_iter().map(|v| f16::from_f32(v.abs())).collect()
}

pub fn features_bytes(count: usize, dim: u32) -> Vec<u8> {
    let recs: Vec<PatchRecord> = (0..count).map(record).collect();
    encode_features(
        dim,
        &feature_values(count, dim as usize),
        &recs,
        "tiny-resnet feature layer 8",
        0x1234_5678_9abc_def0,
    )
    .unwrap()
}

/// Re-seal a feature archive after editing it (checksum at records_offset + count*144).
pub fn reseal_features(b: &mut [u8]) {
    let end = (get_u64(b, 48) + get_u64(b, 16) * 144) as usize;
    let s = xxh64(&b[..end]);
    put_u64(b, end, s);
}

/// Re-seal a shard header after editing it (header checksum only).
pub fn reseal_shard_header(b: &mut [u8]) {
    let s = xxh64(&b[..504]);
    put_u64(b, 504, s);
}

/// [`model_builder`] with its two 3x3 convolutions' twin and its 1x1
/// convolution quantized (`QConv`, format 1.1): every int8 tensor type.
pub fn quant_model_builder() -> ModelBuilder {
    let mut b = model_builder();
    b.graph.quantize(1, 0.05, 0, bemm_formats::model::WeightBits::Eight).unwrap();
    b.graph.quantize(4, 0.03, 0, bemm_formats::model::WeightBits::Eight).unwrap();
    b
}

pub fn quant_model_bytes() -> Vec<u8> {
    quant_model_builder().to_bytes().unwrap()
}
