//! AArch64 NEON row distances: 4 lanes, f16 widened with `fcvtl`/`fcvtl2`
//! (`vcvt_f32_f16`), four independent accumulators per row (16 elements
//! per step).

use super::{chi2_term, cosine_from, sum_squares, Metric};
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

/// 8 f32 as two times 4.
#[inline]
#[target_feature(enable = "neon")]
fn load_s(y: &[f32; 8]) -> [float32x4_t; 2] {
    // SAFETY: `y` is 8 f32 = 32 readable bytes.
    unsafe { [vld1q_f32(y.as_ptr()), vld1q_f32(y.as_ptr().add(4))] }
}

/// `acc + ` the chi-square terms of 4 lanes; lanes with `|x + y|` below
/// `f32::MIN_POSITIVE` add nothing (masked with `facge`, not NaN).
///
/// `RCP`: `frecpe` (8 bits) refined by two Newton steps (`frecps` gives
/// `2 - s r`) to about f32 rounding, instead of `fdiv`.
#[inline]
#[target_feature(enable = "neon")]
fn chi2_acc<const RCP: bool>(acc: float32x4_t, x: float32x4_t, y: float32x4_t) -> float32x4_t {
    let s = vaddq_f32(x, y);
    let e = vsubq_f32(x, y);
    let keep = vcageq_f32(s, vdupq_n_f32(f32::MIN_POSITIVE));
    let t = if RCP {
        let r = vrecpeq_f32(s);
        let r = vmulq_f32(vrecpsq_f32(s, r), r);
        let r = vmulq_f32(vrecpsq_f32(s, r), r);
        vmulq_f32(vmulq_f32(e, r), e)
    } else {
        vdivq_f32(vmulq_f32(e, e), s)
    };
    vaddq_f32(acc, vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(t), keep)))
}

#[inline]
#[target_feature(enable = "neon")]
fn sum4(a: [float32x4_t; 4]) -> f32 {
    vaddvq_f32(vaddq_f32(vaddq_f32(a[0], a[1]), vaddq_f32(a[2], a[3])))
}

/// Row distances; see `Kernel::distances` for the contract: `rows` holds
/// `out.len()` rows of `stride` elements and `q.len() <= stride`.
#[target_feature(enable = "neon")]
pub(super) fn rows<const RCP: bool>(metric: Metric, q: &[f32], rows: &[f16], stride: usize, out: &mut [f32]) {
    let d = q.len();
    let q16 = q.as_chunks::<16>().0;
    let d16 = q16.len() * 16;
    let q8 = q[d16..].as_chunks::<8>().0;
    let d8 = d16 + q8.len() * 8;
    let qq = sum_squares(q);
    let zero = vdupq_n_f32(0.0);
    for (r, o) in out.iter_mut().enumerate() {
        let row = &rows[r * stride..r * stride + d];
        let x16 = row.as_chunks::<16>().0;
        let x8 = row[d16..].as_chunks::<8>().0;
        let tail = row[d8..].iter().zip(&q[d8..]).map(|(x, &y)| (x.to_f32(), y));
        let mut a = [zero; 4];
        match metric {
            Metric::ChiSquare => {
                for (x, y) in x16.iter().zip(q16) {
                    let (xs, ys) = (x.as_chunks::<8>().0, y.as_chunks::<8>().0);
                    let ([x0, x1], [y0, y1]) = (load_h(&xs[0]), load_s(&ys[0]));
                    let ([x2, x3], [y2, y3]) = (load_h(&xs[1]), load_s(&ys[1]));
                    a[0] = chi2_acc::<RCP>(a[0], x0, y0);
                    a[1] = chi2_acc::<RCP>(a[1], x1, y1);
                    a[2] = chi2_acc::<RCP>(a[2], x2, y2);
                    a[3] = chi2_acc::<RCP>(a[3], x3, y3);
                }
                for (x, y) in x8.iter().zip(q8) {
                    let ([x0, x1], [y0, y1]) = (load_h(x), load_s(y));
                    a[0] = chi2_acc::<RCP>(a[0], x0, y0);
                    a[1] = chi2_acc::<RCP>(a[1], x1, y1);
                }
                *o = tail.fold(sum4(a), |s, (x, y)| s + chi2_term(x, y));
            }
            Metric::SquaredL2 => {
                let add = |a: &mut float32x4_t, x, y| {
                    let e = vsubq_f32(x, y);
                    *a = vfmaq_f32(*a, e, e);
                };
                for (x, y) in x16.iter().zip(q16) {
                    let (xs, ys) = (x.as_chunks::<8>().0, y.as_chunks::<8>().0);
                    let ([x0, x1], [y0, y1]) = (load_h(&xs[0]), load_s(&ys[0]));
                    let ([x2, x3], [y2, y3]) = (load_h(&xs[1]), load_s(&ys[1]));
                    let [a0, a1, a2, a3] = &mut a;
                    add(a0, x0, y0);
                    add(a1, x1, y1);
                    add(a2, x2, y2);
                    add(a3, x3, y3);
                }
                for (x, y) in x8.iter().zip(q8) {
                    let ([x0, x1], [y0, y1]) = (load_h(x), load_s(y));
                    let [a0, a1, _, _] = &mut a;
                    add(a0, x0, y0);
                    add(a1, x1, y1);
                }
                *o = tail.fold(sum4(a), |s, (x, y)| s + (x - y) * (x - y));
            }
            Metric::Cosine => {
                // a[0], a[1]: x.y; a[2], a[3]: x.x (two chains each).
                for (x, y) in row[..d8].as_chunks::<8>().0.iter().zip(q[..d8].as_chunks::<8>().0) {
                    let ([x0, x1], [y0, y1]) = (load_h(x), load_s(y));
                    a[0] = vfmaq_f32(a[0], x0, y0);
                    a[1] = vfmaq_f32(a[1], x1, y1);
                    a[2] = vfmaq_f32(a[2], x0, x0);
                    a[3] = vfmaq_f32(a[3], x1, x1);
                }
                let mut dot = vaddvq_f32(vaddq_f32(a[0], a[1]));
                let mut xx = vaddvq_f32(vaddq_f32(a[2], a[3]));
                for (x, y) in tail {
                    dot += x * y;
                    xx += x * x;
                }
                *o = cosine_from(dot, qq, xx);
            }
        }
    }
}
