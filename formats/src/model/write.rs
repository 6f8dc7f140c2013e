//! Building model files in memory (`alloc`).
//!
//! [`GraphBuilder`] computes every shape as layers are added, so callers only
//! state kernels and channel counts; [`ModelBuilder::to_bytes`] lays the file
//! out and re-parses it, so a builder can never emit a file the engine rejects.

use super::file::{ModelFile, Shape, MAX_KERNEL};
use super::layout::*;
use super::owned_meta::OwnedMeta;
use super::quantize::{quantize_conv, QuantConv, WeightBits};
use crate::checksum::xxh64;
use crate::error::{FormatError, Result};
use alloc::vec::Vec;
use half::f16;

/// A layer being built: its record and the tensors it owns.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// The record (tensor indices are filled in by [`ModelBuilder::to_bytes`]).
    pub record: LayerRecord,
    /// Weights in the layout of [`LayerRecord::weight`] (stored as f16).
    pub weight: Option<Vec<f32>>,
    /// Bias `[out_c]` (stored as f16).
    pub bias: Option<Vec<f32>>,
    /// The int8 tensors of a `QConv` layer (then `weight` and `bias` are `None`).
    pub quant: Option<QuantConv>,
}

/// Builds a layer graph, computing output shapes.
#[derive(Debug, Clone)]
pub struct GraphBuilder {
    input: Shape,
    layers: Vec<LayerSpec>,
}

fn shape_err(problem: &'static str, value: u64) -> FormatError {
    FormatError::Graph { layer: u32::MAX, problem, value }
}

impl GraphBuilder {
    /// A graph over inputs of shape `c x h x w`.
    pub fn new(c: u32, h: u32, w: u32) -> Self {
        GraphBuilder { input: Shape { c, h, w }, layers: Vec::new() }
    }

    /// Id of the graph input, usable wherever a layer id is.
    pub const INPUT: u32 = INPUT;

    /// Output shape of layer `id` (or of the input for [`Self::INPUT`]).
    pub fn shape(&self, id: u32) -> Result<Shape> {
        if id == INPUT {
            return Ok(self.input);
        }
        self.layers
            .get(id as usize)
            .map(|l| Shape { c: l.record.out_c, h: l.record.out_h, w: l.record.out_w })
            .ok_or(shape_err("unknown layer id", id as u64))
    }

    /// Layers added so far.
    pub fn layers(&self) -> &[LayerSpec] {
        &self.layers
    }

    /// The layers [`LayerRecord::quantizable`] picks, in order: what
    /// [`GraphBuilder::quantize`] accepts for an int8 twin.
    pub fn quantizable(&self) -> Vec<u32> {
        (0..self.layers.len() as u32).filter(|&i| self.layers[i as usize].record.quantizable()).collect()
    }

    fn push(
        &mut self,
        mut record: LayerRecord,
        input: u32,
        weight: Option<Vec<f32>>,
        bias: Option<Vec<f32>>,
    ) -> Result<u32> {
        let s = self.shape(input)?;
        record.input = input;
        if record.kind != LayerKind::Linear as u32 {
            record.in_c = s.c;
            record.in_h = s.h;
            record.in_w = s.w;
        }
        // Only `Add` has a second operand; every other kind stores NONE there.
        // (Testing for 0 instead would turn `add(x, 0)` into a one-input add.)
        if record.kind != LayerKind::Add as u32 {
            record.input2 = NONE;
        }
        record.weight = NONE;
        record.bias = NONE;
        self.layers.push(LayerSpec { record, weight, bias, quant: None });
        Ok(self.layers.len() as u32 - 1)
    }

    fn window(s: Shape, k: u32, stride: u32, pad: u32) -> Result<(u32, u32)> {
        if k == 0 || k > MAX_KERNEL || stride == 0 || stride > MAX_KERNEL || pad > MAX_KERNEL {
            return Err(shape_err("kernel, stride and padding must be in 1..=64 (padding 0..=64)", k as u64));
        }
        let eh = s.h as u64 + 2 * pad as u64;
        let ew = s.w as u64 + 2 * pad as u64;
        let k64 = k as u64;
        if eh < k64 || ew < k64 {
            return Err(shape_err("kernel larger than the padded input", k as u64));
        }
        Ok((((eh - k64) / stride as u64 + 1) as u32, ((ew - k64) / stride as u64 + 1) as u32))
    }

