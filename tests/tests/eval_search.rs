//! `bemm eval`, `bemm search` and `bemm retrieval-eval` as a user runs them:
//! on the scikit-learn fixture CSVs, on hand-made feature archives with known
//! answers, and on an archive made by synth + ingest with a model's features.

mod ingest_common;

use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_formats::archive::{PatchRecord, Split};
use bemm_formats::features::encode_features;
use bemm_formats::model::OwnedMeta;
use bemm_tools::cmd::{eval, retrieval_eval, search};
use half::f16;
use ingest_common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sklearn").join(name)
}

#[test]
fn eval_of_the_fixture_csvs_equals_scikit_learn() {
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(fixture("metrics.json")).unwrap()).unwrap();
    // Rows of truth.csv and predictions.csv are in different orders: matched by name.
    let ev = eval::evaluate(&fixture("truth.csv"), &fixture("predictions.csv"), 0.5, None).unwrap();
    let m = ev.metrics;
    let e = &fx["expected"];
    for (name, ours) in [
        ("hamming_loss", m.hamming_loss),
        ("one_error", m.one_error),
        ("sample_recall", m.sample_recall),
        ("sample_f2", m.sample_f2),
        ("macro_f2", m.macro_f2),
        ("micro_f1", m.micro_f1),
    ] {
        let want = e[name].as_f64().unwrap();
        // predictions.csv holds the float32 scores at full precision, so thresholding is exact.
        assert!((ours - want).abs() < 1e-9, "{name}: {ours} vs scikit-learn {want}");
    }
    // The CLI writes a chart with one bar per class that has a finite F2 (all 19).
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("f2.svg");
    bemm_tools::cli::run_args([
        "eval",
        "--truth",
        fixture("truth.csv").to_str().unwrap(),
        "--predictions",
        fixture("predictions.csv").to_str().unwrap(),
        "--json",
        "--chart",
        chart.to_str().unwrap(),
    ])
    .unwrap();
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert_eq!(svg.matches("<rect x=").count(), 19);
    assert!(svg.contains("Moors, heathland and sclerophyllous vegetation"));
}

#[test]
fn eval_errors_name_the_file_the_line_and_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let truth = std::fs::read_to_string(fixture("truth.csv")).unwrap();
    let mut lines: Vec<String> = truth.lines().map(String::from).collect();
    // Rename one patch in the truth: it is then missing from one file and extra in the other.
    let old = lines[3].split(',').next().unwrap().to_string();
    lines[3] = lines[3].replacen(&old, "S2B_NOT_PREDICTED_1_1", 1);
    let t = dir.path().join("truth.csv");
    std::fs::write(&t, lines.join("\n")).unwrap();
    let err = eval::evaluate(&t, &fixture("predictions.csv"), 0.5, None).err().unwrap().to_string();
    assert!(err.contains("S2B_NOT_PREDICTED_1_1") && err.contains(&old), "{err}");

    // A value that is not 0/1 in the truth: file, line and column named.
    let mut bad = truth.lines().map(String::from).collect::<Vec<_>>();
    bad[2] = bad[2].replacen(",0,", ",0.5,", 1);
    std::fs::write(&t, bad.join("\n")).unwrap();
    let err = eval::evaluate(&t, &fixture("predictions.csv"), 0.5, None).err().unwrap().to_string();
    assert!(err.contains("truth.csv: line 3") && err.contains("expected 0 or 1"), "{err}");

    // A header without one of the classes.
    let p = std::fs::read_to_string(fixture("predictions.csv")).unwrap().replacen("Marine waters", "Sea", 1);
    let pp = dir.path().join("pred.csv");
    std::fs::write(&pp, p).unwrap();
    let err = eval::evaluate(&fixture("truth.csv"), &pp, 0.5, None).err().unwrap().to_string();
    assert!(err.contains("pred.csv") && err.contains("Marine waters"), "{err}");
}

fn record(name: &str, labels19: u32, split: Split) -> PatchRecord {
    let mut r: PatchRecord = bytemuck::Zeroable::zeroed();
    r.s2_name = bemm_formats::archive::name_bytes(name).unwrap();
    r.labels19 = labels19;
    r.split = split as u8;
    r
}

