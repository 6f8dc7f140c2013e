//! Multi-query chi-square lower bounds: one pass over a row serves up to
//! [`LANES`] queries, so a batch of queries reads and widens each database
//! row once instead of once per query.
//!
//! For non-negative `x` (row) and `y` (query),
//! `(x - y)^2 / (x + y) = x + y - 4 xy / (x + y)` and
//! `xy / (x + y) = 1 / (1/x + 1/y)` (the harmonic term; 0 when `x` or `y`
//! is 0, which `1/0 = inf` gives for free). So
//! `chi2(x, y) = Sx + Sy - 4 H` with `Sx = sum x`, `Sy = sum y` and
//! `H = sum 1 / (1/x_j + 1/y_j)`. The row's reciprocals `1/x_j` are computed
//! once per row; the queries' `1/y_j` once per batch, stored transposed
//! (dimension-major, one lane per query), so each (row, dimension) step is
//! one add, one reciprocal estimate and one accumulate for all the queries
//! at once: no division, no horizontal sum.
//!
//! With reciprocal estimates (`vrcp14ps`, `vrcpps`, `frecpe`) the sum is not
//! exact, so the kernels return a **lower bound**
//! `L = (Sx + Sy)(1 - EPS) - 4 H~ - TINY` that is provably at most the
//! distance any [`Kernel`](super::Kernel) computes: the estimates' relative
//! error (at most `2^-11` per reciprocal, two per term), f32 rounding of the
//! sums and of the exact kernels themselves are all below `EPS (Sx + Sy)`
//! because every term is non-negative and `4 H <= Sx + Sy`; `TINY` covers
//! the terms the exact kernels count as 0 (`x + y` below
//! `f32::MIN_POSITIVE`) and reciprocals of subnormal query values. The
//! search ([`super::batch`]) skips a row for a query only when the bound
//! already exceeds that query's current k-th distance and checks every other
//! row with the exact kernel, so its results are those of the exact search.
//!
//! Rows holding a negative, infinite or NaN value make no bound: every
//! query checks them exactly. Queries must be finite and non-negative
//! ([`QueryGroup::new`]); the search answers the others one by one.
//!
//! A query searched alone gets the same treatment row-parallel
//! ([`BoundKernel::row_bounds`]): the direct form `sum (x - y)^2 r~` with
//! `r~` a reciprocal estimate of `x + y` (no Newton step, no division), one
//! bound per row, `L = S~ (1 - EPS) - TINY` (same argument: non-negative
//! terms, each within the estimate's relative error). The exact kernel
//! then measures only the rows whose bound does not exceed the k-th
//! distance, so a single query costs about one estimate pass over memory.
//!
//! Kernels ([`BoundKernel`]): a scalar reference (true divisions), AVX2 +
//! F16C (two 8-lane halves), AVX-512F (one 16-lane register) and NEON (four
//! 4-lane registers), handed out only where the CPU check passes.
//! The SIMD files repeat the same row loop (`run`, `block`) on purpose: each
//! copy compiles under its own `#[target_feature]`, so the loads and the
//! reciprocal steps inline; only the lane width and intrinsics differ.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;

use super::distance::Kernel;
use alloc::vec::Vec;
use half::f16;

/// Queries answered by one pass of a bound kernel.
pub const LANES: usize = 16;
/// Relative slack of the bound (see the module docs): `2^-9`, four times
/// the worst error sum of the least precise kernel (AVX2's 12-bit `vrcpps`).
pub const EPS: f32 = 1.0 / 512.0;
/// Rows a SIMD kernel bounds at once (their accumulators share each load of
/// the queries' reciprocals).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) const ROWS: usize = 4;

/// Absolute slack for `d` dimensions: 16 `f32::MIN_POSITIVE` per term.
#[inline]
pub(crate) fn tiny(d: usize) -> f32 {
    d as f32 * 16.0 * f32::MIN_POSITIVE
}

