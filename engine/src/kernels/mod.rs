//! Compute kernels: GEMM micro-kernels and f16 widening, per instruction set.
//!
//! Every micro-kernel is registered once, in [`REGISTRY`]: its name, the
//! instruction set it needs, its tile shape (`MR` rows x `NR` columns) and the
//! packed operand format it expects. The GEMM driver (`crate::gemm`) is
//! written once against that description, so adding a kernel is one file plus
//! one registry line.
//!
//! Selection: under `std` the best kernel the running CPU supports is chosen
//! at run time ([`Isa::detect`]); without `std` the choice follows the
//! compile-time target features (`-C target-feature=+avx512f` etc.).

/// Runtime feature test under `std`, compile-time without.
#[cfg(feature = "std")]
#[allow(unused_macros)]
macro_rules! has {
    ($f:tt) => {
        std::arch::is_x86_feature_detected!($f)
    };
}
#[cfg(not(feature = "std"))]
#[allow(unused_macros)]
macro_rules! has {
    ($f:tt) => {
        cfg!(target_feature = $f)
    };
}
#[allow(unused_imports)]
pub(crate) use has;

/// [`has`] for aarch64 features.
#[cfg(all(feature = "std", target_arch = "aarch64"))]
macro_rules! has_arm {
    ($f:tt) => {
        std::arch::is_aarch64_feature_detected!($f)
    };
}
#[cfg(all(not(feature = "std"), target_arch = "aarch64"))]
macro_rules! has_arm {
    ($f:tt) => {
        cfg!(target_feature = $f)
    };
}

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "x86_64")]
pub mod avx512bf16;
pub mod convert;
#[cfg(target_arch = "aarch64")]
pub mod neon;
#[cfg(target_arch = "aarch64")]
pub mod neon_fp16;
pub mod scalar;
pub mod widest;

/// An instruction-set level a kernel needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable Rust; the reference every SIMD path is tested against.
    Scalar,
    /// aarch64 Advanced SIMD (NEON), f32 arithmetic.
    Neon,
    /// aarch64 NEON + Armv8.2-A FP16 arithmetic (`fmla v.8h`).
    NeonFp16,
    /// x86-64 AVX2 + FMA + F16C.
    Avx2,
    /// x86-64 AVX-512F (+ F16C-equivalent `vcvtph2ps` on zmm).
    Avx512,
    /// x86-64 AVX-512F + AVX512-BF16 (`vdpbf16ps`).
    Avx512Bf16,
}

impl Isa {
    /// Whether the running CPU (under `std`) or the compile-time target
    /// features (without `std`) support this level.
    pub fn available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => has!("avx2") && has!("fma") && has!("f16c"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => has!("avx512f") && has!("f16c"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Bf16 => has!("avx512f") && has!("avx512bf16") && has!("f16c"),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => has_arm!("neon"),
            #[cfg(target_arch = "aarch64")]
            Isa::NeonFp16 => has_arm!("neon") && has_arm!("fp16"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Short lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Neon => "neon",
            Isa::NeonFp16 => "neon-fp16",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Avx512Bf16 => "avx512-bf16",
        }
    }
}

/// How a kernel wants its operands packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackFormat {
    /// One f32 per element: A as `[kc][MR]`, B as `[kc][NR]`.
    F32,
    /// One f32 per element, A strips row-major: `[MR][kc]` (each weight row
    /// widened as one contiguous F16C run, no transpose while packing),
    /// B as `[kc][NR]`.
    F32RowsA,
    /// Pairs of bf16 along K in one 4-byte slot: A strips row-major as
    /// `[MR][ceil(kc/2)][2]`, B as `[ceil(kc/2)][NR][2]` (K padded to even
    /// with zeros).
    Bf16Pairs,
}

