//! The public inference API.

use crate::act::{Contiguous, InputBatch, Window};
use crate::error::EngineError;
use crate::gemm::Blocks;
use crate::graph::{self, Exec};
use crate::kernels::{self, Isa, MicroKernel};
use crate::planner::Plan;
use bemm_formats::model::{LayerKind, ModelFile, ModelMeta, Shape};
use half::f16;

/// Arithmetic used by the convolutions and linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f16 weights and activations widened to f32, f32 accumulation: the
    /// reference path. Results differ from an f64 computation only by f32
    /// rounding and summation order.
    #[default]
    Exact,
    /// The fastest path the CPU offers: bf16 products with f32 accumulation
    /// (AVX512-BF16 `vdpbf16ps`) where available, else the same as `Exact`.
    /// Probabilities differ from `Exact` by about 1e-2.
    Fast,
}

/// A loaded model: the validated, zero-copy view of a `.bemm` file plus its
/// memory plan. Cheap to share between threads (`&Model` is `Sync`).
#[derive(Debug, Clone)]
pub struct Model<'a> {
    file: ModelFile<'a>,
    plan: Plan,
    kern: &'static MicroKernel,
    isa: Isa,
    precision: Precision,
    blocks: Blocks,
    winograd: bool,
    /// Samples run through the graph at a time (see [`CHUNK_BYTES`]).
    chunk: usize,
}

/// A batch runs through the graph a chunk of samples at a time, as many as
/// keep the largest layer output within this many bytes: each layer's
/// output is then still in the last-level cache when the next layer reads
/// it, instead of making a round trip to DRAM. ResNet50 at 120x120 (0.9 MB
/// per sample for its largest outputs) runs 4 at a time: batch-16 exact
/// throughput +14 %, fast +8 % against the whole batch at once (three
/// alternating runs); chunks of 8 gained less and 2 lost. Samples never
/// influence each other, so results are the same for any chunking.
pub const CHUNK_BYTES: usize = 4 << 20;

