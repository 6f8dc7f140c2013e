//! x86-64 AVX-512F 12x32 micro-kernel (24 zmm accumulators), masked edges.

use super::Tile;
use core::arch::x86_64::*;

const NR: usize = 32;

/// Runs `$tile::<R, W>($args)` with the fewest rows `R` (4, 8 or 12) that
/// cover `$t.rows`, then the masked epilogue ([`store`]) on its result.
/// A tile of at most 4 or 8 valid rows (the last strip of 64 = 5 * 12 + 4
/// or 128 = 10 * 12 + 8 output channels) so runs a 4- or 8-row loop instead
/// of multiplying rows of padding; per element the arithmetic is the same.
/// `W` is the number of 16-column halves. Shared with the bf16 kernel.
macro_rules! by_rows {
    ($t:expr, $w:literal, $tile:ident($($arg:expr),*)) => {
        match $t.rows {
            0..=4 => $crate::kernels::avx512::store($t, $tile::<4, $w>($($arg),*)),
            5..=8 => $crate::kernels::avx512::store($t, $tile::<8, $w>($($arg),*)),
            _ => $crate::kernels::avx512::store($t, $tile::<12, $w>($($arg),*)),
        }
    };
}

/// [`by_rows`] with `W` chosen too: one half for tiles of at most 16
/// columns, else two. The taps kernels take it; the packed kernels are
/// registered apart as `run` and `narrow` instead.
macro_rules! by_shape {
    ($t:expr, $tile:ident($($arg:expr),*)) => {
        if $t.cols <= 16 { by_rows!($t, 1, $tile($($arg),*)) } else { by_rows!($t, 2, $tile($($arg),*)) }
    };
}
pub(crate) use {by_rows, by_shape};

/// `C (+)= A * B` over one tile (see [`Tile`]); A is packed row-major
/// ([`super::PackFormat::F32RowsA`]: row `r` of the strip at `t.a + r * kc`).
/// Tiles of at most 4 or 8 valid rows run a 4- or 8-row loop ([`by_rows`]).
///
/// # Safety
/// AVX-512F must be available; `t.a` holds `12 * kc` and `t.b` `kc * 32`
/// packed f32; C and bias as in [`Tile`].
#[target_feature(enable = "avx512f")]
pub unsafe fn kernel_12x32(t: &Tile) {
    // SAFETY: forwarded from the caller (the loops read rows < 12 only).
    unsafe { by_rows!(t, 2, tile(t)) }
}

/// [`kernel_12x32`] on the left 16 columns only, for tiles with `cols <= 16`
/// (the last strip of a narrow GEMM: a 4x4 map at batch 1 has 16 columns,
/// where the full kernel would multiply 16 columns of padding).
///
/// # Safety
/// As [`kernel_12x32`], with `t.cols <= 16`.
#[target_feature(enable = "avx512f")]
pub unsafe fn kernel_12x16(t: &Tile) {
    // SAFETY: forwarded from the caller; cols <= 16 masks out the right half.
    unsafe { by_rows!(t, 1, tile(t)) }
}

/// [`kernel_12x32`] with B read in place instead of from a packed panel:
/// step `k`'s 32 values start at `t.b + taps[k]` (`t.kc == taps.len()`).
/// Direct convolution (`conv::direct`) points it at the input's stride
/// phases, so no im2col panel is packed. A is packed row-major
/// ([`super::PackFormat::F32RowsA`]) whatever the kernel's own format.
///
/// # Safety
/// AVX-512F; `t.a` holds `12 * kc` f32; for every `k`, `t.b + taps[k]` is
/// valid for 32 f32 reads (16 when `t.cols <= 16`); C as in [`Tile`].
#[target_feature(enable = "avx512f")]
pub unsafe fn kernel_12x32_taps(t: &Tile, taps: &[u32]) {
    let b = t.b;
    // SAFETY: forwarded from the caller; `at` stays inside the valid reads.
    unsafe {
        let at = |k: usize| b.add(*taps.get_unchecked(k) as usize);
        by_shape!(t, tile_by(t, at))
    }
}

