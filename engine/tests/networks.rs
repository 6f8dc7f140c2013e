//! Whole networks (the real ResNet/VGG graphs from `bemm_engine::arch`, random
//! weights) against the f64 reference interpreter, under every ISA; plus
//! batch invariance and the threaded / non-contiguous entry points.

mod common;

use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_engine::{Isa, Model, Precision};
use common::*;
use half::f16;

fn model_bytes(a: Arch, size: usize, seed: u64) -> Vec<u8> {
    let b = arch::build(a, 12, size, 19, &mut RandomWeights::new(seed), meta(12, 19)).unwrap();
    b.to_bytes().unwrap()
}

#[test]
fn resnet18_matches_reference() {
    let errs = check_model(&model_bytes(Arch::ResNet18, 32, 1), 2, &mut Rng(3), 5.0);
    eprintln!("resnet18 32x32: {errs:?}");
}

#[test]
fn resnet50_bottleneck_matches_reference() {
    let errs = check_model(&model_bytes(Arch::ResNet50, 32, 2), 1, &mut Rng(4), 5.0);
    eprintln!("resnet50 32x32: {errs:?}");
}

#[test]
fn vgg16_matches_reference() {
    let errs = check_model(&model_bytes(Arch::Vgg16, 32, 3), 2, &mut Rng(5), 5.0);
    eprintln!("vgg16 32x32: {errs:?}");
}

#[test]
fn resnet18_full_size_matches_reference() {
    // The one full-size forward: 12 x 120 x 120, batch 1.
    let errs = check_model(&model_bytes(Arch::ResNet18, 120, 6), 1, &mut Rng(7), 5.0);
    eprintln!("resnet18 120x120: {errs:?}");
}

#[test]
fn batch_results_equal_single_results_and_entry_points_agree() {
    let bytes = model_bytes(Arch::ResNet18, 40, 8);
    let buf = Aligned::new(&bytes);
    let m = Model::from_bytes(buf.bytes()).unwrap();
    let n = m.input_len();
    let input = Rng(9).input(5 * n);
    let (p_all, f_all) = run(&m, &input, 5);
    for b in 0..5 {
        let (p, f) = run(&m, &input[b * n..(b + 1) * n], 1);
        let nc = m.num_classes();
        let fl = m.feature_len();
        for (x, y) in p.iter().zip(&p_all[b * nc..(b + 1) * nc]) {
            assert!((x - y).abs() <= 1e-6, "sample {b}: prob {x} alone vs {y} in batch");
        }
        for (x, y) in f.iter().zip(&f_all[b * fl..(b + 1) * fl]) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "sample {b}: feature {x} alone vs {y} in batch");
        }
    }
    // Non-contiguous samples (reversed order) give the same per-sample results.
    let samples: Vec<&[f16]> = (0..5).rev().map(|b| &input[b * n..(b + 1) * n]).collect();
    let mut scratch = vec![0f32; m.scratch_len(5)];
    let mut probs = vec![0f32; 5 * 19];
    let mut feats = vec![0f32; 5 * m.feature_len()];
    m.infer_samples(&samples, &mut scratch, &mut probs, &mut feats).unwrap();
    for b in 0..5 {
        for j in 0..19 {
            assert!((probs[b * 19 + j] - p_all[(4 - b) * 19 + j]).abs() <= 1e-6);
        }
    }
    // Threads split the batch; results are identical to one thread.
    for threads in [1, 2, 3, 8] {
        let mut p = vec![0f32; 5 * 19];
        let mut f = vec![0f32; 5 * m.feature_len()];
        m.infer_parallel(&samples, threads, &mut p, &mut f).unwrap();
        assert_eq!(p, probs, "{threads} threads");
        assert_eq!(f, feats, "{threads} threads");
        // One sample on several threads splits every layer by output channels.
        let (mut p1, mut f1) = (vec![0f32; 19], vec![0f32; m.feature_len()]);
        m.infer_parallel(&samples[..1], threads, &mut p1, &mut f1).unwrap();
        assert_eq!(p1, probs[..19], "1 sample on {threads} threads");
        assert_eq!(f1, feats[..m.feature_len()], "1 sample on {threads} threads");
        // Features are optional.
        m.infer_parallel(&samples, threads, &mut p, &mut []).unwrap();
        assert_eq!(p, probs);
    }
}

