//! The trainer's 2-D convolution. On the CPU backend (`Flex`, and
//! `Autodiff<Flex>` in training) the output and both gradients are GEMMs
//! over an im2col panel that spans a chunk of samples; burn-cuda runs
//! burn's own `Conv2d`, or with `BEMM_CUDA_CONV=implicit-gemm` burn-cubecl's
//! implicit-GEMM kernels (`conv_cuda.rs`); burn-ndarray runs burn's own.
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

use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// How the trainer convolves on burn-cuda without fusion (`--features
/// cuda-base`), named by the environment variable [`CudaConv::ENV`]
/// (`conv_cuda.rs`). Other backends ignore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CudaConv {
    /// burn's own `Conv2d` (the variable unset, empty or `burn`).
    Burn,
    /// burn-cubecl's implicit-GEMM kernels, without autotuning
    /// (`implicit-gemm`).
    ImplicitGemm,
}

impl CudaConv {
    /// The environment variable that names the algorithm.
    pub const ENV: &'static str = "BEMM_CUDA_CONV";

    /// The algorithm `value` names; `None` for an unknown name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "" | "burn" => Some(Self::Burn),
            "implicit-gemm" => Some(Self::ImplicitGemm),
            _ => None,
        }
    }

    /// The algorithm [`CudaConv::ENV`] names (unset: [`CudaConv::Burn`]);
    /// for an unknown name, the message that says what was expected.
    pub fn from_env() -> Result<Self, String> {
        let value = std::env::var(Self::ENV).unwrap_or_default();
        Self::parse(&value).ok_or_else(|| format!("{}={value}: expected burn or implicit-gemm", Self::ENV))
    }

    /// The name [`CudaConv::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Burn => "burn",
            Self::ImplicitGemm => "implicit-gemm",
        }
    }
}

/// The `[top, left]` padding of an ungrouped layer padded the same on
/// opposite sides, the layers the trainer's own convolutions take (on
/// burn-flex and with [`CudaConv::ImplicitGemm`]); `None` for any other.
#[cfg(any(feature = "flex", all(feature = "cuda-base", not(feature = "cuda"))))]
pub(super) fn symmetric_padding<B: Backend>(conv: &Conv2d<B>) -> Option<[usize; 2]> {
    use burn::nn::PaddingConfig2d;
    if conv.groups != 1 {
        return None;
    }
    match conv.padding {
        PaddingConfig2d::Valid => Some([0, 0]),
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => Some([top, left]),
        _ => None,
    }
}

