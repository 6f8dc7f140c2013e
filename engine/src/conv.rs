//! 2-D convolution (groups = 1) over a batch, as GEMM:
//! `out[o][(b, y, x)] = sum_{c,ky,kx} W[o][c][ky][kx] * in[c][b][y*s-p+ky][x*s-p+kx] + bias[o]`.
//!
//! Weights are OIHW f16, exactly the `[M = out_c][K = in_c*kh*kw]` row-major
//! A operand. The B operand is never materialised: [`Im2col`] packs the
//! needed `K x N` block straight from the input planes, and [`Pointwise`]
//! reads 1x1 stride-1 convolutions' input rows directly.

use crate::act::{Cnhw, Elem, Planes};
use crate::ctx::Ctx;
use crate::error::EngineError;
use crate::gemm::{self, GemmSpec, PackB, WeightsF16};
use crate::kernels::widest::widest;
use crate::kernels::{Isa, MicroKernel, PackFormat};
use bemm_formats::model::LayerRecord;
use half::f16;

/// How a convolution is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvAlgo {
    /// Implicit im2col packing + packed GEMM; any kernel, stride, padding.
    Im2colGemm,
    /// 1x1, stride 1, no padding, over an engine activation: the input
    /// planes already are the B matrix; packing is a plain copy.
    Pointwise,
    /// 3x3, stride 1, pad 1 on maps of at least 7x7: Winograd F(2x2, 3x3)
    /// ([`crate::winograd`]), 2.25x fewer multiply-adds.
    Winograd2x2,
    /// Windows of 3x3 and more with few taps on rows of about 32 or 64
    /// outputs (the 7x7/2 stem; with bf16 kernels also the 3x3 layers on
    /// 30x30 maps): direct convolution over the input's stride phases
    /// ([`crate::direct`]), no im2col panel; only with kernels that have a
    /// taps variant, im2col where the workspace is too small.
    Direct,
}

/// Geometry of one convolution or pooling window.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on every side.
    pub pad: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl Geometry {
    /// The geometry of a conv or pool record.
    pub fn of(l: &LayerRecord) -> Self {
        Geometry {
            c: l.in_c as usize,
            h: l.in_h as usize,
            w: l.in_w as usize,
            kh: l.kernel_h as usize,
            kw: l.kernel_w as usize,
            stride: l.stride as usize,
            pad: l.pad as usize,
            oh: l.out_h as usize,
            ow: l.out_w as usize,
        }
    }
}

/// One convolution's operands as the algorithm modules ([`crate::direct`],
/// [`crate::winograd`]) take them: OIHW f16 `weight` (`cout x C x kh x kw`),
/// an optional f16 `bias` (`cout`), and the epilogue: `res` (the output's
/// shape, `[cout][batch][oh*ow]` f32) added after the bias, then the ReLU.
#[derive(Clone, Copy)]
pub(crate) struct ConvJob<'a> {
    /// Kernel, blocks and fork.
    pub ctx: Ctx<'a>,
    /// Input, window and output sizes.
    pub g: Geometry,
    /// OIHW f16, `cout x C x kh x kw`.
    pub weight: &'a [f16],
    /// f16, `cout`.
    pub bias: Option<&'a [f16]>,
    /// Output channels.
    pub cout: usize,
    /// ReLU after the bias and the residual.
    pub relu: bool,
    /// `[cout][batch][oh*ow]` f32, added before the ReLU.
    pub res: Option<&'a [f32]>,
    /// Samples.
    pub batch: usize,
}

impl<'a> ConvJob<'a> {
    /// Output values per channel (`batch * oh * ow`), the output's row stride.
    pub fn n(&self) -> usize {
        self.batch * self.g.oh * self.g.ow
    }

    /// Whether the weights, bias and residual hold the whole layer and
    /// `out_len` f32 hold its output.
    pub fn operands_fit(&self, out_len: usize) -> bool {
        let (m, n, g) = (self.cout, self.n(), &self.g);
        self.weight.len() >= m * g.c * g.kh * g.kw
            && self.bias.is_none_or(|b| b.len() >= m)
            && out_len >= m * n
            && self.res.is_none_or(|r| r.len() >= m * n)
    }

