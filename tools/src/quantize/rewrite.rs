//! A float model file rebuilt as a [`ModelBuilder`], with chosen `Conv`
//! layers turned into `QConv`s by `GraphBuilder::quantize` (the format
//! crate's `quantize_conv`: symmetric per-output-channel int8 weights).

use anyhow::{bail, Context, Result};
use bemm_formats::model::{GraphBuilder, LayerKind, LayerRecord, ModelBuilder, ModelFile, OwnedMeta, WeightBits};

/// The convolutions worth quantizing ([`LayerRecord::quantizable`]), as
/// `(conv layer, layer whose output it reads)`.
pub fn candidates(file: &ModelFile<'_>) -> Vec<(usize, usize)> {
    file.layers().iter().enumerate().filter(|(_, l)| l.quantizable()).map(|(i, l)| (i, l.input as usize)).collect()
}

fn floats(file: &ModelFile<'_>, idx: u32, len: usize, what: &str, layer: usize) -> Result<Vec<f32>> {
    if idx == bemm_formats::model::NONE {
        return Ok(vec![0.0; len]);
    }
    let t = file.tensor(idx).with_context(|| format!("layer {layer}: {what} tensor {idx} is not f16"))?;
    Ok(t.iter().map(|v| v.to_f32()).collect())
}

fn no_relu(l: &LayerRecord, layer: usize) -> Result<()> {
    if l.relu() {
        bail!("layer {layer}: a fused ReLU on a {:?} layer cannot be rebuilt", l.layer_kind());
    }
    Ok(())
}

/// Rebuild `file` layer by layer (weights widened from f16, so writing the
/// builder again stores the same f16 values), then quantize each
/// `(layer, input_scale, input_zero_point)` of `quantize` to weights of `bits`.
pub fn rebuild(file: &ModelFile<'_>, quantize: &[(usize, f32, u8)], bits: WeightBits) -> Result<ModelBuilder> {
    let s = file.input_shape();
    let mut g = GraphBuilder::new(s.c, s.h, s.w);
    for (i, l) in file.layers().iter().enumerate() {
        let kind = l.layer_kind().with_context(|| format!("layer {i}: unknown kind {}", l.kind))?;
        let built = match kind {
            LayerKind::Conv => {
                if l.kernel_h != l.kernel_w {
                    bail!("layer {i}: a {}x{} kernel (only square kernels are rebuilt)", l.kernel_h, l.kernel_w);
                }
                let n = (l.out_c * l.in_c * l.kernel_h * l.kernel_w) as usize;
                let w = floats(file, l.weight, n, "weight", i)?;
                let b = floats(file, l.bias, l.out_c as usize, "bias", i)?;
                g.conv(l.input, l.out_c, l.kernel_h, l.stride, l.pad, w, b, l.relu())
            }
            LayerKind::QConv => bail!("layer {i} is already int8 (QConv): quantize the float model"),
            LayerKind::Linear => {
                let w = floats(file, l.weight, (l.out_c * l.in_c) as usize, "weight", i)?;
                let b = floats(file, l.bias, l.out_c as usize, "bias", i)?;
                g.linear(l.input, l.out_c, w, b, l.relu())
            }
            LayerKind::Add => g.add(l.input, l.input2, l.relu()),
            LayerKind::Relu => g.relu(l.input),
            LayerKind::Sigmoid => {
                no_relu(l, i)?;
                g.sigmoid(l.input)
            }
            LayerKind::MaxPool | LayerKind::AvgPool => {
                no_relu(l, i)?;
                if l.kernel_h != l.kernel_w {
                    bail!("layer {i}: a {}x{} pooling window (only square ones are rebuilt)", l.kernel_h, l.kernel_w);
                }
                if kind == LayerKind::MaxPool {
                    g.max_pool(l.input, l.kernel_h, l.stride, l.pad)
                } else {
                    g.avg_pool(l.input, l.kernel_h, l.stride, l.pad)
                }
            }
            LayerKind::GlobalAvgPool => {
                no_relu(l, i)?;
                g.global_avg_pool(l.input)
            }
        }
        .with_context(|| format!("rebuilding layer {i} ({kind:?})"))?;
        if built as usize != i {
            bail!("layer {i} rebuilt as layer {built}");
        }
    }
    for &(layer, scale, zp) in quantize {
        g.quantize(layer as u32, scale, zp, bits).with_context(|| format!("quantizing layer {layer}"))?;
    }
    let h = file.header();
    Ok(ModelBuilder {
        graph: g,
        output: h.output_layer,
        feature: h.feature_layer,
        meta: OwnedMeta::from_meta(file.meta()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bemm_engine::arch::{self, Arch, RandomWeights};

    fn parsed(bytes: &[u8]) -> (Vec<u64>, usize) {
        let mut w = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut w)[..bytes.len()].copy_from_slice(bytes);
        (w, bytes.len())
    }

    #[test]
    fn a_float_model_rebuilds_byte_identical_and_quantizes_its_candidates() {
        for a in [Arch::ResNet18, Arch::Vgg16, Arch::ResNet50] {
            let meta = OwnedMeta::bigearthnet(a.name(), &(0..12).collect::<Vec<_>>());
            let b = arch::build(a, 12, 32, 19, &mut RandomWeights::new(3), meta).unwrap();
            let bytes = b.to_bytes().unwrap();
            let (w, n) = parsed(&bytes);
            let file = ModelFile::parse(&bytemuck::cast_slice::<u64, u8>(&w)[..n]).unwrap();
            assert_eq!(rebuild(&file, &[], WeightBits::Eight).unwrap().to_bytes().unwrap(), bytes, "{}", a.name());
            let c = candidates(&file);
            assert!(!c.is_empty() && c.iter().all(|&(i, src)| src < i));
            let q: Vec<_> = c.iter().map(|&(i, _)| (i, 0.05, 0)).collect();
            let qb = rebuild(&file, &q, WeightBits::Eight).unwrap().to_bytes().unwrap();
            let (w2, n2) = parsed(&qb);
            let qf = ModelFile::parse(&bytemuck::cast_slice::<u64, u8>(&w2)[..n2]).unwrap();
            let kinds: Vec<_> = qf.layers().iter().map(|l| l.layer_kind()).collect();
            assert_eq!(kinds.iter().filter(|k| **k == Some(LayerKind::QConv)).count(), c.len());
            // Every int8 weight within the range asked for, its extreme reached.
            for bits in [WeightBits::Eight, WeightBits::Seven] {
                let qb = rebuild(&file, &q, bits).unwrap().to_bytes().unwrap();
                let (w3, n3) = parsed(&qb);
                let f = ModelFile::parse(&bytemuck::cast_slice::<u64, u8>(&w3)[..n3]).unwrap();
                let qconvs = f.layers().iter().filter(|l| l.layer_kind() == Some(LayerKind::QConv));
                let max =
                    qconvs.map(|l| f.tensor_i8(l.weight).unwrap().iter().map(|x| x.unsigned_abs()).max().unwrap());
                assert!(max.clone().all(|m| m <= bits.max() as u8), "{} {bits:?}", a.name());
                assert!(max.clone().any(|m| m == bits.max() as u8), "{} {bits:?}", a.name());
            }
            // The stem stays float.
            assert_eq!(kinds.iter().filter(|k| **k == Some(LayerKind::Conv)).count(), 1);
            assert!(qb.len() < bytes.len());
            assert!(rebuild(&qf, &[], WeightBits::Eight).unwrap_err().to_string().contains("already int8"));
        }
    }
}
