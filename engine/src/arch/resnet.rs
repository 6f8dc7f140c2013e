//! ResNet-18/34/50/101/152 in torchvision's layout (ResNet v1.5: in a
//! bottleneck the stride sits in the 3x3 convolution).

use super::{conv_bn, join, Arch, ArchError, WeightSource};
use alloc::format;
use bemm_formats::model::GraphBuilder;

/// Returns (pooled features layer, logits layer).
pub(super) fn build<S: WeightSource>(
    g: &mut GraphBuilder,
    src: &mut S,
    arch: Arch,
    classes: usize,
) -> Result<(u32, u32), ArchError<S::Error>> {
    let Some((blocks, bottleneck)) = arch.resnet_layout() else {
        return Err(ArchError::Format(bemm_formats::FormatError::Meta { problem: "not a ResNet architecture" }));
    };
    let expansion = if bottleneck { 4 } else { 1 };
    let mut x = conv_bn(g, src, GraphBuilder::INPUT, "conv1", Some("bn1"), 64, 7, 2, 3, true)?;
    x = g.max_pool(x, 3, 2, 1)?;
    let mut in_c = 64usize;
    for (stage, &n) in blocks.iter().enumerate() {
        let width = 64usize << stage;
        for b in 0..n {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            let p = format!("layer{}.{}", stage + 1, b);
            let out_c = width * expansion;
            let shortcut = if stride != 1 || in_c != out_c {
                conv_bn(
                    g,
                    src,
                    x,
                    &join(&p, "downsample.0"),
                    Some(&join(&p, "downsample.1")),
                    out_c,
                    1,
                    stride,
                    0,
                    false,
                )?
            } else {
                x
            };
            let y = if bottleneck {
                let y = conv_bn(g, src, x, &join(&p, "conv1"), Some(&join(&p, "bn1")), width, 1, 1, 0, true)?;
                let y = conv_bn(g, src, y, &join(&p, "conv2"), Some(&join(&p, "bn2")), width, 3, stride, 1, true)?;
                conv_bn(g, src, y, &join(&p, "conv3"), Some(&join(&p, "bn3")), out_c, 1, 1, 0, false)?
            } else {
                let y = conv_bn(g, src, x, &join(&p, "conv1"), Some(&join(&p, "bn1")), width, 3, stride, 1, true)?;
                conv_bn(g, src, y, &join(&p, "conv2"), Some(&join(&p, "bn2")), out_c, 3, 1, 1, false)?
            };
            x = g.add(y, shortcut, true)?;
            in_c = out_c;
        }
    }
    let pooled = g.global_avg_pool(x)?;
    let (w, b) = src.linear("fc", classes, in_c).map_err(ArchError::Source)?;
    let logits = g.linear(pooled, classes as u32, w, b, false)?;
    Ok((pooled, logits))
}