#[test]
fn late_stage_of_large_batches_gives_each_samples_own_results() {
    // ResNet18 at 64x64 runs 16 samples at a time (32x32x64 stem outputs),
    // its last stage (2x2 maps) as a late stage over many more: a batch of
    // 40 runs the early layers as 16 + 16 + 8 and the late ones on all 40
    // at once. Every sample must get exactly its own results, in order, and
    // the scratch grows by the late stage's arena only for such batches.
    let bytes = model_bytes(Arch::ResNet18, 64, 21);
    let buf = Aligned::new(&bytes);
    let m = Model::from_bytes(buf.bytes()).unwrap();
    assert_eq!(m.chunk(), 16);
    let late = m.late_chunk().expect("ResNet18 has a late stage");
    assert!(late >= 40, "late chunk {late}");
    assert_eq!(m.scratch_len(16) - m.scratch_len(1), 15 * (m.scratch_len(2) - m.scratch_len(1)));
    assert!(m.scratch_len(40) > m.scratch_len(16));
    let n = m.input_len();
    let input = Rng(22).input(40 * n);
    let (k, fl) = (m.num_classes(), m.feature_len());
    for precision in [bemm_engine::Precision::Exact, bemm_engine::Precision::Fast] {
        let m = m.clone().with_precision(precision);
        let (p40, f40) = run(&m, &input, 40);
        for b in [0, 15, 16, 31, 32, 39] {
            let (p1, f1) = run(&m, &input[b * n..(b + 1) * n], 1);
            assert_eq!(
                (&p1[..], &f1[..]),
                (&p40[b * k..(b + 1) * k], &f40[b * fl..(b + 1) * fl]),
                "sample {b}, {precision:?}"
            );
        }
        // Two threads split the batch (20 samples each: a late stage each).
        let samples: Vec<&[f16]> = (0..40).map(|b| &input[b * n..(b + 1) * n]).collect();
        let (mut p, mut f) = (vec![0f32; 40 * k], vec![0f32; 40 * fl]);
        m.infer_parallel(&samples, 2, &mut p, &mut f).unwrap();
        assert_eq!((&p, &f), (&p40, &f40), "{precision:?} on 2 threads");
    }
    // The scratch of the early stage alone is too short for 40 samples.
    let mut short = vec![0f32; m.scratch_len(16)];
    let (mut p, mut f) = (vec![0f32; 40 * k], vec![0f32; 40 * fl]);
    assert!(matches!(
        m.infer(&input, 40, &mut short, &mut p, &mut f),
        Err(bemm_engine::EngineError::ScratchTooSmall { .. })
    ));
}

#[test]
fn predicted_uses_per_class_thresholds() {
    let bytes = model_bytes(Arch::Tiny, 32, 10);
    let buf = Aligned::new(&bytes);
    let m = Model::from_bytes(buf.bytes()).unwrap();
    let t: Vec<f32> = m.meta().thresholds.to_vec();
    let mut probs: Vec<f32> = t.iter().map(|x| x - 0.01).collect();
    assert_eq!(m.predicted(&probs), 0);
    probs[0] = t[0];
    probs[18] = 0.99;
    assert_eq!(m.predicted(&probs), 1 | (1 << 18));
}

