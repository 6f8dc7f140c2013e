//! Each kind of malformed input gets its own typed error naming what is
//! wrong. Headers are edited and then re-sealed (valid checksums), so the
//! check under test is really the one that fires.

mod common;

use bemm_formats::archive::{ArchiveError, Manifest, PatchArchive, Shard};
use bemm_formats::features::FeatureArchive;
use bemm_formats::model::ModelFile;
use bemm_formats::FormatError;
use common::*;

fn model_err(b: &[u8]) -> FormatError {
    ModelFile::parse(Aligned::new(b).bytes()).unwrap_err()
}
fn shard_err(b: &[u8]) -> FormatError {
    Shard::parse(Aligned::new(b).bytes()).unwrap_err()
}
fn features_err(b: &[u8]) -> FormatError {
    FeatureArchive::parse(Aligned::new(b).bytes()).unwrap_err()
}

// Byte offsets from SPEC.md.
const M_VERSION_MAJOR: usize = 8;
const M_VERSION_MINOR: usize = 10;
const M_NUM_LAYERS: usize = 16;
const M_NUM_TENSORS: usize = 20;
const M_META_LEN: usize = 24;
const M_FILE_LEN: usize = 56;
const S_COUNT: usize = 16;
const S_RECORDS_OFFSET: usize = 56;
const F_COUNT: usize = 16;
const F_DIM: usize = 24;
const F_ROW_STRIDE: usize = 32;
const F_RECORDS_OFFSET: usize = 48;

fn tensor_table(b: &[u8]) -> usize {
    64 + 64 * get_u32(b, M_NUM_LAYERS) as usize
}

// ---- wrong magic ---------------------------------------------------------

#[test]
fn wrong_magic_is_named() {
    let mut m = model_bytes();
    m[0..8].copy_from_slice(b"BEMPATCH");
    let e = model_err(&m);
    assert!(matches!(e, FormatError::BadMagic { found, .. } if &found == b"BEMPATCH"), "{e}");
    assert!(e.to_string().contains("model file: bad magic"), "{e}");

    let mut s = small_shard_bytes();
    s[0] = b'X';
    assert!(matches!(shard_err(&s), FormatError::BadMagic { what: "patch shard", .. }));

    let mut f = features_bytes(2, 8);
    f[7] = 0;
    assert!(matches!(features_err(&f), FormatError::BadMagic { what: "feature archive", .. }));
}

// ---- versions ------------------------------------------------------------

#[test]
fn newer_major_version_is_rejected_newer_minor_accepted() {
    let mut m = model_bytes();
    put_u16(&mut m, M_VERSION_MAJOR, 2);
    reseal_model(&mut m);
    let e = model_err(&m);
    assert!(matches!(e, FormatError::UnsupportedVersion { major: 2, supported: 1, .. }), "{e}");
    assert!(e.to_string().contains("version 2.0 is not supported"), "{e}");
    let mut m = model_bytes();
    put_u16(&mut m, M_VERSION_MINOR, 9);
    reseal_model(&mut m);
    assert_eq!(ModelFile::parse(Aligned::new(&m).bytes()).unwrap().header().version_minor, 9);

    let mut s = small_shard_bytes();
    put_u16(&mut s, 8, 2);
    reseal_shard_header(&mut s);
    assert!(matches!(shard_err(&s), FormatError::UnsupportedVersion { major: 2, .. }));
    let mut s = small_shard_bytes();
    put_u16(&mut s, 10, 3);
    reseal_shard_header(&mut s);
    Shard::parse(Aligned::new(&s).bytes()).unwrap();

    let mut f = features_bytes(2, 8);
    put_u16(&mut f, 8, 7);
    reseal_features(&mut f);
    assert!(matches!(features_err(&f), FormatError::UnsupportedVersion { major: 7, .. }));
    let mut f = features_bytes(2, 8);
    put_u16(&mut f, 10, 1);
    reseal_features(&mut f);
    FeatureArchive::parse(Aligned::new(&f).bytes()).unwrap();
}

// ---- checksums -----------------------------------------------------------

