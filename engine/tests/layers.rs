//! Every layer type against the f64 reference on random shapes, strides and
//! paddings, under every instruction set the CPU has (scalar, AVX2,
//! AVX-512, AVX512-BF16), reading both the f16 graph input and f32
//! intermediate activations, at batch sizes 1 to 3.

mod common;

use bemm_formats::model::GraphBuilder;
use common::*;

const INPUT: u32 = GraphBuilder::INPUT;

/// A 1x1 conv + ReLU from the (at most 16-channel) input to `c` channels.
fn widen(g: &mut GraphBuilder, c: u32, rng: &mut Rng) -> u32 {
    let ic = g.shape(INPUT).unwrap().c;
    g.conv(INPUT, c, 1, 1, 0, rng.vec((c * ic) as usize, 1.0), rng.vec(c as usize, 0.5), true).unwrap()
}

#[test]
fn conv_random_shapes_strides_paddings() {
    let mut rng = Rng(0x5eed);
    for case in 0..40 {
        let c = rng.u(1, 16);
        let k = rng.u(1, 5);
        let pad = rng.u(0, 2);
        let stride = rng.u(1, 3);
        let h = rng.u(k.saturating_sub(2 * pad).max(1), 13);
        let out_c = rng.u(1, 40);
        let mut g = GraphBuilder::new(c, h, h);
        // Half the cases read the f16 input, half an f32 activation (after a ReLU).
        let src = if case % 2 == 0 { INPUT } else { g.relu(INPUT).unwrap() };
        let w = rng.vec((out_c * c * k * k) as usize, 0.5);
        let conv = g.conv(src, out_c, k, stride, pad, w, rng.vec(out_c as usize, 0.5), case % 3 == 0).unwrap();
        let bytes = with_head(g, conv, &mut rng);
        check_model(&bytes, 1 + case as usize % 3, &mut rng, 1.0);
    }
}

#[test]
fn conv_large_k_and_n_cross_gemm_blocks() {
    // K = 300*3*3 > KC, N = 3*30*30 > NC, M = 100 > MC: every block edge.
    let mut rng = Rng(7);
    let mut g = GraphBuilder::new(8, 30, 30);
    let r = widen(&mut g, 300, &mut rng);
    let conv = g.conv(r, 100, 3, 1, 1, rng.vec(100 * 300 * 9, 0.05), rng.vec(100, 0.5), true).unwrap();
    let bytes = with_head(g, conv, &mut rng);
    check_model(&bytes, 3, &mut rng, 1.0);
}

#[test]
fn strided_windows_split_across_depth_and_column_blocks() {
    // Strided windows are packed a window row (c, ky) at a time; here depth
    // blocks (KC = 256) end inside a window row (256 = 5*49 + 11 and
    // 256 = 28*9 + 4) and N > NC, from the f16 input and an f32 activation.
    let mut rng = Rng(0x57e);
    for (c, k, stride, pad, h, from_input) in
        [(11, 7, 2, 3, 70, true), (11, 7, 2, 3, 70, false), (29, 3, 2, 1, 65, false), (6, 5, 3, 2, 41, true)]
    {
        let mut g = GraphBuilder::new(c.min(12), h, h);
        let src = if from_input { INPUT } else { widen(&mut g, c, &mut rng) };
        let w = rng.vec((16 * c * k * k) as usize, 0.3);
        let conv = g.conv(src, 16, k, stride, pad, w, rng.vec(16, 0.5), true).unwrap();
        let bytes = with_head(g, conv, &mut rng);
        check_model(&bytes, 2, &mut rng, 1.0);
    }
}