/// One output tile's work for a micro-kernel: `C[rows, cols] (+)= A_panel * B_panel`,
/// then optionally `+ bias[row]` and ReLU.
#[derive(Debug, Clone, Copy)]
pub struct Tile {
    /// Depth of this K block (elements, not pairs).
    pub kc: usize,
    /// Packed A panel (`MR` rows), format per [`PackFormat`].
    pub a: *const f32,
    /// Packed B panel (`NR` columns), format per [`PackFormat`].
    pub b: *const f32,
    /// Top-left of the C tile; rows are `ldc` f32 apart.
    pub c: *mut f32,
    /// Row stride of C in elements.
    pub ldc: usize,
    /// Valid rows of the tile (`1..=MR`).
    pub rows: usize,
    /// Valid columns of the tile (`1..=NR`).
    pub cols: usize,
    /// Add to C instead of overwriting it (not the first K block).
    pub accumulate: bool,
    /// Per-row bias (`rows` values) to add on the last K block, or null.
    pub bias: *const f32,
    /// Apply ReLU on the last K block.
    pub relu: bool,
    /// On the last K block, a residual to add after the bias and before
    /// the ReLU (`rows` x `cols` values, rows `ldc` apart like C), or null.
    pub res: *const f32,
}

/// A registered GEMM micro-kernel.
#[derive(Debug)]
pub struct MicroKernel {
    /// Name, for logs and benchmarks.
    pub name: &'static str,
    /// Instruction set it needs.
    pub isa: Isa,
    /// Tile rows.
    pub mr: usize,
    /// Tile columns.
    pub nr: usize,
    /// Operand packing it expects.
    pub format: PackFormat,
    /// Whether results equal the f32 reference up to summation order
    /// (`false` for reduced-precision kernels such as bf16).
    pub exact: bool,
    /// The kernel. Safety: caller guarantees the ISA is available and the
    /// tile's pointers cover `kc` x `MR`/`NR` packed values and `rows` x `cols` of C.
    pub run: unsafe fn(&Tile),
    /// The same kernel on the left `NR/2` columns only (same panels), for
    /// tiles with `cols <= NR/2`: narrow GEMMs (batch 1 on small maps) would
    /// otherwise multiply a half strip of padding.
    pub narrow: Option<unsafe fn(&Tile)>,
    /// This kernel with B read in place, step `k` at `tile.b + taps[k]`
    /// (steps of one value, or of one bf16 pair for [`PackFormat::Bf16Pairs`];
    /// A packed row-major in the kernel's format, `MR` rows, 32 columns), for
    /// direct convolution ([`crate::direct`]); `None` where there is none
    /// (im2col is used instead).
    pub taps: Option<unsafe fn(&Tile, &[u32])>,
}

impl MicroKernel {
    /// Run the kernel on `t`, the narrow variant when the tile fits it.
    ///
    /// # Safety
    /// As [`MicroKernel::run`].
    #[inline(always)]
    pub unsafe fn call(&self, t: &Tile) {
        match self.narrow {
            // SAFETY: forwarded; the narrow variant needs cols <= nr/2, checked here.
            Some(n) if t.cols <= self.nr / 2 => unsafe { n(t) },
            // SAFETY: forwarded.
            _ => unsafe { (self.run)(t) },
        }
    }
}

