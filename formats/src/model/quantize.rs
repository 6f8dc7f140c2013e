//! Per-output-channel symmetric int8 quantization of a float convolution
//! (`alloc`): the tensors a `QConv` layer stores.

use alloc::vec::Vec;

/// The tensors of a `QConv` layer: int8 weights (symmetric, per output
/// channel), an i32 bias, and the input's scale and zero point.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantConv {
    /// `[out_c, in_c, k, k]` (OIHW, row-major); real weight `o` is `weight_scales[o] * w`.
    pub weight: Vec<i8>,
    /// `[out_c]`, in units of `input_scale * weight_scales[o]`.
    pub bias: Vec<i32>,
    /// Real units per input quantization step (finite, > 0).
    pub input_scale: f32,
    /// The u8 value that stands for a real input 0.
    pub input_zero_point: u8,
    /// `[out_c]` real units per weight step (finite, > 0).
    pub weight_scales: Vec<f32>,
}

/// The range of quantized weights: 8 bits (`|w| <= 127`) or 7 bits
/// (`|w| <= 63`). Both are stored as i8; 7-bit weights give up one bit of
/// weight precision so that CPUs without integer dot products (x86 with
/// AVX2 only) can multiply them with `vpmaddubsw`, whose 16-bit pair sums
/// saturate for larger weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightBits {
    /// `|w| <= 127`.
    #[default]
    Eight,
    /// `|w| <= 63`.
    Seven,
}

impl WeightBits {
    /// The largest quantized weight magnitude.
    pub fn max(self) -> i8 {
        match self {
            WeightBits::Eight => 127,
            WeightBits::Seven => 63,
        }
    }

    /// Bits per weight, sign included.
    pub fn bits(self) -> u32 {
        match self {
            WeightBits::Eight => 8,
            WeightBits::Seven => 7,
        }
    }
}

/// Quantize a float convolution (`weight` `[out_c, ...]` row-major, `bias`
/// `[out_c]`) for an input quantized with `input_scale` and
/// `input_zero_point`: per output channel symmetric weights,
/// `weight_scales[o] = max |w[o, ...]| / bits.max()` (1 for an all-zero
/// channel), `w = round(w / weight_scales[o])`, `bias = round(b /
/// (input_scale * weight_scales[o]))` (saturating at the i32 range).
pub fn quantize_conv(
    weight: &[f32],
    bias: &[f32],
    input_scale: f32,
    input_zero_point: u8,
    bits: WeightBits,
) -> QuantConv {
    let out_c = bias.len().max(1);
    let per = weight.len() / out_c;
    let mut q = QuantConv {
        weight: Vec::with_capacity(weight.len()),
        bias: Vec::with_capacity(bias.len()),
        input_scale,
        input_zero_point,
        weight_scales: Vec::with_capacity(bias.len()),
    };
    for (o, &b) in bias.iter().enumerate() {
        let row = &weight[o * per..(o + 1) * per];
        let max = row.iter().fold(0f32, |m, w| m.max(w.abs()));
        let top = f32::from(bits.max());
        let scale = if max > 0.0 && max.is_finite() { max / top } else { 1.0 };
        q.weight.extend(row.iter().map(|w| round(w / scale).clamp(-top, top) as i8));
        q.bias.push(round(b / (input_scale * scale)).clamp(i32::MIN as f32, i32::MAX as f32) as i32);
        q.weight_scales.push(scale);
    }
    q
}

/// Round half away from zero without `std` (`f32::round` needs it).
fn round(x: f32) -> f32 {
    let t = x.abs() + 0.5;
    let r = if t >= 8_388_608.0 { x.abs() } else { (t as u64) as f32 };
    if x < 0.0 {
        -r
    } else {
        r
    }
}