#[test]
fn direct_convolution_of_wide_maps_matches_reference() {
    // Windows of 3x3 and more on output rows of 28-32 or 55-64 pixels with few taps
    // (the 7x7/2 stem) run as direct convolution over stride phases where
    // the kernel has a taps variant (AVX-512, f32 and bf16 channel pairs),
    // im2col elsewhere: both against the f64 reference, from the f16 input
    // and an f32 activation, strides 1-3, odd channel counts (a pair with
    // zero), rows that end inside a 32-column call,
    // channel counts that end inside a 12-row strip, and a residual add
    // after the conv. The last case is a Winograd layer for f32 kernels and
    // direct for bf16 ones.
    use bemm_engine::conv::{algo, ConvAlgo, Geometry};
    use bemm_engine::kernels;
    let mut rng = Rng(0xd1ec7);
    for (c, oc, k, stride, pad, h, from_input) in [
        (12u32, 64u32, 7u32, 2u32, 3u32, 64u32, true),
        (12, 64, 7, 2, 3, 120, false),
        (5, 13, 3, 1, 0, 32, false),
        (3, 30, 5, 3, 2, 88, true),
        (7, 25, 4, 2, 1, 61, false),
        (2, 4, 3, 1, 0, 33, true),
        (17, 20, 3, 1, 1, 30, false),
    ] {
        let mut g = GraphBuilder::new(c.min(12), h, h);
        let src = if from_input { INPUT } else { widen(&mut g, c, &mut rng) };
        let conv = g
            .conv(src, oc, k, stride, pad, rng.vec((oc * c * k * k) as usize, 0.3), rng.vec(oc as usize, 0.5), false)
            .unwrap();
        let shape = g.shape(conv).unwrap();
        let geometry = Geometry {
            c: c as usize,
            h: h as usize,
            w: h as usize,
            kh: k as usize,
            kw: k as usize,
            stride: stride as usize,
            pad: pad as usize,
            oh: shape.h as usize,
            ow: shape.w as usize,
        };
        for kern in [kernels::best(true), kernels::best(false)] {
            // Direct comes before Winograd only for bf16-pair taps kernels.
            let pair_taps = kern.has_taps() && kern.format == kernels::PackFormat::Bf16Pairs;
            let winograd = !pair_taps && pad == 1 && k == 3 && stride == 1;
            let want = match (kern.has_taps(), winograd) {
                (_, true) => ConvAlgo::Winograd2x2,
                (true, false) => ConvAlgo::Direct,
                (false, false) => ConvAlgo::Im2colGemm,
            };
            assert_eq!(algo(&geometry, true, kern), want, "{c}x{h}x{h} k{k}/{stride}, {}", kern.name);
        }
        let skip =
            g.conv(src, oc, 1, stride, 0, rng.vec((oc * c) as usize, 0.3), rng.vec(oc as usize, 0.3), false).unwrap();
        let out = if skip == conv || g.shape(skip).unwrap() != shape { conv } else { g.add(conv, skip, true).unwrap() };
        let bytes = with_head(g, out, &mut rng);
        check_model(&bytes, 1 + (h as usize % 3), &mut rng, 1.0);
    }
}

#[test]
fn pointwise_conv_over_activation() {
    let mut rng = Rng(11);
    for (c, oc, hw) in [(7, 5, 3), (64, 33, 9), (260, 70, 5)] {
        let mut g = GraphBuilder::new(5, hw, hw);
        let r = widen(&mut g, c, &mut rng);
        let conv = g.conv(r, oc, 1, 1, 0, rng.vec((oc * c) as usize, 0.3), rng.vec(oc as usize, 0.3), false).unwrap();
        let bytes = with_head(g, conv, &mut rng);
        check_model(&bytes, 3, &mut rng, 1.0);
    }
}

#[test]
fn pools_random_windows() {
    let mut rng = Rng(21);
    for case in 0..30 {
        let c = rng.u(1, 9);
        let k = rng.u(1, 4);
        let pad = rng.u(0, k / 2);
        let stride = rng.u(1, 3);
        let h = rng.u(k.saturating_sub(2 * pad).max(1), 11);
        let mut g = GraphBuilder::new(c, h, h + 1);
        let src = if case % 2 == 0 {
            INPUT
        } else {
            g.conv(INPUT, c, 1, 1, 0, rng.vec((c * c) as usize, 1.0), rng.vec(c as usize, 0.1), false).unwrap()
        };
        let p = if case % 4 < 2 {
            g.max_pool(src, k, stride, pad).unwrap()
        } else {
            g.avg_pool(src, k, stride, pad).unwrap()
        };
        let bytes = with_head(g, p, &mut rng);
        check_model(&bytes, 1 + case % 2, &mut rng, 1.0);
    }
}

#[test]
fn elementwise_and_global_pool() {
    let mut rng = Rng(31);
    for case in 0..6 {
        let (c, h) = (rng.u(1, 8), rng.u(1, 9));
        let mut g = GraphBuilder::new(c, h, h);
        let a = g.conv(INPUT, c, 3, 1, 1, rng.vec((c * c * 9) as usize, 0.4), rng.vec(c as usize, 0.2), false).unwrap();
        let layer = match case {
            0 => g.add(a, INPUT, true).unwrap(),
            1 => g.add(INPUT, a, false).unwrap(),
            2 => g.relu(a).unwrap(),
            3 => g.sigmoid(a).unwrap(),
            4 => g.global_avg_pool(a).unwrap(),
            _ => g.global_avg_pool(INPUT).unwrap(),
        };
        let bytes = with_head(g, layer, &mut rng);
        check_model(&bytes, 2, &mut rng, 1.0);
    }
}

