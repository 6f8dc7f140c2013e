//! x86-64 AVX512-BF16 12x32 micro-kernel: `vdpbf16ps` multiplies pairs of
//! bf16 along K and accumulates in f32, twice the multiply rate of f32 FMA.
//! Inputs are rounded to bf16 (8-bit mantissa), so results differ from the
//! f32 path by roughly 1e-2 relative; this is the `Precision::Fast` path.

use super::avx512::{by_rows, by_shape};
use super::Tile;
use core::arch::x86_64::*;

const NR: usize = 32;

/// `C (+)= A * B` over one tile with bf16 pair-packed panels
/// (A row-major `[12][ceil(kc/2)]` and B `[ceil(kc/2)][32]` slots of two
/// bf16 each). Tiles of at most 4 or 8 valid rows run a 4- or 8-row loop
/// (see [`super::avx512::kernel_12x32`]).
///
/// # Safety
/// AVX-512F and AVX512-BF16 must be available; panels hold `ceil(kc/2)`
/// pair-slots per row/column; C and bias as in [`Tile`].
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn kernel_12x32(t: &Tile) {
    // SAFETY: forwarded from the caller (the loops read rows < 12 only).
    unsafe { by_rows!(t, 2, tile(t)) }
}

/// [`kernel_12x32`] on the left 16 columns only, for tiles with `cols <= 16`.
///
/// # Safety
/// As [`kernel_12x32`], with `t.cols <= 16`.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn kernel_12x16(t: &Tile) {
    // SAFETY: forwarded from the caller; cols <= 16 masks out the right half.
    unsafe { by_rows!(t, 1, tile(t)) }
}

/// [`kernel_12x32`] with B read in place: pair-slot step `d`'s 32 slots
/// start at `t.b + taps[d]` (`t.kc == 2 * taps.len()`); A is pair-packed
/// row-major as for [`kernel_12x32`]. Direct convolution (`conv::direct`)
/// points it at stride phases stored as bf16 pairs of neighbouring input
/// channels.
///
/// # Safety
/// AVX-512F and AVX512-BF16; `t.a` holds `12 * taps.len()` slots; for every
/// `d`, `t.b + taps[d]` is valid for 32 slot reads (16 when `t.cols <= 16`);
/// C as in [`Tile`].
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn kernel_12x32_taps(t: &Tile, taps: &[u32]) {
    let b = t.b;
    // SAFETY: forwarded from the caller; `at` stays inside the valid reads.
    unsafe {
        let at = |d: usize| b.add(*taps.get_unchecked(d) as usize);
        by_shape!(t, tile_by(t, at))
    }
}

/// The pair-slot loop over the first `R` rows of A and `W` 16-column
/// halves of the packed B panel.
///
/// # Safety
/// AVX-512F and AVX512-BF16; `R <= 12`; panels as in [`kernel_12x32`].
#[inline(always)]
unsafe fn tile<const R: usize, const W: usize>(t: &Tile) -> [[__m512; 2]; R] {
    let b = t.b;
    // SAFETY: forwarded; slot step d of the packed panel starts at b + 32d.
    unsafe { tile_by::<R, W>(t, |d| b.add(d * NR)) }
}

/// The pair-slot loop over the first `R` rows of A and `W` 16-column
/// halves of B, step `d`'s slots at `b_at(d)`.
///
/// # Safety
/// AVX-512F and AVX512-BF16; `R <= 12`; A as in [`kernel_12x32`];
/// `b_at(d)` valid for `16 * W` slot reads for every `d < ceil(kc/2)`.
#[inline(always)]
unsafe fn tile_by<const R: usize, const W: usize>(t: &Tile, b_at: impl Fn(usize) -> *const f32) -> [[__m512; 2]; R] {
    // SAFETY: AVX-512F is available (the caller's contract).
    let mut acc = [[unsafe { _mm512_setzero_ps() }; 2]; R];
    let depth = t.kc.div_ceil(2);
    // SAFETY: rows r < R <= 12 start inside the 12 * depth panel.
    let rows: [*const f32; R] = core::array::from_fn(|r| unsafe { t.a.add(r * depth) });
    for d in 0..depth {
        // SAFETY: d < depth: inside every row of A; b_at(d) per the contract.
        unsafe {
            let bd = b_at(d);
            let b0: __m512bh = core::mem::transmute(_mm512_loadu_ps(bd));
            let b1 = if W == 2 { _mm512_loadu_ps(bd.add(16)) } else { _mm512_setzero_ps() };
            let b1: __m512bh = core::mem::transmute(b1);
            for (r, accr) in acc.iter_mut().enumerate() {
                let av: __m512bh = core::mem::transmute(_mm512_set1_ps(*rows[r].add(d)));
                accr[0] = _mm512_dpbf16_ps(accr[0], av, b0);
                if W == 2 {
                    accr[1] = _mm512_dpbf16_ps(accr[1], av, b1);
                }
            }
        }
    }
    acc
}
