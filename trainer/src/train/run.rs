//! A run from start to end on one backend: settings, start, and per epoch a
//! training pass, validation, the best-so-far bookkeeping, checkpoints and
//! logs.

use super::config::{Observer, TrainConfig, TrainSummary};
use super::epoch::train_pass;
use super::start::{start, Start};
use crate::checkpoint::{self, Rec, BEST_CHECKPOINT, LAST_CHECKPOINT};
use crate::data::{epoch_order, BatchPlan};
use crate::error::TrainError;
use crate::evaluate::{check_archive, evaluate, EvalSet};
use crate::model::Net;
use crate::state::{write_logs, EpochLog, RunSettings, RunState};
use bemm_formats::archive::{PatchArchive, Split};
use bemm_formats::labels::CLASS_NAMES;
use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamConfig, Optimizer};
use burn::record::Recorder;
use burn::tensor::backend::AutodiffBackend;
use std::path::Path;
use std::time::Instant;

/// Train on backend `B` with the model on `devices[0]` and each batch
/// sharded over all of `devices`.
pub(super) fn run<B: AutodiffBackend>(
    cfg: &TrainConfig,
    archive: &PatchArchive,
    devices: Vec<B::Device>,
    obs: &mut dyn Observer,
) -> Result<TrainSummary, TrainError> {
    let device = devices.first().cloned().ok_or_else(|| TrainError::Device("no device given".into()))?;
    let size = check_archive(archive)?;
    if cfg.batch_size == 0 || cfg.epochs == 0 || cfg.lr.is_nan() || cfg.lr <= 0.0 {
        return Err(TrainError::Config(format!(
            "batch size {}, epochs {}, lr {}: all must be positive",
            cfg.batch_size, cfg.epochs, cfg.lr
        )));
    }
    let channels = cfg.bands.channels();
    let classes = CLASS_NAMES.len();
    let train_idx = split_indices(archive, Split::Train, cfg.train_limit)?;
    let val_idx = split_indices(archive, Split::Validation, cfg.val_limit)?;
    std::fs::create_dir_all(&cfg.run_dir).map_err(TrainError::io(&cfg.run_dir))?;
    let last_path = cfg.run_dir.join(LAST_CHECKPOINT);
    let best_path = cfg.run_dir.join(BEST_CHECKPOINT);

    let settings = RunSettings {
        arch: cfg.arch.name().to_string(),
        bands: cfg.bands,
        channels: channels.clone(),
        size,
        classes,
        batch_size: cfg.batch_size,
        lr: cfg.lr,
        seed: cfg.seed,
        augment: cfg.augment,
        early_stopping: cfg.early_stopping,
        archive: cfg.archive.display().to_string(),
        train_patches: train_idx.len(),
        val_patches: val_idx.len(),
        init: cfg.init.as_ref().map(|p| p.display().to_string()).or_else(|| cfg.init_label.clone()),
    };

    let net = Net::<B>::new(cfg.arch, channels.len(), size, classes, cfg.seed, &device);
    let optim = AdamConfig::new().with_epsilon(1e-8).init::<B, Net<B>>();
    let Start { mut state, mut net, mut optim, resumed_after } =
        start(cfg, settings, &last_path, net, optim, &device, obs)?;

    while state.epochs_done < state.epochs && !state.stopped_early {
        let epoch = state.epochs_done;
        let t0 = Instant::now();
        let plan = BatchPlan {
            archive,
            order: epoch_order(&train_idx, cfg.seed, epoch as u64),
            channels: channels.clone(),
            batch_size: cfg.batch_size,
            augment: cfg.augment,
            seed: cfg.seed,
            epoch: epoch as u64,
            classes,
        };
        obs.epoch_start(epoch + 1, state.epochs, plan.batches(), train_idx.len());
        let pass = train_pass(&plan, net, &mut optim, cfg.lr, &devices, cfg.workers, obs);
        net = pass.net.ok_or_else(|| TrainError::Config("training stopped without a model".into()))?;
        let train_secs = t0.elapsed().as_secs_f64();

        obs.validating(val_idx.len());
        let set = EvalSet { archive, indices: &val_idx, channels: &channels, classes };
        let val = evaluate(&net.valid(), &set, cfg.batch_size, cfg.workers, &device);
        let log = EpochLog {
            epoch: epoch + 1,
            train_loss: pass.loss,
            patches_per_s: pass.seen as f64 / train_secs.max(1e-9),
            seconds: t0.elapsed().as_secs_f64(),
            val,
        };
        let improved = record_epoch(&mut state, cfg.early_stopping, log.clone());
        save(&state, &net, &optim, improved, &best_path, &last_path)?;
        write_logs(&cfg.run_dir, &state.history)?;
        obs.epoch_end(&log, improved);
        if state.stopped_early {
            obs.note(&format!(
                "early stopping: no better validation F2 for {} epochs",
                cfg.early_stopping.unwrap_or(0)
            ));
        }
    }
    Ok(TrainSummary { state, resumed_after, best_checkpoint: best_path })
}

/// The `split`'s patch indices, the first `limit` of them when given;
/// an empty split is an error.
fn split_indices(archive: &PatchArchive, split: Split, limit: Option<usize>) -> Result<Vec<usize>, TrainError> {
    let mut v = archive.indices(Some(split));
    if let Some(n) = limit {
        v.truncate(n);
    }
    if v.is_empty() {
        return Err(TrainError::Archive(format!("{}: the {} split is empty", archive.dir().display(), split.name())));
    }
    Ok(v)
}

/// Adds the finished epoch `log` to `state`: epochs done, best epoch by
/// validation sample F2, early stopping after `patience` epochs without a
/// better one. Returns whether the epoch is the new best.
fn record_epoch(state: &mut RunState, patience: Option<usize>, log: EpochLog) -> bool {
    let (epoch, f2) = (log.epoch, log.val.f2);
    state.epochs_done = epoch;
    let improved = state.best.is_none_or(|(_, f)| f2 > f);
    if improved {
        state.best = Some((epoch, f2));
    }
    if let (Some(p), Some((be, _))) = (patience, state.best) {
        if epoch - be >= p {
            state.stopped_early = true;
        }
    }
    state.history.push(log);
    improved
}

/// Writes the epoch's checkpoints: `best_path` when it `improved`, then
/// always `last_path`.
fn save<B: AutodiffBackend, O: Optimizer<Net<B>, B>>(
    state: &RunState,
    net: &Net<B>,
    optim: &O,
    improved: bool,
    best_path: &Path,
    last_path: &Path,
) -> Result<(), TrainError> {
    let model_bytes = Recorder::<B>::record(&Rec::new(), net.clone().into_record(), ())
        .map_err(|e| TrainError::Config(format!("cannot encode the model: {e}")))?;
    let optim_bytes = Recorder::<B>::record(&Rec::new(), optim.to_record(), ())
        .map_err(|e| TrainError::Config(format!("cannot encode the optimiser state: {e}")))?;
    if improved {
        checkpoint::write(best_path, state, &model_bytes, &optim_bytes)?;
    }
    // last.ckpt is written after best.ckpt: a crash in between resumes
    // the epoch, which recomputes the same best.
    checkpoint::write(last_path, state, &model_bytes, &optim_bytes)
}
