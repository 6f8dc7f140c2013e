//! x86-64 int8 micro-kernels: AVX512-VNNI (`vpdpbusd` on zmm), AVX-VNNI
//! (`vpdpbusd` on ymm, VEX encoded) and two for AVX2: `vpmaddubsw` for
//! weights of at most 7 bits, `vpmaddwd` on panels packed as 16-bit values
//! for any. Each holds its whole tile in accumulator registers: one
//! register per row and 16 (zmm) or 8 (ymm) columns; every K group of 4
//! broadcasts a row's 4 weight bytes (one i32) against the columns' 4
//! activation bytes.
//!
//! All are exact: `vpdpbusd` sums four u8 x i8 products (each at most
//! 32640 in magnitude) into i32 without saturation, `vpmaddwd` two
//! i16 x i16 products, and `vpmaddubsw` two u8 x i8 products into i16,
//! which cannot saturate when |w| <= 64 (2 x 255 x 64 = 32640) but can for
//! larger weights: that kernel runs only layers whose weights fit
//! ([`super::QKernel::max_weight`]).

use super::{store_qtile, QTile};
use core::arch::x86_64::*;

/// AVX512-VNNI, 12 rows x 32 columns: 24 zmm accumulators.
///
/// # Safety
/// AVX512F and AVX512-VNNI must be available; `t.a` holds `k4 * 12 * 4`
/// i8, `t.b` `k4 * 32 * 4` u8, C as in [`QTile`].
#[target_feature(enable = "avx512f,avx512vnni")]
pub(crate) unsafe fn avx512vnni_12x32(t: &QTile) {
    const MR: usize = 12;
    const NR: usize = 32;
    let mut acc = [[_mm512_setzero_si512(); 2]; MR];
    let (mut a, mut b) = (t.a as *const i32, t.b);
    for _ in 0..t.k4 {
        // SAFETY: each K group holds 12 i32 of A and 128 bytes of B inside the panels.
        unsafe {
            let b0 = _mm512_loadu_si512(b as *const _);
            let b1 = _mm512_loadu_si512(b.add(64) as *const _);
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_epi32(a.add(r).read_unaligned());
                accr[0] = _mm512_dpbusd_epi32(accr[0], b0, av);
                accr[1] = _mm512_dpbusd_epi32(accr[1], b1, av);
            }
            a = a.add(MR);
            b = b.add(NR * 4);
        }
    }
    if t.rows == MR && t.cols == NR {
        for (r, accr) in acc.iter().enumerate() {
            // SAFETY: full tile: row r of C holds 32 i32.
            unsafe {
                let c = t.c.add(r * t.ldc);
                let (mut v0, mut v1) = (accr[0], accr[1]);
                if t.accumulate {
                    v0 = _mm512_add_epi32(v0, _mm512_loadu_si512(c as *const _));
                    v1 = _mm512_add_epi32(v1, _mm512_loadu_si512(c.add(16) as *const _));
                }
                _mm512_storeu_si512(c as *mut _, v0);
                _mm512_storeu_si512(c.add(16) as *mut _, v1);
            }
        }
        return;
    }
    let mut tmp = [[0i32; NR]; MR];
    for (row, accr) in tmp.iter_mut().zip(&acc) {
        // SAFETY: each row holds 32 i32.
        unsafe {
            _mm512_storeu_si512(row.as_mut_ptr() as *mut _, accr[0]);
            _mm512_storeu_si512(row.as_mut_ptr().add(16) as *mut _, accr[1]);
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_qtile(t, &tmp) }
}

/// AVX-VNNI, 6 rows x 16 columns: 12 ymm accumulators.
///
/// # Safety
/// AVX2 and AVX-VNNI must be available; `t.a` holds `k4 * 6 * 4` i8, `t.b`
/// `k4 * 16 * 4` u8, C as in [`QTile`].
#[target_feature(enable = "avx2,avxvnni")]
pub(crate) unsafe fn avxvnni_6x16(t: &QTile) {
    const MR: usize = 6;
    const NR: usize = 16;
    let mut acc = [[_mm256_setzero_si256(); 2]; MR];
    let (mut a, mut b) = (t.a as *const i32, t.b);
    for _ in 0..t.k4 {
        // SAFETY: each K group holds 6 i32 of A and 64 bytes of B inside the panels.
        unsafe {
            let b0 = _mm256_loadu_si256(b as *const _);
            let b1 = _mm256_loadu_si256(b.add(32) as *const _);
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_epi32(a.add(r).read_unaligned());
                accr[0] = _mm256_dpbusd_avx_epi32(accr[0], b0, av);
                accr[1] = _mm256_dpbusd_avx_epi32(accr[1], b1, av);
            }
            a = a.add(MR);
            b = b.add(NR * 4);
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_ymm_16(t, &acc) }
}

