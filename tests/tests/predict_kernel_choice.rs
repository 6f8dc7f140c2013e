//! `bemm predict --kernel` / `--fast` and the cache of measured kernel
//! choices under `$XDG_CACHE_HOME/bemm`. One test, because it sets a
//! process-wide environment variable.

mod ingest_common;

use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_engine::kernels;
use bemm_formats::model::OwnedMeta;
use ingest_common::*;

#[test]
fn predict_measures_once_caches_pins_and_rejects_unknown_kernels() {
    let twin = Twin::new(8, 5);
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    ingest(&twin.options(&archive_dir));
    let meta = OwnedMeta::bigearthnet("tiny", &(0..12).collect::<Vec<_>>());
    let model = arch::build(Arch::Tiny, 12, 120, 19, &mut RandomWeights::new(9), meta).unwrap().to_bytes().unwrap();
    let model_path = dir.path().join("tiny.bemm");
    std::fs::write(&model_path, &model).unwrap();
    let cache = dir.path().join("xdg");
    std::env::set_var("XDG_CACHE_HOME", &cache);
    std::env::remove_var("BEMM_KERNEL");
    let (mp, ap) = (model_path.to_str().unwrap(), archive_dir.to_str().unwrap());
    let out = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let predict = |extra: &[&str], csv: &str| {
        let mut args = vec!["predict", mp, ap, "--out", csv, "--threads", "1", "--batch", "2", "--json"];
        args.extend_from_slice(extra);
        bemm_tools::cli::run_args(args)
    };
    let entries = || std::fs::read_dir(cache.join("bemm")).map(|d| d.count()).unwrap_or(0);

    // Measured and stored once per precision; a second run reads the entry.
    let exact = out("exact.csv");
    predict(&[], &exact).unwrap();
    assert_eq!(entries(), 1);
    predict(&[], &out("again.csv")).unwrap();
    assert_eq!(entries(), 1);
    assert_eq!(std::fs::read(&exact).unwrap(), std::fs::read(out("again.csv")).unwrap());
    predict(&["--fast"], &out("fast.csv")).unwrap();
    assert_eq!(entries(), 2);

    // A corrupt entry is ignored and rewritten.
    for e in std::fs::read_dir(cache.join("bemm")).unwrap() {
        std::fs::write(e.unwrap().path(), b"bemm kernel choice 1\ngarbage").unwrap();
    }
    predict(&[], &out("rebuilt.csv")).unwrap();
    let valid = std::fs::read_dir(cache.join("bemm"))
        .unwrap()
        .filter(|e| std::fs::read_to_string(e.as_ref().unwrap().path()).unwrap().ends_with("end\n"))
        .count();
    assert_eq!(valid, 1);

    // Pinned: by flag and by variable, no new entries; the scalar reference
    // predicts the same labels as the measured exact choice.
    predict(&["--kernel", "scalar"], &out("scalar.csv")).unwrap();
    std::env::set_var("BEMM_KERNEL", "scalar-4x8");
    predict(&[], &out("env.csv")).unwrap();
    std::env::remove_var("BEMM_KERNEL");
    assert_eq!(entries(), 2);
    let labels = |p: &str| -> Vec<String> {
        std::fs::read_to_string(p).unwrap().lines().map(|l| l.rsplit(',').next().unwrap().to_string()).collect()
    };
    assert_eq!(labels(&out("scalar.csv")), labels(&exact));
    assert_eq!(labels(&out("env.csv")), labels(&exact));

    // Unknown names are errors that say what is accepted.
    let e = predict(&["--kernel", "avx9000"], &out("bad.csv")).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("avx9000") && msg.contains("scalar"), "{msg}");
    std::env::set_var("BEMM_KERNEL", "avx9000");
    let e = predict(&[], &out("bad.csv")).unwrap_err();
    std::env::remove_var("BEMM_KERNEL");
    assert!(format!("{e:#}").contains("avx9000"), "{e:#}");
    assert!(!dir.path().join("bad.csv").exists());

    // An int8 model: `--kernel` naming an int8 kernel pins its QConv layers
    // (the float layers keep their measured kernel); int8 kernels are
    // bit-identical, so labels match the all-scalar run. An int8 level this
    // CPU lacks is an error naming its features.
    let meta = OwnedMeta::bigearthnet("tiny", &(0..12).collect::<Vec<_>>());
    let mut b = arch::build(Arch::Tiny, 12, 120, 19, &mut RandomWeights::new(9), meta).unwrap();
    let convs = b.graph.quantizable();
    for i in convs {
        b.graph.quantize(i, 0.05, 0, bemm_formats::model::WeightBits::Eight).unwrap();
    }
    let q_path = dir.path().join("tiny-int8.bemm");
    std::fs::write(&q_path, b.to_bytes().unwrap()).unwrap();
    let qp = q_path.to_str().unwrap();
    let predict_q = |extra: &[&str], csv: &str| {
        let mut args = vec!["predict", qp, ap, "--out", csv, "--threads", "1", "--batch", "2"];
        args.extend_from_slice(extra);
        bemm_tools::cli::run_args(args)
    };
    let int8_only = kernels::int8::available()
        .map(|k| k.name)
        .find(|n| kernels::int8::int8_only_name(n))
        .expect("an int8-only kernel on this CPU");
    predict_q(&["--kernel", int8_only], &out("q-pinned.csv")).unwrap();
    predict_q(&["--kernel", "scalar"], &out("q-scalar.csv")).unwrap();
    assert_eq!(labels(&out("q-pinned.csv")), labels(&out("q-scalar.csv")));
    let foreign = if cfg!(target_arch = "x86_64") { "neon-dot" } else { "avxvnni" };
    let e = predict_q(&["--kernel", foreign], &out("q-bad.csv")).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains(foreign) && msg.contains("this CPU lacks"), "{msg}");
    assert!(!dir.path().join("q-bad.csv").exists());
}
