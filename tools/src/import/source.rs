//! [`SafetensorsSource`]: a [`WeightSource`] over a PyTorch/timm state dict
//! saved as safetensors.
//!
//! Every float tensor (F32, F16, BF16, F64) is decoded to f32 when the file
//! is opened. The architecture builder then asks for tensors by torchvision
//! name; each request checks the shape and marks the tensor used, and
//! [`SafetensorsSource::finish`] names every tensor that was never asked for
//! (an architecture mismatch is an error, not a silent partial load).
//!
//! Two requests are rewritten on the way:
//! * the stem (the first convolution asked for: `conv1` or `features.0`)
//!   gets its input channels permuted from the source's band order into
//!   ours, narrowed to the requested subset, or widened from ImageNet RGB
//!   (see [`SourceOptions::source_bands`]);
//! * the classifier (`fc`, `classifier.6`) gets its rows permuted from the
//!   source's class order into the official one, or is freshly initialised
//!   for training ([`Head::Fresh`]).
//!
//! VGG: torchvision's `vgg*_bn` keeps an adaptive 7x7 average pool before
//! `classifier.0` (25088 inputs); on our 120 px input the map is 512x3x3, so
//! the pool (a fixed linear map 3x3 -> 7x7) is folded into `classifier.0`'s
//! weights, giving the 4608-input layer our graph has. timm's VGG names
//! (`pre_logits.fc1` a 7x7 conv, `pre_logits.fc2` a 1x1 conv, `head.fc`) are
//! read as `classifier.0/3/6` the same way.

use super::pool::{fold_adaptive_pool, pool_fold_dims};
use super::stem::map_stem_channels;
use super::tensors::{self, StateDict, Tensor};
use super::ImportError;
use bemm_engine::arch::{BatchNorm, RandomWeights, WeightSource};
use bemm_formats::bands::BAND_NAMES;
use safetensors::Dtype;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What to do with the source's classifier layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// Import it, rows permuted from this class order into the official one.
    Import(super::ClassOrder),
    /// Do not read it (e.g. ImageNet's 1000 classes): fresh random weights
    /// from this seed, for training to start from.
    Fresh(u64),
    /// For training (`bemm train --init`): import when the source's
    /// classifier has one row per class of this order, else start fresh
    /// from the seed.
    ImportOrFresh(super::ClassOrder, u64),
}

/// How to read a source file.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// Name prefix of the model's tensors in the file (e.g. `model.`,
    /// `module.`); `None` detects it from where `conv1.weight` or
    /// `features.0.weight` sits.
    pub prefix: Option<String>,
    /// The bands of the stem's input channels, in the source's order (our
    /// canonical names). `None`: our 12-band order for a 12-channel stem,
    /// ImageNet RGB (`B04, B03, B02`) for a 3-channel stem, and the target
    /// bands themselves when the channel counts match.
    pub source_bands: Option<Vec<String>>,
    /// Our channels (indices into `BAND_NAMES`) the imported model reads.
    pub target_channels: Vec<usize>,
    /// The classifier.
    pub head: Head,
    /// Batch-norm epsilon the source was trained with (PyTorch: 1e-5).
    pub bn_eps: f32,
}

impl SourceOptions {
    /// All 12 bands in our order, official classes, prefix detected.
    pub fn new(target_channels: Vec<usize>) -> Self {
        SourceOptions {
            prefix: None,
            source_bands: None,
            target_channels,
            head: Head::Import(super::ClassOrder::Official),
            bn_eps: 1e-5,
        }
    }
}

/// A [`WeightSource`] over a safetensors file (see the module docs).
#[derive(Debug)]
pub struct SafetensorsSource {
    path: PathBuf,
    prefix: String,
    tensors: BTreeMap<String, Tensor>,
    /// Names (without prefix) of non-float tensors (e.g. `num_batches_tracked`).
    non_float: BTreeMap<String, Dtype>,
    used: BTreeSet<String>,
    opts: SourceOptions,
    convs_seen: usize,
    stem_bands: Vec<String>,
    widened: bool,
}

const SKIPPED_SUFFIX: &str = "num_batches_tracked";

impl SafetensorsSource {
    /// Read and decode `path`.
    pub fn open(path: &Path, opts: SourceOptions) -> Result<Self, ImportError> {
        let bytes = std::fs::read(path).map_err(|e| ImportError::Io { path: path.to_path_buf(), source: e })?;
        Self::from_bytes(path, &bytes, opts)
    }

