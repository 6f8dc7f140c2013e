//! Widening f16 -> f32 (and narrowing to bf16 for the fast path), with
//! F16C/AVX-512 paths: weights stay f16 as mapped and are widened here,
//! block by block, while the GEMM packs them.

use super::Isa;
use half::f16;

/// `dst[i] = src[i] as f32` for `min(src.len(), dst.len())` elements.
#[inline]
pub fn f16_to_f32(isa: Isa, src: &[f16], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    #[cfg(target_arch = "x86_64")]
    {
        if isa >= Isa::Avx2 {
            // SAFETY: `isa` was checked available by whoever chose it (Model
            // only selects available ISAs); lengths are equal.
            unsafe { f16_to_f32_f16c(src, dst) };
            return;
        }
    }
    let _ = isa;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_f32();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn f16_to_f32_f16c(src: &[f16], dst: &mut [f32]) {
    use core::arch::x86_64::*;
    let n = src.len();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for both slices.
        unsafe {
            let h = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        }
        i += 8;
    }
    for j in i..n {
        dst[j] = src[j].to_f32();
    }
}

/// Round an f32 to bf16 bits (round to nearest even; NaN stays NaN).
#[inline(always)]
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    let round = 0x7FFF + ((b >> 16) & 1);
    (b.wrapping_add(round) >> 16) as u16
}

/// Two bf16 values packed in one f32 slot (low half = even K index).
#[inline(always)]
pub fn bf16_pair(lo: f32, hi: f32) -> f32 {
    f32::from_bits(f32_to_bf16_bits(lo) as u32 | ((f32_to_bf16_bits(hi) as u32) << 16))
}
