//! Running batches: the checked entry points and the chunked, staged loop
//! over the graph.

use super::Model;
use crate::act::{Contiguous, InputBatch, Window};
use crate::ctx::Ctx;
use crate::error::EngineError;
use crate::graph::{self, Exec};
use crate::observe::{NoObserver, Observer};
use half::f16;

impl<'a> Model<'a> {
    /// Run `batch` samples stored back to back in `input`
    /// (`batch * input_len()` f16, each CHW, normalised as the model's
    /// metadata says). Writes `probs` (`batch * num_classes()` sigmoid
    /// probabilities, sample-major) and, unless `features` is empty,
    /// `features` (`batch * feature_len()` f32, sample-major, CHW-flattened).
    /// `scratch` must hold at least `scratch_len(batch)` f32; its contents on
    /// entry do not matter. Allocates nothing. A NaN or infinite input value
    /// gives [`EngineError::NonFiniteInput`] before anything is computed.
    pub fn infer(
        &self,
        input: &[f16],
        batch: usize,
        scratch: &mut [f32],
        probs: &mut [f32],
        features: &mut [f32],
    ) -> Result<(), EngineError> {
        let per = self.input_len();
        let expected = per.checked_mul(batch).ok_or(EngineError::BatchTooLarge(batch))?;
        if input.len() != expected {
            return Err(EngineError::InputLength { found: input.len(), batch, per_sample: per, expected });
        }
        self.run(&Contiguous { data: input, len: per }, batch, scratch, probs, features, None, &mut NoObserver)
    }

    /// Like [`Model::infer`] over samples that are not contiguous (e.g.
    /// patches picked from several shards of a memory-mapped archive); the
    /// batch is `samples.len()`.
    pub fn infer_samples(
        &self,
        samples: &[&[f16]],
        scratch: &mut [f32],
        probs: &mut [f32],
        features: &mut [f32],
    ) -> Result<(), EngineError> {
        let per = self.input_len();
        if let Some((index, s)) = samples.iter().enumerate().find(|(_, s)| s.len() != per) {
            return Err(EngineError::SampleLength { index, found: s.len(), expected: per });
        }
        self.run(&samples, samples.len(), scratch, probs, features, None, &mut NoObserver)
    }

    /// [`Model::infer_samples`] with every convolution and linear layer split
    /// over `fork` (for one or few samples on several threads); `scratch`
    /// needs `scratch_len(batch) + (fork.ways() - 1) * workspace_len()`.
    pub fn infer_samples_forked(
        &self,
        samples: &[&[f16]],
        scratch: &mut [f32],
        probs: &mut [f32],
        features: &mut [f32],
        fork: &dyn crate::gemm::Fork,
    ) -> Result<(), EngineError> {
        let per = self.input_len();
        if let Some((index, s)) = samples.iter().enumerate().find(|(_, s)| s.len() != per) {
            return Err(EngineError::SampleLength { index, found: s.len(), expected: per });
        }
        self.run(&samples, samples.len(), scratch, probs, features, Some(fork), &mut NoObserver)
    }

    /// [`Model::infer_samples`] that also hands every layer output it
    /// computes to `obs` (see [`Observer::layer_output`]; chunks of at most
    /// [`Model::chunk`] samples, layers after a graph cut in chunks of
    /// [`Model::late_chunk`]). For calibrating an int8 twin of a float model.
    pub fn infer_samples_observed(
        &self,
        samples: &[&[f16]],
        scratch: &mut [f32],
        probs: &mut [f32],
        features: &mut [f32],
        obs: &mut dyn Observer,
    ) -> Result<(), EngineError> {
        let per = self.input_len();
        if let Some((index, s)) = samples.iter().enumerate().find(|(_, s)| s.len() != per) {
            return Err(EngineError::SampleLength { index, found: s.len(), expected: per });
        }
        self.run(&samples, samples.len(), scratch, probs, features, None, obs)
    }