#[test]
fn fast_precision_agrees_with_exact_on_decisions() {
    let bytes = model_bytes(Arch::ResNet18, 48, 11);
    let buf = Aligned::new(&bytes);
    let exact = Model::from_bytes(buf.bytes()).unwrap();
    let fast = exact.clone().with_precision(Precision::Fast);
    eprintln!("fast kernel: {}", fast.kernel().name);
    let n = exact.input_len();
    let input = Rng(12).input(8 * n);
    let (pe, _) = run(&exact, &input, 8);
    let (pf, _) = run(&fast, &input, 8);
    let max = pe.iter().zip(&pf).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(max < 0.05, "fast vs exact probabilities differ by {max}");
    assert_eq!(exact.with_isa(Isa::Scalar).unwrap().precision(), Precision::Exact);
}

#[test]
fn memory_plan_reuses_buffers() {
    let bytes = model_bytes(Arch::ResNet50, 120, 13);
    let buf = Aligned::new(&bytes);
    let m = Model::from_bytes(buf.bytes()).unwrap();
    // ResNet50 at 120x120 would need ~30 MiB per sample without reuse.
    let planned = m.scratch_len(1) * 4;
    let unplanned = m.unplanned_len() * 4;
    eprintln!("resnet50 scratch at batch 1: {planned} bytes planned, {unplanned} without reuse");
    assert!(planned * 4 < unplanned, "plan {planned} vs unplanned {unplanned}");
    assert!(planned < 8 << 20);
}

#[test]
fn small_gemm_blocks_shrink_scratch_and_keep_results() {
    // Firmware with little RAM picks small panels: the fixed workspace
    // shrinks from 2.2 MB to 40 KB; column blocks leave results bit-identical,
    // depth blocks only reorder f32 sums.
    let bytes = model_bytes(Arch::ResNet18, 40, 14);
    let buf = Aligned::new(&bytes);
    let m = Model::from_bytes(buf.bytes()).unwrap();
    let n = m.input_len();
    let input = Rng(15).input(3 * n);
    let (p, f) = run(&m, &input, 3);
    // (Winograd off on both sides: its blocks do not fit the small workspace,
    // where those layers fall back to im2col; at 40x40 no layer suits
    // direct convolution, whose buffers would not fit either.)
    let direct = m.clone().with_winograd(false);
    let cols = direct.clone().with_gemm_blocks(bemm_engine::gemm::KC, 64).unwrap();
    assert_eq!(run(&cols, &input, 3), run(&direct, &input, 3), "column blocks change no result");
    let small = m.clone().with_gemm_blocks(64, 64).unwrap();
    assert_eq!(small.workspace_len(), 96 * 64 + 64 * 64 + 64 + 96);
    assert!(small.workspace_len() * 4 < 48 * 1024, "{} f32", small.workspace_len());
    assert_eq!(m.scratch_len(3) - small.scratch_len(3), m.workspace_len() - small.workspace_len());
    let (ps, fs) = run(&small, &input, 3);
    let scale = f.iter().fold(0f32, |a, v| a.max(v.abs()));
    for (a, b) in f.iter().zip(&fs) {
        assert!((a - b).abs() <= 1e-5 * scale, "feature {a} vs {b}");
    }
    for (a, b) in p.iter().zip(&ps) {
        assert!((a - b).abs() <= 1e-5, "prob {a} vs {b}");
    }
    // The short scratch of the default blocks is refused, not overrun.
    let mut scratch = vec![0f32; small.scratch_len(3)];
    let (mut pp, mut ff) = (vec![0f32; 3 * 19], vec![0f32; 3 * m.feature_len()]);
    assert!(m.infer(&input, 3, &mut scratch, &mut pp, &mut ff).is_err());
    small.infer(&input, 3, &mut scratch, &mut pp, &mut ff).unwrap();
    // Invalid block sizes are errors that say what was expected.
    for (kc, nc) in [(0, 64), (63, 64), (64, 48), (64, 0), (8192, 64)] {
        let e = m.clone().with_gemm_blocks(kc, nc).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("expected"), "({kc}, {nc}): {e}");
    }
}
