//! `bemm ingest` and `bemm synth`: nothing lost, duplicated or mixed without
//! a word. Each case damages a fresh twin, runs the command and returns the
//! error text, or for warn-and-count cases the summary JSON and warnings.

use crate::common::*;
use crate::ingest_common::Twin;
use bemm_formats::archive::{PatchArchive, Split};
use bemm_tools::ingest::{self, Options};
use std::path::Path;

struct Case {
    name: &'static str,
    /// Damage the twin (the inputs are compared after this).
    damage: fn(&Twin),
    /// Run; return the text to search.
    run: fn(&Twin, &Path) -> String,
    want: &'static str,
}

fn err(o: &Options) -> String {
    match ingest::run(o) {
        Ok(s) => format!("no error; summary {}", s.to_json()),
        Err(e) => bemm_tools::cli::error_text(&e),
    }
}

fn summary(o: &Options) -> String {
    match ingest::run(o) {
        Ok(s) => serde_json::to_string_pretty(&s.to_json()).unwrap(),
        Err(e) => format!("error: {e:#}"),
    }
}

/// Copy S1 folder `s1` to `new` (files renamed with it).
fn copy_s1(twin: &Twin, s1: &str, new: &str) {
    let (from, to) = (twin.s1().join(s1), twin.s1().join(new));
    std::fs::create_dir(&to).unwrap();
    for e in std::fs::read_dir(&from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().replace(s1, new);
        std::fs::copy(e.path(), to.join(name)).unwrap();
    }
}

fn synth(out: &Path, layout: &str, extra: &[&str]) -> Result<(), String> {
    let mut a: Vec<String> =
        ["synth", "--pairs", "6", "--seed", "3", "--json", "--layout", layout].map(String::from).to_vec();
    a.extend(["--out".to_string(), s(out)]);
    a.extend(extra.iter().map(|x| x.to_string()));
    bemm(&a)
}

const CASES: &[Case] = &[
    Case {
        damage: |_| {},
        name: "empty folders",
        run: |t, out| {
            let (a, b) = (t.root().join("e1"), t.root().join("e2"));
            std::fs::create_dir(&a).unwrap();
            std::fs::create_dir(&b).unwrap();
            err(&Options::new(a, b, out))
        },
        want: "no pairs to ingest",
    },
    Case {
        damage: |_| {},
        name: "--s1 and --s2 swapped",
        run: |t, out| err(&Options { s1: t.s2(), s2: t.s1(), ..t.options(out) }),
        want: "are --s1 and --s2 swapped?",
    },
    Case {
        damage: |_| {},
        name: "v2 metadata given for a v1 tree",
        run: |t, out| {
            let v2 = t.root().join("v2twin");
            synth(&v2, "v2", &[]).unwrap();
            let e = err(&Options {
                metadata: Some(v2.join(bemm_tools::synth::v2::METADATA)),
                ..Options::new(t.s2(), t.s1(), out)
            });
            if out.join("manifest.json").exists() {
                return format!("{e}; an empty archive was left behind");
            }
            e
        },
        want: "none written (skipped: missing_file",
    },
    Case {
        damage: |t| {
            let (_, s1) = t.train_pairs()[0].clone();
            std::fs::remove_dir_all(t.s1().join(s1)).unwrap();
        },
        name: "an S2 patch whose S1 partner folder is missing",
        run: |t, out| summary(&t.options(out)),
        want: "\"missing_s1_partner\": 1",
    },
    Case {
        damage: |t| {
            let (_, s1) = t.train_pairs()[0].clone();
            copy_s1(t, &s1, &format!("{s1}X"));
        },
        name: "two S1 folders claim one S2 patch",
        run: |t, out| summary(&t.options(out)),
        want: "\"duplicate_s2_claim\": 1",
    },
    Case {
        damage: |t| {
            let (_, s1) = t.train_pairs()[0].clone();
            copy_s1(t, &s1, &format!("{s1}X"));
        },
        name: "the duplicated S2 patch is stored once",
        run: |t, out| {
            let s2 = t.train_pairs()[0].0.clone();
            summary(&t.options(out));
            let a = PatchArchive::open(out).unwrap();
            let stored = (0..a.len()).filter(|&i| a.record(i).unwrap().s2() == s2).count();
            format!("stored {stored} time(s)")
        },
        want: "stored 1 time(s)",
    },
    Case {
        damage: |t| {
            let f = t.root().join("train.csv");
            let text = std::fs::read_to_string(&f).unwrap();
            std::fs::write(&f, format!("\u{feff}{text}")).unwrap();
        },
        name: "a byte-order mark before the first name of train.csv",
        run: |t, out| {
            ingest::run(&t.options(out)).unwrap();
            let first = t.train_pairs()[0].0.trim_start_matches('\u{feff}').to_string();
            let a = PatchArchive::open(out).unwrap();
            let split = a.find(&first).map(|i| a.record(i).unwrap().split());
            format!("first name's split: {split:?}")
        },
        want: "first name's split: Some(Train)",
    },
    Case {
        damage: |t| {
            for f in ["train.csv", "val.csv", "test.csv"] {
                let swapped: String = t
                    .list(f)
                    .iter()
                    .map(|l| {
                        let (a, b) = l.split_once(',').unwrap();
                        format!("{b},{a}\n")
                    })
                    .collect();
                std::fs::write(t.root().join(f), swapped).unwrap();
            }
        },
        name: "split files with the columns in the order S1,S2",
        run: |t, out| {
            ingest::run(&t.options(out)).unwrap();
            let a = PatchArchive::open(out).unwrap();
            let listed: usize = ["train.csv", "val.csv", "test.csv"].iter().map(|f| t.list(f).len()).sum();
            let assigned = a.len() - a.indices(Some(Split::Unassigned)).len();
            format!("{assigned} of {listed} listed pairs assigned")
        },
        want: " listed pairs assigned",
    },
    Case {
        damage: |t| {
            std::fs::write(t.root().join("val.csv"), "S2A_nothing_1,S1A_nothing_1\nS2A_nothing_2,S1A_nothing_2\n")
                .unwrap();
        },
        name: "split-file names that match no patch",
        run: |t, out| summary(&t.options(out)),
        want: "0 of 2 names in",
    },
    Case {
        damage: |t| {
            let f = t.root().join("patches_with_seasonal_snow.csv");
            let text = std::fs::read_to_string(&f).unwrap();
            std::fs::write(&f, format!("{text}S2A_MSIL2A_nothing_1\nS2B_MSIL2A_nothing_2\n")).unwrap();
        },
        name: "seasonal-snow list names that match no patch are counted in the summary",
        run: |t, out| summary(&t.options(out)),
        want: "patches_with_seasonal_snow.csv\": 2",
    },
    Case {
        damage: |t| {
            std::fs::write(t.root().join("patches_with_cloud_and_shadow.csv"), "S2A_MSIL2A_nothing_3\n").unwrap();
        },
        name: "cloud/shadow list names that match no patch are warned about",
        run: |t, out| summary(&t.options(out)),
        want: "0 of 1 names in",
    },
    Case {
        damage: |_| {},
        name: "synth into a folder holding a twin",
        run: |t, _| synth(t.root(), "v1", &[]).err().unwrap_or_else(|| "no error".into()),
        want: "already holds a twin",
    },
    Case {
        damage: |_| {},
        name: "synth --force into a folder holding other files",
        run: |t, _| {
            let d = t.root().join("BigEarthNet-S1-v1.0");
            synth(&d, "v1", &["--force"]).err().unwrap_or_else(|| "no error".into())
        },
        want: "is not empty and does not hold a twin",
    },
];

