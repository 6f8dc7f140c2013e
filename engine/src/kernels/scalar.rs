//! Portable 4x8 micro-kernel: the reference for every SIMD kernel.

use super::{store_tile, Tile};

const MR: usize = 4;
const NR: usize = 8;

/// `C (+)= A * B` over one tile (see [`Tile`]).
///
/// # Safety
/// `t.a` holds `kc * 4` and `t.b` `kc * 8` packed f32; C and bias as in [`Tile`].
pub unsafe fn kernel_4x8(t: &Tile) {
    let mut acc = [[0f32; NR]; MR];
    // SAFETY: the caller guarantees the packed panels' lengths.
    let a = unsafe { core::slice::from_raw_parts(t.a, t.kc * MR) };
    // SAFETY: as above.
    let b = unsafe { core::slice::from_raw_parts(t.b, t.kc * NR) };
    for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for r in 0..MR {
            for j in 0..NR {
                acc[r][j] = ak[r].mul_add_portable(bk[j], acc[r][j]);
            }
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_tile(t, &acc) };
}

/// `a * b + c` without `std` (no `f32::mul_add` in core): plain multiply-add,
/// which is what SIMD FMA computes up to the final rounding.
trait MulAddPortable {
    fn mul_add_portable(self, b: f32, c: f32) -> f32;
}
impl MulAddPortable for f32 {
    #[inline(always)]
    fn mul_add_portable(self, b: f32, c: f32) -> f32 {
        self * b + c
    }
}
