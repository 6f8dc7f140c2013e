//! The portable reference bound: true divisions, one row and one lane after
//! another (what the SIMD kernels are tested against).

use super::{finish, row_tail, QueryGroup, LANES};
use half::f16;

/// See `BoundKernel::candidates`; `masks` (and `bounds`) hold exactly the
/// rows to bound, `rows` at least that many rows of `stride >= g.d` values.
pub(super) fn run(
    g: &QueryGroup,
    rows: &[f16],
    stride: usize,
    worst: &[f32; LANES],
    masks: &mut [u16],
    mut bounds: Option<&mut [[f32; LANES]]>,
) {
    let d = g.d;
    let mut rx = alloc::vec![0f32; d];
    for (r, m) in masks.iter_mut().enumerate() {
        let (sx, ok) = row_tail(&rows[r * stride..r * stride + d], &mut rx);
        let mut h = [0f32; LANES];
        for (&a, ry) in rx.iter().zip(&g.recip) {
            for (hq, &b) in h.iter_mut().zip(ry) {
                // 1 / (1/x + 1/y) = xy / (x + y); 0 when x or y is 0 (1/inf).
                *hq += 1.0 / (a + b);
            }
        }
        *m = finish(sx, ok, &h, g, worst, bounds.as_deref_mut().map(|b| &mut b[r]));
    }
}

/// Single-query bounds (see `BoundKernel::row_bounds`) with true divisions.
pub(super) fn single(q: &[f32], rows: &[f16], stride: usize, out: &mut [f32]) {
    let tiny = super::tiny(q.len());
    for (r, o) in out.iter_mut().enumerate() {
        *o = super::single_bound(0.0, false, &rows[r * stride..r * stride + q.len()], q, 0, tiny);
    }
}
