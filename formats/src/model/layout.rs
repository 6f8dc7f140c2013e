//! Fixed-size, `bytemuck`-castable records of the model file.

use bytemuck::{Pod, Zeroable};

/// Magic bytes at offset 0.
pub const MAGIC: [u8; 8] = *b"BEMMODEL";
/// Major version: readers reject other majors.
pub const VERSION_MAJOR: u16 = 1;
/// Minor version of files whose tensors are all f16 (no [`LayerKind::QConv`]):
/// what writers emit for them, byte-identical to files before 1.1.
pub const VERSION_MINOR: u16 = 0;
/// Minor version that adds [`LayerKind::QConv`] and the tensor types
/// [`DTYPE_I8`], [`DTYPE_I32`] and [`DTYPE_F32`]; writers emit it only for
/// files with a quantized layer.
pub const VERSION_MINOR_INT8: u16 = 1;
/// `TensorRecord::dtype` of IEEE 754 binary16 little-endian.
pub const DTYPE_F16: u32 = 1;
/// `TensorRecord::dtype` of signed 8-bit integers (two's complement).
pub const DTYPE_I8: u32 = 2;
/// `TensorRecord::dtype` of signed 32-bit little-endian integers.
pub const DTYPE_I32: u32 = 3;
/// `TensorRecord::dtype` of IEEE 754 binary32 little-endian.
pub const DTYPE_F32: u32 = 4;

/// Bytes per element of a stored `dtype`, `None` for an unknown one.
pub fn dtype_size(dtype: u32) -> Option<u64> {
    match dtype {
        DTYPE_F16 => Some(2),
        DTYPE_I8 => Some(1),
        DTYPE_I32 | DTYPE_F32 => Some(4),
        _ => None,
    }
}
/// Sentinel for "no tensor" / "no second input".
pub const NONE: u32 = u32::MAX;
/// Sentinel input index meaning "the graph input".
pub const INPUT: u32 = u32::MAX - 1;
/// `LayerRecord::flags` bit: apply ReLU to this layer's output.
pub const FLAG_RELU: u32 = 1;

/// The 64-byte file header at offset 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct FileHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`VERSION_MAJOR`].
    pub version_major: u16,
    /// [`VERSION_MINOR`].
    pub version_minor: u16,
    /// Size of this header in bytes (64).
    pub header_size: u32,
    /// Number of layer records following the header.
    pub num_layers: u32,
    /// Number of tensor records following the layer table.
    pub num_tensors: u32,
    /// Length in bytes of the postcard metadata following the tensor table.
    pub meta_len: u32,
    /// Input channels (12 for the full S1+S2 stack).
    pub input_c: u32,
    /// Input height in pixels.
    pub input_h: u32,
    /// Input width in pixels.
    pub input_w: u32,
    /// Index of the layer whose output are the class logits.
    pub output_layer: u32,
    /// Index of the layer whose output is the retrieval feature vector.
    pub feature_layer: u32,
    /// Number of classes (elements of the output layer).
    pub num_classes: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Total file length in bytes, including the trailing checksum.
    pub file_len: u64,
}

/// Kind of a layer, stored as `LayerRecord::kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum LayerKind {
    /// 2-D convolution (groups = 1) with bias (batch-norm folded in).
    Conv = 1,
    /// Element-wise `max(x, 0)`.
    Relu = 2,
    /// Max pooling; padding counts as -infinity.
    MaxPool = 3,
    /// Average pooling; the divisor counts only in-bounds elements.
    AvgPool = 4,
    /// Element-wise sum of `input` and `input2` (residual add).
    Add = 5,
    /// Mean over H and W; output is C x 1 x 1.
    GlobalAvgPool = 6,
    /// Fully connected layer over the input flattened in CHW order.
    Linear = 7,
    /// Element-wise logistic sigmoid.
    Sigmoid = 8,
    /// 2-D convolution (groups = 1) with int8 weights (symmetric, per output
    /// channel), an i32 bias and a quantized input (version 1.1): the same
    /// geometry fields as [`LayerKind::Conv`]; `input2` holds the tensor
    /// index of its quantization parameters (see [`LayerRecord::input2`]).
    QConv = 9,
}

