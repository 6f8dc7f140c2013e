//! Where the demo writes each of its outputs.

use std::path::{Path, PathBuf};

/// Paths of everything the demo writes, relative to `--out`.
pub struct Layout {
    /// Root folder.
    pub root: PathBuf,
    /// Synthetic raw archive (v1.0 folder trees and lists).
    pub raw: PathBuf,
    /// Patch archive.
    pub archive: PathBuf,
    /// Training run folder.
    pub run: PathBuf,
    /// Exported model file.
    pub model: PathBuf,
    /// Test-split predictions.
    pub predictions: PathBuf,
    /// Per-class F2 chart.
    pub chart: PathBuf,
    /// Feature archive.
    pub features: PathBuf,
    /// Example query contact sheet.
    pub query_png: PathBuf,
    /// The report.
    pub report: PathBuf,
}

impl Layout {
    /// The layout under `root`.
    pub fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
            raw: root.join("raw"),
            archive: root.join("archive"),
            run: root.join("run"),
            model: root.join("model.bemm"),
            predictions: root.join("predictions_test.csv"),
            chart: root.join("per_class_f2.svg"),
            features: root.join("features.bemf"),
            query_png: root.join("example_query.png"),
            report: root.join("report.md"),
        }
    }
}
