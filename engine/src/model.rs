//! The public inference API.

use crate::act::{Contiguous, InputBatch, Window};
use crate::ctx::Ctx;
use crate::error::EngineError;
use crate::gemm::Blocks;
use crate::graph::{self, Exec};
use crate::kernels::int8::{self, QKernel};
use crate::kernels::{self, Isa, MicroKernel};
use crate::observe::{NoObserver, Observer};
use crate::planner::{cut_after, Plan};
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
    /// The kernel `BEMM_KERNEL` pinned when the model was loaded: it stays
    /// through [`Model::with_precision`].
    pinned: Option<&'static MicroKernel>,
    /// The int8 kernel of `QConv` layers: the best the CPU supports, or
    /// the one `BEMM_KERNEL` names ([`int8::from_env`]).
    qkern: &'static QKernel,
    precision: Precision,
    blocks: Blocks,
    winograd: bool,
    /// Samples run through the graph at a time (see [`CHUNK_BYTES`]).
    chunk: usize,
    /// The late stage of batches larger than `chunk` (see [`STAGE_BYTES`]).
    stage: Option<Stage>,
}

/// The late stage of a staged batch: the layers after `cut` run on `chunk`
/// samples at a time (more than the early stage's), reading the cut's
/// output gathered from several early-stage chunks.
#[derive(Debug, Clone)]
struct Stage {
    /// The last layer of the early stage.
    cut: usize,
    /// Samples in flight in the late stage.
    chunk: usize,
    /// The late stage's arena: the cut's output and every layer after it.
    plan: Plan,
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

/// Late layers have small outputs (ResNet50's 4x4 maps: 128 KB per sample)
/// and large weights, which every chunk streams and widens again. When the
/// graph can be cut so that every layer after the cut outputs at most
/// this many bytes (and the cut itself [`CHUNK_BYTES`]) for at least twice
/// [`Model::chunk`] samples, those layers
/// run as a late stage over that many samples at a time, from the cut's
/// output of several early chunks (see `late_stage` for the cut). ResNet50
/// at 120x120: layer4 on 16 samples instead of 4, its layers 28 % faster
/// per patch (fast path, measured); layer3 on 16 was slower (8x8 maps:
/// 4 MB outputs), so the bound is 2 MiB, not [`CHUNK_BYTES`]. Samples never influence each
/// other, so results are the same with or without stages.
pub const STAGE_BYTES: usize = 2 << 20;

/// The largest output of `layers` per sample (f32 values, at least 1): what
/// bounds how many samples a stage keeps in flight.
fn largest_output(layers: &[bemm_formats::model::LayerRecord]) -> usize {
    layers.iter().map(|l| l.out_len()).max().unwrap_or(1).max(1)
}

/// The late stage for a model whose early stage runs `chunk` samples at a
/// time, or `None`. Each possible cut allows `late` samples in flight after
/// it (at least twice `chunk`); the one chosen saves the most weight
/// streaming: the weights after it times the share of their passes saved,
/// `1 - chunk / late` (ResNet50: the cut before layer4, 16 samples). The
/// cut layer's output must exist (not a convolution fused into the add
/// after it) and the caller's outputs (`keep`) must come after it.
fn late_stage(file: &ModelFile<'_>, plan: &Plan, chunk: usize, keep: &[u32]) -> Result<Option<Stage>, EngineError> {
    let layers = file.layers();
    let weights = |l: &bemm_formats::model::LayerRecord| {
        file.tensor(l.weight).map(|w| w.len()).or(file.tensor_i8(l.weight).map(|w| w.len())).unwrap_or(0)
    };
    let mut best: Option<(usize, usize, usize)> = None;
    for cut in 0..layers.len().saturating_sub(1) {
        if plan.fused(cut) || keep.iter().any(|&k| k as usize <= cut) || !cut_after(layers, cut) {
            continue;
        }
        // The layers after the cut within STAGE_BYTES, the cut's output
        // (read twice, by a block's two branches) within CHUNK_BYTES.
        let late =
            (STAGE_BYTES / 4 / largest_output(&layers[cut + 1..])).min(CHUNK_BYTES / 4 / layers[cut].out_len().max(1));
        if late < 2 * chunk {
            continue;
        }
        let saved = layers[cut + 1..].iter().map(weights).sum::<usize>() / late * (late - chunk);
        if best.is_none_or(|(_, _, b)| saved > b) {
            best = Some((cut, late, saved));
        }
    }
    let Some((cut, late, _)) = best else { return Ok(None) };
    Ok(Some(Stage { cut, chunk: late, plan: Plan::new_from(layers, keep, cut + 1)? }))
}

impl<'a> Model<'a> {
    /// Parse and validate a model file (`bytes` starting at an 8-byte
    /// aligned address, [`bemm_formats::model::MODEL_ALIGN`]: a memory map or
    /// `include_bytes!` into an aligned static) and
    /// plan its memory. Weights are used in place, never copied.
    ///
    /// The kernel is the best exact one the CPU supports, unless (under
    /// `std`) the environment variable `BEMM_KERNEL` names one
    /// ([`kernels::from_env`]): then that kernel, kept by
    /// [`Model::with_precision`] and replaced only by [`Model::with_isa`] or
    /// [`Model::with_kernel`]. A `BEMM_KERNEL` that is unknown or that the
    /// CPU lacks fails here.
    ///
    /// `QConv` layers (format 1.1) run on the best int8 kernel the CPU
    /// supports ([`int8::best`]); a `BEMM_KERNEL` naming an int8 kernel or
    /// level pins it for them ([`int8::from_env`]) while the float layers
    /// keep their default, and a level both registries have (`avx2`,
    /// `scalar`) pins both.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, EngineError> {
        let file = ModelFile::parse(bytes)?;
        let keep = [file.header().output_layer, file.header().feature_layer];
        let plan = Plan::new(file.layers(), &keep)?;
        let pinned = kernels::from_env()?;
        let kern = pinned.unwrap_or(kernels::best(true));
        let qkern = int8::from_env()?.unwrap_or(int8::best());
        let chunk = (CHUNK_BYTES / 4 / largest_output(file.layers())).max(1);
        let stage = late_stage(&file, &plan, chunk, &keep)?;
        Ok(Model {
            file,
            plan,
            kern,
            pinned,
            qkern,
            precision: if kern.exact { Precision::Exact } else { Precision::Fast },
            blocks: Blocks::DEFAULT,
            winograd: true,
            chunk,
            stage,
        })
    }

