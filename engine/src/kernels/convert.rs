//! Widening f16 -> f32 (and narrowing to bf16 for the fast path), with
//! F16C/AVX-512 paths: weights stay f16 as mapped and are widened here,
//! block by block, while the GEMM packs them.

use super::Isa;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::cpu::Feature;
use half::f16;

/// `dst[i] = src[i] as f32` for `min(src.len(), dst.len())` elements.
#[inline]
pub(crate) fn f16_to_f32(isa: Isa, src: &[f16], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    #[cfg(target_arch = "x86_64")]
    {
        if isa.includes(Feature::Avx512f) {
            // SAFETY: as below; the level includes AVX-512F.
            unsafe { f16_to_f32_avx512(src, dst) };
            return;
        }
        if isa.includes(Feature::F16c) {
            // SAFETY: `isa` is a checked kernel's (the crate takes it only
            // from a `Ctx`, whose kernels passed the CPU check) and
            // includes F16C (and so AVX); lengths are equal.
            unsafe { f16_to_f32_f16c(src, dst) };
            return;
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if isa.includes(Feature::Neon) && Isa::Neon.available() {
            // SAFETY: NEON is available (checked on the line above); lengths are equal.
            unsafe { f16_to_f32_neon(src, dst) };
            return;
        }
    }
    let _ = isa;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f16_bits_to_f32(s.to_bits());
    }
}

/// `dst[i] = src[i]` rounded to f16 (to nearest even; overflow gives
/// infinity, NaN stays NaN), for `min(src.len(), dst.len())` elements.
#[inline]
pub fn f32_to_f16(isa: Isa, src: &[f32], dst: &mut [f16]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    #[cfg(target_arch = "aarch64")]
    {
        // `isa` may be any level here (a public function): NEON is checked.
        if isa.includes(Feature::Neon) && Isa::Neon.available() {
            // SAFETY: NEON is available (checked on the line above); lengths are equal.
            unsafe { f32_to_f16_neon(src, dst) };
            return;
        }
    }
    let _ = isa;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f16::from_f32(*s);
    }
}

/// 8 values per `fcvtl` + `fcvtl2` (base Advanced SIMD: no FP16 extension
/// needed); exact, like every f16 -> f32 widening.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn f16_to_f32_neon(src: &[f16], dst: &mut [f32]) {
    use core::arch::aarch64::*;
    let n = src.len();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for both slices; `f16` is a transparent u16.
        unsafe {
            let (lo, hi) = super::neon_fp16::widen(vld1q_u16(src.as_ptr().add(i) as *const u16));
            vst1q_f32(dst.as_mut_ptr().add(i), lo);
            vst1q_f32(dst.as_mut_ptr().add(i + 4), hi);
        }
        i += 8;
    }
    for j in i..n {
        dst[j] = f16_bits_to_f32(src[j].to_bits());
    }
}

/// 8 values per `fcvtn` + `fcvtn2` (rounding per FPCR: to nearest even, as
/// Linux and bare-metal start-up leave it).
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn f32_to_f16_neon(src: &[f32], dst: &mut [f16]) {
    use core::arch::aarch64::*;
    let n = src.len();
    let mut i = 0;
    while i + 8 <= n {
        let h: uint16x8_t;
        // SAFETY: i + 8 <= n for both slices; `f16` is a transparent u16;
        // the asm block only converts registers.
        unsafe {
            let (lo, hi) = (vld1q_f32(src.as_ptr().add(i)), vld1q_f32(src.as_ptr().add(i + 4)));
            core::arch::asm!(
                "fcvtn {h:v}.4h, {lo:v}.4s",
                "fcvtn2 {h:v}.8h, {hi:v}.4s",
                lo = in(vreg) lo,
                hi = in(vreg) hi,
                h = out(vreg) h,
                options(pure, nomem, nostack, preserves_flags)
            );
            vst1q_u16(dst.as_mut_ptr().add(i) as *mut u16, h);
        }
        i += 8;
    }
    for j in i..n {
        dst[j] = f16::from_f32(src[j]);
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
        dst[j] = f16_bits_to_f32(src[j].to_bits());
    }
}

