//! Int8 GEMM micro-kernels: u8 activations times i8 weights, summed exactly
//! in i32.
//!
//! Every kernel computes one [`QTile`]; products and sums are exact (a u8 x
//! i8 product fits 16 bits, and a K of up to 2^16 steps fits i32), so every
//! kernel's result is bit-identical to [`scalar::qtile`], the reference they
//! are tested against (`tests.rs`). Kernels are handed out, like the float
//! ones, only after the CPU check ([`best`], [`by_name_on`]).
//!
//! Adding a kernel: one file here (an `unsafe fn(&QTile)` with
//! `#[target_feature]`), one line in [`QREGISTRY`] (name `isa-MRxNR`, best
//! first); the registry tests then check it against the scalar kernel.

use crate::cpu::{Cpu, Isa};
use crate::error::EngineError;

#[cfg(target_arch = "aarch64")]
mod neon;
pub(crate) mod scalar;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86;

/// One int8 tile: `C[rows][cols] (+)= A_panel * B_panel` over `k4` groups of
/// 4 K steps, in i32.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QTile {
    /// Groups of 4 K steps (K zero-padded to a multiple of 4).
    pub k4: usize,
    /// A panel (weights) in the kernel's [`QPackA`] layout.
    pub a: *const i8,
    /// Bytes between A rows, for a [`QPackA::Rows`] kernel (unused by the
    /// others).
    pub lda: usize,
    /// Packed B panel (quantized activations): `[k4][NR][4]` u8.
    pub b: *const u8,
    /// Top-left of the C tile; rows are `ldc` i32 apart.
    pub c: *mut i32,
    /// Row stride of C in elements.
    pub ldc: usize,
    /// Valid rows (`1..=MR`): only `rows` x `cols` of C are read or written.
    pub rows: usize,
    /// Valid columns (`1..=NR`).
    pub cols: usize,
    /// Add to C instead of overwriting it (not the first K block).
    pub accumulate: bool,
}

/// The layout a kernel reads its A panel (the weights) in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QPackA {
    /// `[k4][MR][4]` i8: a row's 4 weights of a K group side by side, the
    /// rows' groups one after the other.
    Groups,
    /// [`QPackA::Groups`] with the weights sign-extended to i16: for an ISA
    /// that multiplies only 16-bit integers exactly (`vpmaddwd`), widening
    /// the weights once while packing costs less than widening and
    /// broadcasting them again in every tile.
    WideGroups,
    /// `MR` rows of `4 * k4` i8, [`QTile::lda`] bytes apart: the weights
    /// as the model file stores them (row-major), so whole strips of whole
    /// K groups are read in place, unpacked; only a partial strip or a
    /// depth that is not a multiple of 4 is copied (zero-padded).
    Rows,
}

/// A registered int8 micro-kernel, run by the int8 GEMM (`crate::qgemm`)
/// of `QConv` layers.
#[derive(Debug)]
pub struct QKernel {
    /// Name, for logs and benchmarks (`isa-MRxNR`).
    pub name: &'static str,
    /// Instruction set it needs.
    pub isa: Isa,
    /// Tile rows.
    pub mr: usize,
    /// Tile columns.
    pub nr: usize,
    /// How it reads its A panel.
    pub a: QPackA,
    /// The largest weight magnitude it sums exactly: 128 (every i8), or 64
    /// for a kernel whose 16-bit pair sums saturate past it (`vpmaddubsw`).
    /// A layer with larger weights runs on [`any_weight`]'s kernel instead.
    pub max_weight: u8,
    /// The kernel. Safety: the caller guarantees the ISA is available, `a`
    /// covers `k4 * MR * 4` values in the kernel's [`QPackA`] layout, `b`
    /// covers `k4 * NR * 4` values and `c` covers `rows` rows of `cols`
    /// values `ldc` apart.
    pub(crate) run: unsafe fn(&QTile),
}

/// Every int8 micro-kernel, best first (one line per kernel); the scalar
/// reference last. A kernel limited to small weights comes before a kernel
/// of the same ISA for every weight ([`any_weight`]).
#[rustfmt::skip]
pub(crate) static QREGISTRY: &[QKernel] = &[
    #[cfg(target_arch = "x86_64")]
    QKernel { name: "avx512vnni-12x32", isa: Isa::Avx512Vnni, mr: 12, nr: 32, a: QPackA::Groups, max_weight: 128, run: x86::avx512vnni_12x32 },
    #[cfg(target_arch = "x86_64")]
    QKernel { name: "avxvnni-6x16", isa: Isa::AvxVnni, mr: 6, nr: 16, a: QPackA::Groups, max_weight: 128, run: x86::avxvnni_6x16 },
    #[cfg(target_arch = "aarch64")]
    QKernel { name: "neon-dot-8x8", isa: Isa::NeonDot, mr: 8, nr: 8, a: QPackA::Groups, max_weight: 128, run: neon::dot_8x8 },
    #[cfg(target_arch = "aarch64")]
    QKernel { name: "neon-4x8", isa: Isa::Neon, mr: 4, nr: 8, a: QPackA::Groups, max_weight: 128, run: neon::smull_4x8 },
    #[cfg(target_arch = "x86_64")]
    QKernel { name: "avx2-7bit-6x16", isa: Isa::Avx2, mr: 6, nr: 16, a: QPackA::Rows, max_weight: 64, run: x86::avx2_7bit_6x16 },
    #[cfg(target_arch = "x86_64")]
    QKernel { name: "avx2-6x8", isa: Isa::Avx2, mr: 6, nr: 8, a: QPackA::WideGroups, max_weight: 128, run: x86::avx2_6x8 },
    QKernel { name: "scalar-4x8", isa: Isa::Scalar, mr: 4, nr: 8, a: QPackA::Groups, max_weight: 128, run: scalar::qtile_4x8 },
];