    /// Select the arithmetic (see [`Precision`]): the best kernel of that
    /// precision the CPU supports. A kernel pinned by `BEMM_KERNEL` stays
    /// (and [`Model::precision`] reports its precision).
    pub fn with_precision(mut self, p: Precision) -> Self {
        match self.pinned {
            Some(kern) => self.set_kernel(kern),
            None => {
                self.set_kernel(kernels::best(p == Precision::Exact));
                self.precision = p;
            }
        }
        self
    }

    /// Force the best kernel of one instruction set (tests, benchmarks).
    /// Fails with [`EngineError::KernelUnavailable`] when the CPU lacks it.
    pub fn with_isa(self, isa: Isa) -> Result<Self, EngineError> {
        Ok(self.with_kernel(kernels::for_isa(isa)?))
    }

    /// Use `kern`; the precision follows the kernel's. Infallible because
    /// a `&MicroKernel` exists outside the engine only as handed out by
    /// [`kernels::best`], [`kernels::by_name`] and the other checked
    /// constructors, after the CPU check.
    pub fn with_kernel(mut self, kern: &'static MicroKernel) -> Self {
        self.set_kernel(kern);
        self
    }

    /// [`Model::with_kernel`] by name ([`kernels::by_name`]: a kernel or an
    /// ISA name). A name of an int8 kernel or int8-only level
    /// ([`int8::int8_only_name`]) selects the int8 kernel instead
    /// ([`Model::with_int8_kernel`]); a level both registries have selects
    /// both. Fails for an unknown name or a kernel the CPU lacks.
    pub fn with_kernel_name(self, name: &str) -> Result<Self, EngineError> {
        let q = int8::named(name).transpose()?;
        if int8::int8_only_name(name) {
            if let Some(q) = q {
                return Ok(self.with_int8_kernel(q));
            }
        }
        let m = self.with_kernel(kernels::by_name(name)?);
        Ok(match q {
            Some(q) => m.with_int8_kernel(q),
            None => m,
        })
    }