#[test]
fn ingest_and_synth_refuse_or_count_every_loss() {
    check_table(
        CASES,
        |c| c.name.to_string(),
        |c| c.want,
        |c| {
            let twin = Twin::new(8, 21);
            (c.damage)(&twin);
            let out = tempfile::tempdir().unwrap();
            let out = out.path().join("archive");
            let before = snapshot(&[twin.root()]);
            let text = (c.run)(&twin, &out);
            // Cases that write beside the twin (a v2 twin) add files; none may change.
            let after = snapshot(&[twin.root()]);
            let changed = before.iter().filter(|(p, b)| after.iter().all(|(q, c)| q != p || c != b)).count();
            if changed > 0 {
                return format!("{changed} input file(s) changed or vanished");
            }
            text
        },
    );
}

#[test]
fn ingest_leaves_its_inputs_byte_identical_and_writes_nothing_when_nothing_is_ingested() {
    let twin = Twin::new(6, 5);
    let before = snapshot(&[twin.root()]);
    let out = tempfile::tempdir().unwrap();
    let out = out.path().join("archive");
    let e = err(&Options { s1: twin.s2(), s2: twin.s1(), ..twin.options(&out) });
    assert!(e.contains("swapped"), "{e}");
    let e = err(&Options { metadata: Some(twin.root().join("nope.parquet")), ..twin.options(&out) });
    assert!(!e.is_empty());
    assert!(snapshot(&[twin.root()]) == before);
    assert!(!out.join("manifest.json").exists(), "an empty archive was left behind");
}

#[test]
fn synth_force_replaces_an_earlier_twin() {
    let d = tempfile::tempdir().unwrap();
    synth(d.path(), "v1", &[]).unwrap();
    synth(d.path(), "v1", &["--force"]).unwrap();
    let lines = std::fs::read_to_string(d.path().join("train.csv")).unwrap().lines().count()
        + std::fs::read_to_string(d.path().join("val.csv")).unwrap().lines().count()
        + std::fs::read_to_string(d.path().join("test.csv")).unwrap().lines().count();
    assert!(lines <= 6, "{lines} listed pairs after replacing a 6-pair twin");
}

#[test]
fn v2_counts_a_missing_s1_partner_under_its_own_name() {
    let d = tempfile::tempdir().unwrap();
    let twin = d.path().join("v2");
    synth(&twin, "v2", &[]).unwrap();
    let (s2root, s1root) = (twin.join(bemm_tools::synth::v2::S2_DIR), twin.join(bemm_tools::synth::v2::S1_DIR));
    let clean = d.path().join("clean");
    let mut o = Options::new(&s2root, &s1root, &clean);
    o.metadata = Some(twin.join(bemm_tools::synth::v2::METADATA));
    ingest::run(&o).unwrap();
    let s1 = PatchArchive::open(&clean).unwrap().record(0).unwrap().s1().to_string();
    std::fs::remove_dir_all(bemm_tools::ingest::v2::s1_folder(&s1root, &s1)).unwrap();
    o.out = d.path().join("damaged");
    let text = summary(&o);
    assert!(text.contains("\"missing_s1_partner\": 1") && text.contains("\"missing_s2_partner\": 0"), "{text}");
}