#[test]
fn linear_over_flattened_chw() {
    let mut rng = Rng(41);
    for (c, h, out) in [(3, 4, 7), (16, 3, 40), (600, 1, 33)] {
        let mut g = GraphBuilder::new(c.min(16), h, h);
        let r = widen(&mut g, c, &mut rng);
        let n = (c * h * h) as usize;
        let lin = g.linear(r, out, rng.vec(out as usize * n, 0.2), rng.vec(out as usize, 0.2), true).unwrap();
        let lin2 = g.linear(r, out, rng.vec(out as usize * n, 0.2), rng.vec(out as usize, 0.2), false).unwrap();
        let sum = g.add(lin, lin2, false).unwrap();
        let bytes = with_head(g, sum, &mut rng);
        check_model(&bytes, 3, &mut rng, 1.0);
    }
}

#[test]
fn simd_kernels_match_scalar_closely() {
    // Exact kernels differ from the scalar one only by summation order.
    let mut rng = Rng(51);
    let mut g = GraphBuilder::new(12, 17, 17);
    let a = g.conv(INPUT, 40, 3, 2, 1, rng.vec(40 * 12 * 9, 0.3), rng.vec(40, 0.3), true).unwrap();
    let b = g.conv(a, 40, 3, 1, 1, rng.vec(40 * 40 * 9, 0.1), rng.vec(40, 0.3), true).unwrap();
    let bytes = with_head(g, b, &mut rng);
    let buf = Aligned::new(&bytes);
    let m = bemm_engine::Model::from_bytes(buf.bytes()).unwrap();
    let input = rng.input(2 * m.input_len());
    let (_, want) = run(&m.clone().with_isa(bemm_engine::Isa::Scalar).unwrap(), &input, 2);
    for isa in isas() {
        let (_, got) = run(&m.clone().with_isa(isa).unwrap(), &input, 2);
        let scale = want.iter().fold(1f32, |s, v| s.max(v.abs()));
        let err = got.iter().zip(&want).fold(0f32, |e, (x, y)| e.max((x - y).abs())) / scale;
        let limit = if matches!(isa, bemm_engine::Isa::Avx512Bf16 | bemm_engine::Isa::NeonFp16) { 3e-2 } else { 1e-5 };
        assert!(err <= limit, "{} vs scalar: {err:e}", isa.name());
    }
}

#[test]
fn winograd_3x3_matches_reference_and_direct() {
    // Odd and non-square maps (partial border tiles), channels across depth
    // blocks (KCW = 128), output channels across row blocks (MCW = 48), the
    // f16 graph input and f32 activations as sources, with and without ReLU.
    use bemm_engine::conv::{algo, ConvAlgo, Geometry};
    use bemm_engine::Model;
    let mut rng = Rng(0x3a3);
    for (case, (c, oc, h, w)) in
        [(5u32, 7u32, 8u32, 8u32), (130, 50, 9, 14), (16, 97, 15, 15), (3, 4, 7, 8), (64, 64, 30, 30)]
            .into_iter()
            .enumerate()
    {
        let mut g = GraphBuilder::new(c.min(16), h, w);
        let src = if case % 2 == 0 && c <= 16 { INPUT } else { widen(&mut g, c, &mut rng) };
        let conv = g
            .conv(src, oc, 3, 1, 1, rng.vec((oc * c * 9) as usize, 0.3), rng.vec(oc as usize, 0.5), case % 2 == 1)
            .unwrap();
        let bytes = with_head(g, conv, &mut rng);
        let buf = Aligned::new(&bytes);
        let m = Model::from_bytes(buf.bytes()).unwrap();
        let l = m.file().layers().iter().find(|l| l.out_c == oc && l.kernel_h == 3).unwrap();
        let kern = bemm_engine::kernels::best(true);
        assert_eq!(algo(&Geometry::of(l), true, kern), ConvAlgo::Winograd2x2, "case {case}");
        // Without Winograd: im2col, or direct convolution on wide maps.
        assert_ne!(algo(&Geometry::of(l), false, kern), ConvAlgo::Winograd2x2);
        check_model(&bytes, 1 + case % 3, &mut rng, 1.0);
        // Winograd against the direct path: same outputs up to f32 rounding.
        let n = m.input_len();
        let input = rng.input(2 * n);
        let (pw, fw) = run(&m, &input, 2);
        let (pd, fd) = run(&m.clone().with_winograd(false), &input, 2);
        let scale = fd.iter().fold(0f32, |a, v| a.max(v.abs()));
        let worst = fw.iter().zip(&fd).fold(0f32, |a, (x, y)| a.max((x - y).abs())) / scale;
        assert!(worst <= 1e-5, "case {case}: winograd vs direct {worst:e}");
        assert!(pw.iter().zip(&pd).all(|(x, y)| (x - y).abs() <= 1e-5), "case {case}");
    }
}

