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
//! Implementations ([`Kernel`]), all with the same results up to f32
//! rounding (summation order; for chi-square also the reciprocal):
//! a portable scalar reference, AVX2 + F16C + FMA (8 lanes), AVX-512F
//! (16 lanes, `vcvtph2ps` on zmm) and NEON (4 lanes, `fcvtl`). Each SIMD
//! instruction set comes twice for chi-square: with a true division, and
//! division-free (hardware reciprocal estimate refined by Newton steps), as
//! the faster of the two depends on the CPU (a division is cheap on AMD Zen,
//! slow on 512-bit vectors of Intel cores); `select` times them on the data.
//! [`distance_f64`] is the exact reference the kernels' rankings are tested
//! against.
//!
//! No AVX512-FP16 kernel: its intrinsics are unstable in Rust (1.95), and
//! f16 arithmetic (11-bit mantissa per term) would change the ranking of
//! near neighbours against the exact reference; AVX-512F's 16-lane widening
//! serves CPUs that have AVX512-FP16 too.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;

use half::f16;

/// Which distance. All are "smaller is closer".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Chi-square, `sum (x - y)^2 / (x + y)`; terms with `|x + y|` below
    /// `f32::MIN_POSITIVE` (zero or subnormal) count 0. Meant for
    /// non-negative features (histogram-like; post-ReLU means).
    ChiSquare,
    /// Squared Euclidean, `sum (x - y)^2`.
    SquaredL2,
    /// Cosine distance, `1 - x.y / (|x| |y|)`; 1 when either vector is zero.
    Cosine,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 3] = [Metric::ChiSquare, Metric::SquaredL2, Metric::Cosine];

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

/// An implementation of the row distances. The `*Div` and `*Rcp` kernels
/// of one instruction set differ only in chi-square's division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Portable one-element-at-a-time reference.
    Scalar,
    /// AVX2 + F16C + FMA, 8 lanes, chi-square with `vdivps`.
    Avx2Div,
    /// AVX2 + F16C + FMA, 8 lanes, chi-square with `vrcpps` (12 bits) and
    /// one Newton step.
    Avx2Rcp,
    /// AVX-512F, 16 lanes, chi-square with `vdivps`.
    Avx512Div,
    /// AVX-512F, 16 lanes, chi-square with `vrcp14ps` (14 bits) and one
    /// Newton step.
    Avx512Rcp,
    /// AArch64 NEON, 4 lanes, chi-square with `fdiv`.
    NeonDiv,
    /// AArch64 NEON, 4 lanes, chi-square with `frecpe` (8 bits) and two
    /// Newton steps (`frecps`).
    NeonRcp,
}

#[cfg(target_arch = "x86_64")]
use crate::cpu::Isa;

impl Kernel {
    /// Every kernel, the preferred first (widest vectors, division-free).
    pub const ALL: [Kernel; 7] = [
        Kernel::Avx512Rcp,
        Kernel::Avx512Div,
        Kernel::Avx2Rcp,
        Kernel::Avx2Div,
        Kernel::NeonRcp,
        Kernel::NeonDiv,
        Kernel::Scalar,
    ];

    /// The preferred kernel this CPU runs, without measuring (detected at run
    /// time with `std`, from the compile-time target features without it).
    /// `select::choose` picks by timing instead.
    pub fn detect() -> Kernel {
        Kernel::ALL.into_iter().find(|k| k.available()).unwrap_or(Kernel::Scalar)
    }

    /// The kernels this CPU runs, preferred first.
    pub fn available_kernels() -> impl Iterator<Item = Kernel> {
        Kernel::ALL.into_iter().filter(|k| k.available())
    }

