//! Int8 models (format 1.1 `QConv` layers): the engine against the
//! reference interpreter's reading of SPEC 1.8, a quantized ResNet against
//! the float model it was quantized from, and every int8 kernel, thread
//! split and batch giving bit-identical outputs.

mod common;

use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_engine::kernels::int8;
use bemm_engine::Model;
use bemm_formats::model::{quantize_conv, GraphBuilder, LayerKind, ModelBuilder, WeightBits};
use common::*;
use half::f16;

fn resnet18(size: usize, seed: u64) -> ModelBuilder {
    arch::build(Arch::ResNet18, 12, size, 19, &mut RandomWeights::new(seed), meta(12, 19)).unwrap()
}

/// A graph of every `QConv` case: reading the f16 graph input (zero point
/// 128), 3x3 stride 1 and 2, 1x1, 7x7/2 with padding, a residual fused into
/// the epilogue, ReLU or not, a zero bias, channel counts that leave
/// partial tiles, and a layer with more rows than one packed A block (`MC`)
/// and a nonzero zero point, whose depth (297) spans several K blocks with
/// 64-deep panels. Layers of 8-bit and of 7-bit weights alternate, so a
/// kernel limited to 7-bit weights runs some layers and hands the others to
/// its ISA's kernel for every weight.
fn qconv_graph(rng: &mut Rng) -> Vec<u8> {
    let mut g = GraphBuilder::new(5, 13, 11);
    let q = |out_c: usize, in_c: usize, k: usize, s: f32, zp: u8, bits: WeightBits, rng: &mut Rng| {
        quantize_conv(&rng.vec(out_c * in_c * k * k, 0.4), &rng.vec(out_c, 0.2), s, zp, bits)
    };
    let (w8, w7) = (WeightBits::Eight, WeightBits::Seven);
    let c0 = g.qconv(GraphBuilder::INPUT, 14, 3, 1, 1, q(14, 5, 3, 4.0 / 255.0, 128, w7, rng), true).unwrap();
    let c1 = g.qconv(c0, 14, 3, 1, 1, q(14, 14, 3, 0.02, 0, w8, rng), false).unwrap();
    let a = g.add(c1, c0, true).unwrap();
    let c2 = g.qconv(a, 27, 1, 1, 0, q(27, 14, 1, 0.03, 0, w7, rng), false).unwrap();
    let c3 = g.qconv(c2, 9, 7, 2, 3, q(9, 27, 7, 0.05, 100, w8, rng), true).unwrap();
    let mut zero_bias = q(33, 9, 3, 0.04, 0, w7, rng);
    zero_bias.bias.iter_mut().for_each(|b| *b = 0);
    let c4 = g.qconv(c3, 33, 3, 2, 1, zero_bias, true).unwrap();
    let c5 = g.qconv(c4, 100, 3, 1, 1, q(100, 33, 3, 0.05, 90, w7, rng), true).unwrap();
    with_head(g, c5, rng)
}

#[test]
fn qconv_layers_match_the_reference_reading_of_the_spec() {
    let mut rng = Rng(21);
    let bytes = qconv_graph(&mut rng);
    let buf = Aligned::new(&bytes);
    let m = Model::from_bytes(buf.bytes()).unwrap();
    assert!(m.is_quantized());
    let n = m.input_len();
    let batch = 3;
    let input = rng.input(batch * n);
    let h = m.file().header();
    let mut want = Vec::new();
    let mut want_p = Vec::new();
    for x in input.chunks(n) {
        let r = reference(m.file(), x);
        want.extend_from_slice(&r[h.feature_layer as usize]);
        want_p.extend(r[h.output_layer as usize].iter().map(|v| 1.0 / (1.0 + (-v).exp())));
    }
    // The sums are exact; what differs is f32 rounding, and at most a rare
    // input one quantization step off where f32 and f64 activations straddle
    // a rounding boundary. Small panels split the depth into K blocks.
    for (kc, nc) in [(256, 2048), (64, 64)] {
        let m = m.clone().with_gemm_blocks(kc, nc).unwrap();
        for k in int8::available() {
            let (probs, feats) = run(&m.clone().with_int8_kernel(k), &input, batch);
            let (ef, ep) = (rel_err(&feats, &want), rel_err(&probs, &want_p));
            assert!(ef < 1e-3 && ep < 1e-3, "{} panels {kc}x{nc}: features {ef}, probabilities {ep}", k.name);
        }
    }
}

