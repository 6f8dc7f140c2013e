//! VGG-16/19 with batch norm (torchvision `vgg*_bn` names: `features.N` conv,
//! `features.N+1` BN; `classifier.0/3/6`), adapted to 120x120 inputs: five
//! 2x2 max pools take 120 -> 60 -> 30 -> 15 -> 7 -> 3, and `classifier.0`
//! takes the flattened 512x3x3 = 4608 map (torchvision's adaptive 7x7 pool
//! would only replicate pixels at 3x3, so it is dropped), as in
//! `bemm_engine::arch`. Dropout (p = 0.5) after the two hidden linear layers,
//! as torchvision; its masks come from the trainer's seeded generator.

use super::layers::{linear, ConvBn, LayerMut, Visitor};
use crate::rng::SplitMix64;
use burn::module::Module;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// A VGG with batch norm.
#[derive(Module, Debug)]
pub struct Vgg<B: Backend> {
    /// Convolutions with their `features.N` index.
    convs: Vec<ConvBn<B>>,
    /// `features` index of each conv (naming only).
    #[module(skip)]
    index: Vec<usize>,
    /// A 2x2 max pool follows conv `i` when `pool_after[i]`.
    #[module(skip)]
    pool_after: Vec<bool>,
    pool: MaxPool2d,
    fc1: Linear<B>,
    fc2: Linear<B>,
    fc3: Linear<B>,
}

/// Dropout probability of the classifier.
const DROPOUT: f64 = 0.5;

impl<B: Backend> Vgg<B> {
    /// `cfg` as in `bemm_engine::arch::Arch::vgg_config` (channel counts, 0 = pool).
    pub fn new(cfg: &[usize], in_c: usize, size: usize, classes: usize, device: &B::Device) -> Self {
        let (mut convs, mut index, mut pool_after) = (Vec::new(), Vec::new(), Vec::new());
        let (mut c, mut idx, mut side) = (in_c, 0usize, size);
        for &v in cfg {
            if v == 0 {
                if let Some(last) = pool_after.last_mut() {
                    *last = true;
                }
                side /= 2;
                idx += 1;
            } else {
                convs.push(ConvBn::new(c, v, 3, 1, 1, true, device));
                index.push(idx);
                pool_after.push(false);
                idx += 3;
                c = v;
            }
        }
        Vgg {
            convs,
            index,
            pool_after,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: linear(c * side * side, 4096, device),
            fc2: linear(4096, 4096, device),
            fc3: linear(4096, classes, device),
        }
    }

    /// `[N, C, H, W]` -> logits `[N, classes]`. `dropout`: the generator for
    /// the training masks, `None` at inference.
    pub fn forward(&self, x: Tensor<B, 4>, dropout: Option<&mut SplitMix64>) -> Tensor<B, 2> {
        let mut x = x;
        for (conv, &pool) in self.convs.iter().zip(&self.pool_after) {
            x = conv.forward_relu(x);
            if pool {
                x = self.pool.forward(x);
            }
        }
        let [n, c, h, w] = x.dims();
        let x = x.reshape([n, c * h * w]);
        let mut h1 = relu(self.fc1.forward(x));
        let mut rng = dropout;
        if let Some(r) = &mut rng {
            h1 = apply_dropout(h1, r);
        }
        let mut h2 = relu(self.fc2.forward(h1));
        if let Some(r) = &mut rng {
            h2 = apply_dropout(h2, r);
        }
        self.fc3.forward(h2)
    }

    /// Visit every layer under its torchvision `vgg*_bn` name.
    pub fn for_each_layer(&mut self, f: &mut Visitor<'_, B>) {
        for (conv, &i) in self.convs.iter_mut().zip(&self.index) {
            conv.for_each_layer(&format!("features.{i}"), &format!("features.{}", i + 1), f);
        }
        f("classifier.0", LayerMut::Linear(&mut self.fc1));
        f("classifier.3", LayerMut::Linear(&mut self.fc2));
        f("classifier.6", LayerMut::Linear(&mut self.fc3));
    }
}

/// Inverted dropout with a host-generated mask (reproducible on any backend).
fn apply_dropout<B: Backend>(x: Tensor<B, 2>, rng: &mut SplitMix64) -> Tensor<B, 2> {
    let dims = x.dims();
    let keep = (1.0 / (1.0 - DROPOUT)) as f32;
    let mask: Vec<f32> = (0..dims[0] * dims[1]).map(|_| if rng.uniform() < DROPOUT { 0.0 } else { keep }).collect();
    let mask = Tensor::<B, 2>::from_data(TensorData::new(mask, dims), &x.device());
    x * mask
}
