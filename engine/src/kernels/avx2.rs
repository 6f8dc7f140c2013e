//! x86-64 AVX2+FMA 6x16 micro-kernel (12 ymm accumulators). Format: A
//! row-major `[6][kc]` f32 ([`super::PackFormat::F32RowsA`]), so packing
//! widens each f16 weight row as one contiguous run instead of scattering
//! it one value at a time (the scatter was most of a batch-1 run's
//! packing), B `[kc][16]`.

use super::{store_tile, Tile};
use core::arch::x86_64::*;

const MR: usize = 6;
const NR: usize = 16;

/// `C (+)= A * B` over one tile (see [`Tile`]).
///
/// # Safety
/// AVX2 and FMA must be available; `t.a` holds `6 * kc` (row-major) and
/// `t.b` `kc * 16` packed f32; C and bias as in [`Tile`].
#[target_feature(enable = "avx2,fma")]
pub unsafe fn kernel_6x16(t: &Tile) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let (kc, mut b) = (t.kc, t.b);
    for k in 0..kc {
        // SAFETY: kc steps of 16 (B) values and 6 rows of kc (A) values lie
        // inside the panels.
        unsafe {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*t.a.add(r * kc + k));
                accr[0] = _mm256_fmadd_ps(av, b0, accr[0]);
                accr[1] = _mm256_fmadd_ps(av, b1, accr[1]);
            }
            b = b.add(NR);
        }
    }
    if t.rows == MR && t.cols == NR {
        let zero = _mm256_setzero_ps();
        for (r, accr) in acc.iter().enumerate() {
            // SAFETY: full tile: row r has 16 valid values (of C and of a
            // non-null residual); bias has 6.
            unsafe {
                let c = t.c.add(r * t.ldc);
                let (mut v0, mut v1) = (accr[0], accr[1]);
                if t.accumulate {
                    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(c));
                    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(c.add(8)));
                }
                if !t.bias.is_null() {
                    let bv = _mm256_broadcast_ss(&*t.bias.add(r));
                    v0 = _mm256_add_ps(v0, bv);
                    v1 = _mm256_add_ps(v1, bv);
                }
                if !t.res.is_null() {
                    let res = t.res.add(r * t.ldc);
                    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(res));
                    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(res.add(8)));
                }
                if t.relu {
                    v0 = _mm256_max_ps(v0, zero);
                    v1 = _mm256_max_ps(v1, zero);
                }
                _mm256_storeu_ps(c, v0);
                _mm256_storeu_ps(c.add(8), v1);
            }
        }
    } else {
        let mut tmp = [[0f32; NR]; MR];
        for (r, accr) in acc.iter().enumerate() {
            // SAFETY: tmp rows hold 16 f32.
            unsafe {
                _mm256_storeu_ps(tmp[r].as_mut_ptr(), accr[0]);
                _mm256_storeu_ps(tmp[r].as_mut_ptr().add(8), accr[1]);
            }
        }
        // SAFETY: forwarded from the caller.
        unsafe { store_tile(t, &tmp) };
    }
}
