//! Value conversions for C callers whose compiler has no half type.

use super::bounds::fits;
use super::codes::*;
use super::last_error::fail;
use half::f16;

/// Convert `n` f32 values to f16 bit patterns (round to nearest even).
///
/// # Safety
/// `src` must point at `n` readable floats and `dst` at `n` writable u16.
#[no_mangle]
pub unsafe extern "C" fn bemm_f32_to_f16(src: *const f32, dst: *mut u16, n: usize) -> i32 {
    if src.is_null() || dst.is_null() {
        return fail(BEMM_ERR_NULL, format_args!("bemm_f32_to_f16: src and dst must not be null"));
    }
    if !fits(src, n) || !fits(dst.cast_const(), n) {
        return fail(BEMM_ERR_INPUT, format_args!("bemm_f32_to_f16: n = {n} floats is larger than any buffer"));
    }
    // Elements are read and written unaligned, one at a time.
    for i in 0..n {
        // SAFETY: caller promises `n` elements at each pointer.
        unsafe { dst.add(i).write_unaligned(f16::from_f32(src.add(i).read_unaligned()).to_bits()) };
    }
    BEMM_OK
}
