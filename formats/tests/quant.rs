//! Format 1.1: int8 convolutions (`QConv`) with i8 weights, i32 biases and
//! f32 quantization parameters. Round trip, every validation error (on
//! re-sealed files, so the check under test is the one that fires), and
//! fp16-only files staying version 1.0.

mod common;

use bemm_formats::model::{
    quantize_conv, LayerKind, ModelFile, DTYPE_F16, DTYPE_F32, DTYPE_I32, DTYPE_I8, NONE, VERSION_MINOR_INT8,
};
use bemm_formats::FormatError;
use common::*;

fn parse(b: &[u8]) -> Result<Vec<u8>, FormatError> {
    ModelFile::parse(Aligned::new(b).bytes()).map(|m| m.bytes().to_vec())
}
fn model_err(b: &[u8]) -> FormatError {
    parse(b).unwrap_err()
}

/// Byte offset of field `off` of layer `i`'s record.
fn layer_field(i: usize, off: usize) -> usize {
    64 + 64 * i + off
}
/// Byte offset of tensor record `t`.
fn tensor_rec(b: &[u8], t: u32) -> usize {
    64 + 64 * get_u32(b, 16) as usize + 40 * t as usize
}
/// Absolute offset of tensor `t`'s data.
fn tensor_data(b: &[u8], t: u32) -> usize {
    get_u64(b, tensor_rec(b, t)) as usize
}
/// The quantization parameter tensor index (`input2`) of layer `i`.
fn quant_tensor(b: &[u8], i: usize) -> u32 {
    get_u32(b, layer_field(i, 8))
}

#[test]
fn a_quantized_model_round_trips_with_every_tensor_type() {
    let builder = quant_model_builder();
    let bytes = builder.to_bytes().unwrap();
    let buf = Aligned::new(&bytes);
    let m = ModelFile::parse(buf.bytes()).unwrap();
    assert_eq!((m.header().version_major, m.header().version_minor), (1, VERSION_MINOR_INT8));
    for (i, spec) in builder.graph.layers().iter().enumerate() {
        let l = &m.layers()[i];
        let Some(q) = &spec.quant else {
            assert_ne!(l.layer_kind(), Some(LayerKind::QConv));
            continue;
        };
        assert_eq!(l.layer_kind(), Some(LayerKind::QConv), "layer {i}");
        assert_eq!(m.tensor_i8(l.weight).unwrap(), q.weight.as_slice());
        assert_eq!(m.tensor_i32(l.bias).unwrap(), q.bias.as_slice());
        let p = m.quant(i).unwrap();
        assert_eq!((p.input_scale, p.input_zero_point), (q.input_scale, q.input_zero_point));
        assert_eq!(p.weight_scales, q.weight_scales.as_slice());
        let types: Vec<u32> = [l.weight, l.bias, l.input2].iter().map(|&t| m.tensors()[t as usize].dtype).collect();
        assert_eq!(types, [DTYPE_I8, DTYPE_I32, DTYPE_F32]);
        // The typed accessors refuse the other types.
        assert!(m.tensor(l.weight).is_none() && m.tensor_f32(l.bias).is_none() && m.tensor_i8(l.input2).is_none());
        // A QConv's input2 is a tensor, not a second operand.
        assert_eq!(l.second_input(), None);
    }
    assert!(m.quant(0).is_none(), "layer 0 stays an f16 conv");
    assert_eq!(m.tensors()[m.layers()[0].weight as usize].dtype, DTYPE_F16);
}

#[test]
fn fp16_only_files_stay_version_1_0() {
    let plain = model_bytes();
    assert_eq!(get_u16(&plain, 10), 0);
    // Quantizing and writing a different model leaves the plain writer's bytes as they were.
    let _ = quant_model_bytes();
    assert_eq!(model_bytes(), plain);
}

