//! Firmware use of bemm-engine: no `std`, no allocator, no heap.
//!
//! * The model is compiled into the image with `include_bytes!`, wrapped in
//!   a 64-byte aligned static (the engine reads weights in place as f16, so
//!   the bytes must be 8-byte aligned, `MODEL_ALIGN`; `include_bytes!` alone only
//!   guarantees 1).
//! * The scratch buffer is a static array sized at build time by `build.rs`
//!   from the embedded model (`Model::scratch_len(1)`), with small GEMM
//!   panels (`GEMM_KC` x `GEMM_NC`, a 40 KB workspace instead of 2.2 MB).
//! * [`classify`] parses the model once, then runs one patch: probabilities
//!   into the caller's array, the label mask as the result.
//!
//! Built for a `no_std` target by `.ci/firmware_check.sh` (host staticlib
//! with our own panic handler; a duplicate `panic_impl` would reveal `std`).
#![no_std]

use bemm_engine::{EngineError, Model};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use half::f16;

include!(concat!(env!("OUT_DIR"), "/model_consts.rs"));

/// Forces the alignment of what it wraps.
#[repr(C, align(64))]
pub struct Aligned<T: ?Sized>(pub T);

/// The embedded model file (see `build.rs`).
pub static MODEL: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.bemm")));

/// A static touched only while [`BUSY`] is held.
struct Guarded<T>(UnsafeCell<T>);
// SAFETY: both statics of this type are only accessed inside `with_state`,
// which holds `BUSY` (acquired by compare_exchange), so accesses never overlap.
unsafe impl<T> Sync for Guarded<T> {}

/// The scratch arena: all zeros, so it lands in `.bss` (RAM, no flash copy).
static SCRATCH: Guarded<[f32; SCRATCH_LEN]> = Guarded(UnsafeCell::new([0.0; SCRATCH_LEN]));
/// The parsed, planned model (parsed on first use; the checksum pass over
/// the weights happens once).
static LOADED: Guarded<Option<Model<'static>>> = Guarded(UnsafeCell::new(None));
static BUSY: AtomicBool = AtomicBool::new(false);

/// Why a classification did not run.
#[derive(Debug)]
pub enum FirmwareError {
    /// Another classification is in progress (e.g. called from an interrupt).
    Busy,
    /// The engine refused (bad model, wrong input length).
    Engine(EngineError),
}

fn with_state<R>(f: impl FnOnce(&mut Option<Model<'static>>, &mut [f32]) -> R) -> Result<R, FirmwareError> {
    if BUSY.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return Err(FirmwareError::Busy);
    }
    // SAFETY: BUSY is held, so these are the only references to the statics.
    let r = f(unsafe { &mut *LOADED.0.get() }, unsafe { &mut *SCRATCH.0.get() });
    BUSY.store(false, Ordering::Release);
    Ok(r)
}

/// Classify one patch (`INPUT_LEN` f16 values, CHW, normalised as the
/// model's metadata says): writes the sigmoid probabilities and returns the
/// predicted classes as a bit mask (bit `j` = class `j`).
pub fn classify(patch: &[f16], probs: &mut [f32; NUM_CLASSES]) -> Result<u64, FirmwareError> {
    with_state(|loaded, scratch| {
        let model = match loaded {
            Some(m) => m,
            None => loaded.insert(
                Model::from_bytes(&MODEL.0)
                    .and_then(|m| m.with_gemm_blocks(GEMM_KC, GEMM_NC))
                    .map_err(FirmwareError::Engine)?,
            ),
        };
        model.infer(patch, 1, scratch, probs, &mut []).map_err(FirmwareError::Engine)?;
        Ok(model.predicted(probs))
    })?
}

/// C entry point for the firmware's main loop: `patch` holds `INPUT_LEN`
/// f16 bit patterns, `probs` room for `NUM_CLASSES` floats. Returns the
/// label mask (>= 0) or -1 on a null pointer, -2 when busy, -3 on an engine
/// error.
///
/// # Safety
/// `patch` and `probs` must be null or point at the stated number of
/// elements, suitably aligned.
#[no_mangle]
pub unsafe extern "C" fn bemm_firmware_classify(patch: *const u16, probs: *mut f32) -> i64 {
    if patch.is_null() || probs.is_null() {
        return -1;
    }
    // SAFETY: per the contract above; f16 is a transparent u16.
    let (patch, probs) = unsafe {
        (core::slice::from_raw_parts(patch.cast::<f16>(), INPUT_LEN), &mut *probs.cast::<[f32; NUM_CLASSES]>())
    };
    match classify(patch, probs) {
        Ok(mask) => (mask & (i64::MAX as u64)) as i64,
        Err(FirmwareError::Busy) => -2,
        Err(FirmwareError::Engine(_)) => -3,
    }
}

/// A real firmware image gets its panic handler from the board support
/// crate; this example brings its own (only when built as the no_std
/// staticlib, not under `cargo test`).
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
