//! `bemm train`: train a network on a patch archive (bemm-trainer, burn).

use crate::report::{progress, table};
use anyhow::{bail, Context};
use bemm_engine::arch::Arch;
use bemm_trainer::{Bands, DeviceSpec, EpochLog, Observer, TrainConfig};
use indicatif::ProgressBar;
use std::path::PathBuf;

/// Arguments of `bemm train`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Patch archive folder (from `bemm ingest`).
    pub archive: PathBuf,
    /// Architecture: tiny, resnet18, resnet34, resnet50, resnet101, resnet152, vgg16, vgg19.
    #[arg(long)]
    pub arch: String,
    /// Run directory: checkpoints, metrics.csv/jsonl, loss.svg, scores.svg. A run
    /// directory holding last.ckpt is resumed.
    #[arg(long)]
    pub out: PathBuf,
    /// Epochs (default 100 with --paper, else 10).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Patches per batch (default 500, 256 for resnet152 with --paper; else 32).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// cpu (burn-flex), ndarray (feature `ndarray`), cuda, cuda:N (feature `cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Input bands: all (S1+S2, 12), s1 (VV, VH), s2 (10 bands).
    #[arg(long, default_value = "all")]
    pub bands: String,
    /// Seed of weights, order, augmentation and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Random flips and 90-degree rotations of training patches.
    #[arg(long)]
    pub augment: bool,
    /// Stop after N epochs without a better validation F2.
    #[arg(long, value_name = "N")]
    pub early_stopping: Option<usize>,
    /// Start from existing weights (fine-tuning, transfer learning): a bemm
    /// checkpoint (`.ckpt`) or a PyTorch/timm state dict (`.safetensors`,
    /// torchvision names, read by the importer of `bemm import`).
    #[arg(long, value_name = "WEIGHTS")]
    pub init: Option<PathBuf>,
    /// With a `.safetensors` --init: do not import its classifier (e.g.
    /// ImageNet's 1000 classes); start the 19-class head from random weights.
    #[arg(long)]
    pub fresh_head: bool,
    /// The paper's protocol: batch 500 (256 for ResNet-152), 100 epochs, lr 1e-3.
    #[arg(long)]
    pub paper: bool,
    /// Require RUN_DIR to hold a checkpoint and resume it.
    #[arg(long)]
    pub resume: bool,
    /// Batch-assembling threads (never more than the cores, nor than the batches of a pass).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Train on at most N training patches (quick experiments).
    #[arg(long, value_name = "N")]
    pub limit_train: Option<usize>,
    /// Validate on at most N validation patches.
    #[arg(long, value_name = "N")]
    pub limit_val: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Train on the finished part of an archive whose ingest was interrupted.
    #[arg(long)]
    pub allow_incomplete: bool,
}

/// Turn the arguments into the trainer's configuration.
pub fn config(a: &Args) -> anyhow::Result<TrainConfig> {
    let Some(arch) = Arch::parse(&a.arch) else {
        bail!(
            "--arch {}: unknown; expected one of {}",
            a.arch,
            Arch::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
        )
    };
    let Some(bands) = Bands::parse(&a.bands) else { bail!("--bands {}: expected all, s1 or s2", a.bands) };
    let mut cfg = TrainConfig::paper(a.archive.clone(), a.out.clone(), arch);
    if !a.paper {
        cfg.epochs = 10;
        cfg.batch_size = 32;
    }
    if let Some(e) = a.epochs {
        cfg.epochs = e;
    }
    if let Some(b) = a.batch_size {
        cfg.batch_size = b;
    }
    cfg.lr = a.lr;
    cfg.bands = bands;
    cfg.seed = a.seed;
    cfg.augment = a.augment;
    cfg.early_stopping = a.early_stopping;
    cfg.device = DeviceSpec::parse(&a.device)?;
    cfg.workers = crate::threads::workers(Some(a.workers.max(1)), usize::MAX);
    match &a.init {
        Some(p) if p.extension().is_some_and(|e| e == "safetensors") => {
            let mut opts = crate::import::SourceOptions::new(bands.channels());
            if a.fresh_head {
                opts.head = crate::import::Head::Fresh(a.seed);
            }
            let mut src =
                crate::import::SafetensorsSource::open(p, opts).with_context(|| format!("--init {}", p.display()))?;
            let w = bemm_trainer::weights::BurnWeights::from_source(
                arch,
                bands.channels().len(),
                bemm_formats::bands::SIZE,
                bemm_formats::labels::NUM_CLASSES,
                &mut src,
            )
            .with_context(|| format!("--init {}", p.display()))?;
            cfg.init_weights = Some(w);
            cfg.init_label = Some(p.display().to_string());
        }
        other => cfg.init = other.clone(),
    }
    cfg.resume = a.resume;
    cfg.train_limit = a.limit_train;
    cfg.val_limit = a.limit_val;
    Ok(cfg)
}

