//! Values that are not validated would give plausible wrong results: model
//! weights, biases and thresholds, prediction probabilities, thresholds and
//! fractions given on the command line.

use crate::common::*;
use bemm_formats::labels::CLASS_NAMES;

/// A model file with f16 `bits` written into element `k` of tensor `t`, re-sealed.
fn damaged_model(t: usize, k: usize, bits: u16) -> Vec<u8> {
    let mut b = tiny_model();
    let at = tensor_offset(&b, t) + 2 * k;
    b[at..at + 2].copy_from_slice(&bits.to_le_bytes());
    reseal(&mut b);
    b
}

/// (case, damaged model bytes, expected error substring).
fn model_cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        ("NaN weight", damaged_model(0, 3, 0x7e00), "element 3 is NaN"),
        ("infinite weight", damaged_model(0, 0, 0x7c00), "element 0 is inf"),
        ("negative infinity in the second tensor", damaged_model(1, 0, 0xfc00), "is -inf, expected a finite number"),
    ]
}

#[test]
fn a_model_with_non_finite_values_is_refused_at_load() {
    let st = Setup::new(4);
    let cases = model_cases();
    check_table(
        &cases,
        |c| c.0.to_string(),
        |c| c.2,
        |c| {
            let p = st.path("bad.bemm");
            std::fs::write(&p, &c.1).unwrap();
            let e = bemm_err(&["predict".into(), s(&p), s(&st.archive), "--out".into(), s(&st.path("p.csv"))]);
            assert!(!st.path("p.csv").exists(), "{}: predictions written", c.0);
            assert!(e.contains("model tensor"), "{}: {e}", c.0);
            e
        },
    );
}

#[test]
fn a_threshold_outside_0_1_names_its_class() {
    let mut meta = bemm_formats::model::OwnedMeta::bigearthnet("tiny", &(0..12).collect::<Vec<_>>());
    meta.thresholds[4] = 1.5;
    let b = bemm_engine::arch::build(
        bemm_engine::arch::Arch::Tiny,
        12,
        120,
        19,
        &mut bemm_engine::arch::RandomWeights::new(1),
        meta,
    )
    .unwrap();
    let e = b.to_bytes().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("thresholds[4] is 1.5"), "{e}");
}

/// A predictions CSV whose first row holds `value` for the first class.
fn predictions(names: &[String], value: &str) -> String {
    let mut t = String::from("name");
    for c in CLASS_NAMES {
        t.push_str(&format!(",\"{c}\""));
    }
    t.push('\n');
    for (i, n) in names.iter().enumerate() {
        t.push_str(n);
        for c in 0..CLASS_NAMES.len() {
            t.push(',');
            t.push_str(if i == 0 && c == 0 { value } else { "0.25" });
        }
        t.push('\n');
    }
    t
}

/// (case, value in line 2 column 1 or a command-line option, expected error substring).
const PROBABILITY_CASES: &[(&str, &str, &str)] = &[
    ("above 1", "1.5", "line 2, column \"Urban fabric\": \"1.5\" is not a probability in [0, 1]"),
    ("negative", "-0.1", "\"-0.1\" is not a probability in [0, 1]"),
    ("percent", "81", "(percent? divide by 100)"),
    ("NaN", "NaN", "is not a number"),
    ("--threshold 2", "--threshold=2", "--threshold 2: expected a probability in [0, 1]"),
    ("--threshold -0.5", "--threshold=-0.5", "--threshold -0.5: expected"),
];

#[test]
fn eval_and_fuse_share_one_validation_of_probabilities() {
    let st = Setup::new(6);
    let a = bemm_formats::archive::PatchArchive::open(&st.archive).unwrap();
    let names: Vec<String> = (0..a.len()).map(|i| a.record(i).unwrap().s2().to_string()).collect();
    let ok = st.path("ok.csv");
    std::fs::write(&ok, predictions(&names, "0.25")).unwrap();
    for cmd in ["eval", "fuse"] {
        check_table(
            PROBABILITY_CASES,
            |c| format!("{cmd}: {}", c.0),
            |c| c.2,
            |c| {
                let bad = st.path("bad.csv");
                let (file, extra) = if c.1.starts_with("--") {
                    (ok.clone(), vec![c.1.to_string()])
                } else {
                    std::fs::write(&bad, predictions(&names, c.1)).unwrap();
                    (bad.clone(), vec![])
                };
                let before = snapshot(&[&file, &st.archive]);
                let mut args: Vec<String> = match cmd {
                    "eval" => vec!["eval".into(), "--truth".into(), s(&st.archive), "--predictions".into(), s(&file)],
                    _ => vec![
                        "fuse".into(),
                        "--s1".into(),
                        s(&file),
                        "--s2".into(),
                        s(&ok),
                        "--out".into(),
                        s(&st.path("fused.csv")),
                    ],
                };
                args.extend(extra);
                let e = bemm_err(&args);
                assert!(snapshot(&[&file, &st.archive]) == before);
                e
            },
        );
    }
    assert!(!st.path("fused.csv").exists());
}

#[test]
fn export_refuses_a_min_agreement_outside_0_1() {
    let d = tempfile::tempdir().unwrap();
    for v in ["1.5", "-0.1"] {
        let e = bemm_err(&[
            "export".into(),
            s(&d.path().join("run")),
            "--out".into(),
            s(&d.path().join("m.bemm")),
            format!("--min-agreement={v}"),
        ]);
        assert!(e.contains(&format!("--min-agreement {v}: expected a fraction in [0, 1]")), "{e}");
    }
}
