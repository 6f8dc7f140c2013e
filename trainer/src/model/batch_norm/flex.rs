//! Training-mode batch norm on `Autodiff<Flex>` as one autodiff op, with
//! the ReLU and the residual add that follow it in ResNet fused in:
//! `y = relu((x - mean) * gamma / sqrt(var + eps) + beta + residual)`.
//!
//! The forward reads `x` twice (mean, then variance about it) and writes
//! `y` once; the backward reads `x` and `dY` twice (the per-channel sums
//! `sum g` and `sum g*xhat` of the gradient `g` that passes the ReLU, then
//! `dX`) and writes `dX` once, over `dY` when there is no residual; with
//! one, `g` (the residual's gradient) goes over `dY` in the first pass. The
//! ReLU mask is recomputed from `x` (and the residual) rather than stored.
//! The burn operations of `rows.rs` and a separate ReLU and add pass
//! over the activation about 30 times in all.
//!
//! Sums run in 16 (f32) or 8 (f64) independent lanes: a single running sum
//! is one dependent chain of adds, which the compiler may not reorder into
//! SIMD lanes, so it ran at one add per 4 cycles.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::nn::BatchNorm;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData, TensorPrimitive};

use super::rows::update;
use crate::model::downcast::cast;
use crate::model::on_flex::{contiguous, f32s, owned};
use rayon::prelude::*;

type Ad = Autodiff<Flex>;

/// f32 lanes of the backward sums (one AVX-512 register).
const LANES: usize = 16;

/// The fused op when `B` is `Autodiff<Flex>` and the tensors are f32:
/// `bn(x)`, plus `residual` when given, then a ReLU when `relu`; `None`
/// otherwise (burn-cuda, inference, other types, mismatched shapes).
pub(super) fn forward<B: Backend>(
    bn: &BatchNorm<B>,
    x: &Tensor<B, 4>,
    residual: Option<&Tensor<B, 4>>,
    relu: bool,
) -> Option<Tensor<B, 4>> {
    let dev = x.device();
    let x = cast::<_, Tensor<Ad, 4>>(x)?;
    let residual = match residual {
        Some(r) => Some(cast::<_, Tensor<Ad, 4>>(r)?),
        None => None,
    };
    let gamma = cast::<_, Tensor<Ad, 1>>(&bn.gamma.val())?;
    let beta = cast::<_, Tensor<Ad, 1>>(&bn.beta.val())?;
    let (y, mean, var) = batch_norm(x, gamma, beta, residual, relu, bn.epsilon)?;
    let c = mean.len();
    let stat = |v: Vec<f32>| Tensor::<B, 1>::from_data(TensorData::new(v, [c]), &dev);
    update(bn, stat(mean), stat(var));
    cast(&y)
}