    /// The same layer restricted to output channels `r0..r1` (a thread's
    /// share; the output part is then `(r1 - r0) x n`). Needs
    /// [`Self::operands_fit`].
    /// share; the output part is then `(r1 - r0) x n`), on one thread. Needs
    pub fn rows(&self, r0: usize, r1: usize) -> ConvJob<'a> {
        let (k, n) = (self.g.c * self.g.kh * self.g.kw, self.n());
        ConvJob {
            ctx: self.ctx.alone(),
            weight: &self.weight[r0 * k..r1 * k],
            bias: self.bias.map(|b| &b[r0..r1]),
            cout: r1 - r0,
            res: self.res.map(|r| &r[r0 * n..r1 * n]),
            ..*self
        }
    }
}

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
        let (s, w) = (g.stride, g.w as isize);
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
                        // Stride 1 without a division: runs here are as
                        // short as one output row (4 values at 4x4), where
                        // two integer divisions per run showed in profiles.
                        let (lo, hi) = if s == 1 {
                            let lo = if base >= 0 { 0 } else { (-base) as usize }.min(seg);
                            (lo, if base >= w { 0 } else { (w - base) as usize }.clamp(lo, seg))
                        } else {
                            let lo = if base >= 0 { 0 } else { ((-base) as usize).div_ceil(s) }.min(seg);
                            (lo, if base >= w { 0 } else { ((w - base) as usize).div_ceil(s) }.clamp(lo, seg))
                        };
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

/// A 1x1 stride-1 convolution's B operand: row `k` = channel `k`'s
/// `[batch][H*W]` values, contiguous in a [`Cnhw`] activation.
pub(crate) struct Pointwise<'t> {
    /// `[K][N]` row-major.
    pub data: &'t [f32],
    /// Columns (batch * H * W).
    pub n: usize,
    /// Instruction set the packing loops may use.
    pub isa: Isa,
}

impl PackB for Pointwise<'_> {
    fn pack(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
        widest(
            self.isa,
            #[inline(always)]
            || self.pack_rows(k0, kc, n0, nc, nr, dst),
        );
    }

    // Both rows of a pair are read straight from the activation: no f32
    // panel and no in-place conversion pass (the default's two passes).
    fn pack_pairs(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
        widest(
            self.isa,
            #[inline(always)]
            || self.pack_row_pairs(k0, kc, n0, nc, nr, dst),
        );
    }
}

impl Pointwise<'_> {
    #[inline(always)]
    fn pack_rows(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
        // Eight rows at a time, strip by strip: eight sequential read streams
        // and 1 KB contiguous writes per strip, instead of one row scattered
        // over every strip (32-value writes 32 KB apart): +1.5-2 % on ResNet50.
        let strips = nc.div_ceil(nr);
        const G: usize = 8;
        for kg in (0..kc).step_by(G) {
            let ke = (kg + G).min(kc);
            for s in 0..strips {
                let lo = s * nr;
                let take = nr.min(nc - lo);
                for kk in kg..ke {
                    let row = &self.data[(k0 + kk) * self.n + n0 + lo..(k0 + kk) * self.n + n0 + lo + take];
                    let d = &mut dst[(s * kc + kk) * nr..(s * kc + kk) * nr + nr];
                    crate::act::copy_run(row, &mut d[..take]);
                    crate::act::zero_run(&mut d[take..]);
                }
            }
        }
    }

    #[inline(always)]
    fn pack_row_pairs(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
        let strips = nc.div_ceil(nr);
        let depth = kc.div_ceil(2);
        for d in 0..depth {
            let k = k0 + 2 * d;
            let lo_row = &self.data[k * self.n + n0..k * self.n + n0 + nc];
            let hi_row = (2 * d + 1 < kc).then(|| &self.data[(k + 1) * self.n + n0..(k + 1) * self.n + n0 + nc]);
            for s in 0..strips {
                let o = &mut dst[(s * depth + d) * nr..(s * depth + d + 1) * nr];
                let j0 = s * nr;
                let take = nr.min(nc - j0);
                let lo = &lo_row[j0..j0 + take];
                match hi_row {
                    Some(h) => {
                        for ((o, l), h) in o[..take].iter_mut().zip(lo).zip(&h[j0..j0 + take]) {
                            *o = crate::kernels::convert::bf16_pair(*l, *h);
                        }
                    }
                    None => {
                        for (o, l) in o[..take].iter_mut().zip(lo) {
                            *o = crate::kernels::convert::bf16_pair(*l, 0.0);
                        }
                    }
                }
                crate::act::zero_run(&mut o[take..]);
            }
        }
    }
}

