//! 2-D convolution (groups = 1) over a batch, as GEMM:
//! `out[o][(b, y, x)] = sum_{c,ky,kx} W[o][c][ky][kx] * in[c][b][y*s-p+ky][x*s-p+kx] + bias[o]`.
//!
//! Weights are OIHW f16, exactly the `[M = out_c][K = in_c*kh*kw]` row-major
//! A operand. The shared types live here ([`Geometry`], [`ConvAlgo`], the
//! job each algorithm takes); one file per algorithm:
//! - `im2col`: the implicit im2col B operand, packed straight from the
//!   input planes (any window, stride, padding);
//! - `pointwise`: 1x1 stride-1 layers, whose input planes already are B;
//! - `direct`: direct convolution over stride phases (the 7x7/2 stem);
//! - `winograd`: Winograd F(2x2, 3x3) for 3x3 stride-1 layers;
//! - `algo`: which of them a layer runs ([`algo`]) and the dispatch;
//! - `qconv`: the int8 convolution of `QConv` layers ([`ConvAlgo::Int8Gemm`]).

mod algo;
mod direct;
mod im2col;
mod pointwise;
pub(crate) mod qconv;
mod winograd;

pub use algo::algo;
pub(crate) use algo::conv;

use crate::ctx::Ctx;
use bemm_formats::model::LayerRecord;
use half::f16;

/// How a convolution is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvAlgo {
    /// Implicit im2col packing + packed GEMM; any kernel, stride, padding.
    Im2colGemm,
    /// 1x1, stride 1, no padding, over an engine activation: the input
    /// planes already are the B matrix; packing is a plain copy.
    Pointwise,
    /// 3x3, stride 1, pad 1 on maps of at least 7x7: Winograd F(2x2, 3x3)
    /// (`winograd`), 2.25x fewer multiply-adds.
    Winograd2x2,
    /// Windows of 3x3 and more with few taps on rows of about 32 or 64
    /// outputs (the 7x7/2 stem; with bf16 kernels also the 3x3 layers on
    /// 30x30 maps): direct convolution over the input's stride phases
    /// (`direct`), no im2col panel; only with kernels that have a
    /// taps variant, im2col where the workspace is too small.
    Direct,
    /// Int8 weights (`QConv` layers, and only those): the input quantized to
    /// u8 once, its im2col packed as bytes, u8 x i8 products summed exactly
    /// in i32 by the int8 kernel (`qconv`), dequantized in the epilogue.
    Int8Gemm,
}

/// Geometry of one convolution or pooling window.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on every side.
    pub pad: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl Geometry {
    /// The geometry of a conv or pool record.
    pub fn of(l: &LayerRecord) -> Self {
        Geometry {
            c: l.in_c as usize,
            h: l.in_h as usize,
            w: l.in_w as usize,
            kh: l.kernel_h as usize,
            kw: l.kernel_w as usize,
            stride: l.stride as usize,
            pad: l.pad as usize,
            oh: l.out_h as usize,
            ow: l.out_w as usize,
        }
    }

    /// Of `seg` output columns whose first reads padded-input column `base`
    /// (`ox * stride + kx - pad`) and each next one `stride` further, the
    /// range `lo..hi` that reads inside the input row (`0..w`); the columns
    /// before `lo` and from `hi` on read padding.
    #[inline(always)]
    pub(crate) fn inside(&self, base: isize, seg: usize) -> (usize, usize) {
        let (s, w) = (self.stride, self.w as isize);
        // Stride 1 without a division: runs are as short as one output row
        // (4 values at 4x4), where two integer divisions per run showed in
        // profiles.
        if s == 1 {
            let lo = if base >= 0 { 0 } else { (-base) as usize }.min(seg);
            return (lo, if base >= w { 0 } else { (w - base) as usize }.clamp(lo, seg));
        }
        let lo = if base >= 0 { 0 } else { ((-base) as usize).div_ceil(s) }.min(seg);
        (lo, if base >= w { 0 } else { ((w - base) as usize).div_ceil(s) }.clamp(lo, seg))
    }
}

/// One convolution's operands as the algorithm modules (`direct`,
/// `winograd`) take them: OIHW f16 `weight` (`cout x C x kh x kw`),
/// an optional f16 `bias` (`cout`), and the epilogue: `res` (the output's
/// shape, `[cout][batch][oh*ow]` f32) added after the bias, then the ReLU.
#[derive(Clone, Copy)]
pub(crate) struct ConvJob<'a> {
    /// Kernel, blocks and fork.
    pub ctx: Ctx<'a>,
    /// Input, window and output sizes.
    pub g: Geometry,
    /// OIHW f16, `cout x C x kh x kw`.
    pub weight: &'a [f16],
    /// f16, `cout`.
    pub bias: Option<&'a [f16]>,
    /// Output channels.
    pub cout: usize,
    /// ReLU after the bias and the residual.
    pub relu: bool,
    /// `[cout][batch][oh*ow]` f32, added before the ReLU.
    pub res: Option<&'a [f32]>,
    /// Samples.
    pub batch: usize,
}

impl<'a> ConvJob<'a> {
    /// Output values per channel (`batch * oh * ow`), the output's row stride.
    pub fn n(&self) -> usize {
        self.batch * self.g.oh * self.g.ow
    }

    /// Whether the weights, bias and residual hold the whole layer and
    /// `out_len` f32 hold its output.
    pub fn operands_fit(&self, out_len: usize) -> bool {
        let (m, n, g) = (self.cout, self.n(), &self.g);
        self.weight.len() >= m * g.c * g.kh * g.kw
            && self.bias.is_none_or(|b| b.len() >= m)
            && out_len >= m * n
            && self.res.is_none_or(|r| r.len() >= m * n)
    }

    /// The same layer restricted to output channels `r0..r1` (a thread's
    /// share; the output part is then `(r1 - r0) x n`). Needs
    /// [`Self::operands_fit`].
    /// share; the output part is then `(r1 - r0) x n`), on one thread. Needs
    pub fn rows(&self, r0: usize, r1: usize) -> ConvJob<'a> {
        let (k, n) = (self.g.c * self.g.kh * self.g.kw, self.n());
        ConvJob {
            ctx: self.ctx.alone(),
            weight: &self.weight[r0 * k..r1 * k],
            bias: self.bias.map(|b| &b[r0..r1]),
            cout: r1 - r0,
            res: self.res.map(|r| &r[r0 * n..r1 * n]),
            ..*self
        }
    }
}

/// One convolution layer's record and operands: OIHW f16 `weight`, optional
/// f16 `bias`, and `fused`: a residual add fused into the epilogue, as the
/// other operand (the output's shape) and the add's ReLU; `None` for a
/// plain convolution.
#[derive(Clone, Copy)]
pub(crate) struct Layer<'l> {
    /// The layer.
    pub record: &'l LayerRecord,
    /// `out_c x in_c x kh x kw` f16.
    pub weight: &'l [f16],
    /// `out_c` f16.
    pub bias: Option<&'l [f16]>,
    /// The fused add's other operand and ReLU.
    pub fused: Option<(&'l [f32], bool)>,
}
