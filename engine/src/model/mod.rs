//! The public inference API.

use crate::error::EngineError;
use crate::gemm::Blocks;
use crate::kernels::int8::{self, QKernel};
use crate::kernels::{self, Isa, MicroKernel};
use crate::planner::{Plan, MAX_PLANNED_LAYERS};
use bemm_formats::model::{LayerKind, ModelFile, ModelMeta, Shape};
use heapless::Vec as HVec;

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
    /// Per layer, the largest int8 weight magnitude (0 without int8
    /// weights), found once at load: a kernel limited to small weights
    /// ([`QKernel::max_weight`]) runs only the layers it fits.
    qmax: HVec<u8, MAX_PLANNED_LAYERS>,
    precision: Precision,
    blocks: Blocks,
    winograd: bool,
    /// Samples run through the graph at a time (see [`CHUNK_BYTES`]).
    chunk: usize,
    /// The late stage of batches larger than `chunk` (see [`STAGE_BYTES`]).
    stage: Option<Stage>,
}

mod run;
mod stage;

/// Per layer of `file`, the largest magnitude of its int8 weights (0 for a
/// layer without them). One pass over the int8 weights (25 MB for ResNet50),
/// at load rather than per call.
fn int8_weight_maxima(file: &ModelFile<'_>) -> Result<HVec<u8, MAX_PLANNED_LAYERS>, EngineError> {
    let mut out = HVec::new();
    for l in file.layers() {
        let max = match (l.layer_kind(), file.tensor_i8(l.weight)) {
            (Some(LayerKind::QConv), Some(w)) => w.iter().fold(0u8, |m, &x| m.max(x.unsigned_abs())),
            _ => 0,
        };
        out.push(max)
            .map_err(|_| EngineError::TooManyLayers { layers: file.layers().len(), max: MAX_PLANNED_LAYERS })?;
    }
    Ok(out)
}

use stage::{largest_output, late_stage, Stage};
pub use stage::{CHUNK_BYTES, STAGE_BYTES};

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
    /// `scalar`) pins both. Loading reads the int8 weights once, for each
    /// layer's largest magnitude ([`Model::int8_kernels_used`]).
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, EngineError> {
        let file = ModelFile::parse(bytes)?;
        let keep = [file.header().output_layer, file.header().feature_layer];
        let plan = Plan::new(file.layers(), &keep)?;
        let pinned = kernels::from_env()?;
        let kern = pinned.unwrap_or(kernels::best(true));
        let qkern = int8::from_env()?.unwrap_or(int8::best());
        let qmax = int8_weight_maxima(&file)?;
        let chunk = (CHUNK_BYTES / 4 / largest_output(file.layers())).max(1);
        let stage = late_stage(&file, &plan, chunk, &keep)?;
        Ok(Model {
            file,
            plan,
            kern,
            pinned,
            qkern,
            qmax,
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
    /// results: their sums are exact); layers whose weights a kernel
    /// limited to small weights does not fit run on
    /// [`int8::any_weight`]`(kern)`. Infallible for the same reason as
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

    /// The int8 kernels its `QConv` layers run on, without repeats, the
    /// most used first: [`Model::int8_kernel`] for the layers whose weights
    /// it fits ([`QKernel::max_weight`]), [`int8::any_weight`]'s for the
    /// others. Empty without int8 layers.
    pub fn int8_kernels_used(&self) -> HVec<(&'static QKernel, usize), 2> {
        let mut used: HVec<(&'static QKernel, usize), 2> = HVec::new();
        for (l, &max) in self.file.layers().iter().zip(&self.qmax) {
            if l.layer_kind() != Some(LayerKind::QConv) {
                continue;
            }
            let k = if self.qkern.fits(max) { self.qkern } else { int8::any_weight(self.qkern) };
            match used.iter_mut().find(|(u, _)| core::ptr::eq(*u, k)) {
                Some((_, n)) => *n += 1,
                // At most two kernels: the chosen one and its fallback.
                None => used.push((k, 1)).unwrap_or_default(),
            }
        }
        used.sort_unstable_by_key(|u| core::cmp::Reverse(u.1));
        used
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
    /// quantized input (one byte per value, for the samples in flight).
    /// `None` on overflow.
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
