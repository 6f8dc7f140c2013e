//! What a training run is given ([`TrainConfig`]), what it reports while it
//! runs ([`Observer`]) and what it returns ([`TrainSummary`]).

use crate::device::DeviceSpec;
use crate::state::{Bands, EpochLog, RunState};
use crate::weights::BurnWeights;
use bemm_engine::arch::Arch;
use std::path::PathBuf;

/// A training run's settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Patch archive directory.
    pub archive: PathBuf,
    /// Run directory (created if missing).
    pub run_dir: PathBuf,
    /// Architecture.
    pub arch: Arch,
    /// Input bands.
    pub bands: Bands,
    /// Epochs to reach.
    pub epochs: usize,
    /// Patches per batch.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of every random choice (weights, order, augmentation, dropout).
    pub seed: u64,
    /// Random flips and 90-degree rotations.
    pub augment: bool,
    /// Stop after this many epochs without a better validation F2.
    pub early_stopping: Option<usize>,
    /// Device.
    pub device: DeviceSpec,
    /// Batch-assembling threads.
    pub workers: usize,
    /// Start from this bemm checkpoint's weights (fine-tuning).
    pub init: Option<PathBuf>,
    /// Start from these weights (e.g. a PyTorch state dict drained through
    /// the importer's `WeightSource` with `BurnWeights::from_source`), with
    /// `init_label` naming them in the run's settings.
    pub init_weights: Option<BurnWeights>,
    /// Where `init_weights` came from.
    pub init_label: Option<String>,
    /// Require an existing checkpoint to resume from.
    pub resume: bool,
    /// CPU only: split each batch into this many shards trained as if on
    /// separate devices (exercises the multi-device path; 1 = off).
    pub cpu_shards: usize,
    /// Use at most this many training patches (first ones of the split).
    pub train_limit: Option<usize>,
    /// Use at most this many validation patches.
    pub val_limit: Option<usize>,
}

impl TrainConfig {
    /// Defaults of the paper's protocol for `arch` (batch 500, 256 for
    /// ResNet-152; 100 epochs; Adam lr 1e-3).
    pub fn paper(archive: PathBuf, run_dir: PathBuf, arch: Arch) -> Self {
        TrainConfig {
            archive,
            run_dir,
            arch,
            bands: Bands::All,
            epochs: 100,
            batch_size: if arch == Arch::ResNet152 { 256 } else { 500 },
            lr: 1e-3,
            seed: 0,
            augment: false,
            early_stopping: None,
            device: DeviceSpec::Cpu,
            workers: 2,
            init: None,
            init_weights: None,
            init_label: None,
            resume: false,
            cpu_shards: 1,
            train_limit: None,
            val_limit: None,
        }
    }
}

/// Progress callbacks (the command line draws bars from them).
pub trait Observer {
    /// An epoch starts: `batches` batches of `patches` patches in all.
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _batches: usize, _patches: usize) {}
    /// Training progress within the epoch: patches done, mean loss so far.
    fn batch(&mut self, _patches_done: usize, _mean_loss: f64) {}
    /// Validation of `patches` patches starts.
    fn validating(&mut self, _patches: usize) {}
    /// An epoch ended; `best` when it is the new best.
    fn epoch_end(&mut self, _log: &EpochLog, _best: bool) {}
    /// A one-line note (resume, early stop...).
    fn note(&mut self, _msg: &str) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// The outcome of [`train`].
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Final run state.
    pub state: RunState,
    /// Epoch the run resumed after (None for a fresh start).
    pub resumed_after: Option<usize>,
    /// Path of the best checkpoint.
    pub best_checkpoint: PathBuf,
}
