//! Export: a trained burn network -> `bemm_engine::arch::build` (BN folded,
//! fp16) -> a `.bemm` model file, verified against burn before it is written.

use crate::checkpoint;
use crate::error::TrainError;
use crate::evaluate::{check_archive, engine_rows, engine_scores, predict, EvalSet};
use crate::model::Net;
use crate::state::{RunState, Scores};
use crate::weights::{BurnWeights, CpuBackend};
use bemm_engine::arch::{self, Arch};
use bemm_formats::archive::{PatchArchive, Split};
use bemm_formats::model::OwnedMeta;
use burn::tensor::backend::Backend;
use std::path::PathBuf;

/// Build the `.bemm` model bytes of `net` (BN folded, fp16) with provenance.
pub fn model_bytes<B: Backend>(
    net: &Net<B>,
    arch: Arch,
    channels: &[usize],
    size: usize,
    classes: usize,
    meta: OwnedMeta,
) -> Result<Vec<u8>, TrainError> {
    let mut src = BurnWeights::new(net);
    let builder = arch::build(arch, channels.len(), size, classes, &mut src, meta)
        .map_err(|e| TrainError::Export(format!("building the {} graph: {e}", arch.name())))?;
    builder.to_bytes().map_err(|e| TrainError::Export(format!("encoding the model file: {e}")))
}

/// How the engine's predictions compare with burn's on the verification sample.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Agreement {
    /// Patches compared.
    pub patches: usize,
    /// Label decisions compared (patches x classes).
    pub decisions: usize,
    /// Decisions that differ.
    pub differing: usize,
    /// Differing decisions where burn's probability is farther than
    /// [`FP16_MARGIN`] from the threshold (not explainable by fp16 rounding).
    pub differing_beyond_rounding: usize,
    /// Largest |p_engine - p_burn|.
    pub max_prob_diff: f32,
}

impl Agreement {
    /// Fraction of identical decisions.
    pub fn rate(&self) -> f64 {
        if self.decisions == 0 {
            return 1.0;
        }
        1.0 - self.differing as f64 / self.decisions as f64
    }
}

/// A decision may flip through fp16 weight/activation rounding only when
/// burn's probability lies this close to the 0.5 threshold.
pub const FP16_MARGIN: f32 = 0.02;

/// Run the engine on `bytes` and compare with `net` (burn, f32) on `indices`.
pub fn compare_with_engine<B: Backend>(
    net: &Net<B>,
    bytes: &[u8],
    archive: &PatchArchive,
    indices: &[usize],
    channels: &[usize],
    device: &B::Device,
) -> Result<Agreement, TrainError> {
    let mut engine_probs = Vec::new();
    let classes = engine_rows(bytes, archive, indices, channels, |_, _, row| engine_probs.extend_from_slice(row))?;
    let set = EvalSet { archive, indices, channels, classes };
    let (burn_probs, _) = predict(net, &set, 32, 2, device);
    let mut agreement = Agreement {
        patches: indices.len(),
        decisions: indices.len() * classes,
        differing: 0,
        differing_beyond_rounding: 0,
        max_prob_diff: 0.0,
    };
    for (&pe, &pb) in engine_probs.iter().zip(&burn_probs) {
        let d = (pe - pb).abs();
        // A NaN difference must show as the maximum, not be skipped.
        if d.is_nan() || d > agreement.max_prob_diff {
            agreement.max_prob_diff = d;
        }
        if (pe >= 0.5) != (pb >= 0.5) {
            agreement.differing += 1;
            if (pb - 0.5).abs() > FP16_MARGIN {
                agreement.differing_beyond_rounding += 1;
            }
        }
    }
    Ok(agreement)
}

/// What [`export`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportReport {
    /// Checkpoint exported.
    pub checkpoint: PathBuf,
    /// Output file.
    pub out: PathBuf,
    /// Architecture.
    pub arch: String,
    /// Input band names.
    pub bands: Vec<String>,
    /// Epoch of the weights.
    pub epoch: usize,
    /// Validation scores of that epoch.
    pub val: Option<Scores>,
    /// Test scores (engine, when asked for).
    pub test: Option<Scores>,
    /// Engine vs burn on the verification sample.
    pub agreement: Agreement,
    /// Bytes written.
    pub bytes: usize,
}

/// Options of [`export`].
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// A run directory (its `best.ckpt`) or a checkpoint file.
    pub source: PathBuf,
    /// Output model file.
    pub out: PathBuf,
    /// Archive for verification (default: the one the run trained on).
    pub archive: Option<PathBuf>,
    /// Validation patches to verify on.
    pub verify: usize,
    /// Also score the test split with the engine and record it.
    pub test: bool,
    /// Lowest acceptable decision agreement.
    pub min_agreement: f64,
}

