//! Chunks and stages: how many samples of a batch are in flight at a time,
//! and where a large batch's graph is cut so its late layers run on more.

use crate::error::EngineError;
use crate::planner::{cut_after, Plan};
use bemm_formats::model::ModelFile;

/// The late stage of a staged batch: the layers after `cut` run on `chunk`
/// samples at a time (more than the early stage's), reading the cut's
/// output gathered from several early-stage chunks.
#[derive(Debug, Clone)]
pub(super) struct Stage {
    /// The last layer of the early stage.
    pub(super) cut: usize,
    /// Samples in flight in the late stage.
    pub(super) chunk: usize,
    /// The late stage's arena: the cut's output and every layer after it.
    pub(super) plan: Plan,
}

/// A batch runs through the graph a chunk of samples at a time, as many as
/// keep the largest layer output within this many bytes: each layer's
/// output is then still in the last-level cache when the next layer reads
/// it, instead of making a round trip to DRAM. ResNet50 at 120x120 (0.9 MB
/// per sample for its largest outputs) runs 4 at a time: batch-16 exact
/// throughput +14 %, fast +8 % against the whole batch at once (three
/// alternating runs); chunks of 8 gained less and 2 lost. Samples never
/// influence each other, so results are the same for any chunking.
pub const CHUNK_BYTES: usize = 4 << 20;

/// Late layers have small outputs (ResNet50's 4x4 maps: 128 KB per sample)
/// and large weights, which every chunk streams and widens again. When the
/// graph can be cut so that every layer after the cut outputs at most
/// this many bytes (and the cut itself [`CHUNK_BYTES`]) for at least twice
/// [`Model::chunk`] samples, those layers
/// run as a late stage over that many samples at a time, from the cut's
/// output of several early chunks (see `late_stage` for the cut). ResNet50
/// at 120x120: layer4 on 16 samples instead of 4, its layers 28 % faster
/// per patch (fast path, measured); layer3 on 16 was slower (8x8 maps:
/// 4 MB outputs), so the bound is 2 MiB, not [`CHUNK_BYTES`]. Samples never influence each
/// other, so results are the same with or without stages.
pub const STAGE_BYTES: usize = 2 << 20;

/// The largest output of `layers` per sample (f32 values, at least 1): what
/// bounds how many samples a stage keeps in flight.
pub(super) fn largest_output(layers: &[bemm_formats::model::LayerRecord]) -> usize {
    layers.iter().map(|l| l.out_len()).max().unwrap_or(1).max(1)
}

/// The late stage for a model whose early stage runs `chunk` samples at a
/// time, or `None`. Each possible cut allows `late` samples in flight after
/// it (at least twice `chunk`); the one chosen saves the most weight
/// streaming: the weights after it times the share of their passes saved,
/// `1 - chunk / late` (ResNet50: the cut before layer4, 16 samples). The
/// cut layer's output must exist (not a convolution fused into the add
/// after it) and the caller's outputs (`keep`) must come after it.
pub(super) fn late_stage(
    file: &ModelFile<'_>,
    plan: &Plan,
    chunk: usize,
    keep: &[u32],
) -> Result<Option<Stage>, EngineError> {
    let layers = file.layers();
    let weights = |l: &bemm_formats::model::LayerRecord| {
        file.tensor(l.weight).map(|w| w.len()).or(file.tensor_i8(l.weight).map(|w| w.len())).unwrap_or(0)
    };
    let mut best: Option<(usize, usize, usize)> = None;
    for cut in 0..layers.len().saturating_sub(1) {
        if plan.fused(cut) || keep.iter().any(|&k| k as usize <= cut) || !cut_after(layers, cut) {
            continue;
        }
        // The layers after the cut within STAGE_BYTES, the cut's output
        // (read twice, by a block's two branches) within CHUNK_BYTES.
        let late =
            (STAGE_BYTES / 4 / largest_output(&layers[cut + 1..])).min(CHUNK_BYTES / 4 / layers[cut].out_len().max(1));
        if late < 2 * chunk {
            continue;
        }
        let saved = layers[cut + 1..].iter().map(weights).sum::<usize>() / late * (late - chunk);
        if best.is_none_or(|(_, _, b)| saved > b) {
            best = Some((cut, late, saved));
        }
    }
    let Some((cut, late, _)) = best else { return Ok(None) };
    Ok(Some(Stage { cut, chunk: late, plan: Plan::new_from(layers, keep, cut + 1)? }))
}
