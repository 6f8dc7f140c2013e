//! Distances between a query (f32) and feature rows (f16), one row after
//! another, as the paper's retrieval needs them.
//!
//! Layout: `rows` holds row `r` at `rows[r * stride ..][.. stride]` (the
//! feature archive's row layout, `FeatureArchive::rows()` with
//! `stride = row_elems()`, zero padding after the D real values). Only the
//! first `min(query.len(), stride)` elements of each row are read, so a
//! query padded with zeros to `stride` and one of exactly D values give the
//! same distances (zero padding adds nothing to any of the three metrics).
//!
//! Two implementations with the same results (up to f32 summation order):
//! a portable scalar reference and an AVX2 + F16C + FMA one (x86-64),
//! chosen at run time with [`Kernel::detect`].

use half::f16;

/// Which distance. All are "smaller is closer".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Chi-square, `sum (x - y)^2 / (x + y)`, terms with `x + y = 0` count 0.
    /// Meant for non-negative features (histogram-like; post-ReLU means).
    ChiSquare,
    /// Squared Euclidean, `sum (x - y)^2`.
    SquaredL2,
    /// Cosine distance, `1 - x.y / (|x| |y|)`; 1 when either vector is zero.
    Cosine,
}

impl Metric {
    /// Parse a command-line name: `chi2`/`chi-square`, `l2`, `cosine`.
    pub fn parse(s: &str) -> Option<Metric> {
        Some(match s {
            "chi2" | "chi-square" | "chisquare" | "chi_square" => Metric::ChiSquare,
            "l2" | "sql2" | "euclidean" => Metric::SquaredL2,
            "cosine" | "cos" => Metric::Cosine,
            _ => return None,
        })
    }
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ChiSquare => "chi2",
            Metric::SquaredL2 => "l2",
            Metric::Cosine => "cosine",
        }
    }
}

/// An implementation of the row distances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Portable one-element-at-a-time reference.
    Scalar,
    /// AVX2 + F16C + FMA, 8 lanes (x86-64 only; use [`Kernel::detect`]).
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU runs: detected at run time with `std`,
    /// from the compile-time target features without it.
    pub fn detect() -> Kernel {
        // AVX2 + FMA + F16C, the features of the engine's AVX2 level.
        if crate::cpu::Isa::Avx2.available() {
            Kernel::Avx2
        } else {
            Kernel::Scalar
        }
    }

    /// Whether this kernel can run on this CPU.
    pub fn available(self) -> bool {
        match self {
            Kernel::Scalar => true,
            Kernel::Avx2 => Kernel::detect() == Kernel::Avx2,
        }
    }

    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2+f16c",
        }
    }

    /// Distances from `query` to rows `0..n` of `rows` into `out[..n]`, where
    /// `n = min(out.len(), rows.len() / stride)`; returns `n`. A kernel that
    /// this CPU lacks falls back to the scalar one.
    pub fn distances(self, metric: Metric, query: &[f32], rows: &[f16], stride: usize, out: &mut [f32]) -> usize {
        if stride == 0 {
            return 0;
        }
        let n = out.len().min(rows.len() / stride);
        let out = &mut out[..n];
        let d = query.len().min(stride);
        let q = &query[..d];
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 if self.available() => {
                // SAFETY: `available()` checked AVX2, F16C and FMA at run time
                // (or at compile time without std); the function itself only
                // reads through bounds-checked slices.
                unsafe { avx2::rows(metric, q, rows, stride, out) }
            }
            _ => {
                for (r, o) in out.iter_mut().enumerate() {
                    *o = distance_scalar(metric, q, &rows[r * stride..r * stride + d]);
                }
            }
        }
        n
    }
}

/// The scalar reference distance between `query` and `row` (over the shorter
/// of the two).
pub fn distance_scalar(metric: Metric, query: &[f32], row: &[f16]) -> f32 {
    match metric {
        Metric::ChiSquare => {
            let mut s = 0.0f32;
            for (&a, b) in query.iter().zip(row) {
                let x = b.to_f32();
                let t = a + x;
                if t != 0.0 {
                    let d = x - a;
                    s += d * d / t;
                }
            }
            s
        }
        Metric::SquaredL2 => query.iter().zip(row).map(|(&a, b)| (b.to_f32() - a) * (b.to_f32() - a)).sum(),
        Metric::Cosine => {
            let (mut dot, mut qq, mut xx) = (0.0f32, 0.0f32, 0.0f32);
            for (&a, b) in query.iter().zip(row) {
                let x = b.to_f32();
                dot += a * x;
                qq += a * a;
                xx += x * x;
            }
            cosine_from(dot, qq, xx)
        }
    }
}

#[inline]
fn cosine_from(dot: f32, qq: f32, xx: f32) -> f32 {
    let den = qq * xx;
    if den > 0.0 {
        1.0 - dot / sqrt_f32(den)
    } else {
        1.0
    }
}

