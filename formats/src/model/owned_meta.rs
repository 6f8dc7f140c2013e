//! [`OwnedMeta`]: model metadata owned by a writer (`alloc`).

use super::meta::{ModelMeta, Provenance};
use crate::bands::{BAND_MEAN, BAND_NAMES, BAND_STD};
use crate::error::{FormatError, Result};
use crate::labels::CLASS_NAMES;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Owned counterpart of [`ModelMeta`], for writers.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedMeta {
    /// Class names, output order.
    pub classes: Vec<String>,
    /// Per-class thresholds.
    pub thresholds: Vec<f32>,
    /// Input band names.
    pub bands: Vec<String>,
    /// Per-band mean.
    pub mean: Vec<f32>,
    /// Per-band std.
    pub std: Vec<f32>,
    /// Architecture name.
    pub arch: String,
    /// Training data.
    pub training_data: String,
    /// Epochs trained.
    pub epochs: u32,
    /// Preprocessing the weights expect.
    pub preprocessing: String,
    /// Named scores.
    pub scores: Vec<(String, f32)>,
}

impl OwnedMeta {
    /// Metadata for a model over the given channels of the project's 12-band
    /// stack (indices into [`BAND_NAMES`]), 19 official classes, threshold 0.5.
    pub fn bigearthnet(arch: &str, channels: &[usize]) -> Self {
        OwnedMeta {
            classes: CLASS_NAMES.iter().map(|c| c.to_string()).collect(),
            thresholds: alloc::vec![0.5; CLASS_NAMES.len()],
            bands: channels.iter().map(|&c| BAND_NAMES[c].to_string()).collect(),
            mean: channels.iter().map(|&c| BAND_MEAN[c] as f32).collect(),
            std: channels.iter().map(|&c| BAND_STD[c] as f32).collect(),
            arch: arch.to_string(),
            training_data: String::new(),
            epochs: 0,
            preprocessing: "bicubic (A=-0.75, half-pixel) upsampling of 20 m bands; (x-mean)/std".to_string(),
            scores: Vec::new(),
        }
    }

    /// Borrowed view (fails when a list exceeds the format's capacity).
    pub fn as_meta(&self) -> Result<ModelMeta<'_>> {
        fn hv<T: Clone, const N: usize>(v: impl Iterator<Item = T>) -> Result<heapless::Vec<T, N>> {
            let mut out = heapless::Vec::new();
            for x in v {
                out.push(x).map_err(|_| FormatError::Meta { problem: "too many entries for the format's capacity" })?;
            }
            Ok(out)
        }
        Ok(ModelMeta {
            classes: hv(self.classes.iter().map(|s| s.as_str()))?,
            thresholds: hv(self.thresholds.iter().copied())?,
            bands: hv(self.bands.iter().map(|s| s.as_str()))?,
            mean: hv(self.mean.iter().copied())?,
            std: hv(self.std.iter().copied())?,
            provenance: Provenance {
                arch: &self.arch,
                training_data: &self.training_data,
                epochs: self.epochs,
                preprocessing: &self.preprocessing,
                scores: hv(self.scores.iter().map(|(k, v)| (k.as_str(), *v)))?,
            },
        })
    }

    /// Owned copy of a parsed model's metadata.
    pub fn from_meta(m: &ModelMeta<'_>) -> Self {
        OwnedMeta {
            classes: m.classes.iter().map(|s| s.to_string()).collect(),
            thresholds: m.thresholds.to_vec(),
            bands: m.bands.iter().map(|s| s.to_string()).collect(),
            mean: m.mean.to_vec(),
            std: m.std.to_vec(),
            arch: m.provenance.arch.to_string(),
            training_data: m.provenance.training_data.to_string(),
            epochs: m.provenance.epochs,
            preprocessing: m.provenance.preprocessing.to_string(),
            scores: m.provenance.scores.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }
}
