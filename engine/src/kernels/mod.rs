//! Compute kernels: GEMM micro-kernels and f16 widening, per instruction set.
//!
//! Every micro-kernel is registered once, in `REGISTRY`: its name, the
//! instruction set it needs, its tile shape (`MR` rows x `NR` columns) and the
//! packed operand format it expects. The GEMM driver (`crate::gemm`) is
//! written once against that description, so adding a kernel is one file plus
//! one registry line.
//!
//! Selection: a kernel is handed out only after the CPU check
//! ([`crate::cpu`]): [`best`] picks the best the CPU supports, [`by_name`]
//! pins one by name and fails with [`EngineError::UnknownKernel`] or
//! [`EngineError::KernelUnavailable`], and [`from_env`] reads that name
//! from `BEMM_KERNEL` (under `std`).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod avx512bf16;
pub mod convert;
pub mod int8;
#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(target_arch = "aarch64")]
mod neon_fp16;
mod scalar;
pub(crate) mod widest;

use crate::cpu::Cpu;
pub use crate::cpu::Isa;
use crate::error::{EngineError, KnownKernels};

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
pub(crate) struct Tile {
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
    pub(crate) run: unsafe fn(&Tile),
    /// The same kernel on the left `NR/2` columns only (same panels), for
    /// tiles with `cols <= NR/2`: narrow GEMMs (batch 1 on small maps) would
    /// otherwise multiply a half strip of padding.
    pub(crate) narrow: Option<unsafe fn(&Tile)>,
    /// This kernel with B read in place, step `k` at `tile.b + taps[k]`
    /// (steps of one value, or of one bf16 pair for [`PackFormat::Bf16Pairs`];
    /// A packed row-major in the kernel's format, `MR` rows, 32 columns), for
    /// direct convolution (`conv::direct`); `None` where there is none
    /// (im2col is used instead).
    pub(crate) taps: Option<unsafe fn(&Tile, &[u32])>,
}

impl MicroKernel {
    /// Whether the kernel has a variant reading B in place through tap
    /// offsets, which direct convolution needs ([`crate::conv::ConvAlgo::Direct`]).
    pub fn has_taps(&self) -> bool {
        self.taps.is_some()
    }

    /// Run the kernel on `t`, the narrow variant when the tile fits it.
    ///
    /// # Safety
    /// As [`MicroKernel::run`].
    #[inline(always)]
    pub(crate) unsafe fn call(&self, t: &Tile) {
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
pub(crate) static REGISTRY: &[MicroKernel] = &[
    #[cfg(target_arch = "x86_64")]
    MicroKernel { name: "avx512bf16-12x32", isa: Isa::Avx512Bf16, mr: 12, nr: 32, format: PackFormat::Bf16Pairs, exact: false, run: avx512bf16::kernel_12x32, narrow: Some(avx512bf16::kernel_12x16), taps: Some(avx512bf16::kernel_12x32_taps) },
    #[cfg(target_arch = "x86_64")]
    MicroKernel { name: "avx512-12x32", isa: Isa::Avx512, mr: 12, nr: 32, format: PackFormat::F32RowsA, exact: true, run: avx512::kernel_12x32, narrow: Some(avx512::kernel_12x16), taps: Some(avx512::kernel_12x32_taps) },
    #[cfg(target_arch = "aarch64")]
    MicroKernel { name: "neon-fp16-8x8", isa: Isa::NeonFp16, mr: 8, nr: 8, format: PackFormat::F32, exact: false, run: neon_fp16::kernel_8x8, narrow: None, taps: None },
    #[cfg(target_arch = "aarch64")]
    MicroKernel { name: "neon-12x8", isa: Isa::Neon, mr: 12, nr: 8, format: PackFormat::F32, exact: true, run: neon::kernel_12x8, narrow: Some(neon::kernel_12x4), taps: None },
    #[cfg(target_arch = "x86_64")]
    MicroKernel { name: "avx2-6x16", isa: Isa::Avx2, mr: 6, nr: 16, format: PackFormat::F32RowsA, exact: true, run: avx2::kernel_6x16, narrow: None, taps: None },
    MicroKernel { name: "scalar-4x8", isa: Isa::Scalar, mr: 4, nr: 8, format: PackFormat::F32RowsA, exact: true, run: scalar::kernel_4x8, narrow: None, taps: None },
];

/// The best available kernel; `exact` restricts to full-f32 kernels.
pub fn best(exact: bool) -> &'static MicroKernel {
    REGISTRY.iter().find(|k| (k.exact || !exact) && k.isa.available()).unwrap_or(scalar())
}

/// The best kernel of exactly this ISA, if the CPU supports it; an int8-only
/// level ([`Isa::int8_only`]) is [`EngineError::NoFloatKernel`].
pub fn for_isa(isa: Isa) -> Result<&'static MicroKernel, EngineError> {
    for_isa_on(isa, Cpu::detect())
}

