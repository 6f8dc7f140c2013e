//! The engine's error type. Every failure of the public API is one of these;
//! nothing on the inference path panics.

use crate::cpu::Features;
use bemm_formats::FormatError;

/// Why a model could not be loaded or an inference could not run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The model file is malformed (from `bemm_formats::model::ModelFile::parse`).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The input does not hold `batch * input_len` values.
    #[error("input holds {found} f16 values, expected batch {batch} x {per_sample} per sample = {expected}")]
    InputLength {
        /// Values given.
        found: usize,
        /// Samples requested.
        batch: usize,
        /// Values per sample (C*H*W).
        per_sample: usize,
        /// `batch * per_sample`.
        expected: usize,
    },
    /// One sample of a list of samples has the wrong length.
    #[error("input sample {index} holds {found} f16 values, expected {expected} (C*H*W)")]
    SampleLength {
        /// Position in the list.
        index: usize,
        /// Values given.
        found: usize,
        /// C*H*W of the model input.
        expected: usize,
    },
    /// The caller's scratch buffer is shorter than `scratch_len(batch)`.
    #[error("scratch holds {found} f32 values, the model needs {needed} for batch {batch}")]
    ScratchTooSmall {
        /// Values given.
        found: usize,
        /// `Model::scratch_len(batch)`.
        needed: usize,
        /// Samples requested.
        batch: usize,
    },
    /// An output buffer has the wrong length.
    #[error("{what} buffer holds {found} f32 values, expected {expected}")]
    OutputLength {
        /// `probs` or `features`.
        what: &'static str,
        /// Values given.
        found: usize,
        /// Values required.
        expected: usize,
    },
    /// An input value is NaN or infinite: the network would turn it into
    /// confident-looking garbage, so nothing is computed.
    #[error("input sample {sample} value {index} is not finite (f16 bits {bits:#06x}); inputs must be finite")]
    NonFiniteInput {
        /// Sample of the batch.
        sample: usize,
        /// Position in the sample (CHW order).
        index: usize,
        /// The f16 bit pattern found.
        bits: u16,
    },
    /// `batch` was zero.
    #[error("batch must hold at least one sample")]
    EmptyBatch,
    /// The batch is so large that the scratch size overflows `usize`.
    #[error("batch {0} is too large: the scratch size overflows")]
    BatchTooLarge(usize),
    /// The graph has more layers than the planner's fixed capacity.
    #[error("model has {layers} layers; the memory planner handles at most {max}")]
    TooManyLayers {
        /// Layers in the model.
        layers: usize,
        /// [`crate::planner::MAX_PLANNED_LAYERS`].
        max: usize,
    },
    /// GEMM block sizes outside what the packing supports.
    #[error("GEMM block {what} = {found}: expected {expected}")]
    GemmBlocks {
        /// Which block size.
        what: &'static str,
        /// The value given.
        found: usize,
        /// The valid range.
        expected: &'static str,
    },
    /// A kernel name (`BEMM_KERNEL`, [`crate::kernels::by_name`]) that is
    /// neither a registered kernel nor an ISA.
    #[error("unknown kernel {name:?}: expected one of {known}")]
    UnknownKernel {
        /// The name given (its first 32 bytes).
        name: heapless::String<32>,
        /// The names accepted.
        known: KnownKernels,
    },
    /// A requested kernel needs CPU features the CPU lacks.
    #[error("kernel {kernel} needs CPU features {needs}; this CPU lacks {missing}")]
    KernelUnavailable {
        /// The kernel's name.
        kernel: &'static str,
        /// Every feature it needs ([`crate::Isa::needs`]).
        needs: &'static str,
        /// Those the CPU lacks.
        missing: Features,
    },
    /// A float kernel was asked for by the name of an int8-only level
    /// (`avx512vnni`, `avxvnni`, `neon-dot`, `neon-i8mm`): no float kernel
    /// is written for it.
    #[error("{level} is an int8 instruction-set level with no float kernel: pin a float kernel or level instead (e.g. {instead})")]
    NoFloatKernel {
        /// The level named.
        level: &'static str,
        /// The float level it includes, suggested instead.
        instead: &'static str,
    },
    /// An internal invariant did not hold (a bug in the engine, reported
    /// instead of panicking).
    #[error("internal engine error: {0}")]
    Internal(&'static str),
    /// Reading or mapping a model file failed.
    #[cfg(feature = "std")]
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::string::String,
        /// The cause.
        source: std::io::Error,
    },
    /// Parsing a model file failed (with the file named).
    #[cfg(feature = "std")]
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: std::string::String,
        /// The cause.
        source: FormatError,
    },
}

/// The kernel names a lookup accepts, printed by
/// [`EngineError::UnknownKernel`]: a writer the kernel registry supplies
/// (`crate::kernels`), so the error type needs no registry of its own.
#[derive(Clone, Copy)]
pub struct KnownKernels(pub(crate) fn(&mut core::fmt::Formatter<'_>) -> core::fmt::Result);

impl core::fmt::Display for KnownKernels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (self.0)(f)
    }
}

impl core::fmt::Debug for KnownKernels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KnownKernels({self})")
    }
}
