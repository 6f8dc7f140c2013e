//! The model metadata: class names, thresholds, expected input bands and
//! normalisation, provenance. Encoded with postcard (SPEC.md describes the
//! wire format) and decoded zero-copy: strings borrow from the file.

use heapless::Vec as HVec;
use serde::{Deserialize, Serialize};

/// Most classes a model file may declare.
pub const MAX_CLASSES: usize = 64;
/// Most input bands a model file may declare.
pub const MAX_BANDS: usize = 16;
/// Most named scores in the provenance.
pub const MAX_SCORES: usize = 16;

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance<'a> {
    /// Architecture name, e.g. `resnet50`.
    pub arch: &'a str,
    /// Training data, e.g. `BigEarthNet-MM v1.0 train split`.
    pub training_data: &'a str,
    /// Epochs trained.
    pub epochs: u32,
    /// Free text on the preprocessing the weights expect (e.g. bicubic upsampling).
    pub preprocessing: &'a str,
    /// Named scores, e.g. `("val_f2", 0.78)`.
    pub scores: HVec<(&'a str, f32), MAX_SCORES>,
}

/// Everything in a model file that is not graph or weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta<'a> {
    /// Class names, output order.
    #[serde(borrow)]
    pub classes: HVec<&'a str, MAX_CLASSES>,
    /// Per-class decision threshold on the sigmoid output, in [0, 1].
    pub thresholds: HVec<f32, MAX_CLASSES>,
    /// Input band names, channel order.
    #[serde(borrow)]
    pub bands: HVec<&'a str, MAX_BANDS>,
    /// Per-band mean the input was normalised with.
    pub mean: HVec<f32, MAX_BANDS>,
    /// Per-band standard deviation the input was normalised with.
    pub std: HVec<f32, MAX_BANDS>,
    /// Provenance.
    #[serde(borrow)]
    pub provenance: Provenance<'a>,
}
