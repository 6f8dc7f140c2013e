//! The flags of `bemm demo`.

use std::path::PathBuf;

/// Arguments of `bemm demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Output folder for everything the demo makes (data, archive, run, model, report).
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Synthetic pairs to generate (ignored with --s1/--s2).
    #[arg(long, default_value_t = 2000)]
    pub pairs: u64,
    /// Architecture to train (tiny, resnet18/34/50/101/152, vgg16/19).
    #[arg(long, default_value = "tiny")]
    pub arch: String,
    /// Training epochs.
    #[arg(long, default_value_t = 14)]
    pub epochs: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Learning rate (Adam). The paper's 1e-3 suits the large networks; the
    /// tiny one learns the short demo faster at 1e-2.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Training device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Write the synthetic twin in the BigEarthNet v2.0 layout (parquet
    /// metadata) instead of v1.0, so the run goes through the v2 ingest.
    #[arg(long)]
    pub v2: bool,
    /// Seed of the synthetic data and the training run.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Real BigEarthNet-S1 folder: skip synth and ingest the real archive (with --s2).
    #[arg(long, requires = "s2")]
    pub s1: Option<PathBuf>,
    /// Real BigEarthNet-S2 folder (with --s1).
    #[arg(long, requires = "s1")]
    pub s2: Option<PathBuf>,
    /// Folder with the official train.csv/val.csv/test.csv (v1.0 real archive).
    #[arg(long)]
    pub splits: Option<PathBuf>,
    /// v2.0 metadata.parquet (real archive, v2.0 layout).
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// Results listed for the example query.
    #[arg(long, default_value_t = 8)]
    pub k: usize,
}

impl Args {
    /// `--lr`, or the default for the architecture (1e-2 tiny, 1e-3 otherwise).
    pub fn learning_rate(&self) -> f64 {
        self.lr.unwrap_or(if self.arch.eq_ignore_ascii_case("tiny") { 1e-2 } else { 1e-3 })
    }
}