/// `sqrt` without std (Newton on the bit-level estimate; exact enough for a
/// cosine normaliser, and identical across kernels because both call it).
#[inline]
fn sqrt_f32(v: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        v.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        if v <= 0.0 || !v.is_finite() {
            return if v == 0.0 { 0.0 } else { v };
        }
        let mut y = f32::from_bits((v.to_bits() >> 1) + 0x1FBD_1DF5);
        for _ in 0..4 {
            y = 0.5 * (y + v / y);
        }
        y
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{cosine_from, Metric};
    use core::arch::x86_64::*;
    use half::f16;

    #[inline]
    #[target_feature(enable = "avx2,f16c,fma")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
        _mm_cvtss_f32(s)
    }

    /// 8 f16 -> 8 f32 from the start of `x`.
    #[inline]
    #[target_feature(enable = "avx2,f16c,fma")]
    fn load_h(x: &[f16]) -> __m256 {
        let x = &x[..8];
        // SAFETY: `x` is exactly 8 f16 = 16 readable bytes; unaligned load.
        _mm256_cvtph_ps(unsafe { _mm_loadu_si128(x.as_ptr().cast()) })
    }

    /// 8 f32 from `y`.
    #[inline]
    #[target_feature(enable = "avx2,f16c,fma")]
    fn load_s(y: &[f32]) -> __m256 {
        let y = &y[..8];
        // SAFETY: `y` is exactly 8 f32 = 32 readable bytes; unaligned load.
        unsafe { _mm256_loadu_ps(y.as_ptr()) }
    }

    /// Chi-square terms of 8 lanes; lanes with x + y = 0 give 0 (not NaN).
    ///
    /// A true division: on the development CPU (AMD EPYC, Zen 4) `vdivps`
    /// measured 11.6 ns per 128-d row against 14.2 ns for the 12-bit
    /// reciprocal plus one Newton step, and it is exact.
    #[inline]
    #[target_feature(enable = "avx2,f16c,fma")]
    fn chi2_terms(x: __m256, y: __m256) -> __m256 {
        let s = _mm256_add_ps(x, y);
        let e = _mm256_sub_ps(x, y);
        let t = _mm256_div_ps(_mm256_mul_ps(e, e), s);
        _mm256_and_ps(t, _mm256_cmp_ps::<_CMP_NEQ_OQ>(s, _mm256_setzero_ps()))
    }

    /// Row distances; see `Kernel::distances` for the contract: `rows` holds
    /// `out.len()` rows of `stride` elements and `q.len() <= stride`.
    #[target_feature(enable = "avx2,f16c,fma")]
    pub fn rows(metric: Metric, q: &[f32], rows: &[f16], stride: usize, out: &mut [f32]) {
        let d = q.len();
        let d8 = d / 8 * 8;
        let zero = _mm256_setzero_ps();
        for (r, o) in out.iter_mut().enumerate() {
            let row = &rows[r * stride..r * stride + d];
            let tail = row[d8..].iter().map(|x| x.to_f32()).zip(&q[d8..]);
            match metric {
                Metric::ChiSquare => {
                    let (mut a0, mut a1) = (zero, zero);
                    let d16 = d / 16 * 16;
                    for (x, y) in row[..d16].chunks_exact(16).zip(q[..d16].chunks_exact(16)) {
                        a0 = _mm256_add_ps(a0, chi2_terms(load_h(x), load_s(y)));
                        a1 = _mm256_add_ps(a1, chi2_terms(load_h(&x[8..]), load_s(&y[8..])));
                    }
                    if d8 > d16 {
                        a0 = _mm256_add_ps(a0, chi2_terms(load_h(&row[d16..]), load_s(&q[d16..])));
                    }
                    let mut s = hsum(_mm256_add_ps(a0, a1));
                    for (x, &a) in tail {
                        if x + a != 0.0 {
                            s += (x - a) * (x - a) / (x + a);
                        }
                    }
                    *o = s;
                }
                Metric::SquaredL2 => {
                    let (mut a0, mut a1) = (zero, zero);
                    let d16 = d / 16 * 16;
                    for (x, y) in row[..d16].chunks_exact(16).zip(q[..d16].chunks_exact(16)) {
                        let e0 = _mm256_sub_ps(load_h(x), load_s(y));
                        let e1 = _mm256_sub_ps(load_h(&x[8..]), load_s(&y[8..]));
                        a0 = _mm256_fmadd_ps(e0, e0, a0);
                        a1 = _mm256_fmadd_ps(e1, e1, a1);
                    }
                    if d8 > d16 {
                        let e0 = _mm256_sub_ps(load_h(&row[d16..]), load_s(&q[d16..]));
                        a0 = _mm256_fmadd_ps(e0, e0, a0);
                    }
                    *o = tail.fold(hsum(_mm256_add_ps(a0, a1)), |s, (x, &a)| s + (x - a) * (x - a));
                }
                Metric::Cosine => {
                    let (mut dot, mut qq, mut xx) = (zero, zero, zero);
                    for (x, y) in row[..d8].chunks_exact(8).zip(q[..d8].chunks_exact(8)) {
                        let (x, y) = (load_h(x), load_s(y));
                        dot = _mm256_fmadd_ps(x, y, dot);
                        qq = _mm256_fmadd_ps(y, y, qq);
                        xx = _mm256_fmadd_ps(x, x, xx);
                    }
                    let (mut sd, mut sq, mut sx) = (hsum(dot), hsum(qq), hsum(xx));
                    for (x, &a) in tail {
                        sd += a * x;
                        sq += a * a;
                        sx += x * x;
                    }
                    *o = cosine_from(sd, sq, sx);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32) / (1u64 << 24) as f32
    }

    #[test]
    fn chi_square_by_hand() {
        let q = [1.0f32, 0.0, 2.0, 0.0];
        let x = [f16::from_f32(3.0), f16::from_f32(0.0), f16::from_f32(0.0), f16::from_f32(1.0)];
        // (3-1)^2/4 + 0 (0/0) + (0-2)^2/2 + (1-0)^2/1 = 1 + 2 + 1
        assert_eq!(distance_scalar(Metric::ChiSquare, &q, &x), 4.0);
        assert_eq!(distance_scalar(Metric::SquaredL2, &q, &x), 4.0 + 0.0 + 4.0 + 1.0);
        let c = distance_scalar(Metric::Cosine, &q, &x);
        assert!((c - (1.0 - 3.0 / (5.0f32.sqrt() * 10.0f32.sqrt()))).abs() < 1e-6);
        assert_eq!(distance_scalar(Metric::Cosine, &[0.0; 4], &x), 1.0);
        assert_eq!(
            distance_scalar(Metric::ChiSquare, &q, &[f16::from_f32(1.0), f16::ZERO, f16::from_f32(2.0), f16::ZERO]),
            0.0
        );
    }

    /// The SIMD kernel equals the scalar reference on many shapes: dims that
    /// are and are not multiples of 8/16, sparse (many 0/0 terms) rows.
    #[test]
    fn simd_matches_scalar_reference() {
        if !Kernel::Avx2.available() {
            eprintln!("skipping: this CPU has no AVX2+F16C+FMA");
            return;
        }
        let mut seed = 7u64;
        for &(dim, stride) in &[(128usize, 128usize), (100, 128), (7, 32), (24, 32), (2048, 2048), (1, 32)] {
            let n = 37;
            let rows: Vec<f16> = (0..n * stride)
                .map(|i| {
                    if i % stride >= dim {
                        f16::ZERO
                    } else {
                        let v = lcg(&mut seed);
                        f16::from_f32(if v < 0.4 { 0.0 } else { v * 3.0 })
                    }
                })
                .collect();
            let q: Vec<f32> = (0..dim)
                .map(|_| {
                    let v = lcg(&mut seed);
                    if v < 0.3 {
                        0.0
                    } else {
                        v * 2.0
                    }
                })
                .collect();
            for metric in [Metric::ChiSquare, Metric::SquaredL2, Metric::Cosine] {
                let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
                assert_eq!(Kernel::Scalar.distances(metric, &q, &rows, stride, &mut a), n);
                assert_eq!(Kernel::Avx2.distances(metric, &q, &rows, stride, &mut b), n);
                for r in 0..n {
                    let tol = 1e-5 * a[r].abs().max(1.0);
                    assert!((a[r] - b[r]).abs() <= tol, "{metric:?} dim {dim} row {r}: scalar {} simd {}", a[r], b[r]);
                }
            }
        }
    }

    #[test]
    fn padded_query_equals_unpadded() {
        let stride = 32;
        let rows: Vec<f16> =
            (0..2 * stride).map(|i| f16::from_f32(if i % stride < 20 { (i % 7) as f32 } else { 0.0 })).collect();
        let q: Vec<f32> = (0..20).map(|i| (i % 5) as f32).collect();
        let mut qp = q.clone();
        qp.resize(stride, 0.0);
        for k in [Kernel::Scalar, Kernel::detect()] {
            for m in [Metric::ChiSquare, Metric::SquaredL2, Metric::Cosine] {
                let (mut a, mut b) = ([0f32; 2], [0f32; 2]);
                k.distances(m, &q, &rows, stride, &mut a);
                k.distances(m, &qp, &rows, stride, &mut b);
                assert!((a[0] - b[0]).abs() < 1e-5 && (a[1] - b[1]).abs() < 1e-5, "{m:?} {k:?}");
            }
        }
    }
}