    /// Whether this kernel can run on this CPU.
    pub fn available(self) -> bool {
        match self {
            Kernel::Scalar => true,
            // The engine's CPU check (`crate::cpu`): run time with std,
            // compile-time target features without.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Div | Kernel::Avx2Rcp => Isa::Avx2.available(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Div | Kernel::Avx512Rcp => Isa::Avx512.available(),
            // NEON (with f16 <-> f32 conversion) is part of every AArch64 CPU.
            #[cfg(target_arch = "aarch64")]
            Kernel::NeonDiv | Kernel::NeonRcp => cfg!(target_feature = "neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Name for reports and for pinning (`BEMM_KERNEL`).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2Div => "avx2-div",
            Kernel::Avx2Rcp => "avx2-rcp",
            Kernel::Avx512Div => "avx512-div",
            Kernel::Avx512Rcp => "avx512-rcp",
            Kernel::NeonDiv => "neon-div",
            Kernel::NeonRcp => "neon-rcp",
        }
    }

    /// The kernel of this [`Kernel::name`].
    pub fn by_name(name: &str) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The instruction set's name: `scalar`, `avx2`, `avx512` (as
    /// [`crate::cpu::Isa::name`]) or `neon`.
    pub fn isa_name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2Div | Kernel::Avx2Rcp => "avx2",
            Kernel::Avx512Div | Kernel::Avx512Rcp => "avx512",
            Kernel::NeonDiv | Kernel::NeonRcp => "neon",
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
            // SAFETY (each SIMD arm): `available()` checked the instruction
            // set at run time (or at compile time without std); the kernels
            // only read through bounds-checked slices and arrays, `rows`
            // holds `n` rows of `stride >= d` elements.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Div if self.available() => unsafe { avx2::rows::<false>(metric, q, rows, stride, out) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Rcp if self.available() => unsafe { avx2::rows::<true>(metric, q, rows, stride, out) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Div if self.available() => unsafe { avx512::rows::<false>(metric, q, rows, stride, out) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Rcp if self.available() => unsafe { avx512::rows::<true>(metric, q, rows, stride, out) },
            #[cfg(target_arch = "aarch64")]
            Kernel::NeonDiv if self.available() => unsafe { neon::rows::<false>(metric, q, rows, stride, out) },
            #[cfg(target_arch = "aarch64")]
            Kernel::NeonRcp if self.available() => unsafe { neon::rows::<true>(metric, q, rows, stride, out) },
            _ => {
                for (r, o) in out.iter_mut().enumerate() {
                    *o = distance_scalar(metric, q, &rows[r * stride..r * stride + d]);
                }
            }
        }
        n
    }
}

/// One chi-square term; the scalar reference and the SIMD kernels' tails.
#[inline]
pub(crate) fn chi2_term(x: f32, y: f32) -> f32 {
    let t = x + y;
    if t.abs() >= f32::MIN_POSITIVE {
        let d = x - y;
        d * d / t
    } else {
        0.0
    }
}

/// The scalar reference distance between `query` and `row` (over the shorter
/// of the two).
pub fn distance_scalar(metric: Metric, query: &[f32], row: &[f16]) -> f32 {
    match metric {
        Metric::ChiSquare => query.iter().zip(row).map(|(&a, b)| chi2_term(b.to_f32(), a)).sum(),
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

/// The exact distance, every operation in f64 (the f16 and f32 inputs are
/// exact in f64): what the kernels' rankings are tested against.
pub fn distance_f64(metric: Metric, query: &[f32], row: &[f16]) -> f64 {
    let pairs = query.iter().zip(row).map(|(&a, b)| (f64::from(b.to_f32()), f64::from(a)));
    match metric {
        Metric::ChiSquare => pairs
            .map(|(x, y)| {
                let t = x + y;
                if t.abs() >= f64::from(f32::MIN_POSITIVE) {
                    (x - y) * (x - y) / t
                } else {
                    0.0
                }
            })
            .sum(),
        Metric::SquaredL2 => pairs.map(|(x, y)| (x - y) * (x - y)).sum(),
        Metric::Cosine => {
            let (mut dot, mut qq, mut xx) = (0.0f64, 0.0f64, 0.0f64);
            for (x, y) in pairs {
                dot += x * y;
                qq += y * y;
                xx += x * x;
            }
            let den = qq * xx;
            if den > 0.0 {
                1.0 - dot / libm::sqrt(den)
            } else {
                1.0
            }
        }
    }
}

#[inline]
pub(crate) fn cosine_from(dot: f32, qq: f32, xx: f32) -> f32 {
    let den = qq * xx;
    if den > 0.0 {
        1.0 - dot / libm::sqrtf(den)
    } else {
        1.0
    }
}

/// `sum y^2` over the query, once per call of a SIMD cosine kernel.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline]
pub(crate) fn sum_squares(q: &[f32]) -> f32 {
    q.iter().map(|y| y * y).sum()
}

#[cfg(all(test, feature = "std"))]
mod tests;
