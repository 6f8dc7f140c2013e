//! Software prefetch of weights the next packing step will read.

use super::MC;
use half::f16;

/// Software prefetch of the next A block's f16 weights, a share per tile of
/// the current block. Weights are used once per column block, so with few
/// columns (batch 1 on small maps: 16 columns, one strip) widening them is
/// a wait on memory that the hardware prefetcher does not hide (96 rows of
/// 512 bytes, each in a different page): `pack_a`'s widening was 15 % of
/// ResNet50's batch-1 time. Fetching the rows while the current
/// tiles compute overlaps that wait with arithmetic: ResNet50 batch-1
/// latency 19.5 -> 17.7 ms (`_MM_HINT_T0`; 18.1 ms with `T1`).
// Other targets keep the bookkeeping but issue no prefetches.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct NextA {
    /// Start of the next row to fetch, the row pitch (bytes).
    row: *const u8,
    pitch: usize,
    /// Lines per row, rows left, the next line within the current row.
    per_row: usize,
    rows_left: usize,
    line: usize,
    /// Lines per tile.
    per_step: usize,
}

impl NextA {
    const LINE: usize = 64;

    /// `rows` runs of `len` f16 values, the first at `w[start..]`, each
    /// `pitch` values after the previous, fetched over `steps` calls of
    /// [`NextA::step`]. Nothing is fetched when `rows` is 0.
    pub fn rows(w: &[f16], start: usize, pitch: usize, len: usize, rows: usize, steps: usize) -> NextA {
        let per_row = (len * 2).div_ceil(Self::LINE).max(1);
        NextA {
            row: w.as_ptr().wrapping_add(start) as *const u8,
            pitch: pitch * 2,
            per_row,
            rows_left: rows,
            line: 0,
            per_step: (rows * per_row).div_ceil(steps.max(1)),
        }
    }

    /// The GEMM's A block after rows `ic..ic+MC`, depth `pc..pc+kc_max`
    /// (`m x k` weights): the next rows at this depth, else the first rows
    /// at the next depth (none after the last block of a column block: the
    /// next column block starts over at row 0, still cached when it fits).
    pub fn after(w: &[f16], k: usize, m: usize, ic: usize, pc: usize, kc_max: usize, steps: usize) -> NextA {
        let (row0, k0) = if ic + MC < m { (ic + MC, pc) } else { (0, pc + kc_max) };
        let (rows, kc) = if k0 < k { (MC.min(m - row0), kc_max.min(k - k0)) } else { (0, 0) };
        NextA::rows(w, row0 * k + k0, k, kc, rows, steps)
    }

    /// Issue this tile's share of prefetches.
    #[inline(always)]
    pub fn step(&mut self) {
        #[cfg(target_arch = "x86_64")]
        for _ in 0..self.per_step {
            if self.rows_left == 0 {
                return;
            }
            let p = self.row.wrapping_add(self.line * Self::LINE);
            // SAFETY: a prefetch is a hint that never faults, whatever the
            // address (here always inside the weight slice anyway).
            unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8) };
            self.line += 1;
            if self.line == self.per_row {
                self.line = 0;
                self.rows_left -= 1;
                self.row = self.row.wrapping_add(self.pitch);
            }
        }
    }
}
