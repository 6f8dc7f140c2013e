//! Export: a trained burn network -> `bemm_engine::arch::build` (BN folded,
//! fp16) -> a `.bemm` model file, verified against burn before it is written.
//!
//! [`BurnWeights`] implements `bemm_engine::arch::WeightSource` over a
//! network's layers, keyed by torchvision name (conv weights OIHW, BN
//! gamma/beta/running stats/eps, linear weights transposed from burn's
//! `[in, out]` to `[out, in]`). [`load_weights`] is the reverse direction:
//! any `WeightSource` (a PyTorch state dict through the importer, say)
//! becomes the initial weights of a burn network.

use crate::checkpoint;
use crate::error::TrainError;
use crate::model::{LayerMut, Net};
use crate::state::{RunState, Scores};
use crate::train::{check_archive, load_model, predict};
use bemm_engine::arch::{self, Arch, BatchNorm, WeightSource};
use bemm_formats::archive::{PatchArchive, Split};
use bemm_formats::model::OwnedMeta;
use burn::module::{Param, RunningState};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use half::f16;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
enum Stored {
    Conv { w: Vec<f32>, dims: [usize; 4], bias: Option<Vec<f32>> },
    Bn(BatchNorm),
    Linear { w: Vec<f32>, out: usize, inp: usize, bias: Vec<f32> },
}

fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec::<f32>().unwrap_or_default()
}

/// The weights of a burn network by torchvision name.
#[derive(Debug, Clone)]
pub struct BurnWeights {
    layers: HashMap<String, Stored>,
}

impl BurnWeights {
    /// Copy every layer's weights out of `net` (to host f32).
    pub fn new<B: Backend>(net: &Net<B>) -> Self {
        let mut layers = HashMap::new();
        let mut net = net.clone();
        net.for_each_layer(&mut |name, layer| {
            let s = match layer {
                LayerMut::Conv(c) => {
                    let w = c.weight.val();
                    let dims = w.dims();
                    Stored::Conv { w: to_vec(w), dims, bias: c.bias.as_ref().map(|b| to_vec(b.val())) }
                }
                LayerMut::Bn(b) => Stored::Bn(BatchNorm {
                    gamma: to_vec(b.gamma.val()),
                    beta: to_vec(b.beta.val()),
                    mean: to_vec(b.running_mean.value()),
                    var: to_vec(b.running_var.value()),
                    eps: b.epsilon as f32,
                }),
                LayerMut::Linear(l) => {
                    let w = l.weight.val();
                    let [inp, out] = w.dims();
                    // burn stores [in, out]; the engine wants [out, in].
                    let w = to_vec(w.transpose());
                    let bias = l.bias.as_ref().map(|b| to_vec(b.val())).unwrap_or_else(|| vec![0.0; out]);
                    Stored::Linear { w, out, inp, bias }
                }
            };
            layers.insert(name.to_string(), s);
        });
        BurnWeights { layers }
    }

    /// Drain `src` (e.g. the importer's safetensors source) for the layers of
    /// `arch`, by name and shape, into a backend-independent map: the initial
    /// weights of a run (`TrainConfig::init_weights`).
    pub fn from_source<S: WeightSource>(
        arch: Arch,
        in_c: usize,
        size: usize,
        classes: usize,
        src: &mut S,
    ) -> Result<Self, TrainError>
    where
        S::Error: std::fmt::Display,
    {
        let device = Default::default();
        let mut net = Net::<CpuBackend>::new(arch, in_c, size, classes, 0, &device);
        load_weights(&mut net, src, &device)?;
        Ok(BurnWeights::new(&net))
    }
}

/// The CPU backend used for export and weight conversion.
#[cfg(feature = "flex")]
pub type CpuBackend = burn::backend::Flex;
/// The CPU backend used for export and weight conversion.
#[cfg(all(not(feature = "flex"), feature = "ndarray"))]
pub type CpuBackend = burn::backend::NdArray;

impl WeightSource for BurnWeights {
    type Error = String;

    fn conv(
        &mut self,
        name: &str,
        out_c: usize,
        in_c: usize,
        k: usize,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), String> {
        match self.layers.get(name) {
            Some(Stored::Conv { w, dims, bias }) if *dims == [out_c, in_c, k, k] => Ok((w.clone(), bias.clone())),
            Some(Stored::Conv { dims, .. }) => {
                Err(format!("conv {name}: burn has shape {dims:?}, the architecture expects {:?}", [out_c, in_c, k, k]))
            }
            _ => Err(format!("conv {name}: no such layer in the burn network")),
        }
    }

