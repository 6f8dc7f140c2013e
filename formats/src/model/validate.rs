//! Value checks of a parsed model file: every weight finite, thresholds in
//! [0, 1], normalisation usable. A checksum only proves the bytes are the
//! ones written; a NaN or infinite weight written by a diverged training run
//! (or re-sealed by hand) would make every input give the same output, so it
//! is refused at load with the tensor, layer and element named.
//!
//! Cost: one pass over the f16 payload (a bit test per element), about
//! 10 ms for a ResNet50 (25 M weights), once per load.

use super::layout::NONE;
use super::parse::ModelFile;
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
    for idx in 0..m.tensors().len() as u32 {
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
            // Name the layer that uses it (the first, when shared).
            let (layer, role) = m
                .layers()
                .iter()
                .enumerate()
                .find_map(|(li, l)| match idx {
                    _ if l.weight == idx => Some((li as u32, "weight")),
                    _ if l.bias == idx => Some((li as u32, "bias")),
                    _ => None,
                })
                .unwrap_or((NONE, "unused"));
            return Err(FormatError::NonFinite { tensor: idx, layer, role, index: k as u64, value });
        }
    }
    Ok(())
}

fn meta_value(field: &'static str, index: usize, value: f32, expected: &'static str) -> FormatError {
    FormatError::MetaValue { field, index: index as u32, value_bits: value.to_bits(), expected }
}
