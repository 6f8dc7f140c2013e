//! `std` conveniences: a model over a memory-mapped file, and batch
//! inference split across threads.

use crate::error::EngineError;
use crate::model::{Model, Precision};
use half::f16;
use std::path::Path;

/// A model whose bytes are a read-only memory map of a `.bemm` file.
#[derive(Debug)]
pub struct OwnedModel {
    // Declared before `_map` so it is dropped first: it borrows the map.
    model: Model<'static>,
    _map: memmap2::Mmap,
}

impl OwnedModel {
    /// Map and validate the model file at `path`.
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| EngineError::Io { path: shown.clone(), source })?;
        // SAFETY: the map is read-only; model files are written by
        // temp-then-rename, so a file being replaced is never mutated in place.
        let map =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|source| EngineError::Io { path: shown.clone(), source })?;
        // SAFETY: the slice points into the mapping owned by `_map`, which
        // lives exactly as long as `model` (same struct, dropped after it) and
        // whose address does not change when the struct moves.
        let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(map.as_ptr(), map.len()) };
        let model = Model::from_bytes(bytes).map_err(|e| match e {
            EngineError::Format(source) => EngineError::File { path: shown, source },
            other => other,
        })?;
        Ok(OwnedModel { model, _map: map })
    }

    /// Select the arithmetic.
    pub fn with_precision(mut self, p: Precision) -> Self {
        self.model = self.model.with_precision(p);
        self
    }

    /// Run the kernel and algorithm of `choice` ([`crate::tune::choose`]).
    pub fn with_choice(mut self, choice: &crate::tune::Choice) -> Result<Self, EngineError> {
        self.model = choice.apply(&self.model)?;
        Ok(self)
    }

    /// The model.
    pub fn model(&self) -> &Model<'_> {
        &self.model
    }
}

impl Model<'_> {
    /// Run `samples` on up to `threads` threads (at most the cores this
    /// process may use). With at least as many
    /// samples as threads, each thread takes a contiguous share of the batch
    /// and its own scratch (allocated here); with fewer (e.g. one patch on
    /// two threads), every convolution and linear layer is split by output
    /// channels instead. Outputs as in [`Model::infer`]; `features` may be empty.
    pub fn infer_parallel(
        &self,
        samples: &[&[f16]],
        threads: usize,
        probs: &mut [f32],
        features: &mut [f32],
    ) -> Result<(), EngineError> {
        let batch = samples.len();
        if batch == 0 {
            return Err(EngineError::EmptyBatch);
        }
        let (nc, nf) = (self.num_classes(), self.feature_len());
        if probs.len() != batch * nc {
            return Err(EngineError::OutputLength { what: "probs", found: probs.len(), expected: batch * nc });
        }
        if !features.is_empty() && features.len() != batch * nf {
            return Err(EngineError::OutputLength { what: "features", found: features.len(), expected: batch * nf });
        }
        // More threads than cores only time-slice, and spinning helpers
        // beyond the core count would wait on each other for whole slices
        // (measured: 66 threads on 2 cores 80x slower than 65).
        let threads = threads.min(crate::spin_fork::cores());
        if threads > batch && threads > 1 {
            let mut scratch = vec![0f32; self.scratch_len(batch) + (threads - 1) * self.workspace_len()];
            return crate::spin_fork::SpinFork::with(threads, |fork| {
                self.infer_samples_forked(samples, &mut scratch, probs, features, fork)
            });
        }
        let threads = threads.clamp(1, batch);
        let per = batch.div_ceil(threads);
        let want_features = !features.is_empty();
        std::thread::scope(|s| {
            let mut handles = Vec::new();
            let mut probs_rest = &mut probs[..];
            let mut feats_rest = &mut features[..];
            for chunk in samples.chunks(per) {
                let (p, pr) = std::mem::take(&mut probs_rest).split_at_mut(chunk.len() * nc);
                probs_rest = pr;
                let f = if want_features {
                    let (f, fr) = std::mem::take(&mut feats_rest).split_at_mut(chunk.len() * nf);
                    feats_rest = fr;
                    f
                } else {
                    &mut [][..]
                };
                handles.push(s.spawn(move || {
                    let mut scratch = vec![0f32; self.scratch_len(chunk.len())];
                    self.infer_samples(chunk, &mut scratch, p, f)
                }));
            }
            handles
                .into_iter()
                .try_for_each(|h| h.join().map_err(|_| EngineError::Internal("inference thread panicked"))?)
        })
    }
}
