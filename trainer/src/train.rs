//! The training loop: the paper's protocol (BCE with logits, Adam, lr 1e-3,
//! validation every epoch with its metrics, best model by validation sample
//! F2), checkpoints that resume exactly, logs and curves in the run dir.
//!
//! Run directory:
//! - `last.ckpt`: state after the latest completed epoch (resume point);
//! - `best.ckpt`: the epoch with the best validation sample F2 (exported);
//! - `metrics.csv`, `metrics.jsonl`: one line per epoch;
//! - `loss.svg`, `scores.svg`: training loss and validation scores per epoch.

use crate::checkpoint;
use crate::data::{epoch_order, BatchPlan};
use crate::device::{probe_cuda, DeviceSpec};
use crate::error::TrainError;
use crate::model::Net;
use crate::rng::SplitMix64;
use crate::state::{write_logs, Bands, EpochLog, RunSettings, RunState, Scores};
use bemm_engine::arch::Arch;
use bemm_engine::metrics::MultiLabelAccumulator;
use bemm_formats::archive::{PatchArchive, Split};
use bemm_formats::bands::BAND_NAMES;
use bemm_formats::labels::CLASS_NAMES;
use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamConfig, GradientsParams, MultiGradientsParams, Optimizer};
use burn::prelude::DeviceOps;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Name of the resume checkpoint in a run directory.
pub const LAST_CHECKPOINT: &str = "last.ckpt";
/// Name of the best-validation checkpoint in a run directory.
pub const BEST_CHECKPOINT: &str = "best.ckpt";

/// The recorder of model and optimiser records (full f32 precision).
pub(crate) type Rec = NamedMpkBytesRecorder<FullPrecisionSettings>;

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
    pub init_weights: Option<crate::export::BurnWeights>,
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

/// Train as `cfg` says, resuming from `RUN_DIR/last.ckpt` when it exists.
pub fn train(cfg: &TrainConfig, obs: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    let archive =
        PatchArchive::open(&cfg.archive).map_err(|e| TrainError::Archive(format!("{}: {e}", cfg.archive.display())))?;
    match &cfg.device {
        DeviceSpec::Cpu => cpu_flex(cfg, &archive, obs),
        DeviceSpec::NdArray => cpu_ndarray(cfg, &archive, obs),
        DeviceSpec::Cuda(ids) => {
            probe_cuda(ids)?;
            cuda(cfg, &archive, ids, obs)
        }
    }
}

#[cfg(feature = "flex")]
fn cpu_flex(cfg: &TrainConfig, archive: &PatchArchive, obs: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    run::<burn::backend::Autodiff<burn::backend::Flex>>(
        cfg,
        archive,
        vec![Default::default(); cfg.cpu_shards.max(1)],
        obs,
    )
}
#[cfg(not(feature = "flex"))]
fn cpu_flex(_: &TrainConfig, _: &PatchArchive, _: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    Err(TrainError::Device("--device cpu needs bemm-trainer's `flex` feature (on by default)".into()))
}

#[cfg(feature = "ndarray")]
fn cpu_ndarray(cfg: &TrainConfig, archive: &PatchArchive, obs: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    run::<burn::backend::Autodiff<burn::backend::NdArray>>(
        cfg,
        archive,
        vec![Default::default(); cfg.cpu_shards.max(1)],
        obs,
    )
}
#[cfg(not(feature = "ndarray"))]
fn cpu_ndarray(_: &TrainConfig, _: &PatchArchive, _: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    Err(TrainError::Device(
        "--device ndarray needs the `ndarray` cargo feature (cargo build --features ndarray)".into(),
    ))
}

