//! AVX-512F row distances: 16 lanes, f16 widened with `vcvtph2ps` on zmm,
//! four independent accumulators per row (64 elements per step) so the
//! adds of one row do not wait on each other.

use super::{chi2_term, cosine_from, sum_squares, Metric};
use core::arch::x86_64::*;
use half::f16;

/// 16 f16 -> 16 f32.
#[inline]
#[target_feature(enable = "avx512f")]
fn load_h(x: &[f16; 16]) -> __m512 {
    // SAFETY: `x` is 16 f16 = 32 readable bytes; unaligned load.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(x.as_ptr().cast()) })
}

/// 16 f32.
#[inline]
#[target_feature(enable = "avx512f")]
fn load_s(y: &[f32; 16]) -> __m512 {
    // SAFETY: `y` is 16 f32 = 64 readable bytes; unaligned load.
    unsafe { _mm512_loadu_ps(y.as_ptr()) }
}

/// `acc + ` the chi-square terms of 16 lanes; lanes with `|x + y|` below
/// `f32::MIN_POSITIVE` add nothing (their reciprocal is inf: masked, not NaN).
///
/// `RCP`: `vrcp14ps` (relative error < 2^-14) refined by one Newton step
/// `r (2 - s r)` to ~2^-28, below f32 rounding, instead of `vdivps`.
#[inline]
#[target_feature(enable = "avx512f")]
fn chi2_acc<const RCP: bool>(acc: __m512, x: __m512, y: __m512) -> __m512 {
    let s = _mm512_add_ps(x, y);
    let e = _mm512_sub_ps(x, y);
    let keep = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_abs_ps(s), _mm512_set1_ps(f32::MIN_POSITIVE));
    if RCP {
        let r = _mm512_rcp14_ps(s);
        let r = _mm512_mul_ps(r, _mm512_fnmadd_ps(s, r, _mm512_set1_ps(2.0)));
        _mm512_mask3_fmadd_ps(_mm512_mul_ps(e, r), e, acc, keep)
    } else {
        _mm512_mask_add_ps(acc, keep, acc, _mm512_div_ps(_mm512_mul_ps(e, e), s))
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn sum4(a: [__m512; 4]) -> f32 {
    _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])))
}

/// Row distances; see `Kernel::distances` for the contract: `rows` holds
/// `out.len()` rows of `stride` elements and `q.len() <= stride`.
#[target_feature(enable = "avx512f")]
pub(super) fn rows<const RCP: bool>(metric: Metric, q: &[f32], rows: &[f16], stride: usize, out: &mut [f32]) {
    let d = q.len();
    let q64 = q.as_chunks::<64>().0;
    let d64 = q64.len() * 64;
    let q16 = q[d64..].as_chunks::<16>().0;
    let d16 = d64 + q16.len() * 16;
    let qq = sum_squares(q);
    let zero = _mm512_setzero_ps();
    for (r, o) in out.iter_mut().enumerate() {
        let row = &rows[r * stride..r * stride + d];
        let x64 = row.as_chunks::<64>().0;
        let x16 = row[d64..].as_chunks::<16>().0;
        let tail = row[d16..].iter().zip(&q[d16..]).map(|(x, &y)| (x.to_f32(), y));
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        // Explicit accumulators and constant chunk indices: the compiler keeps
        // them in registers (an array walked by an iterator was spilled).
        match metric {
            Metric::ChiSquare => {
                for (x, y) in x64.iter().zip(q64) {
                    let (x, y) = (x.as_chunks::<16>().0, y.as_chunks::<16>().0);
                    a0 = chi2_acc::<RCP>(a0, load_h(&x[0]), load_s(&y[0]));
                    a1 = chi2_acc::<RCP>(a1, load_h(&x[1]), load_s(&y[1]));
                    a2 = chi2_acc::<RCP>(a2, load_h(&x[2]), load_s(&y[2]));
                    a3 = chi2_acc::<RCP>(a3, load_h(&x[3]), load_s(&y[3]));
                }
                for (x, y) in x16.iter().zip(q16) {
                    a0 = chi2_acc::<RCP>(a0, load_h(x), load_s(y));
                }
                *o = tail.fold(sum4([a0, a1, a2, a3]), |s, (x, y)| s + chi2_term(x, y));
            }
            Metric::SquaredL2 => {
                let sq = |a, x, y| {
                    let e = _mm512_sub_ps(x, y);
                    _mm512_fmadd_ps(e, e, a)
                };
                for (x, y) in x64.iter().zip(q64) {
                    let (x, y) = (x.as_chunks::<16>().0, y.as_chunks::<16>().0);
                    a0 = sq(a0, load_h(&x[0]), load_s(&y[0]));
                    a1 = sq(a1, load_h(&x[1]), load_s(&y[1]));
                    a2 = sq(a2, load_h(&x[2]), load_s(&y[2]));
                    a3 = sq(a3, load_h(&x[3]), load_s(&y[3]));
                }
                for (x, y) in x16.iter().zip(q16) {
                    a0 = sq(a0, load_h(x), load_s(y));
                }
                *o = tail.fold(sum4([a0, a1, a2, a3]), |s, (x, y)| s + (x - y) * (x - y));
            }
            Metric::Cosine => {
                // a0, a1: x.y; a2, a3: x.x (two chains each).
                for (x, y) in x64.iter().zip(q64) {
                    let (x, y) = (x.as_chunks::<16>().0, y.as_chunks::<16>().0);
                    let (x0, x1, x2, x3) = (load_h(&x[0]), load_h(&x[1]), load_h(&x[2]), load_h(&x[3]));
                    a0 = _mm512_fmadd_ps(x0, load_s(&y[0]), a0);
                    a1 = _mm512_fmadd_ps(x1, load_s(&y[1]), a1);
                    a2 = _mm512_fmadd_ps(x0, x0, a2);
                    a3 = _mm512_fmadd_ps(x1, x1, a3);
                    a0 = _mm512_fmadd_ps(x2, load_s(&y[2]), a0);
                    a1 = _mm512_fmadd_ps(x3, load_s(&y[3]), a1);
                    a2 = _mm512_fmadd_ps(x2, x2, a2);
                    a3 = _mm512_fmadd_ps(x3, x3, a3);
                }
                for (x, y) in x16.iter().zip(q16) {
                    let x = load_h(x);
                    a0 = _mm512_fmadd_ps(x, load_s(y), a0);
                    a2 = _mm512_fmadd_ps(x, x, a2);
                }
                let mut dot = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
                let mut xx = _mm512_reduce_add_ps(_mm512_add_ps(a2, a3));
                for (x, y) in tail {
                    dot += x * y;
                    xx += x * x;
                }
                *o = cosine_from(dot, qq, xx);
            }
        }
    }
}
