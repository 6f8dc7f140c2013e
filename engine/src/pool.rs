//! Max, average and global average pooling over planes.
//! Max pooling treats padding as -infinity; average pooling divides by the
//! number of in-bounds elements of each window (PyTorch's
//! `count_include_pad=False`).

use crate::act::{Elem, Planes};
use crate::conv::Geometry;

/// Which window reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum; padding is -inf.
    Max,
    /// Mean over in-bounds elements.
    Avg,
}

/// `max` that keeps a NaN from either side (as PyTorch's max pooling does).
#[inline(always)]
fn nan_max(a: f32, b: f32) -> f32 {
    if b > a || b.is_nan() {
        b
    } else {
        a
    }
}

/// Pool `batch` samples of `src` (geometry `g`) into `out`
/// (`[c][batch][oh*ow]` f32), with optional ReLU. Inlined so that callers
/// can compile it for wider vectors (`kernels::widest`).
#[inline(always)]
pub fn pool<P: Planes>(kind: PoolKind, g: &Geometry, src: &P, batch: usize, relu: bool, out: &mut [f32]) {
    let ohw = g.oh * g.ow;
    for c in 0..g.c {
        for b in 0..batch {
            let plane = src.plane(c, b);
            let o = &mut out[(c * batch + b) * ohw..(c * batch + b + 1) * ohw];
            if kind == PoolKind::Max
                && g.w <= MAX_ROW
                && g.pad <= MAX_PAD
                && (g.ow.max(1) - 1) * g.stride + g.kw <= g.w + 2 * g.pad
            {
                max_plane(g, plane, relu, o);
                continue;
            }
            for oy in 0..g.oh {
                let y0 = (oy * g.stride) as isize - g.pad as isize;
                let ys = y0.max(0) as usize;
                let ye = ((y0 + g.kh as isize).min(g.h as isize)).max(0) as usize;
                for ox in 0..g.ow {
                    let x0 = (ox * g.stride) as isize - g.pad as isize;
                    let xs = x0.max(0) as usize;
                    let xe = ((x0 + g.kw as isize).min(g.w as isize)).max(0) as usize;
                    let mut v = match kind {
                        PoolKind::Max => f32::NEG_INFINITY,
                        PoolKind::Avg => 0.0,
                    };
                    for y in ys..ye {
                        for x in &plane[y * g.w + xs..y * g.w + xe] {
                            let x = x.f32();
                            v = match kind {
                                PoolKind::Max => nan_max(v, x),
                                PoolKind::Avg => v + x,
                            };
                        }
                    }
                    if kind == PoolKind::Avg {
                        let count = (ye.saturating_sub(ys) * xe.saturating_sub(xs)).max(1);
                        v /= count as f32;
                    }
                    if relu && v < 0.0 {
                        v = 0.0;
                    }
                    o[oy * g.ow + ox] = v;
                }
            }
        }
    }
}

/// Widest input row and padding the separable max pool handles (its row
/// buffers).
const MAX_ROW: usize = 512;
const MAX_PAD: usize = 8;

/// Max pooling of one plane as two passes: the maximum down each window's
/// rows (contiguous, vectorised), then across each window's columns. Same
/// result as the direct window loop (max is exact and order-free; NaN is
/// kept), at about a third of its cost for the 3x3/2 stem pool.
#[inline(always)]
fn max_plane<E: Elem>(g: &Geometry, plane: &[E], relu: bool, o: &mut [f32]) {
    let mut col = [0f32; MAX_ROW];
    let col = &mut col[..g.w];
    let mut padded = [f32::NEG_INFINITY; MAX_ROW + 2 * MAX_PAD];
    for oy in 0..g.oh {
        let y0 = (oy * g.stride) as isize - g.pad as isize;
        let ys = y0.max(0) as usize;
        let ye = ((y0 + g.kh as isize).min(g.h as isize)).max(0) as usize;
        col.fill(f32::NEG_INFINITY);
        for y in ys..ye {
            for (m, x) in col.iter_mut().zip(&plane[y * g.w..(y + 1) * g.w]) {
                *m = nan_max(*m, x.f32());
            }
        }
        // Across the window's columns, one window offset at a time over
        // every output (strided reads of a row padded with -inf: a loop
        // LLVM vectorises, where a window per output was a scalar loop of
        // 1-3 values).
        let padded = &mut padded[..g.w + 2 * g.pad];
        padded[g.pad..g.pad + g.w].copy_from_slice(col);
        let dst = &mut o[oy * g.ow..(oy + 1) * g.ow];
        dst.fill(f32::NEG_INFINITY);
        for kx in 0..g.kw {
            for (ox, d) in dst.iter_mut().enumerate() {
                *d = nan_max(*d, padded[ox * g.stride + kx]);
            }
        }
        if relu {
            for d in dst.iter_mut() {
                if *d < 0.0 {
                    *d = 0.0;
                }
            }
        }
    }
}

/// Mean over each `hw`-pixel plane: `out[c][b]`, optional ReLU.
pub fn global_avg<P: Planes>(src: &P, channels: usize, hw: usize, batch: usize, relu: bool, out: &mut [f32]) {
    for c in 0..channels {
        for b in 0..batch {
            let s: f32 = src.plane(c, b).iter().map(|x| x.f32()).sum();
            let mut v = s / hw as f32;
            if relu && v < 0.0 {
                v = 0.0;
            }
            out[c * batch + b] = v;
        }
    }
}
