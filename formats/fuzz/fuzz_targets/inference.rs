#![no_main]
//! Model bytes plus input bytes through the whole engine: open, plan and run
//! inference, through the Rust API and the C ABI, on small shapes.
//!
//! Input: byte 0 holds options, then a model file (its checksum repaired as
//! in `model_file`; its own `file_len` says where it ends), then the f16
//! input values, little-endian, cycled to fill `batch * input_len` (zeros
//! when none). Options: bits 0-1 batch - 1; bit 2 fast precision; bit 3
//! 64 x 64 GEMM panels; bit 4 no Winograd; bit 5 also through the C ABI;
//! bit 6 keep the input as given (else NaN/infinity are made finite, so
//! most inputs reach the layers).
//!
//! Asserted: a model that opens runs with `scratch_len(batch)` scratch and
//! returns either `Ok` or, exactly when the input holds a NaN or infinity,
//! `NonFiniteInput`; probabilities lie in [0, 1] (or are NaN from hostile
//! weights); the first sample alone gives the same probabilities as in the
//! batch; the C ABI gives bitwise the Rust API's results.
use bemm_engine::capi::*;
use bemm_engine::{EngineError, Model, Precision};
use bemm_formats_fuzz::{aligned, bytes, fix_model};
use half::f16;
use libfuzzer_sys::fuzz_target;

/// Work per sample beyond which an input is skipped, to keep executions fast.
const MAX_MACS: u64 = 1 << 20;
/// Scratch beyond which an input is skipped (f32 values).
const MAX_SCRATCH: usize = 1 << 22;
/// Input values per sample beyond which an input is skipped.
const MAX_INPUT: usize = 1 << 16;

fn input_values(raw: &[u8], n: usize, keep: bool) -> Vec<f16> {
    let vals: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    (0..n)
        .map(|i| {
            let b = if vals.is_empty() { 0 } else { vals[i % vals.len()] };
            // Exponent 31 (NaN/inf) becomes 30 unless the input is kept as given.
            f16::from_bits(if keep || b & 0x7c00 != 0x7c00 { b } else { b & !0x0400 })
        })
        .collect()
}

fn through_c(model_bytes: &[u8], input: &[f16], batch: usize, gemm_small: bool) -> Option<(i32, Vec<f32>)> {
    let mut storage = vec![0u64; bemm_model_storage_size().div_ceil(8)];
    let mut h = core::ptr::null_mut();
    // SAFETY: storage and model bytes outlive the handle (closed below).
    let rc = unsafe {
        bemm_model_open(storage.as_mut_ptr().cast(), storage.len() * 8, model_bytes.as_ptr(), model_bytes.len(), &mut h)
    };
    assert_eq!(rc, BEMM_OK, "the C ABI refuses a model the Rust API opens");
    // SAFETY: `h` is open; every buffer below holds the length passed with it.
    unsafe {
        if gemm_small {
            assert_eq!(bemm_model_set_gemm_blocks(h, 64, 64), BEMM_OK);
        }
        let mut sl = 0usize;
        assert_eq!(bemm_scratch_len(h, batch, &mut sl), BEMM_OK);
        let mut nc = 0usize;
        let null = core::ptr::null_mut();
        assert_eq!(bemm_model_info(h, null, &mut nc, null, null, null, null), BEMM_OK);
        let mut scratch = vec![0f32; sl];
        let mut probs = vec![0f32; batch * nc];
        let bits: Vec<u16> = input.iter().map(|v| v.to_bits()).collect();
        let rc = bemm_predict(
            h,
            bits.as_ptr(),
            batch,
            scratch.as_mut_ptr(),
            sl,
            probs.as_mut_ptr(),
            probs.len(),
            core::ptr::null_mut(),
        );
        assert_eq!(bemm_model_close(h), BEMM_OK);
        assert_eq!(bemm_model_close(h), BEMM_ERR_HANDLE);
        Some((rc, probs))
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&opts, rest)) = data.split_first() else { return };
    let mut a = aligned(rest);
    let n = a.1;
    fix_model(&mut bytemuck::cast_slice_mut::<[u64; 8], u8>(&mut a.0)[..n]);
    let all = bytes(&a);
    let Ok(mut m) = Model::from_bytes(all) else { return };
    let file_len = m.file().bytes().len();
    let (model_bytes, raw_input) = all.split_at(file_len);
    let batch = (opts & 3) as usize + 1;
    if m.macs_per_sample() > MAX_MACS || m.input_len() > MAX_INPUT {
        return;
    }
    if opts & 4 != 0 {
        m = m.with_precision(Precision::Fast);
    }
    let gemm_small = opts & 8 != 0;
    if gemm_small {
        m = m.with_gemm_blocks(64, 64).expect("valid GEMM blocks");
    }
    if opts & 16 != 0 {
        m = m.with_winograd(false);
    }
    let sl = m.scratch_len(batch);
    if sl > MAX_SCRATCH {
        return;
    }
    let per = m.input_len();
    let input = input_values(raw_input, batch * per, opts & 64 != 0);
    let non_finite = input.iter().any(|v| !v.is_finite());
    let (nc, fl) = (m.num_classes(), m.feature_len());
    let mut scratch = vec![0f32; sl];
    let mut probs = vec![0f32; batch * nc];
    let mut feats = vec![0f32; batch * fl];
    match m.infer(&input, batch, &mut scratch, &mut probs, &mut feats) {
        Ok(()) => assert!(!non_finite, "a NaN or infinite input was accepted"),
        Err(EngineError::NonFiniteInput { sample, index, .. }) => {
            assert!(non_finite, "finite input reported as non-finite");
            assert!(!input[sample * per + index].is_finite());
            return;
        }
        Err(e) => panic!("a model that opens failed to run: {e}"),
    }
    for p in &probs {
        assert!(p.is_nan() || (0.0..=1.0).contains(p), "probability {p}");
    }
    // Samples never influence each other: the first alone gives the same.
    let mut one = vec![0f32; nc];
    m.infer(&input[..per], 1, &mut scratch, &mut one, &mut []).expect("one sample");
    for (x, y) in one.iter().zip(&probs[..nc]) {
        assert!(x.is_nan() || y.is_nan() || (x - y).abs() <= 1e-4, "sample 0 alone {x}, in the batch {y}");
    }
    if opts & 32 != 0 && opts & (4 | 16) == 0 {
        if let Some((rc, c_probs)) = through_c(model_bytes, &input, batch, gemm_small) {
            assert_eq!(rc, BEMM_OK);
            let same = c_probs.iter().zip(&probs).all(|(c, r)| c.to_bits() == r.to_bits());
            assert!(same, "the C ABI's probabilities differ from the Rust API's");
        }
    }
});