    /// The record of a square `k x k` window layer of kind `kind` (a
    /// convolution or a pool) over an input of shape `s`: its output shape
    /// computed, tensors unset.
    fn window_record(
        kind: LayerKind,
        s: Shape,
        out_c: u32,
        k: u32,
        stride: u32,
        pad: u32,
        relu: bool,
    ) -> Result<LayerRecord> {
        let (oh, ow) = Self::window(s, k, stride, pad)?;
        Ok(LayerRecord {
            kind: kind as u32,
            flags: if relu { FLAG_RELU } else { 0 },
            out_c,
            out_h: oh,
            out_w: ow,
            kernel_h: k,
            kernel_w: k,
            stride,
            pad,
            ..zeroed()
        })
    }

    /// Square `k x k` convolution, `out_c` filters, weights `[out_c, in_c, k, k]`
    /// (OIHW, row-major), bias `[out_c]`, optional fused ReLU.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        input: u32,
        out_c: u32,
        k: u32,
        stride: u32,
        pad: u32,
        weight: Vec<f32>,
        bias: Vec<f32>,
        relu: bool,
    ) -> Result<u32> {
        let s = self.shape(input)?;
        let r = Self::window_record(LayerKind::Conv, s, out_c, k, stride, pad, relu)?;
        if weight.len() as u64 != out_c as u64 * s.c as u64 * k as u64 * k as u64 || bias.len() != out_c as usize {
            return Err(shape_err(
                "conv weight or bias length does not match out_c x in_c x k x k",
                weight.len() as u64,
            ));
        }
        self.push(r, input, Some(weight), Some(bias))
    }

    /// Square `k x k` int8 convolution (a `QConv`, version 1.1), `out_c`
    /// filters, tensors `q` (weights `[out_c, in_c, k, k]`, bias and weight
    /// scales `[out_c]`), optional fused ReLU. Its output is float, like
    /// [`GraphBuilder::conv`]'s.
    #[allow(clippy::too_many_arguments)]
    pub fn qconv(
        &mut self,
        input: u32,
        out_c: u32,
        k: u32,
        stride: u32,
        pad: u32,
        q: QuantConv,
        relu: bool,
    ) -> Result<u32> {
        let s = self.shape(input)?;
        let r = Self::window_record(LayerKind::QConv, s, out_c, k, stride, pad, relu)?;
        if q.weight.len() as u64 != out_c as u64 * s.c as u64 * k as u64 * k as u64
            || q.bias.len() != out_c as usize
            || q.weight_scales.len() != out_c as usize
        {
            return Err(shape_err(
                "qconv weight, bias or weight scale length does not match out_c x in_c x k x k",
                q.weight.len() as u64,
            ));
        }
        let id = self.push(r, input, None, None)?;
        self.layers[id as usize].quant = Some(q);
        Ok(id)
    }

    /// Turn convolution `id` into a `QConv` with [`quantize_conv`]'s
    /// weights of `bits`, for an input quantized with `input_scale` and
    /// `input_zero_point` (a float model's int8 twin, layer by layer).
    pub fn quantize(&mut self, id: u32, input_scale: f32, input_zero_point: u8, bits: WeightBits) -> Result<()> {
        let spec = self.layers.get_mut(id as usize).ok_or(shape_err("unknown layer id", id as u64))?;
        let (LayerKind::Conv, Some(w), Some(b)) =
            (LayerKind::from_u32(spec.record.kind).unwrap_or(LayerKind::Relu), spec.weight.take(), spec.bias.take())
        else {
            return Err(shape_err("only a convolution with weights and bias can be quantized", id as u64));
        };
        spec.quant = Some(quantize_conv(&w, &b, input_scale, input_zero_point, bits));
        spec.record.kind = LayerKind::QConv as u32;
        Ok(())
    }

    fn pool(&mut self, kind: LayerKind, input: u32, k: u32, stride: u32, pad: u32) -> Result<u32> {
        let s = self.shape(input)?;
        let r = Self::window_record(kind, s, s.c, k, stride, pad, false)?;
        self.push(r, input, None, None)
    }

    /// Max pooling `k x k`.
    pub fn max_pool(&mut self, input: u32, k: u32, stride: u32, pad: u32) -> Result<u32> {
        self.pool(LayerKind::MaxPool, input, k, stride, pad)
    }

    /// Average pooling `k x k` (divisor counts in-bounds elements only).
    pub fn avg_pool(&mut self, input: u32, k: u32, stride: u32, pad: u32) -> Result<u32> {
        self.pool(LayerKind::AvgPool, input, k, stride, pad)
    }

    fn elementwise(&mut self, kind: LayerKind, input: u32, input2: u32, relu: bool) -> Result<u32> {
        let s = self.shape(input)?;
        let r = LayerRecord {
            kind: kind as u32,
            input2,
            flags: if relu { FLAG_RELU } else { 0 },
            out_c: s.c,
            out_h: s.h,
            out_w: s.w,
            ..zeroed()
        };
        self.push(r, input, None, None)
    }

    /// Residual add `a + b`, optional fused ReLU.
    pub fn add(&mut self, a: u32, b: u32, relu: bool) -> Result<u32> {
        if self.shape(a)? != self.shape(b)? {
            return Err(shape_err("add operands differ in shape", b as u64));
        }
        self.elementwise(LayerKind::Add, a, b, relu)
    }

    /// Stand-alone ReLU.
    pub fn relu(&mut self, input: u32) -> Result<u32> {
        self.elementwise(LayerKind::Relu, input, NONE, false)
    }

    /// Stand-alone sigmoid.
    pub fn sigmoid(&mut self, input: u32) -> Result<u32> {
        self.elementwise(LayerKind::Sigmoid, input, NONE, false)
    }

    /// Global average pool: `C x H x W -> C x 1 x 1`.
    pub fn global_avg_pool(&mut self, input: u32) -> Result<u32> {
        let s = self.shape(input)?;
        let r = LayerRecord { kind: LayerKind::GlobalAvgPool as u32, out_c: s.c, out_h: 1, out_w: 1, ..zeroed() };
        self.push(r, input, None, None)
    }

    /// Fully connected layer over the input flattened in CHW order;
    /// weights `[out, in]` row-major, bias `[out]`.
    pub fn linear(&mut self, input: u32, out: u32, weight: Vec<f32>, bias: Vec<f32>, relu: bool) -> Result<u32> {
        let s = self.shape(input)?;
        let n =
            u32::try_from(s.len()).map_err(|_| shape_err("linear input larger than 2^32 elements", s.len() as u64))?;
        if weight.len() as u64 != out as u64 * n as u64 || bias.len() != out as usize {
            return Err(shape_err("linear weight or bias length does not match out x in", weight.len() as u64));
        }
        let r = LayerRecord {
            kind: LayerKind::Linear as u32,
            flags: if relu { FLAG_RELU } else { 0 },
            in_c: n,
            in_h: 1,
            in_w: 1,
            out_c: out,
            out_h: 1,
            out_w: 1,
            ..zeroed()
        };
        self.push(r, input, Some(weight), Some(bias))
    }
}

