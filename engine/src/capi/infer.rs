//! The inference calls: C pointers and lengths checked, turned into slices,
//! and handed to [`Model::infer`](crate::model::Model::infer).
//!
//! Every length from C is checked against what a Rust slice may hold
//! (`isize::MAX` bytes, `PTRDIFF_MAX` in C) and against wrapping past the
//! end of the address space before a slice is made: a lying length is an
//! error code, not undefined behaviour in the slice constructor.

use super::bounds::fits;
use super::codes::*;
use super::handle::{open_ref, BemmModel};
use super::last_error::{engine_fail, fail};
use crate::model::Model;
use half::f16;

/// The caller's buffers of one inference call, as C gave them.
struct Buffers {
    input: *const u16,
    batch: usize,
    scratch: *mut f32,
    scratch_len: usize,
    probs: *mut f32,
    probs_len: usize,
    /// Null for `bemm_predict`.
    features: *mut f32,
    features_len: usize,
}

/// Check one call's pointers and lengths, build its slices and run it.
///
/// # Safety
/// As for [`bemm_extract_features`] (`features` may be null: no features).
unsafe fn run(what: &str, model: *const BemmModel, b: &Buffers) -> Result<&'static Model<'static>, i32> {
    // SAFETY: forwarded caller contract.
    let m: &'static Model<'static> = unsafe { open_ref(model, what)? };
    if b.input.is_null() || b.scratch.is_null() || b.probs.is_null() {
        return Err(fail(BEMM_ERR_NULL, format_args!("{what}: input, scratch and probs must not be null")));
    }
    if b.batch == 0 {
        return Err(fail(BEMM_ERR_BATCH, format_args!("{what}: batch must be at least 1")));
    }
    if !b.input.is_aligned() || !b.scratch.is_aligned() || !b.probs.is_aligned() || !b.features.is_aligned() {
        return Err(fail(
            BEMM_ERR_INPUT,
            format_args!("{what}: input must be 2-byte and float buffers 4-byte aligned"),
        ));
    }
    let n_in = m.input_len().checked_mul(b.batch).filter(|&n| fits(b.input, n)).ok_or_else(|| {
        fail(
            BEMM_ERR_BATCH,
            format_args!("{what}: batch {} x {} input values is larger than any buffer", b.batch, m.input_len()),
        )
    })?;
    if !fits(b.scratch, b.scratch_len) {
        return Err(fail(
            BEMM_ERR_SCRATCH,
            format_args!("{what}: scratch_len {} floats is larger than any buffer", b.scratch_len),
        ));
    }
    for (name, p, n) in [("probs", b.probs, b.probs_len), ("features", b.features, b.features_len)] {
        if !fits(p, n) {
            return Err(fail(BEMM_ERR_OUTPUT, format_args!("{what}: {name}_len {n} floats is larger than any buffer")));
        }
    }
    // SAFETY (all four): the caller promises the stated numbers of
    // readable/writable elements; pointers are non-null and aligned, and
    // each length fits a slice (all checked above). f16 is a transparent u16.
    let input: &[f16] = unsafe { core::slice::from_raw_parts(b.input.cast::<f16>(), n_in) };
    let scratch = unsafe { core::slice::from_raw_parts_mut(b.scratch, b.scratch_len) };
    let probs = unsafe { core::slice::from_raw_parts_mut(b.probs, b.probs_len) };
    let features: &mut [f32] = if b.features.is_null() {
        &mut []
    } else {
        unsafe { core::slice::from_raw_parts_mut(b.features, b.features_len) }
    };
    m.infer(input, b.batch, scratch, probs, features).map_err(|e| engine_fail(what, e))?;
    Ok(m)
}

/// Classify `batch` samples: `input` holds `batch * input_len` f16 values
/// (bit patterns, CHW per sample, back to back; NaN or infinity gives
/// `BEMM_ERR_NONFINITE`); `probs` receives `batch * num_classes` sigmoid
/// probabilities (`probs_len` must equal that); `labels`, unless null,
/// receives one bit mask per sample (bit `j` = class `j` at or above the
/// model's threshold). `scratch` must hold at least `bemm_scratch_len(batch)`
/// floats. On failure nothing is written to `labels`.
///
/// # Safety
/// `model` as for `bemm_model_info`; every non-null pointer must point at
/// the stated number of elements; `labels` (if non-null) at `batch` u64.
#[no_mangle]
pub unsafe extern "C" fn bemm_predict(
    model: *const BemmModel,
    input: *const u16,
    batch: usize,
    scratch: *mut f32,
    scratch_len: usize,
    probs: *mut f32,
    probs_len: usize,
    labels: *mut u64,
) -> i32 {
    let b = Buffers {
        input,
        batch,
        scratch,
        scratch_len,
        probs,
        probs_len,
        features: core::ptr::null_mut(),
        features_len: 0,
    };
    // SAFETY: forwarded caller contract.
    let m = match unsafe { run("bemm_predict", model, &b) } {
        Ok(m) => m,
        Err(c) => return c,
    };
    if !labels.is_null() {
        let k = m.num_classes();
        for i in 0..batch {
            // SAFETY: `probs` held `batch * k` values (checked by infer);
            // `labels` holds `batch` u64 per the contract.
            unsafe {
                let p = core::slice::from_raw_parts(probs.add(i * k), k);
                labels.add(i).write_unaligned(m.predicted(p));
            }
        }
    }
    BEMM_OK
}

/// Like [`bemm_predict`], and also write the retrieval features:
/// `features` must not be null and `features_len` must equal
/// `batch * feature_len` (f32, sample-major); anything else is an error.
///
/// # Safety
/// As for [`bemm_predict`]; `features` must point at `features_len` floats.
#[no_mangle]
pub unsafe extern "C" fn bemm_extract_features(
    model: *const BemmModel,
    input: *const u16,
    batch: usize,
    scratch: *mut f32,
    scratch_len: usize,
    probs: *mut f32,
    probs_len: usize,
    features: *mut f32,
    features_len: usize,
) -> i32 {
    const WHAT: &str = "bemm_extract_features";
    if features.is_null() {
        return fail(BEMM_ERR_NULL, format_args!("{WHAT}: features must not be null"));
    }
    if features_len == 0 {
        // `Model::infer` reads an empty features slice as "no features";
        // here the caller asked for them.
        return fail(BEMM_ERR_OUTPUT, format_args!("{WHAT}: features_len is 0; it must equal batch x feature_len"));
    }
    let b = Buffers { input, batch, scratch, scratch_len, probs, probs_len, features, features_len };
    // SAFETY: forwarded caller contract.
    match unsafe { run(WHAT, model, &b) } {
        Ok(_) => BEMM_OK,
        Err(c) => c,
    }
}