/// `conv` applied to `x` (`[N, C, H, W]` -> `[N, O, oh, ow]`), as
/// `conv.forward(x)` computes it.
pub fn forward<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    #[cfg(feature = "flex")]
    if let Some(y) = flex::forward(conv, &x) {
        return y;
    }
    #[cfg(all(feature = "cuda-base", not(feature = "cuda")))]
    if let Some(y) = super::conv_cuda::forward(conv, &x) {
        return y;
    }
    conv.forward(x)
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::NodeId;
    use burn::backend::flex::FlexTensor;
    use burn::backend::{Autodiff, Flex};
    use burn::nn::conv::Conv2d;
    use burn::tensor::backend::Backend;
    use burn::tensor::ops::{ConvOptions, FloatTensor, FloatTensorOps, ModuleOps};
    use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
    use rayon::prelude::*;
    use std::ops::Range;

    use super::super::downcast::cast;
    use super::super::gemm::{self, View};
    use super::super::on_flex::{contiguous, f32s};

    type Ad = Autodiff<Flex>;

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
    struct Budget {
        /// Most f32 values of one panel (one sample at the least).
        panel_values: usize,
        /// Columns of one block (one output row at the least).
        block_columns: usize,
    }

    impl Budget {
        const DEFAULT: Self = Self { panel_values: PANEL_VALUES, block_columns: BLOCK_COLUMNS };

        /// Columns of one block of a layer with `rows` panel rows, so that
        /// its panel (forward) or `dcol` (input gradient) stays under the
        /// panel budget too.
        fn columns(&self, rows: usize) -> usize {
            self.block_columns.min(self.panel_values / rows.max(1))
        }
    }

    /// The convolution through the panels when `B` is `Autodiff<Flex>`
    /// (training: [`conv2d`]) or `Flex` (validation and export checks:
    /// [`panel_forward`]) and the layer is an ungrouped, undilated,
    /// symmetrically padded one; `None` otherwise.
    pub(super) fn forward<B: Backend>(conv: &Conv2d<B>, x: &Tensor<B, 4>) -> Option<Tensor<B, 4>> {
        if conv.dilation != [1, 1] {
            return None;
        }
        let options = ConvOptions::new(conv.stride, super::symmetric_padding(conv)?, [1, 1], 1);
        let (w, b) = (conv.weight.val(), conv.bias.as_ref().map(|b| b.val()));
        if let Some(x) = cast::<_, Tensor<Ad, 4>>(x) {
            let b = match &b {
                Some(b) => Some(cast::<_, Tensor<Ad, 1>>(b)?),
                None => None,
            };
            return cast(&conv2d(x, cast(&w)?, b, options));
        }
        let x = cast::<_, Tensor<Flex, 4>>(x)?;
        let b = match &b {
            Some(b) => Some(cast::<_, Tensor<Flex, 1>>(b)?.into_primitive().tensor()),
            None => None,
        };
        let w = cast::<_, Tensor<Flex, 4>>(&w)?.into_primitive().tensor();
        let y = panel_forward(x.into_primitive().tensor(), w, b, &options);
        cast(&Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(y)))
    }

    /// The convolution as a custom autodiff op: [`panel_forward`] forward,
    /// [`panel_backward`] for the input and weight gradients.
    pub(super) fn conv2d(
        x: Tensor<Ad, 4>,
        weight: Tensor<Ad, 4>,
        bias: Option<Tensor<Ad, 1>>,
        options: ConvOptions<2>,
    ) -> Tensor<Ad, 4> {
        let x = x.into_primitive().tensor();
        let w = weight.into_primitive().tensor();
        let out = match bias.map(|b| b.into_primitive().tensor()) {
            None => {
                match NoBias.prepare::<NoCheckpointing>([x.node.clone(), w.node.clone()]).compute_bound().stateful() {
                    OpsKind::Tracked(mut prep) => {
                        let (xs, ws) = (prep.checkpoint(&x), prep.checkpoint(&w));
                        prep.finish((xs, ws, options.clone()), panel_forward(x.primitive, w.primitive, None, &options))
                    }
                    OpsKind::UnTracked(prep) => prep.finish(panel_forward(x.primitive, w.primitive, None, &options)),
                }
            }
            Some(b) => match WithBias
                .prepare::<NoCheckpointing>([x.node.clone(), w.node.clone(), b.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(mut prep) => {
                    let (xs, ws) = (prep.checkpoint(&x), prep.checkpoint(&w));
                    prep.finish(
                        (xs, ws, options.clone()),
                        panel_forward(x.primitive, w.primitive, Some(b.primitive), &options),
                    )
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(panel_forward(x.primitive, w.primitive, Some(b.primitive), &options))
                }
            },
        };
        Tensor::from_primitive(TensorPrimitive::Float(out))
    }

    #[derive(Debug)]
    struct NoBias;
    #[derive(Debug)]
    struct WithBias;

    type State = (NodeId, NodeId, ConvOptions<2>);

    impl Backward<Flex, 2> for NoBias {
        type State = State;

        fn backward(self, ops: Ops<State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
            let [node_x, node_w] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node);
            input_and_weight_grads(node_x.map(|n| n.id), node_w.map(|n| n.id), ops.state, &grad, grads, checkpointer);
        }
    }

    impl Backward<Flex, 3> for WithBias {
        type State = State;

        fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
            let [node_x, node_w, node_b] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node);
            input_and_weight_grads(node_x.map(|n| n.id), node_w.map(|n| n.id), ops.state, &grad, grads, checkpointer);
            if let Some(node) = node_b {
                grads.register::<Flex>(node.id, bias_grad(grad));
            }
        }
    }

    /// Registers the input and weight gradients ([`panel_backward`]) for the
    /// parents that need them.
    fn input_and_weight_grads(
        node_x: Option<NodeId>,
        node_w: Option<NodeId>,
        state: State,
        grad: &FloatTensor<Flex>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let (xs, ws, options) = state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(xs);
        let w = checkpointer.retrieve_node_output::<FlexTensor>(ws);
        let (dx, dw) =
            panel_backward(x, w, grad.clone(), &options, node_x.is_some(), node_w.is_some(), Budget::DEFAULT);
        if let (Some(id), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(id, dx);
        }
        if let (Some(id), Some(dw)) = (node_w, dw) {
            grads.register::<Flex>(id, dw);
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
            let geo =
                Geo { h, w: wi, wq: wi.div_ceil(sx), kh, kw, oh, ow, stride: options.stride, pad: options.padding };
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

    fn panel_forward_in(
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
    fn panel_backward(
        x: FlexTensor,
        w: FlexTensor,
        grad: FlexTensor,
        options: &ConvOptions<2>,
        want_x: bool,
        want_w: bool,
        budget: Budget,
    ) -> (Option<FlexTensor>, Option<FlexTensor>) {
        let job = match Job::new(&x, &w, options, budget.panel_values) {
            Some(job)
                if grad.dtype() == DType::F32 && grad.layout().shape().num_elements() == job.n * job.o * job.l =>
            {
                job
            }
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
                    let ok = gemm::matmul(
                        ds,
                        View::row_major(ckk, cols_b),
                        ws,
                        View::row_major(o, ckk).t(),
                        dy,
                        dy_b,
                        false,
                    );
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
    fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
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

    /// The bias gradient: the output gradient summed over samples and pixels.
    fn bias_grad(grad: FlexTensor) -> FlexTensor {
        let d = grad.layout().shape().to_vec();
        let (n, o, l) = (d[0], d[1], d[2] * d[3]);
        let grad = contiguous(&grad);
        match (grad.dtype(), grad.as_slice::<f32>()) {
            (DType::F32, Some(g)) => {
                let mut sums = vec![0f32; o];
                for (i, plane) in g.chunks_exact(l.max(1)).take(n * o).enumerate() {
                    sums[i % o] += plane.iter().sum::<f32>();
                }
                FlexTensor::from_data(TensorData::new(sums, [o]))
            }
            _ => {
                let summed =
                    Flex::float_sum_dim(Flex::float_sum_dim(Flex::float_reshape(grad, [n, o, l].into()), 2), 0);
                Flex::float_reshape(summed, [o].into())
            }
        }
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

    /// Sizes of one convolution (input planes `h x w`, kernel `kh x kw`,
    /// output planes `oh x ow`, stride and padding per axis).
    #[derive(Clone, Copy)]
    struct Geo {
        h: usize,
        w: usize,
        /// Columns of one column phase, `ceil(w / sx)`.
        wq: usize,
        kh: usize,
        kw: usize,
        oh: usize,
        ow: usize,
        stride: [usize; 2],
        pad: [usize; 2],
    }

    /// Output pixels of `samples` samples from `first_sample` on (of a
    /// chunk), output rows `rows` of each: a contiguous run of panel columns.
    struct Block {
        first_sample: usize,
        samples: usize,
        rows: Range<usize>,
    }

    impl Block {
        fn cols(&self, ow: usize) -> usize {
            self.samples * self.rows.len() * ow
        }
    }

    impl Geo {
        /// `nb` samples' output pixels cut into blocks of about `columns`:
        /// whole samples where one fits, else whole rows of one sample.
        fn blocks(&self, nb: usize, columns: usize) -> Vec<Block> {
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
        fn phases(&self, x: &[f32]) -> Vec<f32> {
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
        fn im2col_row(&self, r: usize, src: &[f32], rows: Range<usize>, out: &mut [f32]) {
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
        fn col2im_add(&self, ci: usize, panel: &[f32], cols: usize, col0: usize, rows: Range<usize>, dst: &mut [f32]) {
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

    #[cfg(test)]
    mod tests {
        use super::*;
        use burn::tensor::Distribution;

        fn close(a: TensorData, b: TensorData, tol: f32, what: &str) {
            let (a, b) = (a.to_vec::<f32>().expect("f32"), b.to_vec::<f32>().expect("f32"));
            assert_eq!(a.len(), b.len(), "{what}");
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
            let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / scale;
            assert!(worst <= tol, "{what}: worst difference {worst} of the largest value");
        }

        /// Output and all gradients against burn's own convolution, for
        /// strides 1-3, paddings 0-3, odd sizes, more or fewer outputs than
        /// panel rows (both GEMM orientations), with and without bias.
        #[test]
        fn gradients_match_burns_convolution() {
            let dev = Default::default();
            // (n, c, h, w, o, k, stride, pad)
            for (n, c, h, w, o, k, s, p) in [
                (2, 3, 9, 7, 4, 3, 1, 1),
                (3, 5, 11, 10, 6, 3, 2, 1),
                (2, 12, 15, 15, 8, 7, 2, 3),
                (4, 6, 8, 8, 5, 1, 1, 0),
                (2, 4, 9, 9, 3, 1, 2, 0),
                (2, 2, 10, 9, 3, 4, 3, 2),
                (1, 3, 5, 5, 2, 3, 1, 0),
                (3, 2, 6, 7, 9, 1, 1, 0),
                (2, 3, 8, 8, 32, 3, 2, 1),
                (1, 2, 3, 1, 2, 5, 1, 2),
                (2, 2, 4, 2, 3, 5, 2, 2),
            ] {
                for bias in [false, true] {
                    let conv = burn::nn::conv::Conv2dConfig::new([c, o], [k, k])
                        .with_stride([s, s])
                        .with_padding(burn::nn::PaddingConfig2d::Explicit(p, p, p, p))
                        .with_bias(bias)
                        .init::<Ad>(&dev);
                    let x = Tensor::<Ad, 4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &dev);
                    let mut results = Vec::new();
                    for ours in [true, false] {
                        let xi = x.clone().detach().require_grad();
                        // The panel op itself, not a silent fall-back to burn's layer.
                        let y = if ours {
                            forward(&conv, &xi).expect("an Autodiff<Flex> layer takes the panels")
                        } else {
                            conv.forward(xi.clone())
                        };
                        let up = Tensor::<Ad, 4>::from_data(
                            TensorData::new(
                                (0..y.dims().iter().product::<usize>())
                                    .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
                                    .collect::<Vec<_>>(),
                                y.dims(),
                            ),
                            &dev,
                        );
                        let g = (y.clone() * up).sum().backward();
                        let gb = conv.bias.as_ref().map(|b| b.grad(&g).expect("bias grad").into_data());
                        results.push((
                            y.into_data(),
                            xi.grad(&g).expect("x grad").into_data(),
                            conv.weight.grad(&g).expect("w grad").into_data(),
                            gb,
                        ));
                    }
                    let what = format!("n{n} c{c} {h}x{w} o{o} k{k} s{s} p{p} bias {bias}");
                    close(results[0].0.clone(), results[1].0.clone(), 1e-5, &format!("{what}: output"));
                    close(results[0].1.clone(), results[1].1.clone(), 1e-5, &format!("{what}: input gradient"));
                    close(results[0].2.clone(), results[1].2.clone(), 1e-5, &format!("{what}: weight gradient"));
                    if let (Some(a), Some(b)) = (results[0].3.clone(), results[1].3.clone()) {
                        close(a, b, 1e-5, &format!("{what}: bias gradient"));
                    }
                }
            }
        }

        /// Blocks cover every output pixel of a chunk once, in panel column
        /// order.
        /// The tiled transpose on shapes that are not whole tiles.
        #[test]
        fn transpose_moves_every_value() {
            for (rows, cols) in [(1, 1), (3, 70), (70, 3), (33, 65), (64, 32)] {
                let m: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
                let t = transpose(&m, rows, cols);
                assert!((0..rows).all(|r| (0..cols).all(|c| t[c * rows + r] == m[r * cols + c])), "{rows}x{cols}");
            }
        }

        #[test]
        fn blocks_cover_each_pixel_once() {
            let geo = Geo { h: 9, w: 9, wq: 9, kh: 3, kw: 3, oh: 7, ow: 5, stride: [1, 1], pad: [0, 0] };
            for (nb, columns) in [(3, 1), (3, 10), (3, 34), (3, 35), (3, 70), (4, 105), (2, 1000)] {
                let mut next = 0;
                for b in geo.blocks(nb, columns) {
                    let c0 = b.first_sample * 35 + b.rows.start * 5;
                    assert_eq!(c0, next, "nb {nb}, columns {columns}: blocks follow each other");
                    assert!(b.cols(5) <= columns.max(5), "nb {nb}, columns {columns}: block of {}", b.cols(5));
                    next = c0 + b.cols(5);
                }
                assert_eq!(next, nb * 35, "nb {nb}, columns {columns}: all pixels");
            }
        }

        /// Inference (`Flex`, no autodiff) takes the panels too and gives
        /// burn's output, with and without bias.
        #[test]
        fn inference_matches_burns_convolution() {
            let dev = Default::default();
            for bias in [false, true] {
                let conv = burn::nn::conv::Conv2dConfig::new([5, 7], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(bias)
                    .init::<Flex>(&dev);
                let x = Tensor::<Flex, 4>::random([3, 5, 13, 11], Distribution::Normal(0.0, 1.0), &dev);
                let ours = forward(&conv, &x).expect("a plain Flex layer takes the panels");
                close(ours.into_data(), conv.forward(x).into_data(), 1e-5, &format!("inference, bias {bias}"));
            }
        }

        /// Chunks of samples give the whole batch's output and gradients,
        /// for a strided, padded layer whose last chunk is short.
        #[test]
        fn chunked_panels_give_the_whole_batch_results() {
            let dev = Default::default();
            // Fewer outputs than panel rows (27) and more: both dW orientations.
            for o in [4, 30] {
                let (n, c, h, w) = (5, 3, 7, 6);
                let x = Tensor::<Flex, 4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &dev)
                    .into_primitive()
                    .tensor();
                let wt = Tensor::<Flex, 4>::random([o, c, 3, 3], Distribution::Normal(0.0, 1.0), &dev)
                    .into_primitive()
                    .tensor();
                let b = Tensor::<Flex, 1>::random([o], Distribution::Normal(0.0, 1.0), &dev).into_primitive().tensor();
                let options = ConvOptions::new([2, 1], [1, 1], [1, 1], 1);
                let y = Flex::conv2d(x.clone(), wt.clone(), Some(b.clone()), options.clone());
                let g = Tensor::<Flex, 4>::random(y.layout().shape().to_vec(), Distribution::Normal(0.0, 1.0), &dev)
                    .into_primitive()
                    .tensor();
                let want_dx = Flex::conv2d_x_backward(x.clone(), wt.clone(), g.clone(), options.clone()).into_data();
                let want_dw =
                    Flex::conv2d_weight_backward(x.clone(), wt.clone(), g.clone(), options.clone()).into_data();
                // A sample's panel is 27 x (4*6) values and its dY' o x (4*6):
                // budgets of 1, 2 and all 5 samples; blocks of 1 and 2 rows, 1,
                // 2 and all samples.
                for per in [1usize, 2, 5] {
                    let panel_values = per * 27.max(o) * 24;
                    for block_columns in [5, 12, 24, 48, 4096] {
                        let budget = Budget { panel_values, block_columns };
                        let what = format!("{o} outputs, chunks of {per} samples, blocks of {block_columns}");
                        let got =
                            panel_forward_in(x.clone(), wt.clone(), Some(b.clone()), &options, budget).into_data();
                        close(got, y.clone().into_data(), 1e-5, &format!("output, {what}"));
                        let (dx, dw) = panel_backward(x.clone(), wt.clone(), g.clone(), &options, true, true, budget);
                        close(dx.expect("dx").into_data(), want_dx.clone(), 1e-5, &format!("input gradient, {what}"));
                        close(dw.expect("dw").into_data(), want_dw.clone(), 1e-5, &format!("weight gradient, {what}"));
                    }
                }
                // Only what is asked for is computed.
                let (dx, dw) = panel_backward(x.clone(), wt.clone(), g.clone(), &options, false, true, Budget::DEFAULT);
                assert!(dx.is_none() && dw.is_some());
                let (dx, dw) = panel_backward(x, wt, g, &options, true, false, Budget::DEFAULT);
                assert!(dx.is_some() && dw.is_none());
            }
        }
    }
}

#[cfg(test)]
mod cuda_conv_tests {
    use super::CudaConv;

    #[test]
    fn algorithm_names_round_trip_and_unknown_ones_are_refused() {
        for algo in [CudaConv::Burn, CudaConv::ImplicitGemm] {
            assert_eq!(CudaConv::parse(algo.name()), Some(algo));
        }
        assert_eq!(CudaConv::parse(""), Some(CudaConv::Burn));
        assert_eq!(CudaConv::parse("implicit_gemm"), None);
        assert_eq!(CudaConv::parse("Burn"), None);
    }
}
