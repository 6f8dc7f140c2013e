//! The geometry of one convolution: output blocks, and the im2col /
//! col2im row copies between an input plane and a panel.

use rayon::prelude::*;
use std::ops::Range;

/// Sizes of one convolution (input planes `h x w`, kernel `kh x kw`,
/// output planes `oh x ow`, stride and padding per axis).
#[derive(Clone, Copy)]
pub(super) struct Geo {
    pub(super) h: usize,
    pub(super) w: usize,
    /// Columns of one column phase, `ceil(w / sx)`.
    pub(super) wq: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    pub(super) stride: [usize; 2],
    pub(super) pad: [usize; 2],
}

/// Output pixels of `samples` samples from `first_sample` on (of a
/// chunk), output rows `rows` of each: a contiguous run of panel columns.
pub(super) struct Block {
    pub(super) first_sample: usize,
    pub(super) samples: usize,
    pub(super) rows: Range<usize>,
}

impl Block {
    pub(super) fn cols(&self, ow: usize) -> usize {
        self.samples * self.rows.len() * ow
    }
}

impl Geo {
    /// `nb` samples' output pixels cut into blocks of about `columns`:
    /// whole samples where one fits, else whole rows of one sample.
    pub(super) fn blocks(&self, nb: usize, columns: usize) -> Vec<Block> {
        let l = self.oh * self.ow;
        if l <= columns {
            let per = (columns / l).max(1);
            (0..nb)
                .step_by(per)
                .map(|s| Block { first_sample: s, samples: per.min(nb - s), rows: 0..self.oh })
                .collect()
        } else {
            let per = (columns / self.ow).max(1);
            (0..nb)
                .flat_map(|s| {
                    (0..self.oh).step_by(per).map(move |r| Block {
                        first_sample: s,
                        samples: 1,
                        rows: r..(r + per).min(self.oh),
                    })
                })
                .collect()
        }
    }

    /// The input row under tap row `ky` for output row `oy`, if inside.
    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.stride[0] + ky).checked_sub(self.pad[0]).filter(|&iy| iy < self.h)
    }

    /// The output columns `first..end` whose input column
    /// `ox*sx + kx - px` lies inside the row, and that input column for
    /// `first`.
    fn inside_cols(&self, kx: usize) -> (usize, usize, usize) {
        let (sx, px) = (self.stride[1], self.pad[1]);
        let first = px.saturating_sub(kx).div_ceil(sx).min(self.ow);
        let end = if self.w + px > kx { ((self.w + px - kx - 1) / sx + 1).min(self.ow) } else { 0 }.max(first);
        (first, end, (first * sx + kx).saturating_sub(px))
    }

    /// `x` (`[N, C, H, W]`) split into column phases,
    /// `[N][C][sx][H][wq]`: phase `p`, column `q` holds input column
    /// `q*sx + p` (zero past the row's end, which no panel reads).
    pub(super) fn phases(&self, x: &[f32]) -> Vec<f32> {
        let (sx, wq, hw) = (self.stride[1], self.wq, self.h * self.w);
        let mut out = vec![0f32; x.len() / hw.max(1) * sx * self.h * wq];
        out.par_chunks_exact_mut(sx * self.h * wq).zip(x.par_chunks_exact(hw)).for_each(|(dst, plane)| {
            for (p, phase) in dst.chunks_exact_mut(self.h * wq).enumerate() {
                for (row, src) in phase.chunks_exact_mut(wq).zip(plane.chunks_exact(self.w)) {
                    for (d, s) in row.iter_mut().zip(src.iter().skip(p).step_by(sx)) {
                        *d = *s;
                    }
                }
            }
        });
        out
    }

    /// Row `r = (c, ky, kx)` of one sample's im2col panel over the
    /// output rows `rows`: the input value under tap `(ky, kx)` of
    /// channel `c` for each of their pixels (`rows.len()*ow` values,
    /// zero in the padding). `src` is the sample's part of
    /// [`Job::source`]: CHW, or its column phases (`[C][sx][H][wq]`).
    pub(super) fn im2col_row(&self, r: usize, src: &[f32], rows: Range<usize>, out: &mut [f32]) {
        let (ci, t) = (r / (self.kh * self.kw), r % (self.kh * self.kw));
        let (ky, kx) = (t / self.kw, t % self.kw);
        let (sx, wq) = (self.stride[1], self.wq);
        let (first, end, x0) = self.inside_cols(kx);
        // Consecutive output columns read consecutive columns of one phase.
        let phase = (ci * sx + x0 % sx) * self.h * wq;
        let plane = &src[phase..phase + self.h * wq];
        let q0 = x0 / sx;
        for (oy, dst) in rows.zip(out.chunks_exact_mut(self.ow)) {
            let Some(iy) = self.input_row(oy, ky) else {
                dst.fill(0.0);
                continue;
            };
            dst[..first].fill(0.0);
            dst[end..].fill(0.0);
            if end > first {
                dst[first..end].copy_from_slice(&plane[iy * wq + q0..iy * wq + q0 + (end - first)]);
            }
        }
    }

    /// The inverse of [`Geo::im2col_row`] for one channel and the output
    /// rows `rows`: adds the `kh*kw` panel rows of channel `ci` (each
    /// `rows.len()*ow` values from column `col0` of a panel with `cols`
    /// columns) into the `h x w` plane `dst` at the input pixels they
    /// were read from.
    pub(super) fn col2im_add(
        &self,
        ci: usize,
        panel: &[f32],
        cols: usize,
        col0: usize,
        rows: Range<usize>,
        dst: &mut [f32],
    ) {
        let taps = self.kh * self.kw;
        let (l, sx) = (rows.len() * self.ow, self.stride[1]);
        for t in 0..taps {
            let (ky, kx) = (t / self.kw, t % self.kw);
            let at = (ci * taps + t) * cols + col0;
            let Some(row) = panel.get(at..at + l) else { return };
            let (first, end, x0) = self.inside_cols(kx);
            for (oy, src) in rows.clone().zip(row.chunks_exact(self.ow)) {
                let Some(iy) = self.input_row(oy, ky) else { continue };
                if end == first {
                    continue;
                }
                let line = &mut dst[iy * self.w + x0..(iy + 1) * self.w];
                if sx == 1 {
                    line[..end - first].iter_mut().zip(&src[first..end]).for_each(|(d, s)| *d += s);
                } else {
                    line.iter_mut().step_by(sx).zip(&src[first..end]).for_each(|(d, s)| *d += s);
                }
            }
        }
    }
}