#[test]
fn bad_checksums_name_the_region() {
    let mut m = model_bytes();
    let last_weight = m.len() - 9;
    m[last_weight] ^= 0x10;
    let e = model_err(&m);
    assert!(matches!(e, FormatError::Checksum { region: "bytes 0..file_len-8", .. }), "{e}");
    assert!(e.to_string().contains("checksum mismatch"), "{e}");

    let s0 = small_shard_bytes();
    let mut s = s0.clone();
    s[300] ^= 1; // inside the band statistics
    assert!(matches!(shard_err(&s), FormatError::Checksum { region: "header bytes 0..504", .. }));
    let mut s = s0.clone();
    let last = s.len() - 1; // a record byte
    s[last] ^= 1;
    assert!(matches!(shard_err(&s), FormatError::Checksum { region: "record table", .. }));
    let mut s = s0.clone();
    s[512 + 3] ^= 1; // a tensor byte: parse is cheap and succeeds, verify finds it
    let buf = Aligned::new(&s);
    let shard = Shard::parse(buf.bytes()).unwrap();
    assert!(matches!(shard.verify_tensors(), Err(FormatError::Checksum { region: "tensors", .. })));
    let mut s = s0.clone();
    s[512 + 100] ^= 1; // padding after patch 0's 80 bytes is covered too
    let buf = Aligned::new(&s);
    assert!(Shard::parse(buf.bytes()).unwrap().verify_tensors().is_err());

    let mut f = features_bytes(3, 8);
    f[200] ^= 4;
    assert!(matches!(features_err(&f), FormatError::Checksum { what: "feature archive", .. }));
}

// ---- offsets out of range, misalignment ----------------------------------

#[test]
fn model_tensor_offsets_out_of_range_or_misaligned() {
    let good = model_bytes();
    let t0 = tensor_table(&good);
    let file_len = good.len() as u64;

    let mut m = good.clone();
    put_u64(&mut m, t0, file_len - 8 + 64); // past the payload
    reseal_model(&mut m);
    let e = model_err(&m);
    assert!(matches!(e, FormatError::Invalid { field: "offset", .. }), "{e}");
    assert!(e.to_string().contains("inside the weight payload"), "{e}");

    let mut m = good.clone();
    put_u64(&mut m, t0, 0); // on top of the header
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Invalid { field: "offset", value: 0, .. }));

    let mut m = good.clone();
    put_u64(&mut m, t0, u64::MAX - 63); // aligned, and offset + size overflows
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Invalid { field: "offset", .. }));

    let mut m = good.clone();
    let off = get_u64(&m, t0);
    put_u64(&mut m, t0, off + 2);
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Misaligned { field: "offset", align: 64, .. }));

    let mut m = good.clone();
    put_u64(&mut m, M_FILE_LEN, file_len + 64);
    let e = model_err(&m);
    assert!(matches!(e, FormatError::TooShort { needed, .. } if needed == file_len + 64), "{e}");
    put_u64(&mut m, M_FILE_LEN, 40);
    assert!(matches!(model_err(&m), FormatError::Invalid { field: "file_len", .. }));
}

#[test]
fn shard_and_feature_offsets_out_of_range() {
    let mut s = small_shard_bytes();
    let r = get_u64(&s, S_RECORDS_OFFSET);
    put_u64(&mut s, S_RECORDS_OFFSET, r + 64);
    reseal_shard_header(&mut s);
    let e = shard_err(&s);
    assert!(matches!(e, FormatError::Invalid { field: "records_offset", .. }), "{e}");

    let mut s = small_shard_bytes();
    put_u64(&mut s, 40, 576); // tensors_offset
    reseal_shard_header(&mut s);
    assert!(matches!(shard_err(&s), FormatError::Invalid { field: "tensors_offset", .. }));

    let mut f = features_bytes(3, 8);
    let r = get_u64(&f, F_RECORDS_OFFSET);
    put_u64(&mut f, F_RECORDS_OFFSET, r - 64);
    assert!(matches!(features_err(&f), FormatError::Invalid { field: "records_offset", .. }));
}

#[test]
fn misaligned_input_slices_are_reported_not_copied() {
    let m = model_bytes();
    for misalign in [1, 2, 4] {
        let e = ModelFile::parse(Aligned::at(&m, misalign).bytes()).unwrap_err();
        assert!(matches!(e, FormatError::Misaligned { .. }), "model at +{misalign}: {e}");
    }
    let s = small_shard_bytes();
    for misalign in [1, 4] {
        let e = Shard::parse(Aligned::at(&s, misalign).bytes()).unwrap_err();
        assert!(matches!(e, FormatError::Misaligned { .. }), "shard at +{misalign}: {e}");
        assert!(e.to_string().contains("not aligned"), "{e}");
    }
    let f = features_bytes(3, 8);
    for misalign in [1, 2, 4] {
        let e = FeatureArchive::parse(Aligned::at(&f, misalign).bytes()).unwrap_err();
        assert!(matches!(e, FormatError::Misaligned { .. }), "features at +{misalign}: {e}");
    }
    // 8-byte alignment is enough for every format.
    ModelFile::parse(Aligned::at(&m, 8).bytes()).unwrap();
    Shard::parse(Aligned::at(&s, 8).bytes()).unwrap();
    FeatureArchive::parse(Aligned::at(&f, 8).bytes()).unwrap();
}