#[cfg(feature = "cuda-base")]
fn cuda(
    cfg: &TrainConfig,
    archive: &PatchArchive,
    ids: &[usize],
    obs: &mut dyn Observer,
) -> Result<TrainSummary, TrainError> {
    let devices = ids.iter().map(|&index| burn::backend::cuda::CudaDevice { index }).collect();
    // Measured on an H200 (README, "Benchmarks"): with fusion and autotuning
    // ResNet50 did not finish its first step in 535 s while the GPU sat
    // idle; without them the first step took 18 s and each after it 3 s.
    // Say which, or the run looks hung (or just slow).
    if cfg!(feature = "cuda") {
        obs.note("cuda: the first steps on a new machine compile and autotune burn-cuda's kernels (over 9 minutes for ResNet50 on an H200, GPU idle meanwhile); runs started inside the repository keep them under target/ (cubecl.toml) and start faster");
    } else {
        obs.note("cuda (no fusion, no autotuning): burn's direct convolution, about 3 s a ResNet50 step at batch 256 on an H200; BEMM_CUDA_CONV=implicit-gemm picks tensor-core kernels (not yet measured)");
    }
    run::<burn::backend::Autodiff<burn::backend::Cuda>>(cfg, archive, devices, obs)
}
#[cfg(not(feature = "cuda-base"))]
fn cuda(_: &TrainConfig, _: &PatchArchive, _: &[usize], _: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    // probe_cuda already failed without the feature; kept for completeness.
    Err(TrainError::Device("no usable CUDA GPU found: this build has no CUDA support".into()))
}

/// Check the archive's channel layout is the project's (bands by name).
pub(crate) fn check_archive(archive: &PatchArchive) -> Result<usize, TrainError> {
    let m = archive.manifest();
    if m.bands.len() != BAND_NAMES.len() || m.bands.iter().zip(BAND_NAMES).any(|(a, b)| a != b) {
        return Err(TrainError::Archive(format!(
            "{}: bands {:?}, expected the project's 12-band order {:?}",
            archive.dir().display(),
            m.bands,
            BAND_NAMES
        )));
    }
    if m.height != m.width {
        return Err(TrainError::Archive(format!(
            "{}: patches are {}x{}, expected square",
            archive.dir().display(),
            m.height,
            m.width
        )));
    }
    Ok(m.height as usize)
}

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

/// Decode a model record saved by the trainer into `net`.
pub(crate) fn load_model<B: Backend>(
    net: Net<B>,
    bytes: Vec<u8>,
    device: &B::Device,
    path: &Path,
) -> Result<Net<B>, TrainError> {
    let record = Recorder::<B>::load(&Rec::new(), bytes, device)
        .map_err(|e| TrainError::Checkpoint { path: path.to_path_buf(), problem: format!("model weights: {e}") })?;
    Ok(net.load_record(record))
}