/// 16 values per `vcvtph2ps zmm`; the tail goes through a zero-padded
/// stack block instead of an element loop (the runs here are often 7-63
/// values long: im2col spans, K tails).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn f16_to_f32_avx512(src: &[f16], dst: &mut [f32]) {
    use core::arch::x86_64::*;
    let n = src.len();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n for both slices.
        unsafe {
            let h = _mm256_loadu_si256(src.as_ptr().add(i) as *const __m256i);
            _mm512_storeu_ps(dst.as_mut_ptr().add(i), _mm512_cvtph_ps(h));
        }
        i += 16;
    }
    if i < n {
        let mut h = [0u16; 16];
        for (d, s) in h.iter_mut().zip(&src[i..]) {
            *d = s.to_bits();
        }
        let mask: __mmask16 = ((1u32 << (n - i)) - 1) as u16;
        // SAFETY: the stack block holds 16 values; the mask limits the
        // store to the n - i < 16 values left in `dst`.
        unsafe {
            _mm512_mask_storeu_ps(
                dst.as_mut_ptr().add(i),
                mask,
                _mm512_cvtph_ps(_mm256_loadu_si256(h.as_ptr() as *const __m256i)),
            )
        };
    }
}

/// f16 values rounded to bf16 in order, two per f32 slot: `dst[d]` holds
/// `src[2d]` (low half) and `src[2d+1]` (high half; zero past the end), for
/// `ceil(src.len() / 2)` slots: a weight row as a row-major bf16-pair strip.
/// With AVX512-BF16 this is `vcvtph2ps` + `vcvtneps2bf16` (round to nearest
/// even, as [`f32_to_bf16_bits`]: f16 values are never f32 subnormals), 16
/// values at a time; otherwise widening into `tmp` (`src.len()` values)
/// and [`f32_to_bf16_pairs`].
#[inline]
pub(crate) fn f16_to_bf16_pairs(isa: Isa, src: &[f16], dst: &mut [f32], tmp: &mut [f32]) {
    let n = src.len();
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512Bf16 {
        // SAFETY: the ISA is a checked kernel's (from a `Ctx`); `dst` is cut
        // to ceil(n/2) slots.
        unsafe { f16_to_bf16_pairs_avx512bf16(src, &mut dst[..n.div_ceil(2)]) };
        return;
    }
    f16_to_f32(isa, src, &mut tmp[..n]);
    f32_to_bf16_pairs(isa, &tmp[..n], dst);
}

/// f32 values rounded to bf16 in order, two per slot (as
/// [`f16_to_bf16_pairs`]): `dst[d]` holds `src[2d]` and `src[2d+1]` (zero
/// past the end). With AVX512-BF16 this is `vcvtneps2bf16`, which treats
/// f32 subnormal inputs as zero: callers pass values that are zero or
/// normal (Winograd-transformed f16 weights: sums and differences of f16
/// values, multiples of 2^-24, halved twice at most, so 0 or at least
/// 2^-26), where it equals [`bf16_pair`].
#[inline]
pub(crate) fn f32_to_bf16_pairs(isa: Isa, src: &[f32], dst: &mut [f32]) {
    let n = src.len();
    let dst = &mut dst[..n.div_ceil(2)];
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512Bf16 {
        // SAFETY: the ISA is a checked kernel's (from a `Ctx`); `dst` holds
        // ceil(n/2) slots.
        unsafe { f32_to_bf16_pairs_avx512bf16(src, dst) };
        return;
    }
    let _ = isa;
    pairs_from(n, 0, |i| src[i], dst);
}

/// Slots `first..ceil(n/2)` of `dst` from values `value(i)`, `i < n`, with
/// the portable rounding (the tails of the vector loops, and the fallback).
#[inline(always)]
fn pairs_from(n: usize, first: usize, value: impl Fn(usize) -> f32, dst: &mut [f32]) {
    for (d, slot) in dst.iter_mut().enumerate().take(n.div_ceil(2)).skip(first) {
        *slot = bf16_pair(value(2 * d), if 2 * d + 1 < n { value(2 * d + 1) } else { 0.0 });
    }
}