/// Up to [`LANES`] queries of the same length, prepared for the bound
/// kernels.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryGroup {
    d: usize,
    count: usize,
    /// `recip[j][q] = 1 / y_q[j]` (+inf for a zero and for unused lanes).
    recip: Vec<[f32; LANES]>,
    /// `sums[q] = sum_j y_q[j]` (0 for unused lanes).
    sums: [f32; LANES],
}

impl QueryGroup {
    /// The group of `queries`, all of the same length `d >= 1`; `None` when
    /// there are none or more than [`LANES`], the lengths differ, or a value
    /// is negative (below -0.0), infinite or NaN (no bound applies).
    pub fn new(queries: &[&[f32]]) -> Option<QueryGroup> {
        let d = queries.first()?.len();
        if queries.len() > LANES || d == 0 || queries.iter().any(|q| q.len() != d || !eligible(q)) {
            return None;
        }
        let mut recip = alloc::vec![[f32::INFINITY; LANES]; d];
        let mut sums = [0f32; LANES];
        for (l, q) in queries.iter().enumerate() {
            for (r, &y) in recip.iter_mut().zip(q.iter()) {
                // -0.0 reads as +0.0 (1/-0 would be -inf and make NaN against a zero row).
                r[l] = if y > 0.0 { 1.0 / y } else { f32::INFINITY };
            }
            sums[l] = q.iter().sum();
        }
        Some(QueryGroup { d, count: queries.len(), recip, sums })
    }

    /// Values per query.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Queries in the group (lanes `0..len()` are used).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the group is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bit `q` set for every used lane.
    pub fn lane_mask(&self) -> u16 {
        ((1u32 << self.count) - 1) as u16
    }
}

/// Whether a query admits the bound: every value finite and `>= 0`.
pub fn eligible(q: &[f32]) -> bool {
    q.iter().all(|&y| y >= 0.0 && y.is_finite())
}

/// An implementation of the multi-query bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BoundKernel {
    /// Portable reference, true divisions, one lane after another.
    Scalar,
    /// AVX2 + F16C, two 8-lane halves, `vrcpps` (12 bits).
    Avx2,
    /// AVX-512F, one 16-lane register, `vrcp14ps` (14 bits).
    Avx512,
    /// AArch64 NEON, four 4-lane registers, `frecpe` and one `frecps` step.
    Neon,
}

impl BoundKernel {
    /// Every bound kernel, the preferred first.
    pub const ALL: [BoundKernel; 4] = [BoundKernel::Avx512, BoundKernel::Avx2, BoundKernel::Neon, BoundKernel::Scalar];

    /// The preferred SIMD bound kernel this CPU runs; `None` without one
    /// (the scalar reference is slower than answering queries one by one).
    pub fn detect() -> Option<BoundKernel> {
        BoundKernel::ALL.into_iter().find(|k| *k != BoundKernel::Scalar && k.available())
    }

    /// The bound kernel of a distance kernel's instruction set, if it runs
    /// here (`None` for the scalar distance kernel: a pin to the scalar
    /// reference keeps every query on it).
    pub fn for_kernel(k: Kernel) -> Option<BoundKernel> {
        let b = match k.isa_name() {
            "avx512" => BoundKernel::Avx512,
            "avx2" => BoundKernel::Avx2,
            "neon" => BoundKernel::Neon,
            _ => return None,
        };
        b.available().then_some(b)
    }

    /// The bound kernels this CPU runs, preferred first.
    pub fn available_kernels() -> impl Iterator<Item = BoundKernel> {
        BoundKernel::ALL.into_iter().filter(|k| k.available())
    }