/// [`for_isa`] on the CPU features `cpu` (at most the running CPU's).
pub fn for_isa_on(isa: Isa, cpu: Cpu) -> Result<&'static MicroKernel, EngineError> {
    // A level the CPU lacks is that, whatever it has kernels for.
    if let Some(instead) = isa.int8_only().filter(|_| cpu.supports(isa)) {
        return Err(EngineError::NoFloatKernel { level: isa.name(), instead: instead.name() });
    }
    match REGISTRY.iter().find(|k| k.isa == isa) {
        Some(kern) => checked(kern, cpu),
        // A level of another architecture (`avx2` on aarch64): its
        // features are never detected here.
        None => Err(unavailable(isa.name(), isa, cpu)),
    }
}

/// The kernel named `name`: a kernel name (`avx512-12x32`) or an ISA name
/// (`avx512`: the best kernel of that ISA). Fails with
/// [`EngineError::UnknownKernel`] for any other name and with
/// [`EngineError::KernelUnavailable`] when the CPU lacks what the kernel needs.
pub fn by_name(name: &str) -> Result<&'static MicroKernel, EngineError> {
    by_name_on(name, Cpu::detect())
}

/// [`by_name`] on the CPU features `cpu` (at most the running CPU's, e.g.
/// `Cpu::detect().without(Feature::Avx512f)`).
pub fn by_name_on(name: &str, cpu: Cpu) -> Result<&'static MicroKernel, EngineError> {
    if let Some(kern) = REGISTRY.iter().find(|k| k.name == name) {
        return checked(kern, cpu);
    }
    match Isa::parse(name) {
        Some(isa) => for_isa_on(isa, cpu),
        None => Err(unknown(name)),
    }
}

/// The kernel pinned by the environment variable `BEMM_KERNEL` (a name as
/// [`by_name`] takes it), or `None` when it is unset or empty, or when it
/// names an int8 kernel or int8-only level ([`int8::int8_only_name`]: that
/// pins the int8 kernel, [`int8::from_env`], and leaves the float default).
#[cfg(feature = "std")]
pub fn from_env() -> Result<Option<&'static MicroKernel>, EngineError> {
    match std::env::var("BEMM_KERNEL") {
        Ok(name) if name.is_empty() || int8::int8_only_name(&name) => Ok(None),
        Ok(name) => by_name(&name).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(unknown("(BEMM_KERNEL is not UTF-8)")),
    }
}

/// The kernel pinned by `BEMM_KERNEL`: never, without `std`.
#[cfg(not(feature = "std"))]
pub fn from_env() -> Result<Option<&'static MicroKernel>, EngineError> {
    Ok(None)
}

fn checked(kern: &'static MicroKernel, cpu: Cpu) -> Result<&'static MicroKernel, EngineError> {
    if cpu.supports(kern.isa) {
        Ok(kern)
    } else {
        Err(unavailable(kern.name, kern.isa, cpu))
    }
}

/// Kernel `name` of level `isa` needs features `cpu` lacks.
pub(crate) fn unavailable(name: &'static str, isa: Isa, cpu: Cpu) -> EngineError {
    EngineError::KernelUnavailable { kernel: name, needs: isa.needs(), missing: cpu.missing(isa) }
}

/// `name` (its first 32 bytes kept) is no kernel or level either registry knows.
pub(crate) fn unknown(name: &str) -> EngineError {
    let mut shown = heapless::String::new();
    for ch in name.chars() {
        if shown.push(ch).is_err() {
            break;
        }
    }
    EngineError::UnknownKernel { name: shown, known: KNOWN }
}

/// Writes every name [`by_name`] accepts: the registered kernels, then the
/// instruction sets.
fn write_names(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    let names = REGISTRY.iter().map(|k| k.name).chain(Isa::ALL.iter().map(|i| i.name()));
    for (i, name) in names.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(name)?;
    }
    Ok(())
}

/// The names [`by_name`] accepts, for [`EngineError::UnknownKernel`].
pub const KNOWN: KnownKernels = KnownKernels(write_names);

/// Every registered kernel's name, in registry order (best-ranked first).
pub fn names() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|k| k.name)
}

/// The kernels the running CPU supports, in registry order (best-ranked
/// first within each precision): the candidates of `crate::tune`.
pub fn available() -> impl Iterator<Item = &'static MicroKernel> {
    REGISTRY.iter().filter(|k| k.isa.available())
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
mod tests;