impl QKernel {
    /// Whether it sums weights of magnitude up to `max_abs` exactly.
    pub fn fits(&self, max_abs: u8) -> bool {
        max_abs <= self.max_weight
    }
}

/// The kernel for a layer whose weights `kern` does not fit: `kern` itself
/// when it takes every weight, else the first kernel of its ISA that does
/// (so available wherever `kern` is), else the scalar reference.
pub fn any_weight(kern: &'static QKernel) -> &'static QKernel {
    if kern.fits(128) {
        return kern;
    }
    QREGISTRY.iter().find(|k| k.isa == kern.isa && k.fits(128)).unwrap_or(scalar())
}

/// The best int8 kernel the running CPU supports (possibly one limited to
/// small weights: layers it does not fit run on [`any_weight`]'s).
pub fn best() -> &'static QKernel {
    QREGISTRY.iter().find(|k| k.isa.available()).unwrap_or(scalar())
}

/// The int8 kernel named `name` (a kernel name, or an ISA name for that
/// ISA's best kernel), checked against the CPU features `cpu`.
pub fn by_name_on(name: &str, cpu: Cpu) -> Result<&'static QKernel, EngineError> {
    let kern = match QREGISTRY.iter().find(|k| k.name == name) {
        Some(k) => k,
        None => match Isa::parse(name).and_then(|isa| QREGISTRY.iter().find(|k| k.isa == isa)) {
            Some(k) => k,
            // A name the float registry knows but which has no int8
            // kernel is unknown here too.
            None => return Err(super::by_name_on(name, cpu).err().unwrap_or_else(|| super::unknown(name))),
        },
    };
    if cpu.supports(kern.isa) {
        Ok(kern)
    } else {
        Err(super::unavailable(kern.name, kern.isa, cpu))
    }
}

/// The int8 kernels the running CPU supports, best first.
pub fn available() -> impl Iterator<Item = &'static QKernel> {
    QREGISTRY.iter().filter(|k| k.isa.available())
}

/// The portable reference kernel.
pub fn scalar() -> &'static QKernel {
    &QREGISTRY[QREGISTRY.len() - 1]
}

/// The int8 kernel `name` selects, if it names one: an int8 kernel name, or
/// a level with an int8 kernel (the best of that level); `None` for names
/// only the float registry knows. Checked against the CPU like [`by_name_on`].
pub fn named(name: &str) -> Option<Result<&'static QKernel, EngineError>> {
    let known = QREGISTRY.iter().any(|k| k.name == name)
        || Isa::parse(name).is_some_and(|isa| QREGISTRY.iter().any(|k| k.isa == isa));
    known.then(|| by_name_on(name, Cpu::detect()))
}

/// Whether `name` names an int8 kernel or an int8-only level, which the
/// float registry has no kernel for (`avx512vnni-12x32`, `avxvnni`).
pub fn int8_only_name(name: &str) -> bool {
    let float = super::REGISTRY.iter().any(|k| k.name == name)
        || Isa::parse(name).is_some_and(|isa| super::REGISTRY.iter().any(|k| k.isa == isa));
    !float && named(name).is_some()
}

/// The int8 kernel pinned by the environment variable `BEMM_KERNEL`, when
/// it names one ([`named`]): a level name pins both registries' kernels of
/// that level (`avx2`, `scalar`), an int8 kernel or int8-only level only the
/// int8 one. `None` when unset, empty, or naming a float kernel only.
#[cfg(feature = "std")]
pub fn from_env() -> Result<Option<&'static QKernel>, EngineError> {
    match std::env::var("BEMM_KERNEL") {
        Ok(name) if !name.is_empty() => named(&name).transpose(),
        _ => Ok(None),
    }
}

/// The int8 kernel pinned by `BEMM_KERNEL`: never, without `std`.
#[cfg(not(feature = "std"))]
pub fn from_env() -> Result<Option<&'static QKernel>, EngineError> {
    Ok(None)
}

/// Write an `MR x NR` block of i32 sums into the tile's `rows x cols` of C
/// (adding to C when `t.accumulate`).
///
/// # Safety
/// `t.c` must be valid for `t.rows` rows of `t.cols` i32 `t.ldc` apart.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
pub(crate) unsafe fn store_qtile<const MR: usize, const NR: usize>(t: &QTile, acc: &[[i32; NR]; MR]) {
    for (r, row) in acc.iter().enumerate().take(t.rows) {
        for (j, &v) in row.iter().enumerate().take(t.cols) {
            // SAFETY: r < rows, j < cols, inside C as the caller guarantees.
            let p = unsafe { t.c.add(r * t.ldc + j) };
            // SAFETY: as above.
            unsafe { *p = if t.accumulate { (*p).wrapping_add(v) } else { v } };
        }
    }
}
