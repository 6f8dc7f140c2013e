//! Corrupted files: truncated at many lengths, bytes flipped at many
//! positions. Each must give an error or a result equal to the original,
//! never a panic. A second pass re-seals the checksums after the flip, so
//! the field validation behind the checksum is exercised too (there the
//! file may legitimately parse with other values; it must still not panic,
//! and everything the parsed view offers must be readable).

mod common;

use bemm_formats::archive::Shard;
use bemm_formats::features::FeatureArchive;
use bemm_formats::model::ModelFile;
use common::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

const MASKS: [u8; 3] = [0x01, 0x80, 0xFF];

/// Run `f`, turning a panic into a test failure that names the case.
fn no_panic<T>(case: &str, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("parser panicked on {case}"))
}

// ---- model file ----------------------------------------------------------

/// Parse and touch everything; `Some(bytes())` on success.
fn parse_model(b: &[u8]) -> Option<Vec<u8>> {
    let buf = Aligned::new(b);
    let m = ModelFile::parse(buf.bytes()).ok()?;
    for (i, l) in m.layers().iter().enumerate() {
        assert!(m.layer_shape(i).is_some() && l.layer_kind().is_some());
        if l.weight != bemm_formats::model::NONE {
            assert!(m.tensor(l.weight).is_some() || m.tensor_i8(l.weight).is_some());
        }
        if l.layer_kind() == Some(bemm_formats::model::LayerKind::QConv) {
            let q = m.quant(i).expect("a validated QConv has parameters");
            assert!(q.input_scale > 0.0 && q.weight_scales.len() == l.out_c as usize);
        }
    }
    for i in 0..m.tensors().len() {
        let t = i as u32;
        let len = [
            m.tensor(t).map(|d| d.len()),
            m.tensor_i8(t).map(|d| d.len()),
            m.tensor_i32(t).map(|d| d.len()),
            m.tensor_f32(t).map(|d| d.len()),
        ];
        let found: Vec<usize> = len.iter().flatten().copied().collect();
        assert_eq!(found, [m.tensors()[i].elements as usize], "tensor {i}: exactly one typed view");
    }
    let _ = (m.feature_len(), bemm_formats::model::OwnedMeta::from_meta(m.meta()));
    Some(m.bytes().to_vec())
}

#[test]
fn model_truncated_or_flipped_is_an_error_or_equal() {
    truncated_or_flipped(model_bytes());
}

#[test]
fn quantized_model_truncated_or_flipped_is_an_error_or_equal() {
    truncated_or_flipped(quant_model_bytes());
}

fn truncated_or_flipped(good: Vec<u8>) {
    let n = good.len();
    // Trailing bytes beyond file_len are not part of the file: flips there must parse equal.
    let mut padded = good.clone();
    padded.extend_from_slice(&[0xA5; 24]);
    let (mut errors, mut equal) = (0, 0);
    for len in 0..padded.len() {
        match no_panic(&format!("model truncated to {len}"), || parse_model(&padded[..len])) {
            None => errors += 1,
            Some(b) => {
                assert!(len >= n, "a truncated model ({len} of {n} bytes) parsed");
                assert_eq!(b, good);
                equal += 1;
            }
        }
    }
    assert_eq!((errors, equal), (n, 24));
    let (mut errors, mut equal) = (0, 0);
    for pos in 0..padded.len() {
        for mask in MASKS {
            let mut c = padded.clone();
            c[pos] ^= mask;
            match no_panic(&format!("model byte {pos} ^ {mask:#x}"), || parse_model(&c)) {
                None => errors += 1,
                Some(b) => {
                    assert!(pos >= n, "flipping byte {pos} of {n} went unnoticed");
                    assert_eq!(b, good);
                    equal += 1;
                }
            }
        }
    }
    assert_eq!(errors, n * MASKS.len());
    assert_eq!(equal, 24 * MASKS.len());
}

#[test]
fn model_flips_with_resealed_checksum_never_panic() {
    resealed_flips(model_bytes());
}

#[test]
fn quantized_model_flips_with_resealed_checksum_never_panic() {
    resealed_flips(quant_model_bytes());
}

fn resealed_flips(good: Vec<u8>) {
    // Everything before the weight payload, where the structure lives.
    let payload = ModelFile::parse(Aligned::new(&good).bytes()).unwrap().tensors()[0].offset as usize;
    let mut parsed_other = 0;
    for pos in 0..payload {
        for mask in MASKS {
            let mut c = good.clone();
            c[pos] ^= mask;
            if (56..64).contains(&pos) {
                continue; // file_len: resealing would write the checksum elsewhere
            }
            reseal_model(&mut c);
            if no_panic(&format!("resealed model byte {pos} ^ {mask:#x}"), || parse_model(&c)).is_some() {
                parsed_other += 1;
            }
        }
    }
    // Some flips (metadata strings, scores, version_minor, reserved) leave a
    // valid file; most must be rejected.
    assert!(parsed_other < payload * MASKS.len() / 2, "{parsed_other} of {} flips accepted", payload * MASKS.len());
}

// ---- patch shard ---------------------------------------------------------

