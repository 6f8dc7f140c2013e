//! Armv8.2-A FP16 8x8 micro-kernel: half-precision products, f32 sums.
//!
//! Per K step the 8 A and 8 B values (packed f32, [`super::PackFormat::F32`])
//! are rounded to f16 (`fcvtn`), then 8 `fmla v.8h, v.8h, v.h[lane]` add
//! 64 products into 8 f16 accumulators. Every [`CHUNK`] steps the f16
//! partial sums are widened (`fcvtl`) and added to 16 f32 accumulators, so
//! a dot product of any length keeps f32 sums of short f16 partial sums:
//! the rounding of the f16 arithmetic stays that of a 16-term sum (about
//! 1e-3 relative), like the bf16 fast path on x86. Values whose magnitude
//! exceeds 65504 (the f16 range) would become infinite: the fast path is
//! for networks whose activations and weights stay in that range (the
//! engine's normalised inputs and trained weights do).
//!
//! Stable Rust has no f16 vector type, so the f16 instructions are inline
//! `asm!` on 128-bit registers.

use super::neon::store;
use super::Tile;
use core::arch::aarch64::*;
use core::arch::asm;

/// Tile rows.
pub const MR: usize = 8;
/// Tile columns.
pub const NR: usize = 8;
/// K steps summed in f16 before widening into the f32 accumulators.
pub const CHUNK: usize = 16;

/// `C (+)= A * B` over one tile (see [`Tile`]) with f16 products.
///
/// # Safety
/// NEON and FP16 (`fp16`, FEAT_FP16) must be available; `t.a` holds
/// `kc * 8` and `t.b` `kc * 8` packed f32; C, bias and residual as in [`Tile`].
#[target_feature(enable = "neon,fp16")]
pub unsafe fn kernel_8x8(t: &Tile) {
    // SAFETY: forwarded from the caller.
    unsafe { store::<MR, 2>(t, &tile(t)) }
}

/// The K loop: f16 partial sums over [`CHUNK`] steps, f32 sums of those.
///
/// # Safety
/// NEON and FP16 (inlined into the function that enables them); panels as
/// [`kernel_8x8`].
#[inline(always)]
unsafe fn tile(t: &Tile) -> [[float32x4_t; 2]; MR] {
    // SAFETY: every load reads inside step k's 8 A and 8 B values, k < kc;
    // the asm blocks only compute on registers.
    unsafe {
        let zero = vdupq_n_f32(0.0);
        let mut acc = [[zero; 2]; MR];
        let (mut a, mut b) = (t.a, t.b);
        let mut k0 = 0;
        while k0 < t.kc {
            let steps = CHUNK.min(t.kc - k0);
            let zh = vdupq_n_u16(0);
            let (mut h0, mut h1, mut h2, mut h3, mut h4, mut h5, mut h6, mut h7) = (zh, zh, zh, zh, zh, zh, zh, zh);
            for _ in 0..steps {
                let (a0, a1) = (vld1q_f32(a), vld1q_f32(a.add(4)));
                let (b0, b1) = (vld1q_f32(b), vld1q_f32(b.add(4)));
                // `ah` is the by-element operand: FMLA (by element, 16-bit)
                // encodes it in 4 bits, v0-v15 only.
                asm!(
                    "fcvtn {ah:v}.4h, {a0:v}.4s",
                    "fcvtn2 {ah:v}.8h, {a1:v}.4s",
                    "fcvtn {bh:v}.4h, {b0:v}.4s",
                    "fcvtn2 {bh:v}.8h, {b1:v}.4s",
                    "fmla {h0:v}.8h, {bh:v}.8h, {ah:v}.h[0]",
                    "fmla {h1:v}.8h, {bh:v}.8h, {ah:v}.h[1]",
                    "fmla {h2:v}.8h, {bh:v}.8h, {ah:v}.h[2]",
                    "fmla {h3:v}.8h, {bh:v}.8h, {ah:v}.h[3]",
                    "fmla {h4:v}.8h, {bh:v}.8h, {ah:v}.h[4]",
                    "fmla {h5:v}.8h, {bh:v}.8h, {ah:v}.h[5]",
                    "fmla {h6:v}.8h, {bh:v}.8h, {ah:v}.h[6]",
                    "fmla {h7:v}.8h, {bh:v}.8h, {ah:v}.h[7]",
                    a0 = in(vreg) a0,
                    a1 = in(vreg) a1,
                    b0 = in(vreg) b0,
                    b1 = in(vreg) b1,
                    ah = out(vreg_low16) _,
                    bh = out(vreg) _,
                    h0 = inout(vreg) h0,
                    h1 = inout(vreg) h1,
                    h2 = inout(vreg) h2,
                    h3 = inout(vreg) h3,
                    h4 = inout(vreg) h4,
                    h5 = inout(vreg) h5,
                    h6 = inout(vreg) h6,
                    h7 = inout(vreg) h7,
                    options(pure, nomem, nostack, preserves_flags)
                );
                a = a.add(MR);
                b = b.add(NR);
            }
            for (accr, h) in acc.iter_mut().zip([h0, h1, h2, h3, h4, h5, h6, h7]) {
                let (lo, hi) = widen(h);
                accr[0] = vaddq_f32(accr[0], lo);
                accr[1] = vaddq_f32(accr[1], hi);
            }
            k0 += steps;
        }
        acc
    }
}

/// The 8 f16 lanes of `h` as two f32 vectors (lanes 0-3, 4-7); exact.
///
/// # Safety
/// NEON (`fcvtl` is base Advanced SIMD, not FP16).
#[inline(always)]
pub(crate) unsafe fn widen(h: uint16x8_t) -> (float32x4_t, float32x4_t) {
    let (lo, hi): (float32x4_t, float32x4_t);
    // SAFETY: register-only conversion; NEON per the caller.
    unsafe {
        asm!(
            "fcvtl {lo:v}.4s, {h:v}.4h",
            "fcvtl2 {hi:v}.4s, {h:v}.8h",
            h = in(vreg) h,
            lo = out(vreg) lo,
            hi = out(vreg) hi,
            options(pure, nomem, nostack, preserves_flags)
        )
    };
    (lo, hi)
}
