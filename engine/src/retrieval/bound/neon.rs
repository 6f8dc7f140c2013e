//! AArch64 NEON bound: the 16 queries in four 4-lane registers (lane =
//! query), [`ROWS`] rows at a time; the row reciprocals are true divisions
//! (once per row), each harmonic term `frecpe` refined by one `frecps` step
//! (relative error about 2^-16; `frecps(inf, 0) = 2`, so a zero's term
//! stays 0 instead of NaN).

use super::{row_tail, tiny, QueryGroup, EPS, LANES, ROWS};
use core::arch::aarch64::*;
use half::f16;

/// 8 f16 -> two times 4 f32.
#[inline]
#[target_feature(enable = "neon")]
fn load_h(x: &[f16; 8]) -> [float32x4_t; 2] {
    // SAFETY: `x` is 8 f16 = 16 readable bytes (`half::f16` is a
    // transparent u16); NEON loads have no alignment requirement.
    let h = vreinterpretq_f16_u16(unsafe { vld1q_u16(x.as_ptr().cast()) });
    [vcvt_f32_f16(vget_low_f16(h)), vcvt_high_f32_f16(h)]
}

/// 16 f32 as four times 4.
#[inline]
#[target_feature(enable = "neon")]
fn load16(y: &[f32; 16]) -> [float32x4_t; 4] {
    // SAFETY: `y` is 16 f32 = 64 readable bytes.
    unsafe {
        [
            vld1q_f32(y.as_ptr()),
            vld1q_f32(y.as_ptr().add(4)),
            vld1q_f32(y.as_ptr().add(8)),
            vld1q_f32(y.as_ptr().add(12)),
        ]
    }
}

/// Store 4 f32.
#[inline]
#[target_feature(enable = "neon")]
fn store4(o: &mut [f32; 4], v: float32x4_t) {
    // SAFETY: `o` is 4 f32 = 16 writable bytes.
    unsafe { vst1q_f32(o.as_mut_ptr(), v) }
}

/// `1 / t`: `frecpe` and one Newton step.
#[inline]
#[target_feature(enable = "neon")]
fn recip(t: float32x4_t) -> float32x4_t {
    let r = vrecpeq_f32(t);
    vmulq_f32(vrecpsq_f32(t, r), r)
}

/// See `BoundKernel::candidates`; `masks` (and `bounds`) hold exactly the
/// rows to bound, `rows` at least that many rows of `stride >= g.d` values.
#[target_feature(enable = "neon")]
pub(super) fn run(
    g: &QueryGroup,
    rows: &[f16],
    stride: usize,
    worst: &[f32; LANES],
    masks: &mut [u16],
    mut bounds: Option<&mut [[f32; LANES]]>,
) {
    let d = g.d;
    let mut rx = alloc::vec![0f32; ROWS * d];
    let n = masks.len();
    let mut r = 0;
    while r + ROWS <= n {
        block::<ROWS>(
            g,
            &rows[r * stride..],
            stride,
            worst,
            &mut rx,
            &mut masks[r..],
            bounds.as_deref_mut().map(|b| &mut b[r..]),
        );
        r += ROWS;
    }
    while r < n {
        block::<1>(
            g,
            &rows[r * stride..],
            stride,
            worst,
            &mut rx,
            &mut masks[r..],
            bounds.as_deref_mut().map(|b| &mut b[r..]),
        );
        r += 1;
    }
}

