//! AVX2 + F16C bound: the 16 queries in two ymm halves (lane = query),
//! [`ROWS`] rows at a time; per (row, dimension) two broadcast adds, two
//! `vrcpps` and two accumulates (the halves are independent chains).

use super::{row_tail, tiny, QueryGroup, EPS, LANES, ROWS};
use core::arch::x86_64::*;
use half::f16;

/// 8 f16 -> 8 f32.
#[inline]
#[target_feature(enable = "avx2,f16c,fma")]
fn load_h(x: &[f16; 8]) -> __m256 {
    // SAFETY: `x` is 8 f16 = 16 readable bytes; unaligned load.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(x.as_ptr().cast()) })
}

/// 8 f32.
#[inline]
#[target_feature(enable = "avx2,f16c,fma")]
fn load_s(y: &[f32]) -> __m256 {
    let y: &[f32; 8] = y[..8].try_into().unwrap_or(&[0.0; 8]);
    // SAFETY: `y` is 8 f32 = 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_ps(y.as_ptr()) }
}

/// Store 8 f32.
#[inline]
#[target_feature(enable = "avx2,f16c,fma")]
fn store_s(o: &mut [f32], v: __m256) {
    if let Some(o) = o.get_mut(..8) {
        // SAFETY: `o` holds 8 f32 = 32 writable bytes; unaligned store.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), v) }
    }
}

/// See `BoundKernel::candidates`; `masks` (and `bounds`) hold exactly the
/// rows to bound, `rows` at least that many rows of `stride >= g.d` values.
#[target_feature(enable = "avx2,f16c,fma")]
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
#[target_feature(enable = "avx2,f16c,fma")]
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
    let zero = _mm256_setzero_ps();
    let inf = _mm256_set1_ps(f32::INFINITY);
    let mut sx = [0f32; R];
    let mut ok = [true; R];
    for (i, buf) in rx.chunks_exact_mut(d).take(R).enumerate() {
        let row = &rows[i * stride..i * stride + d];
        let (mut s, mut good) = (zero, 0xffi32);
        for (x, o) in row[..d8].as_chunks::<8>().0.iter().zip(buf[..d8].chunks_exact_mut(8)) {
            let v = load_h(x);
            let fine = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(v, zero), _mm256_cmp_ps::<_CMP_LT_OQ>(v, inf));
            good &= _mm256_movemask_ps(fine);
            s = _mm256_add_ps(s, v);
            // vrcpps(+0) = +inf: the harmonic term of a zero is then 1/inf = 0
            // (max turns -0 into +0, whose reciprocal would be -inf and NaN against a zero query).
            store_s(o, _mm256_rcp_ps(_mm256_max_ps(v, zero)));
        }
        let (ts, tok) = row_tail(&row[d8..], &mut buf[d8..]);
        let mut lanes = [0f32; 8];
        store_s(&mut lanes, s);
        sx[i] = lanes.iter().sum::<f32>() + ts;
        ok[i] = good == 0xff && tok;
    }
    // Slices of exactly `d` values: the loop below indexes them without bounds checks.
    let recip = &g.recip[..d];
    let mut rxs: [&[f32]; R] = [&[]; R];
    for (i, c) in rx.chunks_exact(d).take(R).enumerate() {
        rxs[i] = &c[..d];
    }
    let mut acc = [[zero; 2]; R];
    for j in 0..d {
        let (y0, y1) = (load_s(&recip[j][..8]), load_s(&recip[j][8..]));
        for i in 0..R {
            let a = _mm256_set1_ps(rxs[i][j]);
            acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_rcp_ps(_mm256_add_ps(y0, a)));
            acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_rcp_ps(_mm256_add_ps(y1, a)));
        }
    }
    let keep = _mm256_set1_ps(1.0 - EPS);
    let four = _mm256_set1_ps(4.0);
    let tv = _mm256_set1_ps(tiny(d));
    let valid = g.lane_mask();
    for i in 0..R {
        let mut m = 0u16;
        let mut l = [0f32; LANES];
        for (half, acc) in acc[i].iter().enumerate() {
            let t = _mm256_mul_ps(_mm256_add_ps(_mm256_set1_ps(sx[i]), load_s(&g.sums[8 * half..])), keep);
            let lv = _mm256_sub_ps(_mm256_fnmadd_ps(four, *acc, t), tv);
            let keep_lane = _mm256_cmp_ps::<_CMP_NGT_UQ>(lv, load_s(&worst[8 * half..]));
            m |= (_mm256_movemask_ps(keep_lane) as u16) << (8 * half);
            store_s(&mut l[8 * half..], lv);
        }
        masks[i] = if ok[i] { m & valid } else { valid };
        if let Some(b) = bounds.as_deref_mut() {
            b[i] = if ok[i] { l } else { [f32::NEG_INFINITY; LANES] };
        }
    }
}

/// Single-query bounds (see `BoundKernel::row_bounds`): 8 dimensions per
/// register, four accumulators per row; per 8 values one `vrcpps` of
/// `max(x + y, MIN_POSITIVE)` and no Newton step (as the AVX-512 kernel;
/// the raw f16 bits are OR-ed to spot a sign bit).
#[target_feature(enable = "avx2,f16c,fma")]
pub(super) fn single(q: &[f32], rows: &[f16], stride: usize, out: &mut [f32]) {
    let d = q.len();
    let q32 = q.as_chunks::<32>().0;
    let d32 = q32.len() * 32;
    let q8 = q[d32..].as_chunks::<8>().0;
    let d8 = d32 + q8.len() * 8;
    let zero = _mm256_setzero_ps();
    let floor = _mm256_set1_ps(f32::MIN_POSITIVE);
    let term = |acc: __m256, bits: __m128i, x: &[f16; 8], y: &[f32; 8]| {
        // SAFETY: `x` is 8 f16 = 16 readable bytes; unaligned load.
        let raw = unsafe { _mm_loadu_si128(x.as_ptr().cast()) };
        let (x, y) = (_mm256_cvtph_ps(raw), load_s(y));
        let e = _mm256_sub_ps(x, y);
        let r = _mm256_rcp_ps(_mm256_max_ps(_mm256_add_ps(x, y), floor));
        (_mm256_fmadd_ps(_mm256_mul_ps(e, r), e, acc), _mm_or_si128(bits, raw))
    };
    let tiny = tiny(d);
    for (r, o) in out.iter_mut().enumerate() {
        let row = &rows[r * stride..r * stride + d];
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        let (mut b0, mut b1) = (_mm_setzero_si128(), _mm_setzero_si128());
        for (x, y) in row.as_chunks::<32>().0.iter().zip(q32) {
            let (x, y) = (x.as_chunks::<8>().0, y.as_chunks::<8>().0);
            (a0, b0) = term(a0, b0, &x[0], &y[0]);
            (a1, b1) = term(a1, b1, &x[1], &y[1]);
            (a2, b0) = term(a2, b0, &x[2], &y[2]);
            (a3, b1) = term(a3, b1, &x[3], &y[3]);
        }
        for (x, y) in row[d32..].as_chunks::<8>().0.iter().zip(q8) {
            (a0, b0) = term(a0, b0, x, y);
        }
        let signs = _mm_movemask_epi8(_mm_or_si128(b0, b1)) as u32 & 0xaaaa != 0;
        let mut lanes = [0f32; 8];
        store_s(&mut lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        *o = super::single_bound(lanes.iter().sum::<f32>(), signs, row, q, d8, tiny);
    }
}
