//! The implicit `K x N` im2col matrix of a convolution: packed block by
//! block straight from the input planes, never materialised.

use super::Geometry;
use crate::act::{Elem, Planes};
use crate::gemm::PackB;
use crate::kernels::widest::widest;
use crate::kernels::Isa;

/// Longest input span (values) a strided run widens at once: a 32-column
/// strip at stride 2 spans 63 values.
const STRIDED_SPAN: usize = 128;

/// The output pixel `(sample, row, column)` of an im2col column, stepped
/// along output rows a segment at a time.
#[derive(Clone, Copy)]
struct Pixel {
    b: usize,
    oy: usize,
    ox: usize,
}

impl Pixel {
    /// The pixel of column `n` (`n = (b * oh + oy) * ow + ox`).
    #[inline(always)]
    fn of(n: usize, g: &Geometry) -> Pixel {
        let ohw = g.oh * g.ow;
        let (b, r) = (n / ohw, n % ohw);
        Pixel { b, oy: r / g.ow, ox: r % g.ow }
    }

    /// Move `seg` columns on; a segment never crosses the end of an output row.
    #[inline(always)]
    fn advance(&mut self, seg: usize, g: &Geometry) {
        self.ox += seg;
        if self.ox == g.ow {
            self.ox = 0;
            self.oy += 1;
            if self.oy == g.oh {
                self.oy = 0;
                self.b += 1;
            }
        }
    }
}

/// The implicit `K x N` im2col matrix of a batch: row `k = (c, ky, kx)`,
/// column `n = (b, y, x)`; zero where the window leaves the input.
pub(crate) struct Im2col<'p, P: Planes> {
    /// Input planes.
    pub src: &'p P,
    /// Geometry.
    pub g: Geometry,
    /// Instruction set for widening f16 input runs.
    pub isa: Isa,
}

impl<P: Planes> PackB for Im2col<'_, P> {
    // Strip by strip, row by row: each (strip, k) writes `nr` contiguous
    // values, made of a few runs along output rows; within a run the valid
    // input pixels are found arithmetically and, at stride 1, widened as one
    // contiguous slice (F16C for the f16 graph input).
    fn pack(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
        let g = self.g;
        if g.stride > 1 && g.kw > 1 && (nr - 1) * g.stride + g.kw <= STRIDED_SPAN {
            return widest(
                self.isa,
                #[inline(always)]
                || self.pack_strided(k0, kc, n0, nc, nr, dst),
            );
        }
        widest(
            self.isa,
            #[inline(always)]
            || self.pack_runs(k0, kc, n0, nc, nr, dst),
        );
    }
}

impl<P: Planes> Im2col<'_, P> {
    /// [`PackB::pack`] for unit strides and 1-wide windows.
    #[inline(always)]
    fn pack_runs(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
        let g = self.g;
        let khw = g.kh * g.kw;
        let s = g.stride;
        for strip in 0..nc.div_ceil(nr) {
            let cols = nr.min(nc - strip * nr);
            let start = Pixel::of(n0 + strip * nr, &g);
            let (mut c, mut ky, mut kx) = (k0 / khw, (k0 % khw) / g.kw, k0 % g.kw);
            for kk in 0..kc {
                let d = &mut dst[(strip * kc + kk) * nr..(strip * kc + kk + 1) * nr];
                crate::act::zero_run(&mut d[cols..]);
                let mut px = start;
                let mut j = 0;
                while j < cols {
                    let Pixel { b, oy, ox } = px;
                    let seg = (g.ow - ox).min(cols - j);
                    let out = &mut d[j..j + seg];
                    let iy = (oy * s + ky) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        crate::act::zero_run(out);
                    } else {
                        let row = &self.src.plane(c, b)[iy as usize * g.w..(iy as usize + 1) * g.w];
                        // Input column of output column ox + t is base + t*s.
                        let base = (ox * s + kx) as isize - g.pad as isize;
                        let (lo, hi) = g.inside(base, seg);
                        crate::act::zero_run(&mut out[..lo]);
                        crate::act::zero_run(&mut out[hi..]);
                        if hi > lo {
                            let ix0 = (base + (lo * s) as isize) as usize;
                            if s == 1 {
                                P::E::widen(self.isa, &row[ix0..ix0 + (hi - lo)], &mut out[lo..hi]);
                            } else if P::E::WIDEN_FIRST && (hi - lo - 1) * s < STRIDED_SPAN {
                                // Widen the whole span once (F16C), then pick
                                // every s-th value: no per-element f16 decode.
                                let span = (hi - lo - 1) * s + 1;
                                let mut tmp = [0f32; STRIDED_SPAN];
                                P::E::widen(self.isa, &row[ix0..ix0 + span], &mut tmp[..span]);
                                for (t, o) in out[lo..hi].iter_mut().enumerate() {
                                    *o = tmp[t * s];
                                }
                            } else {
                                for (t, o) in out[lo..hi].iter_mut().enumerate() {
                                    *o = row[ix0 + t * s].f32();
                                }
                            }
                        }
                    }
                    j += seg;
                    px.advance(seg, &g);
                }
                kx += 1;
                if kx == g.kw {
                    kx = 0;
                    ky += 1;
                    if ky == g.kh {
                        ky = 0;
                        c += 1;
                    }
                }
            }
        }
    }
}

