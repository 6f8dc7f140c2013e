//! Shared helpers of the ingest tests: make a small synthetic twin and run
//! `bemm ingest` on it in-process.
#![allow(dead_code)]

use bemm_tools::ingest::{self, Options};
use std::path::{Path, PathBuf};

/// A twin written by `bemm synth` into a temp dir.
pub struct Twin {
    pub dir: tempfile::TempDir,
}

impl Twin {
    pub fn new(pairs: u64, seed: u64) -> Twin {
        let dir = tempfile::tempdir().unwrap();
        bemm_tools::cli::run_args(
            ["synth", "--pairs", &pairs.to_string(), "--seed", &seed.to_string(), "--json", "--out"]
                .map(String::from)
                .into_iter()
                .chain([dir.path().display().to_string()]),
        )
        .expect("synth");
        Twin { dir }
    }
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn s2(&self) -> PathBuf {
        self.root().join(bemm_tools::synth::S2_DIR)
    }
    pub fn s1(&self) -> PathBuf {
        self.root().join(bemm_tools::synth::S1_DIR)
    }
    /// Ingest options with the official lists and splits of the twin.
    pub fn options(&self, out: &Path) -> Options {
        Options::for_twin(self.root(), out)
    }
    /// Lines of a list file.
    pub fn list(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.root().join(name))
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }
    /// (S2, S1) names of the pairs in train.csv.
    pub fn train_pairs(&self) -> Vec<(String, String)> {
        self.list("train.csv")
            .into_iter()
            .map(|l| {
                let (a, b) = l.split_once(',').unwrap();
                (a.to_string(), b.to_string())
            })
            .collect()
    }
}

/// Run an ingest; panics on error.
pub fn ingest(o: &Options) -> bemm_tools::ingest::summary::Summary {
    ingest::run(o).expect("ingest")
}

/// Skipped count of a reason key in a summary.
pub fn skipped(s: &bemm_tools::ingest::summary::Summary, key: &str) -> u64 {
    s.ingest.as_ref().and_then(|i| i.skipped.get(key).copied()).unwrap_or(0)
}
