//! The C ABI (feature `capi`), declared in `engine/include/bemm.h`.
//!
//! Design for firmware: no call allocates. The caller owns every buffer —
//! the model handle's storage ([`bemm_model_storage_size`] bytes, aligned to
//! [`bemm_model_storage_align`]), the model bytes (which must outlive the
//! handle), scratch, inputs and outputs. Every function returns a status
//! code (`BEMM_OK` = 0, failures negative); the last failure's code and a
//! detailed message are kept in a fixed buffer, per thread with `std` and
//! process-wide without it ([`bemm_last_error`], [`bemm_last_error_message`]). Inputs are f16 bit
//! patterns (`uint16_t`), CHW, normalised as the model's metadata says.
//!
//! `engine/include/bemm.h` is hand-written; `tests/tests/interop_capi.rs`
//! checks its prototypes against the `extern "C"` functions of this file.
//!
//! `unsafe`: required here — C hands us raw pointers. Each function checks
//! them for null and alignment before building slices of caller-given length.

use crate::error::EngineError;
use crate::model::Model;
use core::ffi::c_char;
use core::fmt::Write as _;
use half::f16;

/// Success.
pub const BEMM_OK: i32 = 0;
/// A required pointer argument was null.
pub const BEMM_ERR_NULL: i32 = -1;
/// The model bytes are not a valid model file (or it exceeds the engine's limits).
pub const BEMM_ERR_MODEL: i32 = -2;
/// The handle storage is too small or misaligned.
pub const BEMM_ERR_STORAGE: i32 = -3;
/// The input holds the wrong number of values, or is misaligned.
pub const BEMM_ERR_INPUT: i32 = -4;
/// The scratch buffer is too small.
pub const BEMM_ERR_SCRATCH: i32 = -5;
/// An output buffer has the wrong length.
pub const BEMM_ERR_OUTPUT: i32 = -6;
/// The batch is zero or so large that sizes overflow.
pub const BEMM_ERR_BATCH: i32 = -7;
/// The CPU lacks a required feature.
pub const BEMM_ERR_UNSUPPORTED: i32 = -8;
/// An internal engine error (a bug; reported, never a crash).
pub const BEMM_ERR_INTERNAL: i32 = -9;

/// Opaque handle type: a [`Model`] placed in caller storage.
pub type BemmModel = Model<'static>;

const MSG_LEN: usize = 256;

/// A failure record: code, message bytes, message length.
type Record = (i32, [u8; MSG_LEN], usize);

struct Trunc<'a> {
    buf: &'a mut [u8; MSG_LEN],
    len: usize,
}

impl core::fmt::Write for Trunc<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len + 1 >= MSG_LEN {
                break;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

fn record(slot: &mut Record, code: i32, msg: core::fmt::Arguments<'_>) {
    let mut w = Trunc { buf: &mut slot.1, len: 0 };
    let _ = w.write_fmt(msg);
    slot.2 = w.len;
    slot.0 = code;
}

fn copy_message(slot: &Record, out: &mut [u8]) -> usize {
    let n = slot.2.min(out.len() - 1);
    out[..n].copy_from_slice(&slot.1[..n]);
    out[n] = 0;
    n
}

// With `std` the last failure is kept per thread (like `errno`), so threads
// that each drive their own handle never read one another's errors.
#[cfg(feature = "std")]
mod last {
    use super::{Record, BEMM_OK, MSG_LEN};
    use core::cell::RefCell;

    std::thread_local! {
        static LAST: RefCell<Record> = const { RefCell::new((BEMM_OK, [0; MSG_LEN], 0)) };
    }

    pub fn with<R>(f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        LAST.try_with(|c| c.try_borrow_mut().ok().map(|mut r| f(&mut r))).ok().flatten()
    }
}

// Without `std` (firmware, usually one thread) there are no thread locals:
// one process-wide record. Writers and readers take `LOCK` with a
// compare-exchange and skip (writer) or report nothing (reader) when it is
// held, so nothing blocks or races.
#[cfg(not(feature = "std"))]
mod last {
    use super::{Record, BEMM_OK, MSG_LEN};
    use core::sync::atomic::{AtomicBool, Ordering};

    static LOCK: AtomicBool = AtomicBool::new(false);
    struct Slot(core::cell::UnsafeCell<Record>);
    // SAFETY: the record is only touched while `LOCK` is held (acquired by
    // compare_exchange, released with Release ordering), so accesses never overlap.
    unsafe impl Sync for Slot {}
    static LAST: Slot = Slot(core::cell::UnsafeCell::new((BEMM_OK, [0; MSG_LEN], 0)));

