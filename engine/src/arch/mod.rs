//! Network architectures as plain functions over a weight source, in the
//! style of candle's `models/resnet.rs`: [`build`] walks ResNet/VGG/tiny in
//! torchvision's layout and parameter names, asks a [`WeightSource`] for each
//! tensor, folds batch-norm into the convolutions and returns a
//! [`ModelBuilder`] ready to be written as a model file.
//!
//! The same function serves every producer of model files: the trainer's
//! export (weights from burn), the PyTorch importer (weights from
//! safetensors), and tests and benchmarks ([`RandomWeights`]). So the layer
//! graph of a given architecture is defined exactly once.
//!
//! Shapes for the 12x120x120 input: ResNet conv1 (s2) -> 60, max pool -> 30,
//! layer2 -> 15, layer3 -> 8, layer4 -> 4, global average pool. VGG: five
//! 2x2 max pools take 120 -> 60 -> 30 -> 15 -> 7 -> 3, then the classifier
//! flattens 512x3x3 = 4608 values (torchvision's adaptive 7x7 pool is dropped:
//! at 3x3 it would only replicate pixels).

mod random;
mod resnet;
mod tiny;
mod vgg;

pub use random::RandomWeights;

use alloc::string::String;
use alloc::vec::Vec;
use bemm_formats::model::{GraphBuilder, ModelBuilder, OwnedMeta, COMPACT_FEATURE_DIM};
use bemm_formats::FormatError;

/// The architectures bemm trains, exports and imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// A deliberately tiny CNN for tests: 3 strided convs, one residual block, GAP, fc.
    Tiny,
    /// ResNet-18 (BasicBlock, [2, 2, 2, 2]).
    ResNet18,
    /// ResNet-34 (BasicBlock, [3, 4, 6, 3]).
    ResNet34,
    /// ResNet-50 (Bottleneck v1.5, [3, 4, 6, 3]).
    ResNet50,
    /// ResNet-101 (Bottleneck v1.5, [3, 4, 23, 3]).
    ResNet101,
    /// ResNet-152 (Bottleneck v1.5, [3, 8, 36, 3]).
    ResNet152,
    /// VGG-16 with batch norm (torchvision `vgg16_bn` layout).
    Vgg16,
    /// VGG-19 with batch norm (torchvision `vgg19_bn` layout).
    Vgg19,
}

impl Arch {
    /// All architectures.
    pub const ALL: [Arch; 8] = [
        Arch::Tiny,
        Arch::ResNet18,
        Arch::ResNet34,
        Arch::ResNet50,
        Arch::ResNet101,
        Arch::ResNet152,
        Arch::Vgg16,
        Arch::Vgg19,
    ];

    /// Lower-case name as used on the command line and in model files.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Tiny => "tiny",
            Arch::ResNet18 => "resnet18",
            Arch::ResNet34 => "resnet34",
            Arch::ResNet50 => "resnet50",
            Arch::ResNet101 => "resnet101",
            Arch::ResNet152 => "resnet152",
            Arch::Vgg16 => "vgg16",
            Arch::Vgg19 => "vgg19",
        }
    }

    /// Parse a name (case-insensitive).
    pub fn parse(s: &str) -> Option<Arch> {
        Arch::ALL.iter().copied().find(|a| a.name().eq_ignore_ascii_case(s))
    }

    /// ResNet block counts per stage and whether blocks are bottlenecks.
    pub fn resnet_layout(self) -> Option<([usize; 4], bool)> {
        Some(match self {
            Arch::ResNet18 => ([2, 2, 2, 2], false),
            Arch::ResNet34 => ([3, 4, 6, 3], false),
            Arch::ResNet50 => ([3, 4, 6, 3], true),
            Arch::ResNet101 => ([3, 4, 23, 3], true),
            Arch::ResNet152 => ([3, 8, 36, 3], true),
            _ => return None,
        })
    }

    /// VGG configuration: channel counts, 0 = 2x2 max pool.
    pub fn vgg_config(self) -> Option<&'static [usize]> {
        const D: &[usize] = &[64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0];
        const E: &[usize] =
            &[64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0];
        match self {
            Arch::Vgg16 => Some(D),
            Arch::Vgg19 => Some(E),
            _ => None,
        }
    }
}

/// Batch-norm parameters of one layer (inference form).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    /// Scale (`weight` in PyTorch).
    pub gamma: Vec<f32>,
    /// Shift (`bias` in PyTorch).
    pub beta: Vec<f32>,
    /// Running mean.
    pub mean: Vec<f32>,
    /// Running variance.
    pub var: Vec<f32>,
    /// Epsilon (PyTorch default 1e-5).
    pub eps: f32,
}

