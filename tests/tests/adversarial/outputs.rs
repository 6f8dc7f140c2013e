//! Outputs that would destroy inputs: no command writes over one of its own
//! inputs or into an input archive, and a failed write leaves no `.tmp`.

use crate::common::*;

/// (case, arguments, expected error substring). `{model}`, `{archive}`,
/// `{pred}`, `{dir}` are replaced by the fixture's paths.
const CASES: &[(&str, &str, &str)] = &[
    ("predict over its model", "predict {model} {archive} --out {model}", "this is also the input MODEL"),
    (
        "predict into its archive",
        "predict {model} {archive} --out {archive}/manifest.json",
        "inside the input folder ARCHIVE",
    ),
    ("predict into a folder", "predict {model} {archive} --out {dir}", "is a folder"),
    ("features over its model", "features {model} {archive} --out {model}", "this is also the input MODEL"),
    ("features into its archive", "features {model} {archive} --out {archive}/f.bemf", "inside the input folder"),
    ("fuse over its --s1", "fuse --s1 {pred} --s2 {pred} --out {pred}", "this is also the input --s1"),
    ("eval chart over its predictions", "eval --truth {archive} --predictions {pred} --chart {pred}", "--predictions"),
    ("train run inside its archive", "train {archive} --arch tiny --out {archive}/run", "inside the input folder"),
];

fn expand(t: &str, st: &Setup, pred: &std::path::Path) -> Vec<String> {
    t.split_whitespace()
        .map(|w| {
            w.replace("{model}", &s(&st.model))
                .replace("{archive}", &s(&st.archive))
                .replace("{pred}", &s(pred))
                .replace("{dir}", &s(&st.path("outdir")))
        })
        .collect()
}

#[test]
fn no_command_writes_over_its_inputs() {
    let st = Setup::new(12);
    let pred = st.path("pred.csv");
    bemm(&expand("predict {model} {archive} --out {pred}", &st, &pred)).expect("predict");
    std::fs::create_dir(st.path("outdir")).unwrap();
    let before = snapshot(&[&st.model, &st.archive, &pred]);
    check_table(CASES, |c| c.0.to_string(), |c| c.2, |c| bemm_err(&expand(c.1, &st, &pred)));
    assert!(snapshot(&[&st.model, &st.archive, &pred]) == before, "an input changed");
    // Nothing was left beside the outputs that failed.
    let leftovers: Vec<_> = std::fs::read_dir(st.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_failed_atomic_write_leaves_no_temporary_file() {
    let d = tempfile::tempdir().unwrap();
    // The final rename cannot replace a non-empty folder.
    let target = d.path().join("out.bemm");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"x").unwrap();
    assert!(bemm_formats::fsutil::write_atomic(&target, b"model bytes").is_err());
    assert!(!d.path().join("out.bemm.tmp").exists());
    // A folder that does not exist: the temporary file cannot be created either.
    assert!(bemm_formats::fsutil::write_atomic(&d.path().join("no/such/x"), b"y").is_err());
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
}
