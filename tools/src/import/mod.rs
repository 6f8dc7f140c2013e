//! Import PyTorch/timm weights saved as safetensors into a `.bemm` model file.
//!
//! * [`source`]: [`SafetensorsSource`], the [`bemm_engine::arch::WeightSource`]
//!   over a safetensors state dict (torchvision/timm names, shape checks,
//!   classifier class permutation). The trainer's `--init` uses it too.
//!   Beside it: `tensors` (reading and decoding the file), `stem` (the
//!   stem's band mapping) and `pool` (VGG's adaptive pool folded into
//!   `classifier.0`).
//! * [`order`]: band and class orders and their permutations.
//! * [`config`]: the small JSON file describing a source (band order, class
//!   order, normalisation, preprocessing), merged with command-line options.
//!
//! [`import`] ties them together: build the architecture from the source,
//! check that every tensor was used, record the source's band order,
//! normalisation and preprocessing in the model file's metadata.

pub mod config;
pub mod order;
mod pool;
pub mod source;
mod stem;
mod tensors;

pub use config::ImportConfig;
pub use order::{canonical_band, parse_band_list, BandSet, ClassOrder};
pub use source::{Head, SafetensorsSource, SourceOptions};

use bemm_engine::arch::{build, Arch, ArchError};
use bemm_formats::bands::{BAND_MEAN, BAND_NAMES, BAND_STD};
use bemm_formats::labels::NUM_CLASSES;
use bemm_formats::model::{ModelBuilder, OwnedMeta};
use std::path::{Path, PathBuf};

/// Failure to import weights. Messages name the file, the tensor and what
/// was expected.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid safetensors.
    #[error("{}: not a valid safetensors file: {problem}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A tensor the architecture needs is absent.
    #[error("{}: tensor `{name}` is missing (wrong --arch, or the weights use another naming scheme or --prefix?)", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// Full tensor name, prefix included.
        name: String,
    },
    /// A tensor has the wrong shape.
    #[error("{}: tensor `{name}` has shape {found:?}, expected {expected}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// Full tensor name.
        name: String,
        /// The shape the architecture needs.
        expected: String,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a dtype that is not a float.
    #[error("{}: tensor `{name}` has dtype {dtype}, expected F32, F16, BF16 or F64", path.display())]
    Dtype {
        /// The file.
        path: PathBuf,
        /// Full tensor name.
        name: String,
        /// The dtype found.
        dtype: String,
    },
    /// The file holds tensors the architecture does not use.
    #[error("{}: {} tensor(s) not used by the architecture (wrong --arch?): {}", path.display(), names.len(), preview(names))]
    Unknown {
        /// The file.
        path: PathBuf,
        /// Full names of the unused tensors.
        names: Vec<String>,
    },
    /// The stem's bands cannot be mapped.
    #[error("band mapping: {problem}")]
    Bands {
        /// What is wrong.
        problem: String,
    },
    /// The classifier's class order cannot be mapped.
    #[error("class order: {problem}")]
    ClassOrder {
        /// What is wrong.
        problem: String,
    },
    /// A command-line option is malformed.
    #[error("{option}: {problem}")]
    Option {
        /// The option.
        option: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The import config file is malformed.
    #[error("{}: {problem}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The resulting model graph is invalid.
    #[error("building the model: {0}")]
    Model(String),
}

fn preview(names: &[String]) -> String {
    let mut s = names.iter().take(8).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    if names.len() > 8 {
        s.push_str(&format!(", ... ({} more)", names.len() - 8));
    }
    s
}

/// What an import produced, for reporting.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    /// Name prefix of the tensors in the file.
    pub prefix: String,
    /// The source's stem bands, its own order.
    pub source_bands: Vec<String>,
    /// Whether the stem was widened from RGB.
    pub widened: bool,
    /// The class order the classifier was read in.
    pub class_order: String,
}

