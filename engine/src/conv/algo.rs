//! Which algorithm a convolution runs, and the dispatch to it.

use super::im2col::Im2col;
use super::pointwise::Pointwise;
use super::{direct, winograd, ConvAlgo, ConvJob, Geometry, Layer};
use crate::act::{Cnhw, Planes};
use crate::ctx::Ctx;
use crate::error::EngineError;
use crate::gemm::{self, GemmSpec, WeightsF16};
use crate::kernels::{MicroKernel, PackFormat};

/// The algorithm the convolution prefers for a layer with kernel `kern` (and
/// `winograd` allowed or not). It depends on the layer and the kernel
/// alone, never on the batch or the threads, so a sample's result is the
/// same in any batch. With bf16 kernels direct convolution comes before
/// Winograd: its channel pairs halve the steps, where Winograd's transforms
/// stay f32-sized work (measured on ResNet50's 30x30 layers: +2-3 %).
pub fn algo(g: &Geometry, winograd: bool, kern: &MicroKernel) -> ConvAlgo {
    let pairs = kern.format == PackFormat::Bf16Pairs;
    let direct = kern.taps.is_some() && direct::applicable(g, pairs);
    if g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0 {
        ConvAlgo::Pointwise
    } else if direct && pairs {
        ConvAlgo::Direct
    } else if winograd && winograd::applicable(g) {
        ConvAlgo::Winograd2x2
    } else if direct {
        ConvAlgo::Direct
    } else {
        ConvAlgo::Im2colGemm
    }
}

/// Convolution of layer `l` over `batch` samples read through `src`, into
/// `out` (`[out_c][batch][oh*ow]` f32). `dense` is `src`'s backing storage
/// when it is an engine activation (enables [`ConvAlgo::Pointwise`]);
/// `winograd` allows [`ConvAlgo::Winograd2x2`] (used when the GEMM
/// workspace, `ws` = `ctx.ways()` parts of `ctx.blocks.workspace_len()`,
/// holds its blocks).
pub(crate) fn conv<P: Planes>(
    ctx: &Ctx<'_>,
    layer: &Layer<'_>,
    src: &P,
    dense: Option<Cnhw<'_>>,
    batch: usize,
    out: &mut [f32],
    ws: &mut [f32],
) -> Result<(), EngineError> {
    let Layer { record: l, weight, bias, fused } = *layer;
    let (kern, isa) = (ctx.kern, ctx.isa());
    let g = Geometry::of(l);
    let n = batch * g.oh * g.ow;
    let (res, relu) = match fused {
        Some((r, relu)) => (Some(r), relu),
        None => (None, l.relu()),
    };
    let spec = GemmSpec { m: l.out_c as usize, n, k: g.c * g.kh * g.kw, ldc: n, relu, res };
    let a = WeightsF16 { w: weight, bias };
    let (cout, part) = (spec.m, ctx.blocks.workspace_len());
    let job = ConvJob { ctx: *ctx, g, weight, bias, cout, relu, res, batch };
    match (algo(&g, ctx.winograd, kern), dense) {
        (ConvAlgo::Pointwise, Some(d)) => gemm::gemm_split(ctx, spec, a, &Pointwise { data: d.data, n, isa }, out, ws),
        // The fit is checked with all output channels in one part, so the
        // choice (and the result) is the same however many threads split
        // the layer; a workspace too small for its blocks falls to im2col.
        (ConvAlgo::Winograd2x2, _) if winograd::block_cols(kern, part, cout, g.w).is_some() => {
            winograd::conv(&job, src, out, ws)
        }
        // Like Winograd's, the fit is checked against one part.
        (ConvAlgo::Direct, _) if direct::workspace_len(&g, cout) <= part => direct::conv(&job, src, out, ws),
        _ => gemm::gemm_split(ctx, spec, a, &Im2col { src, g, isa }, out, ws),
    }
}
