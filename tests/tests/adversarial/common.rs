//! Fixtures shared by the adversarial tables: a small ingested twin, a tiny
//! model, running `bemm` in-process, and byte snapshots of inputs.
#![allow(dead_code)]

use crate::ingest_common::Twin;
use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_formats::model::{ModelFile, OwnedMeta};
use std::path::{Path, PathBuf};

/// A twin, its archive and a tiny model file, in one temp folder.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub twin: Twin,
    pub archive: PathBuf,
    pub model: PathBuf,
}

impl Setup {
    pub fn new(pairs: u64) -> Setup {
        let twin = Twin::new(pairs, 7);
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        bemm_tools::ingest::run(&twin.options(&archive)).expect("ingest");
        let model = dir.path().join("tiny.bemm");
        std::fs::write(&model, tiny_model()).unwrap();
        Setup { dir, twin, archive, model }
    }
    /// A path in the temp folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A 12-band tiny model with random weights.
pub fn tiny_model() -> Vec<u8> {
    let meta = OwnedMeta::bigearthnet("tiny", &(0..12).collect::<Vec<_>>());
    arch::build(Arch::Tiny, 12, 120, 19, &mut RandomWeights::new(5), meta).unwrap().to_bytes().unwrap()
}

/// Recompute a model file's trailing XXH64 after an edit.
pub fn reseal(bytes: &mut [u8]) {
    let n = bytes.len() - 8;
    let h = bemm_formats::checksum::xxh64(&bytes[..n]);
    bytes[n..].copy_from_slice(&h.to_le_bytes());
}

/// Byte offset of tensor `idx` of a model file.
pub fn tensor_offset(bytes: &[u8], idx: usize) -> usize {
    ModelFile::parse(bytes).unwrap().tensors()[idx].offset as usize
}

/// Path as a string argument.
pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Run `bemm ARGS` in-process; an error as the CLI prints it.
pub fn bemm(args: &[String]) -> Result<(), String> {
    bemm_tools::cli::run_args(args.iter().cloned()).map_err(|e| bemm_tools::cli::error_text(&e))
}

/// Run `bemm ARGS`, expecting an error; its text as the CLI prints it.
pub fn bemm_err(args: &[String]) -> String {
    match bemm(args) {
        Ok(()) => panic!("bemm {} succeeded; expected an error", args.join(" ")),
        Err(e) => e,
    }
}

/// Every file under `paths` (recursively) with its bytes.
pub fn snapshot(paths: &[&Path]) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(p: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p).unwrap().map(|e| e.unwrap().path()).collect();
            entries.sort();
            for e in entries {
                walk(&e, out);
            }
        } else if p.exists() {
            out.push((p.to_path_buf(), std::fs::read(p).unwrap()));
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out);
    }
    out
}

/// Run each case of a table: `run` returns the error text (or the warning
/// text for warn-only cases); every failing row is reported, not just the first.
pub fn check_table<C>(cases: &[C], name: impl Fn(&C) -> String, want: impl Fn(&C) -> &str, run: impl Fn(&C) -> String) {
    let mut failures = Vec::new();
    for c in cases {
        let got = run(c);
        if !got.contains(want(c)) {
            failures.push(format!("{}: expected {:?} in {got:?}", name(c), want(c)));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