    pub fn with<R>(f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        LOCK.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).ok()?;
        // SAFETY: LOCK is held (see `Slot`).
        let r = f(unsafe { &mut *LAST.0.get() });
        LOCK.store(false, Ordering::Release);
        Some(r)
    }
}

fn fail(code: i32, msg: core::fmt::Arguments<'_>) -> i32 {
    last::with(|slot| record(slot, code, msg));
    code
}

fn engine_fail(e: EngineError) -> i32 {
    let code = match &e {
        EngineError::Format(_) | EngineError::TooManyLayers { .. } => BEMM_ERR_MODEL,
        EngineError::InputLength { .. } | EngineError::SampleLength { .. } => BEMM_ERR_INPUT,
        EngineError::ScratchTooSmall { .. } => BEMM_ERR_SCRATCH,
        EngineError::OutputLength { .. } => BEMM_ERR_OUTPUT,
        EngineError::EmptyBatch | EngineError::BatchTooLarge(_) => BEMM_ERR_BATCH,
        EngineError::UnknownKernel { .. } | EngineError::KernelUnavailable { .. } => BEMM_ERR_UNSUPPORTED,
        #[allow(unreachable_patterns)]
        _ => BEMM_ERR_INTERNAL,
    };
    fail(code, format_args!("{e}"))
}

/// Short static name of a status code (`"BEMM_ERR_MODEL"`, ...), NUL-terminated.
#[no_mangle]
pub extern "C" fn bemm_status_name(code: i32) -> *const c_char {
    let s: &'static [u8] = match code {
        BEMM_OK => b"BEMM_OK\0",
        BEMM_ERR_NULL => b"BEMM_ERR_NULL\0",
        BEMM_ERR_MODEL => b"BEMM_ERR_MODEL\0",
        BEMM_ERR_STORAGE => b"BEMM_ERR_STORAGE\0",
        BEMM_ERR_INPUT => b"BEMM_ERR_INPUT\0",
        BEMM_ERR_SCRATCH => b"BEMM_ERR_SCRATCH\0",
        BEMM_ERR_OUTPUT => b"BEMM_ERR_OUTPUT\0",
        BEMM_ERR_BATCH => b"BEMM_ERR_BATCH\0",
        BEMM_ERR_UNSUPPORTED => b"BEMM_ERR_UNSUPPORTED\0",
        BEMM_ERR_INTERNAL => b"BEMM_ERR_INTERNAL\0",
        _ => b"BEMM_ERR_UNKNOWN\0",
    };
    s.as_ptr().cast()
}

/// Code of the last failure (`BEMM_OK` if none yet): of this thread's
/// calls when built with `std`, of any call without it.
#[no_mangle]
pub extern "C" fn bemm_last_error() -> i32 {
    last::with(|slot| slot.0).unwrap_or(BEMM_OK)
}

/// Copy the last failure's message (same scope as [`bemm_last_error`]),
/// NUL-terminated and truncated to `len - 1` bytes, into `buf`. Returns the
/// message length without the NUL (0 when there is none, `buf` is null or
/// `len` is 0).
///
/// # Safety
/// `buf` must be null or point at `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn bemm_last_error_message(buf: *mut c_char, len: usize) -> usize {
    if buf.is_null() || len == 0 {
        return 0;
    }
    // SAFETY: caller promises `len` writable bytes at `buf`; u8 has alignment 1.
    let out = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    out[0] = 0;
    last::with(|slot| copy_message(slot, out)).unwrap_or(0)
}

/// Bytes of storage a model handle needs.
#[no_mangle]
pub extern "C" fn bemm_model_storage_size() -> usize {
    core::mem::size_of::<BemmModel>()
}

/// Alignment in bytes the handle storage needs.
#[no_mangle]
pub extern "C" fn bemm_model_storage_align() -> usize {
    core::mem::align_of::<BemmModel>()
}

