//! aarch64 NEON 12x8 micro-kernel: 24 of the 32 q registers hold the
//! accumulators, 3 the A column and 2 the B row of one K step.
//!
//! Per K step: 5 loads (12 + 8 f32) feed 24 `fmla v.4s, v.4s, v.s[lane]`
//! (96 multiply-adds), 4.8 vector FMAs per load. Packing is
//! [`super::PackFormat::F32`]: A as `[kc][12]`, B as `[kc][8]`.

use super::{store_tile, Tile};
use core::arch::aarch64::*;

/// Tile rows.
pub const MR: usize = 12;
/// Tile columns.
pub const NR: usize = 8;

/// Accumulators of one tile: row `r`, 4-column half `h`.
type Acc = [[float32x4_t; 2]; MR];

/// `C (+)= A * B` over one tile (see [`Tile`]). Tiles of at most 4 or 8
/// valid rows (the last strip of 64 or 128 output channels) run a 4- or
/// 8-row loop instead of multiplying rows of padding.
///
/// # Safety
/// NEON must be available; `t.a` holds `kc * 12` and `t.b` `kc * 8` packed
/// f32; C, bias and residual as in [`Tile`].
#[target_feature(enable = "neon")]
pub unsafe fn kernel_12x8(t: &Tile) {
    // SAFETY: forwarded from the caller (the loops read the panels only).
    unsafe {
        match t.rows {
            0..=4 => store::<MR, 2>(t, &tile::<4, 2>(t)),
            5..=8 => store::<MR, 2>(t, &tile::<8, 2>(t)),
            _ => store::<MR, 2>(t, &tile::<12, 2>(t)),
        }
    }
}

/// [`kernel_12x8`] on the left 4 columns only (same panels), for tiles with
/// `cols <= 4`.
///
/// # Safety
/// As [`kernel_12x8`], with `t.cols <= 4`.
#[target_feature(enable = "neon")]
pub unsafe fn kernel_12x4(t: &Tile) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match t.rows {
            0..=4 => store::<MR, 1>(t, &tile::<4, 1>(t)),
            5..=8 => store::<MR, 1>(t, &tile::<8, 1>(t)),
            _ => store::<MR, 1>(t, &tile::<12, 1>(t)),
        }
    }
}

/// The K loop over the first `R` rows (4, 8 or 12) and `W` 4-column halves.
///
/// # Safety
/// NEON (inlined into functions that enable it); panels as [`kernel_12x8`].
#[inline(always)]
unsafe fn tile<const R: usize, const W: usize>(t: &Tile) -> Acc {
    // SAFETY: every load reads inside step k's 12 A and 8 B values, k < kc.
    unsafe {
        let zero = vdupq_n_f32(0.0);
        let mut acc: Acc = [[zero; 2]; MR];
        let (mut a, mut b) = (t.a, t.b);
        for _ in 0..t.kc {
            let b0 = vld1q_f32(b);
            let b1 = if W == 2 { vld1q_f32(b.add(4)) } else { zero };
            let a0 = vld1q_f32(a);
            let a1 = if R > 4 { vld1q_f32(a.add(4)) } else { zero };
            let a2 = if R > 8 { vld1q_f32(a.add(8)) } else { zero };
            macro_rules! row {
                ($r:literal, $av:ident, $lane:literal) => {
                    if $r < R {
                        acc[$r][0] = vfmaq_laneq_f32::<$lane>(acc[$r][0], b0, $av);
                        if W == 2 {
                            acc[$r][1] = vfmaq_laneq_f32::<$lane>(acc[$r][1], b1, $av);
                        }
                    }
                };
            }
            row!(0, a0, 0);
            row!(1, a0, 1);
            row!(2, a0, 2);
            row!(3, a0, 3);
            row!(4, a1, 0);
            row!(5, a1, 1);
            row!(6, a1, 2);
            row!(7, a1, 3);
            row!(8, a2, 0);
            row!(9, a2, 1);
            row!(10, a2, 2);
            row!(11, a2, 3);
            a = a.add(MR);
            b = b.add(NR);
        }
        acc
    }
}

/// Epilogue: `rows x cols` of `acc` into C with accumulate, bias, residual
/// and ReLU ([`Tile`]). Rows of `4 * W` valid columns are stored as vectors,
/// other tiles through a staging array ([`store_tile`]). Shared with the
/// FP16 kernel, whose f32 accumulators have the same layout.
///
/// # Safety
/// NEON (inlined into functions that enable it); C, bias and residual as in
/// [`Tile`]; `t.rows <= M`, `t.cols <= 4 * W`.
#[inline(always)]
pub(crate) unsafe fn store<const M: usize, const W: usize>(t: &Tile, acc: &[[float32x4_t; 2]; M]) {
    if t.cols == 4 * W {
        // SAFETY: rows x (4 * W) values of C (and of a non-null residual),
        // rows ldc apart, and `rows` bias values are valid (caller).
        unsafe {
            let zero = vdupq_n_f32(0.0);
            for (r, accr) in acc.iter().enumerate().take(t.rows) {
                let c = t.c.add(r * t.ldc);
                let bias = if t.bias.is_null() { zero } else { vdupq_n_f32(*t.bias.add(r)) };
                for (h, &v) in accr.iter().enumerate().take(W) {
                    let p = c.add(4 * h);
                    let mut v = v;
                    if t.accumulate {
                        v = vaddq_f32(v, vld1q_f32(p));
                    }
                    v = vaddq_f32(v, bias);
                    if !t.res.is_null() {
                        v = vaddq_f32(v, vld1q_f32(t.res.add(r * t.ldc + 4 * h)));
                    }
                    if t.relu {
                        v = vmaxq_f32(v, zero);
                    }
                    vst1q_f32(p, v);
                }
            }
        }
        return;
    }
    let mut tmp = [[0f32; NR]; M];
    for (row, accr) in tmp.iter_mut().zip(acc) {
        // SAFETY: each staging row holds 8 f32.
        unsafe {
            vst1q_f32(row.as_mut_ptr(), accr[0]);
            vst1q_f32(row.as_mut_ptr().add(4), accr[1]);
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_tile(t, &tmp) };
}
