//! The `.bemm` model file: a layer graph with fp16 weights (version 1.1
//! adds int8 convolutions, [`LayerKind::QConv`]).
//!
//! Layout (SPEC.md has every byte): a 64-byte [`FileHeader`], the layer table
//! ([`LayerRecord`], 64 bytes each), the tensor table ([`TensorRecord`], 40
//! bytes each), the postcard-encoded [`ModelMeta`], the 64-byte-aligned fp16
//! weight payload, and an 8-byte XXH64 of everything before it.
//!
//! [`ModelFile::parse`] validates everything the engine relies on (offsets in
//! range, tensor sizes equal to the shapes the layers imply, the graph in
//! topological order with chaining channel counts), so the engine never
//! re-checks or panics.

mod file;
mod layout;
mod meta;
#[cfg(feature = "alloc")]
mod owned_meta;
mod parse;
#[cfg(feature = "alloc")]
mod quantize;
mod validate;
#[cfg(feature = "alloc")]
mod write;

pub use file::{
    ModelFile, Quant, Shape, MAX_DIM, MAX_KERNEL, MAX_LAYERS, MAX_QCONV_DEPTH, MAX_TENSOR_ELEMS, MODEL_ALIGN,
};
pub use layout::{
    dtype_size, FileHeader, LayerKind, LayerRecord, TensorRecord, DTYPE_F16, DTYPE_F32, DTYPE_I32, DTYPE_I8, FLAG_RELU,
    INPUT, MAGIC, NONE, VERSION_MAJOR, VERSION_MINOR, VERSION_MINOR_INT8,
};
pub use meta::{ModelMeta, Provenance, MAX_BANDS, MAX_CLASSES, MAX_SCORES};
#[cfg(feature = "alloc")]
pub use owned_meta::OwnedMeta;
#[cfg(feature = "alloc")]
pub use quantize::{quantize_conv, QuantConv, WeightBits};
#[cfg(feature = "alloc")]
pub use write::{GraphBuilder, LayerSpec, ModelBuilder, COMPACT_FEATURE_DIM};