/// Rows `0..R` of `rows`: their reciprocals into `rx` (`R * d` values),
/// then the bounds of all 16 queries.
#[inline]
#[target_feature(enable = "neon")]
fn block<const R: usize>(
    g: &QueryGroup,
    rows: &[f16],
    stride: usize,
    worst: &[f32; LANES],
    rx: &mut [f32],
    masks: &mut [u16],
    mut bounds: Option<&mut [[f32; LANES]]>,
) {
    let d = g.d;
    let d8 = d / 8 * 8;
    let zero = vdupq_n_f32(0.0);
    let one = vdupq_n_f32(1.0);
    let inf = vdupq_n_f32(f32::INFINITY);
    let mut sx = [0f32; R];
    let mut ok = [true; R];
    for (i, buf) in rx.chunks_exact_mut(d).take(R).enumerate() {
        let row = &rows[i * stride..i * stride + d];
        let (mut s, mut good) = (zero, vdupq_n_u32(u32::MAX));
        for (x, o) in row[..d8].as_chunks::<8>().0.iter().zip(buf[..d8].as_chunks_mut::<4>().0.chunks_exact_mut(2)) {
            for (k, v) in load_h(x).into_iter().enumerate() {
                good = vandq_u32(good, vandq_u32(vcgeq_f32(v, zero), vcltq_f32(v, inf)));
                s = vaddq_f32(s, v);
                // 1 / +0 = +inf: the harmonic term of a zero is then 1/inf = 0
                // (max turns -0 into +0, whose reciprocal would be -inf and NaN against a zero query).
                store4(&mut o[k], vdivq_f32(one, vmaxq_f32(v, zero)));
            }
        }
        let (ts, tok) = row_tail(&row[d8..], &mut buf[d8..]);
        sx[i] = vaddvq_f32(s) + ts;
        ok[i] = vminvq_u32(good) == u32::MAX && tok;
    }
    // Slices of exactly `d` values: the loop below indexes them without bounds checks.
    let rec = &g.recip[..d];
    let mut rxs: [&[f32]; R] = [&[]; R];
    for (i, c) in rx.chunks_exact(d).take(R).enumerate() {
        rxs[i] = &c[..d];
    }
    let mut acc = [[zero; 4]; R];
    for j in 0..d {
        let y = load16(&rec[j]);
        for i in 0..R {
            let a = vdupq_n_f32(rxs[i][j]);
            for k in 0..4 {
                acc[i][k] = vaddq_f32(acc[i][k], recip(vaddq_f32(y[k], a)));
            }
        }
    }
    let sums = load16(&g.sums);
    let wv = load16(worst);
    let keep = vdupq_n_f32(1.0 - EPS);
    let four = vdupq_n_f32(4.0);
    let tv = vdupq_n_f32(tiny(d));
    let bits: [u32; 4] = [1, 2, 4, 8];
    // SAFETY: `bits` is 4 u32 = 16 readable bytes.
    let bitv = unsafe { vld1q_u32(bits.as_ptr()) };
    let valid = g.lane_mask();
    for i in 0..R {
        let mut m = 0u16;
        let mut l = [[0f32; 4]; 4];
        for k in 0..4 {
            let t = vmulq_f32(vaddq_f32(vdupq_n_f32(sx[i]), sums[k]), keep);
            let lv = vsubq_f32(vfmsq_f32(t, four, acc[i][k]), tv);
            // Not above worst (NaN included): !(l > w).
            let keep_lane = vmvnq_u32(vcgtq_f32(lv, wv[k]));
            m |= (vaddvq_u32(vandq_u32(keep_lane, bitv)) as u16) << (4 * k);
            store4(&mut l[k], lv);
        }
        masks[i] = if ok[i] { m & valid } else { valid };
        if let Some(b) = bounds.as_deref_mut() {
            b[i] = if ok[i] { flatten(l) } else { [f32::NEG_INFINITY; LANES] };
        }
    }
}

/// Four times 4 lanes as 16.
#[inline]
fn flatten(l: [[f32; 4]; 4]) -> [f32; LANES] {
    let mut o = [0f32; LANES];
    for (c, v) in o.chunks_exact_mut(4).zip(l) {
        c.copy_from_slice(&v);
    }
    o
}

/// Single-query bounds (see `BoundKernel::row_bounds`): 8 dimensions per
/// step in two 4-lane halves, four accumulators per row; per 4 values one
/// `frecpe` and one `frecps` step of `max(x + y, MIN_POSITIVE)` (relative
/// error about 2^-16); the raw f16 bits are OR-ed to spot a sign bit.
#[target_feature(enable = "neon")]
pub(super) fn single(q: &[f32], rows: &[f16], stride: usize, out: &mut [f32]) {
    let d = q.len();
    let q16 = q.as_chunks::<16>().0;
    let d16 = q16.len() * 16;
    let zero = vdupq_n_f32(0.0);
    let floor = vdupq_n_f32(f32::MIN_POSITIVE);
    let term = |acc: float32x4_t, x: float32x4_t, y: &[f32; 4]| {
        // SAFETY: `y` is 4 f32 = 16 readable bytes.
        let y = unsafe { vld1q_f32(y.as_ptr()) };
        let e = vsubq_f32(x, y);
        let r = recip(vmaxq_f32(vaddq_f32(x, y), floor));
        vfmaq_f32(acc, vmulq_f32(e, r), e)
    };
    let tiny = tiny(d);
    for (r, o) in out.iter_mut().enumerate() {
        let row = &rows[r * stride..r * stride + d];
        let mut a = [zero; 4];
        let mut bits = vdupq_n_u16(0);
        for (x, y) in row.as_chunks::<16>().0.iter().zip(q16) {
            let (x, y) = (x.as_chunks::<8>().0, y.as_chunks::<4>().0);
            for h in 0..2 {
                // SAFETY: `x[h]` is 8 f16 = 16 readable bytes.
                let raw = unsafe { vld1q_u16(x[h].as_ptr().cast()) };
                bits = vorrq_u16(bits, raw);
                let hv = vreinterpretq_f16_u16(raw);
                a[2 * h] = term(a[2 * h], vcvt_f32_f16(vget_low_f16(hv)), &y[2 * h]);
                a[2 * h + 1] = term(a[2 * h + 1], vcvt_high_f32_f16(hv), &y[2 * h + 1]);
            }
        }
        let signs = vmaxvq_u16(bits) >= 0x8000;
        let sum = vaddvq_f32(vaddq_f32(vaddq_f32(a[0], a[1]), vaddq_f32(a[2], a[3])));
        *o = super::single_bound(sum, signs, row, q, d16, tiny);
    }
}