/// Write a tile of `MR` rows x 16 columns of ymm i32 sums (`acc[r]`:
/// columns 0..8 and 8..16 of row `r`) into C: straight into C's rows for a
/// full tile, through a stack copy for a partial one.
///
/// # Safety
/// AVX2 must be available; C as in [`QTile`].
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store_ymm_16<const MR: usize>(t: &QTile, acc: &[[__m256i; 2]; MR]) {
    if t.rows == MR && t.cols == 16 {
        for (r, accr) in acc.iter().enumerate() {
            // SAFETY: full tile: row r of C holds 16 i32.
            unsafe {
                let c = t.c.add(r * t.ldc) as *mut __m256i;
                let (mut v0, mut v1) = (accr[0], accr[1]);
                if t.accumulate {
                    v0 = _mm256_add_epi32(v0, _mm256_loadu_si256(c));
                    v1 = _mm256_add_epi32(v1, _mm256_loadu_si256(c.add(1)));
                }
                _mm256_storeu_si256(c, v0);
                _mm256_storeu_si256(c.add(1), v1);
            }
        }
        return;
    }
    let mut tmp = [[0i32; 16]; MR];
    for (row, accr) in tmp.iter_mut().zip(acc) {
        // SAFETY: each row holds 16 i32.
        unsafe {
            _mm256_storeu_si256(row.as_mut_ptr() as *mut _, accr[0]);
            _mm256_storeu_si256(row.as_mut_ptr().add(8) as *mut _, accr[1]);
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_qtile(t, &tmp) }
}

/// AVX2 without VNNI for weights with |w| <= 64, 6 rows x 16 columns: 12
/// ymm accumulators. Per K group and row, `vpmaddubsw` forms 16 pair sums
/// (exact for such weights) and `vpmaddwd` against ones adds the pairs into
/// the columns' i32 sums: 2 multiply-port instructions per 32 products,
/// against 2 per 16 (plus the widening) for [`avx2_6x8`]. Measured on Zen 3
/// with the panels in cache: 96 against 74 GMAC/s.
///
/// A is read as rows ([`super::QPackA::Rows`]): the weights in place.
///
/// # Safety
/// AVX2 must be available; `t.a` holds 6 rows of `4 * k4` i8, `t.lda`
/// bytes apart, of magnitude at most 64 (larger ones give wrong sums, never
/// undefined behaviour), `t.b` `k4 * 16 * 4` u8, C as in [`QTile`].
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn avx2_7bit_6x16(t: &QTile) {
    const MR: usize = 6;
    const NR: usize = 16;
    let mut acc = [[_mm256_setzero_si256(); 2]; MR];
    let ones = _mm256_set1_epi16(1);
    let (mut a, mut b, lda) = (t.a, t.b, t.lda);
    for _ in 0..t.k4 {
        // SAFETY: each K group reads 4 bytes of each of the 6 A rows and 64
        // bytes of B, inside the panels.
        unsafe {
            let b0 = _mm256_loadu_si256(b as *const _);
            let b1 = _mm256_loadu_si256(b.add(32) as *const _);
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_epi32((a.add(r * lda) as *const i32).read_unaligned());
                accr[0] = _mm256_add_epi32(accr[0], _mm256_madd_epi16(_mm256_maddubs_epi16(b0, av), ones));
                accr[1] = _mm256_add_epi32(accr[1], _mm256_madd_epi16(_mm256_maddubs_epi16(b1, av), ones));
            }
            a = a.add(4);
            b = b.add(NR * 4);
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_ymm_16(t, &acc) }
}

/// AVX2 without VNNI, 6 rows x 8 columns, on a wide A panel
/// ([`super::QPackA::WideGroups`]: the weights as i16, widened while packing).
/// Per K group the 8 columns' 32 activation bytes widen to two i16 vectors
/// (4 columns x 4 steps each); `vpmaddwd` against a row's 4 weights
/// (broadcast straight from the panel) gives per column two pair sums,
/// added at the end (`vphaddd`). Widening the weights in the tile instead
/// (`vpmovsxbw` and a broadcast per row) made the loop shuffle-bound: 12 to
/// 14 cycles per K group against 8 to 10 on Zen 3.
///
/// # Safety
/// AVX2 must be available; `t.a` holds `k4 * 6 * 4` i16, `t.b` `k4 * 8 * 4`
/// u8, C as in [`QTile`].
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn avx2_6x8(t: &QTile) {
    const MR: usize = 6;
    const NR: usize = 8;
    // acc[r][h]: columns 4h..4h+4, lanes (column, half) pairs.
    let mut acc = [[_mm256_setzero_si256(); 2]; MR];
    let (mut a, mut b) = (t.a as *const i64, t.b);
    for _ in 0..t.k4 {
        // SAFETY: each K group holds 6 x 4 i16 of A and 32 bytes of B inside the panels.
        unsafe {
            let b0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(b as *const _));
            let b1 = _mm256_cvtepu8_epi16(_mm_loadu_si128(b.add(16) as *const _));
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_epi64x(a.add(r).read_unaligned());
                accr[0] = _mm256_add_epi32(accr[0], _mm256_madd_epi16(b0, av));
                accr[1] = _mm256_add_epi32(accr[1], _mm256_madd_epi16(b1, av));
            }
            a = a.add(MR);
            b = b.add(NR * 4);
        }
    }
    // hadd per 128-bit lane gives columns [0, 1, 4, 5 | 2, 3, 6, 7].
    let sums = acc.map(|accr| _mm256_permute4x64_epi64(_mm256_hadd_epi32(accr[0], accr[1]), 0b11_01_10_00));
    if t.rows == MR && t.cols == NR {
        for (r, &v) in sums.iter().enumerate() {
            // SAFETY: full tile: row r of C holds 8 i32.
            unsafe {
                let c = t.c.add(r * t.ldc) as *mut __m256i;
                let v = if t.accumulate { _mm256_add_epi32(v, _mm256_loadu_si256(c)) } else { v };
                _mm256_storeu_si256(c, v);
            }
        }
        return;
    }
    let mut tmp = [[0i32; NR]; MR];
    for (row, &v) in tmp.iter_mut().zip(&sums) {
        // SAFETY: each row holds 8 i32.
        unsafe { _mm256_storeu_si256(row.as_mut_ptr() as *mut _, v) };
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_qtile(t, &tmp) }
}