    /// Run `QConv` layers on `kern` (any int8 kernel gives bit-identical
    /// results: their sums are exact). Infallible for the same reason as
    /// [`Model::with_kernel`]: a `&QKernel` is handed out only after the CPU
    /// check ([`int8::best`], [`int8::by_name_on`], [`int8::available`]).
    pub fn with_int8_kernel(mut self, kern: &'static QKernel) -> Self {
        self.qkern = kern;
        self
    }

    /// The int8 micro-kernel of `QConv` layers.
    pub fn int8_kernel(&self) -> &'static QKernel {
        self.qkern
    }

    /// Whether the model has int8 layers (`QConv`, format 1.1).
    pub fn is_quantized(&self) -> bool {
        self.file.layers().iter().any(|l| l.layer_kind() == Some(LayerKind::QConv))
    }

    fn set_kernel(&mut self, kern: &'static MicroKernel) {
        self.kern = kern;
        self.precision = if kern.exact { Precision::Exact } else { Precision::Fast };
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
    /// plus a fixed GEMM packing workspace ([`Model::workspace_len`]), plus
    /// for int8 models the int8 scratch ([`Model::int8_scratch_len`]).
    pub fn scratch_len(&self, batch: usize) -> usize {
        self.arenas(batch)
            .map_or(usize::MAX, |(early, late)| early + late)
            .saturating_add(self.workspace_len())
            .saturating_add(self.int8_scratch_len(batch).unwrap_or(usize::MAX))
    }

    /// f32 values of scratch the `QConv` layers need besides the GEMM
    /// workspace, for `batch` samples (0 without them): the largest layer's
    /// quantized input (one byte per value, for the samples in flight) and
    /// its per-channel scales and weight sums. `None` on overflow.
    pub fn int8_scratch_len(&self, batch: usize) -> Option<usize> {
        let in_flight = batch.min(self.chunk.max(self.late_chunk().unwrap_or(0)));
        self.file
            .layers()
            .iter()
            .filter(|l| l.layer_kind() == Some(LayerKind::QConv))
            .try_fold(0usize, |m, l| Some(m.max(crate::conv::qconv::scratch_len(l, in_flight)?)))
    }

    /// f32 of the early and late stages' arenas for `batch` samples (the
    /// late one is empty for batches of one chunk or models without stages).
    fn arenas(&self, batch: usize) -> Option<(usize, usize)> {
        let early = self.plan.arena_per_sample().checked_mul(batch.min(self.chunk))?;
        let late = match &self.stage {
            Some(st) if batch > self.chunk => st.plan.arena_per_sample().checked_mul(batch.min(st.chunk))?,
            _ => 0,
        };
        Some((early, late)).filter(|_| early.checked_add(late).is_some())
    }

    /// Samples the late layers of a large batch run at a time (see
    /// [`STAGE_BYTES`]), or `None` when every layer runs [`Model::chunk`]
    /// samples at a time.
    pub fn late_chunk(&self) -> Option<usize> {
        self.stage.as_ref().map(|st| st.chunk)
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
                Some(LayerKind::Conv | LayerKind::QConv) => {
                    l.out_len() as u64 * (l.in_c as u64 * l.kernel_h as u64 * l.kernel_w as u64)
                }
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
        let ex = Exec { file: &self.file, plan: &self.plan, ctx };
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
