//! The paper's metrics (`bemm_engine::metrics`) equal scikit-learn's on the
//! committed fixture made by `tests/fixtures/sklearn/make_fixture.py`
//! (edge cases: a sample with no predicted label, one with every class
//! predicted, a class never true, a class never true nor predicted, tied top
//! scores, scores exactly at the threshold). No Python needed at test time.

use bemm_engine::metrics::{Metrics, MultiLabelAccumulator};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sklearn/metrics.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).expect("metrics.json is valid JSON")
}

fn mask(row: &Value) -> u64 {
    row.as_array()
        .unwrap()
        .iter()
        .enumerate()
        .fold(0u64, |m, (c, v)| if v.as_i64() == Some(1) { m | 1 << c } else { m })
}

fn scores(row: &Value) -> Vec<f32> {
    row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

fn check(m: &Metrics, fx: &Value) {
    let e = &fx["expected"];
    let fields: [(&str, f64); 14] = [
        ("hamming_loss", m.hamming_loss),
        ("one_error", m.one_error),
        ("sample_precision", m.sample_precision),
        ("sample_recall", m.sample_recall),
        ("sample_f1", m.sample_f1),
        ("sample_f2", m.sample_f2),
        ("macro_precision", m.macro_precision),
        ("macro_recall", m.macro_recall),
        ("macro_f1", m.macro_f1),
        ("macro_f2", m.macro_f2),
        ("micro_precision", m.micro_precision),
        ("micro_recall", m.micro_recall),
        ("micro_f1", m.micro_f1),
        ("micro_f2", m.micro_f2),
    ];
    for (name, ours) in fields {
        let theirs = e[name].as_f64().unwrap_or_else(|| panic!("fixture lacks {name}"));
        assert!((ours - theirs).abs() < TOL, "{name}: ours {ours} vs scikit-learn {theirs}");
    }
    let pc = &fx["per_class"];
    for (c, cm) in m.classes().iter().enumerate() {
        for (name, ours) in [("precision", cm.precision), ("recall", cm.recall), ("f1", cm.f1), ("f2", cm.f2)] {
            let theirs = pc[name][c].as_f64().unwrap();
            assert!((ours - theirs).abs() < TOL, "class {c} {name}: ours {ours} vs scikit-learn {theirs}");
        }
        assert_eq!(cm.support, pc["support"][c].as_u64().unwrap(), "class {c} support");
    }
}

#[test]
fn metrics_from_masks_equal_scikit_learn() {
    let fx = fixture();
    let n_classes = fx["classes"].as_array().unwrap().len();
    assert_eq!(n_classes, bemm_formats::labels::NUM_CLASSES);
    let mut acc = MultiLabelAccumulator::new(n_classes);
    let (t, p, s) =
        (fx["truth"].as_array().unwrap(), fx["predicted"].as_array().unwrap(), fx["scores"].as_array().unwrap());
    for i in 0..t.len() {
        acc.add(mask(&t[i]), mask(&p[i]), &scores(&s[i]));
    }
    let m = acc.finish();
    assert_eq!(m.samples as usize, t.len());
    check(&m, &fx);
}

#[test]
fn thresholded_scores_and_merged_shards_equal_scikit_learn() {
    let fx = fixture();
    let th = fx["threshold"].as_f64().unwrap() as f32;
    let (t, s) = (fx["truth"].as_array().unwrap(), fx["scores"].as_array().unwrap());
    // Three shards accumulated separately, then merged (how validation runs in parallel).
    let mut shards = [MultiLabelAccumulator::new(19); 3];
    for i in 0..t.len() {
        shards[i % 3].add_thresholded(mask(&t[i]), &scores(&s[i]), &[th]);
    }
    let mut acc = shards[0];
    acc.merge(&shards[1]);
    acc.merge(&shards[2]);
    check(&acc.finish(), &fx);
}