impl LayerKind {
    /// Decode a stored kind.
    pub fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => LayerKind::Conv,
            2 => LayerKind::Relu,
            3 => LayerKind::MaxPool,
            4 => LayerKind::AvgPool,
            5 => LayerKind::Add,
            6 => LayerKind::GlobalAvgPool,
            7 => LayerKind::Linear,
            8 => LayerKind::Sigmoid,
            9 => LayerKind::QConv,
            _ => return None,
        })
    }
}

/// One layer of the graph (64 bytes). Layers are stored in topological order:
/// a layer reads only the graph input or earlier layers.
///
/// All tensors are CHW per sample. Unused fields are zero (or [`NONE`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct LayerRecord {
    /// [`LayerKind`] as `u32`.
    pub kind: u32,
    /// Index of the layer feeding this one, or [`INPUT`].
    pub input: u32,
    /// Second operand of `Add`; for `QConv` the tensor index of its f32
    /// quantization parameters `[out_c + 2]`: input scale, input zero point
    /// (an integer in 0..=255), then one weight scale per output channel;
    /// else [`NONE`].
    pub input2: u32,
    /// Bit flags ([`FLAG_RELU`]).
    pub flags: u32,
    /// Input channels (for `Linear`: input features = C*H*W of the input).
    pub in_c: u32,
    /// Input height.
    pub in_h: u32,
    /// Input width.
    pub in_w: u32,
    /// Output channels (for `Linear`: output features).
    pub out_c: u32,
    /// Output height.
    pub out_h: u32,
    /// Output width.
    pub out_w: u32,
    /// Kernel height (conv, pools).
    pub kernel_h: u32,
    /// Kernel width (conv, pools).
    pub kernel_w: u32,
    /// Stride in both directions (conv, pools).
    pub stride: u32,
    /// Zero padding on every side (conv, pools).
    pub pad: u32,
    /// Tensor index of the weights, or [`NONE`]. Conv (f16) and QConv (i8):
    /// `[out_c, in_c, kh, kw]`; Linear (f16): `[out, in]`.
    pub weight: u32,
    /// Tensor index of the bias `[out_c]`, or [`NONE`] (zero bias): f16, or
    /// for QConv i32 in units of `input_scale * weight_scale[o]`.
    pub bias: u32,
}

impl LayerRecord {
    /// The decoded kind (always `Some` in a parsed [`super::ModelFile`]).
    pub fn layer_kind(&self) -> Option<LayerKind> {
        LayerKind::from_u32(self.kind)
    }
    /// The layer whose output is this layer's second operand: `input2` of
    /// an `Add`, `None` for every other kind (a `QConv`'s `input2` is a
    /// tensor index, not a layer).
    pub fn second_input(&self) -> Option<u32> {
        (self.kind == LayerKind::Add as u32).then_some(self.input2)
    }
    /// Whether an int8 twin of the model quantizes this layer: a float
    /// `Conv` that does not read the graph input (the stem stays f16: its
    /// input is the normalised bands, whose range is not bounded, and it is
    /// a small share of the work).
    pub fn quantizable(&self) -> bool {
        self.kind == LayerKind::Conv as u32 && self.input != INPUT
    }
    /// Whether a ReLU follows this layer's computation.
    pub fn relu(&self) -> bool {
        self.flags & FLAG_RELU != 0
    }
    /// Elements of one sample's output (`out_c * out_h * out_w`).
    pub fn out_len(&self) -> usize {
        self.out_c as usize * self.out_h as usize * self.out_w as usize
    }
    /// Elements of one sample's input (`in_c * in_h * in_w`).
    pub fn in_len(&self) -> usize {
        self.in_c as usize * self.in_h as usize * self.in_w as usize
    }
}

/// One weight tensor (40 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct TensorRecord {
    /// Absolute byte offset of the data (multiple of 64).
    pub offset: u64,
    /// Number of elements.
    pub elements: u64,
    /// Dimensions, outermost first; entries past `rank` are zero.
    pub dims: [u32; 4],
    /// Number of meaningful dimensions (1..=4).
    pub rank: u32,
    /// Element type: [`DTYPE_F16`], or in version 1.1 also [`DTYPE_I8`],
    /// [`DTYPE_I32`], [`DTYPE_F32`].
    pub dtype: u32,
}

const _: () = assert!(core::mem::size_of::<FileHeader>() == 64);
const _: () = assert!(core::mem::size_of::<LayerRecord>() == 64);
const _: () = assert!(core::mem::size_of::<TensorRecord>() == 40);
