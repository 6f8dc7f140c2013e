//! What a run remembers between epochs (stored in every checkpoint), and the
//! files it keeps in its run directory: `metrics.csv`, `metrics.jsonl`,
//! `curves.svg`.

use crate::error::TrainError;
use bemm_engine::metrics::Metrics;
use bemm_formats::bands::{CHANNELS, S1_CHANNELS, S2_CHANNELS};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which input channels a model sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bands {
    /// All 12 (S1 + S2).
    All,
    /// Sentinel-1 only (VV, VH).
    S1,
    /// Sentinel-2 only (10 bands).
    S2,
}

impl Bands {
    /// Parse `all`, `s1` or `s2`.
    pub fn parse(s: &str) -> Option<Bands> {
        match s.to_ascii_lowercase().as_str() {
            "all" | "s1s2" | "s1+s2" => Some(Bands::All),
            "s1" => Some(Bands::S1),
            "s2" => Some(Bands::S2),
            _ => None,
        }
    }
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Bands::All => "all",
            Bands::S1 => "s1",
            Bands::S2 => "s2",
        }
    }
    /// Archive channel indices (`bemm_formats::bands` order).
    pub fn channels(self) -> Vec<usize> {
        match self {
            Bands::All => (0..CHANNELS).collect(),
            Bands::S1 => S1_CHANNELS.to_vec(),
            Bands::S2 => S2_CHANNELS.to_vec(),
        }
    }
}

/// The paper's figures for one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Samples evaluated.
    pub samples: u64,
    /// Hamming loss.
    pub hamming_loss: f64,
    /// One-error.
    pub one_error: f64,
    /// Sample-averaged precision.
    pub precision: f64,
    /// Sample-averaged recall.
    pub recall: f64,
    /// Sample-averaged F1.
    pub f1: f64,
    /// Sample-averaged F2 (model selection criterion).
    pub f2: f64,
    /// Class-based (macro) F2.
    pub macro_f2: f64,
}

impl From<&Metrics> for Scores {
    fn from(m: &Metrics) -> Self {
        Scores {
            samples: m.samples,
            hamming_loss: m.hamming_loss,
            one_error: m.one_error,
            precision: m.sample_precision,
            recall: m.sample_recall,
            f1: m.sample_f1,
            f2: m.sample_f2,
            macro_f2: m.macro_f2,
        }
    }
}

/// One epoch's log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// Epoch number, 1-based.
    pub epoch: usize,
    /// Mean training loss (BCE with logits, per label).
    pub train_loss: f64,
    /// Training throughput, patches per second (data + forward + backward + step).
    pub patches_per_s: f64,
    /// Wall time of the epoch (training and validation), seconds.
    pub seconds: f64,
    /// Validation scores.
    pub val: Scores,
}

/// The settings a run was started with (fixed for its lifetime).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// Architecture name (`bemm_engine::arch::Arch::name`).
    pub arch: String,
    /// Input bands.
    pub bands: Bands,
    /// Archive channel indices fed to the model.
    pub channels: Vec<usize>,
    /// Patch side in pixels.
    pub size: usize,
    /// Number of classes.
    pub classes: usize,
    /// Patches per batch.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Run seed.
    pub seed: u64,
    /// Random flips / rotations.
    pub augment: bool,
    /// Stop after this many epochs without a better validation F2.
    pub early_stopping: Option<usize>,
    /// The archive trained on (path as given).
    pub archive: String,
    /// Training / validation patches used.
    pub train_patches: usize,
    /// Validation patches used.
    pub val_patches: usize,
    /// Where the initial weights came from, if not random.
    pub init: Option<String>,
}

/// Everything stored with a checkpoint besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Settings.
    pub settings: RunSettings,
    /// Epochs the run should reach.
    pub epochs: usize,
    /// Epochs completed (the weights are those after this epoch).
    pub epochs_done: usize,
    /// Best validation sample F2 so far and its epoch (1-based).
    pub best: Option<(usize, f64)>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Per-epoch history.
    pub history: Vec<EpochLog>,
}

impl RunState {
    /// The log line of the best epoch.
    pub fn best_log(&self) -> Option<&EpochLog> {
        let (e, _) = self.best?;
        self.history.iter().find(|h| h.epoch == e)
    }
}

/// Rewrite `metrics.csv`, `metrics.jsonl` and `curves.svg` in `dir` from `history`.
pub fn write_logs(dir: &Path, history: &[EpochLog]) -> Result<(), TrainError> {
    let mut csv = String::from("epoch,train_loss,patches_per_s,seconds,val_samples,val_hamming_loss,val_one_error,val_precision,val_recall,val_f1,val_f2,val_macro_f2\n");
    let mut jsonl = String::new();
    for h in history {
        let v = &h.val;
        csv.push_str(&format!(
            "{},{:.6},{:.2},{:.2},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}\n",
            h.epoch,
            h.train_loss,
            h.patches_per_s,
            h.seconds,
            v.samples,
            v.hamming_loss,
            v.one_error,
            v.precision,
            v.recall,
            v.f1,
            v.f2,
            v.macro_f2
        ));
        jsonl.push_str(
            &serde_json::to_string(h).map_err(|e| TrainError::Config(format!("cannot encode the metrics log: {e}")))?,
        );
        jsonl.push('\n');
    }
    let loss: Vec<(f64, f64)> = history.iter().map(|h| (h.epoch as f64, h.train_loss)).collect();
    let f2: Vec<(f64, f64)> = history.iter().map(|h| (h.epoch as f64, h.val.f2)).collect();
    let mf2: Vec<(f64, f64)> = history.iter().map(|h| (h.epoch as f64, h.val.macro_f2)).collect();
    let hl: Vec<(f64, f64)> = history.iter().map(|h| (h.epoch as f64, h.val.hamming_loss)).collect();
    let svg_loss = crate::plot::line_chart_svg("Training loss", "epoch", "BCE loss", &[("train loss", loss)]);
    let svg_scores = crate::plot::line_chart_svg(
        "Validation scores",
        "epoch",
        "score",
        &[("sample F2", f2), ("class-based F2", mf2), ("Hamming loss", hl)],
    );
    for (name, body) in
        [("metrics.csv", csv), ("metrics.jsonl", jsonl), ("loss.svg", svg_loss), ("scores.svg", svg_scores)]
    {
        let p = dir.join(name);
        bemm_formats::fsutil::write_atomic(&p, body.as_bytes()).map_err(TrainError::io(&p))?;
    }
    Ok(())
}