impl<P: Planes> Im2col<'_, P> {
    /// [`PackB::pack`] for strided windows wider than one column (the 7x7/2
    /// stem, 3x3/2 layers). A window row `(c, ky)` of one output-row segment
    /// reads one input span for all its `kx`: widen that span once (zero
    /// outside the input), split it into its `s` phases (values `p, p+s,
    /// p+2s, ...`), and each `kx` row of the segment is then one contiguous
    /// copy from phase `kx % s` at offset `kx / s`. Per packed value that is
    /// about one move; widening the span and picking every `s`-th value once
    /// per `kx` cost 3-4 cycles per value, half the stem's time in profiles.
    #[inline(always)]
    fn pack_strided(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
        let g = self.g;
        let (khw, s) = (g.kh * g.kw, g.stride);
        let (w, pad) = (g.w as isize, g.pad as isize);
        let mut span_buf = [0f32; STRIDED_SPAN];
        let mut phases = [0f32; STRIDED_SPAN + 8];
        for strip in 0..nc.div_ceil(nr) {
            let cols = nr.min(nc - strip * nr);
            let sdst = &mut dst[strip * kc * nr..(strip + 1) * kc * nr];
            if cols < nr {
                for row in sdst.chunks_exact_mut(nr) {
                    crate::act::zero_run(&mut row[cols..]);
                }
            }
            let mut px = Pixel::of(n0 + strip * nr, &g);
            let mut j = 0;
            while j < cols {
                let Pixel { b, oy, ox } = px;
                let seg = (g.ow - ox).min(cols - j);
                // Input columns base .. base + span serve every kx of the segment.
                let span = (seg - 1) * s + g.kw;
                let plen = span.div_ceil(s);
                let base = (ox * s) as isize - pad;
                let lo = if base >= 0 { 0 } else { ((-base) as usize).min(span) };
                let hi = if base >= w { lo } else { ((w - base) as usize).clamp(lo, span) };
                let mut k = k0;
                while k < k0 + kc {
                    let (c, r) = (k / khw, k % khw);
                    let (ky, kx0) = (r / g.kw, r % g.kw);
                    let kx1 = g.kw.min(kx0 + (k0 + kc - k));
                    let kk0 = k - k0;
                    let iy = (oy * s + ky) as isize - pad;
                    if iy < 0 || iy >= g.h as isize || hi == lo {
                        for kk in kk0..kk0 + (kx1 - kx0) {
                            crate::act::zero_run(&mut sdst[kk * nr + j..kk * nr + j + seg]);
                        }
                    } else {
                        let row = &self.src.plane(c, b)[iy as usize * g.w..(iy as usize + 1) * g.w];
                        let ix0 = (base + lo as isize) as usize;
                        crate::act::zero_run(&mut span_buf[..lo]);
                        P::E::widen(self.isa, &row[ix0..ix0 + (hi - lo)], &mut span_buf[lo..hi]);
                        crate::act::zero_run(&mut span_buf[hi..span]);
                        deinterleave(&span_buf[..span], s, plen, &mut phases);
                        for (kk, kx) in (kk0..).zip(kx0..kx1) {
                            let from = (kx % s) * plen + kx / s;
                            crate::act::copy_run(&phases[from..from + seg], &mut sdst[kk * nr + j..kk * nr + j + seg]);
                        }
                    }
                    k += kx1 - kx0;
                }
                j += seg;
                px.advance(seg, &g);
            }
        }
    }
}

/// Split `src` into its `s` phases: `dst[p * plen + t] = src[p + s * t]`
/// (`plen = ceil(src.len() / s)`; a phase's last slot is left as it was when
/// `src` ends before it).
#[inline(always)]
fn deinterleave(src: &[f32], s: usize, plen: usize, dst: &mut [f32]) {
    if s == 2 {
        let (even, odd) = dst[..2 * plen].split_at_mut(plen);
        for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(src.chunks_exact(2)) {
            *e = pair[0];
            *o = pair[1];
        }
        if src.len() % 2 == 1 {
            even[plen - 1] = src[src.len() - 1];
        }
        return;
    }
    for (i, v) in src.iter().enumerate() {
        dst[(i % s) * plen + i / s] = *v;
    }
}