/// Convolution weights `[out_c, in_c, k, k]` (OIHW) and an optional bias.
pub type ConvWeights = (Vec<f32>, Option<Vec<f32>>);

/// Where [`build`] gets its tensors, by torchvision parameter name.
pub trait WeightSource {
    /// Error type of the source (e.g. a missing tensor).
    type Error;

    /// Convolution `name` (e.g. `layer1.0.conv1`, `features.0`): weights
    /// `[out_c, in_c, k, k]` row-major (OIHW) and the bias if the layer has one.
    fn conv(&mut self, name: &str, out_c: usize, in_c: usize, k: usize) -> Result<ConvWeights, Self::Error>;

    /// Batch norm `name` (e.g. `bn1`, `layer1.0.downsample.1`, `features.1`) over `c` channels.
    fn batch_norm(&mut self, name: &str, c: usize) -> Result<BatchNorm, Self::Error>;

    /// Linear `name` (e.g. `fc`, `classifier.0`): weights `[out, in]` row-major and bias `[out]`.
    fn linear(&mut self, name: &str, out: usize, inp: usize) -> Result<(Vec<f32>, Vec<f32>), Self::Error>;

    /// Whether VGG convolutions are followed by batch norm (`vgg16_bn` naming)
    /// or not (plain `vgg16`: conv bias, `features.N` indices without BN).
    fn vgg_batch_norm(&self) -> bool {
        true
    }
}

/// Failure to build an architecture.
#[derive(Debug)]
pub enum ArchError<E> {
    /// The weight source failed (missing or mis-shaped tensor).
    Source(E),
    /// The resulting graph is invalid (e.g. input too small for the network).
    Format(FormatError),
}

impl<E: core::fmt::Display> core::fmt::Display for ArchError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ArchError::Source(e) => write!(f, "{e}"),
            ArchError::Format(e) => write!(f, "{e}"),
        }
    }
}

impl<E: core::fmt::Debug + core::fmt::Display> core::error::Error for ArchError<E> {}

impl<E> From<FormatError> for ArchError<E> {
    fn from(e: FormatError) -> Self {
        ArchError::Format(e)
    }
}

/// Fold batch norm into a convolution's weights and bias:
/// `w' = w * g / sqrt(var + eps)`, `b' = (b - mean) * g / sqrt(var + eps) + beta`.
pub fn fold_batch_norm(weight: &mut [f32], bias: Option<Vec<f32>>, bn: &BatchNorm) -> Vec<f32> {
    let c = bn.gamma.len();
    let per = weight.len().checked_div(c).unwrap_or(0);
    let mut out = bias.unwrap_or_else(|| alloc::vec![0.0; c]);
    for o in 0..c {
        let scale = bn.gamma[o] / sqrt_f32(bn.var[o] + bn.eps);
        for w in &mut weight[o * per..(o + 1) * per] {
            *w *= scale;
        }
        out[o] = (out[o] - bn.mean[o]) * scale + bn.beta[o];
    }
    out
}

/// Shared step of every architecture: a conv (+ folded BN when `bn` names one) (+ ReLU).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_bn<S: WeightSource>(
    g: &mut GraphBuilder,
    src: &mut S,
    input: u32,
    conv: &str,
    bn: Option<&str>,
    out_c: usize,
    k: usize,
    stride: u32,
    pad: u32,
    relu: bool,
) -> Result<u32, ArchError<S::Error>> {
    let in_c = g.shape(input)?.c as usize;
    let (mut w, b) = src.conv(conv, out_c, in_c, k).map_err(ArchError::Source)?;
    let bias = match bn {
        Some(name) => {
            let bn = src.batch_norm(name, out_c).map_err(ArchError::Source)?;
            fold_batch_norm(&mut w, b, &bn)
        }
        None => b.unwrap_or_else(|| alloc::vec![0.0; out_c]),
    };
    Ok(g.conv(input, out_c as u32, k as u32, stride, pad, w, bias, relu)?)
}

