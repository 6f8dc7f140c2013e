//! `C = A x B` and `C += A x B` on strided views of f32 slices, through the
//! `gemm` crate that burn-flex's own matmul calls.
//!
//! Why not burn-flex's matmul: it returns a fresh tensor, which it
//! allocates as bytes and then copies once more to an aligned buffer
//! (`FlexTensor::empty`; 3.5 % of a ResNet50 step at batch 16), and every
//! fresh activation-sized buffer costs a page fault per 4 KiB on its first
//! write (9 % of that step). Here the convolution writes each product where
//! it goes: straight into the output tensor, or into one buffer it reuses
//! for every block.

use gemm::Parallelism;

/// A strided matrix over a slice: element `(i, j)` at
/// `offset + i * row_stride + j * col_stride`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct View {
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl View {
    /// A dense row-major `rows x cols` matrix at the start of its slice.
    pub fn row_major(rows: usize, cols: usize) -> Self {
        View { offset: 0, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The same elements as the transposed matrix (no copy).
    pub fn t(self) -> Self {
        View {
            offset: self.offset,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Whether every element lies inside a slice of `len` values (checked
    /// arithmetic: a view whose last index overflows does not fit).
    fn fits(&self, len: usize) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return self.offset <= len;
        }
        let last = (self.rows - 1)
            .checked_mul(self.row_stride)
            .and_then(|r| (self.cols - 1).checked_mul(self.col_stride).and_then(|c| r.checked_add(c)))
            .and_then(|rc| rc.checked_add(self.offset));
        matches!(last, Some(i) if i < len) && isize::try_from(self.row_stride.max(self.col_stride)).is_ok()
    }

    /// Whether no two elements share an index, so a parallel product
    /// writes each exactly once: rows or columns dense and apart.
    fn distinct(&self) -> bool {
        (self.rows <= 1 && (self.cols <= 1 || self.col_stride >= 1))
            || (self.cols <= 1 && self.row_stride >= 1)
            || (self.col_stride == 1 && self.row_stride >= self.cols)
            || (self.row_stride == 1 && self.col_stride >= self.rows)
    }
}

/// `dst[d] = a[av] x b[bv]`, or `dst[d] += a[av] x b[bv]` when
/// `accumulate`; `false` (nothing written) when the shapes disagree, a
/// view reaches past its slice, or `d` would name one element twice.
/// Runs on rayon's pool for products of at least 192^3 multiply-adds, as
/// burn-flex's matmul does.
pub(super) fn matmul(dst: &mut [f32], d: View, a: &[f32], av: View, b: &[f32], bv: View, accumulate: bool) -> bool {
    let (m, n, k) = (d.rows, d.cols, av.cols);
    if av.rows != m
        || bv.rows != k
        || bv.cols != n
        || !d.fits(dst.len())
        || !av.fits(a.len())
        || !bv.fits(b.len())
        || !d.distinct()
    {
        return false;
    }
    if m == 0 || n == 0 {
        return true;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[d.offset + i * d.row_stride + j * d.col_stride] = 0.0;
                }
            }
        }
        return true;
    }
    let parallelism = if m.saturating_mul(n).saturating_mul(k) >= 192 * 192 * 192 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    // Strides fit isize (checked by `fits`).
    let s = |v: usize| v as isize;
    // SAFETY: `fits` keeps every element of the three views inside its
    // slice, `distinct` keeps the destination's elements apart (the
    // product's threads write disjoint ones), and `dst` is a unique borrow,
    // so it aliases neither operand. `gemm` reads `m*k` and `k*n` elements
    // of the operands and writes (reads too, when accumulating) `m*n` of
    // `dst` at the given strides.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().add(d.offset),
            s(d.col_stride),
            s(d.row_stride),
            accumulate,
            a.as_ptr().add(av.offset),
            s(av.col_stride),
            s(av.row_stride),
            b.as_ptr().add(bv.offset),
            s(bv.col_stride),
            s(bv.row_stride),
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain triple loop over the same views.
    fn reference(dst: &mut [f32], d: View, a: &[f32], av: View, b: &[f32], bv: View, accumulate: bool) {
        for i in 0..d.rows {
            for j in 0..d.cols {
                let sum: f32 = (0..av.cols)
                    .map(|p| {
                        a[av.offset + i * av.row_stride + p * av.col_stride]
                            * b[bv.offset + p * bv.row_stride + j * bv.col_stride]
                    })
                    .sum();
                let at = d.offset + i * d.row_stride + j * d.col_stride;
                dst[at] = if accumulate { dst[at] + sum } else { sum };
            }
        }
    }

    fn ramp(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| ((i.wrapping_mul(2654435761).wrapping_add(seed) >> 16) % 97) as f32 / 48.0 - 1.0)
            .collect()
    }

    /// Row-major, transposed, offset and padded-row views, small and past
    /// the parallel threshold, writing and accumulating: the same values
    /// as the triple loop, and nothing outside the destination view.
    #[test]
    fn strided_products_equal_the_triple_loop() {
        for (m, n, k) in [(3, 5, 4), (1, 7, 9), (17, 1, 6), (200, 210, 190), (33, 40, 1)] {
            for accumulate in [false, true] {
                for transpose_a in [false, true] {
                    // dst: rows of n values padded to n + 3, from offset 5.
                    let d = View { offset: 5, rows: m, cols: n, row_stride: n + 3, col_stride: 1 };
                    let av = if transpose_a { View::row_major(k, m).t() } else { View::row_major(m, k) };
                    // b: a column block of a wider matrix.
                    let bv = View { offset: 2, rows: k, cols: n, row_stride: n + 2, col_stride: 1 };
                    let (a, b) = (ramp(m * k, 1), ramp(2 + k * (n + 2), 2));
                    let start = ramp(5 + m * (n + 3) + 4, 3);
                    let (mut ours, mut theirs) = (start.clone(), start.clone());
                    assert!(matmul(&mut ours, d, &a, av, &b, bv, accumulate));
                    reference(&mut theirs, d, &a, av, &b, bv, accumulate);
                    let worst = ours.iter().zip(&theirs).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
                    assert!(
                        worst <= 1e-3 * (k as f32).sqrt(),
                        "{m}x{n}x{k} accumulate {accumulate} transpose {transpose_a}: {worst}"
                    );
                    // The padding between rows and the ends are untouched.
                    assert_eq!(ours[..5], start[..5]);
                    assert_eq!(ours[5 + (m - 1) * (n + 3) + n..], start[5 + (m - 1) * (n + 3) + n..]);
                    assert!((0..m - 1).all(|i| ours[5 + i * (n + 3) + n..5 + (i + 1) * (n + 3)]
                        == start[5 + i * (n + 3) + n..5 + (i + 1) * (n + 3)]));
                }
            }
        }
    }

    /// Views that would read or write out of bounds, overlap in the
    /// destination, or disagree in shape are refused, and nothing is written.
    #[test]
    fn bad_views_are_refused_without_writing() {
        let (a, b) = (vec![1f32; 12], vec![1f32; 12]);
        let mut dst = vec![7f32; 12];
        let ok = |d: View, av: View, bv: View, dst: &mut Vec<f32>| matmul(dst, d, &a, av, &b, bv, false);
        let (d, av, bv) = (View::row_major(3, 4), View::row_major(3, 3), View::row_major(3, 4));
        assert!(!ok(View { offset: 1, ..d }, av, bv, &mut dst), "destination past the end");
        assert!(!ok(d, View { offset: 4, ..av }, bv, &mut dst), "lhs past the end");
        assert!(!ok(d, av, View { row_stride: 5, ..bv }, &mut dst), "rhs past the end");
        assert!(!ok(View { row_stride: 2, ..d }, av, bv, &mut dst), "overlapping destination rows");
        assert!(!ok(d, View::row_major(3, 2), bv, &mut dst), "inner dimensions disagree");
        assert!(!ok(d, av, View { offset: usize::MAX, ..bv }, &mut dst), "overflowing offset");
        assert!(dst.iter().all(|&v| v == 7.0), "a refused product wrote");
        assert!(ok(d, av, bv, &mut dst));
        assert!(dst.iter().all(|&v| v == 3.0));
    }
}
