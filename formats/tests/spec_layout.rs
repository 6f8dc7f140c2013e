//! SPEC.md's tables, checked against the code: every field offset and size,
//! the constants, and the worked postcard example of the model metadata.

use bemm_formats::archive::{PatchRecord, ShardHeader};
use bemm_formats::checksum::xxh64;
use bemm_formats::features::FeatureHeader;
use bemm_formats::model::{FileHeader, LayerKind, LayerRecord, OwnedMeta, TensorRecord, INPUT, NONE};
use core::mem::{offset_of, size_of};

#[test]
fn model_file_tables_match_spec() {
    assert_eq!(size_of::<FileHeader>(), 64);
    let h = [
        (offset_of!(FileHeader, magic), 0),
        (offset_of!(FileHeader, version_major), 8),
        (offset_of!(FileHeader, version_minor), 10),
        (offset_of!(FileHeader, header_size), 12),
        (offset_of!(FileHeader, num_layers), 16),
        (offset_of!(FileHeader, num_tensors), 20),
        (offset_of!(FileHeader, meta_len), 24),
        (offset_of!(FileHeader, input_c), 28),
        (offset_of!(FileHeader, input_h), 32),
        (offset_of!(FileHeader, input_w), 36),
        (offset_of!(FileHeader, output_layer), 40),
        (offset_of!(FileHeader, feature_layer), 44),
        (offset_of!(FileHeader, num_classes), 48),
        (offset_of!(FileHeader, reserved), 52),
        (offset_of!(FileHeader, file_len), 56),
    ];
    for (got, want) in h {
        assert_eq!(got, want);
    }
    assert_eq!(size_of::<LayerRecord>(), 64);
    let l = [
        offset_of!(LayerRecord, kind),
        offset_of!(LayerRecord, input),
        offset_of!(LayerRecord, input2),
        offset_of!(LayerRecord, flags),
        offset_of!(LayerRecord, in_c),
        offset_of!(LayerRecord, in_h),
        offset_of!(LayerRecord, in_w),
        offset_of!(LayerRecord, out_c),
        offset_of!(LayerRecord, out_h),
        offset_of!(LayerRecord, out_w),
        offset_of!(LayerRecord, kernel_h),
        offset_of!(LayerRecord, kernel_w),
        offset_of!(LayerRecord, stride),
        offset_of!(LayerRecord, pad),
        offset_of!(LayerRecord, weight),
        offset_of!(LayerRecord, bias),
    ];
    assert_eq!(l, core::array::from_fn::<usize, 16, _>(|i| 4 * i));
    assert_eq!(size_of::<TensorRecord>(), 40);
    assert_eq!(
        [
            offset_of!(TensorRecord, offset),
            offset_of!(TensorRecord, elements),
            offset_of!(TensorRecord, dims),
            offset_of!(TensorRecord, rank),
            offset_of!(TensorRecord, dtype)
        ],
        [0, 8, 16, 32, 36]
    );
    assert_eq!((NONE, INPUT), (0xFFFF_FFFF, 0xFFFF_FFFE));
    let kinds = [
        LayerKind::Conv,
        LayerKind::Relu,
        LayerKind::MaxPool,
        LayerKind::AvgPool,
        LayerKind::Add,
        LayerKind::GlobalAvgPool,
        LayerKind::Linear,
        LayerKind::Sigmoid,
    ];
    for (i, k) in kinds.iter().enumerate() {
        assert_eq!(*k as u32, i as u32 + 1);
        assert_eq!(LayerKind::from_u32(i as u32 + 1), Some(*k));
    }
    assert_eq!(LayerKind::from_u32(0), None);
    assert_eq!(&bemm_formats::model::MAGIC, b"BEMMODEL");
}

