//! ResNet-18/34/50/101/152 in torchvision's layout (ResNet v1.5: a
//! bottleneck's stride sits in its 3x3 convolution), mirroring
//! `bemm_engine::arch` so export maps names one to one. 120x120 input:
//! conv1 (7x7 s2) -> 60, max pool (3x3 s2 p1) -> 30, layer2 -> 15,
//! layer3 -> 8, layer4 -> 4, global average pool, fc.

use super::layers::{global_avg_pool, linear, ConvBn, LayerMut, Visitor};
use burn::module::Module;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, PaddingConfig2d};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// One residual block (BasicBlock when `conv3` is `None`, else Bottleneck).
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    conv1: ConvBn<B>,
    conv2: ConvBn<B>,
    conv3: Option<ConvBn<B>>,
    downsample: Option<ConvBn<B>>,
}

impl<B: Backend> Block<B> {
    fn new(in_c: usize, width: usize, stride: usize, bottleneck: bool, device: &B::Device) -> Self {
        let out_c = if bottleneck { width * 4 } else { width };
        let downsample = (stride != 1 || in_c != out_c).then(|| ConvBn::new(in_c, out_c, 1, stride, 0, false, device));
        if bottleneck {
            Block {
                conv1: ConvBn::new(in_c, width, 1, 1, 0, false, device),
                conv2: ConvBn::new(width, width, 3, stride, 1, false, device),
                conv3: Some(ConvBn::new(width, out_c, 1, 1, 0, false, device)),
                downsample,
            }
        } else {
            Block {
                conv1: ConvBn::new(in_c, width, 3, stride, 1, false, device),
                conv2: ConvBn::new(width, width, 3, 1, 1, false, device),
                conv3: None,
                downsample,
            }
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let shortcut = match &self.downsample {
            Some(d) => d.forward(x.clone()),
            None => x.clone(),
        };
        let y = self.conv1.forward_relu(x);
        match &self.conv3 {
            Some(c3) => c3.forward_add_relu(self.conv2.forward_relu(y), shortcut),
            None => self.conv2.forward_add_relu(y, shortcut),
        }
    }

    fn for_each_layer(&mut self, p: &str, f: &mut Visitor<'_, B>) {
        self.conv1.for_each_layer(&format!("{p}.conv1"), &format!("{p}.bn1"), f);
        self.conv2.for_each_layer(&format!("{p}.conv2"), &format!("{p}.bn2"), f);
        if let Some(c3) = &mut self.conv3 {
            c3.for_each_layer(&format!("{p}.conv3"), &format!("{p}.bn3"), f);
        }
        if let Some(d) = &mut self.downsample {
            d.for_each_layer(&format!("{p}.downsample.0"), &format!("{p}.downsample.1"), f);
        }
    }
}

/// A ResNet.
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    stem: ConvBn<B>,
    pool: MaxPool2d,
    stages: Vec<Vec<Block<B>>>,
    fc: Linear<B>,
}

impl<B: Backend> ResNet<B> {
    /// `blocks` per stage, `bottleneck` blocks or basic ones.
    pub fn new(blocks: [usize; 4], bottleneck: bool, in_c: usize, classes: usize, device: &B::Device) -> Self {
        let stem = ConvBn::new(in_c, 64, 7, 2, 3, false, device);
        let pool = MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        let mut c = 64;
        let mut stages = Vec::new();
        for (s, &n) in blocks.iter().enumerate() {
            let width = 64 << s;
            let mut stage = Vec::new();
            for b in 0..n {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                stage.push(Block::new(c, width, stride, bottleneck, device));
                c = if bottleneck { width * 4 } else { width };
            }
            stages.push(stage);
        }
        ResNet { stem, pool, stages, fc: linear(c, classes, device) }
    }

    /// `[N, C, H, W]` -> logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = self.pool.forward(self.stem.forward_relu(x));
        for stage in &self.stages {
            for block in stage {
                x = block.forward(x);
            }
        }
        self.fc.forward(global_avg_pool(x))
    }

    /// Visit every layer under its torchvision name.
    pub fn for_each_layer(&mut self, f: &mut Visitor<'_, B>) {
        self.stem.for_each_layer("conv1", "bn1", f);
        for (s, stage) in self.stages.iter_mut().enumerate() {
            for (b, block) in stage.iter_mut().enumerate() {
                block.for_each_layer(&format!("layer{}.{}", s + 1, b), f);
            }
        }
        f("fc", LayerMut::Linear(&mut self.fc));
    }
}