/// Progress bars per epoch; hidden when stderr is not a terminal.
struct Bars {
    bar: Option<ProgressBar>,
    quiet: bool,
    label: String,
}

impl Observer for Bars {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, _batches: usize, patches: usize) {
        self.label = format!("epoch {epoch}/{epochs}");
        let pb = progress(patches as u64, &self.label);
        if self.quiet {
            pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        self.bar = Some(pb);
    }
    fn batch(&mut self, done: usize, loss: f64) {
        if let Some(pb) = &self.bar {
            pb.set_position(done as u64);
            pb.set_message(format!("{} loss {loss:.4}", self.label));
        }
    }
    fn validating(&mut self, patches: usize) {
        if let Some(pb) = &self.bar {
            pb.set_message(format!("{} validating {patches}", self.label));
        }
    }
    fn epoch_end(&mut self, l: &EpochLog, best: bool) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
        if !self.quiet {
            eprintln!(
                "epoch {:>3}  loss {:.4}  {:>7.1} patches/s  val F2 {:.4}  class F2 {:.4}  HL {:.4}  {:.0} s{}",
                l.epoch,
                l.train_loss,
                l.patches_per_s,
                l.val.f2,
                l.val.macro_f2,
                l.val.hamming_loss,
                l.seconds,
                if best { "  (best)" } else { "" }
            );
        }
    }
    fn note(&mut self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
}

/// Run `bemm train`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let cfg = config(&a)?;
    crate::archive_input::check_dir(&a.archive, a.allow_incomplete)?;
    crate::output_guard::check("--out", &a.out, &[("ARCHIVE", a.archive.as_path())])?;
    let mut obs = Bars { bar: None, quiet: a.json, label: String::new() };
    let s = bemm_trainer::train(&cfg, &mut obs)
        .with_context(|| format!("training {} on {}", cfg.arch.name(), cfg.archive.display()))?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "run_dir": cfg.run_dir,
                "device": cfg.device.name(),
                "arch": s.state.settings.arch,
                "bands": s.state.settings.bands,
                "epochs_done": s.state.epochs_done,
                "stopped_early": s.state.stopped_early,
                "resumed_after": s.resumed_after,
                "best_epoch": s.state.best.map(|b| b.0),
                "best": s.state.best_log(),
                "best_checkpoint": s.best_checkpoint,
                "history": s.state.history,
            }))?
        );
        return Ok(());
    }
    if let Some(b) = s.state.best_log() {
        let v = &b.val;
        let rows = vec![
            vec!["best epoch".to_string(), b.epoch.to_string()],
            vec!["val sample F2".into(), format!("{:.4}", v.f2)],
            vec!["val class-based F2".into(), format!("{:.4}", v.macro_f2)],
            vec!["val Hamming loss".into(), format!("{:.4}", v.hamming_loss)],
            vec!["val one-error".into(), format!("{:.4}", v.one_error)],
            vec!["val recall / precision".into(), format!("{:.4} / {:.4}", v.recall, v.precision)],
            vec!["checkpoint".into(), s.best_checkpoint.display().to_string()],
        ];
        print!("{}", table(&rows));
    }
    Ok(())
}
