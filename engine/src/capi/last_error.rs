//! The last-failure record behind `bemm_last_error` and
//! `bemm_last_error_message`, and the mapping of [`EngineError`] to status
//! codes.
//!
//! A record holds a code and at most [`BEMM_MESSAGE_MAX`]` - 1` message
//! bytes: a longer message is cut at a character boundary and ends in
//! `"..."`, so the length `bemm_last_error_message` reports is always that
//! of the whole kept message.

use super::codes::*;
use crate::error::EngineError;
use core::ffi::c_char;
use core::fmt::Write as _;

/// Message bytes a record keeps (without the NUL).
const CAP: usize = BEMM_MESSAGE_MAX - 1;

/// A failure record: code, message bytes, message length.
type Record = (i32, [u8; CAP], usize);

const EMPTY: Record = (BEMM_OK, [0; CAP], 0);

/// Writes at most `CAP` bytes and notes whether anything was dropped.
struct Trunc<'a> {
    buf: &'a mut [u8; CAP],
    len: usize,
    cut: bool,
}

impl core::fmt::Write for Trunc<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = CAP - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        self.cut |= n < s.len();
        Ok(())
    }
}

fn record(slot: &mut Record, code: i32, msg: core::fmt::Arguments<'_>) {
    let mut w = Trunc { buf: &mut slot.1, len: 0, cut: false };
    let _ = w.write_fmt(msg);
    let (mut len, cut) = (w.len, w.cut);
    if cut {
        // Keep whole UTF-8 characters, then mark the cut.
        len = CAP - 3;
        while len > 0 && slot.1[len] & 0xC0 == 0x80 {
            len -= 1;
        }
        slot.1[len..len + 3].copy_from_slice(b"...");
        len += 3;
    }
    slot.2 = len;
    slot.0 = code;
}

// With `std` the last failure is kept per thread (like `errno`), so threads
// that each drive their own handle never read one another's errors.
#[cfg(feature = "std")]
mod slot {
    use super::{Record, EMPTY};
    use core::cell::RefCell;

    std::thread_local! {
        static LAST: RefCell<Record> = const { RefCell::new(EMPTY) };
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
mod slot {
    use super::{Record, EMPTY};
    use core::sync::atomic::{AtomicBool, Ordering};

    static LOCK: AtomicBool = AtomicBool::new(false);
    struct Slot(core::cell::UnsafeCell<Record>);
    // SAFETY: the record is only touched while `LOCK` is held (acquired by
    // compare_exchange, released with Release ordering), so accesses never overlap.
    unsafe impl Sync for Slot {}
    static LAST: Slot = Slot(core::cell::UnsafeCell::new(EMPTY));

    pub fn with<R>(f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        LOCK.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).ok()?;
        // SAFETY: LOCK is held (see `Slot`).
        let r = f(unsafe { &mut *LAST.0.get() });
        LOCK.store(false, Ordering::Release);
        Some(r)
    }
}

/// Record a failure and return its code.
pub(super) fn fail(code: i32, msg: core::fmt::Arguments<'_>) -> i32 {
    slot::with(|slot| record(slot, code, msg));
    code
}

/// The status code of an engine error.
pub(super) fn code_of(e: &EngineError) -> i32 {
    match e {
        EngineError::Format(_) | EngineError::TooManyLayers { .. } => BEMM_ERR_MODEL,
        EngineError::InputLength { .. } | EngineError::SampleLength { .. } => BEMM_ERR_INPUT,
        EngineError::GemmBlocks { .. } => BEMM_ERR_INPUT,
        EngineError::NonFiniteInput { .. } => BEMM_ERR_NONFINITE,
        EngineError::ScratchTooSmall { .. } => BEMM_ERR_SCRATCH,
        EngineError::OutputLength { .. } => BEMM_ERR_OUTPUT,
        EngineError::EmptyBatch | EngineError::BatchTooLarge(_) => BEMM_ERR_BATCH,
        EngineError::UnknownKernel { .. }
        | EngineError::KernelUnavailable { .. }
        | EngineError::NoFloatKernel { .. } => BEMM_ERR_UNSUPPORTED,
        #[allow(unreachable_patterns)]
        _ => BEMM_ERR_INTERNAL,
    }
}

/// Record an engine error (prefixed with the C function's name) and return its code.
pub(super) fn engine_fail(what: &str, e: EngineError) -> i32 {
    fail(code_of(&e), format_args!("{what}: {e}"))
}

/// Code of the last failure (`BEMM_OK` if none yet): of this thread's
/// calls when built with `std`, of any call without it. Successful calls
/// leave it unchanged.
#[no_mangle]
pub extern "C" fn bemm_last_error() -> i32 {
    slot::with(|slot| slot.0).unwrap_or(BEMM_OK)
}

/// Copy the last failure's message (same scope as [`bemm_last_error`]),
/// NUL-terminated and cut to `len - 1` bytes, into `buf`, and return the
/// length of the whole message without the NUL, like `snprintf`: a return
/// of `len` or more means `buf` got a cut copy. Nothing is written when
/// `buf` is null or `len` is 0 (ask for the length that way). Messages are
/// at most [`BEMM_MESSAGE_MAX`]` - 1` bytes; 0 when there was no failure.
///
/// # Safety
/// `buf` must be null or point at `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn bemm_last_error_message(buf: *mut c_char, len: usize) -> usize {
    slot::with(|slot| {
        let full = slot.2;
        if !buf.is_null() && len > 0 {
            // Only the bytes written form the slice, so no length from C
            // (even past `isize::MAX`) reaches `from_raw_parts_mut`.
            let n = full.min(len - 1);
            // SAFETY: the caller promises `len` writable bytes at `buf` and
            // `n + 1 <= len`; u8 has alignment 1.
            let out = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), n + 1) };
            out[..n].copy_from_slice(&slot.1[..n]);
            out[n] = 0;
        }
        full
    })
    .unwrap_or_else(|| {
        if !buf.is_null() && len > 0 {
            // SAFETY: at least one writable byte at `buf` (caller contract).
            unsafe { buf.write(0) };
        }
        0
    })
}
