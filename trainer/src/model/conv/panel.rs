//! The panel convolution on f32 burn-flex tensors: output and both
//! gradients as GEMMs over an im2col panel that spans a chunk of samples.
//!
//! With `L = oh*ow` output pixels per sample, the panel
//! `Xcol = [C*kh*kw][N*L]` and the output gradient gathered as
//! `dY' = [O][N*L]`:
//!
//! ```text
//! Y'   = W · Xcol           (forward, W = [O][C*kh*kw])
//! dW   = dY' · Xcol^T
//! dcol = W^T · dY'          (then col2im adds dcol into dX)
//! ```
//!
//! The operands are written by plain row loops in parallel into buffers
//! reused for every block, and multiplied by the `gemm` crate (the GEMM
//! burn-flex runs, AVX-512 where the CPU has it) straight into where the
//! product goes: the output tensor, the `dW` sum, a `dcol` buffer
//! (`model/gemm.rs` says why not through burn-flex's matmul). Why not
//! burn's own kernels (`perf`, ResNet at batch 16):
//! - burn 0.21 computes the weight gradient as a convolution over swapped
//!   batch and channel axes, which burn-flex copies element by element and
//!   then gathers for a kernel the size of the output map: 36-47 % of a step.
//! - burn-flex's forward runs one GEMM per sample and 512-pixel tile, packing
//!   the weights again for each: ResNet's last stage (4x4 maps) multiplies
//!   `512 x 4608` weights by 16 columns at a time.
//!
//! How the products are cut follows what `gemm` ran fastest on ResNet's
//! layer shapes (2-core AVX-512 VM, GFLOP/s):
//! - `Y'` and `dcol` go in blocks of `BLOCK_COLUMNS` (4096) pixels, each block's
//!   panel written just before its product. A whole wide product with a
//!   short inner dimension is slow: `O=256, K=64, 14400` columns ran at 44
//!   whole and 278 in blocks of 4096; `dcol` for `C*kh*kw=576, K=64` at 45
//!   whole and 261 in blocks. Deep layers were as fast either way.
//! - `dW` is one product per chunk of samples (its inner dimension is the
//!   chunk's pixels; the panel stays under `PANEL_VALUES` (64 MiB)), with the larger
//!   of `O` and `C*kh*kw` as rows: `dY' x Xcol^T` when `O` is larger (264 vs
//!   135 at `O=256, C*kh*kw=64`), `(Xcol x dY'^T)^T` when not (250 vs 82 at
//!   `O=64, C*kh*kw=576`).
//!
//! Groups, dilation and asymmetric padding (none of which the bemm networks
//! use), and non-f32 tensors, take burn's path.

use burn::backend::flex::FlexTensor;
use burn::backend::Flex;
use burn::tensor::ops::{ConvOptions, ModuleOps};
use burn::tensor::{DType, TensorData};
use rayon::prelude::*;

use super::geometry::{Block, Geo};
use crate::model::gemm::{self, View};
use crate::model::on_flex::{contiguous, f32s};

/// Most f32 values (64 MiB) of one im2col panel, `dcol` block or
/// gathered `dY'`: what bounds the memory the convolution adds on top
/// of burn's tensors at any batch size.
const PANEL_VALUES: usize = 16 << 20;

/// Columns (output pixels) of one forward `W x panel` or input-gradient
/// `W^T x dY'` product: whole output rows, and whole samples where they
/// fit (module doc).
const BLOCK_COLUMNS: usize = 4096;

/// Work sizes of the panel convolution (tests take small ones).
#[derive(Clone, Copy)]
pub(super) struct Budget {
    /// Most f32 values of one panel (one sample at the least).
    pub(super) panel_values: usize,
    /// Columns of one block (one output row at the least).
    pub(super) block_columns: usize,
}

impl Budget {
    pub(super) const DEFAULT: Self = Self { panel_values: PANEL_VALUES, block_columns: BLOCK_COLUMNS };