    #[allow(clippy::too_many_arguments)]
    fn run<I: InputBatch, O: Observer + ?Sized>(
        &self,
        input: &I,
        batch: usize,
        scratch: &mut [f32],
        probs: &mut [f32],
        features: &mut [f32],
        fork: Option<&dyn crate::gemm::Fork>,
        obs: &mut O,
    ) -> Result<(), EngineError> {
        if batch == 0 {
            return Err(EngineError::EmptyBatch);
        }
        let ways = fork.map_or(1, |f| f.ways()).max(1);
        let chunk = batch.min(self.chunk);
        let (early, late) = self.arenas(batch).ok_or(EngineError::BatchTooLarge(batch))?;
        let needed = ways
            .checked_mul(self.workspace_len())
            .and_then(|w| w.checked_add(early + late))
            .and_then(|n| n.checked_add(self.int8_scratch_len(batch)?))
            .ok_or(EngineError::BatchTooLarge(batch))?;
        if scratch.len() < needed {
            return Err(EngineError::ScratchTooSmall { found: scratch.len(), needed, batch });
        }
        let np = self.num_classes() * batch;
        if probs.len() != np {
            return Err(EngineError::OutputLength { what: "probs", found: probs.len(), expected: np });
        }
        let nf = self.feature_len() * batch;
        if !features.is_empty() && features.len() != nf {
            return Err(EngineError::OutputLength { what: "features", found: features.len(), expected: nf });
        }
        crate::input_check::finite(input, batch)?;
        let (arena, rest) = scratch.split_at_mut(early);
        let (late_arena, ws) = rest.split_at_mut(late);
        let ctx = Ctx { kern: self.kern, qkern: self.qkern, blocks: self.blocks, winograd: self.winograd, fork };
        let ex = Exec { file: &self.file, plan: &self.plan, qmax: &self.qmax, ctx };
        let (nc, fl) = (self.num_classes(), self.feature_len());
        let all = 0..self.file.layers().len();
        let Some(st) = self.stage.as_ref().filter(|_| late > 0) else {
            for start in (0..batch).step_by(chunk) {
                let len = chunk.min(batch - start);
                let f = if features.is_empty() { &mut [][..] } else { &mut features[start * fl..(start + len) * fl] };
                graph::run(
                    &ex,
                    &Window { inner: input, start },
                    len,
                    all.clone(),
                    arena,
                    ws,
                    &mut probs[start * nc..(start + len) * nc],
                    f,
                    obs,
                )?;
            }
            return Ok(());
        };
        let late_ex = Exec { plan: &st.plan, ..ex };
        let cut = &self.file.layers()[st.cut];
        let (cut_c, cut_hw) = (cut.out_c as usize, cut.out_h as usize * cut.out_w as usize);
        for group in (0..batch).step_by(st.chunk) {
            let glen = st.chunk.min(batch - group);
            // The early stage, a chunk at a time, each chunk's cut output
            // gathered into the late arena at its samples' place
            // (`[C][glen][H*W]`).
            for start in (group..group + glen).step_by(chunk) {
                let len = chunk.min(group + glen - start);
                graph::run(&ex, &Window { inner: input, start }, len, 0..st.cut + 1, arena, ws, &mut [], &mut [], obs)?;
                let src = self.plan.range(st.cut, len).ok_or(EngineError::Internal("plan"))?;
                let dst = st.plan.range(st.cut, glen).ok_or(EngineError::Internal("plan"))?;
                for c in 0..cut_c {
                    let from = src.start + c * len * cut_hw;
                    let to = dst.start + (c * glen + start - group) * cut_hw;
                    let run = len * cut_hw;
                    let (Some(d), Some(s)) = (late_arena.get_mut(to..to + run), arena.get(from..from + run)) else {
                        return Err(EngineError::Internal("late stage input"));
                    };
                    d.copy_from_slice(s);
                }
            }
            let f = if features.is_empty() { &mut [][..] } else { &mut features[group * fl..(group + glen) * fl] };
            graph::run(
                &late_ex,
                &Window { inner: input, start: group },
                glen,
                st.cut + 1..all.end,
                late_arena,
                ws,
                &mut probs[group * nc..(group + glen) * nc],
                f,
                obs,
            )?;
        }
        Ok(())
    }
}