// ---- shape mismatches ----------------------------------------------------

#[test]
fn model_shape_mismatches_are_graph_errors() {
    let good = model_bytes();
    // Layer 1 (conv 8 -> 8) claims 9 input channels: no longer chains to layer 0.
    let mut m = good.clone();
    put_u32(&mut m, 64 + 64 + 16, 9);
    reseal_model(&mut m);
    let e = model_err(&m);
    assert!(matches!(e, FormatError::Graph { layer: 1, .. }), "{e}");
    assert!(e.to_string().contains("layer 1: input shape does not match"), "{e}");

    // Weight tensor 0 of conv 0 is [8, 12, 3, 3]; say [8, 12, 9, 1] (same element count).
    let t0 = tensor_table(&good);
    let mut m = good.clone();
    put_u32(&mut m, t0 + 16 + 8, 9);
    put_u32(&mut m, t0 + 16 + 12, 1);
    reseal_model(&mut m);
    let e = model_err(&m);
    assert!(
        matches!(e, FormatError::Graph { layer: 0, problem: "weight tensor shape does not match the layer", .. }),
        "{e}"
    );

    // elements disagreeing with dims.
    let mut m = good.clone();
    put_u64(&mut m, t0 + 8, 865);
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Invalid { field: "elements", .. }));

    // Output size that does not follow from kernel/stride/pad (max pool, layer 3).
    let mut m = good.clone();
    put_u32(&mut m, 64 + 3 * 64 + 32, 5);
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Graph { layer: 3, .. }));

    // A layer reading a later layer (not topological).
    let mut m = good.clone();
    put_u32(&mut m, 64 + 4, 5);
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Graph { layer: 0, .. }));

    // Unknown layer kind.
    let mut m = good.clone();
    put_u32(&mut m, 64 + 5 * 64, 99);
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Graph { layer: 5, problem: "unknown layer kind", value: 99 }));

    // num_classes not the output layer's size.
    let mut m = good.clone();
    put_u32(&mut m, 48, 18);
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Invalid { field: "num_classes", .. }));
}

#[test]
fn model_metadata_errors() {
    let good = model_bytes();
    let meta_off = tensor_table(&good) + 40 * get_u32(&good, M_NUM_TENSORS) as usize;
    // First byte of the metadata is the class count varint (19): say 20.
    assert_eq!(good[meta_off], 19);
    let mut m = good.clone();
    m[meta_off] = 18;
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Meta { .. }));
    // A threshold outside [0, 1]: the thresholds follow the class names.
    let mut m = good.clone();
    let mut p = meta_off + 1;
    for _ in 0..19 {
        p += 1 + m[p] as usize; // all class names are shorter than 128 bytes: 1-byte varint
    }
    assert_eq!(m[p], 19);
    m[p + 1..p + 5].copy_from_slice(&1.5f32.to_le_bytes());
    reseal_model(&mut m);
    let e = model_err(&m);
    assert!(matches!(e, FormatError::MetaValue { field: "thresholds", index: 0, .. }), "{e}");
    assert!(e.to_string().contains("thresholds[0] is 1.5"), "{e}");
}

