//! The graph interpreter: runs a parsed layer graph over a batch, layer by
//! layer in file order, with every output at its planned place in the
//! caller's scratch arena.

use crate::act::{Cnhw, InputBatch, InputPlanes};
use crate::conv::{self, qconv, Geometry};
use crate::ctx::Ctx;
use crate::elementwise::{self, Unary};
use crate::error::EngineError;
use crate::gemm::WeightsF16;
use crate::kernels::widest::widest;
use crate::linear::{self, Flatten};
use crate::observe::Observer;
use crate::planner::Plan;
use crate::pool::{self, PoolKind};
use bemm_formats::model::{LayerKind, ModelFile, INPUT};
use core::ops::Range;

/// Everything one forward pass needs besides the buffers.
pub(crate) struct Exec<'m, 'a> {
    pub file: &'m ModelFile<'a>,
    pub plan: &'m Plan,
    /// Per layer, the largest int8 weight magnitude (0 for layers without
    /// int8 weights), which decides the int8 kernel that can run it.
    pub qmax: &'m [u8],
    /// Kernel, blocks, Winograd and fork.
    pub ctx: Ctx<'m>,
}

/// Where a layer reads from.
enum Src<'t> {
    Input,
    Arena(&'t [f32]),
}

/// Borrow the arena range `r` (disjoint from the output range `out`) from
/// the pieces left and right of the output.
fn resolve<'t>(
    left: &'t [f32],
    right: &'t [f32],
    out: &Range<usize>,
    r: Range<usize>,
) -> Result<&'t [f32], EngineError> {
    if r.end <= out.start {
        left.get(r).ok_or(EngineError::Internal("source range"))
    } else if r.start >= out.end {
        right.get(r.start - out.end..r.end - out.end).ok_or(EngineError::Internal("source range"))
    } else {
        Err(EngineError::Internal("planner placed a source over its consumer's output"))
    }
}