/// The fused forward; returns `y` and the batch's per-channel mean and
/// biased variance. `None` when a tensor is not f32 or a shape disagrees.
fn batch_norm(
    x: Tensor<Ad, 4>,
    gamma: Tensor<Ad, 1>,
    beta: Tensor<Ad, 1>,
    residual: Option<Tensor<Ad, 4>>,
    relu: bool,
    eps: f64,
) -> Option<(Tensor<Ad, 4>, Vec<f32>, Vec<f32>)> {
    let [n, c, h, w] = x.dims();
    if residual.as_ref().is_some_and(|r| r.dims() != [n, c, h, w]) {
        return None;
    }
    let (x, gamma, beta) =
        (x.into_primitive().tensor(), gamma.into_primitive().tensor(), beta.into_primitive().tensor());
    let residual = residual.map(|r| r.into_primitive().tensor());
    let xp = contiguous(&x.primitive);
    let gp = contiguous(&gamma.primitive);
    let bp = contiguous(&beta.primitive);
    let rp = residual.as_ref().map(|r| contiguous(&r.primitive));
    let (xs, gs, bs) = (f32s(&xp, n * c * h * w)?, f32s(&gp, c)?, f32s(&bp, c)?);
    let rs = match &rp {
        Some(r) => Some(f32s(r, n * c * h * w)?),
        None => None,
    };
    let (l, m) = (h * w, (n * h * w) as f64);
    if m == 0.0 {
        return None;
    }
    // Per channel: the mean, then the mean square deviation about it (f64 sums).
    let mean: Vec<f64> = (0..c)
        .into_par_iter()
        .map(|ci| planes(xs, n, c, l, ci).map(|p| sum_f64(p, 0.0, false)).sum::<f64>() / m)
        .collect();
    let var: Vec<f64> = (0..c)
        .into_par_iter()
        .map(|ci| planes(xs, n, c, l, ci).map(|p| sum_f64(p, mean[ci], true)).sum::<f64>() / m)
        .collect();
    let inv_std: Vec<f32> = var.iter().map(|v| (1.0 / (v + eps).sqrt()) as f32).collect();
    let mean32: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
    // y = x * scale + shift (+ r); the backward recomputes the ReLU mask
    // from these very values, so both passes agree bit for bit.
    let scale: Vec<f32> = (0..c).map(|ci| gs[ci] * inv_std[ci]).collect();
    let shift: Vec<f32> = (0..c).map(|ci| bs[ci] - mean32[ci] * scale[ci]).collect();
    let mut y = vec![0f32; n * c * l];
    y.par_chunks_exact_mut(l).enumerate().for_each(|(i, yp)| {
        let (a, b) = (scale[i % c], shift[i % c]);
        let xp = &xs[i * l..(i + 1) * l];
        match (rs, relu) {
            (Some(rs), true) => yp
                .iter_mut()
                .zip(xp.iter().zip(&rs[i * l..(i + 1) * l]))
                .for_each(|(y, (&x, &r))| *y = (x * a + b + r).max(0.0)),
            (Some(rs), false) => {
                yp.iter_mut().zip(xp.iter().zip(&rs[i * l..(i + 1) * l])).for_each(|(y, (&x, &r))| *y = x * a + b + r)
            }
            (None, true) => yp.iter_mut().zip(xp).for_each(|(y, &x)| *y = (x * a + b).max(0.0)),
            (None, false) => yp.iter_mut().zip(xp).for_each(|(y, &x)| *y = x * a + b),
        }
    });
    let y = FlexTensor::from_data(TensorData::new(y, [n, c, h, w]));
    let var32 = var.iter().map(|&v| v as f32).collect();
    let out = match residual {
        None => match Fused
            .prepare::<NoCheckpointing>([x.node.clone(), gamma.node.clone(), beta.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state =
                    State { x: prep.checkpoint(&x), residual: None, relu, mean: mean32.clone(), inv_std, scale, shift };
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        },
        Some(r) => match FusedAdd
            .prepare::<NoCheckpointing>([x.node.clone(), gamma.node.clone(), beta.node.clone(), r.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = State {
                    x: prep.checkpoint(&x),
                    residual: Some(prep.checkpoint(&r)),
                    relu,
                    mean: mean32.clone(),
                    inv_std,
                    scale,
                    shift,
                };
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        },
    };
    Some((Tensor::from_primitive(TensorPrimitive::Float(out)), mean32, var32))
}

/// `sum v` (or `sum (v - mu)^2` when `square`) over `p` in f64, in 8
/// independent lanes.
fn sum_f64(p: &[f32], mu: f64, square: bool) -> f64 {
    let mut acc = [0f64; 8];
    let term = |v: f32| if square { (v as f64 - mu) * (v as f64 - mu) } else { v as f64 };
    let chunks = p.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&v| term(v)).sum();
    for ch in chunks {
        for (a, &v) in acc.iter_mut().zip(ch) {
            *a += term(v);
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Channel `ci`'s `h*w` planes of each sample in `[N, C, H*W]` values.
fn planes(xs: &[f32], n: usize, c: usize, l: usize, ci: usize) -> impl Iterator<Item = &[f32]> {
    (0..n).map(move |s| &xs[(s * c + ci) * l..(s * c + ci + 1) * l])
}

/// Batch norm, then the ReLU if any; parents `x`, `gamma`, `beta`.
#[derive(Debug)]
struct Fused;

/// Batch norm, the residual add, then the ReLU if any; parents `x`,
/// `gamma`, `beta`, `residual`.
#[derive(Debug)]
struct FusedAdd;

#[derive(Clone, Debug)]
struct State {
    x: NodeId,
    residual: Option<NodeId>,
    relu: bool,
    /// The batch's per-channel mean and `1/sqrt(var + eps)`.
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// `y = x * scale + shift (+ residual)` before the ReLU, per channel.
    scale: Vec<f32>,
    shift: Vec<f32>,
}

impl Backward<Flex, 3> for Fused {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let [x, g, b] = ops.parents.map(|p| p.map(|node| node.id));
        backward(ops.state, dy, [x, g, b, None], grads, checkpointer);
    }
}

impl Backward<Flex, 4> for FusedAdd {
    type State = State;

    fn backward(self, ops: Ops<State, 4>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        backward(ops.state, dy, ops.parents.map(|p| p.map(|node| node.id)), grads, checkpointer);
    }
}

/// With `g = dY` where the output passed the ReLU (else 0), `xhat =
/// (x - mean) * inv_std` and `M = N*H*W` values a channel:
/// `dbeta = sum g`, `dgamma = sum g*xhat`, `dresidual = g`,
/// `dX = gamma * inv_std / M * (M*g - dbeta - xhat*dgamma)`.
/// `parents`: the nodes of `x`, `gamma`, `beta`, `residual` that need
/// gradients.
///
/// `dY` is ours alone once consumed (else copied once), so the result
/// is written over it: `g` when there is a residual (its gradient), else
/// `dX`. Fresh activation-sized buffers cost a page fault per 4 KiB on
/// first write: the residual's `g` in a buffer of its own took 14 of
/// 18 ms of a `[16, 64, 60, 60]` backward.
fn backward(
    st: State,
    dy: FlexTensor,
    parents: [Option<NodeId>; 4],
    grads: &mut Gradients,
    checkpointer: &mut Checkpointer,
) {
    let [node_x, node_g, node_b, node_r] = parents;
    let x = contiguous(&checkpointer.retrieve_node_output::<FlexTensor>(st.x));
    let r = st.residual.map(|id| contiguous(&checkpointer.retrieve_node_output::<FlexTensor>(id)));
    let shape = x.layout().shape().to_vec();
    let (n, c, l) = (shape[0], shape[1], shape[2] * shape[3]);
    let len = n * c * l;
    // Unreachable for tensors the forward accepted; leave the gradients unset rather than panic.
    let Some(mut dy) = owned(dy, len) else { return };
    let Some(xs) = f32s(&x, len) else { return };
    let rs = match &r {
        Some(r) => match f32s(r, len) {
            Some(rs) => Some(rs),
            None => return,
        },
        None => None,
    };
    let ds = dy.storage_mut::<f32>();
    let plane_sums: Vec<(f32, f32)> = match rs {
        // g = masked dY, in place: the residual's gradient and dX's input.
        Some(rs) => ds
            .par_chunks_exact_mut(l)
            .enumerate()
            .map(|(i, gp)| {
                let ci = i % c;
                let span = i * l..(i + 1) * l;
                let (xp, rp) = (&xs[span.clone()], &rs[span]);
                let (a, b, mu, is) = (st.scale[ci], st.shift[ci], st.mean[ci], st.inv_std[ci]);
                if st.relu {
                    gp.iter_mut()
                        .zip(xp.iter().zip(rp))
                        .for_each(|(g, (&x, &r))| *g = if x * a + b + r > 0.0 { *g } else { 0.0 });
                }
                sums(xp, gp, mu, is, |_, d| d)
            })
            .collect(),
        None => ds
            .par_chunks_exact(l)
            .enumerate()
            .map(|(i, dp)| {
                let ci = i % c;
                let xp = &xs[i * l..(i + 1) * l];
                let (a, b, mu, is) = (st.scale[ci], st.shift[ci], st.mean[ci], st.inv_std[ci]);
                if st.relu {
                    sums(xp, dp, mu, is, |x, d| if x * a + b > 0.0 { d } else { 0.0 })
                } else {
                    sums(xp, dp, mu, is, |_, d| d)
                }
            })
            .collect(),
    };
    // Per channel over the samples, in f64.
    let sums: Vec<(f64, f64)> = (0..c)
        .map(|ci| {
            (0..n).map(|s| plane_sums[s * c + ci]).fold((0f64, 0f64), |(sb, sg), (b, g)| (sb + b as f64, sg + g as f64))
        })
        .collect();
    if let Some(node) = node_g {
        grads.register::<Flex>(
            node,
            FlexTensor::from_data(TensorData::new(sums.iter().map(|s| s.1 as f32).collect::<Vec<_>>(), [c])),
        );
    }
    if let Some(node) = node_b {
        grads.register::<Flex>(
            node,
            FlexTensor::from_data(TensorData::new(sums.iter().map(|s| s.0 as f32).collect::<Vec<_>>(), [c])),
        );
    }
    // dX = a * (g - db - xhat * dg), per plane: a = gamma * inv_std is
    // the forward's scale; `(mean, inv_std, a, b, db, dg)` of plane `i`.
    let m = (n * l) as f32;
    let coefficients = |i: usize| {
        let ci = i % c;
        (st.mean[ci], st.inv_std[ci], st.scale[ci], st.shift[ci], sums[ci].0 as f32 / m, sums[ci].1 as f32 / m)
    };
    match rs {
        Some(_) => {
            if let Some(node) = node_x {
                let gs = dy.storage::<f32>();
                let mut dx = vec![0f32; len];
                dx.par_chunks_exact_mut(l).enumerate().for_each(|(i, out)| {
                    let (mu, is, a, _, db, dg) = coefficients(i);
                    let span = i * l..(i + 1) * l;
                    out.iter_mut()
                        .zip(xs[span.clone()].iter().zip(&gs[span]))
                        .for_each(|(o, (&x, &g))| *o = a * (g - db - (x - mu) * is * dg));
                });
                grads.register::<Flex>(node, FlexTensor::from_data(TensorData::new(dx, shape)));
            }
            if let Some(node) = node_r {
                grads.register::<Flex>(node, dy);
            }
        }
        None => {
            if let Some(node) = node_x {
                // Over dY itself: each value is read before it is overwritten.
                dy.storage_mut::<f32>().par_chunks_exact_mut(l).enumerate().for_each(|(i, io)| {
                    let (mu, is, a, b, db, dg) = coefficients(i);
                    let xp = &xs[i * l..(i + 1) * l];
                    if st.relu {
                        io.iter_mut().zip(xp).for_each(|(o, &x)| {
                            *o = a * (if x * a + b > 0.0 { *o } else { 0.0 } - db - (x - mu) * is * dg)
                        });
                    } else {
                        io.iter_mut().zip(xp).for_each(|(o, &x)| *o = a * (*o - db - (x - mu) * is * dg));
                    }
                });
                grads.register::<Flex>(node, dy);
            }
        }
    }
}

/// `(sum g, sum g * xhat)` over one plane, `g = grad(x, d)`, in
/// [`LANES`] independent f32 lanes.
#[inline(always)]
fn sums(xp: &[f32], dp: &[f32], mu: f32, is: f32, grad: impl Fn(f32, f32) -> f32) -> (f32, f32) {
    let (mut sb, mut sg) = ([0f32; LANES], [0f32; LANES]);
    let (xc, dc) = (xp.chunks_exact(LANES), dp.chunks_exact(LANES));
    let (mut tb, mut tg) = (0f32, 0f32);
    for (&x, &d) in xc.remainder().iter().zip(dc.remainder()) {
        let g = grad(x, d);
        tb += g;
        tg += g * (x - mu) * is;
    }
    for (xs, ds) in xc.zip(dc) {
        for j in 0..LANES {
            let g = grad(xs[j], ds[j]);
            sb[j] += g;
            sg[j] += g * (xs[j] - mu) * is;
        }
    }
    (sb.iter().sum::<f32>() + tb, sg.iter().sum::<f32>() + tg)
}
