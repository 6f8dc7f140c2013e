//! Round trips: what a writer writes, the parser reads back equal.

mod common;

use bemm_formats::archive::{PatchArchive, Shard, Split};
use bemm_formats::bands::{BAND_MEAN, BAND_NAMES, BAND_STD, PATCH_LEN};
use bemm_formats::f16;
use bemm_formats::features::FeatureArchive;
use bemm_formats::model::{LayerKind, ModelFile, OwnedMeta, FLAG_RELU, INPUT, NONE};
use common::*;

fn f16s(v: &[f32]) -> Vec<f16> {
    v.iter().map(|x| f16::from_f32(*x)).collect()
}

#[test]
fn model_round_trip_keeps_graph_weights_and_metadata() {
    let b = model_builder();
    let bytes = b.to_bytes().unwrap();
    let buf = Aligned::new(&bytes);
    let m = ModelFile::parse(buf.bytes()).unwrap();

    let h = m.header();
    assert_eq!((h.input_c, h.input_h, h.input_w), (12, 8, 8));
    assert_eq!(h.num_layers as usize, b.graph.layers().len());
    assert_eq!((h.output_layer, h.feature_layer), (b.output, b.feature));
    assert_eq!(m.num_classes(), 19);
    assert_eq!(m.feature_len(), 4);
    assert_eq!(h.file_len as usize, bytes.len());
    let n = bytes.len();
    assert_eq!(m.checksum(), bemm_formats::checksum::xxh64(&bytes[..n - 8]));
    assert_eq!(m.checksum().to_le_bytes(), bytes[n - 8..]);

    let kinds: Vec<LayerKind> = m.layers().iter().map(|l| l.layer_kind().unwrap()).collect();
    use LayerKind::*;
    assert_eq!(kinds, [Conv, Conv, Add, MaxPool, Conv, Relu, AvgPool, GlobalAvgPool, Linear, Linear, Sigmoid]);
    // The add reads layer 0 as its second operand.
    assert_eq!((m.layers()[2].input, m.layers()[2].input2), (1, 0));
    assert_eq!(m.layers()[0].input, INPUT);
    assert!(m.layers()[0].relu() && m.layers()[2].relu() && !m.layers()[1].relu());
    assert_eq!(m.layers()[2].flags, FLAG_RELU);

    for (i, (spec, l)) in b.graph.layers().iter().zip(m.layers()).enumerate() {
        // Every field but the tensor indices (assigned by to_bytes) is as built.
        let mut r = spec.record;
        r.weight = l.weight;
        r.bias = l.bias;
        assert_eq!(r, *l, "layer {i}");
        let s = m.layer_shape(i).unwrap();
        assert_eq!((s.c, s.h, s.w), (l.out_c, l.out_h, l.out_w));
        match &spec.weight {
            Some(w) => assert_eq!(m.tensor(l.weight).unwrap(), f16s(w).as_slice(), "layer {i} weights"),
            None => assert_eq!(l.weight, NONE),
        }
        match &spec.bias {
            Some(v) => assert_eq!(m.tensor(l.bias).unwrap(), f16s(v).as_slice(), "layer {i} bias"),
            None => assert_eq!(l.bias, NONE),
        }
    }
    for t in m.tensors() {
        assert_eq!(t.offset % 64, 0, "tensor data 64-byte aligned");
    }
    // block_mean: row j of the 4 x 16 matrix averages inputs 4j..4j+4.
    let w = m.tensor(m.layers()[8].weight).unwrap();
    for j in 0..4 {
        for i in 0..16 {
            let want = if i / 4 == j { 0.25 } else { 0.0 };
            assert_eq!(w[j * 16 + i].to_f32(), want);
        }
    }

    assert_eq!(OwnedMeta::from_meta(m.meta()), b.meta);
    assert_eq!(m.meta().bands.as_slice(), BAND_NAMES.as_slice());
    assert_eq!(m.meta().thresholds[3], 0.375);
    assert_eq!(m.meta().provenance.scores[1], ("test_f2", 0.25));

    // Writing is deterministic: the same builder gives the same bytes.
    assert_eq!(b.to_bytes().unwrap(), bytes);
}

#[test]
fn compact_feature_model_round_trip() {
    let b = compact_model_builder();
    let bytes = b.to_bytes().unwrap();
    let buf = Aligned::new(&bytes);
    let m = ModelFile::parse(buf.bytes()).unwrap();
    assert_eq!(m.feature_len(), bemm_formats::model::COMPACT_FEATURE_DIM as usize);
    assert_eq!(OwnedMeta::from_meta(m.meta()), b.meta);
    assert_eq!(m.meta().mean.as_slice(), &[BAND_MEAN[0] as f32, BAND_MEAN[1] as f32]);
}