/// The algorithm [`conv`] prefers for a layer with kernel `kern` (and
/// `winograd` allowed or not). It depends on the layer and the kernel
/// alone, never on the batch or the threads, so a sample's result is the
/// same in any batch. With bf16 kernels direct convolution comes before
/// Winograd: its channel pairs halve the steps, where Winograd's transforms
/// stay f32-sized work (measured on ResNet50's 30x30 layers: +2-3 %).
pub fn algo(g: &Geometry, winograd: bool, kern: &MicroKernel) -> ConvAlgo {
    let pairs = kern.format == PackFormat::Bf16Pairs;
    let direct = kern.taps.is_some() && crate::direct::applicable(g, pairs);
    if g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0 {
        ConvAlgo::Pointwise
    } else if direct && pairs {
        ConvAlgo::Direct
    } else if winograd && crate::winograd::applicable(g) {
        ConvAlgo::Winograd2x2
    } else if direct {
        ConvAlgo::Direct
    } else {
        ConvAlgo::Im2colGemm
    }
}

/// Convolution of layer `l` over `batch` samples read through `src`, into
/// `out` (`[out_c][batch][oh*ow]` f32). `dense` is `src`'s backing storage
/// when it is an engine activation (enables [`ConvAlgo::Pointwise`]);
/// `winograd` allows [`ConvAlgo::Winograd2x2`] (used when the GEMM
/// workspace, `ws` = `ctx.ways()` parts of `ctx.blocks.workspace_len()`,
/// holds its blocks).
pub(crate) fn conv<P: Planes>(
    ctx: &Ctx<'_>,
    layer: &Layer<'_>,
    src: &P,
    dense: Option<Cnhw<'_>>,
    batch: usize,
    out: &mut [f32],
    ws: &mut [f32],
) -> Result<(), EngineError> {
    let Layer { record: l, weight, bias, fused } = *layer;
    let (kern, isa) = (ctx.kern, ctx.isa());
    let g = Geometry::of(l);
    let n = batch * g.oh * g.ow;
    let (res, relu) = match fused {
        Some((r, relu)) => (Some(r), relu),
        None => (None, l.relu()),
    };
    let spec = GemmSpec { m: l.out_c as usize, n, k: g.c * g.kh * g.kw, ldc: n, relu, res };
    let a = WeightsF16 { w: weight, bias };
    let (cout, part) = (spec.m, ctx.blocks.workspace_len());
    let job = ConvJob { ctx: *ctx, g, weight, bias, cout, relu, res, batch };
    match (algo(&g, ctx.winograd, kern), dense) {
        (ConvAlgo::Pointwise, Some(d)) => gemm::gemm_split(ctx, spec, a, &Pointwise { data: d.data, n, isa }, out, ws),
        // The fit is checked with all output channels in one part, so the
        // choice (and the result) is the same however many threads split
        // the layer; a workspace too small for its blocks falls to im2col.
        (ConvAlgo::Winograd2x2, _) if crate::winograd::block_cols(kern, part, cout, g.w).is_some() => {
            crate::winograd::conv(&job, src, out, ws)
        }
        // Like Winograd's, the fit is checked against one part.
        (ConvAlgo::Direct, _) if crate::direct::workspace_len(&g, cout) <= part => {
            crate::direct::conv(&job, src, out, ws)
        }
        _ => gemm::gemm_split(ctx, spec, a, &Im2col { src, g, isa }, out, ws),
    }
}

/// One convolution layer's record and operands: OIHW f16 `weight`, optional
/// f16 `bias`, and `fused`: a residual add fused into the epilogue, as the
/// other operand (the output's shape) and the add's ReLU; `None` for a
/// plain convolution.
#[derive(Clone, Copy)]
pub(crate) struct Layer<'l> {
    /// The layer.
    pub record: &'l LayerRecord,
    /// `out_c x in_c x kh x kw` f16.
    pub weight: &'l [f16],
    /// `out_c` f16.
    pub bias: Option<&'l [f16]>,
    /// The fused add's other operand and ReLU.
    pub fused: Option<(&'l [f32], bool)>,
}
