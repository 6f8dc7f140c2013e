//! AVX-512F bound: the 16 queries in one zmm register (lane = query),
//! [`ROWS`] rows at a time; per (row, dimension) one broadcast add, one
//! `vrcp14ps` and one accumulate, two accumulators per row (even and odd
//! dimensions) so the adds do not wait on each other.

use super::{row_tail, tiny, QueryGroup, EPS, LANES, ROWS};
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

/// Store 16 f32.
#[inline]
#[target_feature(enable = "avx512f")]
fn store_s(o: &mut [f32; 16], v: __m512) {
    // SAFETY: `o` is 16 f32 = 64 writable bytes; unaligned store.
    unsafe { _mm512_storeu_ps(o.as_mut_ptr(), v) }
}

/// See `BoundKernel::candidates`; `masks` (and `bounds`) hold exactly the
/// rows to bound, `rows` at least that many rows of `stride >= g.d` values.
#[target_feature(enable = "avx512f")]
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
#[target_feature(enable = "avx512f")]
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
    let d16 = d / 16 * 16;
    let zero = _mm512_setzero_ps();
    let inf = _mm512_set1_ps(f32::INFINITY);
    let mut sx = [0f32; R];
    let mut ok = [true; R];
    for (i, buf) in rx.chunks_exact_mut(d).take(R).enumerate() {
        let row = &rows[i * stride..i * stride + d];
        let (mut s, mut good) = (zero, 0xffffu16);
        for (x, o) in row[..d16].as_chunks::<16>().0.iter().zip(buf[..d16].as_chunks_mut::<16>().0) {
            let v = load_h(x);
            good &= _mm512_cmp_ps_mask::<_CMP_GE_OQ>(v, zero) & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, inf);
            s = _mm512_add_ps(s, v);
            // vrcp14ps(+0) = +inf: the harmonic term of a zero is then 1/inf = 0
            // (max turns -0 into +0, whose reciprocal would be -inf and NaN against a zero query).
            store_s(o, _mm512_rcp14_ps(_mm512_max_ps(v, zero)));
        }
        let (ts, tok) = row_tail(&row[d16..], &mut buf[d16..]);
        sx[i] = _mm512_reduce_add_ps(s) + ts;
        ok[i] = good == 0xffff && tok;
    }
    // Slices of exactly `np` pairs: the loop below indexes them without bounds checks.
    let np = d / 2;
    let pairs = &g.recip.as_chunks::<2>().0[..np];
    let mut rx2: [&[[f32; 2]]; R] = [&[]; R];
    let mut last = [0f32; R];
    for (i, c) in rx.chunks_exact(d).take(R).enumerate() {
        rx2[i] = &c.as_chunks::<2>().0[..np];
        last[i] = c[d - 1];
    }
    let mut acc = [[zero; 2]; R];
    for j in 0..np {
        let (y0, y1) = (load_s(&pairs[j][0]), load_s(&pairs[j][1]));
        for i in 0..R {
            let [a0, a1] = rx2[i][j];
            acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_rcp14_ps(_mm512_add_ps(y0, _mm512_set1_ps(a0))));
            acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_rcp14_ps(_mm512_add_ps(y1, _mm512_set1_ps(a1))));
        }
    }
    if d % 2 == 1 {
        let y = load_s(&g.recip[d - 1]);
        for i in 0..R {
            acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_rcp14_ps(_mm512_add_ps(y, _mm512_set1_ps(last[i]))));
        }
    }
    let sums = load_s(&g.sums);
    let wv = load_s(worst);
    let keep = _mm512_set1_ps(1.0 - EPS);
    let four = _mm512_set1_ps(4.0);
    let tv = _mm512_set1_ps(tiny(d));
    let valid = g.lane_mask();
    for i in 0..R {
        let h = _mm512_add_ps(acc[i][0], acc[i][1]);
        let t = _mm512_mul_ps(_mm512_add_ps(_mm512_set1_ps(sx[i]), sums), keep);
        let l = _mm512_sub_ps(_mm512_fnmadd_ps(four, h, t), tv);
        let (l, m) = if ok[i] {
            (l, _mm512_cmp_ps_mask::<_CMP_NGT_UQ>(l, wv) & valid)
        } else {
            (_mm512_set1_ps(f32::NEG_INFINITY), valid)
        };
        masks[i] = m;
        if let Some(b) = bounds.as_deref_mut() {
            store_s(&mut b[i], l);
        }
    }
}

/// Single-query bounds (see `BoundKernel::row_bounds`): 16 dimensions per
/// register, four accumulators per row; per 16 values one `vrcp14ps` of
/// `max(x + y, MIN_POSITIVE)` (a zero sum's term then counts at most
/// `MIN_POSITIVE`, inside `TINY`, instead of `0 * inf = NaN`) and no Newton
/// step. The raw f16 bits are OR-ed to spot a sign bit (a negative value or
/// -0.0: no bound); infinities and NaN make a NaN bound, which the search
/// treats as "check exactly".
#[target_feature(enable = "avx512f")]
pub(super) fn single(q: &[f32], rows: &[f16], stride: usize, out: &mut [f32]) {
    let d = q.len();
    let q64 = q.as_chunks::<64>().0;
    let d64 = q64.len() * 64;
    let q16 = q[d64..].as_chunks::<16>().0;
    let d16 = d64 + q16.len() * 16;
    let zero = _mm512_setzero_ps();
    let floor = _mm512_set1_ps(f32::MIN_POSITIVE);
    let term = |acc: __m512, bits: __m256i, x: &[f16; 16], y: &[f32; 16]| {
        // SAFETY: `x` is 16 f16 = 32 readable bytes; unaligned load.
        let raw = unsafe { _mm256_loadu_si256(x.as_ptr().cast()) };
        let (x, y) = (_mm512_cvtph_ps(raw), load_s(y));
        let e = _mm512_sub_ps(x, y);
        let r = _mm512_rcp14_ps(_mm512_max_ps(_mm512_add_ps(x, y), floor));
        (_mm512_fmadd_ps(_mm512_mul_ps(e, r), e, acc), _mm256_or_si256(bits, raw))
    };
    let tiny = tiny(d);
    for (r, o) in out.iter_mut().enumerate() {
        let row = &rows[r * stride..r * stride + d];
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        let (mut b0, mut b1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for (x, y) in row.as_chunks::<64>().0.iter().zip(q64) {
            let (x, y) = (x.as_chunks::<16>().0, y.as_chunks::<16>().0);
            (a0, b0) = term(a0, b0, &x[0], &y[0]);
            (a1, b1) = term(a1, b1, &x[1], &y[1]);
            (a2, b0) = term(a2, b0, &x[2], &y[2]);
            (a3, b1) = term(a3, b1, &x[3], &y[3]);
        }
        for (x, y) in row[d64..].as_chunks::<16>().0.iter().zip(q16) {
            (a0, b0) = term(a0, b0, x, y);
        }
        let signs = _mm256_movemask_epi8(_mm256_or_si256(b0, b1)) as u32 & 0xaaaa_aaaa != 0;
        let sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        *o = super::single_bound(sum, signs, row, q, d16, tiny);
    }
}