    /// Decode a safetensors file held in memory; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8], opts: SourceOptions) -> Result<Self, ImportError> {
        let StateDict { prefix, tensors, non_float } = tensors::read(path, bytes, opts.prefix.as_deref())?;
        Ok(SafetensorsSource {
            path: path.to_path_buf(),
            prefix,
            tensors,
            non_float,
            used: BTreeSet::new(),
            opts,
            convs_seen: 0,
            stem_bands: Vec::new(),
            widened: false,
        })
    }

    /// The name prefix in use (detected or given).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The source's stem bands as resolved by the build (empty before).
    pub fn stem_bands(&self) -> &[String] {
        &self.stem_bands
    }

    /// Whether the stem was widened from fewer (RGB) bands.
    pub fn widened(&self) -> bool {
        self.widened
    }

    /// Full names of float tensors the build never asked for.
    pub fn unused(&self) -> Vec<String> {
        self.tensors.keys().filter(|k| !self.used.contains(*k)).map(|k| format!("{}{k}", self.prefix)).collect()
    }

    /// Fail if any tensor of the file (under the prefix) was not used: the
    /// weights belong to another architecture or naming scheme.
    pub fn finish(&self) -> Result<(), ImportError> {
        let mut unknown = self.unused();
        unknown.extend(
            self.non_float
                .keys()
                .filter(|k| !k.ends_with(SKIPPED_SUFFIX) && !self.used.contains(*k))
                .map(|k| format!("{}{k}", self.prefix)),
        );
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ImportError::Unknown { path: self.path.clone(), names: unknown })
        }
    }

    fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Take tensor `name`, whose shape must satisfy `ok` (described by `expected`).
    fn take_if(&mut self, name: &str, expected: &str, ok: impl Fn(&[usize]) -> bool) -> Result<Tensor, ImportError> {
        let Some(t) = self.tensors.get(name) else {
            if let Some(d) = self.non_float.get(name) {
                return Err(ImportError::Dtype {
                    path: self.path.clone(),
                    name: self.full(name),
                    dtype: format!("{d:?}"),
                });
            }
            return Err(ImportError::Missing { path: self.path.clone(), name: self.full(name) });
        };
        if !ok(&t.shape) {
            return Err(ImportError::Shape {
                path: self.path.clone(),
                name: self.full(name),
                expected: expected.to_string(),
                found: t.shape.clone(),
            });
        }
        self.used.insert(name.to_string());
        Ok(t.clone())
    }

    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ImportError> {
        let expected = format!("{shape:?}");
        Ok(self.take_if(name, &expected, |s| s == shape)?.data)
    }

    fn optional_bias(&mut self, name: &str, n: usize) -> Result<Option<Vec<f32>>, ImportError> {
        let b = format!("{name}.bias");
        if self.has(&b) {
            Ok(Some(self.take(&b, &[n])?))
        } else {
            Ok(None)
        }
    }

    /// The stem: read `[out, src_c, k, k]` and map its input channels.
    fn stem(&mut self, name: &str, out: usize, k: usize) -> Result<Vec<f32>, ImportError> {
        let wname = format!("{name}.weight");
        let expected = format!("[{out}, <bands>, {k}, {k}]");
        let t = self.take_if(&wname, &expected, |s| s.len() == 4 && s[0] == out && s[2] == k && s[3] == k)?;
        let src_c = t.shape[1];
        let target: Vec<&str> = self.opts.target_channels.iter().map(|&c| BAND_NAMES[c]).collect();
        let src_bands: Vec<String> = match &self.opts.source_bands {
            Some(b) => b.clone(),
            None if src_c == BAND_NAMES.len() => BAND_NAMES.iter().map(|s| s.to_string()).collect(),
            None if src_c == 3 => ["B04", "B03", "B02"].iter().map(|s| s.to_string()).collect(),
            None if src_c == target.len() => target.iter().map(|s| s.to_string()).collect(),
            None => {
                return Err(ImportError::Bands {
                    problem: format!(
                        "{}: the stem `{}` has {src_c} input channels; name them with --band-order",
                        self.path.display(),
                        self.full(&wname)
                    ),
                })
            }
        };
        if src_bands.len() != src_c {
            return Err(ImportError::Bands {
                problem: format!(
                    "the band order names {} bands but the stem `{}` has {src_c} input channels",
                    src_bands.len(),
                    self.full(&wname)
                ),
            });
        }
        let widen = src_c == 3;
        let (w, widened) = map_stem_channels(&t.data, out, k * k, &src_bands, &target, widen)?;
        self.stem_bands = src_bands;
        self.widened = widened;
        Ok(w)
    }

    /// Classifier rows `[classes, inp]` in the official class order.
    fn head(&mut self, name: &str, out: usize, inp: usize) -> Result<(Vec<f32>, Vec<f32>), ImportError> {
        if let Head::ImportOrFresh(order, seed) = &self.opts.head {
            let rows = order.names().len();
            let fits = linear_aliases(name)
                .iter()
                .any(|a| self.tensors.get(&format!("{a}.weight")).is_some_and(|t| t.shape == [rows, inp]));
            self.opts.head = if fits { Head::Import(order.clone()) } else { Head::Fresh(*seed) };
        }
        let order = match &self.opts.head {
            Head::Fresh(seed) => {
                let mut r = RandomWeights::new(*seed);
                let Ok(wb) = r.linear(name, out, inp);
                // Mark the source's head as deliberately skipped.
                for s in [".weight", ".bias"] {
                    for alias in linear_aliases(name) {
                        self.used.insert(format!("{alias}{s}"));
                    }
                }
                return Ok(wb);
            }
            Head::Import(order) => order.clone(),
            Head::ImportOrFresh(order, _) => order.clone(),
        };
        let rows = order.rows_for_official()?;
        let n_src = order.names().len();
        let (w, b) = self.linear_raw(name, n_src, inp)?;
        if out != rows.len() {
            return Err(ImportError::ClassOrder {
                problem: format!("the model has {out} outputs but the class order maps {} classes", rows.len()),
            });
        }
        let mut pw = Vec::with_capacity(out * inp);
        let mut pb = Vec::with_capacity(out);
        for &r in &rows {
            pw.extend_from_slice(&w[r * inp..(r + 1) * inp]);
            pb.push(b[r]);
        }
        Ok((pw, pb))
    }

    /// A linear layer by torchvision name (or its timm alias), folding an
    /// adaptive average pool into `classifier.0` when the input sizes differ.
    fn linear_raw(&mut self, name: &str, out: usize, inp: usize) -> Result<(Vec<f32>, Vec<f32>), ImportError> {
        let aliases = linear_aliases(name);
        let base = aliases.iter().find(|a| self.has(&format!("{a}.weight"))).copied().unwrap_or(name);
        let wname = format!("{base}.weight");
        let expected = format!("[{out}, {inp}]");
        let may_fold = name == "classifier.0";
        let t = self.take_if(&wname, &expected, |s| {
            let flat: usize = s[1..].iter().product();
            s.len() >= 2
                && s[0] == out
                && s[2..].iter().all(|&d| d >= 1)
                && (flat == inp || (may_fold && pool_fold_dims(inp, flat).is_some()))
                && (s.len() == 2 || s[2..].iter().product::<usize>() == 1 || may_fold)
        })?;
        let flat: usize = t.shape[1..].iter().product();
        let w = if flat == inp {
            t.data
        } else {
            let Some((c, s, p)) = pool_fold_dims(inp, flat) else {
                return Err(ImportError::Shape {
                    path: self.path.clone(),
                    name: self.full(&wname),
                    expected,
                    found: t.shape,
                });
            };
            fold_adaptive_pool(&t.data, out, c, s, p)
        };
        let b = self.take(&format!("{base}.bias"), &[out])?;
        Ok((w, b))
    }
}

