//! VGG-16/19 in torchvision's `vgg*_bn` layout (or plain `vgg*` when the
//! source has no batch norm), adapted to 120x120 inputs: the classifier takes
//! the 512x3x3 map flattened (4608 values) instead of an adaptive 7x7 pool.

use super::{conv_bn, Arch, ArchError, WeightSource};
use alloc::format;
use bemm_formats::model::GraphBuilder;

/// Returns (feature source layer = second classifier ReLU output, logits layer).
pub(super) fn build<S: WeightSource>(
    g: &mut GraphBuilder,
    src: &mut S,
    arch: Arch,
    classes: usize,
) -> Result<(u32, u32), ArchError<S::Error>> {
    let Some(cfg) = arch.vgg_config() else {
        return Err(ArchError::Format(bemm_formats::FormatError::Meta { problem: "not a VGG architecture" }));
    };
    let bn = src.vgg_batch_norm();
    let mut x = GraphBuilder::INPUT;
    let mut idx = 0usize;
    for &c in cfg {
        if c == 0 {
            x = g.max_pool(x, 2, 2, 0)?;
            idx += 1;
        } else {
            let conv = format!("features.{idx}");
            let norm = format!("features.{}", idx + 1);
            x = conv_bn(g, src, x, &conv, if bn { Some(&norm) } else { None }, c, 3, 1, 1, true)?;
            idx += if bn { 3 } else { 2 };
        }
    }
    let flat = g.shape(x)?.len();
    let (w, b) = src.linear("classifier.0", 4096, flat).map_err(ArchError::Source)?;
    let h = g.linear(x, 4096, w, b, true)?;
    let (w, b) = src.linear("classifier.3", 4096, 4096).map_err(ArchError::Source)?;
    let h = g.linear(h, 4096, w, b, true)?;
    let (w, b) = src.linear("classifier.6", classes, 4096).map_err(ArchError::Source)?;
    let logits = g.linear(h, classes as u32, w, b, false)?;
    Ok((h, logits))
}