/// Every micro-kernel, best first within each precision (one line per kernel).
#[rustfmt::skip]
pub static REGISTRY: &[MicroKernel] = &[
    #[cfg(target_arch = "x86_64")]
    MicroKernel { name: "avx512bf16-12x32", isa: Isa::Avx512Bf16, mr: 12, nr: 32, format: PackFormat::Bf16Pairs, exact: false, run: avx512bf16::kernel_12x32, narrow: Some(avx512bf16::kernel_12x16), taps: Some(avx512bf16::kernel_12x32_taps) },
    #[cfg(target_arch = "x86_64")]
    MicroKernel { name: "avx512-12x32", isa: Isa::Avx512, mr: 12, nr: 32, format: PackFormat::F32RowsA, exact: true, run: avx512::kernel_12x32, narrow: Some(avx512::kernel_12x16), taps: Some(avx512::kernel_12x32_taps) },
    #[cfg(target_arch = "aarch64")]
    MicroKernel { name: "neon-fp16-8x8", isa: Isa::NeonFp16, mr: 8, nr: 8, format: PackFormat::F32, exact: false, run: neon_fp16::kernel_8x8, narrow: None, taps: None },
    #[cfg(target_arch = "aarch64")]
    MicroKernel { name: "neon-12x8", isa: Isa::Neon, mr: 12, nr: 8, format: PackFormat::F32, exact: true, run: neon::kernel_12x8, narrow: Some(neon::kernel_12x4), taps: None },
    #[cfg(target_arch = "x86_64")]
    MicroKernel { name: "avx2-6x16", isa: Isa::Avx2, mr: 6, nr: 16, format: PackFormat::F32, exact: true, run: avx2::kernel_6x16, narrow: None, taps: None },
    MicroKernel { name: "scalar-4x8", isa: Isa::Scalar, mr: 4, nr: 8, format: PackFormat::F32, exact: true, run: scalar::kernel_4x8, narrow: None, taps: None },
];

/// The best available kernel; `exact` restricts to full-f32 kernels.
pub fn best(exact: bool) -> &'static MicroKernel {
    REGISTRY.iter().find(|k| (k.exact || !exact) && k.isa.available()).unwrap_or(&REGISTRY[REGISTRY.len() - 1])
}

/// The best available kernel of exactly this ISA, if any.
pub fn for_isa(isa: Isa) -> Option<&'static MicroKernel> {
    REGISTRY.iter().find(|k| k.isa == isa && k.isa.available())
}

/// The portable reference kernel.
pub fn scalar() -> &'static MicroKernel {
    &REGISTRY[REGISTRY.len() - 1]
}