/// Run layers `range` (all of them, or one stage of a staged batch) over
/// `batch` samples, every output at its place in `arena` (planned by
/// `ex.plan` for `batch` samples), GEMMs in `ws` (`ways` workspaces, then
/// the int8 scratch of `QConv` layers, `conv::qconv::scratch_len`).
/// `probs` gets `[batch][num_classes]` sigmoid outputs and `features` (when
/// non-empty) `[batch][feature_len]` CHW-flattened features, when their
/// layers are in `range`. `obs` sees every output computed (see
/// [`Observer::layer_output`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run<I: InputBatch, O: Observer + ?Sized>(
    ex: &Exec<'_, '_>,
    input: &I,
    batch: usize,
    range: Range<usize>,
    arena: &mut [f32],
    ws: &mut [f32],
    probs: &mut [f32],
    features: &mut [f32],
    obs: &mut O,
) -> Result<(), EngineError> {
    let file = ex.file;
    let layers = file.layers();
    let hdr = file.header();
    let arena_len = ex.plan.arena_per_sample().checked_mul(batch).ok_or(EngineError::BatchTooLarge(batch))?;
    let arena = arena.get_mut(..arena_len).ok_or(EngineError::Internal("arena"))?;
    let ctx = &ex.ctx;
    let (ws, qs) = ws.split_at_mut((ctx.ways() * ctx.blocks.workspace_len()).min(ws.len()));
    if ws.len() < ctx.ways() * ctx.blocks.workspace_len() {
        return Err(EngineError::Internal("workspace"));
    }
    let in_hw = hdr.input_h as usize * hdr.input_w as usize;

    for (i, l) in layers.iter().enumerate().take(range.end).skip(range.start) {
        let kind = l.layer_kind().ok_or(EngineError::Internal("unknown layer kind"))?;
        // A conv fused into the residual add after it writes the add's output.
        let conv_like = matches!(kind, LayerKind::Conv | LayerKind::QConv);
        let fused_into = (conv_like && ex.plan.fused(i)).then(|| layers.get(i + 1)).flatten();
        let out_r =
            ex.plan.range(if fused_into.is_some() { i + 1 } else { i }, batch).ok_or(EngineError::Internal("plan"))?;
        let (left, tail) = arena.split_at_mut(out_r.start);
        let (out, right) = tail.split_at_mut(out_r.len());
        let (left, right) = (&*left, &*right);
        let source = |id: u32| -> Result<(Src<'_>, usize), EngineError> {
            if id == INPUT {
                return Ok((Src::Input, in_hw));
            }
            let r = ex.plan.range(id as usize, batch).ok_or(EngineError::Internal("plan"))?;
            let p = &layers[id as usize];
            Ok((Src::Arena(resolve(left, right, &out_r, r)?), p.out_h as usize * p.out_w as usize))
        };
        let (s1, hw1) = source(l.input)?;
        let out_hw = l.out_h as usize * l.out_w as usize;
        let relu = l.relu();

        // Monomorphise a layer over its source's plane type.
        macro_rules! with_planes {
            ($src:expr, $hw:expr, |$p:ident, $dense:ident| $body:expr) => {
                match $src {
                    Src::Input => {
                        let $p = InputPlanes { input, hw: in_hw };
                        let $dense: Option<Cnhw<'_>> = None;
                        $body
                    }
                    Src::Arena(d) => {
                        let $p = Cnhw { data: d, batch, hw: $hw };
                        let $dense = Some($p);
                        $body
                    }
                }
            };
        }

        let fused = match fused_into {
            Some(add) => {
                let other = if add.input as usize == i { add.input2 } else { add.input };
                match source(other)?.0 {
                    Src::Arena(r) => Some((r, add.relu())),
                    Src::Input => return Err(EngineError::Internal("fused residual is the graph input")),
                }
            }
            None => None,
        };
        match kind {
            LayerKind::Conv => {
                let w = file.tensor(l.weight).ok_or(EngineError::Internal("conv weight"))?;
                let b = file.tensor(l.bias);
                let layer = conv::Layer { record: l, weight: w, bias: b, fused };
                with_planes!(s1, hw1, |p, dense| conv::conv(ctx, &layer, &p, dense, batch, out, ws))?;
            }
            LayerKind::QConv => {
                let layer = qconv::QLayer {
                    record: l,
                    weight: file.tensor_i8(l.weight).ok_or(EngineError::Internal("qconv weight"))?,
                    bias: file.tensor_i32(l.bias),
                    quant: file.quant(i).ok_or(EngineError::Internal("qconv parameters"))?,
                    fused,
                };
                let ctx = &ctx.for_int8_weights(ex.qmax.get(i).copied().unwrap_or(u8::MAX));
                with_planes!(s1, hw1, |p, _d| qconv::qconv(ctx, &layer, &p, batch, out, ws, qs))?;
            }
            LayerKind::Linear => {
                let w = file.tensor(l.weight).ok_or(EngineError::Internal("linear weight"))?;
                let b = file.tensor(l.bias);
                let a = WeightsF16 { w, bias: b };
                with_planes!(s1, hw1, |p, _d| linear::linear(
                    ctx,
                    l,
                    a,
                    &Flatten { src: &p, hw: hw1 },
                    batch,
                    out,
                    ws
                ))?;
            }
            LayerKind::MaxPool | LayerKind::AvgPool => {
                let pk = if kind == LayerKind::MaxPool { PoolKind::Max } else { PoolKind::Avg };
                let g = Geometry::of(l);
                with_planes!(s1, hw1, |p, _d| widest(
                    ctx.isa(),
                    #[inline(always)]
                    || pool::pool(pk, &g, &p, batch, relu, out)
                ));
            }
            LayerKind::GlobalAvgPool => {
                with_planes!(s1, hw1, |p, _d| pool::global_avg(&p, l.in_c as usize, hw1, batch, relu, out));
            }
            LayerKind::Relu | LayerKind::Sigmoid => {
                let f = if kind == LayerKind::Relu { Unary::Relu } else { Unary::Sigmoid };
                with_planes!(s1, hw1, |p, _d| elementwise::unary(f, &p, l.out_c as usize, out_hw, batch, relu, out));
            }
            // Already written by the conv fused into it.
            LayerKind::Add if i > 0 && ex.plan.fused(i - 1) => {}
            LayerKind::Add => {
                let (s2, hw2) = source(l.input2)?;
                let c = l.out_c as usize;
                with_planes!(s1, hw1, |a, _d| with_planes!(s2, hw2, |b, _e| widest(
                    ctx.isa(),
                    #[inline(always)]
                    || elementwise::add(&a, &b, c, out_hw, batch, relu, out)
                )));
            }
        }

        if fused_into.is_none() {
            obs.layer_output(i, batch, out);
        }
        if i == hdr.output_layer as usize {
            let nc = hdr.num_classes as usize;
            // The output layer has num_classes x 1 x 1 elements (validated), so
            // its CNHW layout is [class][batch].
            for b in 0..batch {
                for j in 0..nc {
                    probs[b * nc + j] = elementwise::sigmoid(out[j * batch + b]);
                }
            }
        }
        if i == hdr.feature_layer as usize && !features.is_empty() {
            let (c, len) = (l.out_c as usize, l.out_len());
            for b in 0..batch {
                let dst = &mut features[b * len..(b + 1) * len];
                for ch in 0..c {
                    let o = (ch * batch + b) * out_hw;
                    dst[ch * out_hw..(ch + 1) * out_hw].copy_from_slice(&out[o..o + out_hw]);
                }
            }
        }
    }
    Ok(())
}