    /// Columns of one block of a layer with `rows` panel rows, so that
    /// its panel (forward) or `dcol` (input gradient) stays under the
    /// panel budget too.
    fn columns(&self, rows: usize) -> usize {
        self.block_columns.min(self.panel_values / rows.max(1))
    }
}

/// One convolution's sizes, f32 data and sample chunking, when both
/// operands are f32 and the output is not empty; `None` sends the layer
/// to burn-flex's own kernels.
struct Job {
    x: FlexTensor,
    w: FlexTensor,
    geo: Geo,
    n: usize,
    c: usize,
    o: usize,
    /// Output pixels per sample, `oh * ow`.
    l: usize,
    /// Panel rows, `c * kh * kw`.
    ckk: usize,
    /// Samples per weight-gradient chunk: its panel and its `dY'` each
    /// hold at most `panel_values` f32 (one sample at the least).
    chunk: usize,
    /// For a horizontal stride `sx > 1`, the input split into column
    /// phases, `[N][C][sx][H][wq]` (phase `p`, column `q` holds input
    /// column `q*sx + p`), so each panel row copies contiguous runs:
    /// the 7x7 stride-2 stem's panels took 38 ms of a ResNet-18 step at
    /// batch 16 gathered element by element, 26 ms as copies plus
    /// 3.8 ms for the split (what is left is writing 135 MB a panel).
    phased: Option<Vec<f32>>,
}

impl Job {
    fn new(x: &FlexTensor, w: &FlexTensor, options: &ConvOptions<2>, panel_values: usize) -> Option<Self> {
        if x.dtype() != DType::F32 || w.dtype() != DType::F32 {
            return None;
        }
        let (xd, wd) = (x.layout().shape().to_vec(), w.layout().shape().to_vec());
        let (n, c, h, wi) = (xd[0], xd[1], xd[2], xd[3]);
        let (o, kh, kw) = (wd[0], wd[2], wd[3]);
        let [sy, sx] = options.stride;
        let [py, px] = options.padding;
        if wd[1] != c || sy == 0 || sx == 0 || h + 2 * py < kh || wi + 2 * px < kw {
            return None;
        }
        let (oh, ow) = ((h + 2 * py - kh) / sy + 1, (wi + 2 * px - kw) / sx + 1);
        let (l, ckk) = (oh * ow, c * kh * kw);
        if n == 0 || o == 0 || l == 0 || ckk == 0 {
            return None;
        }
        let (x, w) = (contiguous(x), contiguous(w));
        // The loops below index these slices by the shapes above.
        let xs = f32s(&x, n * c * h * wi)?;
        f32s(&w, o * ckk)?;
        let geo = Geo { h, w: wi, wq: wi.div_ceil(sx), kh, kw, oh, ow, stride: options.stride, pad: options.padding };
        let chunk = (panel_values / (l * ckk.max(o))).clamp(1, n);
        let phased = (sx > 1).then(|| geo.phases(xs));
        Some(Self { x, w, geo, n, c, o, l, ckk, chunk, phased })
    }

    /// What the panels copy from: the input `[N, C, H, W]` (stride 1),
    /// or its column phases `[N][C][sx][H][wq]`.
    fn source(&self) -> &[f32] {
        match &self.phased {
            Some(p) => p,
            None => self.x.as_slice::<f32>().unwrap_or(&[]),
        }
    }

