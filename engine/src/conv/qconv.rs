//! Int8 convolution (`QConv` layers, [`super::ConvAlgo::Int8Gemm`]): the
//! float input is quantized to u8 once per layer into the int8 scratch,
//! then the im2col of those bytes runs through the int8 GEMM
//! (`crate::qgemm`), whose epilogue dequantizes to the layer's f32 output.

use super::Geometry;
use crate::act::Planes;
use crate::ctx::Ctx;
use crate::error::EngineError;
use crate::kernels::widest::widest;
use crate::qgemm::{self, pack, Epilogue, QSpec};
use bemm_formats::model::{LayerRecord, Quant};

/// One `QConv` layer's record and operands.
#[derive(Clone, Copy)]
pub(crate) struct QLayer<'l> {
    /// The layer.
    pub record: &'l LayerRecord,
    /// `out_c x in_c x kh x kw` i8.
    pub weight: &'l [i8],
    /// `out_c` i32 in units of `input_scale * weight_scale[o]`.
    pub bias: Option<&'l [i32]>,
    /// Scales and zero point.
    pub quant: Quant<'l>,
    /// A residual add fused into the epilogue: its other operand (the
    /// output's shape) and its ReLU.
    pub fused: Option<(&'l [f32], bool)>,
}

/// f32 values of int8 scratch a `QConv` layer `l` needs for `batch`
/// samples: its quantized input, one byte per value.
pub(crate) fn scratch_len(l: &LayerRecord, batch: usize) -> Option<usize> {
    Some(l.in_len().checked_mul(batch)?.div_ceil(4))
}

/// Run `layer` over `batch` samples read through `src` into `out`
/// (`[out_c][batch][oh*ow]` f32), with the int8 scratch `qs` (at least
/// [`scratch_len`]) and the GEMM workspace `ws` (`ctx.ways()` parts).
pub(crate) fn qconv<P: Planes>(
    ctx: &Ctx<'_>,
    layer: &QLayer<'_>,
    src: &P,
    batch: usize,
    out: &mut [f32],
    ws: &mut [f32],
    qs: &mut [f32],
) -> Result<(), EngineError> {
    let QLayer { record: l, weight, bias, quant, fused } = *layer;
    let g = Geometry::of(l);
    let (m, k, n) = (l.out_c as usize, g.c * g.kh * g.kw, batch * g.oh * g.ow);
    let need = scratch_len(l, batch).ok_or(EngineError::BatchTooLarge(batch))?;
    if qs.len() < need || weight.len() < m * k || quant.weight_scales.len() < m {
        return Err(EngineError::Internal("qconv operand sizes"));
    }
    let q: &mut [u8] = bytemuck::cast_slice_mut(qs);
    let q = &mut q[..g.c * batch * g.h * g.w];
    let zp = quant.input_zero_point;
    // The loop vectorizes; compiled for the widest ISA.
    widest(
        ctx.isa(),
        #[inline(always)]
        || pack::quantize(ctx.isa(), src, g.c, batch, g.h * g.w, quant.input_scale, zp, q),
    );
    let (res, relu) = match fused {
        Some((r, relu)) => (Some(r), relu),
        None => (None, l.relu()),
    };
    let epi = Epilogue {
        input_scale: quant.input_scale,
        weight_scales: quant.weight_scales,
        bias,
        zp: i32::from(zp),
        res,
        relu,
    };
    let spec = QSpec { m, n, k, ldc: n, w: weight, epi };
    qgemm::qgemm_split(ctx, spec, &pack::QIm2col { q, g, batch, zp }, out, ws)
}