/// Export a checkpoint to a verified `.bemm` file.
pub fn export(opts: &ExportOptions) -> Result<ExportReport, TrainError> {
    let (report, bytes) = export_bytes(opts)?;
    bemm_formats::fsutil::write_atomic(&opts.out, &bytes).map_err(TrainError::io(&opts.out))?;
    Ok(report)
}

/// [`export`] without writing: the verified model file's bytes and the
/// report (`bytes` = their length), for callers that transform the model
/// (int8 quantization) before writing it to `opts.out`.
pub fn export_bytes(opts: &ExportOptions) -> Result<(ExportReport, Vec<u8>), TrainError> {
    if !(0.0..=1.0).contains(&opts.min_agreement) {
        return Err(TrainError::Config(format!(
            "--min-agreement {}: expected a fraction in [0, 1] (0.99 = 99 %)",
            opts.min_agreement
        )));
    }
    type Cpu = CpuBackend;
    let device = Default::default();
    let ck_path = checkpoint::resolve(&opts.source);
    let (state, net): (RunState, Net<Cpu>) = checkpoint::load_net(&ck_path, &device)?;
    let s = &state.settings;
    // `load_net` parsed it already.
    let arch = Arch::parse(&s.arch).ok_or_else(|| TrainError::Checkpoint {
        path: ck_path.clone(),
        problem: format!("unknown architecture {:?}", s.arch),
    })?;

    let archive_path = opts.archive.clone().unwrap_or_else(|| PathBuf::from(&s.archive));
    let archive = PatchArchive::open(&archive_path).map_err(|e| {
        TrainError::Archive(format!("{} (verification archive; pass --archive): {e}", archive_path.display()))
    })?;
    check_archive(&archive)?;
    let mut verify_idx = archive.indices(Some(Split::Validation));
    if verify_idx.is_empty() {
        verify_idx = archive.indices(None);
    }
    verify_idx.truncate(opts.verify.max(1));

    let mut meta = OwnedMeta::bigearthnet(arch.name(), &s.channels);
    meta.epochs = state.epochs_done as u32;
    meta.training_data = format!("{} (train split, {} patches; bands {})", s.archive, s.train_patches, s.bands.name());
    let val = state.history.iter().find(|h| h.epoch == state.epochs_done).map(|h| h.val);
    let push_scores = |meta: &mut OwnedMeta, prefix: &str, sc: &Scores| {
        for (k, v) in [
            ("f2", sc.f2),
            ("macro_f2", sc.macro_f2),
            ("hamming_loss", sc.hamming_loss),
            ("one_error", sc.one_error),
            ("recall", sc.recall),
            ("precision", sc.precision),
        ] {
            meta.scores.push((format!("{prefix}_{k}"), v as f32));
        }
    };
    if let Some(v) = &val {
        push_scores(&mut meta, "val", v);
    }
    // First build without test scores to verify; test scores use the engine on the verified graph.
    let bytes = model_bytes(&net, arch, &s.channels, s.size, s.classes, meta.clone())?;
    let agreement = compare_with_engine(&net, &bytes, &archive, &verify_idx, &s.channels, &device)?;
    if agreement.differing_beyond_rounding > 0 || agreement.rate() < opts.min_agreement {
        return Err(TrainError::Export(format!(
            "refusing to write {}: the engine disagrees with burn on {} of {} label decisions ({} beyond fp16 rounding; agreement {:.3} %, max |dp| {:.4})",
            opts.out.display(),
            agreement.differing,
            agreement.decisions,
            agreement.differing_beyond_rounding,
            100.0 * agreement.rate(),
            agreement.max_prob_diff
        )));
    }
    let mut test = None;
    let mut final_bytes = bytes;
    if opts.test {
        let idx = archive.indices(Some(Split::Test));
        if !idx.is_empty() {
            let sc = engine_scores(&final_bytes, &archive, &idx, &s.channels)?;
            push_scores(&mut meta, "test", &sc);
            test = Some(sc);
            final_bytes = model_bytes(&net, arch, &s.channels, s.size, s.classes, meta)?;
        }
    }
    let report = ExportReport {
        checkpoint: ck_path,
        out: opts.out.clone(),
        arch: arch.name().into(),
        bands: s.channels.iter().map(|&c| bemm_formats::bands::BAND_NAMES[c].to_string()).collect(),
        epoch: state.epochs_done,
        val,
        test,
        agreement,
        bytes: final_bytes.len(),
    };
    Ok((report, final_bytes))
}
