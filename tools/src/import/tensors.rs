//! Reading a safetensors state dict: every float tensor (F32, F16, BF16,
//! F64) under the model's name prefix decoded to f32, the prefix detected
//! from the stem's name when not given.

use super::ImportError;
use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

/// One decoded tensor: row-major f32 values and their shape.
#[derive(Debug, Clone)]
pub(super) struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The tensors of a file under one name prefix.
pub(super) struct StateDict {
    /// The name prefix (given or detected).
    pub prefix: String,
    /// Float tensors by name without the prefix, decoded to f32.
    pub tensors: BTreeMap<String, Tensor>,
    /// Names (without prefix) of non-float tensors (e.g. `num_batches_tracked`).
    pub non_float: BTreeMap<String, Dtype>,
}

/// Decode the safetensors file `bytes` (`path` names it in errors): the
/// tensors under `prefix`, or under the detected one when `None`. A file
/// without a float tensor under the prefix is an error.
pub(super) fn read(path: &Path, bytes: &[u8], prefix: Option<&str>) -> Result<StateDict, ImportError> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| ImportError::Safetensors { path: path.to_path_buf(), problem: e.to_string() })?;
    let names = st.names();
    let prefix = match prefix {
        Some(p) => p.to_string(),
        None => detect_prefix(&names),
    };
    let mut tensors = BTreeMap::new();
    let mut non_float = BTreeMap::new();
    for (name, view) in st.iter() {
        let Some(short) = name.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F16 => raw.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::BF16 => raw.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::F64 => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
                .collect(),
            other => {
                non_float.insert(short.to_string(), other);
                continue;
            }
        };
        tensors.insert(short.to_string(), Tensor { shape: view.shape().to_vec(), data });
    }
    if tensors.is_empty() {
        return Err(ImportError::Safetensors {
            path: path.to_path_buf(),
            problem: format!("no float tensors under the prefix `{prefix}` ({} tensors in the file)", names.len()),
        });
    }
    Ok(StateDict { prefix, tensors, non_float })
}

/// Prefix before `conv1.weight` / `features.0.weight` (shortest such), or "".
fn detect_prefix(names: &[&str]) -> String {
    let mut best: Option<&str> = None;
    for n in names {
        for anchor in ["conv1.weight", "features.0.weight"] {
            if let Some(p) = n.strip_suffix(anchor) {
                if (p.is_empty() || p.ends_with('.')) && best.is_none_or(|b| p.len() < b.len()) {
                    best = Some(p);
                }
            }
        }
    }
    best.unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_prefix_is_detected_from_the_stem() {
        let names =
            ["model.vision_encoder.layer1.0.conv1.weight", "model.vision_encoder.conv1.weight", "loss.pos_weight"];
        assert_eq!(detect_prefix(&names), "model.vision_encoder.");
        assert_eq!(detect_prefix(&["module.features.0.weight", "module.features.1.running_mean"]), "module.");
        assert_eq!(detect_prefix(&["conv1.weight", "layer1.0.conv1.weight"]), "");
        // `xconv1.weight` is not a module boundary.
        assert_eq!(detect_prefix(&["xconv1.weight"]), "");
    }
}
