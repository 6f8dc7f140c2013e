//! Value checks of a parsed model file: every weight finite, thresholds in
//! [0, 1], normalisation usable. A checksum only proves the bytes are the
//! ones written; a NaN or infinite weight written by a diverged training run
//! (or re-sealed by hand) would make every input give the same output, so it
//! is refused at load with the tensor, layer and element named.
//!
//! The same holds for a `QConv`'s quantization parameters: a zero, negative
//! or non-finite scale, or a zero point that is not an integer in 0..=255,
//! is refused with the layer, field and index named.
//!
//! Cost: one pass over the f16 payload (a bit test per element), about
//! 10 ms for a ResNet50 (25 M weights), once per load.

use super::file::ModelFile;
use super::layout::{LayerKind, NONE};
use crate::error::{FormatError, Result};

/// f16 exponent bits: all ones means infinity (mantissa 0) or NaN.
const F16_EXP: u16 = 0x7c00;

/// Check the values of `m` (called by [`ModelFile::parse`] after the graph checks).
pub(super) fn values(m: &ModelFile<'_>) -> Result<()> {
    let meta = m.meta();
    for (i, &t) in meta.thresholds.iter().enumerate() {
        if !(0.0..=1.0).contains(&t) {
            return Err(meta_value("thresholds", i, t, "a probability in [0, 1]"));
        }
    }
    for (i, &v) in meta.mean.iter().enumerate() {
        if !v.is_finite() {
            return Err(meta_value("mean", i, v, "a finite number"));
        }
    }
    for (i, &v) in meta.std.iter().enumerate() {
        if !(v.is_finite() && v > 0.0) {
            return Err(meta_value("std", i, v, "a finite number > 0"));
        }
    }
    for (li, l) in m.layers().iter().enumerate() {
        if l.layer_kind() == Some(LayerKind::QConv) {
            quant(m, li, l.input2)?;
        }
    }
    for idx in 0..m.tensors().len() as u32 {
        if let Some(data) = m.tensor_f32(idx) {
            if let Some(k) = data.iter().position(|x| !x.is_finite()) {
                let value = if data[k].is_nan() {
                    "NaN"
                } else if data[k] < 0.0 {
                    "-inf"
                } else {
                    "inf"
                };
                let (layer, role) = user(m, idx);
                return Err(FormatError::NonFinite { tensor: idx, layer, role, index: k as u64, value });
            }
        }
        let Some(data) = m.tensor(idx) else { continue };
        if let Some(k) = data.iter().position(|x| x.to_bits() & F16_EXP == F16_EXP) {
            let x = data[k];
            let value = if x.is_nan() {
                "NaN"
            } else if x.is_sign_negative() {
                "-inf"
            } else {
                "inf"
            };
            let (layer, role) = user(m, idx);
            return Err(FormatError::NonFinite { tensor: idx, layer, role, index: k as u64, value });
        }
    }
    Ok(())
}

/// The layer that uses tensor `idx` and its role there (the first, when shared).
fn user(m: &ModelFile<'_>, idx: u32) -> (u32, &'static str) {
    m.layers()
        .iter()
        .enumerate()
        .find_map(|(li, l)| match idx {
            _ if l.weight == idx => Some((li as u32, "weight")),
            _ if l.bias == idx => Some((li as u32, "bias")),
            _ if l.layer_kind() == Some(LayerKind::QConv) && l.input2 == idx => Some((li as u32, "quant")),
            _ => None,
        })
        .unwrap_or((NONE, "unused"))
}

/// Check the quantization parameters (tensor `idx`, f32 `[out_c + 2]`,
/// shape and type already validated) of `QConv` layer `layer`.
fn quant(m: &ModelFile<'_>, layer: usize, idx: u32) -> Result<()> {
    let p = m.tensor_f32(idx).unwrap_or(&[]);
    let err = |field, index: usize, v: f32, expected| FormatError::Quant {
        layer: layer as u32,
        field,
        index: index as u32,
        value_bits: v.to_bits(),
        expected,
    };
    let scale_ok = |v: f32| v.is_finite() && v > 0.0;
    if let Some(&s) = p.first().filter(|&&s| !scale_ok(s)) {
        return Err(err("input_scale", 0, s, "a finite number > 0"));
    }
    if let Some(&z) = p.get(1).filter(|&&z| !(0.0..=255.0).contains(&z) || z as u8 as f32 != z) {
        return Err(err("input_zero_point", 0, z, "an integer in 0..=255"));
    }
    if let Some((o, &s)) = p.iter().skip(2).enumerate().find(|(_, &s)| !scale_ok(s)) {
        return Err(err("weight_scale", o, s, "a finite number > 0"));
    }
    Ok(())
}

fn meta_value(field: &'static str, index: usize, value: f32, expected: &'static str) -> FormatError {
    FormatError::MetaValue { field, index: index as u32, value_bits: value.to_bits(), expected }
}