/// Import `weights` as `arch` reading our `bands`, described by `config`.
/// Returns the model (metadata filled in) and a summary.
pub fn import(
    weights: &Path,
    arch: Arch,
    bands: BandSet,
    config: &ImportConfig,
) -> Result<(ModelBuilder, ImportSummary), ImportError> {
    let channels = bands.channels();
    let class_order = config.class_order()?;
    let opts = SourceOptions {
        prefix: config.prefix.clone(),
        source_bands: config.band_order()?,
        target_channels: channels.clone(),
        head: Head::Import(class_order.clone()),
        bn_eps: config.bn_eps.unwrap_or(1e-5),
    };
    let mut src = SafetensorsSource::open(weights, opts)?;
    let meta = OwnedMeta::bigearthnet(arch.name(), &channels);
    let mut model =
        build(arch, channels.len(), bemm_formats::bands::SIZE, NUM_CLASSES, &mut src, meta).map_err(|e| match e {
            ArchError::Source(e) => e,
            ArchError::Format(f) => ImportError::Model(f.to_string()),
        })?;
    src.finish()?;
    let summary = ImportSummary {
        prefix: src.prefix().to_string(),
        source_bands: src.stem_bands().to_vec(),
        widened: src.widened(),
        class_order: class_order.describe(),
    };
    model.meta = meta_for(weights, arch, &channels, config, &summary)?;
    Ok((model, summary))
}

/// Model-file metadata of an import: our bands (the engine's channel order),
/// the normalisation the source was trained with (mapped to our order; ours
/// where the config gives none), and a preprocessing text naming the
/// source's own band order, class order and resampling.
pub fn meta_for(
    weights: &Path,
    arch: Arch,
    channels: &[usize],
    config: &ImportConfig,
    s: &ImportSummary,
) -> Result<OwnedMeta, ImportError> {
    let mut meta = OwnedMeta::bigearthnet(arch.name(), channels);
    if let (Some(mean), Some(std)) = (&config.mean, &config.std) {
        let src_bands = if s.source_bands.is_empty() {
            channels.iter().map(|&c| BAND_NAMES[c].to_string()).collect()
        } else {
            s.source_bands.clone()
        };
        if mean.len() != src_bands.len() || std.len() != src_bands.len() {
            return Err(ImportError::Option {
                option: "--mean/--std",
                problem: format!(
                    "{} means and {} stds given for {} source bands",
                    mean.len(),
                    std.len(),
                    src_bands.len()
                ),
            });
        }
        for (k, &c) in channels.iter().enumerate() {
            let (m, sd) = match src_bands.iter().position(|b| b == BAND_NAMES[c]) {
                Some(i) => (mean[i], std[i]),
                None => (BAND_MEAN[c] as f32, BAND_STD[c] as f32),
            };
            if !(sd > 0.0 && sd.is_finite() && m.is_finite()) {
                return Err(ImportError::Option {
                    option: "--mean/--std",
                    problem: format!("band {}: mean {m}, std {sd} (std must be > 0)", BAND_NAMES[c]),
                });
            }
            meta.mean[k] = m;
            meta.std[k] = sd;
        }
    } else if config.mean.is_some() || config.std.is_some() {
        return Err(ImportError::Option { option: "--mean/--std", problem: "give both or neither".into() });
    }
    let file = weights.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    meta.training_data = config.training_data.clone().unwrap_or_else(|| format!("imported from {file}"));
    let pre = config.preprocessing.clone().unwrap_or_else(|| {
        "(x-mean)/std with the mean/std recorded here; resampling of 20 m bands unknown (bicubic assumed)".into()
    });
    meta.preprocessing = format!(
        "{pre}. Imported from {file}: source band order [{}]{}, source class order {}",
        s.source_bands.join(","),
        if s.widened { " (stem widened from RGB, x3/N)" } else { "" },
        s.class_order
    );
    Ok(meta)
}