/// Parse and validate the model file `bytes[0..len]` (at least 2-byte
/// aligned; it must stay valid and unchanged until the handle is closed) and
/// place the handle in `storage` (`storage_len` bytes, see
/// [`bemm_model_storage_size`]/[`bemm_model_storage_align`]). On success
/// `*out` points into `storage`.
///
/// # Safety
/// `storage` must point at `storage_len` writable bytes and `bytes` at `len`
/// readable bytes, both outliving the handle; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn bemm_model_open(
    storage: *mut u8,
    storage_len: usize,
    bytes: *const u8,
    len: usize,
    out: *mut *mut BemmModel,
) -> i32 {
    if storage.is_null() || bytes.is_null() || out.is_null() {
        return fail(BEMM_ERR_NULL, format_args!("bemm_model_open: storage, bytes and out must not be null"));
    }
    if storage_len < bemm_model_storage_size() || !storage.cast::<BemmModel>().is_aligned() {
        return fail(
            BEMM_ERR_STORAGE,
            format_args!(
                "bemm_model_open: storage of {storage_len} bytes at {:p}; need {} bytes aligned to {}",
                storage,
                bemm_model_storage_size(),
                bemm_model_storage_align()
            ),
        );
    }
    // SAFETY: caller promises `len` readable bytes that outlive the handle,
    // which is what the 'static lifetime stands for here.
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(bytes, len) };
    match Model::from_bytes(bytes) {
        Ok(m) => {
            let slot = storage.cast::<BemmModel>();
            // SAFETY: `storage` is non-null, large enough and aligned (checked above).
            unsafe {
                slot.write(m);
                *out = slot;
            }
            BEMM_OK
        }
        Err(e) => engine_fail(e),
    }
}

/// Release a handle (its storage and the model bytes may be reused after).
///
/// # Safety
/// `model` must be null or a handle from [`bemm_model_open`] not yet closed.
#[no_mangle]
pub unsafe extern "C" fn bemm_model_close(model: *mut BemmModel) {
    if !model.is_null() {
        // SAFETY: a live handle written by `bemm_model_open`.
        unsafe { core::ptr::drop_in_place(model) };
    }
}

/// # Safety
/// `model` must be null or a live handle.
unsafe fn model_ref<'a>(model: *const BemmModel, what: &str) -> Result<&'a BemmModel, i32> {
    if model.is_null() {
        return Err(fail(BEMM_ERR_NULL, format_args!("{what}: model is null")));
    }
    // SAFETY: non-null live handle per the caller's contract.
    Ok(unsafe { &*model })
}

/// Use GEMM panels of `kc` depth and `nc` columns (`kc` even, 2..=4096;
/// `nc` a multiple of 32, 32..=65536): smaller panels shrink the fixed part
/// of the scratch (64 x 64: 40 KB instead of 2.2 MB) for firmware with
/// little RAM. Ask [`bemm_scratch_len`] again afterwards.
///
/// # Safety
/// `model` must be null or a live handle not used by another thread during
/// this call.
#[no_mangle]
pub unsafe extern "C" fn bemm_model_set_gemm_blocks(model: *mut BemmModel, kc: usize, nc: usize) -> i32 {
    if model.is_null() {
        return fail(BEMM_ERR_NULL, format_args!("bemm_model_set_gemm_blocks: model is null"));
    }
    // SAFETY: non-null live handle, exclusively ours for this call (contract).
    let m = unsafe { &mut *model };
    match m.clone().with_gemm_blocks(kc, nc) {
        Ok(updated) => {
            *m = updated;
            BEMM_OK
        }
        Err(e) => fail(BEMM_ERR_INPUT, format_args!("bemm_model_set_gemm_blocks: {e}")),
    }
}

/// Write the model's sizes: f16 values per input sample (C*H*W), classes,
/// feature values per sample, input channels, height, width. Any out
/// pointer may be null.
///
/// # Safety
/// `model` must be a live handle; non-null out pointers must be writable.
#[no_mangle]
pub unsafe extern "C" fn bemm_model_info(
    model: *const BemmModel,
    input_len: *mut usize,
    num_classes: *mut usize,
    feature_len: *mut usize,
    channels: *mut usize,
    height: *mut usize,
    width: *mut usize,
) -> i32 {
    // SAFETY: forwarded caller contract.
    let m = match unsafe { model_ref(model, "bemm_model_info") } {
        Ok(m) => m,
        Err(c) => return c,
    };
    let s = m.input_shape();
    for (p, v) in [
        (input_len, m.input_len()),
        (num_classes, m.num_classes()),
        (feature_len, m.feature_len()),
        (channels, s.c as usize),
        (height, s.h as usize),
        (width, s.w as usize),
    ] {
        if !p.is_null() {
            // SAFETY: caller promises non-null pointers are writable.
            unsafe { p.write_unaligned(v) };
        }
    }
    BEMM_OK
}

