//! A faster, approximate first pass: one bit per feature dimension (value
//! above that dimension's median over the database), Hamming distance on
//! 64-bit words, then exact re-ranking of the best candidates.
//!
//! A 128-d f16 row (256 bytes) becomes 16 bytes of code, so the coarse scan
//! reads 16x less memory; the exact distance is computed only for the
//! `candidates` rows the codes rank best. Its recall against exact search is
//! measured by the search benchmark and `bemm retrieval-eval --coarse`.

use super::distance::{Kernel, Metric};
use super::topk::{Hit, TopK};
use alloc::vec::Vec;
use half::f16;

/// Candidates kept for exact re-ranking per result wanted, by default
/// (`k * 30`: 3,000 for a top-100). On the search benchmark's clustered
/// features (590,000 rows) this keeps recall 1.0 of the exact top-100 where
/// `k * 10` keeps about 0.6; the Hamming ranking is coarse (128 bits, values
/// 0..=128, so many rows tie), hence the margin.
pub const DEFAULT_CANDIDATE_FACTOR: usize = 30;

/// Largest number of rows sampled to estimate the per-dimension medians.
pub const MEDIAN_SAMPLE: usize = 1 << 16;

/// Sign codes of every database row.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryCodes {
    dim: usize,
    words: usize,
    thresholds: Vec<f32>,
    codes: Vec<u64>,
}

impl BinaryCodes {
    /// Codes for `rows.len() / stride` rows of which the first `dim` values
    /// are used (`dim <= stride`). Thresholds are per-dimension medians over
    /// an evenly spaced sample of at most [`MEDIAN_SAMPLE`] rows.
    pub fn build(rows: &[f16], stride: usize, dim: usize) -> Self {
        let dim = dim.min(stride);
        let n = rows.len().checked_div(stride).unwrap_or(0);
        let words = dim.div_ceil(64);
        let step = n.div_ceil(MEDIAN_SAMPLE).max(1);
        let mut thresholds = Vec::with_capacity(dim);
        let mut col: Vec<f32> = Vec::with_capacity(n / step + 1);
        for j in 0..dim {
            col.clear();
            col.extend((0..n).step_by(step).map(|r| rows[r * stride + j].to_f32()));
            col.sort_unstable_by(f32::total_cmp);
            thresholds.push(col.get(col.len() / 2).copied().unwrap_or(0.0));
        }
        let mut me = BinaryCodes { dim, words, thresholds, codes: Vec::with_capacity(n * words) };
        let mut tmp = alloc::vec![0f32; dim];
        for r in 0..n {
            for (t, v) in tmp.iter_mut().zip(&rows[r * stride..r * stride + dim]) {
                *t = v.to_f32();
            }
            let start = me.codes.len();
            me.codes.resize(start + words, 0);
            encode_into(&me.thresholds, &tmp, &mut me.codes[start..]);
        }
        me
    }

    /// Rows coded.
    pub fn len(&self) -> usize {
        self.codes.len().checked_div(self.words).unwrap_or(0)
    }

    /// Whether no row is coded.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Bytes of code per row.
    pub fn bytes_per_row(&self) -> usize {
        self.words * 8
    }

    /// The code of a query vector (missing values read as 0).
    pub fn encode(&self, v: &[f32]) -> Vec<u64> {
        let mut out = alloc::vec![0u64; self.words];
        let mut full = alloc::vec![0f32; self.dim];
        for (f, x) in full.iter_mut().zip(v) {
            *f = *x;
        }
        encode_into(&self.thresholds, &full, &mut out);
        out
    }

    /// The `n` rows with the smallest Hamming distance to `code` (ties: lower
    /// index first), skipping `exclude` and rows where `allowed` is false.
    pub fn candidates(&self, code: &[u64], n: usize, exclude: Option<u32>, allowed: Option<&[bool]>) -> Vec<u32> {
        let mut top = TopK::new(n);
        let w = self.words;
        for (r, c) in self.codes.chunks_exact(w).enumerate() {
            let d: u32 = c.iter().zip(code).map(|(a, b)| (a ^ b).count_ones()).sum();
            let d = d as f32;
            if d < top.worst()
                && exclude != Some(r as u32)
                && allowed.is_none_or(|a| a.get(r).copied().unwrap_or(false))
            {
                top.push(r as u32, d);
            }
        }
        top.into_sorted().into_iter().map(|h| h.index).collect()
    }
}

fn encode_into(thresholds: &[f32], v: &[f32], out: &mut [u64]) {
    for w in out.iter_mut() {
        *w = 0;
    }
    for (j, (&x, &t)) in v.iter().zip(thresholds).enumerate() {
        if x > t {
            out[j / 64] |= 1u64 << (j % 64);
        }
    }
}

/// Exact distances of `candidates` (row indices) to `query`, best `k` first.
pub fn rerank(
    kernel: Kernel,
    metric: Metric,
    query: &[f32],
    rows: &[f16],
    stride: usize,
    candidates: &[u32],
    k: usize,
) -> Vec<Hit> {
    let mut top = TopK::new(k);
    let mut d = [0f32; 1];
    for &c in candidates {
        let s = c as usize * stride;
        if let Some(row) = rows.get(s..s + stride) {
            kernel.distances(metric, query, row, stride, &mut d);
            top.push(c, d[0]);
        }
    }
    top.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_threshold_at_the_median_and_rank_by_hamming() {
        // 4 rows, 2 dims: medians (sample sorted, element len/2) are 2 and 20.
        let vals = [[1.0f32, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]];
        let mut rows = alloc::vec![f16::ZERO; 4 * 32];
        for (r, v) in vals.iter().enumerate() {
            rows[r * 32] = f16::from_f32(v[0]);
            rows[r * 32 + 1] = f16::from_f32(v[1]);
        }
        let b = BinaryCodes::build(&rows, 32, 2);
        assert_eq!(b.len(), 4);
        assert_eq!(b.thresholds, alloc::vec![3.0, 30.0]);
        assert_eq!(b.codes, alloc::vec![0, 0, 0, 3]);
        let q = b.encode(&[5.0, 0.0]); // bit 0 only
        assert_eq!(q, alloc::vec![1]);
        // Every row is at Hamming distance 1 from q: ties keep index order.
        assert_eq!(b.candidates(&q, 2, None, None), alloc::vec![0, 1]);
        assert_eq!(b.candidates(&q, 2, Some(0), None), alloc::vec![1, 2]);
        let hits = rerank(Kernel::Scalar, Metric::SquaredL2, &[4.0, 39.0], &rows, 32, &[0, 3, 2], 2);
        assert_eq!(hits.iter().map(|h| h.index).collect::<Vec<_>>(), alloc::vec![3, 2]);
    }
}