/// Shared tile epilogue for kernels that stage their accumulators in a
/// row-major `MR x NR` array: writes `rows x cols` of it into C.
///
/// # Safety
/// `t.c` must be valid for `t.rows` rows of `t.cols` values `t.ldc` apart, and
/// `t.bias` null or valid for `t.rows` values, `t.res` null or valid like C.
#[inline(always)]
pub(crate) unsafe fn store_tile<const NR: usize>(t: &Tile, acc: &[[f32; NR]]) {
    for (r, row) in acc.iter().enumerate().take(t.rows) {
        // SAFETY: r < rows, and the caller guarantees rows x cols of C.
        let crow = unsafe { t.c.add(r * t.ldc) };
        // SAFETY: bias covers `rows` values when non-null.
        let bias = if t.bias.is_null() { 0.0 } else { unsafe { *t.bias.add(r) } };
        for (j, &v) in row.iter().enumerate().take(t.cols) {
            // SAFETY: j < cols.
            let p = unsafe { crow.add(j) };
            let mut x = v;
            if t.accumulate {
                // SAFETY: as above.
                x += unsafe { *p };
            }
            x += bias;
            if !t.res.is_null() {
                // SAFETY: a non-null residual covers rows x cols, rows ldc apart.
                x += unsafe { *t.res.add(r * t.ldc + j) };
            }
            if t.relu && x < 0.0 {
                x = 0.0;
            }
            // SAFETY: as above.
            unsafe { *p = x };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn taps_kernels_over_a_packed_panel_equal_the_kernel() {
        // With taps[d] = 32d the in-place B reads are exactly a packed panel:
        // every row count (4-, 8-, 12-row loops) and column count (16- and
        // 32-wide loops) must give the registered kernel's bits.
        let mut lcg = crate::lcg::Lcg::new(99);
        let mut next = || lcg.unit();
        for kern in REGISTRY.iter().filter(|k| k.taps.is_some() && k.isa.available()) {
            let Some(taps_fn) = kern.taps else { continue };
            let pairs = kern.format == PackFormat::Bf16Pairs;
            for (kc, rows, cols) in [(9usize, 12usize, 32usize), (588, 4, 28), (30, 7, 16), (2, 11, 1), (64, 8, 17)] {
                let depth = if pairs { kc.div_ceil(2) } else { kc };
                let mut value = || if pairs { convert::bf16_pair(next(), next()) } else { next() };
                let a: Vec<f32> = (0..12 * depth).map(|_| value()).collect();
                let b: Vec<f32> = (0..32 * depth).map(|_| value()).collect();
                let bias: Vec<f32> = (0..12).map(|_| next()).collect();
                let res: Vec<f32> = (0..12 * 40).map(|_| next()).collect();
                let taps: Vec<u32> = (0..depth as u32).map(|d| 32 * d).collect();
                let (mut want, mut got) = (vec![7f32; 12 * 40], vec![7f32; 12 * 40]);
                for (c, is_taps) in [(&mut want, false), (&mut got, true)] {
                    let t = Tile {
                        kc,
                        a: a.as_ptr(),
                        b: b.as_ptr(),
                        c: c.as_mut_ptr(),
                        ldc: 40,
                        rows,
                        cols,
                        accumulate: false,
                        bias: bias.as_ptr(),
                        relu: true,
                        res: res.as_ptr(),
                    };
                    // SAFETY: the kernel's ISA is available (filtered above); A holds
                    // 12 * depth, B 32 * depth (every tap reads 32 slots inside it),
                    // C and the residual 12 rows of ldc 40 >= cols.
                    unsafe {
                        if is_taps {
                            taps_fn(&t, &taps)
                        } else {
                            (kern.run)(&t)
                        }
                    };
                }
                assert_eq!(want, got, "{} kc {kc} rows {rows} cols {cols}", kern.name);
            }
        }
    }

    #[test]
    fn f32_format_kernels_match_an_f64_product_on_every_edge() {
        // Every available kernel packed as F32 or F32RowsA against the f64
        // sum of the same panels: full and partial tiles (the 4-, 8- and
        // 12-row loops, narrow columns), K across the FP16 kernel's chunks,
        // with and without accumulate, bias, residual and ReLU.
        let mut lcg = crate::lcg::Lcg::new(2024);
        let mut next = || lcg.unit();
        let f32_kernels = REGISTRY.iter().filter(|k| k.format != PackFormat::Bf16Pairs && k.isa.available());
        for kern in f32_kernels {
            let (mr, nr) = (kern.mr, kern.nr);
            // f32 sums: summation order only. f16 operands (2^-11 relative
            // each) and 16-step f16 partial sums: typically 1e-3 of the sum
            // of |products|, bounded well below 1e-2; a wrong lane or row
            // would be off by the size of the sum itself.
            let tol = if kern.exact { 1e-5 } else { 1e-2 };
            for (kc, rows, cols) in [(1usize, mr, nr), (17, mr, nr), (100, 3, nr), (33, 5, 1), (64, 8, nr / 2), (5, 9, 3)]
            {
                let (rows, cols) = (rows.min(mr), cols.min(nr));
                let a: Vec<f32> = (0..mr * kc).map(|_| next()).collect();
                let b: Vec<f32> = (0..nr * kc).map(|_| next()).collect();
                let bias: Vec<f32> = (0..mr).map(|_| next()).collect();
                let ldc = nr + 3;
                let res: Vec<f32> = (0..mr * ldc).map(|_| next()).collect();
                let start: Vec<f32> = (0..mr * ldc).map(|_| next()).collect();
                let a_at = |r: usize, k: usize| match kern.format {
                    PackFormat::F32RowsA => a[r * kc + k],
                    _ => a[k * mr + r],
                };
                for (accumulate, relu, extras) in [(false, false, false), (true, true, true), (true, false, true)] {
                    let mut c = start.clone();
                    let t = Tile {
                        kc,
                        a: a.as_ptr(),
                        b: b.as_ptr(),
                        c: c.as_mut_ptr(),
                        ldc,
                        rows,
                        cols,
                        accumulate,
                        bias: if extras { bias.as_ptr() } else { core::ptr::null() },
                        relu,
                        res: if extras { res.as_ptr() } else { core::ptr::null() },
                    };
                    // SAFETY: the kernel's ISA is available (filtered above); A holds
                    // mr * kc, B nr * kc values, C and the residual mr rows of ldc >= cols.
                    unsafe { kern.call(&t) };
                    for r in 0..mr {
                        for j in 0..ldc {
                            let got = c[r * ldc + j];
                            if r >= rows || j >= cols {
                                assert_eq!(got.to_bits(), start[r * ldc + j].to_bits(), "{} wrote outside", kern.name);
                                continue;
                            }
                            let (mut want, mut mag) = (0f64, 0f64);
                            for k in 0..kc {
                                let p = a_at(r, k) as f64 * b[k * nr + j] as f64;
                                want += p;
                                mag += p.abs();
                            }
                            if accumulate {
                                want += start[r * ldc + j] as f64;
                            }
                            if extras {
                                want += bias[r] as f64 + res[r * ldc + j] as f64;
                            }
                            if relu {
                                want = want.max(0.0);
                            }
                            let err = (got as f64 - want).abs();
                            assert!(
                                err <= tol * (mag + 3.0),
                                "{} kc {kc} rows {rows} cols {cols} at ({r}, {j}): {got} vs {want}",
                                kern.name
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn narrow_variants_equal_the_full_kernels_on_their_columns() {
        let mut lcg = crate::lcg::Lcg::new(12345);
        let mut next = || lcg.unit();
        for kern in REGISTRY.iter().filter(|k| k.narrow.is_some() && k.isa.available()) {
            let Some(narrow) = kern.narrow else { continue };
            for (kc, rows, cols) in [(1usize, 12usize, 16usize), (7, 5, 1), (64, 12, 9), (33, 3, 16)] {
                // The narrow variant's contract: at most NR/2 columns.
                let (rows, cols) = (rows.min(kern.mr), cols.min(kern.nr / 2));
                // Pair-packed panels hold ceil(kc/2) slots; f32 panels kc.
                let pairs = kern.format == PackFormat::Bf16Pairs;
                let depth = if pairs { kc.div_ceil(2) } else { kc };
                let mut value = || if pairs { convert::bf16_pair(next(), next()) } else { next() };
                let a: Vec<f32> = (0..kern.mr * depth).map(|_| value()).collect();
                let b: Vec<f32> = (0..kern.nr * depth).map(|_| value()).collect();
                let bias: Vec<f32> = (0..kern.mr).map(|_| next()).collect();
                let ldc = 40;
                let start: Vec<f32> = (0..kern.mr * ldc).map(|_| next()).collect();
                for (accumulate, relu, with_bias) in [(false, false, false), (true, true, true)] {
                    let (mut full, mut half) = (start.clone(), start.clone());
                    for (c, f) in [(&mut full, kern.run), (&mut half, narrow)] {
                        let t = Tile {
                            kc,
                            a: a.as_ptr(),
                            b: b.as_ptr(),
                            c: c.as_mut_ptr(),
                            ldc,
                            rows,
                            cols,
                            accumulate,
                            bias: if with_bias { bias.as_ptr() } else { core::ptr::null() },
                            relu,
                            res: core::ptr::null(),
                        };
                        // SAFETY: the kernel's ISA is available (filtered above); the
                        // panels hold depth * MR / NR values, C holds MR rows of ldc >= cols.
                        unsafe { f(&t) };
                    }
                    assert_eq!(full, half, "{} kc {kc} rows {rows} cols {cols}", kern.name);
                }
            }
        }
    }
}