/// f32 values of scratch a call with `batch` samples needs, into `*out`.
///
/// # Safety
/// `model` must be a live handle and `out` writable.
#[no_mangle]
pub unsafe extern "C" fn bemm_scratch_len(model: *const BemmModel, batch: usize, out: *mut usize) -> i32 {
    // SAFETY: forwarded caller contract.
    let m = match unsafe { model_ref(model, "bemm_scratch_len") } {
        Ok(m) => m,
        Err(c) => return c,
    };
    if out.is_null() {
        return fail(BEMM_ERR_NULL, format_args!("bemm_scratch_len: out is null"));
    }
    if batch == 0 {
        return fail(BEMM_ERR_BATCH, format_args!("bemm_scratch_len: batch must be at least 1"));
    }
    let n = m.scratch_len(batch);
    if n == usize::MAX {
        return fail(BEMM_ERR_BATCH, format_args!("bemm_scratch_len: batch {batch} overflows the scratch size"));
    }
    // SAFETY: non-null, caller promises writable.
    unsafe { out.write_unaligned(n) };
    BEMM_OK
}

/// Build the slices of one inference call from C pointers.
///
/// # Safety
/// As for [`bemm_predict`].
#[allow(clippy::too_many_arguments)]
unsafe fn run(
    what: &str,
    model: *const BemmModel,
    input: *const u16,
    batch: usize,
    scratch: *mut f32,
    scratch_len: usize,
    probs: *mut f32,
    probs_len: usize,
    features: *mut f32,
    features_len: usize,
) -> Result<&'static BemmModel, i32> {
    // SAFETY: forwarded caller contract.
    let m: &'static BemmModel = unsafe { model_ref(model, what)? };
    if input.is_null() || scratch.is_null() || probs.is_null() {
        return Err(fail(BEMM_ERR_NULL, format_args!("{what}: input, scratch and probs must not be null")));
    }
    if batch == 0 {
        return Err(fail(BEMM_ERR_BATCH, format_args!("{what}: batch must be at least 1")));
    }
    if !input.is_aligned() || !scratch.is_aligned() || !probs.is_aligned() || !features.is_aligned() {
        return Err(fail(
            BEMM_ERR_INPUT,
            format_args!("{what}: input must be 2-byte and float buffers 4-byte aligned"),
        ));
    }
    let Some(n_in) = m.input_len().checked_mul(batch) else {
        return Err(fail(BEMM_ERR_BATCH, format_args!("{what}: batch {batch} overflows the input size")));
    };
    // SAFETY: the caller promises `batch * input_len` readable values at
    // `input` (the documented contract), aligned as checked; f16 is a
    // transparent u16.
    let input: &[f16] = unsafe { core::slice::from_raw_parts(input.cast::<f16>(), n_in) };
    // SAFETY: caller promises the given lengths of writable, aligned (checked) f32.
    let scratch = unsafe { core::slice::from_raw_parts_mut(scratch, scratch_len) };
    // SAFETY: as above.
    let probs = unsafe { core::slice::from_raw_parts_mut(probs, probs_len) };
    let features: &mut [f32] = if features.is_null() || features_len == 0 {
        &mut []
    } else {
        // SAFETY: as above.
        unsafe { core::slice::from_raw_parts_mut(features, features_len) }
    };
    m.infer(input, batch, scratch, probs, features).map_err(engine_fail)?;
    Ok(m)
}

/// Classify `batch` samples: `input` holds `batch * input_len` f16 values
/// (bit patterns, CHW per sample, back to back); `probs` receives
/// `batch * num_classes` sigmoid probabilities (`probs_len` must equal
/// that); `labels`, unless null, receives one bit mask per sample (bit `j`
/// = class `j` at or above the model's threshold). `scratch` must hold at
/// least `bemm_scratch_len(batch)` floats.
///
/// # Safety
/// `model` must be a live handle; every non-null pointer must point at the
/// stated number of elements; `labels` (if non-null) at `batch` u64.
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
    // SAFETY: forwarded caller contract.
    let m = match unsafe {
        run("bemm_predict", model, input, batch, scratch, scratch_len, probs, probs_len, core::ptr::null_mut(), 0)
    } {
        Ok(m) => m,
        Err(c) => return c,
    };
    if !labels.is_null() {
        let k = m.num_classes();
        for b in 0..batch {
            // SAFETY: `probs` held `batch * k` values (checked by infer);
            // `labels` holds `batch` u64 per the contract.
            unsafe {
                let p = core::slice::from_raw_parts(probs.add(b * k), k);
                labels.add(b).write_unaligned(m.predicted(p));
            }
        }
    }
    BEMM_OK
}