/// Build `arch` for inputs of `in_channels x size x size` with `num_classes`
/// outputs. The output layer gives logits; the feature layer is the compact
/// block-mean of the pooled (post-ReLU, non-negative) features, at most
/// [`COMPACT_FEATURE_DIM`] values.
pub fn build<S: WeightSource>(
    arch: Arch,
    in_channels: usize,
    size: usize,
    num_classes: usize,
    src: &mut S,
    meta: OwnedMeta,
) -> Result<ModelBuilder, ArchError<S::Error>> {
    let mut g = GraphBuilder::new(in_channels as u32, size as u32, size as u32);
    let (pooled, logits) = match arch {
        Arch::Tiny => tiny::build(&mut g, src, num_classes)?,
        Arch::Vgg16 | Arch::Vgg19 => vgg::build(&mut g, src, arch, num_classes)?,
        _ => resnet::build(&mut g, src, arch, num_classes)?,
    };
    let n = g.shape(pooled)?.len() as u32;
    let feature = g.block_mean(pooled, n.min(COMPACT_FEATURE_DIM))?;
    Ok(ModelBuilder { graph: g, output: logits, feature, meta })
}

/// Torchvision-style name of a parameter: `prefix.suffix`, or `suffix` alone.
pub fn join(prefix: &str, suffix: &str) -> String {
    let mut s = String::from(prefix);
    if !s.is_empty() {
        s.push('.');
    }
    s.push_str(suffix);
    s
}

/// `sqrt` without std: bit-trick initial guess, then Newton steps (exact to
/// f32 rounding for the positive, finite values used here).
pub(crate) fn sqrt_f32(x: f32) -> f32 {
    if x.is_nan() || x <= 0.0 {
        return 0.0;
    }
    if !x.is_finite() {
        return x;
    }
    let mut r = f32::from_bits((x.to_bits() >> 1) + 0x1fbd_1df5);
    for _ in 0..4 {
        r = 0.5 * (r + x / r);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use bemm_formats::model::{LayerKind, ModelFile};

    fn model_bytes(arch: Arch, channels: usize) -> Vec<u8> {
        let meta = OwnedMeta::bigearthnet(arch.name(), &(0..channels).collect::<Vec<_>>());
        let b = build(arch, channels, 120, 19, &mut RandomWeights::new(1), meta).expect("build");
        b.to_bytes().expect("encode")
    }

    fn aligned(bytes: &[u8]) -> Vec<u64> {
        let mut v = alloc::vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut v)[..bytes.len()].copy_from_slice(bytes);
        v
    }

    #[test]
    fn every_architecture_builds_a_valid_model_file() {
        for (arch, pooled, convs) in [
            (Arch::Tiny, 64usize, 5usize),
            (Arch::ResNet18, 512, 20),
            (Arch::ResNet50, 2048, 53),
            (Arch::Vgg16, 4096, 13),
        ] {
            let bytes = model_bytes(arch, 12);
            let words = aligned(&bytes);
            let m = ModelFile::parse(&bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()]).expect("parse");
            assert_eq!(m.num_classes(), 19, "{arch:?}");
            assert_eq!(m.feature_len(), pooled.min(128), "{arch:?}");
            let n_conv = m.layers().iter().filter(|l| l.layer_kind() == Some(LayerKind::Conv)).count();
            assert_eq!(n_conv, convs, "{arch:?} conv count");
            assert_eq!(m.input_shape().c, 12);
        }
    }

    #[test]
    fn resnet50_stage_shapes_follow_torchvision_at_120px() {
        let meta = OwnedMeta::bigearthnet("resnet50", &[0, 1]);
        let b = build(Arch::ResNet50, 2, 120, 19, &mut RandomWeights::new(2), meta).expect("build");
        let l = b.graph.layers();
        assert_eq!((l[0].record.out_c, l[0].record.out_h), (64, 60));
        assert_eq!(l[1].record.out_h, 30, "max pool");
        let last_add = l.iter().rev().find(|s| s.record.kind == LayerKind::Add as u32).expect("add");
        assert_eq!((last_add.record.out_c, last_add.record.out_h), (2048, 4));
    }

    #[test]
    fn batch_norm_folding_matches_conv_then_bn() {
        let mut w = alloc::vec![1.0f32, 2.0, 3.0, 4.0];
        let bn = BatchNorm {
            gamma: alloc::vec![2.0, 0.5],
            beta: alloc::vec![1.0, -1.0],
            mean: alloc::vec![0.5, 1.0],
            var: alloc::vec![3.0, 0.0],
            eps: 1.0,
        };
        let b = fold_batch_norm(&mut w, Some(alloc::vec![0.25, 0.0]), &bn);
        assert_eq!(w, [1.0, 2.0, 1.5, 2.0]);
        assert_eq!(b, [(0.25 - 0.5) * 1.0 + 1.0, (0.0 - 1.0) * 0.5 - 1.0]);
        assert!((sqrt_f32(2.0) - core::f32::consts::SQRT_2).abs() < 2.5e-7);
        assert!((sqrt_f32(1e-5) - 0.003_162_277_6).abs() < 1e-9);
    }
}