    fn batch_norm(&mut self, name: &str, c: usize) -> Result<BatchNorm, String> {
        match self.layers.get(name) {
            Some(Stored::Bn(b)) if b.gamma.len() == c => Ok(b.clone()),
            Some(Stored::Bn(b)) => {
                Err(format!("batch norm {name}: burn has {} channels, the architecture expects {c}", b.gamma.len()))
            }
            _ => Err(format!("batch norm {name}: no such layer in the burn network")),
        }
    }

    fn linear(&mut self, name: &str, out: usize, inp: usize) -> Result<(Vec<f32>, Vec<f32>), String> {
        match self.layers.get(name) {
            Some(Stored::Linear { w, out: o, inp: i, bias }) if (*o, *i) == (out, inp) => Ok((w.clone(), bias.clone())),
            Some(Stored::Linear { out: o, inp: i, .. }) => {
                Err(format!("linear {name}: burn has [{o}, {i}], the architecture expects [{out}, {inp}]"))
            }
            _ => Err(format!("linear {name}: no such layer in the burn network")),
        }
    }
}

/// Replace `net`'s weights by those of `src` (by torchvision name; shapes
/// must match). The hook for `--init` from a PyTorch state dict.
pub fn load_weights<B: Backend, S: WeightSource>(
    net: &mut Net<B>,
    src: &mut S,
    device: &B::Device,
) -> Result<(), TrainError>
where
    S::Error: std::fmt::Display,
{
    let mut err: Option<String> = None;
    net.for_each_layer(&mut |name, layer| {
        if err.is_some() {
            return;
        }
        let r: Result<(), String> = (|| {
            match layer {
                LayerMut::Conv(c) => {
                    let d = c.weight.val().dims();
                    let (w, b) = src.conv(name, d[0], d[1], d[2]).map_err(|e| e.to_string())?;
                    c.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, d), device));
                    if c.bias.is_some() {
                        let b = b.unwrap_or_else(|| vec![0.0; d[0]]);
                        c.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(b, [d[0]]), device)));
                    }
                }
                LayerMut::Bn(bn) => {
                    let n = bn.gamma.val().dims()[0];
                    let s = src.batch_norm(name, n).map_err(|e| e.to_string())?;
                    let t = |v: Vec<f32>| Tensor::<B, 1>::from_data(TensorData::new(v, [n]), device);
                    bn.gamma = Param::from_tensor(t(s.gamma));
                    bn.beta = Param::from_tensor(t(s.beta));
                    bn.running_mean = RunningState::new(t(s.mean));
                    bn.running_var = RunningState::new(t(s.var));
                    bn.epsilon = f64::from(s.eps);
                }
                LayerMut::Linear(l) => {
                    let [inp, out] = l.weight.val().dims();
                    let (w, b) = src.linear(name, out, inp).map_err(|e| e.to_string())?;
                    let w = Tensor::<B, 2>::from_data(TensorData::new(w, [out, inp]), device).transpose();
                    l.weight = Param::from_tensor(w);
                    if l.bias.is_some() {
                        l.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(b, [out]), device)));
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = r {
            err = Some(e);
        }
    });
    err.map_or(Ok(()), |e| Err(TrainError::Config(format!("initial weights: {e}"))))
}

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
    // The engine reads the file in place: give it an 8-byte aligned copy.
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    let aligned = &bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()];
    let model = bemm_engine::Model::from_bytes(aligned)
        .map_err(|e| TrainError::Export(format!("the engine rejects the exported model: {e}")))?;
    let classes = model.num_classes();
    let (burn_probs, _) = predict(net, archive, indices, channels, classes, 32, 2, device);
    let plane = archive.patch_len() / bemm_formats::bands::CHANNELS.max(1);
    let chunk = 16usize;
    let mut scratch = vec![0f32; model.scratch_len(chunk)];
    let mut agreement = Agreement {
        patches: indices.len(),
        decisions: indices.len() * classes,
        differing: 0,
        differing_beyond_rounding: 0,
        max_prob_diff: 0.0,
    };
    for (ci, group) in indices.chunks(chunk).enumerate() {
        let mut input: Vec<f16> = Vec::with_capacity(group.len() * channels.len() * plane);
        for &i in group {
            let p = archive
                .patch(i)
                .ok_or_else(|| TrainError::Archive(format!("{}: patch {i} unreadable", archive.dir().display())))?;
            for &c in channels {
                input.extend_from_slice(&p[c * plane..(c + 1) * plane]);
            }
        }
        let mut probs = vec![0f32; group.len() * classes];
        model
            .infer(&input, group.len(), &mut scratch[..model.scratch_len(group.len())], &mut probs, &mut [])
            .map_err(|e| TrainError::Export(format!("engine inference: {e}")))?;
        for k in 0..group.len() {
            let row = (ci * chunk + k) * classes;
            for j in 0..classes {
                let (pe, pb) = (probs[k * classes + j], burn_probs[row + j]);
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

/// Resolve a run dir or checkpoint path to the checkpoint to export.
pub fn resolve_checkpoint(source: &Path) -> PathBuf {
    if source.is_dir() {
        source.join(crate::train::BEST_CHECKPOINT)
    } else {
        source.to_path_buf()
    }
}

/// Export a checkpoint to a verified `.bemm` file.
pub fn export(opts: &ExportOptions) -> Result<ExportReport, TrainError> {
    if !(0.0..=1.0).contains(&opts.min_agreement) {
        return Err(TrainError::Config(format!(
            "--min-agreement {}: expected a fraction in [0, 1] (0.99 = 99 %)",
            opts.min_agreement
        )));
    }
    type Cpu = CpuBackend;
    let device = Default::default();
    let ck_path = resolve_checkpoint(&opts.source);
    let ck = checkpoint::read(&ck_path)?;
    let state: RunState = ck.state;
    let s = &state.settings;
    let arch = Arch::parse(&s.arch).ok_or_else(|| TrainError::Checkpoint {
        path: ck_path.clone(),
        problem: format!("unknown architecture {:?}", s.arch),
    })?;
    let net = Net::<Cpu>::new(arch, s.channels.len(), s.size, s.classes, 0, &device);
    let net = load_model(net, ck.model, &device, &ck_path)?;

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
    bemm_formats::fsutil::write_atomic(&opts.out, &final_bytes).map_err(TrainError::io(&opts.out))?;
    Ok(ExportReport {
        checkpoint: ck_path,
        out: opts.out.clone(),
        arch: arch.name().into(),
        bands: s.channels.iter().map(|&c| bemm_formats::bands::BAND_NAMES[c].to_string()).collect(),
        epoch: state.epochs_done,
        val,
        test,
        agreement,
        bytes: final_bytes.len(),
    })
}

/// The paper's scores of a model file on `indices`, computed by the engine.
pub fn engine_scores(
    bytes: &[u8],
    archive: &PatchArchive,
    indices: &[usize],
    channels: &[usize],
) -> Result<Scores, TrainError> {
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    let model = bemm_engine::Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()])
        .map_err(|e| TrainError::Export(format!("engine: {e}")))?;
    let classes = model.num_classes();
    let plane = archive.patch_len() / bemm_formats::bands::CHANNELS.max(1);
    let chunk = 16;
    let mut scratch = vec![0f32; model.scratch_len(chunk)];
    let mut acc = bemm_engine::metrics::MultiLabelAccumulator::new(classes);
    for group in indices.chunks(chunk) {
        let mut input: Vec<f16> = Vec::with_capacity(group.len() * channels.len() * plane);
        let mut truth = Vec::with_capacity(group.len());
        for &i in group {
            let (Some(p), Some(r)) = (archive.patch(i), archive.record(i)) else {
                return Err(TrainError::Archive(format!("{}: patch {i} unreadable", archive.dir().display())));
            };
            for &c in channels {
                input.extend_from_slice(&p[c * plane..(c + 1) * plane]);
            }
            truth.push(u64::from(r.labels19));
        }
        let mut probs = vec![0f32; group.len() * classes];
        model
            .infer(&input, group.len(), &mut scratch[..model.scratch_len(group.len())], &mut probs, &mut [])
            .map_err(|e| TrainError::Export(format!("engine inference: {e}")))?;
        for (k, &t) in truth.iter().enumerate() {
            let row = &probs[k * classes..(k + 1) * classes];
            acc.add(t, model.predicted(row), row);
        }
    }
    Ok(Scores::from(&acc.finish()))
}