#[test]
fn shard_shape_disagreeing_with_manifest_is_rejected_by_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let mut man = write_archive(dir.path(), &[1]);
    man.height = 60;
    man.save(dir.path()).unwrap();
    let e = PatchArchive::open(dir.path()).err().unwrap();
    assert!(
        matches!(e, ArchiveError::Manifest(ref s) if s.contains("shard-00000.bin") && s.contains("12x120x120")),
        "{e}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut man = write_archive(dir.path(), &[1]);
    man.std[4] *= 2.0;
    man.save(dir.path()).unwrap();
    let e = PatchArchive::open(dir.path()).err().unwrap();
    assert!(e.to_string().contains("channel 4"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let mut man = write_archive(dir.path(), &[2]);
    man.shards[0].count = 3;
    man.save(dir.path()).unwrap();
    assert!(PatchArchive::open(dir.path()).is_err());
}

#[test]
fn bad_manifests_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut man = Manifest::new(4);
    man.channels = 100_000;
    man.save(dir.path()).unwrap();
    let e = PatchArchive::open(dir.path()).err().unwrap().to_string();
    assert!(e.contains("manifest.json") && e.contains("`channels`"), "{e}");

    let mut man = Manifest::new(4);
    man.shards.push(bemm_formats::archive::ShardEntry { file: "../escape.bin".into(), chunk: 0, count: 0, bytes: 0 });
    man.save(dir.path()).unwrap();
    let e = PatchArchive::open(dir.path()).err().unwrap().to_string();
    assert!(e.contains("shards[0].file"), "{e}");

    let mut man = Manifest::new(4);
    man.mean.pop();
    man.save(dir.path()).unwrap();
    assert!(PatchArchive::open(dir.path()).err().unwrap().to_string().contains("`mean`"));

    std::fs::write(dir.path().join("manifest.json"), "{\"format\": \"something-else\"").unwrap();
    let e = PatchArchive::open(dir.path()).err().unwrap().to_string();
    assert!(e.contains("not a valid manifest"), "{e}");

    let mut man = Manifest::new(4);
    man.format = "zip".into();
    man.save(dir.path()).unwrap();
    assert!(PatchArchive::open(dir.path()).err().unwrap().to_string().contains("`format`"));

    // A listed shard that is missing names its path.
    let mut man = Manifest::new(4);
    man.shards.push(bemm_formats::archive::ShardEntry { file: "gone.bin".into(), chunk: 0, count: 1, bytes: 1 });
    man.save(dir.path()).unwrap();
    let e = PatchArchive::open(dir.path()).err().unwrap();
    assert!(matches!(e, ArchiveError::Io { ref path, .. } if path.ends_with("gone.bin")), "{e}");
}

// ---- absurd counts -------------------------------------------------------

#[test]
fn absurd_model_counts_are_errors() {
    let good = model_bytes();
    for (field, off, v) in [("num_layers", M_NUM_LAYERS, u32::MAX), ("num_layers", M_NUM_LAYERS, 0)] {
        let mut m = good.clone();
        put_u32(&mut m, off, v);
        reseal_model(&mut m);
        let e = model_err(&m);
        assert!(matches!(e, FormatError::Invalid { field: f, .. } if f == field), "{e}");
    }
    for off in [M_NUM_TENSORS, M_META_LEN] {
        let mut m = good.clone();
        put_u32(&mut m, off, u32::MAX);
        reseal_model(&mut m);
        assert!(matches!(model_err(&m), FormatError::Truncated { .. }), "offset {off}");
    }
    // A tensor whose dims multiply past 2^64 (saturates, never wraps).
    let t0 = tensor_table(&good);
    let mut m = good.clone();
    for d in 0..4 {
        put_u32(&mut m, t0 + 16 + 4 * d, u32::MAX);
    }
    put_u64(&mut m, t0 + 8, u64::MAX);
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Invalid { field: "elements", .. }));
    // An input of 65536^3 elements.
    let mut m = good.clone();
    for off in [28, 32, 36] {
        put_u32(&mut m, off, 1 << 16);
    }
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Invalid { field: "input_c * input_h * input_w", .. }));
}

#[test]
fn absurd_shard_counts_are_errors() {
    let good = small_shard_bytes();
    let stride = get_u64(&good, 48);
    let mut s = good.clone();
    put_u64(&mut s, S_COUNT, u64::MAX);
    reseal_shard_header(&mut s);
    let e = shard_err(&s);
    assert!(matches!(e, FormatError::Invalid { field: "count", .. }), "{e}");

    // The largest allowed count with a consistent records_offset: the record
    // table would be 600 GB, so the input is too short.
    let mut s = good.clone();
    let count = u32::MAX as u64;
    put_u64(&mut s, S_COUNT, count);
    put_u64(&mut s, S_RECORDS_OFFSET, (512 + count * stride).div_ceil(64) * 64);
    reseal_shard_header(&mut s);
    assert!(matches!(shard_err(&s), FormatError::TooShort { what: "patch shard", .. }));

    // Geometry limits.
    let mut s = good.clone();
    put_u32(&mut s, 24, 17); // channels
    reseal_shard_header(&mut s);
    assert!(matches!(shard_err(&s), FormatError::Invalid { field: "channels", .. }));
    let mut s = good.clone();
    put_u32(&mut s, 28, u32::MAX); // height
    reseal_shard_header(&mut s);
    assert!(matches!(shard_err(&s), FormatError::Invalid { field: "height", .. }));
}

