//! Status codes of the C ABI and their names. `engine/include/bemm.h`
//! repeats each value (checked by `tests/tests/interop_capi.rs`).

use core::ffi::c_char;

/// Success.
pub const BEMM_OK: i32 = 0;
/// A required pointer argument was null.
pub const BEMM_ERR_NULL: i32 = -1;
/// The model bytes are not a valid model file (or it exceeds the engine's limits).
pub const BEMM_ERR_MODEL: i32 = -2;
/// The handle storage is too small or misaligned.
pub const BEMM_ERR_STORAGE: i32 = -3;
/// The input holds the wrong number of values, is misaligned, or a
/// parameter (GEMM block size, element count) is out of range.
pub const BEMM_ERR_INPUT: i32 = -4;
/// The scratch buffer is too small, or its length exceeds what one buffer
/// can hold (`PTRDIFF_MAX` bytes).
pub const BEMM_ERR_SCRATCH: i32 = -5;
/// An output buffer has the wrong length.
pub const BEMM_ERR_OUTPUT: i32 = -6;
/// The batch is zero or so large that sizes overflow.
pub const BEMM_ERR_BATCH: i32 = -7;
/// The CPU lacks what a requested kernel needs, or no kernel has the
/// requested name (`bemm_model_set_kernel`, the `BEMM_KERNEL` variable).
pub const BEMM_ERR_UNSUPPORTED: i32 = -8;
/// An internal engine error (a bug; reported, never a crash).
pub const BEMM_ERR_INTERNAL: i32 = -9;
/// An input value is NaN or infinite; nothing was computed.
pub const BEMM_ERR_NONFINITE: i32 = -10;
/// The model bytes do not start at a [`BEMM_MODEL_ALIGN`]-byte aligned address.
pub const BEMM_ERR_ALIGN: i32 = -11;
/// The handle was closed, or never came from `bemm_model_open`.
pub const BEMM_ERR_HANDLE: i32 = -12;

/// Alignment in bytes the model file's first byte needs in memory
/// ([`bemm_formats::model::MODEL_ALIGN`]: the tensor table, read in place,
/// holds `u64` fields).
pub const BEMM_MODEL_ALIGN: usize = bemm_formats::model::MODEL_ALIGN;
/// Bytes a message buffer needs to always receive a whole last-error
/// message with its NUL (longer messages are cut when recorded).
pub const BEMM_MESSAGE_MAX: usize = 256;
/// Bytes a buffer needs to always receive a whole kernel name with its NUL
/// (and the longest name `bemm_model_set_kernel` reads, NUL included).
pub const BEMM_KERNEL_NAME_MAX: usize = 32;

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
        BEMM_ERR_NONFINITE => b"BEMM_ERR_NONFINITE\0",
        BEMM_ERR_ALIGN => b"BEMM_ERR_ALIGN\0",
        BEMM_ERR_HANDLE => b"BEMM_ERR_HANDLE\0",
        _ => b"BEMM_ERR_UNKNOWN\0",
    };
    s.as_ptr().cast()
}
