//! The trainer's 2-D convolution. On the CPU backend (`Autodiff<Flex>`) the
//! weight gradient is one GEMM over an im2col panel; every other backend
//! (burn-cuda, burn-ndarray) runs burn's own `Conv2d` unchanged.
//!
//! burn 0.21 computes the weight gradient generically: a convolution of the
//! input, batch and channel axes swapped, with the output gradient as a
//! kernel of `oh x ow` taps. burn-flex copies that swapped view into a
//! contiguous one element by element, then gathers an im2col panel for a
//! kernel the size of the output map: 36-47 % of a CPU training step in
//! `perf`. Here
//!
//! ```text
//! dW[o][(c,ky,kx)] = sum_{n,oy,ox} dY[n][o][oy][ox] * X[n][c][oy*s-p+ky][ox*s-p+kx]
//!                  = (dY' · Xcol^T)[o][(c,ky,kx)],  dY' = [O][N*L],  Xcol = [C*kh*kw][N*L]
//! ```
//!
//! with `L = oh*ow`: both operands are written by plain row loops (Xcol's
//! rows in parallel) and multiplied by burn-flex's GEMM, over chunks of
//! samples so the panel stays under [`PANEL_VALUES`]. The forward pass and
//! the input gradient stay burn-flex's own. Groups, dilation and asymmetric
//! padding (none of which the bemm networks use) take burn's path.