/// Features equal to a one-hot of each patch's single label: chi-square is
/// 0 within a class and 2 across, so every answer is known in advance.
#[test]
fn retrieval_eval_and_search_on_label_features_give_known_answers() {
    let (classes, per_class, dim) = (4usize, 6usize, 8usize);
    let mut vectors = Vec::new();
    let mut records = Vec::new();
    for i in 0..classes * per_class {
        let c = i % classes;
        for j in 0..dim {
            vectors.push(f16::from_f32(if j == c { 1.0 } else { 0.0 }));
        }
        records.push(record(&format!("P_{i}"), 1 << c, if i < classes * 2 { Split::Test } else { Split::Train }));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bemf");
    std::fs::write(&path, encode_features(dim as u32, &vectors, &records, "one-hot labels", 0).unwrap()).unwrap();

    let args = retrieval_eval::Args {
        features: path.clone(),
        queries: "test".into(),
        database: "all".into(),
        k: vec![5, 10],
        metric: "chi2".into(),
        max_queries: None,
        coarse: Some(2),
        threads: Some(2),
        json: false,
    };
    let r = retrieval_eval::evaluate(&args).unwrap();
    assert_eq!((r.queries, r.database), (8, 24));
    let (k5, k10) = (r.exact[0].1, r.exact[1].1);
    // 5 other patches share the query's class: top 5 are all of them.
    assert_eq!((r.exact[0].0, k5.precision, k5.recall, k5.average_precision, k5.ndcg), (5, 1.0, 1.0, 1.0, 1.0));
    assert!(
        (k10.precision - 0.5).abs() < 1e-12 && k10.recall == 1.0 && k10.average_precision == 1.0 && k10.ndcg == 1.0
    );
    let (coarse, recall) = r.coarse.unwrap();
    assert_eq!(coarse[0].1.precision, 1.0);
    assert!(recall > 0.99);

    // Search: P_0 (class 0) finds the other class-0 patches at distance 0, itself excluded.
    let s = search::execute(&search::Args {
        features: path.clone(),
        query: Some("P_0".into()),
        query_patch: None,
        model: None,
        k: 6,
        metric: "chi2".into(),
        split: None,
        threads: Some(2),
        also: vec![],
        json: false,
    })
    .unwrap();
    let names: Vec<&str> = s.hits.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["P_4", "P_8", "P_12", "P_16", "P_20", "P_1"]);
    assert_eq!(s.hits[4].distance, 0.0);
    assert!((s.hits[5].distance - 2.0).abs() < 1e-5);

    // --also: more queries in the same batch (5 chi-square queries: the
    // multi-query bound where the CPU has one); each query's hits are
    // those of its own search, and unknown names are errors.
    let args = |q: &str, also: &[&str]| search::Args {
        features: path.clone(),
        query: Some(q.into()),
        query_patch: None,
        model: None,
        k: 6,
        metric: "chi2".into(),
        split: None,
        threads: Some(2),
        also: also.iter().map(|s| s.to_string()).collect(),
        json: false,
    };
    let b = search::execute(&args("P_0", &["P_1", "P_2", "P_3", "P_5"])).unwrap();
    assert_eq!(b.hits, s.hits);
    assert_eq!(b.also.iter().map(|q| q.query.as_str()).collect::<Vec<_>>(), ["P_1", "P_2", "P_3", "P_5"]);
    for q in &b.also {
        assert_eq!(q.hits, search::execute(&args(&q.query, &[])).unwrap().hits, "{}", q.query);
    }
    let bound = bemm_engine::retrieval::Kernel::by_name(b.kernel).and_then(bemm_engine::retrieval::select::bound_for);
    assert_eq!(b.batch_kernel, bound.map(|k| k.name()));
    assert_eq!(s.batch_kernel, None);
    // A query alone is pruned by the same instruction set's bound, row-parallel.
    assert_eq!((b.bound_kernel, s.bound_kernel), (b.batch_kernel, bound.map(|k| k.name())));
    let e = search::execute(&args("P_0", &["P_1", "NOPE"])).unwrap_err().to_string();
    assert!(e.contains("--also NOPE"), "{e}");

    // Unknown names and negative features (for chi-square) are clear errors.
    let mut a = search::Args {
        features: path.clone(),
        query: Some("NOPE".into()),
        query_patch: None,
        model: None,
        k: 3,
        metric: "chi2".into(),
        split: None,
        threads: None,
        also: vec![],
        json: false,
    };
    assert!(search::execute(&a).unwrap_err().to_string().contains("no patch named \"NOPE\""));
    vectors[3] = f16::from_f32(-1.0);
    std::fs::write(&path, encode_features(dim as u32, &vectors, &records, "neg", 0).unwrap()).unwrap();
    a.query = Some("P_1".into());
    assert!(search::execute(&a).unwrap_err().to_string().contains("non-negative"));
    a.metric = "l2".into();
    assert!(search::execute(&a).is_ok());
}

