//! aarch64 int8 micro-kernels: Armv8.2 dot product (`sdot`, written as
//! `asm!` by lane) and a plain-NEON fallback (`smull` + `sadalp`).
//!
//! Both multiply signed bytes only, so the u8 activations are shifted to
//! i8 (`b ^ 0x80` = `b - 128`) and the product corrected with the weight
//! row's sum: `sum a*b = sum a*(b - 128) + 128 * sum a`. Every step is exact
//! (|a*(b-128)| <= 16384), so the results equal the scalar reference.

use super::{store_qtile, QTile};
use core::arch::aarch64::*;
use core::arch::asm;

/// `acc[i] += dot(b[4i..4i+4], a[4*LANE..4*LANE+4])`, signed bytes.
macro_rules! sdot_lane {
    ($acc:expr, $b:expr, $a:expr, $lane:literal) => {
        // SAFETY: register-only arithmetic; the caller's target features
        // include `dotprod`.
        unsafe {
            asm!(
                concat!("sdot {acc:v}.4s, {b:v}.16b, {a:v}.4b[", $lane, "]"),
                acc = inout(vreg) $acc,
                b = in(vreg) $b,
                a = in(vreg) $a,
                options(pure, nomem, nostack, preserves_flags)
            )
        }
    };
}

/// Dot product (`sdot`), 8 rows x 8 columns: 16 accumulators of 4
/// columns, plus the rows' weight sums by `sdot` against ones.
///
/// # Safety
/// NEON and the dot-product extension must be available; `t.a` holds
/// `k4 * 8 * 4` i8, `t.b` `k4 * 8 * 4` u8, C as in [`QTile`].
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn dot_8x8(t: &QTile) {
    const MR: usize = 8;
    const NR: usize = 8;
    let zero = vdupq_n_s32(0);
    let mut acc = [[zero; 2]; MR];
    let (mut rs0, mut rs1) = (zero, zero);
    let (ones, flip) = (vdupq_n_s8(1), vdupq_n_u8(0x80));
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.k4 {
        // SAFETY: each K group holds 32 bytes of A and 32 of B inside the panels.
        let (a0, a1, b0, b1) = unsafe {
            (
                vld1q_s8(a),
                vld1q_s8(a.add(16)),
                vreinterpretq_s8_u8(veorq_u8(vld1q_u8(b), flip)),
                vreinterpretq_s8_u8(veorq_u8(vld1q_u8(b.add(16)), flip)),
            )
        };
        sdot_lane!(rs0, a0, ones, "0");
        sdot_lane!(rs1, a1, ones, "0");
        sdot_lane!(acc[0][0], b0, a0, "0");
        sdot_lane!(acc[0][1], b1, a0, "0");
        sdot_lane!(acc[1][0], b0, a0, "1");
        sdot_lane!(acc[1][1], b1, a0, "1");
        sdot_lane!(acc[2][0], b0, a0, "2");
        sdot_lane!(acc[2][1], b1, a0, "2");
        sdot_lane!(acc[3][0], b0, a0, "3");
        sdot_lane!(acc[3][1], b1, a0, "3");
        sdot_lane!(acc[4][0], b0, a1, "0");
        sdot_lane!(acc[4][1], b1, a1, "0");
        sdot_lane!(acc[5][0], b0, a1, "1");
        sdot_lane!(acc[5][1], b1, a1, "1");
        sdot_lane!(acc[6][0], b0, a1, "2");
        sdot_lane!(acc[6][1], b1, a1, "2");
        sdot_lane!(acc[7][0], b0, a1, "3");
        sdot_lane!(acc[7][1], b1, a1, "3");
        // SAFETY: advancing within the panels (one past the end at most).
        unsafe {
            a = a.add(MR * 4);
            b = b.add(NR * 4);
        }
    }
    // `ones` by lane 0 summed each A row's 4 bytes: rs0 = rows 0-3, rs1 = rows 4-7.
    let mut sums = [0i32; MR];
    // SAFETY: `sums` holds 8 i32.
    unsafe {
        vst1q_s32(sums.as_mut_ptr(), rs0);
        vst1q_s32(sums.as_mut_ptr().add(4), rs1);
    }
    let mut tmp = [[0i32; NR]; MR];
    for ((row, accr), &s) in tmp.iter_mut().zip(&acc).zip(&sums) {
        let fix = vdupq_n_s32(s.wrapping_mul(128));
        // SAFETY: each row holds 8 i32.
        unsafe {
            vst1q_s32(row.as_mut_ptr(), vaddq_s32(accr[0], fix));
            vst1q_s32(row.as_mut_ptr().add(4), vaddq_s32(accr[1], fix));
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_qtile(t, &tmp) }
}

/// Plain NEON, 4 rows x 8 columns: per K group and row, `smull` of a row's
/// 4 weights (twice) against two columns' 4 shifted activations, and
/// `sadalp` into pairwise i32 sums; the pairs are added at the end.
///
/// # Safety
/// NEON must be available; `t.a` holds `k4 * 4 * 4` i8, `t.b` `k4 * 8 * 4`
/// u8, C as in [`QTile`].
#[target_feature(enable = "neon")]
pub(crate) unsafe fn smull_4x8(t: &QTile) {
    const MR: usize = 4;
    const NR: usize = 8;
    // acc[r][p]: columns 2p and 2p+1, two partial sums each.
    let mut acc = [[vdupq_n_s32(0); 4]; MR];
    let mut sums = [0i32; MR];
    let flip = vdupq_n_u8(0x80);
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.k4 {
        // SAFETY: each K group holds 16 bytes of A and 32 of B inside the panels.
        unsafe {
            let bq0 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(b), flip));
            let bq1 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(b.add(16)), flip));
            let bd = [vget_low_s8(bq0), vget_high_s8(bq0), vget_low_s8(bq1), vget_high_s8(bq1)];
            for (r, (accr, sum)) in acc.iter_mut().zip(sums.iter_mut()).enumerate() {
                let w = (a.add(r * 4) as *const u32).read_unaligned();
                let av = vreinterpret_s8_u32(vdup_n_u32(w));
                for (p, d) in bd.iter().enumerate() {
                    accr[p] = vpadalq_s16(accr[p], vmull_s8(av, *d));
                }
                let q = core::slice::from_raw_parts(a.add(r * 4), 4);
                *sum += q.iter().map(|&v| i32::from(v)).sum::<i32>();
            }
            a = a.add(MR * 4);
            b = b.add(NR * 4);
        }
    }
    let mut tmp = [[0i32; NR]; MR];
    for ((row, accr), &s) in tmp.iter_mut().zip(&acc).zip(&sums) {
        let fix = vdupq_n_s32(s.wrapping_mul(128));
        // SAFETY: each row holds 8 i32.
        unsafe {
            vst1q_s32(row.as_mut_ptr(), vaddq_s32(vpaddq_s32(accr[0], accr[1]), fix));
            vst1q_s32(row.as_mut_ptr().add(4), vaddq_s32(vpaddq_s32(accr[2], accr[3]), fix));
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_qtile(t, &tmp) }
}