use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// `conv` applied to `x` (`[N, C, H, W]` -> `[N, O, oh, ow]`), as
/// `conv.forward(x)` computes it.
pub fn forward<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    #[cfg(feature = "flex")]
    if let Some(y) = flex::forward(conv, &x) {
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
    use burn::nn::PaddingConfig2d;
    use burn::tensor::backend::Backend;
    use burn::tensor::ops::{ConvOptions, FloatTensor, FloatTensorOps, ModuleOps};
    use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
    use rayon::prelude::*;
    use std::any::Any;

    type Ad = Autodiff<Flex>;

    /// Most f32 values of one im2col panel (64 MiB); larger batches are
    /// taken a chunk of samples at a time.
    pub(super) const PANEL_VALUES: usize = 16 << 20;

    /// The convolution through [`conv2d`] when `B` is `Autodiff<Flex>` and
    /// the layer is an ungrouped, undilated, symmetrically padded one;
    /// `None` otherwise.
    pub(super) fn forward<B: Backend>(conv: &Conv2d<B>, x: &Tensor<B, 4>) -> Option<Tensor<B, 4>> {
        let xa = (x as &dyn Any).downcast_ref::<Tensor<Ad, 4>>()?.clone();
        if conv.groups != 1 || conv.dilation != [1, 1] {
            return None;
        }
        let (top, left) = match conv.padding {
            PaddingConfig2d::Valid => (0, 0),
            PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => (top, left),
            _ => return None,
        };
        let weight = conv.weight.val();
        let wa = (&weight as &dyn Any).downcast_ref::<Tensor<Ad, 4>>()?.clone();
        let bias = match &conv.bias {
            Some(b) => {
                let b = b.val();
                Some((&b as &dyn Any).downcast_ref::<Tensor<Ad, 1>>()?.clone())
            }
            None => None,
        };
        let y = conv2d(xa, wa, bias, ConvOptions::new(conv.stride, [top, left], [1, 1], 1));
        let mut out = Some(y);
        (&mut out as &mut dyn Any).downcast_mut::<Option<Tensor<B, 4>>>()?.take()
    }

    /// burn-flex's convolution with [`weight_grad`] as the weight gradient.
    pub(super) fn conv2d(x: Tensor<Ad, 4>, weight: Tensor<Ad, 4>, bias: Option<Tensor<Ad, 1>>, options: ConvOptions<2>) -> Tensor<Ad, 4> {
        let x = x.into_primitive().tensor();
        let w = weight.into_primitive().tensor();
        let out = match bias.map(|b| b.into_primitive().tensor()) {
            None => match NoBias.prepare::<NoCheckpointing>([x.node.clone(), w.node.clone()]).compute_bound().stateful() {
                OpsKind::Tracked(mut prep) => {
                    let (xs, ws) = (prep.checkpoint(&x), prep.checkpoint(&w));
                    prep.finish((xs, ws, options.clone()), Flex::conv2d(x.primitive, w.primitive, None, options))
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::conv2d(x.primitive, w.primitive, None, options)),
            },
            Some(b) => match WithBias.prepare::<NoCheckpointing>([x.node.clone(), w.node.clone(), b.node.clone()]).compute_bound().stateful() {
                OpsKind::Tracked(mut prep) => {
                    let (xs, ws) = (prep.checkpoint(&x), prep.checkpoint(&w));
                    prep.finish((xs, ws, options.clone()), Flex::conv2d(x.primitive, w.primitive, Some(b.primitive), options))
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::conv2d(x.primitive, w.primitive, Some(b.primitive), options)),
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

    /// Registers the input gradient (burn-flex's) and the weight gradient
    /// ([`weight_grad`]) for the parents that need them.
    fn input_and_weight_grads(node_x: Option<NodeId>, node_w: Option<NodeId>, state: State, grad: &FloatTensor<Flex>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let (xs, ws, options) = state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(xs);
        let w = checkpointer.retrieve_node_output::<FlexTensor>(ws);
        if let Some(id) = node_x {
            grads.register::<Flex>(id, Flex::conv2d_x_backward(x.clone(), w.clone(), grad.clone(), options.clone()));
        }
        if let Some(id) = node_w {
            grads.register::<Flex>(id, weight_grad(x, w, grad.clone(), &options));
        }
    }

    /// `dW` (`[O, C, kh, kw]`) from the input `x` (`[N, C, H, W]`) and the
    /// output gradient (`[N, O, oh, ow]`), as one GEMM per chunk of samples
    /// (see the module doc). Non-f32 tensors take burn's generic path.
    pub(super) fn weight_grad(x: FlexTensor, w: FlexTensor, grad: FlexTensor, options: &ConvOptions<2>) -> FlexTensor {
        weight_grad_in(x, w, grad, options, PANEL_VALUES)
    }

    /// [`weight_grad`] with panels of at most `panel_values` f32 (one sample
    /// at the least).
    fn weight_grad_in(x: FlexTensor, w: FlexTensor, grad: FlexTensor, options: &ConvOptions<2>, panel_values: usize) -> FlexTensor {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return Flex::conv2d_weight_backward(x, w, grad, options.clone());
        }
        let (xd, wd, gd) = (x.layout().shape().to_vec(), w.layout().shape().to_vec(), grad.layout().shape().to_vec());
        let (n, c, h, wi) = (xd[0], xd[1], xd[2], xd[3]);
        let (o, kh, kw) = (wd[0], wd[2], wd[3]);
        let (oh, ow) = (gd[2], gd[3]);
        let (l, ckk) = (oh * ow, c * kh * kw);
        let x = if x.is_contiguous() { x } else { x.to_contiguous() };
        let grad = if grad.is_contiguous() { grad } else { grad.to_contiguous() };
        let (Some(xs), Some(gs)) = (x.as_slice::<f32>(), grad.as_slice::<f32>()) else {
            return Flex::conv2d_weight_backward(x, w, grad, options.clone());
        };
        let geo = Geo { h, w: wi, kh, kw, ow, stride: options.stride, pad: options.padding };
        let chunk = (panel_values / (l * ckk).max(1)).clamp(1, n.max(1));
        let mut acc: Option<FlexTensor> = None;
        for n0 in (0..n).step_by(chunk) {
            let nb = chunk.min(n - n0);
            let cols = nb * l;
            // dY' = [O][nb*L]: sample j's rows of every output channel side by side.
            let mut dy = vec![0f32; o * cols];
            for (oc, row) in dy.chunks_exact_mut(cols).enumerate() {
                for (j, part) in row.chunks_exact_mut(l).enumerate() {
                    let at = ((n0 + j) * o + oc) * l;
                    part.copy_from_slice(&gs[at..at + l]);
                }
            }
            let mut panel = vec![0f32; ckk * cols];
            let per_sample = c * h * wi;
            panel.par_chunks_exact_mut(cols).enumerate().for_each(|(r, row)| {
                for (j, part) in row.chunks_exact_mut(l).enumerate() {
                    let s = n0 + j;
                    geo.im2col_row(r, &xs[s * per_sample..(s + 1) * per_sample], part);
                }
            });
            let dy = FlexTensor::from_data(TensorData::new(dy, [o, cols]));
            let panel = FlexTensor::from_data(TensorData::new(panel, [ckk, cols])).transpose(0, 1);
            let part = Flex::float_matmul(dy, panel);
            acc = Some(match acc {
                Some(a) => Flex::float_add(a, part),
                None => part,
            });
        }
        match acc {
            Some(a) => a.reshape([o, c, kh, kw].into()),
            None => FlexTensor::from_data(TensorData::new(vec![0f32; o * ckk], [o, c, kh, kw])),
        }
    }

    /// The bias gradient: the output gradient summed over samples and pixels.
    fn bias_grad(grad: FlexTensor) -> FlexTensor {
        let d = grad.layout().shape().to_vec();
        let (n, o, l) = (d[0], d[1], d[2] * d[3]);
        let grad = if grad.is_contiguous() { grad } else { grad.to_contiguous() };
        match (grad.dtype(), grad.as_slice::<f32>()) {
            (DType::F32, Some(g)) => {
                let mut sums = vec![0f32; o];
                for (i, plane) in g.chunks_exact(l.max(1)).take(n * o).enumerate() {
                    sums[i % o] += plane.iter().sum::<f32>();
                }
                FlexTensor::from_data(TensorData::new(sums, [o]))
            }
            _ => {
                let summed = Flex::float_sum_dim(Flex::float_sum_dim(Flex::float_reshape(grad, [n, o, l].into()), 2), 0);
                Flex::float_reshape(summed, [o].into())
            }
        }
    }

    /// Sizes of one convolution (input planes `h x w`, kernel `kh x kw`,
    /// output rows of `ow`, stride and padding per axis).
    #[derive(Clone, Copy)]
    struct Geo {
        h: usize,
        w: usize,
        kh: usize,
        kw: usize,
        ow: usize,
        stride: [usize; 2],
        pad: [usize; 2],
    }

    impl Geo {
        /// Row `r = (c, ky, kx)` of one sample's im2col panel: the input
        /// value under tap `(ky, kx)` of channel `c` for every output pixel
        /// (`oh*ow` values, zero in the padding). `x` is the sample, CHW.
        fn im2col_row(&self, r: usize, x: &[f32], out: &mut [f32]) {
            let (ci, t) = (r / (self.kh * self.kw), r % (self.kh * self.kw));
            let (ky, kx) = (t / self.kw, t % self.kw);
            let plane = &x[ci * self.h * self.w..(ci + 1) * self.h * self.w];
            let [sy, sx] = self.stride;
            let [py, px] = self.pad;
            for (oy, dst) in out.chunks_exact_mut(self.ow).enumerate() {
                let iy = (oy * sy + ky) as isize - py as isize;
                if iy < 0 || iy >= self.h as isize {
                    dst.fill(0.0);
                    continue;
                }
                let src = &plane[iy as usize * self.w..(iy as usize + 1) * self.w];
                // Output columns whose input column `ox*sx + kx - px` lies inside the row.
                let first = px.saturating_sub(kx).div_ceil(sx).min(self.ow);
                let end = if self.w + px > kx { ((self.w + px - kx - 1) / sx + 1).min(self.ow) } else { 0 }.max(first);
                dst[..first].fill(0.0);
                dst[end..].fill(0.0);
                if end == first {
                    continue;
                }
                let x0 = first * sx + kx - px;
                if sx == 1 {
                    dst[first..end].copy_from_slice(&src[x0..x0 + (end - first)]);
                } else {
                    for (d, s) in dst[first..end].iter_mut().zip(src[x0..].iter().step_by(sx)) {
                        *d = *s;
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
        /// strides 1-3, paddings 0-3, odd sizes, with and without bias, and
        /// a panel small enough to need several sample chunks.
        #[test]
        fn gradients_match_burns_convolution() {
            let dev = Default::default();
            // (n, c, h, w, o, k, stride, pad)
            for (n, c, h, w, o, k, s, p) in [(2, 3, 9, 7, 4, 3, 1, 1), (3, 5, 11, 10, 6, 3, 2, 1), (2, 12, 15, 15, 8, 7, 2, 3), (4, 6, 8, 8, 5, 1, 1, 0), (2, 4, 9, 9, 3, 1, 2, 0), (2, 2, 10, 9, 3, 4, 3, 2), (1, 3, 5, 5, 2, 3, 1, 0)] {
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
                        let y = if ours { super::super::forward(&conv, xi.clone()) } else { conv.forward(xi.clone()) };
                        let up = Tensor::<Ad, 4>::from_data(TensorData::new((0..y.dims().iter().product::<usize>()).map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0).collect::<Vec<_>>(), y.dims()), &dev);
                        let g = (y.clone() * up).sum().backward();
                        let gb = conv.bias.as_ref().map(|b| b.grad(&g).expect("bias grad").into_data());
                        results.push((y.into_data(), xi.grad(&g).expect("x grad").into_data(), conv.weight.grad(&g).expect("w grad").into_data(), gb));
                    }
                    let what = format!("n{n} c{c} {h}x{w} o{o} k{k} s{s} p{p} bias {bias}");
                    close(results[0].0.clone(), results[1].0.clone(), 1e-6, &format!("{what}: output"));
                    close(results[0].1.clone(), results[1].1.clone(), 1e-5, &format!("{what}: input gradient"));
                    close(results[0].2.clone(), results[1].2.clone(), 1e-5, &format!("{what}: weight gradient"));
                    if let (Some(a), Some(b)) = (results[0].3.clone(), results[1].3.clone()) {
                        close(a, b, 1e-5, &format!("{what}: bias gradient"));
                    }
                }
            }
        }

        /// Chunks of samples add up to the whole-batch gradient.
        #[test]
        fn chunked_panels_give_the_whole_batch_gradient() {
            let dev = Default::default();
            let (n, c, h, w, o) = (5, 3, 6, 6, 4);
            let x = Tensor::<Flex, 4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &dev).into_primitive().tensor();
            let wt = Tensor::<Flex, 4>::random([o, c, 3, 3], Distribution::Normal(0.0, 1.0), &dev).into_primitive().tensor();
            let g = Tensor::<Flex, 4>::random([n, o, 6, 6], Distribution::Normal(0.0, 1.0), &dev).into_primitive().tensor();
            let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
            let want = Flex::conv2d_weight_backward(x.clone(), wt.clone(), g.clone(), options.clone()).into_data();
            // A sample's panel is 27 x 36 values: budgets of 1, 2 and all 5 samples.
            for per in [1usize, 2, 5] {
                let got = weight_grad_in(x.clone(), wt.clone(), g.clone(), &options, per * 27 * 36).into_data();
                close(got, want.clone(), 1e-5, &format!("chunks of {per} samples"));
            }
        }
    }
}