/// The whole path: synth -> ingest -> model -> predict/features -> eval,
/// search (by name and through the model) and retrieval-eval.
#[test]
fn eval_search_and_retrieval_eval_on_a_synth_archive() {
    let twin = Twin::new(40, 11);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    ingest(&twin.options(&archive));
    let meta = OwnedMeta::bigearthnet("tiny", &(0..12).collect::<Vec<_>>());
    let model = arch::build(Arch::Tiny, 12, 120, 19, &mut RandomWeights::new(9), meta).unwrap().to_bytes().unwrap();
    let mp = dir.path().join("tiny.bemm");
    std::fs::write(&mp, &model).unwrap();
    let (mps, aps) = (mp.to_str().unwrap(), archive.to_str().unwrap());
    let pred = dir.path().join("pred.csv");
    let feats = dir.path().join("f.bemf");
    bemm_tools::cli::run_args([
        "predict",
        mps,
        aps,
        "--split",
        "test",
        "--out",
        pred.to_str().unwrap(),
        "--threads",
        "2",
    ])
    .unwrap();
    bemm_tools::cli::run_args(["features", mps, aps, "--out", feats.to_str().unwrap(), "--threads", "2"]).unwrap();

    // eval with the archive as truth, exactly the test split.
    let ev = eval::evaluate(&archive, &pred, 0.5, Some("test")).unwrap();
    let arch_ = bemm_formats::archive::PatchArchive::open(&archive).unwrap();
    assert_eq!(ev.patches, arch_.indices(Some(Split::Test)).len());
    assert!((0.0..=1.0).contains(&ev.metrics.hamming_loss));
    // ... but not the train split: the names differ and are listed.
    let err = eval::evaluate(&archive, &pred, 0.5, Some("train")).err().unwrap().to_string();
    assert!(err.contains("do not name the same patches"), "{err}");

    // search through the model finds the patch itself first, at distance ~0.
    let name = arch_.record(arch_.indices(Some(Split::Test))[0]).unwrap().s2().to_string();
    let mut a = search::Args {
        features: feats.clone(),
        query: None,
        query_patch: Some(format!("{aps}:{name}")),
        model: Some(mp.clone()),
        k: 5,
        metric: "chi2".into(),
        split: None,
        threads: Some(2),
        also: vec![],
        json: false,
    };
    let s = search::execute(&a).unwrap();
    assert_eq!(s.hits[0].name, name);
    assert!(s.hits[0].distance < 1e-3, "{}", s.hits[0].distance);
    assert!(s.hits.windows(2).all(|w| w[0].distance <= w[1].distance));
    // by name: the patch itself is excluded.
    a.query = Some(name.clone());
    a.query_patch = None;
    a.model = None;
    let s = search::execute(&a).unwrap();
    assert!(s.hits.iter().all(|h| h.name != name) && s.hits.len() == 5);
    bemm_tools::cli::run_args([
        "search",
        feats.to_str().unwrap(),
        "--query",
        &name,
        "--k",
        "3",
        "--metric",
        "cosine",
        "--json",
    ])
    .unwrap();

    let r = retrieval_eval::evaluate(&retrieval_eval::Args {
        features: feats.clone(),
        queries: "test".into(),
        database: "train".into(),
        k: vec![3],
        metric: "chi2".into(),
        max_queries: None,
        coarse: None,
        threads: Some(2),
        json: false,
    })
    .unwrap();
    let s = r.exact[0].1;
    assert!(
        r.queries > 0
            && (0.0..=1.0).contains(&s.precision)
            && (0.0..=1.0).contains(&s.ndcg)
            && (0.0..=1.0).contains(&s.average_precision)
    );
    bemm_tools::cli::run_args(["retrieval-eval", feats.to_str().unwrap(), "--queries", "test", "--k", "1,3", "--json"])
        .unwrap();
}
