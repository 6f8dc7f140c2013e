//! The tiny test network, mirroring `bemm_engine::arch` `Tiny`: conv1 (s2, 16)
//! -> conv2 (s2, 32) -> residual block (two 3x3 convs, 32, ReLU after the add)
//! -> conv3 (s2, 64) -> GAP -> fc. 120x120 input: 60 -> 30 -> 30 -> 15 -> 1.

use super::layers::{global_avg_pool, linear, ConvBn, LayerMut, Visitor};
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Tiny CNN (about 40k parameters).
#[derive(Module, Debug)]
pub struct Tiny<B: Backend> {
    conv1: ConvBn<B>,
    conv2: ConvBn<B>,
    block1: ConvBn<B>,
    block2: ConvBn<B>,
    conv3: ConvBn<B>,
    fc: Linear<B>,
}

impl<B: Backend> Tiny<B> {
    /// New network for `in_c` input channels and `classes` outputs.
    pub fn new(in_c: usize, classes: usize, device: &B::Device) -> Self {
        Tiny {
            conv1: ConvBn::new(in_c, 16, 3, 2, 1, false, device),
            conv2: ConvBn::new(16, 32, 3, 2, 1, false, device),
            block1: ConvBn::new(32, 32, 3, 1, 1, false, device),
            block2: ConvBn::new(32, 32, 3, 1, 1, false, device),
            conv3: ConvBn::new(32, 64, 3, 2, 1, false, device),
            fc: linear(64, classes, device),
        }
    }

    /// `[N, C, H, W]` -> logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = self.conv1.forward_relu(x);
        let x = self.conv2.forward_relu(x);
        let y = self.block1.forward_relu(x.clone());
        let x = self.block2.forward_add_relu(y, x);
        let x = self.conv3.forward_relu(x);
        self.fc.forward(global_avg_pool(x))
    }

    /// Visit every layer under its `bemm_engine::arch` name.
    pub fn for_each_layer(&mut self, f: &mut Visitor<'_, B>) {
        self.conv1.for_each_layer("conv1", "bn1", f);
        self.conv2.for_each_layer("conv2", "bn2", f);
        self.block1.for_each_layer("block.conv1", "block.bn1", f);
        self.block2.for_each_layer("block.conv2", "block.bn2", f);
        self.conv3.for_each_layer("conv3", "bn3", f);
        f("fc", LayerMut::Linear(&mut self.fc));
    }
}