/// 16 values at a time, `load(i)` giving values `i..i+16` as f32, then
/// [`pairs_from`] for the tail.
///
/// # Safety
/// AVX512-BF16 (inlined into functions that enable it); `load(i)` is valid
/// for `i + 16 <= n`; `dst` holds `ceil(n/2)` slots.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn pairs_avx512bf16(
    n: usize,
    load: impl Fn(usize) -> core::arch::x86_64::__m512,
    value: impl Fn(usize) -> f32,
    dst: &mut [f32],
) {
    use core::arch::x86_64::*;
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n; slots i/2 .. i/2 + 8 of `dst` (ceil(n/2)
        // slots) take the 16 bf16 (32 bytes); AVX512-BF16 per the contract.
        unsafe {
            let b = _mm512_cvtneps_pbh(load(i));
            _mm256_storeu_si256(
                dst.as_mut_ptr().add(i / 2) as *mut __m256i,
                core::mem::transmute::<__m256bh, __m256i>(b),
            );
        }
        i += 16;
    }
    pairs_from(n, i / 2, value, dst);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn f16_to_bf16_pairs_avx512bf16(src: &[f16], dst: &mut [f32]) {
    use core::arch::x86_64::*;
    // SAFETY: the loads read values i..i+16 < n of `src`; AVX512-BF16 is enabled here.
    unsafe {
        pairs_avx512bf16(
            src.len(),
            |i| _mm512_cvtph_ps(_mm256_loadu_si256(src.as_ptr().add(i) as *const __m256i)),
            |i| f16_bits_to_f32(src[i].to_bits()),
            dst,
        )
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn f32_to_bf16_pairs_avx512bf16(src: &[f32], dst: &mut [f32]) {
    use core::arch::x86_64::*;
    // SAFETY: the loads read values i..i+16 < n of `src`; AVX512-BF16 is enabled here.
    unsafe { pairs_avx512bf16(src.len(), |i| _mm512_loadu_ps(src.as_ptr().add(i)), |i| src[i], dst) }
}

/// Exact f16 -> f32 from the bits, inlined (no call, no CPU detection):
/// used where values are gathered one by one (strided windows).
#[inline(always)]
pub fn f16_bits_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let sign = (h & 0x8000) << 16;
    let exp = (h >> 10) & 0x1F;
    let man = h & 0x3FF;
    let bits = if exp == 0 {
        // Zero or subnormal: man * 2^-24, exact in f32.
        return f32::from_bits(sign | (man as f32 * (1.0 / 16_777_216.0)).to_bits());
    } else if exp == 31 {
        sign | 0x7F80_0000 | (man << 13)
    } else {
        sign | ((exp + 112) << 23) | (man << 13)
    };
    f32::from_bits(bits)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_pairs_of_f16_rows_equal_widening_then_rounding() {
        // Every finite f16 (and the infinities) in runs of odd and even
        // lengths: the AVX512-BF16 conversion must give the portable bits.
        let all: std::vec::Vec<f16> = (0..=u16::MAX).map(f16::from_bits).filter(|h| !h.is_nan()).collect();
        for isa in [Isa::Scalar, Isa::Avx512Bf16].into_iter().filter(|i| i.available()) {
            for len in [1usize, 15, 16, 17, 33, 4096] {
                for run in all.chunks(len) {
                    let mut got = std::vec![0f32; run.len().div_ceil(2)];
                    let mut tmp = std::vec![0f32; run.len()];
                    f16_to_bf16_pairs(isa, run, &mut got, &mut tmp);
                    for (d, slot) in got.iter().enumerate() {
                        let lo = run[2 * d].to_f32();
                        let hi = run.get(2 * d + 1).map_or(0.0, |h| h.to_f32());
                        assert_eq!(slot.to_bits(), bf16_pair(lo, hi).to_bits(), "{} len {len}: {lo} {hi}", isa.name());
                    }
                }
            }
        }
    }

    #[test]
    fn bf16_pairs_of_f32_rows_equal_the_portable_rounding() {
        // Normal f32 values of every exponent, halfway cases (ties to even)
        // and zeros, in runs of odd and even lengths.
        let mut lcg = crate::lcg::Lcg::new(7);
        let mut v: std::vec::Vec<f32> = (0..20_000)
            .map(|_| {
                let x = lcg.next_u32();
                let bits = x & 0xFFFF_0000 | if x & 1 == 0 { 0x8000 } else { x >> 16 };
                let f = f32::from_bits(bits);
                if f.is_normal() {
                    f
                } else {
                    0.0
                }
            })
            .collect();
        v.extend([0.0, -0.0, 1.0, f32::MAX, f32::MIN_POSITIVE, f32::INFINITY]);
        for isa in [Isa::Scalar, Isa::Avx512Bf16].into_iter().filter(|i| i.available()) {
            for len in [1usize, 15, 16, 17, 33, 4096] {
                for run in v.chunks(len) {
                    let mut got = std::vec![0f32; run.len().div_ceil(2)];
                    f32_to_bf16_pairs(isa, run, &mut got);
                    for (d, slot) in got.iter().enumerate() {
                        let want = bf16_pair(run[2 * d], run.get(2 * d + 1).copied().unwrap_or(0.0));
                        assert_eq!(slot.to_bits(), want.to_bits(), "{} len {len} slot {d}", isa.name());
                    }
                }
            }
        }
    }

    #[test]
    fn f16_bits_widening_is_exact_for_every_value() {
        for h in 0..=u16::MAX {
            let want = f16::from_bits(h).to_f32();
            let got = f16_bits_to_f32(h);
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{h:#06x}: {got} vs {want}");
        }
    }

    #[test]
    fn simd_widening_matches_scalar() {
        let src: std::vec::Vec<f16> = (0..=u16::MAX).step_by(7).map(f16::from_bits).collect();
        let mut a = std::vec![0f32; src.len()];
        let mut b = std::vec![0f32; src.len()];
        f16_to_f32(Isa::Scalar, &src, &mut a);
        for isa in [Isa::Avx2, Isa::Avx512, Isa::Neon] {
            if isa.available() {
                f16_to_f32(isa, &src, &mut b);
                assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())));
            }
        }
    }

    #[test]
    fn neon_widening_of_every_f16_is_exact() {
        // Every bit pattern, in runs that end inside and on the 8-value blocks.
        let all: std::vec::Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
        for len in [1usize, 7, 8, 9, 65536] {
            for run in all.chunks(len) {
                let mut got = std::vec![0f32; run.len()];
                f16_to_f32(Isa::Neon, run, &mut got);
                for (h, g) in run.iter().zip(&got) {
                    let want = f16_bits_to_f32(h.to_bits());
                    assert!(g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()), "{:#06x}", h.to_bits());
                }
            }
        }
    }

    #[test]
    fn f16_narrowing_rounds_to_nearest_even() {
        // Halfway cases between neighbouring f16 values, both signs, values
        // past the f16 range and subnormal f16, in runs of 8 and a tail.
        let mut v: std::vec::Vec<f32> = std::vec::Vec::new();
        for bits in (0u16..0x7C00).step_by(37) {
            let x = f16::from_bits(bits).to_f32();
            let next = f16::from_bits(bits + 1).to_f32();
            v.extend([x, -x, (x + next) / 2.0, -(x + next) / 2.0, x * 1.0001]);
        }
        v.extend([65504.0, 65520.0, 1e9, -1e9, f32::INFINITY, 1e-8, -3e-6, 0.0, -0.0, f32::NAN]);
        for isa in [Isa::Scalar, Isa::Neon].into_iter().filter(|i| i.available()) {
            let mut got = std::vec![f16::ZERO; v.len()];
            f32_to_f16(isa, &v, &mut got);
            for (x, g) in v.iter().zip(&got) {
                let want = f16::from_f32(*x);
                assert!(g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()), "{} {x:e}", isa.name());
            }
        }
    }

    #[test]
    fn bf16_rounding_is_nearest_even() {
        assert_eq!(f32_to_bf16_bits(1.0), 0x3F80);
        // 1 + 2^-8 is halfway between two bf16 values: ties to even (1.0).
        assert_eq!(f32_to_bf16_bits(1.0 + 1.0 / 256.0), 0x3F80);
        assert_eq!(f32_to_bf16_bits(1.0 + 3.0 / 256.0), 0x3F82);
        assert!(f32::from_bits((f32_to_bf16_bits(f32::NAN) as u32) << 16).is_nan());
    }
}