#[test]
fn quantize_conv_is_symmetric_per_output_channel() {
    let w = [0.5, -1.0, 0.25, 0.0, 2.0, -0.5, 0.0, 0.0];
    let q = quantize_conv(&w, &[0.1, -0.2], 0.01, 3, bemm_formats::model::WeightBits::Eight);
    assert_eq!(q.weight_scales, [1.0 / 127.0, 2.0 / 127.0]);
    assert_eq!(q.weight, [64, -127, 32, 0, 127, -32, 0, 0]);
    assert_eq!(
        q.bias,
        [(0.1f32 / (0.01 * (1.0 / 127.0))).round() as i32, (-0.2f32 / (0.01 * (2.0 / 127.0))).round() as i32]
    );
    assert_eq!((q.input_scale, q.input_zero_point), (0.01, 3));
    // An all-zero channel gets scale 1 (never 0).
    assert_eq!(quantize_conv(&[0.0; 4], &[0.0], 1.0, 0, bemm_formats::model::WeightBits::Eight).weight_scales, [1.0]);
}

#[test]
fn zero_negative_and_non_finite_scales_are_refused_naming_layer_field_and_index() {
    let good = quant_model_bytes();
    let qt = quant_tensor(&good, 1);
    let data = tensor_data(&good, qt);
    let bad = [0.0f32, -1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
    // (slot in the parameter tensor, field, index)
    for (slot, field, index) in [(0usize, "input_scale", 0u32), (2, "weight_scale", 0), (9, "weight_scale", 7)] {
        for v in bad {
            let mut m = good.clone();
            m[data + 4 * slot..data + 4 * slot + 4].copy_from_slice(&v.to_le_bytes());
            reseal_model(&mut m);
            let e = model_err(&m);
            assert!(
                matches!(e, FormatError::Quant { layer: 1, field: f, index: i, .. } if f == field && i == index),
                "{field}[{index}] = {v}: {e}"
            );
            assert!(e.to_string().contains(&format!("layer 1: quantization parameter {field}[{index}]")), "{e}");
        }
    }
    for z in [-1.0f32, 256.0, 0.5, f32::NAN] {
        let mut m = good.clone();
        m[data + 4..data + 8].copy_from_slice(&z.to_le_bytes());
        reseal_model(&mut m);
        let e = model_err(&m);
        assert!(matches!(e, FormatError::Quant { layer: 1, field: "input_zero_point", index: 0, .. }), "{z}: {e}");
    }
    // 255 is a valid zero point.
    let mut m = good.clone();
    m[data + 4..data + 8].copy_from_slice(&255f32.to_le_bytes());
    reseal_model(&mut m);
    parse(&m).unwrap();
}

#[test]
fn tensor_types_must_match_the_layer_and_the_version() {
    let good = quant_model_bytes();
    let dtype_at = |b: &[u8], t: u32| tensor_rec(b, t) + 36;
    let l1 = |off| get_u32(&good, layer_field(1, off));
    let (w, b, q) = (l1(56), l1(60), quant_tensor(&good, 1));
    // A QConv with an f16 weight (same element count: the bytes fit), an f32 bias, i32 parameters.
    for (t, dtype, problem) in [
        (w, DTYPE_F16, "weight tensor type does not match the layer (f16; QConv: i8)"),
        (b, DTYPE_F32, "bias tensor type does not match the layer (f16; QConv: i32)"),
        (q, DTYPE_I32, "quantization parameter tensor must be f32"),
    ] {
        let mut m = good.clone();
        put_u32(&mut m, dtype_at(&good, t), dtype);
        reseal_model(&mut m);
        let e = model_err(&m);
        assert!(matches!(e, FormatError::Graph { layer: 1, problem: p, .. } if p == problem), "{e}");
    }
    // An f16 conv's weight stored as i8.
    let w0 = get_u32(&good, layer_field(0, 56));
    let mut m = good.clone();
    put_u32(&mut m, dtype_at(&good, w0), DTYPE_I8);
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Graph { layer: 0, .. }));
    // Unknown dtype.
    let mut m = good.clone();
    put_u32(&mut m, dtype_at(&good, w), 5);
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Invalid { field: "dtype", value: 5, .. }));
    // The same file labelled 1.0: the non-f16 tensors are refused.
    let mut m = good.clone();
    put_u16(&mut m, 10, 0);
    reseal_model(&mut m);
    let e = model_err(&m);
    assert!(matches!(e, FormatError::Invalid { field: "dtype", expected: "1 (f16) in a version 1.0 file", .. }), "{e}");
    // A QConv in a 1.0 file whose tensors are all f16 (kind 9 on layer 0).
    let mut m = model_bytes();
    put_u32(&mut m, layer_field(0, 0), 9);
    reseal_model(&mut m);
    let e = model_err(&m);
    assert!(matches!(e, FormatError::Graph { layer: 0, value: 9, .. }), "{e}");
}