    /// Whether this kernel can run on this CPU (the engine's CPU check,
    /// `crate::cpu`, as for the distance kernels).
    pub fn available(self) -> bool {
        match self {
            BoundKernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            BoundKernel::Avx2 => Kernel::Avx2Rcp.available(),
            #[cfg(target_arch = "x86_64")]
            BoundKernel::Avx512 => Kernel::Avx512Rcp.available(),
            #[cfg(target_arch = "aarch64")]
            BoundKernel::Neon => Kernel::NeonRcp.available(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            BoundKernel::Scalar => "scalar-bound16",
            BoundKernel::Avx2 => "avx2-bound16",
            BoundKernel::Avx512 => "avx512-bound16",
            BoundKernel::Neon => "neon-bound16",
        }
    }

    /// For rows `0..n` of `rows` (`n = min(masks.len(), rows.len() / stride)`,
    /// row `r` at `rows[r * stride..]`, its first `g.dim()` values read;
    /// `g.dim() <= stride`): `masks[r]` has bit `q` set when query `q` of
    /// `g` must check row `r` exactly, i.e. unless its lower bound is above
    /// `worst[q]`. Returns `n`; 0 when `g.dim() > stride`.
    pub fn candidates(
        self,
        g: &QueryGroup,
        rows: &[f16],
        stride: usize,
        worst: &[f32; LANES],
        masks: &mut [u16],
    ) -> usize {
        self.run(g, rows, stride, worst, masks, None)
    }

    /// Single-query lower bounds: `out[r]` is at most the chi-square distance
    /// any [`Kernel`] computes from `q` to row `r` (rows `0..n`,
    /// `n = min(out.len(), rows.len() / stride)`, row `r` at
    /// `rows[r * stride..]`, its first `q.len()` values read); `-inf` for a
    /// row with a sign bit set (negative or -0.0: no bound); a row holding an
    /// infinity or NaN may bound NaN, which a search compares as "check
    /// exactly". Returns `n`;
    /// 0 when `q` is empty, longer than `stride` or not [`eligible`].
    pub fn row_bounds(self, q: &[f32], rows: &[f16], stride: usize, out: &mut [f32]) -> usize {
        if q.is_empty() || q.len() > stride || !eligible(q) {
            return 0;
        }
        let n = out.len().min(rows.len() / stride);
        let out = &mut out[..n];
        match self {
            // SAFETY (each SIMD arm): `available()` ran the CPU check; the
            // kernels read through bounds-checked slices only, `rows` holds
            // `n` rows of `stride >= q.len()` values.
            #[cfg(target_arch = "x86_64")]
            BoundKernel::Avx512 if self.available() => unsafe { avx512::single(q, rows, stride, out) },
            #[cfg(target_arch = "x86_64")]
            BoundKernel::Avx2 if self.available() => unsafe { avx2::single(q, rows, stride, out) },
            #[cfg(target_arch = "aarch64")]
            BoundKernel::Neon if self.available() => unsafe { neon::single(q, rows, stride, out) },
            _ => scalar::single(q, rows, stride, out),
        }
        n
    }

    /// The lower bounds themselves (`bounds[r][q]`; -inf for a row that makes
    /// none, junk in unused lanes), with [`BoundKernel::candidates`]'
    /// contract: for tests and reports.
    pub fn bounds(self, g: &QueryGroup, rows: &[f16], stride: usize, bounds: &mut [[f32; LANES]]) -> usize {
        let mut masks = alloc::vec![0u16; bounds.len()];
        self.run(g, rows, stride, &[f32::INFINITY; LANES], &mut masks, Some(bounds))
    }

    fn run(
        self,
        g: &QueryGroup,
        rows: &[f16],
        stride: usize,
        worst: &[f32; LANES],
        masks: &mut [u16],
        bounds: Option<&mut [[f32; LANES]]>,
    ) -> usize {
        if stride == 0 || g.d > stride {
            return 0;
        }
        let n = masks.len().min(rows.len() / stride).min(bounds.as_ref().map_or(usize::MAX, |b| b.len()));
        let masks = &mut masks[..n];
        let bounds = bounds.map(|b| &mut b[..n]);
        match self {
            // SAFETY (each SIMD arm): `available()` ran the CPU check; the
            // kernels read through bounds-checked slices only, `rows` holds
            // `n` rows of `stride >= g.d` values.
            #[cfg(target_arch = "x86_64")]
            BoundKernel::Avx512 if self.available() => unsafe { avx512::run(g, rows, stride, worst, masks, bounds) },
            #[cfg(target_arch = "x86_64")]
            BoundKernel::Avx2 if self.available() => unsafe { avx2::run(g, rows, stride, worst, masks, bounds) },
            #[cfg(target_arch = "aarch64")]
            BoundKernel::Neon if self.available() => unsafe { neon::run(g, rows, stride, worst, masks, bounds) },
            _ => scalar::run(g, rows, stride, worst, masks, bounds),
        }
        n
    }
}

/// The single-query bound of `row` (against query `q`), `L = S (1 - EPS) -
/// TINY`, from a kernel's sum `simd` over the first `at` values and whether
/// it saw a sign bit there (`signs`); the values from `at` on are summed by
/// [`single_tail`]. A row with a sign bit gets no bound (`-inf`).
#[inline(always)]
pub(crate) fn single_bound(simd: f32, signs: bool, row: &[f16], q: &[f32], at: usize, tiny: f32) -> f32 {
    // A call per row costs more than the row when there is no tail (d = 128).
    let (tail, tail_ok) = if at == q.len() { (0.0, true) } else { single_tail(&row[at..], &q[at..]) };
    if !signs && tail_ok {
        (simd + tail) * (1.0 - EPS) - tiny
    } else {
        f32::NEG_INFINITY
    }
}

/// Exact chi-square terms (true divisions, as [`super::distance`]'s scalar
/// reference) of the values a single-query SIMD kernel leaves: returns
/// `(sum, no sign bit set in x)`.
#[inline]
pub(crate) fn single_tail(x: &[f16], y: &[f32]) -> (f32, bool) {
    let mut ok = true;
    let sum = x
        .iter()
        .zip(y)
        .map(|(v, &y)| {
            ok &= !v.is_sign_negative();
            super::distance::chi2_term(v.to_f32(), y)
        })
        .sum();
    (sum, ok)
}

/// Sum, validity and reciprocals of a row's first `rx.len()` values, the
/// part of a row a SIMD kernel leaves (`d % width` values): returns
/// `(sum x, every x finite and >= 0)`; `rx[j] = 1 / x[j]` (+inf for
/// either zero).
#[inline]
pub(crate) fn row_tail(x: &[f16], rx: &mut [f32]) -> (f32, bool) {
    let (mut s, mut ok) = (0f32, true);
    for (r, v) in rx.iter_mut().zip(x) {
        let v = v.to_f32();
        ok &= v >= 0.0 && v.is_finite();
        s += v;
        *r = if v > 0.0 { 1.0 / v } else { f32::INFINITY };
    }
    (s, ok)
}

/// `(Sx + Sy)(1 - EPS) - 4 h - TINY`, lane by lane, then the mask of lanes
/// (of `valid`) whose bound is not above `worst` (NaN included); a row that
/// is not `ok` makes no bound: -inf and every valid lane.
#[inline]
pub(crate) fn finish(
    sx: f32,
    ok: bool,
    h: &[f32; LANES],
    g: &QueryGroup,
    worst: &[f32; LANES],
    bound: Option<&mut [f32; LANES]>,
) -> u16 {
    let valid = g.lane_mask();
    let tiny = tiny(g.d);
    let mut mask = 0u16;
    let mut out = [f32::NEG_INFINITY; LANES];
    if ok {
        for q in 0..LANES {
            let l = (sx + g.sums[q]) * (1.0 - EPS) - 4.0 * h[q] - tiny;
            out[q] = l;
            mask |= u16::from(l.partial_cmp(&worst[q]) != Some(core::cmp::Ordering::Greater)) << q;
        }
    }
    if let Some(b) = bound {
        *b = out;
    }
    if ok {
        mask & valid
    } else {
        valid
    }
}

#[cfg(all(test, feature = "std"))]
mod tests;