impl<'a> Model<'a> {
    /// Parse and validate a model file (`bytes` at least 2-byte aligned; a
    /// memory map or `include_bytes!` into an aligned static is best) and
    /// plan its memory. Weights are used in place, never copied.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, EngineError> {
        let file = ModelFile::parse(bytes)?;
        let plan = Plan::new(file.layers(), &[file.header().output_layer, file.header().feature_layer])?;
        let kern = kernels::best(true);
        let largest = file.layers().iter().map(|l| l.out_len()).max().unwrap_or(1).max(1);
        let chunk = (CHUNK_BYTES / 4 / largest).max(1);
        Ok(Model { file, plan, kern, isa: kern.isa, precision: Precision::Exact, blocks: Blocks::DEFAULT, winograd: true, chunk })
    }

    /// Select the arithmetic (see [`Precision`]).
    pub fn with_precision(mut self, p: Precision) -> Self {
        self.precision = p;
        self.kern = kernels::best(p == Precision::Exact);
        self.isa = self.kern.isa;
        self
    }

    /// Force the kernels of one instruction set (tests, benchmarks).
    /// Fails when the CPU lacks it.
    pub fn with_isa(mut self, isa: Isa) -> Result<Self, EngineError> {
        self.kern = kernels::for_isa(isa).ok_or(EngineError::Unsupported(isa.name()))?;
        self.isa = isa;
        self.precision = if self.kern.exact { Precision::Exact } else { Precision::Fast };
        Ok(self)
    }

    /// Use GEMM panels of `kc` depth and `nc` columns (see [`Blocks`]):
    /// smaller ones shrink the fixed part of [`Model::scratch_len`] for
    /// firmware with little RAM (64 x 64: 40 KB instead of 2.2 MB), at some
    /// speed. `kc` must be even (2..=4096), `nc` a multiple of 32 (32..=65536).
    /// Layers whose Winograd or direct-convolution buffers no longer fit
    /// the smaller workspace run as im2col (a different f32 rounding).
    pub fn with_gemm_blocks(mut self, kc: usize, nc: usize) -> Result<Self, EngineError> {
        self.blocks = Blocks::new(kc, nc)?;
        Ok(self)
    }

    /// Allow (default) or forbid Winograd F(2x2, 3x3) for 3x3 stride-1
    /// convolutions on maps of 7x7 and more ([`crate::conv::ConvAlgo`]).
    /// Forbidding it computes every convolution directly (im2col + GEMM):
    /// 2.25x more multiply-adds in those layers, a few f32 roundings fewer.
    pub fn with_winograd(mut self, allow: bool) -> Self {
        self.winograd = allow;
        self
    }

    /// f32 values of GEMM workspace per thread (part of [`Model::scratch_len`]).
    pub fn workspace_len(&self) -> usize {
        self.blocks.workspace_len()
    }

    /// The selected precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The GEMM micro-kernel in use.
    pub fn kernel(&self) -> &'static MicroKernel {
        self.kern
    }

    /// The parsed model file.
    pub fn file(&self) -> &ModelFile<'a> {
        &self.file
    }

    /// Class names, thresholds, bands, normalisation, provenance.
    pub fn meta(&self) -> &ModelMeta<'a> {
        self.file.meta()
    }

    /// Input shape of one sample (CHW).
    pub fn input_shape(&self) -> Shape {
        self.file.input_shape()
    }

    /// f16 values per input sample (C*H*W).
    pub fn input_len(&self) -> usize {
        self.file.input_shape().len()
    }

    /// Number of classes (probabilities per sample).
    pub fn num_classes(&self) -> usize {
        self.file.num_classes()
    }

    /// Values of the feature vector per sample.
    pub fn feature_len(&self) -> usize {
        self.file.feature_len()
    }

    /// f32 values of scratch memory [`Model::infer`] needs for `batch`
    /// samples (saturates at `usize::MAX` for absurd batches). The
    /// activations of all layers share one arena planned once per model
    /// (offsets scale with the samples in flight: at most [`Model::chunk`]),
    /// plus a fixed GEMM packing workspace ([`Model::workspace_len`]).
    pub fn scratch_len(&self, batch: usize) -> usize {
        self.plan.arena_per_sample().saturating_mul(batch.min(self.chunk)).saturating_add(self.workspace_len())
    }

    /// Samples a batch runs through the graph at a time (see [`CHUNK_BYTES`]):
    /// the scratch of larger batches is that of this many samples.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// Activation arena per sample if no buffer were reused (for reports).
    pub fn unplanned_len(&self) -> usize {
        self.plan.unplanned_per_sample()
    }

    /// Multiply-accumulate operations per sample (convolutions and linear layers).
    pub fn macs_per_sample(&self) -> u64 {
        self.file
            .layers()
            .iter()
            .map(|l| match l.layer_kind() {
                Some(LayerKind::Conv) => l.out_len() as u64 * (l.in_c as u64 * l.kernel_h as u64 * l.kernel_w as u64),
                Some(LayerKind::Linear) => l.out_c as u64 * l.in_c as u64,
                _ => 0,
            })
            .sum()
    }

    /// Run `batch` samples stored back to back in `input`
    /// (`batch * input_len()` f16, each CHW, normalised as the model's
    /// metadata says). Writes `probs` (`batch * num_classes()` sigmoid
    /// probabilities, sample-major) and, unless `features` is empty,
    /// `features` (`batch * feature_len()` f32, sample-major, CHW-flattened).
    /// `scratch` must hold at least `scratch_len(batch)` f32; its contents on
    /// entry do not matter. Allocates nothing.
    pub fn infer(&self, input: &[f16], batch: usize, scratch: &mut [f32], probs: &mut [f32], features: &mut [f32]) -> Result<(), EngineError> {
        let per = self.input_len();
        let expected = per.checked_mul(batch).ok_or(EngineError::BatchTooLarge(batch))?;
        if input.len() != expected {
            return Err(EngineError::InputLength { found: input.len(), batch, per_sample: per, expected });
        }
        self.run(&Contiguous { data: input, len: per }, batch, scratch, probs, features, None)
    }

    /// Like [`Model::infer`] over samples that are not contiguous (e.g.
    /// patches picked from several shards of a memory-mapped archive); the
    /// batch is `samples.len()`.
    pub fn infer_samples(&self, samples: &[&[f16]], scratch: &mut [f32], probs: &mut [f32], features: &mut [f32]) -> Result<(), EngineError> {
        let per = self.input_len();
        if let Some((index, s)) = samples.iter().enumerate().find(|(_, s)| s.len() != per) {
            return Err(EngineError::SampleLength { index, found: s.len(), expected: per });
        }
        self.run(&samples, samples.len(), scratch, probs, features, None)
    }

    /// [`Model::infer_samples`] with every convolution and linear layer split
    /// over `fork` (for one or few samples on several threads); `scratch`
    /// needs `scratch_len(batch) + (fork.ways() - 1) * workspace_len()`.
    pub fn infer_samples_forked(&self, samples: &[&[f16]], scratch: &mut [f32], probs: &mut [f32], features: &mut [f32], fork: &dyn crate::gemm::Fork) -> Result<(), EngineError> {
        let per = self.input_len();
        if let Some((index, s)) = samples.iter().enumerate().find(|(_, s)| s.len() != per) {
            return Err(EngineError::SampleLength { index, found: s.len(), expected: per });
        }
        self.run(&samples, samples.len(), scratch, probs, features, Some(fork))
    }

    fn run<I: InputBatch>(&self, input: &I, batch: usize, scratch: &mut [f32], probs: &mut [f32], features: &mut [f32], fork: Option<&dyn crate::gemm::Fork>) -> Result<(), EngineError> {
        if batch == 0 {
            return Err(EngineError::EmptyBatch);
        }
        let ways = fork.map_or(1, |f| f.ways()).max(1);
        let chunk = batch.min(self.chunk);
        let needed = self
            .plan
            .arena_per_sample()
            .checked_mul(chunk)
            .and_then(|a| a.checked_add(ways.checked_mul(self.workspace_len())?))
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
        let ex = Exec { file: &self.file, plan: &self.plan, kern: self.kern, isa: self.isa, blocks: self.blocks, winograd: self.winograd, fork };
        let (nc, fl) = (self.num_classes(), self.feature_len());
        for start in (0..batch).step_by(chunk) {
            let len = chunk.min(batch - start);
            let f = if features.is_empty() { &mut [][..] } else { &mut features[start * fl..(start + len) * fl] };
            graph::run(&ex, &Window { inner: input, start, len }, len, scratch, &mut probs[start * nc..(start + len) * nc], f)?;
        }
        Ok(())
    }

    /// The predicted label set of one sample's probabilities as a bit mask
    /// (bit `j` = class `j`), using the model file's per-class thresholds:
    /// class `j` is predicted when `probs[j] >= threshold[j]`. Extra values
    /// beyond `num_classes()` (or classes past 64) are ignored.
    pub fn predicted(&self, probs: &[f32]) -> u64 {
        self.meta()
            .thresholds
            .iter()
            .zip(probs)
            .take(64)
            .enumerate()
            .filter(|(_, (t, p))| **p >= **t)
            .fold(0u64, |m, (j, _)| m | (1u64 << j))
    }
}