#[test]
fn patch_archive_round_trip_across_shards() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [3, 0, 2];
    let m = write_archive(dir.path(), &sizes);
    let a = PatchArchive::open(dir.path()).unwrap();
    assert_eq!(a.manifest(), &m);
    assert_eq!(a.len(), 5);
    assert_eq!(a.patch_len(), PATCH_LEN);
    a.verify().unwrap();
    for i in 0..5 {
        assert_eq!(a.patch(i).unwrap(), patch(i, PATCH_LEN).as_slice(), "patch {i}");
        assert_eq!(*a.record(i).unwrap(), record(i), "record {i}");
        assert_eq!(a.find(a.record(i).unwrap().s2()), Some(i));
        assert_eq!(a.find(a.record(i).unwrap().s1()), Some(i));
    }
    assert!(a.patch(5).is_none() && a.record(5).is_none());
    assert_eq!(a.indices(None), vec![0, 1, 2, 3, 4]);
    assert_eq!(a.indices(Some(Split::Train)), vec![0, 4]);
    assert_eq!(a.indices(Some(Split::Validation)), vec![1]);
    assert_eq!(a.indices(Some(Split::Test)), vec![2]);
    assert_eq!(a.indices(Some(Split::Unassigned)), vec![3]);
    let r = a.record(3).unwrap();
    assert!(r.snow() && r.cloud());
    assert_eq!(r.s2(), "S2A_MSIL2A_20170613T101031_13_51");

    // Each shard on its own, and its self-describing header.
    let bytes = std::fs::read(dir.path().join("shard-00000.bin")).unwrap();
    let buf = Aligned::new(&bytes);
    let s = Shard::parse(buf.bytes()).unwrap();
    s.verify_tensors().unwrap();
    let h = s.header();
    assert_eq!((h.count, h.channels, h.height, h.width), (3, 12, 120, 120));
    assert_eq!(h.patch_stride, (PATCH_LEN * 2) as u64); // 345600 is already a multiple of 64
    assert_eq!(h.records_offset, 512 + 3 * h.patch_stride);
    assert_eq!(bytes.len() as u64, h.records_offset + 3 * 144);
    assert_eq!(m.shards[0].bytes, bytes.len() as u64);
    for c in 0..12 {
        assert_eq!(h.band_name(c), BAND_NAMES[c]);
        assert_eq!((h.mean[c], h.std[c]), (BAND_MEAN[c], BAND_STD[c]));
    }
}

#[test]
fn shard_with_padded_stride_round_trip() {
    // 2 x 4 x 5 f16 = 80 bytes, stride 128: patches are padded to 64 bytes.
    let bytes = small_shard_bytes();
    let buf = Aligned::new(&bytes);
    let s = Shard::parse(buf.bytes()).unwrap();
    s.verify_tensors().unwrap();
    assert_eq!(s.header().patch_stride, 128);
    assert_eq!(s.len(), 3);
    for i in 0..3 {
        assert_eq!(s.patch(i).unwrap(), patch(i, 40).as_slice());
        assert_eq!(*s.record(i).unwrap(), record(i));
    }
    assert!(s.patch(3).is_none());
}

#[test]
fn feature_archive_round_trip() {
    for (count, dim) in [(0usize, 7u32), (5, 7), (3, 32), (4, 128), (2, 1000)] {
        let bytes = features_bytes(count, dim);
        let buf = Aligned::new(&bytes);
        let f = FeatureArchive::parse(buf.bytes()).unwrap();
        let want = feature_values(count, dim as usize);
        assert_eq!((f.len(), f.dim()), (count, dim as usize));
        assert_eq!(f.header().row_stride % 64, 0);
        assert_eq!(f.header().model_checksum, 0x1234_5678_9abc_def0);
        assert_eq!(f.header().description(), "tiny-resnet feature layer 8");
        for i in 0..count {
            assert_eq!(f.vector(i).unwrap(), &want[i * dim as usize..(i + 1) * dim as usize]);
            assert_eq!(*f.record(i).unwrap(), record(i));
            // Row padding is zero.
            assert!(f.rows()[i * f.row_elems() + dim as usize..(i + 1) * f.row_elems()]
                .iter()
                .all(|v| v.to_bits() == 0));
        }
        assert!(f.vector(count).is_none() && f.vector(usize::MAX).is_none());
    }
}

#[test]
fn feature_description_is_cut_at_a_char_boundary() {
    let recs = vec![record(0)];
    let desc = "é".repeat(30); // 60 bytes, 48 allowed: cut to 24 chars
    let bytes = bemm_formats::features::encode_features(2, &[f16::ONE, f16::ZERO], &recs, &desc, 0).unwrap();
    let buf = Aligned::new(&bytes);
    let f = FeatureArchive::parse(buf.bytes()).unwrap();
    assert_eq!(f.header().description(), "é".repeat(24));
}
