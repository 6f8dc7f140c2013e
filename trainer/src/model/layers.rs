//! Building blocks shared by every network: conv + batch norm, and the
//! named-layer visitor that maps burn modules to torchvision parameter names.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::rng::SplitMix64;

/// A mutable view of one named layer (torchvision name, e.g. `layer1.0.conv1`).
pub enum LayerMut<'a, B: Backend> {
    /// Convolution; weight `[out, in, k, k]` (OIHW), optional bias `[out]`.
    Conv(&'a mut Conv2d<B>),
    /// Batch norm over channels.
    Bn(&'a mut BatchNorm<B>),
    /// Fully connected; burn stores the weight as `[in, out]`.
    Linear(&'a mut Linear<B>),
}

/// Callback of [`crate::model::Net::visit`]: `(torchvision name, layer)`.
pub type Visitor<'v, B> = dyn FnMut(&str, LayerMut<'_, B>) + 'v;

/// Convolution (no bias unless asked) followed by batch norm; torchvision's
/// `convX` + `bnX` pair. Input `[N, in, H, W]` -> `[N, out, H', W']`.
#[derive(Module, Debug)]
pub struct ConvBn<B: Backend> {
    /// The convolution.
    pub conv: Conv2d<B>,
    /// Its batch norm.
    pub bn: BatchNorm<B>,
}

impl<B: Backend> ConvBn<B> {
    /// `k x k` convolution with `stride` and symmetric `pad`, then BN (eps 1e-5, momentum 0.1 as PyTorch).
    pub fn new(in_c: usize, out_c: usize, k: usize, stride: usize, pad: usize, bias: bool, device: &B::Device) -> Self {
        let conv = Conv2dConfig::new([in_c, out_c], [k, k])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(bias)
            .init(device);
        ConvBn { conv, bn: BatchNormConfig::new(out_c).init(device) }
    }

    /// conv then BN (no activation).
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        super::batch_norm::forward(&self.bn, super::conv::forward(&self.conv, x))
    }

    /// conv, BN, ReLU (BN and ReLU one fused op on the CPU trainer).
    pub fn forward_relu(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        super::batch_norm::forward_relu(&self.bn, super::conv::forward(&self.conv, x))
    }

    /// conv, BN, `+ residual`, ReLU: a residual block's last step
    /// (`residual` has the output's shape).
    pub fn forward_add_relu(&self, x: Tensor<B, 4>, residual: Tensor<B, 4>) -> Tensor<B, 4> {
        super::batch_norm::forward_add_relu(&self.bn, super::conv::forward(&self.conv, x), residual)
    }

    /// Visit as `conv_name` and `bn_name`.
    pub fn for_each_layer(&mut self, conv_name: &str, bn_name: &str, f: &mut Visitor<'_, B>) {
        f(conv_name, LayerMut::Conv(&mut self.conv));
        f(bn_name, LayerMut::Bn(&mut self.bn));
    }
}

/// `Linear` with PyTorch's default layout semantics documented: input `[N, in]` -> `[N, out]`.
pub fn linear<B: Backend>(inp: usize, out: usize, device: &B::Device) -> Linear<B> {
    LinearConfig::new(inp, out).init(device)
}

/// Global average pool: `[N, C, H, W]` -> `[N, C]`.
pub fn global_avg_pool<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
}

/// Re-initialise a layer from our own seeded generator, so that a run's
/// initial weights depend only on `--seed` on every backend (burn's backend
/// RNGs differ per backend and Flex re-seeds from entropy after one use).
/// torchvision's scheme: convolutions Kaiming-normal (fan-out, ReLU gain),
/// BN weight 1 / bias 0, linear layers uniform(+-1/sqrt(fan_in)).
pub fn reinit<B: Backend>(layer: LayerMut<'_, B>, rng: &mut SplitMix64, device: &B::Device) {
    match layer {
        LayerMut::Conv(c) => {
            let dims = c.weight.val().dims();
            let fan_out = dims[0] * dims[2] * dims[3];
            let std = (2.0 / fan_out as f64).sqrt();
            let n: usize = dims.iter().product();
            let v: Vec<f32> = (0..n).map(|_| (rng.normal() * std) as f32).collect();
            c.weight = Param::from_tensor(Tensor::from_data(TensorData::new(v, dims), device));
            if let Some(b) = &c.bias {
                let len = b.val().dims()[0];
                c.bias = Some(Param::from_tensor(Tensor::zeros([len], device)));
            }
        }
        LayerMut::Bn(_) => {}
        LayerMut::Linear(l) => {
            let dims = l.weight.val().dims();
            let bound = 1.0 / (dims[0] as f64).sqrt();
            let n = dims[0] * dims[1];
            let v: Vec<f32> = (0..n).map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32).collect();
            l.weight = Param::from_tensor(Tensor::from_data(TensorData::new(v, dims), device));
            if l.bias.is_some() {
                let b: Vec<f32> = (0..dims[1]).map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32).collect();
                l.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(b, [dims[1]]), device)));
            }
        }
    }
}
