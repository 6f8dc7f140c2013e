//! `--quantize int8 --calibrate ARCHIVE` on `export` and `import`: a
//! calibration archive that is missing, empty or of another band layout,
//! and out-of-range calibration flags are refused with the flag and file
//! named, and no model file is written.

use crate::common::*;
use bemm_formats::archive::Manifest;

/// (case, arguments, expected error substring). `{run}`, `{archive}`,
/// `{empty}`, `{swapped}`, `{out}`, `{dir}` are replaced by the fixture's paths.
const CASES: &[(&str, &str, &str)] = &[
    (
        "export, missing archive",
        "export {run} --out {out} --quantize int8 --calibrate {dir}/no-such-archive",
        "--calibrate: {dir}/no-such-archive: cannot open the patch archive",
    ),
    (
        "export, empty archive",
        "export {run} --out {out} --quantize int8 --calibrate {empty}",
        "--calibrate {empty}: the archive holds no patches",
    ),
    (
        "export, other band layout",
        "export {run} --out {out} --quantize int8 --calibrate {swapped}",
        "--calibrate: {swapped}: cannot open the patch archive: {swapped}/shard-000000.bemp: channel 0 is \"VV\"",
    ),
    (
        "export, zero calibration patches",
        "export {run} --out {out} --quantize int8 --calibrate {archive} --calibration-patches 0",
        "--calibration-patches 0: expected at least 1",
    ),
    (
        "export, zero held-out patches",
        "export {run} --out {out} --quantize int8 --calibrate {archive} --int8-verify 0",
        "--int8-verify 0: expected at least 1",
    ),
    (
        "export, agreement bar above 1",
        "export {run} --out {out} --quantize int8 --calibrate {archive} --min-int8-agreement 99",
        "--min-int8-agreement 99: expected a fraction in [0, 1]",
    ),
    ("export, --calibrate without --quantize", "export {run} --out {out} --calibrate {archive}", "--quantize"),
    ("export, --quantize without --calibrate", "export {run} --out {out} --quantize int8", "--calibrate"),
    ("export, unknown number format", "export {run} --out {out} --quantize int4 --calibrate {archive}", "int4"),
    (
        "import, missing archive",
        "import {dir}/w.safetensors --arch resnet18 --out {out} --quantize int8 --calibrate {dir}/no-such-archive",
        "--calibrate: {dir}/no-such-archive: cannot open the patch archive",
    ),
    (
        "import, zero calibration patches",
        "import {dir}/w.safetensors --arch resnet18 --out {out} --quantize int8 --calibrate {archive} --calibration-patches 0",
        "--calibration-patches 0",
    ),
    (
        "export, calibration archive as the output",
        "export {run} --out {archive}/m.bemm --quantize int8 --calibrate {archive}",
        "inside the input folder --calibrate",
    ),
];

#[test]
fn bad_calibration_inputs_are_refused_and_nothing_is_written() {
    let st = Setup::new(12);
    let run = st.path("run");
    bemm(
        &["train", &s(&st.archive), "--arch", "tiny", "--out", &s(&run), "--epochs", "1", "--batch-size", "4"]
            .map(String::from),
    )
    .expect("train");
    // An archive with no patches, and one whose bands are in another order.
    let mut m = Manifest::load(&st.archive).unwrap();
    let (empty, swapped) = (st.path("empty"), st.path("swapped"));
    for d in [&empty, &swapped] {
        std::fs::create_dir(d).unwrap();
        for s in &m.shards {
            std::fs::copy(st.archive.join(&s.file), d.join(&s.file)).unwrap();
        }
    }
    m.bands.swap(0, 11);
    m.save(&swapped).unwrap();
    m.bands.swap(0, 11);
    m.shards.clear();
    m.source = serde_json::Value::Null;
    m.save(&empty).unwrap();
    let out = st.path("int8.bemm");
    let sub = |t: &str| {
        t.replace("{run}", &s(&run))
            .replace("{archive}", &s(&st.archive))
            .replace("{empty}", &s(&empty))
            .replace("{swapped}", &s(&swapped))
            .replace("{out}", &s(&out))
            .replace("{dir}", &s(st.dir.path()))
    };
    let before = snapshot(&[&st.archive, &run, &empty, &swapped]);
    check_table(
        CASES,
        |c| c.0.to_string(),
        |c| c.2,
        |c| {
            let want = sub(c.2);
            let e = bemm_err(&sub(c.1).split_whitespace().map(String::from).collect::<Vec<_>>());
            assert!(!out.exists() && !st.archive.join("m.bemm").exists(), "{}: a model was written", c.0);
            // The expected text names the fixture's paths.
            if e.contains(&want) {
                c.2.to_string()
            } else {
                e
            }
        },
    );
    assert!(snapshot(&[&st.archive, &run, &empty, &swapped]) == before, "an input changed");
    let leftovers: Vec<_> = std::fs::read_dir(st.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A readable archive whose bands the model does not read as a run
    // (a model of bands 0 and 2): refused before any calibration.
    let meta = bemm_formats::model::OwnedMeta::bigearthnet("tiny", &[0, 2]);
    let b = bemm_engine::arch::build(
        bemm_engine::arch::Arch::Tiny,
        2,
        120,
        19,
        &mut bemm_engine::arch::RandomWeights::new(2),
        meta,
    )
    .unwrap();
    let args = bemm_tools::quantize::QuantArgs {
        quantize: Some(bemm_tools::quantize::Quantize::Int8),
        calibrate: Some(st.archive.clone()),
        calibration_patches: 8,
        int8_verify: 8,
        int8_weight_bits: 8,
        min_int8_agreement: 0.99,
        max_int8_f2_drop: 0.005,
    };
    let e = bemm_tools::quantize::quantize(&b.to_bytes().unwrap(), &st.archive, &args).unwrap_err();
    let e = bemm_tools::cli::error_text(&e);
    let want = format!("--calibrate {}: not the model's band layout", s(&st.archive));
    assert!(e.contains(&want) && e.contains("not a contiguous run"), "{e}");
}
