//! Where a run starts: from its own resume checkpoint (same settings
//! required), or fresh, with random weights or the initial weights of
//! `--init` (a bemm checkpoint) or `init_weights` (any weight source).

use super::config::{Observer, TrainConfig};
use crate::checkpoint::{self, load_model, Rec};
use crate::error::TrainError;
use crate::model::Net;
use crate::state::{RunSettings, RunState};
use crate::weights::load_weights;
use burn::optim::Optimizer;
use burn::record::Recorder;
use burn::tensor::backend::AutodiffBackend;
use std::path::Path;

/// A run's starting point.
pub(super) struct Start<B: AutodiffBackend, O> {
    /// Run state: read from the resume checkpoint, or a fresh one.
    pub state: RunState,
    /// The network to train.
    pub net: Net<B>,
    /// The optimiser, with its state when resuming.
    pub optim: O,
    /// Epoch the run resumed after (None for a fresh start).
    pub resumed_after: Option<usize>,
}

/// Resume from `last_path` when it exists, else start fresh; `net` and
/// `optim` are freshly initialised and take the loaded weights and state.
pub(super) fn start<B: AutodiffBackend, O: Optimizer<Net<B>, B>>(
    cfg: &TrainConfig,
    settings: RunSettings,
    last_path: &Path,
    net: Net<B>,
    optim: O,
    device: &B::Device,
    obs: &mut dyn Observer,
) -> Result<Start<B, O>, TrainError> {
    if last_path.exists() {
        resume(cfg, &settings, last_path, net, optim, device, obs)
    } else {
        fresh(cfg, settings, last_path, net, optim, device, obs)
    }
}

/// Continue the run in `last_path`, which must have been started with the
/// same settings (epochs and early stopping may change).
fn resume<B: AutodiffBackend, O: Optimizer<Net<B>, B>>(
    cfg: &TrainConfig,
    settings: &RunSettings,
    last_path: &Path,
    net: Net<B>,
    optim: O,
    device: &B::Device,
    obs: &mut dyn Observer,
) -> Result<Start<B, O>, TrainError> {
    let ck = checkpoint::read(last_path)?;
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
    let net = load_model(net, ck.model, device, last_path)?;
    let orec = Recorder::<B>::load(&Rec::new(), ck.optim, device).map_err(|e| TrainError::Checkpoint {
        path: last_path.to_path_buf(),
        problem: format!("optimiser state: {e}"),
    })?;
    let optim = optim.load_record(orec);
    let mut state = ck.state;
    state.epochs = cfg.epochs;
    state.settings.early_stopping = cfg.early_stopping;
    let resumed_after = Some(state.epochs_done);
    obs.note(&format!("resuming {} after epoch {} of {}", cfg.run_dir.display(), state.epochs_done, cfg.epochs));
    Ok(Start { state, net, optim, resumed_after })
}

/// A new run (refused under `--resume`), from `--init`'s or
/// `init_weights`' weights when given.
fn fresh<B: AutodiffBackend, O: Optimizer<Net<B>, B>>(
    cfg: &TrainConfig,
    settings: RunSettings,
    last_path: &Path,
    mut net: Net<B>,
    optim: O,
    device: &B::Device,
    obs: &mut dyn Observer,
) -> Result<Start<B, O>, TrainError> {
    if cfg.resume {
        return Err(TrainError::Config(format!("--resume: {} has no checkpoint to resume from", last_path.display())));
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
        net = load_model(net, ck.model, device, init)?;
        obs.note(&format!("initial weights from {} (epoch {})", init.display(), ck.state.epochs_done));
    } else if let Some(w) = &cfg.init_weights {
        load_weights(&mut net, &mut w.clone(), device)?;
        obs.note(&format!("initial weights from {}", cfg.init_label.as_deref().unwrap_or("the given weight source")));
    }
    let state = RunState {
        settings,
        epochs: cfg.epochs,
        epochs_done: 0,
        best: None,
        stopped_early: false,
        history: Vec::new(),
    };
    Ok(Start { state, net, optim, resumed_after: None })
}
