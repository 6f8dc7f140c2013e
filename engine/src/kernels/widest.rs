//! Portable loops compiled for wider vectors than the baseline target's.
//!
//! The crate is built for the baseline target (on x86-64: SSE2), so LLVM
//! auto-vectorises its portable loops (packing, the Winograd transforms,
//! pooling, residual adds) with 128-bit vectors. [`widest`] runs such a loop
//! inside a function compiled with AVX2 + FMA + F16C enabled when the
//! [`Isa`] the model selected (at run time under `std`) has them. The loop
//! must be an `#[inline(always)]` closure over `#[inline(always)]` code so
//! that it is compiled inside that function; whatever it calls that is not
//! inlined runs as before. Float semantics do not change (no fast math, no
//! FMA contraction): results are bit-identical to the baseline build.
//!
//! Why 256 and not 512 bits on AVX-512 CPUs: these loops run over short
//! rows (4-32 values: one output row of a small map, one 32-column strip),
//! and LLVM's 16-lane loops leave such runs to the scalar remainder. On
//! ResNet50 (batch 16, Zen 5) the Winograd transforms took 12.0 % of the
//! profile with SSE2, 14.9 % with AVX-512F and less than either with AVX2.

use super::Isa;

/// Run `f`, compiled with AVX2 when `isa` allows.
#[inline(always)]
pub fn widest<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if isa >= Isa::Avx2 && Isa::Avx2.available() {
            // SAFETY: AVX2, FMA and F16C are available (`Isa::Avx2`'s test),
            // checked on the line above.
            return unsafe { avx2(f) };
        }
    }
    let _ = isa;
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