    /// Writes the im2col panel `[C*kh*kw][cols]` of block `b` of the
    /// chunk from sample `n0` into the front of `buf` ([`grown`]; each
    /// value is written, so what it held before does not matter) and
    /// returns it: row `(c, ky, kx)`, column `j*P + p` holds the input
    /// under that tap for the block's output pixel `p` of its sample
    /// `j` (`P` pixels a sample).
    fn panel_into<'b>(&self, n0: usize, b: &Block, buf: &'b mut Vec<f32>) -> &'b [f32] {
        let cols = b.cols(self.geo.ow);
        let per_sample = self.c * self.geo.stride[1] * self.geo.h * self.geo.wq;
        let xs = self.source();
        let panel = grown(buf, self.ckk * cols);
        panel.par_chunks_exact_mut(cols).enumerate().for_each(|(r, row)| {
            for (j, part) in row.chunks_exact_mut(cols / b.samples).enumerate() {
                let s = n0 + b.first_sample + j;
                self.geo.im2col_row(r, &xs[s * per_sample..(s + 1) * per_sample], b.rows.clone(), part);
            }
        });
        panel
    }

    /// The weights `[O, C, kh, kw]` as f32 values (an `[O][C*kh*kw]`
    /// matrix); `new` checked their type and count.
    fn weights(&self) -> &[f32] {
        self.w.as_slice::<f32>().unwrap_or(&[])
    }
}

/// The convolution's working buffers (im2col panel, gathered `dY'` or
/// forward product, `dcol`), kept on the thread between calls: taken
/// by a call and given back at its end. A fresh buffer each call was
/// zeroed (or, from the kernel, page-faulted in) before being written
/// over: 11 % of a tiny-network step in `memset`. Each holds at most
/// the panel budget (64 MiB), so a training thread keeps at most
/// 192 MiB of them.
#[derive(Default)]
struct Scratch {
    panel: Vec<f32>,
    part: Vec<f32>,
    dcol: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

impl Scratch {
    /// This thread's buffers (empty ones when a call holds them).
    fn take() -> Self {
        SCRATCH.with(|s| s.take())
    }

