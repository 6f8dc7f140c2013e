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

pub(crate) mod scalar;
#[cfg(test)]
mod tests;

/// One int8 tile: `C[rows][cols] (+)= A_panel * B_panel` over `k4` groups of
/// 4 K steps, in i32.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QTile {
    /// Groups of 4 K steps (K zero-padded to a multiple of 4).
    pub k4: usize,
    /// Packed A panel (weights): `[k4][MR][4]` i8.
    pub a: *const i8,
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

/// A registered int8 micro-kernel (run by the int8 GEMM once it lands in
/// the convolution path; the registry tests run every one).
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub struct QKernel {
    /// Name, for logs and benchmarks (`isa-MRxNR`).
    pub name: &'static str,
    /// Instruction set it needs.
    pub isa: Isa,
    /// Tile rows.
    pub mr: usize,
    /// Tile columns.
    pub nr: usize,
    /// The kernel. Safety: the caller guarantees the ISA is available, `a`
    /// covers `k4 * MR * 4` values, `b` covers `k4 * NR * 4` values and `c`
    /// covers `rows` rows of `cols` values `ldc` apart.
    pub(crate) run: unsafe fn(&QTile),
}

/// Every int8 micro-kernel, best first (one line per kernel); the scalar
/// reference last.
#[rustfmt::skip]
pub(crate) static QREGISTRY: &[QKernel] = &[
    QKernel { name: "scalar-4x8", isa: Isa::Scalar, mr: 4, nr: 8, run: scalar::qtile_4x8 },
];

/// The best int8 kernel the running CPU supports.
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
            None => return Err(super::by_name_on(name, cpu).err().unwrap_or_else(|| unknown_int8(name))),
        },
    };
    if cpu.supports(kern.isa) {
        Ok(kern)
    } else {
        Err(EngineError::KernelUnavailable {
            kernel: kern.name,
            needs: kern.isa.needs(),
            missing: cpu.missing(kern.isa),
        })
    }
}

/// A name the float registry knows but which has no int8 kernel.
fn unknown_int8(name: &str) -> EngineError {
    let mut shown = heapless::String::new();
    for ch in name.chars() {
        if shown.push(ch).is_err() {
            break;
        }
    }
    EngineError::UnknownKernel { name: shown, known: super::KnownKernels }
}

/// The int8 kernels the running CPU supports, best first.
pub fn available() -> impl Iterator<Item = &'static QKernel> {
    QREGISTRY.iter().filter(|k| k.isa.available())
}

/// The portable reference kernel.
pub fn scalar() -> &'static QKernel {
    &QREGISTRY[QREGISTRY.len() - 1]
}