#[test]
fn qconv_structure_errors() {
    let good = quant_model_bytes();
    // No quantization parameters.
    let mut m = good.clone();
    put_u32(&mut m, layer_field(1, 8), NONE);
    reseal_model(&mut m);
    let e = model_err(&m);
    assert!(
        matches!(
            e,
            FormatError::Graph { layer: 1, problem: "quantized convolution without quantization parameters", .. }
        ),
        "{e}"
    );
    // Parameters pointing at a tensor of the wrong shape (the bias, [out_c]).
    let mut m = good.clone();
    put_u32(&mut m, layer_field(1, 8), get_u32(&good, layer_field(1, 60)));
    reseal_model(&mut m);
    let e = model_err(&m);
    assert!(
        matches!(e, FormatError::Graph { layer: 1, problem: "quantization parameter tensor must be [out_c + 2]", .. }),
        "{e}"
    );
    // Out of range.
    let mut m = good.clone();
    put_u32(&mut m, layer_field(1, 8), 999);
    reseal_model(&mut m);
    let e = model_err(&m);
    assert!(
        matches!(e, FormatError::Graph { layer: 1, problem: "quantization parameter tensor index out of range", .. }),
        "{e}"
    );
    // A plain conv with a second input.
    let mut m = good.clone();
    put_u32(&mut m, layer_field(0, 8), 0);
    reseal_model(&mut m);
    assert!(matches!(
        model_err(&m),
        FormatError::Graph { layer: 0, problem: "only add layers take a second input", .. }
    ));
    // An i8 tensor's size is one byte per element: ending past the payload is an error.
    let w = get_u32(&good, layer_field(1, 56));
    let mut m = good.clone();
    let len = get_u64(&good, 56);
    put_u64(&mut m, tensor_rec(&good, w), (len - 8 - 64 * 4) / 64 * 64);
    reseal_model(&mut m);
    assert!(matches!(model_err(&m), FormatError::Invalid { field: "offset", .. }));
}

#[test]
fn a_quantized_convolution_deeper_than_2_16_is_refused() {
    use bemm_formats::model::{GraphBuilder, ModelBuilder, OwnedMeta};
    let build = |channels: u32| {
        let mut g = GraphBuilder::new(1, 4, 4);
        let wide = g.conv(
            GraphBuilder::INPUT,
            channels,
            1,
            1,
            0,
            vec![0.5; channels as usize],
            vec![0.0; channels as usize],
            true,
        );
        let wide = wide.unwrap();
        let q =
            quantize_conv(&vec![0.5; channels as usize * 16], &[0.0], 0.1, 0, bemm_formats::model::WeightBits::Eight);
        let qc = g.qconv(wide, 1, 4, 1, 0, q, false).unwrap();
        let logits = g.linear(qc, 19, vec![0.1; 19], vec![0.0; 19], false).unwrap();
        ModelBuilder { graph: g, output: logits, feature: qc, meta: OwnedMeta::bigearthnet("deep", &[0]) }.to_bytes()
    };
    // 4096 channels x 4 x 4 = 65536 steps: the most; 4097 x 16 = 65552: one channel too many.
    build(4096).unwrap();
    let e = build(4097).unwrap_err();
    assert!(matches!(e, FormatError::Graph { layer: 1, value: 65552, .. }), "{e}");
    // The builder refuses tensors that do not match out_c.
    let mut g = GraphBuilder::new(12, 8, 8);
    let q = quantize_conv(&vec![0.5; 2 * 12 * 9], &[0.0, 1.0], 0.1, 0, bemm_formats::model::WeightBits::Eight);
    assert!(g.qconv(GraphBuilder::INPUT, 2, 3, 1, 1, q.clone(), false).is_ok());
    assert!(g.qconv(GraphBuilder::INPUT, 3, 3, 1, 1, q, false).is_err());
}