/// timm names of the torchvision VGG classifier layers.
fn linear_aliases(name: &str) -> Vec<&str> {
    match name {
        "classifier.0" => vec!["classifier.0", "pre_logits.fc1"],
        "classifier.3" => vec!["classifier.3", "pre_logits.fc2"],
        "classifier.6" => vec!["classifier.6", "head.fc"],
        other => vec![other],
    }
}

impl WeightSource for SafetensorsSource {
    type Error = ImportError;

    fn conv(
        &mut self,
        name: &str,
        out_c: usize,
        in_c: usize,
        k: usize,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), ImportError> {
        let first = self.convs_seen == 0;
        self.convs_seen += 1;
        let w = if first {
            let w = self.stem(name, out_c, k)?;
            if w.len() != out_c * in_c * k * k {
                return Err(ImportError::Bands {
                    problem: format!(
                        "the stem maps to {} channels but the model reads {in_c}",
                        w.len() / (out_c * k * k)
                    ),
                });
            }
            w
        } else {
            self.take(&format!("{name}.weight"), &[out_c, in_c, k, k])?
        };
        let b = self.optional_bias(name, out_c)?;
        Ok((w, b))
    }

    fn batch_norm(&mut self, name: &str, c: usize) -> Result<BatchNorm, ImportError> {
        let bn = BatchNorm {
            gamma: self.take(&format!("{name}.weight"), &[c])?,
            beta: self.take(&format!("{name}.bias"), &[c])?,
            mean: self.take(&format!("{name}.running_mean"), &[c])?,
            var: self.take(&format!("{name}.running_var"), &[c])?,
            eps: self.opts.bn_eps,
        };
        if bn.var.iter().any(|v| *v < 0.0 || !v.is_finite()) {
            return Err(ImportError::Shape {
                path: self.path.clone(),
                name: self.full(&format!("{name}.running_var")),
                expected: "finite, non-negative variances".into(),
                found: vec![c],
            });
        }
        Ok(bn)
    }