#[test]
fn shard_and_record_tables_match_spec() {
    assert_eq!(size_of::<ShardHeader>(), 512);
    assert_eq!(
        [
            offset_of!(ShardHeader, magic),
            offset_of!(ShardHeader, version_major),
            offset_of!(ShardHeader, version_minor),
            offset_of!(ShardHeader, header_size),
            offset_of!(ShardHeader, count),
            offset_of!(ShardHeader, channels),
            offset_of!(ShardHeader, height),
            offset_of!(ShardHeader, width),
            offset_of!(ShardHeader, dtype),
            offset_of!(ShardHeader, tensors_offset),
            offset_of!(ShardHeader, patch_stride),
            offset_of!(ShardHeader, records_offset),
            offset_of!(ShardHeader, band_names),
            offset_of!(ShardHeader, mean),
            offset_of!(ShardHeader, std),
            offset_of!(ShardHeader, tensors_checksum),
            offset_of!(ShardHeader, records_checksum),
            offset_of!(ShardHeader, reserved),
            offset_of!(ShardHeader, header_checksum),
        ],
        [0, 8, 10, 12, 16, 24, 28, 32, 36, 40, 48, 56, 64, 192, 320, 448, 456, 464, 504]
    );
    assert_eq!(size_of::<PatchRecord>(), 144);
    assert_eq!(
        [
            offset_of!(PatchRecord, s2_name),
            offset_of!(PatchRecord, s1_name),
            offset_of!(PatchRecord, labels43),
            offset_of!(PatchRecord, labels19),
            offset_of!(PatchRecord, split),
            offset_of!(PatchRecord, flags),
            offset_of!(PatchRecord, reserved),
        ],
        [0, 64, 128, 136, 140, 141, 142]
    );
    assert_eq!(&bemm_formats::archive::SHARD_MAGIC, b"BEMPATCH");
    assert_eq!(ShardHeader::stride_for(12, 120, 120), 345_600);
    assert_eq!(ShardHeader::stride_for(2, 4, 5), 128);
}

#[test]
fn feature_header_table_matches_spec() {
    assert_eq!(size_of::<FeatureHeader>(), 128);
    assert_eq!(
        [
            offset_of!(FeatureHeader, magic),
            offset_of!(FeatureHeader, version_major),
            offset_of!(FeatureHeader, version_minor),
            offset_of!(FeatureHeader, header_size),
            offset_of!(FeatureHeader, count),
            offset_of!(FeatureHeader, dim),
            offset_of!(FeatureHeader, dtype),
            offset_of!(FeatureHeader, row_stride),
            offset_of!(FeatureHeader, vectors_offset),
            offset_of!(FeatureHeader, records_offset),
            offset_of!(FeatureHeader, model_checksum),
            offset_of!(FeatureHeader, description),
            offset_of!(FeatureHeader, reserved),
        ],
        [0, 8, 10, 12, 16, 24, 28, 32, 40, 48, 56, 64, 112]
    );
    assert_eq!(&bemm_formats::features::FEATURE_MAGIC, b"BEMFEATS");
    assert_eq!(FeatureHeader::stride_for(128), 256);
    assert_eq!(FeatureHeader::stride_for(33), 128);
}

/// The worked example in SPEC.md, section "Model metadata (postcard)".
#[test]
fn postcard_metadata_example_matches_spec() {
    let meta = OwnedMeta {
        classes: vec!["a".into(), "b".into()],
        thresholds: vec![0.5, 0.25],
        bands: vec!["VV".into()],
        mean: vec![-12.5],
        std: vec![5.0],
        arch: "r".into(),
        training_data: String::new(),
        epochs: 300,
        preprocessing: String::new(),
        scores: vec![("f2".into(), 1.0)],
    };
    let bytes = postcard::to_allocvec(&meta.as_meta().unwrap()).unwrap();
    let spec = "02 01 61 01 62 02 00 00 00 3f 00 00 80 3e 01 02 56 56 01 00 00 48 c1 01 00 00 a0 40 \
                01 72 00 ac 02 00 01 02 66 32 00 00 80 3f";
    let want: Vec<u8> = spec.split_whitespace().map(|h| u8::from_str_radix(h, 16).unwrap()).collect();
    assert_eq!(bytes, want);
}

#[test]
fn xxh64_test_vectors_in_spec() {
    assert_eq!(xxh64(b""), 0xEF46_DB37_51D8_E999);
    assert_eq!(xxh64(b"abc"), 0x44BC_2CF5_AD77_0999);
}
