//! [`ModelFile`]: the validated, zero-copy view of a model file, its limits
//! and accessors ([`super::parse`] builds and checks it).

use super::layout::*;
use super::meta::ModelMeta;
use half::f16;

/// Most layers a model file may hold.
pub const MAX_LAYERS: u32 = 4096;
/// Largest channel count, height or width of any activation.
pub const MAX_DIM: u32 = 1 << 16;
/// Largest kernel side, stride or padding.
pub const MAX_KERNEL: u32 = 64;
/// Largest number of elements in one tensor or one activation.
pub const MAX_TENSOR_ELEMS: u64 = 1 << 31;
/// Largest depth `in_c * kernel_h * kernel_w` of a `QConv`: a u8 x i8
/// product is at most 32640 in magnitude, so sums over this many steps (and
/// the zero-point correction `255 * 128 * depth`) stay inside i32.
pub const MAX_QCONV_DEPTH: u64 = 1 << 16;

/// Alignment in bytes the first byte of a model file needs in memory: the
/// layer and tensor tables are read in place and the tensor table holds
/// `u64` fields. Memory maps are page aligned; firmware places the bytes
/// with an aligned static or a linker-script `ALIGN(8)`.
pub const MODEL_ALIGN: usize = 8;
const _: () = assert!(
    core::mem::align_of::<TensorRecord>() == MODEL_ALIGN && core::mem::align_of::<LayerRecord>() <= MODEL_ALIGN
);

/// Channels, height and width of one sample's activation (CHW).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Channels.
    pub c: u32,
    /// Height.
    pub h: u32,
    /// Width.
    pub w: u32,
}

impl Shape {
    /// Elements per sample.
    pub fn len(&self) -> usize {
        self.c as usize * self.h as usize * self.w as usize
    }
    /// Whether the shape holds no element (never true in a parsed model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The quantization of one `QConv` layer (validated: scales finite and
/// positive, the zero point an integer in 0..=255). Real values are
/// `input = input_scale * (q - input_zero_point)` for u8 `q`, and
/// `weight[o] = weight_scales[o] * w` for i8 `w`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quant<'a> {
    /// Input scale (real units per quantization step).
    pub input_scale: f32,
    /// The u8 value that stands for a real 0 of the input.
    pub input_zero_point: u8,
    /// Per output channel, real units per weight step (`out_c` values).
    pub weight_scales: &'a [f32],
}

/// A validated, zero-copy view of a model file.
#[derive(Debug, Clone)]
pub struct ModelFile<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) header: FileHeader,
    pub(super) layers: &'a [LayerRecord],
    pub(super) tensors: &'a [TensorRecord],
    pub(super) meta: ModelMeta<'a>,
}

impl<'a> ModelFile<'a> {
    /// The file header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }
    /// The layers, in topological order.
    pub fn layers(&self) -> &'a [LayerRecord] {
        self.layers
    }
    /// The tensor table.
    pub fn tensors(&self) -> &'a [TensorRecord] {
        self.tensors
    }
    /// The metadata.
    pub fn meta(&self) -> &ModelMeta<'a> {
        &self.meta
    }
    /// The whole file as given (up to `file_len`).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The file's stored checksum: XXH64 (seed 0) of bytes `0..file_len-8`,
    /// verified by `parse`. Identifies the model (e.g. in feature archives).
    pub fn checksum(&self) -> u64 {
        let n = self.bytes.len();
        u64::from_le_bytes(self.bytes[n - 8..].try_into().unwrap_or([0; 8]))
    }
    /// The input shape of one sample (CHW).
    pub fn input_shape(&self) -> Shape {
        Shape { c: self.header.input_c, h: self.header.input_h, w: self.header.input_w }
    }
    /// Output shape of layer `i` (CHW), `None` when out of range.
    pub fn layer_shape(&self, i: usize) -> Option<Shape> {
        self.layers.get(i).map(|l| Shape { c: l.out_c, h: l.out_h, w: l.out_w })
    }
    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.header.num_classes as usize
    }
    /// Elements of the feature vector.
    pub fn feature_len(&self) -> usize {
        self.layers[self.header.feature_layer as usize].out_len()
    }
    /// The bytes of tensor `idx` if it has type `dtype`.
    fn tensor_bytes(&self, idx: u32, dtype: u32) -> Option<&'a [u8]> {
        let t = self.tensors.get(idx as usize).filter(|t| t.dtype == dtype)?;
        let len = t.elements.checked_mul(dtype_size(dtype)?)?;
        self.bytes.get(t.offset as usize..t.offset.checked_add(len)? as usize)
    }
    /// The fp16 data of tensor `idx` (zero-copy), `None` when `idx` is out
    /// of range or [`NONE`], or the tensor is not f16.
    pub fn tensor(&self, idx: u32) -> Option<&'a [f16]> {
        bytemuck::try_cast_slice(self.tensor_bytes(idx, DTYPE_F16)?).ok()
    }
    /// The i8 data of tensor `idx` (zero-copy; [`DTYPE_I8`], else `None`).
    pub fn tensor_i8(&self, idx: u32) -> Option<&'a [i8]> {
        Some(bytemuck::cast_slice(self.tensor_bytes(idx, DTYPE_I8)?))
    }
    /// The i32 data of tensor `idx` (zero-copy; [`DTYPE_I32`], else `None`).
    pub fn tensor_i32(&self, idx: u32) -> Option<&'a [i32]> {
        bytemuck::try_cast_slice(self.tensor_bytes(idx, DTYPE_I32)?).ok()
    }
    /// The f32 data of tensor `idx` (zero-copy; [`DTYPE_F32`], else `None`).
    pub fn tensor_f32(&self, idx: u32) -> Option<&'a [f32]> {
        bytemuck::try_cast_slice(self.tensor_bytes(idx, DTYPE_F32)?).ok()
    }
    /// The quantization parameters of layer `i` when it is a `QConv`.
    pub fn quant(&self, i: usize) -> Option<Quant<'a>> {
        let l = self.layers.get(i).filter(|l| l.layer_kind() == Some(LayerKind::QConv))?;
        let p = self.tensor_f32(l.input2)?;
        let (&input_scale, rest) = p.split_first()?;
        let (&zp, weight_scales) = rest.split_first()?;
        Some(Quant { input_scale, input_zero_point: zp as u8, weight_scales })
    }
}
