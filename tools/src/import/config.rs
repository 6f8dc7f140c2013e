//! The import config: a small JSON file describing foreign weights, e.g. for
//! a BIFOLD BigEarthNet v2.0 model:
//!
//! ```json
//! {
//!   "prefix": "model.vision_encoder.",
//!   "band_order": ["B02","B03","B04","B08","B05","B06","B07","B11","B12","B8A","VH","VV"],
//!   "class_order": "alphabetical",
//!   "mean": [...], "std": [...],
//!   "preprocessing": "nearest-neighbour upsampling of 20 m bands"
//! }
//! ```
//!
//! `class_order` is `"official"`, `"alphabetical"`, a list of names, or a
//! path to a file of names. Command-line options override the file.

use super::{order, ClassOrder, ImportError};
use serde::Deserialize;
use std::path::Path;

/// Class order as written in the config: a keyword/path or a list.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ClassOrderSpec {
    /// `official`, `alphabetical`, or a path to a file of names.
    Word(String),
    /// The names, one per classifier row.
    List(Vec<String>),
}

/// Everything that describes a source besides its tensors. All optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImportConfig {
    /// Tensor name prefix (e.g. `model.`); detected when absent.
    pub prefix: Option<String>,
    /// The stem's bands in the source's order.
    pub band_order: Option<Vec<String>>,
    /// The classifier's class order.
    pub class_order: Option<ClassOrderSpec>,
    /// Per-band mean the source normalised with, in `band_order`.
    pub mean: Option<Vec<f32>>,
    /// Per-band std the source normalised with, in `band_order`.
    pub std: Option<Vec<f32>>,
    /// Free text: the preprocessing the weights expect (resampling etc.).
    pub preprocessing: Option<String>,
    /// Free text: what the weights were trained on.
    pub training_data: Option<String>,
    /// Batch-norm epsilon (default 1e-5).
    pub bn_eps: Option<f32>,
}

impl ImportConfig {
    /// Read a config file.
    pub fn load(path: &Path) -> Result<Self, ImportError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ImportError::Io { path: path.to_path_buf(), source: e })?;
        serde_json::from_str(&text).map_err(|e| ImportError::Config {
            path: path.to_path_buf(),
            problem: format!("invalid import config: {e}"),
        })
    }

    /// The class order (official when unset).
    pub fn class_order(&self) -> Result<ClassOrder, ImportError> {
        match &self.class_order {
            None => Ok(ClassOrder::Official),
            Some(ClassOrderSpec::Word(w)) => ClassOrder::parse(w),
            Some(ClassOrderSpec::List(v)) => Ok(ClassOrder::Names(v.clone())),
        }
    }

    /// The band order in canonical names (None when unset).
    pub fn band_order(&self) -> Result<Option<Vec<String>>, ImportError> {
        match &self.band_order {
            None => Ok(None),
            Some(v) => v.iter().map(|b| order::canonical_band(b)).collect::<Result<Vec<_>, _>>().map(Some),
        }
    }
}