/// Parse + verify; `Some` of (header, records, tensors) on success.
fn parse_shard(b: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<u16>)> {
    let buf = Aligned::new(b);
    let s = Shard::parse(buf.bytes()).ok()?;
    let verified = s.verify_tensors().is_ok();
    let mut tensors = Vec::new();
    for i in 0..s.len() {
        let p = s.patch(i).unwrap();
        assert_eq!(p.len() as u64 * 2, s.header().patch_bytes());
        tensors.extend(p.iter().map(|v| v.to_bits()));
        let r = s.record(i).unwrap();
        let _ = (r.s2(), r.s1(), r.split());
    }
    for c in 0..s.header().channels as usize {
        let _ = s.header().band_name(c);
    }
    verified.then(|| (bytemuck::bytes_of(s.header()).to_vec(), bytemuck::cast_slice(s.records()).to_vec(), tensors))
}

fn check_shard(
    good: &[u8],
    positions: impl Iterator<Item = usize>,
    lengths: impl Iterator<Item = usize>,
) -> (usize, usize) {
    let want = parse_shard(good).expect("the fixture parses");
    let (mut flips, mut truncs) = (0, 0);
    for len in lengths {
        let r = no_panic(&format!("shard truncated to {len}"), || parse_shard(&good[..len]));
        assert!(r.is_none(), "shard truncated to {len} of {} bytes parsed", good.len());
        truncs += 1;
    }
    for pos in positions {
        for mask in MASKS {
            let mut c = good.to_vec();
            c[pos] ^= mask;
            if let Some(got) = no_panic(&format!("shard byte {pos} ^ {mask:#x}"), || parse_shard(&c)) {
                assert_eq!(got, want, "flipping shard byte {pos} changed what parses");
            }
            flips += 1;
        }
    }
    (flips, truncs)
}

#[test]
fn small_shard_truncated_or_flipped_at_every_byte_is_an_error() {
    let good = small_shard_bytes();
    let (flips, truncs) = check_shard(&good, 0..good.len(), 0..good.len());
    assert_eq!((flips, truncs), (good.len() * 3, good.len()));
    // With the header checksum resealed, header fields are validated one by one.
    for pos in 0..504 {
        for mask in MASKS {
            let mut c = good.clone();
            c[pos] ^= mask;
            reseal_shard_header(&mut c);
            no_panic(&format!("resealed shard byte {pos} ^ {mask:#x}"), || parse_shard(&c));
        }
    }
}

#[test]
fn full_size_shard_sampled_corruption_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.bin");
    write_shard(&p, &bemm_formats::bands::BAND_NAMES, 120, 120, 0, 2);
    let good = std::fs::read(&p).unwrap();
    let n = good.len();
    // Every header and record byte; every 4099th tensor byte (a prime, so
    // positions fall at varied offsets within patches and padding).
    let rec = n - 2 * 144;
    let positions = (0..512).chain((512..rec).step_by(4099)).chain(rec..n);
    let lengths = (0..1024).chain((1024..n).step_by(7919)).chain(n - 300..n);
    let (flips, truncs) = check_shard(&good, positions, lengths);
    assert!(flips > 3 * (512 + 288) && truncs > 1024, "{flips} flips, {truncs} truncations");
}

// ---- feature archive -----------------------------------------------------

fn parse_features(b: &[u8]) -> Option<Vec<u8>> {
    let buf = Aligned::new(b);
    let f = FeatureArchive::parse(buf.bytes()).ok()?;
    for i in 0..f.len() {
        assert_eq!(f.vector(i).unwrap().len(), f.dim());
        let _ = f.record(i).unwrap().s2();
    }
    assert!(f.vector(f.len()).is_none());
    let _ = f.header().description();
    let mut out = bytemuck::bytes_of(f.header()).to_vec();
    out.extend_from_slice(bytemuck::cast_slice(f.rows()));
    out.extend_from_slice(bytemuck::cast_slice(f.records()));
    Some(out)
}

#[test]
fn feature_archive_truncated_or_flipped_is_an_error_or_equal() {
    for (count, dim) in [(4usize, 5u32), (2, 40)] {
        let good = features_bytes(count, dim);
        let want = parse_features(&good).unwrap();
        let n = good.len();
        let mut padded = good.clone();
        padded.extend_from_slice(&[0x5A; 16]);
        for len in 0..padded.len() {
            let r = no_panic(&format!("features truncated to {len}"), || parse_features(&padded[..len]));
            match r {
                None => assert!(len < n, "a complete feature archive ({len} bytes) failed"),
                Some(got) => {
                    assert!(len >= n, "a truncated feature archive ({len} of {n}) parsed");
                    assert_eq!(got, want);
                }
            }
        }
        for pos in 0..padded.len() {
            for mask in MASKS {
                let mut c = padded.clone();
                c[pos] ^= mask;
                match no_panic(&format!("features byte {pos} ^ {mask:#x}"), || parse_features(&c)) {
                    None => assert!(pos < n),
                    Some(got) => {
                        assert!(pos >= n, "flipping feature byte {pos} of {n} went unnoticed");
                        assert_eq!(got, want);
                    }
                }
            }
        }
        // Resealed: header fields validated behind the checksum.
        for pos in 0..128 {
            for mask in MASKS {
                let mut c = good.clone();
                c[pos] ^= mask;
                let sealable = (get_u64(&c, 48).checked_add(get_u64(&c, 16).saturating_mul(144)))
                    .is_some_and(|e| e.checked_add(8).is_some_and(|e| e <= c.len() as u64));
                if sealable {
                    reseal_features(&mut c);
                }
                no_panic(&format!("resealed features byte {pos} ^ {mask:#x}"), || parse_features(&c));
            }
        }
    }
}