/// The K loop over the first `R` rows of A and `W` 16-column halves of the
/// packed B panel.
///
/// # Safety
/// AVX-512F; `R <= 12`; panels as in [`kernel_12x32`].
#[inline(always)]
unsafe fn tile<const R: usize, const W: usize>(t: &Tile) -> [[__m512; 2]; R] {
    let b = t.b;
    // SAFETY: forwarded; step k of the packed panel starts at b + 32k.
    unsafe { tile_by::<R, W>(t, |k| b.add(k * NR)) }
}

/// The K loop over the first `R` rows of A and `W` 16-column halves of B,
/// step `k`'s B values at `b_at(k)`; the second half of each accumulator
/// row stays zero when `W` is 1.
///
/// # Safety
/// AVX-512F; `R <= 12`; A as in [`kernel_12x32`]; `b_at(k)` valid for
/// `16 * W` f32 reads for every `k < kc`.
#[inline(always)]
unsafe fn tile_by<const R: usize, const W: usize>(t: &Tile, b_at: impl Fn(usize) -> *const f32) -> [[__m512; 2]; R] {
    // SAFETY: AVX-512F is available (the caller's contract).
    let mut acc = [[unsafe { _mm512_setzero_ps() }; 2]; R];
    // Row pointers plus one shared offset: each broadcast is a `[row + 4k]`
    // memory operand folded into the FMA.
    // SAFETY: rows r < R <= 12 start inside the 12 * kc panel.
    let rows: [*const f32; R] = core::array::from_fn(|r| unsafe { t.a.add(r * t.kc) });
    for k in 0..t.kc {
        // SAFETY: k < kc: inside every row of A; b_at(k) per the contract.
        unsafe {
            let bk = b_at(k);
            let b0 = _mm512_loadu_ps(bk);
            let b1 = if W == 2 { _mm512_loadu_ps(bk.add(16)) } else { _mm512_setzero_ps() };
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*rows[r].add(k));
                accr[0] = _mm512_fmadd_ps(av, b0, accr[0]);
                if W == 2 {
                    accr[1] = _mm512_fmadd_ps(av, b1, accr[1]);
                }
            }
        }
    }
    acc
}

/// Masked epilogue shared with the bf16 kernel: `rows x cols` of `acc` into C.
///
/// # Safety
/// AVX-512F; C and bias as in [`Tile`], `t.cols <= 32`, `t.rows <= R`.
// `acc` by value: a reference would make the kernel keep its accumulators
// in memory, storing them on every K step (measured: 2x slower). Inlined
// into each kernel (no `target_feature` of its own, like `tile_by`): as a
// call it took its 24 accumulators through the stack (exact batch 16
// +0.3-1.8 % in three alternating pairs, fast within noise).
#[inline(always)]
pub(crate) unsafe fn store<const R: usize>(t: &Tile, acc: [[__m512; 2]; R]) {
    let cols = t.cols as u32;
    let m0: __mmask16 = if cols >= 16 { 0xFFFF } else { ((1u32 << cols) - 1) as u16 };
    let m1: __mmask16 = if cols >= 32 {
        0xFFFF
    } else if cols > 16 {
        ((1u32 << (cols - 16)) - 1) as u16
    } else {
        0
    };
    // SAFETY: AVX-512F (the caller's contract).
    let zero = unsafe { _mm512_setzero_ps() };
    for (r, accr) in acc.iter().enumerate().take(t.rows) {
        // SAFETY: row r < rows; the masks keep accesses inside `cols` (of
        // C and of the residual, which has C's shape and row stride).
        unsafe {
            let c = t.c.add(r * t.ldc);
            let (mut v0, mut v1) = (accr[0], accr[1]);
            if t.accumulate {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c.add(16)));
            }
            if !t.bias.is_null() {
                let bv = _mm512_set1_ps(*t.bias.add(r));
                v0 = _mm512_add_ps(v0, bv);
                v1 = _mm512_add_ps(v1, bv);
            }
            if !t.res.is_null() {
                let res = t.res.add(r * t.ldc);
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, res));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, res.add(16)));
            }
            if t.relu {
                v0 = _mm512_max_ps(v0, zero);
                v1 = _mm512_max_ps(v1, zero);
            }
            _mm512_mask_storeu_ps(c, m0, v0);
            _mm512_mask_storeu_ps(c.add(16), m1, v1);
        }
    }
}
