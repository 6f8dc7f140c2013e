//! The trainer end to end: `bemm synth` (1,000 pairs) -> `bemm ingest` ->
//! `bemm train` (tiny network, CPU) -> `bemm export` -> engine predictions
//! on the test split. The model must really learn the synthetic twin, and
//! the exported fp16 model must make the same label decisions as burn; its
//! calibrated int8 export must make the fp16 model's decisions on >= 99 %
//! of the test split's and lose at most 0.5 points of sample F2.

use bemm_formats::archive::{PatchArchive, Split};
use bemm_trainer::checkpoint::load_net;
use bemm_trainer::evaluate::engine_scores;
use bemm_trainer::export::compare_with_engine;
use std::time::Instant;

#[test]
fn synth_ingest_train_export_predict() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("tmp");
    let twin = dir.path().join("twin");
    let archive = dir.path().join("archive");
    let run = dir.path().join("run");
    let model = dir.path().join("tiny.bemm");
    let s = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_string();
    bemm_tools::cli::run_args(["synth", "--pairs", "1000", "--seed", "1", "--out", &s(&twin), "--json"])
        .expect("synth");
    bemm_tools::cli::run_args([
        "ingest",
        "--s2",
        &s(&twin.join("BigEarthNet-v1.0")),
        "--s1",
        &s(&twin.join("BigEarthNet-S1-v1.0")),
        "--splits",
        &s(&twin),
        "--snow",
        &s(&twin.join("patches_with_seasonal_snow.csv")),
        "--cloud",
        &s(&twin.join("patches_with_cloud_and_shadow.csv")),
        "--out",
        &s(&archive),
    ])
    .expect("ingest");
    let t_data = t0.elapsed().as_secs_f64();
    bemm_tools::cli::run_args([
        "train",
        &s(&archive),
        "--arch",
        "tiny",
        "--out",
        &s(&run),
        "--epochs",
        EPOCHS,
        "--batch-size",
        BATCH,
        "--lr",
        LR,
        "--seed",
        "3",
        "--json",
    ])
    .expect("train");
    let t_train = t0.elapsed().as_secs_f64() - t_data;
    bemm_tools::cli::run_args(["export", &s(&run), "--out", &s(&model), "--verify", "64", "--json"]).expect("export");

    // int8 of 8-bit weights, and of 7-bit weights (for AVX2-only CPUs).
    let int8s: Vec<_> = ["8", "7"]
        .into_iter()
        .map(|bits| {
            let int8 = dir.path().join(format!("tiny-int8-w{bits}.bemm"));
            bemm_tools::cli::run_args([
                "export",
                &s(&run),
                "--out",
                &s(&int8),
                "--verify",
                "64",
                "--quantize",
                "int8",
                "--calibrate",
                &s(&archive),
                "--int8-weight-bits",
                bits,
            ])
            .unwrap_or_else(|e| panic!("int8 export, {bits}-bit weights: {e:#}"));
            int8
        })
        .collect();

    let a = PatchArchive::open(&archive).expect("archive");
    let test = a.indices(Some(Split::Test));
    assert!(test.len() >= 150, "test split has {} patches", test.len());
    let bytes = std::fs::read(&model).expect("model file");
    let channels: Vec<usize> = (0..12).collect();
    let scores = engine_scores(&bytes, &a, &test, &channels).expect("engine scores");
    let dev = Default::default();
    let (_, net) =
        load_net::<bemm_trainer::weights::CpuBackend>(&run.join("best.ckpt"), &dev).expect("best checkpoint");
    let agree = compare_with_engine(&net, &bytes, &a, &test, &channels, &dev).expect("compare");
    println!(
        "train_pipeline: test sample F2 {:.4} (class-based {:.4}, HL {:.4}); engine vs burn {:.3} % of {} decisions, max |dp| {:.5}; data {:.0} s, train {:.0} s, total {:.0} s",
        scores.f2,
        scores.macro_f2,
        scores.hamming_loss,
        100.0 * agree.rate(),
        agree.decisions,
        agree.max_prob_diff,
        t_data,
        t_train,
        t0.elapsed().as_secs_f64()
    );
    assert!(scores.f2 >= 0.8, "test sample F2 {:.4} < 0.8", scores.f2);
    for int8 in &int8s {
        check_int8(&bytes, &std::fs::read(int8).expect("int8 model file"), &a, &test);
    }
    assert!(agree.rate() >= 0.99, "engine agrees with burn on {:.3} % of decisions", 100.0 * agree.rate());
    for f in ["metrics.csv", "metrics.jsonl", "loss.svg", "scores.svg", "last.ckpt"] {
        assert!(run.join(f).exists(), "{f} missing from the run directory");
    }
}

/// The int8 model against the fp16 one on the test split, measured here
/// with the engine (independently of the export's own check); with 7-bit
/// weights on an AVX2-only CPU, some of its layers run on the 7-bit kernel.
fn check_int8(float: &[u8], int8: &[u8], a: &PatchArchive, test: &[usize]) {
    let aligned = |b: &[u8]| {
        let mut w = vec![0u64; b.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut w)[..b.len()].copy_from_slice(b);
        w
    };
    let (wf, wq) = (aligned(float), aligned(int8));
    let mf = bemm_engine::Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&wf)[..float.len()]).expect("fp16 model");
    let mq = bemm_engine::Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&wq)[..int8.len()]).expect("int8 model");
    assert!(mq.is_quantized() && !mf.is_quantized());
    let samples: Vec<&[half::f16]> = test.iter().map(|&i| a.patch(i).expect("patch")).collect();
    let nc = mf.num_classes();
    let (mut pf, mut pq) = (vec![0f32; samples.len() * nc], vec![0f32; samples.len() * nc]);
    mf.infer_parallel(&samples, 2, &mut pf, &mut []).expect("fp16 inference");
    mq.infer_parallel(&samples, 2, &mut pq, &mut []).expect("int8 inference");
    let mut differing = 0;
    let (mut af, mut aq) =
        (bemm_engine::metrics::MultiLabelAccumulator::new(nc), bemm_engine::metrics::MultiLabelAccumulator::new(nc));
    for ((rf, rq), &i) in pf.chunks(nc).zip(pq.chunks(nc)).zip(test) {
        let truth = u64::from(a.record(i).expect("record").labels19);
        let (df, dq) = (mf.predicted(rf), mq.predicted(rq));
        differing += (df ^ dq).count_ones() as usize;
        af.add(truth, df, rf);
        aq.add(truth, dq, rq);
    }
    let agreement = 1.0 - differing as f64 / (samples.len() * nc) as f64;
    let (f2f, f2q) = (af.finish().sample_f2, aq.finish().sample_f2);
    println!(
        "train_pipeline int8 ({}): agreement with fp16 {:.3} % of {} decisions; test sample F2 fp16 {f2f:.4}, int8 {f2q:.4} ({:+.2} points); {} -> {} bytes ({:.3} x)",
        mq.int8_kernels_used().iter().map(|(k, n)| format!("{n} layers on {}", k.name)).collect::<Vec<_>>().join(", "),
        100.0 * agreement,
        samples.len() * nc,
        100.0 * (f2q - f2f),
        float.len(),
        int8.len(),
        int8.len() as f64 / float.len() as f64
    );
    assert!(agreement >= 0.99, "int8 agrees with fp16 on {:.3} % of decisions", 100.0 * agreement);
    assert!(f2f - f2q <= 0.005, "int8 sample F2 {f2q:.4} vs fp16 {f2f:.4}");
}

const EPOCHS: &str = "10";
const BATCH: &str = "8";
const LR: &str = "1e-2";