#[test]
fn winograd_random_shapes_agree_with_direct_in_any_batch_and_thread_split() {
    // Random 3x3 stride-1 layers (some too small for Winograd), random
    // channels (some across the 128-channel depth block), batch 1-3: the
    // default path equals the direct one to f32 rounding, a sample gives the
    // same result alone or in a batch, and splitting one sample's layers over
    // threads changes nothing.
    use bemm_engine::Model;
    let mut rng = Rng(0xa11);
    for case in 0..24 {
        let c = rng.u(1, 140);
        let oc = rng.u(1, 70);
        let (h, w) = (rng.u(1, 20), rng.u(1, 20));
        let mut g = GraphBuilder::new(3, h, w);
        let src = widen(&mut g, c, &mut rng);
        let conv = g
            .conv(src, oc, 3, 1, 1, rng.vec((oc * c * 9) as usize, 0.2), rng.vec(oc as usize, 0.5), case % 2 == 0)
            .unwrap();
        let bytes = with_head(g, conv, &mut rng);
        let buf = Aligned::new(&bytes);
        let m = Model::from_bytes(buf.bytes()).unwrap();
        let n = m.input_len();
        let batch = 1 + case % 3;
        let input = rng.input(batch * n);
        let (pw, fw) = run(&m, &input, batch);
        let (pd, fd) = run(&m.clone().with_winograd(false), &input, batch);
        let scale = fd.iter().fold(1e-6f32, |a, v| a.max(v.abs()));
        let worst = fw.iter().zip(&fd).fold(0f32, |a, (x, y)| a.max((x - y).abs())) / scale;
        assert!(worst <= 1e-5, "case {case} ({c}->{oc}, {h}x{w}, batch {batch}): {worst:e}");
        assert!(pw.iter().zip(&pd).all(|(x, y)| (x - y).abs() <= 1e-5), "case {case}");
        let (p1, f1) = run(&m, &input[..n], 1);
        let k = m.num_classes();
        assert_eq!((&p1[..], &f1[..]), (&pw[..k], &fw[..m.feature_len()]), "case {case}: alone vs in a batch");
        let (mut pt, mut ft) = (vec![0f32; k], vec![0f32; m.feature_len()]);
        m.infer_parallel(&[&input[..n]], 3, &mut pt, &mut ft).unwrap();
        assert_eq!((pt, ft), (p1, f1), "case {case}: three threads");
    }
}

#[test]
fn residual_adds_fused_into_convolutions_match_reference_in_any_batch_and_split() {
    // conv (no ReLU) -> add(conv, skip) (+ReLU): the planner fuses the add
    // into the conv's epilogue on every path: 1x1 (pointwise), 3x3 stride 1
    // (Winograd on 9x9), 3x3 and 1x1 stride 2 (im2col, skip = a strided 1x1
    // conv). Checked against the f64 reference on every ISA, alone vs in a
    // batch, and split over three threads.
    use bemm_engine::Model;
    let mut rng = Rng(0xadd);
    for (case, (k, stride, c, oc, relu)) in [
        (1u32, 1u32, 24u32, 24u32, true),
        (3, 1, 20, 20, true),
        (3, 1, 7, 7, false),
        (3, 2, 9, 30, true),
        (1, 2, 16, 40, true),
    ]
    .into_iter()
    .enumerate()
    {
        let mut g = GraphBuilder::new(5, 9, 9);
        let src = widen(&mut g, c, &mut rng);
        let skip = if stride == 1 && c == oc {
            src
        } else {
            g.conv(src, oc, 1, stride, 0, rng.vec((oc * c) as usize, 0.3), rng.vec(oc as usize, 0.3), false).unwrap()
        };
        let main = g
            .conv(src, oc, k, stride, k / 2, rng.vec((oc * c * k * k) as usize, 0.2), rng.vec(oc as usize, 0.3), false)
            .unwrap();
        let add = g.add(main, skip, relu).unwrap();
        let bytes = with_head(g, add, &mut rng);
        check_model(&bytes, 1 + case % 3, &mut rng, 1.0);
        let buf = Aligned::new(&bytes);
        let m = Model::from_bytes(buf.bytes()).unwrap();
        let n = m.input_len();
        let input = rng.input(2 * n);
        let (p2, f2) = run(&m, &input, 2);
        let (p1, f1) = run(&m, &input[..n], 1);
        let kc = m.num_classes();
        assert_eq!((&p1[..], &f1[..]), (&p2[..kc], &f2[..m.feature_len()]), "case {case}: alone vs in a batch");
        let (mut pt, mut ft) = (vec![0f32; kc], vec![0f32; m.feature_len()]);
        m.infer_parallel(&[&input[..n]], 3, &mut pt, &mut ft).unwrap();
        assert_eq!((pt, ft), (p1, f1), "case {case}: three threads");
    }
}