fn run<B: AutodiffBackend>(
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

    let mut net = Net::<B>::new(cfg.arch, channels.len(), size, classes, cfg.seed, &device);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init::<B, Net<B>>();
    let mut state;
    let resumed_after;
    if last_path.exists() {
        let ck = checkpoint::read(&last_path)?;
        let s = &ck.state.settings;
        let same = s.arch == settings.arch
            && s.channels == settings.channels
            && s.batch_size == settings.batch_size
            && s.seed == settings.seed
            && s.lr == settings.lr
            && s.augment == settings.augment
            && s.train_patches == settings.train_patches;
        if !same {
            return Err(TrainError::Config(format!(
                "{}: this run was started with arch {}, bands {}, batch {}, lr {}, seed {}, augment {}, {} training patches; resuming needs the same settings (or a new --out directory)",
                last_path.display(),
                s.arch,
                s.bands.name(),
                s.batch_size,
                s.lr,
                s.seed,
                s.augment,
                s.train_patches
            )));
        }
        net = load_model(net, ck.model, &device, &last_path)?;
        let orec = Recorder::<B>::load(&Rec::new(), ck.optim, &device).map_err(|e| TrainError::Checkpoint {
            path: last_path.clone(),
            problem: format!("optimiser state: {e}"),
        })?;
        optim = optim.load_record(orec);
        state = ck.state;
        state.epochs = cfg.epochs;
        state.settings.early_stopping = cfg.early_stopping;
        resumed_after = Some(state.epochs_done);
        obs.note(&format!("resuming {} after epoch {} of {}", cfg.run_dir.display(), state.epochs_done, cfg.epochs));
    } else {
        if cfg.resume {
            return Err(TrainError::Config(format!(
                "--resume: {} has no checkpoint to resume from",
                last_path.display()
            )));
        }
        if let Some(init) = &cfg.init {
            let ck = checkpoint::read(init)?;
            if ck.state.settings.arch != settings.arch || ck.state.settings.channels != settings.channels {
                return Err(TrainError::Config(format!(
                    "--init {}: holds a {} on bands {}, this run trains a {} on bands {}",
                    init.display(),
                    ck.state.settings.arch,
                    ck.state.settings.bands.name(),
                    settings.arch,
                    settings.bands.name()
                )));
            }
            net = load_model(net, ck.model, &device, init)?;
            obs.note(&format!("initial weights from {} (epoch {})", init.display(), ck.state.epochs_done));
        } else if let Some(w) = &cfg.init_weights {
            crate::export::load_weights(&mut net, &mut w.clone(), &device)?;
            obs.note(&format!(
                "initial weights from {}",
                cfg.init_label.as_deref().unwrap_or("the given weight source")
            ));
        }
        state = RunState {
            settings,
            epochs: cfg.epochs,
            epochs_done: 0,
            best: None,
            stopped_early: false,
            history: Vec::new(),
        };
        resumed_after = None;
    }

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
        let side = size;
        let c = channels.len();
        let mut loss_sum: Option<Tensor<B::InnerBackend, 1>> = None;
        let mut loss_read = 0.0f64;
        let mut seen = 0usize;
        let mut batches = 0usize;
        let mut model = Some(net);
        plan.stream(cfg.workers, 2, |b, batch| {
            let Some(m) = model.take() else { return false };
            let n = batch.n;
            let mut drop_rng = SplitMix64::derive(cfg.seed ^ DROPOUT_STREAM, epoch as u64, b as u64);
            let y32: Vec<f32> = batch.y.iter().map(|&v| v as f32).collect();
            if devices.len() == 1 {
                let x = Tensor::<B, 4>::from_data(TensorData::new(batch.x, [n, c, side, side]), &device);
                let y = Tensor::<B, 2>::from_data(TensorData::new(y32, [n, classes]), &device);
                let loss = bce_with_logits(m.forward(x, Some(&mut drop_rng)), y);
                let detached = loss.clone().inner() * (n as f32);
                loss_sum = Some(match loss_sum.take() {
                    Some(s) => s + detached,
                    None => detached,
                });
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                model = Some(optim.step(cfg.lr, m, grads));
            } else {
                // Data parallel: shard the batch over the devices, one model
                // copy per device, and let burn's `step_multi` accumulate the
                // per-device gradients. Each shard's loss is weighted by its
                // share of the batch, so the sum is the full batch's mean.
                let per = c * side * side;
                let shards = devices.len().min(n);
                let mut multi = MultiGradientsParams::default();
                let mut lo = 0usize;
                for (k, dev) in devices.iter().take(shards).enumerate() {
                    let hi = n * (k + 1) / shards;
                    let ns = hi - lo;
                    let mk = if k == 0 { m.clone() } else { m.clone().fork(dev) };
                    let x = Tensor::<B, 4>::from_data(
                        TensorData::new(batch.x[lo * per..hi * per].to_vec(), [ns, c, side, side]),
                        dev,
                    );
                    let y = Tensor::<B, 2>::from_data(
                        TensorData::new(y32[lo * classes..hi * classes].to_vec(), [ns, classes]),
                        dev,
                    );
                    let loss = bce_with_logits(mk.forward(x, Some(&mut drop_rng)), y) * (ns as f32 / n as f32);
                    let detached = loss.clone().inner().to_device(&device) * (n as f32);
                    loss_sum = Some(match loss_sum.take() {
                        Some(s) => s + detached,
                        None => detached,
                    });
                    multi.grads.push((GradientsParams::from_grads(loss.backward(), &mk), dev.to_id()));
                    lo = hi;
                }
                model = Some(optim.step_multi(cfg.lr, m, multi));
            }
            seen += n;
            batches += 1;
            // Reading the loss synchronises the device: do it every few batches only.
            if batches.is_multiple_of(8) || seen == train_idx.len() {
                if let Some(s) = &loss_sum {
                    loss_read = s.clone().into_scalar().elem::<f64>() / (seen as f64);
                }
                obs.batch(seen, loss_read);
            }
            true
        });
        net = model.ok_or_else(|| TrainError::Config("training stopped without a model".into()))?;
        let train_loss = loss_sum.map(|s| s.into_scalar().elem::<f64>() / seen.max(1) as f64).unwrap_or(f64::NAN);
        let train_secs = t0.elapsed().as_secs_f64();

        obs.validating(val_idx.len());
        let val = evaluate(&net.valid(), archive, &val_idx, &channels, classes, cfg.batch_size, cfg.workers, &device);
        state.epochs_done = epoch + 1;
        let log = EpochLog {
            epoch: epoch + 1,
            train_loss,
            patches_per_s: seen as f64 / train_secs.max(1e-9),
            seconds: t0.elapsed().as_secs_f64(),
            val,
        };
        let improved = state.best.is_none_or(|(_, f)| val.f2 > f);
        if improved {
            state.best = Some((epoch + 1, val.f2));
        }
        if let (Some(p), Some((be, _))) = (cfg.early_stopping, state.best) {
            if epoch + 1 - be >= p {
                state.stopped_early = true;
            }
        }
        state.history.push(log.clone());
        let model_bytes = Recorder::<B>::record(&Rec::new(), net.clone().into_record(), ())
            .map_err(|e| TrainError::Config(format!("cannot encode the model: {e}")))?;
        let optim_bytes = Recorder::<B>::record(&Rec::new(), optim.to_record(), ())
            .map_err(|e| TrainError::Config(format!("cannot encode the optimiser state: {e}")))?;
        if improved {
            checkpoint::write(&best_path, &state, &model_bytes, &optim_bytes)?;
        }
        // last.ckpt is written after best.ckpt: a crash in between resumes
        // the epoch, which recomputes the same best.
        checkpoint::write(&last_path, &state, &model_bytes, &optim_bytes)?;
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

/// Stream id separating dropout masks from the other uses of the run seed.
const DROPOUT_STREAM: u64 = 0xd20f_0a7c_5eed_0001;

/// Mean binary cross-entropy over all (sample, class) pairs, computed from
/// logits in the numerically stable form `(1 - y) x - log_sigmoid(x)`.
pub fn bce_with_logits<B: Backend>(logits: Tensor<B, 2>, targets: Tensor<B, 2>) -> Tensor<B, 1> {
    ((targets.neg() + 1.0) * logits.clone() - log_sigmoid(logits)).mean()
}

/// Sigmoid probabilities of `net` on `indices` (batches of `batch`),
/// sample-major `[len, classes]`, with the truth masks.
#[allow(clippy::too_many_arguments)]
pub fn predict<B: Backend>(
    net: &Net<B>,
    archive: &PatchArchive,
    indices: &[usize],
    channels: &[usize],
    classes: usize,
    batch: usize,
    workers: usize,
    device: &B::Device,
) -> (Vec<f32>, Vec<u64>) {
    let side = archive.manifest().height as usize;
    let plan = BatchPlan {
        archive,
        order: indices.to_vec(),
        channels: channels.to_vec(),
        batch_size: batch.max(1),
        augment: false,
        seed: 0,
        epoch: 0,
        classes,
    };
    let mut probs = Vec::with_capacity(indices.len() * classes);
    let mut truth = Vec::with_capacity(indices.len());
    plan.stream(workers, 2, |_, b| {
        let x = Tensor::<B, 4>::from_data(TensorData::new(b.x, [b.n, channels.len(), side, side]), device);
        let p = sigmoid(net.forward(x, None));
        match p.into_data().convert::<f32>().into_vec::<f32>() {
            Ok(v) => probs.extend_from_slice(&v),
            Err(_) => probs.extend(std::iter::repeat_n(f32::NAN, b.n * classes)),
        }
        truth.extend_from_slice(&b.truth);
        true
    });
    (probs, truth)
}

/// The paper's scores of `net` on `indices` (threshold 0.5).
#[allow(clippy::too_many_arguments)]
pub fn evaluate<B: Backend>(
    net: &Net<B>,
    archive: &PatchArchive,
    indices: &[usize],
    channels: &[usize],
    classes: usize,
    batch: usize,
    workers: usize,
    device: &B::Device,
) -> Scores {
    let (probs, truth) = predict(net, archive, indices, channels, classes, batch, workers, device);
    let mut acc = MultiLabelAccumulator::new(classes);
    for (k, &t) in truth.iter().enumerate() {
        acc.add_thresholded(t, &probs[k * classes..(k + 1) * classes], &[0.5]);
    }
    Scores::from(&acc.finish())
}
