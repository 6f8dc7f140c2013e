//! The networks in burn, mirroring `bemm_engine::arch` layer for layer
//! (same shapes, paddings, strides, ReLU placement and torchvision names),
//! so a trained model exports through `bemm_engine::arch::build`.

pub mod batch_norm;
pub mod conv;
#[cfg(any(feature = "flex", all(feature = "cuda-base", not(feature = "cuda"))))]
mod downcast;
#[cfg(feature = "flex")]
mod gemm;
pub mod layers;
#[cfg(feature = "flex")]
mod on_flex;
mod resnet;
mod tiny;
mod vgg;

pub use layers::{LayerMut, Visitor};
pub use resnet::ResNet;
pub use tiny::Tiny;
pub use vgg::Vgg;

use crate::rng::SplitMix64;
use bemm_engine::arch::Arch;
use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Any of the trainable networks. Input `[N, C, H, W]` (f32, normalised,
/// channels in `bemm_formats::bands` order restricted to the run's bands),
/// output logits `[N, classes]`.
#[derive(Module, Debug)]
// The variants are built once per run and moved rarely; boxing the large
// ones would only add indirection to every forward pass.
#[allow(clippy::large_enum_variant)]
pub enum Net<B: Backend> {
    /// The tiny test network.
    Tiny(Tiny<B>),
    /// ResNet-18 .. 152.
    ResNet(ResNet<B>),
    /// VGG-16/19 (BN).
    Vgg(Vgg<B>),
}

impl<B: Backend> Net<B> {
    /// A freshly initialised `arch` for `in_c x size x size` inputs; weights
    /// drawn from `seed` (identical on every backend).
    pub fn new(arch: Arch, in_c: usize, size: usize, classes: usize, seed: u64, device: &B::Device) -> Self {
        let mut net = match arch {
            Arch::Tiny => Net::Tiny(Tiny::new(in_c, classes, device)),
            Arch::Vgg16 | Arch::Vgg19 => {
                let cfg = arch.vgg_config().unwrap_or(&[]);
                Net::Vgg(Vgg::new(cfg, in_c, size, classes, device))
            }
            _ => {
                let (blocks, bottleneck) = arch.resnet_layout().unwrap_or(([2, 2, 2, 2], false));
                Net::ResNet(ResNet::new(blocks, bottleneck, in_c, classes, device))
            }
        };
        let mut rng = SplitMix64::derive(seed, u64::MAX, 0);
        net.for_each_layer(&mut |_, layer| layers::reinit(layer, &mut rng, device));
        net
    }

    /// Forward pass. `dropout`: the mask generator while training (used by
    /// VGG's classifier only), `None` for evaluation.
    pub fn forward(&self, x: Tensor<B, 4>, dropout: Option<&mut SplitMix64>) -> Tensor<B, 2> {
        match self {
            Net::Tiny(m) => m.forward(x),
            Net::ResNet(m) => m.forward(x),
            Net::Vgg(m) => m.forward(x, dropout),
        }
    }

    /// Visit every conv, BN and linear layer with its torchvision name, in
    /// network order.
    pub fn for_each_layer(&mut self, f: &mut Visitor<'_, B>) {
        match self {
            Net::Tiny(m) => m.for_each_layer(f),
            Net::ResNet(m) => m.for_each_layer(f),
            Net::Vgg(m) => m.for_each_layer(f),
        }
    }
}