/// Like [`bemm_predict`], and also write the retrieval features:
/// `features_len` must equal `batch * feature_len` (f32, sample-major).
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
    if features.is_null() {
        return fail(BEMM_ERR_NULL, format_args!("bemm_extract_features: features must not be null"));
    }
    // SAFETY: forwarded caller contract.
    match unsafe {
        run(
            "bemm_extract_features",
            model,
            input,
            batch,
            scratch,
            scratch_len,
            probs,
            probs_len,
            features,
            features_len,
        )
    } {
        Ok(_) => BEMM_OK,
        Err(c) => c,
    }
}

/// Convert `n` f32 values to f16 bit patterns (round to nearest even), for
/// callers whose C compiler has no half type.
///
/// # Safety
/// `src` must point at `n` readable floats and `dst` at `n` writable u16.
#[no_mangle]
pub unsafe extern "C" fn bemm_f32_to_f16(src: *const f32, dst: *mut u16, n: usize) -> i32 {
    if src.is_null() || dst.is_null() {
        return fail(BEMM_ERR_NULL, format_args!("bemm_f32_to_f16: src and dst must not be null"));
    }
    for i in 0..n {
        // SAFETY: caller promises `n` elements at each pointer.
        unsafe { dst.add(i).write_unaligned(f16::from_f32(src.add(i).read_unaligned()).to_bits()) };
    }
    BEMM_OK
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{build, Arch, RandomWeights};
    use bemm_formats::model::OwnedMeta;

    #[test]
    fn open_predict_and_errors_through_the_c_abi() {
        let meta = OwnedMeta::bigearthnet("tiny", &[0, 1, 2]);
        let bytes =
            build(Arch::Tiny, 3, 32, 19, &mut RandomWeights::new(3), meta).expect("build").to_bytes().expect("bytes");
        let mut words = std::vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
        let mut storage = std::vec![0u64; bemm_model_storage_size().div_ceil(8)];
        let mut h: *mut BemmModel = core::ptr::null_mut();
        // SAFETY: buffers live for the whole test.
        unsafe {
            let rc = bemm_model_open(storage.as_mut_ptr().cast(), 8, words.as_ptr().cast(), bytes.len(), &mut h);
            assert_eq!(rc, BEMM_ERR_STORAGE);
            assert_eq!(bemm_last_error(), BEMM_ERR_STORAGE);
            let rc = bemm_model_open(
                storage.as_mut_ptr().cast(),
                storage.len() * 8,
                words.as_ptr().cast(),
                bytes.len() - 8,
                &mut h,
            );
            assert_eq!(rc, BEMM_ERR_MODEL);
            let mut msg = [0 as c_char; 64];
            let n = bemm_last_error_message(msg.as_mut_ptr(), msg.len());
            assert!(n > 0 && n < 64);
            assert_eq!(
                bemm_model_open(
                    storage.as_mut_ptr().cast(),
                    storage.len() * 8,
                    words.as_ptr().cast(),
                    bytes.len(),
                    &mut h
                ),
                BEMM_OK
            );
            let (mut il, mut nc, mut fl) = (0usize, 0usize, 0usize);
            assert_eq!(
                bemm_model_info(
                    h,
                    &mut il,
                    &mut nc,
                    &mut fl,
                    core::ptr::null_mut(),
                    core::ptr::null_mut(),
                    core::ptr::null_mut()
                ),
                BEMM_OK
            );
            assert_eq!((il, nc), (3 * 32 * 32, 19));
            let mut sl = 0usize;
            assert_eq!(bemm_scratch_len(h, 2, &mut sl), BEMM_OK);
            let input: std::vec::Vec<u16> =
                (0..2 * il).map(|i| f16::from_f32(((i % 7) as f32 - 3.0) / 3.0).to_bits()).collect();
            let mut scratch = std::vec![0f32; sl];
            let mut probs = std::vec![0f32; 2 * nc];
            let mut feats = std::vec![0f32; 2 * fl];
            let mut labels = [0u64; 2];
            assert_eq!(
                bemm_predict(
                    h,
                    input.as_ptr(),
                    2,
                    scratch.as_mut_ptr(),
                    sl - 1,
                    probs.as_mut_ptr(),
                    probs.len(),
                    labels.as_mut_ptr()
                ),
                BEMM_ERR_SCRATCH
            );
            assert_eq!(
                bemm_predict(
                    h,
                    input.as_ptr(),
                    2,
                    scratch.as_mut_ptr(),
                    sl,
                    probs.as_mut_ptr(),
                    probs.len(),
                    labels.as_mut_ptr()
                ),
                BEMM_OK
            );
            let m = &*h;
            let input16: std::vec::Vec<f16> = input.iter().map(|b| f16::from_bits(*b)).collect();
            let mut want = std::vec![0f32; 2 * nc];
            m.infer(&input16, 2, &mut scratch, &mut want, &mut []).expect("infer");
            assert_eq!(probs, want);
            assert_eq!(labels[1], m.predicted(&want[nc..]));
            assert_eq!(
                bemm_extract_features(
                    h,
                    input.as_ptr(),
                    2,
                    scratch.as_mut_ptr(),
                    sl,
                    probs.as_mut_ptr(),
                    probs.len(),
                    feats.as_mut_ptr(),
                    feats.len() - 1
                ),
                BEMM_ERR_OUTPUT
            );
            assert_eq!(
                bemm_extract_features(
                    h,
                    input.as_ptr(),
                    2,
                    scratch.as_mut_ptr(),
                    sl,
                    probs.as_mut_ptr(),
                    probs.len(),
                    feats.as_mut_ptr(),
                    feats.len()
                ),
                BEMM_OK
            );
            assert!(feats.iter().any(|v| *v != 0.0));
            // Small GEMM panels: less scratch, the same labels.
            assert_eq!(bemm_model_set_gemm_blocks(h, 63, 64), BEMM_ERR_INPUT);
            assert_eq!(bemm_model_set_gemm_blocks(core::ptr::null_mut(), 64, 64), BEMM_ERR_NULL);
            assert_eq!(bemm_model_set_gemm_blocks(h, 64, 64), BEMM_OK);
            let mut small = 0usize;
            assert_eq!(bemm_scratch_len(h, 2, &mut small), BEMM_OK);
            assert!(small < sl, "{small} vs {sl}");
            let mut probs2 = std::vec![0f32; 2 * nc];
            let mut labels2 = [0u64; 2];
            assert_eq!(
                bemm_predict(
                    h,
                    input.as_ptr(),
                    2,
                    scratch.as_mut_ptr(),
                    small,
                    probs2.as_mut_ptr(),
                    probs2.len(),
                    labels2.as_mut_ptr()
                ),
                BEMM_OK
            );
            assert_eq!(labels2, labels);
            for (a, b) in probs2.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
            bemm_model_close(h);
        }
    }

    #[test]
    fn last_error_is_per_thread() {
        let storage_ok = [0u64; 4];
        // SAFETY: null pointers are the case under test; nothing is dereferenced.
        let rc =
            unsafe { bemm_model_open(core::ptr::null_mut(), 0, storage_ok.as_ptr().cast(), 8, core::ptr::null_mut()) };
        assert_eq!(rc, BEMM_ERR_NULL);
        assert_eq!(bemm_last_error(), BEMM_ERR_NULL);
        // Another thread's failure neither shows here nor sees ours.
        let other = std::thread::spawn(|| {
            let before = bemm_last_error();
            let mut buf = [0 as c_char; 8];
            let mut h: *mut BemmModel = core::ptr::null_mut();
            let mut store = [0u64; 1];
            let bytes = [0u8; 16];
            // SAFETY: a 0-byte storage area behind a valid pointer: rejected before use.
            let rc = unsafe { bemm_model_open(store.as_mut_ptr().cast(), 0, bytes.as_ptr(), bytes.len(), &mut h) };
            // SAFETY: buf holds 8 writable bytes.
            let n = unsafe { bemm_last_error_message(buf.as_mut_ptr(), buf.len()) };
            (before, rc, bemm_last_error(), n)
        })
        .join()
        .expect("thread");
        assert_eq!(other.0, BEMM_OK);
        assert_eq!(other.1, BEMM_ERR_STORAGE);
        assert_eq!(other.2, BEMM_ERR_STORAGE);
        assert_eq!(other.3, 7, "message truncated to the 8-byte buffer");
        assert_eq!(bemm_last_error(), BEMM_ERR_NULL);
        let mut msg = [0 as c_char; 128];
        // SAFETY: msg holds 128 writable bytes.
        let n = unsafe { bemm_last_error_message(msg.as_mut_ptr(), msg.len()) };
        let text: std::string::String = msg[..n].iter().map(|&c| c as u8 as char).collect();
        assert!(text.contains("must not be null"), "{text}");
    }
}
