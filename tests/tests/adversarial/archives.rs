//! Consumers of a patch archive: an interrupted ingest, a manifest listing a
//! shard twice and non-finite patch data are refused or reported, never
//! used silently.

use crate::common::*;
use bemm_formats::archive::{Manifest, PatchArchive, ShardHeader};

/// (case, arguments, expected error substring); `{model}`, `{archive}`,
/// `{out}` are replaced by the fixture's paths.
const INCOMPLETE: &[(&str, &str, &str)] = &[
    ("predict", "predict {model} {archive} --out {out}/p.csv", "incomplete archive"),
    ("features", "features {model} {archive} --out {out}/f.bemf", "incomplete archive"),
    ("train", "train {archive} --arch tiny --out {out}/run --epochs 1", "incomplete archive"),
    ("eval", "eval --truth {archive} --predictions {out}/p.csv", "incomplete archive"),
    ("search --query-patch", "search {out}/f.bemf --query-patch {archive}:x --model {model}", "incomplete archive"),
];

fn expand(t: &str, st: &Setup, archive: &std::path::Path) -> Vec<String> {
    t.split_whitespace()
        .map(|w| {
            w.replace("{model}", &s(&st.model)).replace("{archive}", &s(archive)).replace("{out}", &s(st.dir.path()))
        })
        .collect()
}

#[test]
fn an_interrupted_ingest_is_refused_unless_asked_for() {
    let st = Setup::new(12);
    let partial = st.path("partial");
    let mut o = st.twin.options(&partial);
    o.shard_size = 3;
    o.stop_after_shards = Some(1);
    bemm_tools::ingest::run(&o).unwrap();
    // Inputs of eval and search that exist, so only the archive is at fault.
    bemm(&expand("predict {model} {archive} --out {out}/p.csv", &st, &st.archive)).unwrap();
    bemm(&expand("features {model} {archive} --out {out}/f.bemf", &st, &st.archive)).unwrap();
    let before = snapshot(&[&partial]);
    check_table(INCOMPLETE, |c| c.0.to_string(), |c| c.2, |c| bemm_err(&expand(c.1, &st, &partial)));
    assert!(snapshot(&[&partial]) == before);
    let e = bemm_err(&expand(INCOMPLETE[0].1, &st, &partial));
    assert!(e.contains("re-run the same `bemm ingest`") && e.contains("--allow-incomplete"), "{e}");
    // Asked for explicitly: the finished part is used.
    let mut args = expand("predict {model} {archive} --out {out}/part.csv --allow-incomplete", &st, &partial);
    bemm(&args).expect("--allow-incomplete");
    let rows = std::fs::read_to_string(st.path("part.csv")).unwrap().lines().count() - 1;
    assert_eq!(rows, PatchArchive::open(&partial).unwrap().len());
    args.clear();
}

#[test]
fn a_manifest_listing_a_shard_twice_is_refused() {
    let st = Setup::new(8);
    let mut m = Manifest::load(&st.archive).unwrap();
    let dup = m.shards[0].clone();
    m.shards.push(dup);
    m.save(&st.archive).unwrap();
    let e = bemm_err(&["info".into(), s(&st.archive), "--verify".into()]);
    assert!(e.contains("shards[1].file") && e.contains("already listed"), "{e}");
    let e = bemm_err(&["predict".into(), s(&st.model), s(&st.archive), "--out".into(), s(&st.path("p.csv"))]);
    assert!(e.contains("already listed"), "{e}");
}

#[test]
fn a_patch_with_non_finite_data_gets_no_plausible_probabilities() {
    let st = Setup::new(8);
    let shard = st.archive.join(&Manifest::load(&st.archive).unwrap().shards[0].file);
    let mut bytes = std::fs::read(&shard).unwrap();
    let at = std::mem::offset_of!(ShardHeader, tensors_offset);
    let tensors = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    // f16 NaN as the 101st value of patch 0 (the tensor checksum is only read by `info --verify`).
    bytes[tensors + 200..tensors + 202].copy_from_slice(&0x7e00u16.to_le_bytes());
    std::fs::write(&shard, &bytes).unwrap();
    let name = PatchArchive::open(&st.archive).unwrap().record(0).unwrap().s2().to_string();
    let out = st.path("p.csv");
    bemm(&["predict".into(), s(&st.model), s(&st.archive), "--out".into(), s(&out)]).unwrap();
    let csv = std::fs::read_to_string(&out).unwrap();
    let row = csv.lines().find(|l| l.starts_with(&name)).expect("a row for the damaged patch");
    assert!(row.contains(",NaN,"), "{row}");
    assert!(row.ends_with(','), "no predicted labels for the damaged patch: {row}");
    let finite_rows = csv.lines().skip(1).filter(|l| !l.contains("NaN")).count();
    assert_eq!(finite_rows, csv.lines().count() - 2);
    // eval refuses the row rather than scoring it.
    let e = bemm_err(&["eval".into(), "--truth".into(), s(&st.archive), "--predictions".into(), s(&out)]);
    assert!(e.contains("is not a number"), "{e}");
}
