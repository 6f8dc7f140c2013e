//! The tiny test network: conv1 (s2, 16) -> conv2 (s2, 32) -> one residual
//! block (two 3x3 convs, 32) -> conv3 (s2, 64) -> GAP -> fc. Every conv has
//! batch norm; 120x120 input gives 60 -> 30 -> 30 -> 15 -> 1.

use super::{conv_bn, ArchError, WeightSource};
use bemm_formats::model::GraphBuilder;

/// Returns (pooled features layer, logits layer).
pub(super) fn build<S: WeightSource>(
    g: &mut GraphBuilder,
    src: &mut S,
    classes: usize,
) -> Result<(u32, u32), ArchError<S::Error>> {
    let x = conv_bn(g, src, GraphBuilder::INPUT, "conv1", Some("bn1"), 16, 3, 2, 1, true)?;
    let x = conv_bn(g, src, x, "conv2", Some("bn2"), 32, 3, 2, 1, true)?;
    let y = conv_bn(g, src, x, "block.conv1", Some("block.bn1"), 32, 3, 1, 1, true)?;
    let y = conv_bn(g, src, y, "block.conv2", Some("block.bn2"), 32, 3, 1, 1, false)?;
    let x = g.add(y, x, true)?;
    let x = conv_bn(g, src, x, "conv3", Some("bn3"), 64, 3, 2, 1, true)?;
    let pooled = g.global_avg_pool(x)?;
    let (w, b) = src.linear("fc", classes, 64).map_err(ArchError::Source)?;
    let logits = g.linear(pooled, classes as u32, w, b, false)?;
    Ok((pooled, logits))
}