impl GraphBuilder {
    /// The project's compact retrieval feature: a fixed, non-negative
    /// block-mean reduction of a (non-negative, post-ReLU) vector to `out`
    /// values, written as a `Linear` layer whose row `j` averages inputs
    /// `[j*n/out, (j+1)*n/out)`. Non-negativity is what chi-square needs.
    pub fn block_mean(&mut self, input: u32, out: u32) -> Result<u32> {
        let n = self.shape(input)?.len();
        let out_us = out as usize;
        if out == 0 || out_us > n {
            return Err(shape_err("block mean needs 1..=input-length outputs", out as u64));
        }
        let mut w = alloc::vec![0f32; out_us * n];
        for j in 0..out_us {
            let (a, b) = (j * n / out_us, (j + 1) * n / out_us);
            for i in a..b {
                w[j * n + i] = 1.0 / (b - a) as f32;
            }
        }
        self.linear(input, out, w, alloc::vec![0.0; out_us], false)
    }
}

/// A tensor's values as the writer stores them.
enum Data<'a> {
    /// f32 values written as f16.
    F16(&'a [f32]),
    I8(&'a [i8]),
    I32(&'a [i32]),
    F32(Vec<f32>),
}

/// Dimension of the compact retrieval feature: 128 f16 values = 256 bytes.
pub const COMPACT_FEATURE_DIM: u32 = 128;

fn zeroed() -> LayerRecord {
    bytemuck::Zeroable::zeroed()
}

/// A complete model: graph, roles of its layers, metadata.
#[derive(Debug, Clone)]
pub struct ModelBuilder {
    /// The layer graph.
    pub graph: GraphBuilder,
    /// Layer id of the class logits.
    pub output: u32,
    /// Layer id of the retrieval feature vector.
    pub feature: u32,
    /// Metadata.
    pub meta: OwnedMeta,
}

impl ModelBuilder {
    /// Serialise to the `.bemm` byte layout (SPEC.md) and validate the result.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta = self.meta.as_meta()?;
        let meta_bytes =
            postcard::to_allocvec(&meta).map_err(|_| FormatError::Meta { problem: "cannot encode metadata" })?;
        let layers_n = self.graph.layers.len();
        let mut records: Vec<LayerRecord> = Vec::with_capacity(layers_n);
        let mut tensors: Vec<TensorRecord> = Vec::new();
        let mut datas: Vec<Data<'_>> = Vec::new();
        let mut minor = VERSION_MINOR;
        for spec in &self.graph.layers {
            let mut r = spec.record;
            let is_conv = r.kind == LayerKind::Conv as u32;
            if let Some(q) = &spec.quant {
                minor = VERSION_MINOR_INT8;
                let dims = [r.out_c, r.in_c, r.kernel_h, r.kernel_w];
                let mut add = |elements: usize, dims, rank, dtype, data| {
                    tensors.push(TensorRecord { offset: 0, elements: elements as u64, dims, rank, dtype });
                    datas.push(data);
                    tensors.len() as u32 - 1
                };
                r.weight = add(q.weight.len(), dims, 4, DTYPE_I8, Data::I8(&q.weight));
                r.bias = add(q.bias.len(), [r.out_c, 0, 0, 0], 1, DTYPE_I32, Data::I32(&q.bias));
                let mut params = alloc::vec![q.input_scale, q.input_zero_point as f32];
                params.extend_from_slice(&q.weight_scales);
                r.input2 = add(params.len(), [r.out_c + 2, 0, 0, 0], 1, DTYPE_F32, Data::F32(params));
                records.push(r);
                continue;
            }
            if let Some(w) = &spec.weight {
                let dims = if is_conv { [r.out_c, r.in_c, r.kernel_h, r.kernel_w] } else { [r.out_c, r.in_c, 0, 0] };
                r.weight = tensors.len() as u32;
                tensors.push(TensorRecord {
                    offset: 0,
                    elements: w.len() as u64,
                    dims,
                    rank: if is_conv { 4 } else { 2 },
                    dtype: DTYPE_F16,
                });
                datas.push(Data::F16(w));
            }
            if let Some(b) = &spec.bias {
                r.bias = tensors.len() as u32;
                tensors.push(TensorRecord {
                    offset: 0,
                    elements: b.len() as u64,
                    dims: [r.out_c, 0, 0, 0],
                    rank: 1,
                    dtype: DTYPE_F16,
                });
                datas.push(Data::F16(b));
            }
            records.push(r);
        }
        let meta_off = 64 + 64 * layers_n + 40 * tensors.len();
        let mut off = (meta_off + meta_bytes.len()).div_ceil(64) * 64;
        for t in tensors.iter_mut() {
            t.offset = off as u64;
            off = (off + t.elements as usize * dtype_size(t.dtype).unwrap_or(2) as usize).div_ceil(64) * 64;
        }
        let file_len = off + 8;
        let s = self.graph.input;
        let out_len = self.graph.shape(self.output)?.len() as u32;
        let header = FileHeader {
            magic: MAGIC,
            version_major: VERSION_MAJOR,
            version_minor: minor,
            header_size: 64,
            num_layers: layers_n as u32,
            num_tensors: tensors.len() as u32,
            meta_len: meta_bytes.len() as u32,
            input_c: s.c,
            input_h: s.h,
            input_w: s.w,
            output_layer: self.output,
            feature_layer: self.feature,
            num_classes: out_len,
            reserved: 0,
            file_len: file_len as u64,
        };
        let mut out = Vec::with_capacity(file_len);
        out.extend_from_slice(bytemuck::bytes_of(&header));
        out.extend_from_slice(bytemuck::cast_slice(&records));
        out.extend_from_slice(bytemuck::cast_slice(&tensors));
        out.extend_from_slice(&meta_bytes);
        for (t, d) in tensors.iter().zip(datas) {
            out.resize(t.offset as usize, 0);
            match d {
                Data::F16(d) => d.iter().for_each(|v| out.extend_from_slice(&f16::from_f32(*v).to_le_bytes())),
                Data::I8(d) => out.extend(d.iter().map(|&v| v as u8)),
                Data::I32(d) => d.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
                Data::F32(d) => d.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            }
        }
        out.resize(off, 0);
        let sum = xxh64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        // Validate through the one real parser; parse needs 8-byte alignment,
        // which a fresh Vec<u8> from the global allocator has in practice, but
        // copy into u64 storage to be certain.
        let words: Vec<u64> = out
            .chunks(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a[..c.len()].copy_from_slice(c);
                u64::from_le_bytes(a)
            })
            .collect();
        let aligned = &bytemuck::cast_slice::<u64, u8>(&words)[..out.len()];
        ModelFile::parse(aligned)?;
        Ok(out)
    }
}