    fn linear(&mut self, name: &str, out: usize, inp: usize) -> Result<(Vec<f32>, Vec<f32>), ImportError> {
        if name == "fc" || name == "classifier.6" {
            self.head(name, out, inp)
        } else {
            self.linear_raw(name, out, inp)
        }
    }

    fn vgg_batch_norm(&self) -> bool {
        self.has("features.1.running_mean")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st_bytes(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
        let bufs: Vec<Vec<u8>> =
            tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .zip(&bufs)
            .map(|((n, s, _), b)| {
                (n.to_string(), safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b).expect("view"))
            })
            .collect();
        safetensors::serialize(views, None).expect("serialize")
    }

    #[test]
    fn timm_vgg_head_names_are_read_as_torchvision_classifier_layers() {
        let (c, out) = (2usize, 3usize);
        let fc1: Vec<f32> = (0..out * c * 49).map(|i| i as f32).collect();
        let bytes = st_bytes(&[
            ("pre_logits.fc1.weight", vec![out, c, 7, 7], fc1.clone()),
            ("pre_logits.fc1.bias", vec![out], vec![1.0; out]),
            ("pre_logits.fc2.weight", vec![out, out, 1, 1], vec![0.5; out * out]),
            ("pre_logits.fc2.bias", vec![out], vec![0.0; out]),
            ("head.fc.weight", vec![19, out], (0..19 * out).map(|i| i as f32).collect()),
            ("head.fc.bias", vec![19], (0..19).map(|i| i as f32).collect()),
        ]);
        let mut src = SafetensorsSource::from_bytes(Path::new("timm.safetensors"), &bytes, SourceOptions::new(vec![0]))
            .expect("open");
        let (w, b) = src.linear("classifier.0", out, c * 9).expect("fc1 folded");
        assert_eq!((w.len(), b), (out * c * 9, vec![1.0; out]));
        assert_eq!(w, fold_adaptive_pool(&fc1, out, c, 3, 7));
        let (w, _) = src.linear("classifier.3", out, out).expect("fc2 as linear");
        assert_eq!(w, vec![0.5; out * out]);
        let (_, b) = src.linear("classifier.6", 19, out).expect("head");
        assert_eq!(b, (0..19).map(|i| i as f32).collect::<Vec<_>>());
        src.finish().expect("all used");
    }

    #[test]
    fn import_or_fresh_skips_an_imagenet_head() {
        let bytes =
            st_bytes(&[("fc.weight", vec![1000, 4], vec![1.0; 4000]), ("fc.bias", vec![1000], vec![0.0; 1000])]);
        let mut opts = SourceOptions::new(vec![0]);
        opts.head = Head::ImportOrFresh(crate::import::ClassOrder::Official, 5);
        let mut src = SafetensorsSource::from_bytes(Path::new("in1k.safetensors"), &bytes, opts).expect("open");
        let (w, _) = src.linear("fc", 19, 4).expect("fresh head");
        assert_eq!(w.len(), 19 * 4);
        assert!(w.iter().all(|v| *v != 1.0));
        src.finish().expect("the skipped head counts as used");
    }
}
