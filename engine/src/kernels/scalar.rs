//! Portable 4x8 micro-kernel: the reference for every SIMD kernel. A is
//! row-major `[4][kc]` ([`super::PackFormat::F32RowsA`]: each f16 weight
//! row widened as one run while packing, no transposing scatter), B
//! `[kc][8]`.

use super::{store_tile, Tile};

const MR: usize = 4;
const NR: usize = 8;

/// `C (+)= A * B` over one tile (see [`Tile`]).
///
/// # Safety
/// `t.a` holds `4 * kc` (row-major) and `t.b` `kc * 8` packed f32; C and
/// bias as in [`Tile`].
pub unsafe fn kernel_4x8(t: &Tile) {
    let mut acc = [[0f32; NR]; MR];
    let kc = t.kc;
    // SAFETY: the caller guarantees the packed panels' lengths.
    let a = unsafe { core::slice::from_raw_parts(t.a, MR * kc) };
    // SAFETY: as above.
    let b = unsafe { core::slice::from_raw_parts(t.b, kc * NR) };
    for (k, bk) in b.chunks_exact(NR).enumerate() {
        for r in 0..MR {
            let ar = a[r * kc + k];
            for j in 0..NR {
                acc[r][j] = ar.mul_add_portable(bk[j], acc[r][j]);
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
