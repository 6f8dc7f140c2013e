//! The execution context every layer computes with: the micro-kernel (and
//! with it the ISA), the GEMM block sizes, whether Winograd is allowed, and
//! the fork that splits a layer over threads. A [`Ctx`] holds only kernels
//! from [`crate::kernels`]' checked constructors, so code given one may run
//! its kernel.

use crate::error::EngineError;
use crate::kernels::int8::{self, QKernel};
use crate::kernels::{Isa, MicroKernel};

/// How layers compute. Built by the model from a checked kernel.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'f> {
    /// The micro-kernel every GEMM tile runs on (available on this CPU).
    pub kern: &'static MicroKernel,
    /// The int8 micro-kernel of `QConv` layers (available on this CPU), for
    /// the layers whose weights it fits ([`Ctx::for_int8_weights`]).
    pub qkern: &'static QKernel,
    /// GEMM panel sizes (fix the workspace per GEMM).
    pub blocks: Blocks,
    /// Whether 3x3 stride-1 convolutions may use Winograd F(2x2, 3x3).
    pub winograd: bool,
    /// Splits each layer over threads (std), or `None`.
    pub fork: Option<&'f dyn Fork>,
}

impl<'f> Ctx<'f> {
    /// The widest ISA for packing, widening and transform loops: the kernel's.
    #[inline(always)]
    pub fn isa(&self) -> Isa {
        self.kern.isa
    }

    /// Threads a layer may split over (1 without a fork).
    pub fn ways(&self) -> usize {
        self.fork.map_or(1, |f| f.ways()).max(1)
    }

    /// The context for an int8 layer whose weights reach magnitude
    /// `max_abs`: its int8 kernel replaced by [`int8::any_weight`]'s when
    /// it does not fit them.
    pub fn for_int8_weights(&self, max_abs: u8) -> Ctx<'f> {
        if self.qkern.fits(max_abs) {
            *self
        } else {
            Ctx { qkern: int8::any_weight(self.qkern), ..*self }
        }
    }

    /// The same context on one thread (a part of a split layer).
    pub fn alone(&self) -> Ctx<'f> {
        Ctx { fork: None, ..*self }
    }
}

/// Rows of A per packed block (a multiple of every kernel's `MR`).
pub const MC: usize = 96;
/// Depth per packed block (even, for bf16 pairs).
pub const KC: usize = 256;
/// Columns of B per packed block (a multiple of every kernel's `NR`).
pub const NC: usize = 2048;
/// f32 elements of workspace one GEMM call needs with the default blocks
/// ([`Blocks::DEFAULT`]).
pub const WORKSPACE_LEN: usize = Blocks::DEFAULT.workspace_len();

/// The depth (`kc`) and column (`nc`) block sizes of the packed panels,
/// which fix the GEMM workspace: `MC*kc + kc*nc + kc + MC` f32. The default
/// (256 x 2048, 2.2 MB) keeps a B strip in L1 and the A block in L2 of a
/// desktop or server core; firmware with little RAM trades some speed for
/// a smaller workspace (64 x 64: 40 KB). Column blocks never change results;
/// depth blocks change the f32 summation order (differences ~1e-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocks {
    kc: usize,
    nc: usize,
}

/// Every kernel's `NR` divides this, so column blocks are multiples of it.
const NC_QUANTUM: usize = 32;

impl Blocks {
    /// [`KC`] x [`NC`].
    pub const DEFAULT: Blocks = Blocks { kc: KC, nc: NC };

    /// Blocks of `kc` depth (even, 2..=4096) and `nc` columns (a multiple of
    /// 32, 32..=65536).
    pub fn new(kc: usize, nc: usize) -> Result<Blocks, EngineError> {
        if !(2..=4096).contains(&kc) || !kc.is_multiple_of(2) {
            return Err(EngineError::GemmBlocks {
                what: "kc (depth)",
                found: kc,
                expected: "an even number from 2 to 4096",
            });
        }
        if !(NC_QUANTUM..=65536).contains(&nc) || !nc.is_multiple_of(NC_QUANTUM) {
            return Err(EngineError::GemmBlocks {
                what: "nc (columns)",
                found: nc,
                expected: "a multiple of 32 from 32 to 65536",
            });
        }
        Ok(Blocks { kc, nc })
    }

    /// Depth per block.
    pub const fn kc(&self) -> usize {
        self.kc
    }

    /// Columns per block.
    pub const fn nc(&self) -> usize {
        self.nc
    }

    /// f32 elements of workspace one GEMM call needs with these blocks.
    pub const fn workspace_len(&self) -> usize {
        MC * self.kc + self.kc * self.nc + self.kc + MC
    }
}

impl Default for Blocks {
    fn default() -> Self {
        Blocks::DEFAULT
    }
}

/// Runs `f(0)`, ..., `f(n-1)`, possibly concurrently: how a GEMM is split
/// across threads. The engine itself has no threads (`no_std`); `std`
/// provides one ([`crate::Model::infer_parallel`] uses it).
///
/// # Safety
/// Each part gets exclusive use of its share of the output through raw
/// pointers, so `run(n, f)` must call `f(i)` at most once for each `i` in
/// `0..n` (every `i` for a complete result), never with `i >= n`, and
/// return only after every call has returned.
pub unsafe trait Fork: Sync {
    /// How many parts to split into.
    fn ways(&self) -> usize;
    /// Run every part; returns when all are done.
    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync));
}