#[test]
fn absurd_feature_counts_are_errors() {
    let good = features_bytes(3, 8);
    // count * row_stride overflows u64.
    let mut f = good.clone();
    put_u64(&mut f, F_COUNT, u64::MAX / 2);
    assert!(matches!(features_err(&f), FormatError::Invalid { field: "count", .. }));
    // Consistent but enormous: needs far more bytes than there are.
    let mut f = good.clone();
    let count = 1u64 << 40;
    put_u64(&mut f, F_COUNT, count);
    put_u64(&mut f, F_RECORDS_OFFSET, 128 + count * 64);
    assert!(matches!(features_err(&f), FormatError::TooShort { what: "feature archive", .. }));
    // Dimension beyond the limit, stride that disagrees with dim.
    let mut f = good.clone();
    put_u32(&mut f, F_DIM, u32::MAX);
    assert!(matches!(features_err(&f), FormatError::Invalid { field: "dim", .. }));
    let mut f = good.clone();
    put_u64(&mut f, F_ROW_STRIDE, 128);
    assert!(matches!(features_err(&f), FormatError::Invalid { field: "row_stride", .. }));
}

#[test]
fn truncated_files_say_how_much_is_missing() {
    // Shorter than the fixed header: "too short", with the size found and the size needed.
    let m = model_bytes();
    let e = model_err(&m[..40]);
    assert!(matches!(e, FormatError::TooShort { what: "model file", needed: 64, len: 40 }), "{e}");
    assert!(e.to_string().contains("too short: the input holds 40 bytes, expected at least 64"), "{e}");
    // Shorter than the length the header declares.
    let e = model_err(&m[..m.len() - 1]);
    assert!(matches!(e, FormatError::TooShort { needed, .. } if needed == m.len() as u64), "{e}");
    let s = small_shard_bytes();
    let e = shard_err(&s[..s.len() - 1]);
    assert!(matches!(e, FormatError::TooShort { what: "patch shard", needed, .. } if needed == s.len() as u64), "{e}");
    let e = shard_err(&s[..100]);
    assert!(matches!(e, FormatError::TooShort { what: "patch shard", needed: 512, len: 100 }), "{e}");
    let f = features_bytes(3, 8);
    let e = features_err(&f[..f.len() - 1]);
    assert!(
        matches!(e, FormatError::TooShort { what: "feature archive", needed, .. } if needed == f.len() as u64),
        "{e}"
    );
    let e = features_err(&f[..20]);
    assert!(matches!(e, FormatError::TooShort { what: "feature archive", needed: 128, len: 20 }), "{e}");
    // Empty, and a short file of another kind: the kind is named instead.
    assert!(matches!(model_err(&[]), FormatError::TooShort { len: 0, needed: 64, .. }));
    assert!(matches!(model_err(b"\x89PNG\r\n\x1a\n\0\0"), FormatError::BadMagic { .. }));
}

// ---- values, magic text, manifest duplicates -----------------------------

#[test]
fn non_finite_weights_are_named_by_tensor_and_element() {
    for (bits, word) in [(0x7e00u16, "NaN"), (0x7c00, "inf"), (0xfc00, "-inf")] {
        let mut m = model_bytes();
        let t = tensor_table(&m);
        let off = get_u64(&m, t) as usize; // tensor 0's data offset
        put_u16(&mut m, off + 2 * 5, bits);
        reseal_model(&mut m);
        let e = model_err(&m);
        assert!(matches!(e, FormatError::NonFinite { tensor: 0, index: 5, .. }), "{e}");
        assert!(e.to_string().contains(&format!("element 5 is {word}")), "{e}");
    }
}

#[test]
fn magic_is_printed_as_text_and_common_files_are_recognised() {
    let mut m = model_bytes();
    m[0..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
    let e = model_err(&m).to_string();
    assert!(e.contains("expected \"BEMMODEL\", found \"\\x89PNG\\r\\n\\x1a\\n\" (this is a PNG image)"), "{e}");
    m[0..8].copy_from_slice(b"BEMPATCH");
    assert!(model_err(&m).to_string().contains("(this is a patch archive shard)"));
}

#[test]
fn a_shard_listed_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut man = write_archive(dir.path(), &[3, 2]);
    let first = man.shards[0].clone();
    man.shards.push(first);
    man.save(dir.path()).unwrap();
    let e = PatchArchive::open(dir.path()).err().unwrap().to_string();
    assert!(e.contains("shards[2].file") && e.contains("already listed as `shards[0]`"), "{e}");
}
