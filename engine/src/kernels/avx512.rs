//! x86-64 AVX-512F 12x32 micro-kernel (24 zmm accumulators), masked edges,
//! and the skeleton it shares with the AVX512-BF16 kernel: the row-count
//! dispatch (`by_rows`, `by_shape`), the K loop over a [`Step`]
//! (`tile_by`), the entry points (`kernels_12x32`) and the epilogue
//! (`store`). Format: A row-major `[12][kc]` f32
//! ([`super::PackFormat::F32RowsA`]), B `[kc][32]`.

use super::Tile;
use core::arch::x86_64::*;

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
        if $t.cols <= 16 {
            $crate::kernels::avx512::by_rows!($t, 1, $tile($($arg),*))
        } else {
            $crate::kernels::avx512::by_rows!($t, 2, $tile($($arg),*))
        }
    };
}
pub(crate) use {by_rows, by_shape};

/// How one packed step of an AVX-512 kernel multiplies: the only part the
/// f32 and bf16 kernels do not share.
pub(crate) trait Step: Copy {
    /// Packed steps (rows of the panels) of a K block of `kc` values.
    fn depth(self, kc: usize) -> usize;

    /// `acc + a * b` over one vector of packed B values and a broadcast A slot.
    ///
    /// # Safety
    /// The CPU features of the kernel using this step.
    unsafe fn madd(self, acc: __m512, a: __m512, b: __m512) -> __m512;
}

/// f32 values, one per slot: `vfmadd231ps`.
#[derive(Clone, Copy)]
pub(crate) struct F32;

impl Step for F32 {
    #[inline(always)]
    fn depth(self, kc: usize) -> usize {
        kc
    }

    #[inline(always)]
    unsafe fn madd(self, acc: __m512, a: __m512, b: __m512) -> __m512 {
        // SAFETY: AVX-512F (the caller's contract).
        unsafe { _mm512_fmadd_ps(a, b, acc) }
    }
}

/// Generates a 12x32 kernel module's three entry points over `$step`, each
/// compiled with `$features`: `kernel_12x32` (the registered `run`),
/// `kernel_12x16` (`narrow`) and `kernel_12x32_taps` (`taps`).
macro_rules! kernels_12x32 {
    ($features:literal, $step:expr) => {
        #[doc = concat!("`C (+)= A * B` over one tile (see [`Tile`]) with `", $features, "`; A is packed")]
        /// row-major (row `r` of the strip at `t.a + r * depth`), B as
        /// `[depth][32]`, in this module's format. Tiles of at most 4 or 8
        /// valid rows run a 4- or 8-row loop (`by_rows`).
        ///
        /// # Safety
        #[doc = concat!("`", $features, "` must be available; `t.a` holds `12 * depth` and `t.b`")]
        /// `depth * 32` packed slots; C and bias as in [`Tile`].
        #[target_feature(enable = $features)]
        pub unsafe fn kernel_12x32(t: &Tile) {
            // SAFETY: forwarded from the caller (the loops read rows < 12 only).
            unsafe { $crate::kernels::avx512::by_rows!(t, 2, tile(t, $step)) }
        }

        /// [`kernel_12x32`] on the left 16 columns only, for tiles with
        /// `cols <= 16` (the last strip of a narrow GEMM: a 4x4 map at batch
        /// 1 has 16 columns, where the full kernel would multiply 16 columns
        /// of padding).
        ///
        /// # Safety
        /// As [`kernel_12x32`], with `t.cols <= 16`.
        #[target_feature(enable = $features)]
        pub unsafe fn kernel_12x16(t: &Tile) {
            // SAFETY: forwarded from the caller; cols <= 16 masks out the right half.
            unsafe { $crate::kernels::avx512::by_rows!(t, 1, tile(t, $step)) }
        }

        /// [`kernel_12x32`] with B read in place instead of from a packed
        /// panel: step `d`'s 32 slots start at `t.b + taps[d]`
        /// (`taps.len()` is the depth of `t.kc`). Direct convolution
        /// (`conv::direct`) points it at the input's stride phases, so no
        /// im2col panel is packed. A is packed row-major in this module's
        /// format.
        ///
        /// # Safety
        #[doc = concat!("`", $features, "`; `t.a` holds `12 * taps.len()` slots; for every `d`,")]
        /// `t.b + taps[d]` is valid for 32 slot reads (16 when `t.cols <=
        /// 16`); C as in [`Tile`].
        #[target_feature(enable = $features)]
        pub unsafe fn kernel_12x32_taps(t: &Tile, taps: &[u32]) {
            let b = t.b;
            // SAFETY: forwarded from the caller; `at` stays inside the valid reads.
            unsafe {
                let at = |d: usize| b.add(*taps.get_unchecked(d) as usize);
                $crate::kernels::avx512::by_shape!(t, tile_by(t, $step, at))
            }
        }

        /// The K loop over the first `R` rows of A and `W` 16-column halves
        /// of the packed B panel.
        ///
        /// # Safety
        /// As [`kernel_12x32`]; `R <= 12`.
        #[inline(always)]
        unsafe fn tile<const R: usize, const W: usize>(
            t: &Tile,
            step: impl $crate::kernels::avx512::Step,
        ) -> [[core::arch::x86_64::__m512; 2]; R] {
            let b = t.b;
            // SAFETY: forwarded; step d of the packed panel starts at b + 32d.
            unsafe { tile_by::<R, W>(t, step, |d| b.add(d * 32)) }
        }
    };
}
pub(crate) use kernels_12x32;

kernels_12x32!("avx512f", F32);

/// The K loop over the first `R` rows of A and `W` 16-column halves of B,
/// step `d`'s B values at `b_at(d)`, multiplied by `step`; the second half
/// of each accumulator row stays zero when `W` is 1.
///
/// # Safety
/// The CPU features `step` needs (AVX-512F at least); `R <= 12`; A holds
/// `R` rows of `depth = step.depth(t.kc)` slots, `depth` apart; `b_at(d)`
/// valid for `16 * W` slot reads for every `d < depth`.
#[inline(always)]
pub(crate) unsafe fn tile_by<const R: usize, const W: usize>(
    t: &Tile,
    step: impl Step,
    b_at: impl Fn(usize) -> *const f32,
) -> [[__m512; 2]; R] {
    // SAFETY: AVX-512F is available (the caller's contract).
    let mut acc = [[unsafe { _mm512_setzero_ps() }; 2]; R];
    let depth = step.depth(t.kc);
    // Row pointers plus one shared offset: each broadcast is a `[row + 4d]`
    // memory operand folded into the multiply-add.
    // SAFETY: rows r < R <= 12 start inside the 12 * depth panel.
    let rows: [*const f32; R] = core::array::from_fn(|r| unsafe { t.a.add(r * depth) });
    for d in 0..depth {
        // SAFETY: d < depth: inside every row of A; b_at(d) per the contract.
        unsafe {
            let bd = b_at(d);
            let b0 = _mm512_loadu_ps(bd);
            let b1 = if W == 2 { _mm512_loadu_ps(bd.add(16)) } else { _mm512_setzero_ps() };
            for (r, accr) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*rows[r].add(d));
                accr[0] = step.madd(accr[0], av, b0);
                if W == 2 {
                    accr[1] = step.madd(accr[1], av, b1);
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
