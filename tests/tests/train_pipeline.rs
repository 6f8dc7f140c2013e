//! The trainer end to end: `bemm synth` (1,000 pairs) -> `bemm ingest` ->
//! `bemm train` (tiny network, CPU) -> `bemm export` -> engine predictions
//! on the test split. The model must really learn the synthetic twin, and
//! the exported fp16 model must make the same label decisions as burn.

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
    assert!(agree.rate() >= 0.99, "engine agrees with burn on {:.3} % of decisions", 100.0 * agree.rate());
    for f in ["metrics.csv", "metrics.jsonl", "loss.svg", "scores.svg", "last.ckpt"] {
        assert!(run.join(f).exists(), "{f} missing from the run directory");
    }
}

const EPOCHS: &str = "10";
const BATCH: &str = "8";
const LR: &str = "1e-2";