#[test]
fn layers_split_by_columns_or_rows_over_threads_equal_one_thread() {
    // One sample over 2 and 3 threads: wide layers (n >= m: the 7x7/2 stem
    // shape, a 1x1 over a large map) are split by output columns, narrow
    // ones (4x4 maps) by output channels; with a fused residual add too.
    // Every split must give one thread's bits.
    use bemm_engine::Model;
    let mut rng = Rng(0xc015);
    for (c, h, oc, k, stride, pad) in
        [(12u32, 64u32, 20u32, 7u32, 2u32, 3u32), (12, 41, 24, 1, 1, 0), (12, 4, 70, 3, 1, 1)]
    {
        let mut g = GraphBuilder::new(c, h, h);
        let src = widen(&mut g, 16, &mut rng);
        let conv = g
            .conv(src, oc, k, stride, pad, rng.vec((oc * 16 * k * k) as usize, 0.2), rng.vec(oc as usize, 0.3), false)
            .unwrap();
        let skip =
            g.conv(src, oc, 1, stride, 0, rng.vec((oc * 16) as usize, 0.2), rng.vec(oc as usize, 0.3), true).unwrap();
        let main =
            g.conv(conv, oc, 1, 1, 0, rng.vec((oc * oc) as usize, 0.2), rng.vec(oc as usize, 0.3), false).unwrap();
        let add = g.add(main, skip, true).unwrap();
        let bytes = with_head(g, add, &mut rng);
        let buf = Aligned::new(&bytes);
        let m = Model::from_bytes(buf.bytes()).unwrap();
        let input = rng.input(m.input_len());
        let (p1, f1) = run(&m, &input, 1);
        for threads in [2, 3] {
            let (mut pt, mut ft) = (vec![0f32; m.num_classes()], vec![0f32; m.feature_len()]);
            m.infer_parallel(&[&input[..]], threads, &mut pt, &mut ft).unwrap();
            assert_eq!((&pt, &ft), (&p1, &f1), "{c}x{h}x{h} k{k}/{stride} -> {oc}: {threads} threads");
        }
    }
}

#[test]
fn large_batches_run_in_chunks_with_the_scratch_of_one_chunk() {
    // A 64x100x100 layer (2.56 MB per sample) makes the engine run one
    // sample at a time (`CHUNK_BYTES` = 4 MiB): a batch of 3 needs one
    // chunk's scratch for those layers (plus a late stage's for the small
    // layers after the pool, far less than a sample's early arena) and
    // gives each sample's own results, probabilities and features in batch
    // order.
    use bemm_engine::Model;
    let mut rng = Rng(0xc4);
    let mut g = GraphBuilder::new(12, 100, 100);
    let conv = g.conv(INPUT, 64, 3, 1, 1, rng.vec(64 * 12 * 9, 0.2), rng.vec(64, 0.3), true).unwrap();
    let pool = g.max_pool(conv, 4, 4, 0).unwrap();
    let bytes = with_head(g, pool, &mut rng);
    let buf = Aligned::new(&bytes);
    let m = Model::from_bytes(buf.bytes()).unwrap();
    assert_eq!(m.chunk(), 1);
    assert!(
        m.scratch_len(3) - m.scratch_len(1) < m.unplanned_len() / 4,
        "{} vs {}",
        m.scratch_len(3),
        m.scratch_len(1)
    );
    let n = m.input_len();
    let input = rng.input(3 * n);
    let (p3, f3) = run(&m, &input, 3);
    let (k, fl) = (m.num_classes(), m.feature_len());
    for b in 0..3 {
        let (p1, f1) = run(&m, &input[b * n..(b + 1) * n], 1);
        assert_eq!((&p1[..], &f1[..]), (&p3[b * k..(b + 1) * k], &f3[b * fl..(b + 1) * fl]), "sample {b}");
    }
    // Too little scratch for one chunk is still an error, not a panic.
    let mut short = vec![0f32; m.scratch_len(1) - 1];
    let (mut p, mut f) = (vec![0f32; 3 * k], vec![0f32; 3 * fl]);
    assert!(m.infer(&input, 3, &mut short, &mut p, &mut f).is_err());
}