    /// Gives the buffers back for the thread's next call.
    fn keep(self) {
        SCRATCH.with(|s| s.set(self));
    }
}

/// The first `len` values of `buf`, grown (never shrunk) to hold them;
/// old values stay, for callers that write every value.
fn grown(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// `conv2d(x, w) + b` (`[N, C, H, W]` -> `[N, O, oh, ow]`): per block
/// of about [`BLOCK_COLUMNS`] output pixels, one GEMM
/// `W [O, C*kh*kw] x panel [C*kh*kw, cols]`. burn-flex's own convolution
/// runs a GEMM per sample and tile of 512 pixels and packs the weights
/// for each, which starves the deep layers (4x4 maps in ResNet's last
/// stage: 16 columns per GEMM).
pub(super) fn panel_forward(
    x: FlexTensor,
    w: FlexTensor,
    b: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    panel_forward_in(x, w, b, options, Budget::DEFAULT)
}

pub(super) fn panel_forward_in(
    x: FlexTensor,
    w: FlexTensor,
    b: Option<FlexTensor>,
    options: &ConvOptions<2>,
    budget: Budget,
) -> FlexTensor {
    let b = match b {
        Some(b) if b.dtype() != DType::F32 => return Flex::conv2d(x, w, Some(b), options.clone()),
        b => b.as_ref().map(contiguous),
    };
    let Some(job) = Job::new(&x, &w, options, budget.panel_values) else {
        return Flex::conv2d(x, w, b, options.clone());
    };
    let bias = b.as_ref().and_then(|b| b.as_slice::<f32>());
    let (o, l, ow, ckk) = (job.o, job.l, job.geo.ow, job.ckk);
    let ws = job.weights();
    let mut y = vec![0f32; job.n * o * l];
    // One panel buffer and one product buffer for every block.
    let mut scratch = Scratch::take();
    let Scratch { panel, part, .. } = &mut scratch;
    for b in job.geo.blocks(job.n, budget.columns(ckk)) {
        let cols = b.cols(ow);
        let pv = job.panel_into(0, &b, panel);
        let (per_sample, p0) = (b.rows.len() * ow, b.rows.start * ow);
        let planes = &mut y[b.first_sample * o * l..(b.first_sample + b.samples) * o * l];
        if b.samples == 1 {
            // Straight into the sample's [O][L] planes, from the block's first pixel.
            let dst = View { offset: p0, rows: o, cols, row_stride: l, col_stride: 1 };
            let ok = gemm::matmul(planes, dst, ws, View::row_major(o, ckk), pv, View::row_major(ckk, cols), false);
            debug_assert!(ok, "forward product views");
        } else {
            // [O][cols] -> the planes of each of the block's samples.
            let part = grown(part, o * cols);
            let ok = gemm::matmul(
                part,
                View::row_major(o, cols),
                ws,
                View::row_major(o, ckk),
                pv,
                View::row_major(ckk, cols),
                false,
            );
            debug_assert!(ok, "forward product views");
            planes.par_chunks_exact_mut(l).enumerate().for_each(|(i, plane)| {
                let (j, oc) = (i / o, i % o);
                let at = oc * cols + j * per_sample;
                if let Some(src) = part.get(at..at + per_sample) {
                    plane[p0..p0 + per_sample].copy_from_slice(src);
                }
            });
        }
        if let Some(bias) = bias {
            planes.par_chunks_exact_mut(l).enumerate().for_each(|(i, plane)| {
                if let Some(&bv) = bias.get(i % o) {
                    plane[p0..p0 + per_sample].iter_mut().for_each(|v| *v += bv);
                }
            });
        }
    }
    scratch.keep();
    let [oh, ow] = [job.geo.oh, job.geo.ow];
    FlexTensor::from_data(TensorData::new(y, [job.n, o, oh, ow]))
}

/// The input gradient `dX` (`[N, C, H, W]`, when `want_x`) and the
/// weight gradient `dW` (`[O, C, kh, kw]`, when `want_w`) from the
/// output gradient (`[N, O, oh, ow]`). Per chunk of samples, with
/// `dY' = [O][nb*L]`:
///
/// ```text
/// dW   += dY' x panel^T  (or its transpose)   ([O, C*kh*kw])
/// dcol  = W^T x dY', then col2im into dX     ([C*kh*kw, cols] a block)
/// ```
///
/// `budget` sizes the panels and the `dcol` blocks.
pub(super) fn panel_backward(
    x: FlexTensor,
    w: FlexTensor,
    grad: FlexTensor,
    options: &ConvOptions<2>,
    want_x: bool,
    want_w: bool,
    budget: Budget,
) -> (Option<FlexTensor>, Option<FlexTensor>) {
    let job = match Job::new(&x, &w, options, budget.panel_values) {
        Some(job) if grad.dtype() == DType::F32 && grad.layout().shape().num_elements() == job.n * job.o * job.l => job,
        _ => return burns_backward(x, w, grad, options, want_x, want_w),
    };
    let grad = contiguous(&grad);
    let gs = grad.as_slice::<f32>().unwrap_or(&[]);
    let (n, c, o, l, ckk) = (job.n, job.c, job.o, job.l, job.ckk);
    let ws = job.weights();
    let plane = job.geo.h * job.geo.w;
    let mut dx = if want_x { vec![0f32; n * c * plane] } else { Vec::new() };
    // dW summed over the chunks, as [O][C*kh*kw], or transposed when
    // C*kh*kw is the larger (module doc: the larger side as rows).
    let w_rows = o >= ckk;
    let mut dw = if want_w { vec![0f32; o * ckk] } else { Vec::new() };
    // Buffers reused by every chunk and block.
    let mut scratch = Scratch::take();
    let Scratch { panel, part: dy, dcol } = &mut scratch;
    for n0 in (0..n).step_by(job.chunk) {
        let nb = job.chunk.min(n - n0);
        let cols = nb * l;
        // dY' = [O][nb*L]: sample j's rows of every output channel side by side.
        let dy = grown(dy, o * cols);
        dy.par_chunks_exact_mut(cols).enumerate().for_each(|(oc, row)| {
            for (j, part) in row.chunks_exact_mut(l).enumerate() {
                let at = ((n0 + j) * o + oc) * l;
                if let Some(src) = gs.get(at..at + l) {
                    part.copy_from_slice(src);
                }
            }
        });
        let dyv = View::row_major(o, cols);
        if want_w {
            let pv = job.panel_into(n0, &Block { first_sample: 0, samples: nb, rows: 0..job.geo.oh }, panel);
            let panel_v = View::row_major(ckk, cols);
            let ok = if w_rows {
                gemm::matmul(&mut dw, View::row_major(o, ckk), dy, dyv, pv, panel_v.t(), n0 > 0)
            } else {
                gemm::matmul(&mut dw, View::row_major(ckk, o), pv, panel_v, dy, dyv.t(), n0 > 0)
            };
            debug_assert!(ok, "weight gradient views");
        }
        if want_x {
            for b in job.geo.blocks(nb, budget.columns(ckk)) {
                let cols_b = b.cols(job.geo.ow);
                let c0 = b.first_sample * l + b.rows.start * job.geo.ow;
                // dcol = W^T [C*kh*kw][O] x the block's columns of dY'.
                let ds = grown(dcol, ckk * cols_b);
                let dy_b = View { offset: c0, rows: o, cols: cols_b, row_stride: cols, col_stride: 1 };
                let ok =
                    gemm::matmul(ds, View::row_major(ckk, cols_b), ws, View::row_major(o, ckk).t(), dy, dy_b, false);
                debug_assert!(ok, "input gradient views");
                let ds = &*ds;
                let per_sample = b.rows.len() * job.geo.ow;
                let s0 = n0 + b.first_sample;
                // Each (sample, channel) plane of dX gathers its own kh*kw panel rows.
                dx[s0 * c * plane..(s0 + b.samples) * c * plane].par_chunks_exact_mut(plane).enumerate().for_each(
                    |(i, dst)| {
                        let (j, ci) = (i / c, i % c);
                        job.geo.col2im_add(ci, ds, cols_b, j * per_sample, b.rows.clone(), dst);
                    },
                );
            }
        }
    }
    scratch.keep();
    let dx = want_x.then(|| FlexTensor::from_data(TensorData::new(dx, [n, c, job.geo.h, job.geo.w])));
    let dw = want_w.then(|| {
        let dw = if w_rows { dw } else { transpose(&dw, ckk, o) };
        FlexTensor::from_data(TensorData::new(dw, [o, c, job.geo.kh, job.geo.kw]))
    });
    (dx, dw)
}

/// A row-major `rows x cols` matrix as its transpose `[cols][rows]`, in
/// 32 x 32 tiles so that reads and writes both stay in a few cache lines.
pub(super) fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    let mut out = vec![0f32; rows * cols];
    out.par_chunks_mut(TILE * rows).enumerate().for_each(|(t, band)| {
        // `band` holds output rows (input columns) t*TILE.. of the transpose.
        let c0 = t * TILE;
        for r0 in (0..rows).step_by(TILE) {
            for (dc, dst) in band.chunks_exact_mut(rows).enumerate() {
                let col = c0 + dc;
                for r in r0..(r0 + TILE).min(rows) {
                    dst[r] = m[r * cols + col];
                }
            }
        }
    });
    out
}

/// burn-flex's own input and weight gradients, for what the panels do
/// not take (non-f32 tensors).
fn burns_backward(
    x: FlexTensor,
    w: FlexTensor,
    grad: FlexTensor,
    options: &ConvOptions<2>,
    want_x: bool,
    want_w: bool,
) -> (Option<FlexTensor>, Option<FlexTensor>) {
    let dx = want_x.then(|| Flex::conv2d_x_backward(x.clone(), w.clone(), grad.clone(), options.clone()));
    let dw = want_w.then(|| Flex::conv2d_weight_backward(x, w, grad, options.clone()));
    (dx, dw)
}