#[test]
fn a_kernel_limited_to_7_bit_weights_runs_only_the_layers_that_fit() {
    let bytes = qconv_graph(&mut Rng(23));
    let buf = Aligned::new(&bytes);
    let m = Model::from_bytes(buf.bytes()).unwrap();
    // qconv_graph: four layers of 7-bit weights, two of 8-bit weights.
    for k in int8::available() {
        let used: Vec<_> =
            m.clone().with_int8_kernel(k).int8_kernels_used().iter().map(|(q, n)| (q.name, *n)).collect();
        let want = if k.fits(127) { vec![(k.name, 6)] } else { vec![(k.name, 4), (int8::any_weight(k).name, 2)] };
        assert_eq!(used, want, "{}", k.name);
    }
}

#[test]
fn every_int8_kernel_split_and_batch_gives_bit_identical_outputs() {
    let mut rng = Rng(22);
    let bytes = qconv_graph(&mut rng);
    let buf = Aligned::new(&bytes);
    let base = Model::from_bytes(buf.bytes()).unwrap().with_int8_kernel(int8::scalar());
    let n = base.input_len();
    let batch = 5;
    let input = rng.input(batch * n);
    let want = run(&base, &input, batch);
    let kernels: Vec<_> = int8::available().collect();
    assert!(kernels.iter().any(|k| k.name == int8::best().name));
    for k in kernels {
        let m = base.clone().with_int8_kernel(k);
        assert_eq!(run(&m, &input, batch), want, "{}", k.name);
        // One sample at a time.
        for b in 0..batch {
            let (p, f) = run(&m, &input[b * n..(b + 1) * n], 1);
            let (nc, fl) = (m.num_classes(), m.feature_len());
            assert_eq!(p, want.0[b * nc..(b + 1) * nc], "{} sample {b}", k.name);
            assert_eq!(f, want.1[b * fl..(b + 1) * fl], "{} sample {b}", k.name);
        }
        // Split over threads (by columns and, for the deep late layers, by rows).
        let om = &m;
        let samples: Vec<&[f16]> = input.chunks(n).collect();
        for threads in [2, 3] {
            let mut p = vec![0f32; batch * om.num_classes()];
            let mut f = vec![0f32; batch * om.feature_len()];
            om.infer_parallel(&samples, threads, &mut p, &mut f).unwrap();
            assert_eq!((p, f), want, "{} on {threads} threads", k.name);
        }
    }
}

#[test]
fn an_int8_resnet_decides_as_the_float_model_it_was_quantized_from() {
    let float = resnet18(32, 23);
    let mut rng = Rng(24);
    let n = 12 * 32 * 32;
    let quant = quantized(&float, &rng.input(8 * n));
    let (fb, qb) = (float.to_bytes().unwrap(), quant.to_bytes().unwrap());
    let (fbuf, qbuf) = (Aligned::new(&fb), Aligned::new(&qb));
    let (fm, qm) = (Model::from_bytes(fbuf.bytes()).unwrap(), Model::from_bytes(qbuf.bytes()).unwrap());
    let convs = |m: &Model<'_>, kind| m.file().layers().iter().filter(|l| l.layer_kind() == Some(kind)).count();
    assert_eq!(convs(&qm, LayerKind::Conv), 1, "only the stem stays f16");
    assert!(convs(&qm, LayerKind::QConv) >= 19);
    assert_eq!(qm.macs_per_sample(), fm.macs_per_sample());
    let batch = 64;
    let input = rng.input(batch * n);
    let (fp, _) = run(&fm, &input, batch);
    let (qp, _) = run(&qm, &input, batch);
    let nc = fm.num_classes();
    let (mut same, mut worst) = (0, 0f32);
    for (a, b) in fp.chunks(nc).zip(qp.chunks(nc)) {
        let (da, db) = (fm.predicted(a), qm.predicted(b));
        same += nc - (da ^ db).count_ones() as usize;
        worst = a.iter().zip(b).fold(worst, |w, (x, y)| w.max((x - y).abs()));
    }
    let share = same as f64 / (batch * nc) as f64;
    eprintln!("int8 vs float: {:.2} % of decisions equal, largest probability difference {worst}", share * 100.0);
    assert!(share >= 0.99, "{share}");
}
