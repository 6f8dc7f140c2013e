//! Parsing and validation of model files: [`ModelFile::parse`] checks the
//! header, tables, graph and metadata (values: [`super::validate`]).

use super::file::{ModelFile, Shape, MAX_DIM, MAX_KERNEL, MAX_LAYERS, MAX_QCONV_DEPTH, MAX_TENSOR_ELEMS, MODEL_ALIGN};
use super::layout::*;
use super::meta::ModelMeta;
use crate::checksum::xxh64;
use crate::error::{FormatError, Result};
use crate::pod::{align_up, region, slice};
use crate::preamble::check_magic_and_version;

const WHAT: &str = "model file";

fn graph(layer: usize, problem: &'static str, value: u64) -> FormatError {
    FormatError::Graph { layer: layer as u32, problem, value }
}

fn invalid(field: &'static str, value: u64, expected: &'static str) -> FormatError {
    FormatError::Invalid { what: WHAT, field, value, expected }
}

impl<'a> ModelFile<'a> {
    /// Parse and validate a model file. `bytes` must start at the file's first
    /// byte, at a [`MODEL_ALIGN`] (8) byte aligned address (the tensor table
    /// holds `u64` fields; memory maps are page aligned); a misaligned slice
    /// gives [`FormatError::Misaligned`] with field `start address`, checked
    /// once the header shows a model file. Trailing bytes after `file_len`
    /// are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let header: FileHeader = crate::pod::header(bytes, WHAT, MAGIC)?;
        check_magic_and_version(WHAT, header.magic, MAGIC, header.version_major, header.version_minor, VERSION_MAJOR)?;
        if header.header_size != 64 {
            return Err(invalid("header_size", header.header_size as u64, "64"));
        }
        if !(bytes.as_ptr() as usize).is_multiple_of(MODEL_ALIGN) {
            return Err(FormatError::Misaligned {
                what: WHAT,
                field: "start address",
                offset: 0,
                align: MODEL_ALIGN as u64,
            });
        }
        if header.file_len < 72 {
            return Err(invalid("file_len", header.file_len, "at least 72 (header and checksum)"));
        }
        crate::pod::declared_len(bytes, WHAT, header.file_len)?;
        let file = &bytes[..header.file_len as usize];
        let body_len = file.len() - 8;
        let stored = u64::from_le_bytes(file[body_len..].try_into().unwrap_or([0; 8]));
        let computed = xxh64(&file[..body_len]);
        if stored != computed {
            return Err(FormatError::Checksum { what: WHAT, region: "bytes 0..file_len-8", stored, computed });
        }
        if header.num_layers == 0 || header.num_layers > MAX_LAYERS {
            return Err(invalid("num_layers", header.num_layers as u64, "1..=4096"));
        }
        // Tables and metadata lie before the checksum, never over it.
        let body = &file[..body_len];
        let layers_off = 64u64;
        let layers: &[LayerRecord] = slice(body, "layer table", layers_off, header.num_layers as u64)?;
        let tensors_off = layers_off + 64 * header.num_layers as u64;
        let tensors: &[TensorRecord] = slice(body, "tensor table", tensors_off, header.num_tensors as u64)?;
        let meta_off = tensors_off + 40 * header.num_tensors as u64;
        let meta_bytes = region(body, "model metadata", meta_off, header.meta_len as u64)?;
        let payload_start = align_up(meta_off + header.meta_len as u64, 64).ok_or(invalid(
            "meta_len",
            header.meta_len as u64,
            "a length inside the file",
        ))?;
        let (meta, rest) = postcard::take_from_bytes::<ModelMeta<'a>>(meta_bytes)
            .map_err(|_| FormatError::Meta { problem: "not a valid postcard-encoded ModelMeta" })?;
        if !rest.is_empty() {
            return Err(FormatError::Meta { problem: "trailing bytes after the metadata" });
        }
        let m = ModelFile { bytes: file, header, layers, tensors, meta };
        m.validate_tensors(payload_start, body_len as u64, header.version_minor)?;
        m.validate_graph()?;
        super::validate::values(&m)?;
        m.validate_meta()?;
        Ok(m)
    }

    fn validate_tensors(&self, payload_start: u64, payload_end: u64, minor: u16) -> Result<()> {
        for t in self.tensors {
            let what = "tensor record";
            let size = match dtype_size(t.dtype) {
                Some(size) if minor >= VERSION_MINOR_INT8 || t.dtype == DTYPE_F16 => size,
                _ if minor < VERSION_MINOR_INT8 => {
                    return Err(FormatError::Invalid {
                        what,
                        field: "dtype",
                        value: t.dtype as u64,
                        expected: "1 (f16) in a version 1.0 file",
                    })
                }
                _ => {
                    return Err(FormatError::Invalid {
                        what,
                        field: "dtype",
                        value: t.dtype as u64,
                        expected: "1 (f16), 2 (i8), 3 (i32) or 4 (f32)",
                    })
                }
            };
            if t.rank == 0 || t.rank > 4 {
                return Err(FormatError::Invalid { what, field: "rank", value: t.rank as u64, expected: "1..=4" });
            }
            let mut n: u64 = 1;
            for (d, &v) in t.dims.iter().enumerate() {
                if (d as u32) < t.rank {
                    n = n.saturating_mul(v as u64);
                } else if v != 0 {
                    return Err(FormatError::Invalid { what, field: "dims", value: v as u64, expected: "0 past rank" });
                }
            }
            if n != t.elements || n == 0 || n > MAX_TENSOR_ELEMS {
                return Err(FormatError::Invalid {
                    what,
                    field: "elements",
                    value: t.elements,
                    expected: "the product of dims, non-zero, at most 2^31",
                });
            }
            if t.offset % 64 != 0 {
                return Err(FormatError::Misaligned { what, field: "offset", offset: t.offset, align: 64 });
            }
            let end = t.offset.checked_add(t.elements * size);
            if t.offset < payload_start || end.is_none_or(|e| e > payload_end) {
                return Err(FormatError::Invalid {
                    what,
                    field: "offset",
                    value: t.offset,
                    expected: "data inside the weight payload",
                });
            }
            region(self.bytes, "tensor data", t.offset, t.elements * size)?;
        }
        Ok(())
    }

    /// Check that tensor `idx`, the layer's `field` (`weight`, `bias` or
    /// `quant`), exists with dims `want` and type `dtype`.
    fn tensor_dims(&self, layer: usize, idx: u32, field: &'static str, want: &[u32], dtype: u32) -> Result<()> {
        let pick = |weight, bias, quant| match field {
            "weight" => weight,
            "bias" => bias,
            _ => quant,
        };
        let t = self.tensors.get(idx as usize).ok_or(graph(
            layer,
            pick(
                "weight tensor index out of range",
                "bias tensor index out of range",
                "quantization parameter tensor index out of range",
            ),
            idx as u64,
        ))?;
        if t.rank as usize != want.len() || t.dims[..want.len()] != *want {
            return Err(graph(
                layer,
                pick(
                    "weight tensor shape does not match the layer",
                    "bias tensor shape does not match the layer",
                    "quantization parameter tensor must be [out_c + 2]",
                ),
                t.elements,
            ));
        }
        if t.dtype != dtype {
            return Err(graph(
                layer,
                pick(
                    "weight tensor type does not match the layer (f16; QConv: i8)",
                    "bias tensor type does not match the layer (f16; QConv: i32)",
                    "quantization parameter tensor must be f32",
                ),
                t.dtype as u64,
            ));
        }
        Ok(())
    }

    fn validate_graph(&self) -> Result<()> {
        let h = &self.header;
        for (name, v) in [("input_c", h.input_c), ("input_h", h.input_h), ("input_w", h.input_w)] {
            if v == 0 || v > MAX_DIM {
                return Err(invalid(name, v as u64, "1..=65536"));
            }
        }
        if (h.input_c as u64) * (h.input_h as u64) * (h.input_w as u64) > MAX_TENSOR_ELEMS {
            return Err(invalid(
                "input_c * input_h * input_w",
                h.input_c as u64 * h.input_h as u64 * h.input_w as u64,
                "an input of at most 2^31 elements",
            ));
        }
        for (i, l) in self.layers.iter().enumerate() {
            let kind = l.layer_kind().ok_or(graph(i, "unknown layer kind", l.kind as u64))?;
            if l.flags & !FLAG_RELU != 0 {
                return Err(graph(i, "unknown flag bits", l.flags as u64));
            }
            let src = self.source_shape(i, l.input)?;
            let (ic, ih, iw) = (l.in_c, l.in_h, l.in_w);
            if kind == LayerKind::Linear {
                if ic as u64 != src.len() as u64 || ih != 1 || iw != 1 {
                    return Err(graph(
                        i,
                        "linear in_c must equal the flattened input size, in_h = in_w = 1",
                        ic as u64,
                    ));
                }
            } else if (ic, ih, iw) != (src.c, src.h, src.w) {
                return Err(graph(i, "input shape does not match the producing layer's output", ic as u64));
            }
            for v in [l.out_c, l.out_h, l.out_w] {
                if v == 0 || v > MAX_DIM {
                    return Err(graph(i, "output dimension outside 1..=65536", v as u64));
                }
            }
            if (l.out_c as u64) * (l.out_h as u64) * (l.out_w as u64) > MAX_TENSOR_ELEMS {
                return Err(graph(i, "output larger than 2^31 elements", l.out_c as u64));
            }
            let needs_weights = matches!(kind, LayerKind::Conv | LayerKind::Linear | LayerKind::QConv);
            if !needs_weights && (l.weight != NONE || l.bias != NONE) {
                return Err(graph(i, "this layer kind takes no tensors", l.weight as u64));
            }
            if !matches!(kind, LayerKind::Add | LayerKind::QConv) && l.input2 != NONE {
                return Err(graph(i, "only add layers take a second input", l.input2 as u64));
            }
            let quant = kind == LayerKind::QConv;
            if quant && self.header.version_minor < VERSION_MINOR_INT8 {
                return Err(graph(i, "quantized convolution (kind 9) in a version 1.0 file", l.kind as u64));
            }
            match kind {
                LayerKind::Conv | LayerKind::QConv | LayerKind::MaxPool | LayerKind::AvgPool => {
                    let (kh, kw, s, p) = (l.kernel_h, l.kernel_w, l.stride, l.pad);
                    if kh == 0 || kw == 0 || kh > MAX_KERNEL || kw > MAX_KERNEL {
                        return Err(graph(i, "kernel side outside 1..=64", kh.max(kw) as u64));
                    }
                    if s == 0 || s > MAX_KERNEL {
                        return Err(graph(i, "stride outside 1..=64", s as u64));
                    }
                    let conv = matches!(kind, LayerKind::Conv | LayerKind::QConv);
                    if p > MAX_KERNEL || (!conv && 2 * p > kh.min(kw)) {
                        return Err(graph(i, "padding too large for the kernel", p as u64));
                    }
                    let eh = ih + 2 * p;
                    let ew = iw + 2 * p;
                    if eh < kh || ew < kw {
                        return Err(graph(i, "kernel larger than the padded input", kh as u64));
                    }
                    let (oh, ow) = ((eh - kh) / s + 1, (ew - kw) / s + 1);
                    if (l.out_h, l.out_w) != (oh, ow) {
                        return Err(graph(
                            i,
                            "output size does not follow from input, kernel, stride and padding",
                            l.out_h as u64,
                        ));
                    }
                    if conv {
                        if l.weight == NONE {
                            return Err(graph(i, "convolution without weights", 0));
                        }
                        let dtype = if quant { DTYPE_I8 } else { DTYPE_F16 };
                        self.tensor_dims(i, l.weight, "weight", &[l.out_c, ic, kh, kw], dtype)?;
                    } else if l.out_c != ic {
                        return Err(graph(i, "pooling must keep the channel count", l.out_c as u64));
                    }
                }
                LayerKind::Relu | LayerKind::Sigmoid | LayerKind::Add => {
                    if (l.out_c, l.out_h, l.out_w) != (ic, ih, iw) {
                        return Err(graph(i, "element-wise layer must keep its input shape", l.out_c as u64));
                    }
                    if kind == LayerKind::Add {
                        if l.input2 == NONE {
                            return Err(graph(i, "add without a second input", 0));
                        }
                        let s2 = self.source_shape(i, l.input2)?;
                        if s2 != src {
                            return Err(graph(i, "add operands differ in shape", s2.c as u64));
                        }
                    }
                }
                LayerKind::GlobalAvgPool => {
                    if (l.out_c, l.out_h, l.out_w) != (ic, 1, 1) {
                        return Err(graph(i, "global average pool must output C x 1 x 1", l.out_c as u64));
                    }
                }
                LayerKind::Linear => {
                    if l.out_h != 1 || l.out_w != 1 {
                        return Err(graph(i, "linear output must be N x 1 x 1", l.out_h as u64));
                    }
                    if l.weight == NONE {
                        return Err(graph(i, "linear layer without weights", 0));
                    }
                    self.tensor_dims(i, l.weight, "weight", &[l.out_c, ic], DTYPE_F16)?;
                }
            }
            if needs_weights && l.bias != NONE {
                self.tensor_dims(i, l.bias, "bias", &[l.out_c], if quant { DTYPE_I32 } else { DTYPE_F16 })?;
            }
            if quant {
                let depth = ic as u64 * l.kernel_h as u64 * l.kernel_w as u64;
                if depth > MAX_QCONV_DEPTH {
                    return Err(graph(i, "quantized convolution deeper than in_c*kh*kw = 65536", depth));
                }
                if l.input2 == NONE {
                    return Err(graph(i, "quantized convolution without quantization parameters", 0));
                }
                self.tensor_dims(i, l.input2, "quant", &[l.out_c + 2], DTYPE_F32)?;
            }
        }
        let n = self.header.num_layers;
        if h.output_layer >= n {
            return Err(invalid("output_layer", h.output_layer as u64, "a layer index"));
        }
        if h.feature_layer >= n {
            return Err(invalid("feature_layer", h.feature_layer as u64, "a layer index"));
        }
        if self.layers[h.output_layer as usize].out_len() != h.num_classes as usize || h.num_classes == 0 {
            return Err(invalid("num_classes", h.num_classes as u64, "the element count of the output layer"));
        }
        Ok(())
    }

    fn source_shape(&self, layer: usize, input: u32) -> Result<Shape> {
        if input == INPUT {
            let h = &self.header;
            return Ok(Shape { c: h.input_c, h: h.input_h, w: h.input_w });
        }
        if (input as usize) >= layer {
            return Err(graph(
                layer,
                "input is not an earlier layer (graph must be topologically ordered)",
                input as u64,
            ));
        }
        let p = &self.layers[input as usize];
        Ok(Shape { c: p.out_c, h: p.out_h, w: p.out_w })
    }

    fn validate_meta(&self) -> Result<()> {
        let m = &self.meta;
        let nc = self.header.num_classes as usize;
        if m.classes.len() != nc {
            return Err(FormatError::Meta { problem: "number of class names differs from num_classes" });
        }
        if m.thresholds.len() != nc || m.thresholds.iter().any(|t| !(0.0..=1.0).contains(t)) {
            return Err(FormatError::Meta { problem: "thresholds must be one per class, each in [0, 1]" });
        }
        let nb = self.header.input_c as usize;
        if m.bands.len() != nb || m.mean.len() != nb || m.std.len() != nb {
            return Err(FormatError::Meta { problem: "bands, mean and std must have one entry per input channel" });
        }
        if m.mean.iter().any(|v| !v.is_finite()) || m.std.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(FormatError::Meta { problem: "mean must be finite and std finite and positive" });
        }
        Ok(())
    }
}
