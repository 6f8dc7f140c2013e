//! Scoring a network on an archive: the archive's layout check, burn's
//! probabilities and the paper's scores of a burn network, and the same
//! from the engine for a `.bemm` model file.

use crate::data::BatchPlan;
use crate::error::TrainError;
use crate::model::Net;
use crate::state::Scores;
use bemm_engine::metrics::MultiLabelAccumulator;
use bemm_formats::archive::PatchArchive;
use bemm_formats::bands::{BAND_NAMES, CHANNELS};
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use half::f16;

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

/// The patches a network is scored on: rows `indices` of `archive`, the
/// bands `channels` (indices into the archive's band order), `classes` outputs.
#[derive(Clone, Copy)]
pub struct EvalSet<'a> {
    /// The archive read.
    pub archive: &'a PatchArchive,
    /// Rows of the archive, in output order.
    pub indices: &'a [usize],
    /// Bands fed to the network, as indices into the archive's bands.
    pub channels: &'a [usize],
    /// Network outputs (label classes).
    pub classes: usize,
}

/// Sigmoid probabilities of `net` on `set` (batches of `batch`, `workers`
/// data threads), sample-major `[set.indices.len(), classes]`, with the
/// truth masks.
pub fn predict<B: Backend>(
    net: &Net<B>,
    set: &EvalSet<'_>,
    batch: usize,
    workers: usize,
    device: &B::Device,
) -> (Vec<f32>, Vec<u64>) {
    let EvalSet { archive, indices, channels, classes } = *set;
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

/// The paper's scores of `net` on `set` (threshold 0.5).
pub fn evaluate<B: Backend>(
    net: &Net<B>,
    set: &EvalSet<'_>,
    batch: usize,
    workers: usize,
    device: &B::Device,
) -> Scores {
    let classes = set.classes;
    let (probs, truth) = predict(net, set, batch, workers, device);
    let mut acc = MultiLabelAccumulator::new(classes);
    for (k, &t) in truth.iter().enumerate() {
        acc.add_thresholded(t, &probs[k * classes..(k + 1) * classes], &[0.5]);
    }
    Scores::from(&acc.finish())
}

/// Patches the engine runs at once in [`engine_rows`].
const ENGINE_CHUNK: usize = 16;

/// Run the model file `bytes` with the engine on `indices` (bands
/// `channels`), calling `each(model, truth mask, probabilities [classes])`
/// for every patch in order; returns the model's class count.
pub(crate) fn engine_rows(
    bytes: &[u8],
    archive: &PatchArchive,
    indices: &[usize],
    channels: &[usize],
    mut each: impl FnMut(&bemm_engine::Model<'_>, u64, &[f32]),
) -> Result<usize, TrainError> {
    // The engine reads the file in place: give it an 8-byte aligned copy.
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    let aligned = &bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()];
    let model = bemm_engine::Model::from_bytes(aligned)
        .map_err(|e| TrainError::Export(format!("the engine rejects the model file: {e}")))?;
    let classes = model.num_classes();
    let plane = archive.patch_len() / CHANNELS.max(1);
    let mut scratch = vec![0f32; model.scratch_len(ENGINE_CHUNK)];
    for group in indices.chunks(ENGINE_CHUNK) {
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
            each(&model, t, &probs[k * classes..(k + 1) * classes]);
        }
    }
    Ok(classes)
}

/// The paper's scores of a model file on `indices`, computed by the engine
/// (each label decided by the model's own thresholds).
pub fn engine_scores(
    bytes: &[u8],
    archive: &PatchArchive,
    indices: &[usize],
    channels: &[usize],
) -> Result<Scores, TrainError> {
    let mut acc: Option<MultiLabelAccumulator> = None;
    let classes = engine_rows(bytes, archive, indices, channels, |model, truth, row| {
        acc.get_or_insert_with(|| MultiLabelAccumulator::new(model.num_classes())).add(
            truth,
            model.predicted(row),
            row,
        );
    })?;
    Ok(Scores::from(&acc.unwrap_or_else(|| MultiLabelAccumulator::new(classes)).finish()))
}
