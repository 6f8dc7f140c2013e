//! x86-64 AVX512-BF16 12x32 micro-kernel: `vdpbf16ps` multiplies pairs of
//! bf16 along K and accumulates in f32, twice the multiply rate of f32 FMA.
//! Inputs are rounded to bf16 (8-bit mantissa), so results differ from the
//! f32 path by roughly 1e-2 relative; this is the `Precision::Fast` path.
//! Format: A row-major `[12][ceil(kc/2)]` and B `[ceil(kc/2)][32]` slots of
//! two bf16 each ([`super::PackFormat::Bf16Pairs`]); the skeleton is
//! [`super::avx512`]'s.

use super::avx512::{kernels_12x32, tile_by, Step};
use super::Tile;
use core::arch::x86_64::*;

/// bf16 pairs, two per slot: `vdpbf16ps` multiplies both and adds them
/// to the f32 accumulator.
#[derive(Clone, Copy)]
pub(crate) struct Bf16Pairs;

impl Step for Bf16Pairs {
    #[inline(always)]
    fn depth(self, kc: usize) -> usize {
        kc.div_ceil(2)
    }

    #[inline(always)]
    unsafe fn madd(self, acc: __m512, a: __m512, b: __m512) -> __m512 {
        // SAFETY: AVX-512F and AVX512-BF16 (the caller's contract); the
        // transmutes reinterpret 512 bits as 32 bf16, no conversion.
        unsafe {
            let a: __m512bh = core::mem::transmute(a);
            let b: __m512bh = core::mem::transmute(b);
            _mm512_dpbf16_ps(acc, a, b)
        }
    }
}

kernels_12x32!("avx512f,avx512bf16", Bf16Pairs);
