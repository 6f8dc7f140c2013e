//! Calibrated int8 export (`bemm export` / `bemm import` with `--quantize
//! int8 --calibrate ARCHIVE`): a float `.bemm` model becomes a format 1.1
//! model whose convolutions after the stem are `QConv`s.
//!
//! Steps: run the float model on the calibration patches and keep the
//! range of every layer output that feeds a quantized convolution
//! (`stats`); for each range method (`range`: min/max, percentiles) set
//! each layer's u8 input scale and zero point and rebuild the model with
//! int8 weights (`rewrite`); run float and int8 models on held-out patches
//! and compare label decisions and sample F2 (`verify`); keep the method
//! that agrees best, and refuse when it misses the bars.

pub mod patches;
pub mod range;
pub mod rewrite;
pub mod stats;
pub mod verify;

use anyhow::{bail, Context, Result};
use bemm_engine::Model;
use bemm_formats::model::WeightBits;
use patches::Patches;
use range::{scale_zero_point, RangeMethod};
use stats::ActivationStats;
use std::path::{Path, PathBuf};
use verify::Comparison;

/// Number format of a quantized model.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantize {
    /// u8 activations, per-channel symmetric i8 weights (format 1.1 `QConv`).
    Int8,
}

/// The quantization flags `export` and `import` share.
#[derive(clap::Args, Debug, Clone)]
pub struct QuantArgs {
    /// Store the convolutions after the stem as int8 (format 1.1), calibrated on --calibrate.
    #[arg(long, value_enum, requires = "calibrate")]
    pub quantize: Option<Quantize>,
    /// Patch archive for int8 calibration (its train split) and verification (its test split, else validation).
    #[arg(long, requires = "quantize")]
    pub calibrate: Option<PathBuf>,
    /// Calibration patches the activation ranges come from.
    #[arg(long, default_value_t = 256)]
    pub calibration_patches: usize,
    /// Bits per int8 weight: 8, or 7 for CPUs without integer dot products
    /// (x86 with AVX2 only), which multiply 7-bit weights faster (the
    /// engine's `avx2-7bit-6x16` kernel) at one bit less weight precision.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(7..=8))]
    pub int8_weight_bits: u32,
    /// Held-out patches the int8 model is verified on.
    #[arg(long, default_value_t = 1024)]
    pub int8_verify: usize,
    /// Lowest acceptable agreement of the int8 model's label decisions with the float model's (fraction).
    #[arg(long, default_value_t = 0.99)]
    pub min_int8_agreement: f64,
    /// Largest acceptable drop of sample F2 from float to int8 (fraction: 0.005 = 0.5 points).
    #[arg(long, default_value_t = 0.005)]
    pub max_int8_f2_drop: f64,
}

impl QuantArgs {
    /// The weight range `--int8-weight-bits` asks for.
    pub fn weight_bits(&self) -> WeightBits {
        if self.int8_weight_bits == 7 {
            WeightBits::Seven
        } else {
            WeightBits::Eight
        }
    }

    /// The calibration archive when quantizing (checked: flags in range,
    /// archive readable and non-empty), before any long work.
    pub fn check(&self) -> Result<Option<&Path>> {
        let (Some(Quantize::Int8), Some(cal)) = (self.quantize, &self.calibrate) else { return Ok(None) };
        if self.calibration_patches == 0 {
            bail!("--calibration-patches 0: expected at least 1 patch to calibrate activation ranges on");
        }
        if self.int8_verify == 0 {
            bail!("--int8-verify 0: expected at least 1 held-out patch to verify the int8 model on");
        }
        if !(0.0..=1.0).contains(&self.min_int8_agreement) {
            bail!("--min-int8-agreement {}: expected a fraction in [0, 1] (0.99 = 99 %)", self.min_int8_agreement);
        }
        if !(0.0..=1.0).contains(&self.max_int8_f2_drop) {
            bail!("--max-int8-f2-drop {}: expected a fraction in [0, 1] (0.005 = 0.5 points)", self.max_int8_f2_drop);
        }
        patches::open_archive(cal)?;
        Ok(Some(cal.as_path()))
    }
}

/// One range method's result on the held-out patches.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MethodRow {
    /// Range method (`minmax`, `p99.99`, ...).
    pub method: String,
    /// The int8 model against the float one.
    #[serde(flatten)]
    pub cmp: Comparison,
    /// Fraction of identical label decisions.
    pub agreement: f64,
    /// Bytes of the int8 model file.
    pub bytes: usize,
}

/// What a calibrated int8 export did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Int8Report {
    /// The method kept (best agreement, then best int8 F2).
    pub chosen: String,
    /// Every method tried.
    pub methods: Vec<MethodRow>,
    /// Calibration archive.
    pub calibration_archive: PathBuf,
    /// Patches the ranges come from.
    pub calibration_patches: usize,
    /// Held-out patches verified on.
    pub heldout_patches: usize,
    /// Split of the held-out patches.
    pub heldout_split: String,
    /// Convolutions stored as int8.
    pub int8_layers: usize,
    /// Bits per int8 weight (8, or 7: `|w| <= 63`).
    pub weight_bits: u32,
    /// Convolutions kept f16 (the stem).
    pub float_convs: usize,
    /// Bytes of the float model file.
    pub bytes_float: usize,
    /// Bytes of the int8 model file written.
    pub bytes_int8: usize,
    /// `bytes_int8 / bytes_float`.
    pub size_ratio: f64,
}

impl Int8Report {
    /// The kept method's row.
    pub fn chosen_row(&self) -> Option<&MethodRow> {
        self.methods.iter().find(|m| m.method == self.chosen)
    }

    /// Table rows: a header, then one row per method (the kept one marked).
    pub fn table(&self) -> Vec<Vec<String>> {
        let mut rows =
            vec![["int8 range", "agreement", "F2 float", "F2 int8", "F2 change", "size"].map(String::from).to_vec()];
        rows[0][0] = format!("int8 range ({}-bit weights)", self.weight_bits);
        for m in &self.methods {
            rows.push(vec![
                if m.method == self.chosen { format!("{} (kept)", m.method) } else { m.method.clone() },
                format!("{:.3} % of {}", 100.0 * m.agreement, m.cmp.decisions),
                format!("{:.4}", m.cmp.f2_float),
                format!("{:.4}", m.cmp.f2_int8),
                format!("{:+.2} pts", 100.0 * m.cmp.f2_change()),
                format!("{:.3} x float", m.bytes as f64 / self.bytes_float.max(1) as f64),
            ]);
        }
        rows
    }
}

/// 8-byte aligned copy of model bytes (the engine reads files in place).
struct Aligned(Vec<u64>, usize);

impl Aligned {
    fn new(b: &[u8]) -> Self {
        let mut w = vec![0u64; b.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut w)[..b.len()].copy_from_slice(b);
        Aligned(w, b.len())
    }
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.0)[..self.1]
    }
}

/// Quantize the float model `float_bytes` with calibration archive
/// `archive` as `a` says; returns the int8 model's bytes and the report, or
/// an error when no method meets `--min-int8-agreement` and
/// `--max-int8-f2-drop` (the table of methods in the message).
pub fn quantize(float_bytes: &[u8], archive: &Path, a: &QuantArgs) -> Result<(Vec<u8>, Int8Report)> {
    let buf = Aligned::new(float_bytes);
    let float = Model::from_bytes(buf.bytes()).context("the float model")?;
    if float.is_quantized() {
        bail!("the model is already int8; quantize its float original");
    }
    let file = float.file();
    let cands = rewrite::candidates(file);
    if cands.is_empty() {
        bail!("the model has no convolution after the stem to quantize");
    }
    let p = Patches::select(patches::open_archive(archive)?, archive, &float, a.calibration_patches, a.int8_verify)?;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);

    // Two passes over the calibration patches: ranges, then histograms.
    let mut sources: Vec<usize> = cands.iter().map(|&(_, s)| s).collect();
    sources.sort_unstable();
    sources.dedup();
    let mut st = ActivationStats::new(file.layers().len(), &sources);
    let cal = p.samples(&p.calibration)?;
    verify::observe(&float, &cal, &mut st)?;
    st.start_histograms();
    verify::observe(&float, &cal, &mut st)?;

    let held = p.samples(&p.heldout)?;
    let truth = p.truth(&p.heldout)?;
    let pf = verify::probabilities(&float, &held, threads)?;
    let mut best: Option<(usize, Vec<u8>)> = None;
    let mut rows = Vec::new();
    for method in RangeMethod::TRIED {
        let mut q = Vec::with_capacity(cands.len());
        for &(layer, src) in &cands {
            let s = st.layers[src].as_ref().context("calibration statistics missing")?;
            if s.count == 0 {
                bail!("layer {src} produced no values during calibration (a convolution fused away?)");
            }
            let (lo, hi) = method.range(s);
            let (scale, zp) = scale_zero_point(lo, hi);
            q.push((layer, scale, zp));
        }
        let bytes = rewrite::rebuild(file, &q, a.weight_bits())?.to_bytes().context("encoding the int8 model")?;
        let qbuf = Aligned::new(&bytes);
        let int8 = Model::from_bytes(qbuf.bytes()).context("the engine rejects the int8 model")?;
        let pq = verify::probabilities(&int8, &held, threads)?;
        let cmp = verify::compare(&float, &pf, &int8, &pq, &truth);
        let row = MethodRow { method: method.name(), agreement: cmp.agreement(), cmp, bytes: bytes.len() };
        let better = best.as_ref().is_none_or(|(b, _)| {
            let r: &MethodRow = &rows[*b];
            (row.agreement, row.cmp.f2_int8) > (r.agreement, r.cmp.f2_int8)
        });
        if better {
            best = Some((rows.len(), bytes));
        }
        rows.push(row);
    }
    let Some((b, bytes)) = best else { bail!("no range method tried") };
    let report = Int8Report {
        chosen: rows[b].method.clone(),
        calibration_archive: archive.to_path_buf(),
        calibration_patches: p.calibration.len(),
        heldout_patches: p.heldout.len(),
        heldout_split: p.heldout_split.into(),
        int8_layers: cands.len(),
        weight_bits: a.weight_bits().bits(),
        float_convs: file
            .layers()
            .iter()
            .filter(|l| l.layer_kind() == Some(bemm_formats::model::LayerKind::Conv))
            .count()
            - cands.len(),
        bytes_float: float_bytes.len(),
        bytes_int8: bytes.len(),
        size_ratio: bytes.len() as f64 / float_bytes.len().max(1) as f64,
        methods: rows,
    };
    let kept = &report.methods[b];
    if kept.agreement < a.min_int8_agreement || -kept.cmp.f2_change() > a.max_int8_f2_drop {
        bail!(
            "the int8 model misses the bar: best range method {} agrees with the float model on {:.3} % of {} label decisions (--min-int8-agreement {:.3} %), sample F2 {:.4} -> {:.4} ({:+.2} points; --max-int8-f2-drop {:.2} points); held-out: {} {} patches of {}\n{}",
            kept.method,
            100.0 * kept.agreement,
            kept.cmp.decisions,
            100.0 * a.min_int8_agreement,
            kept.cmp.f2_float,
            kept.cmp.f2_int8,
            100.0 * kept.cmp.f2_change(),
            100.0 * a.max_int8_f2_drop,
            report.heldout_patches,
            report.heldout_split,
            archive.display(),
            crate::report::table(&report.table())
        );
    }
    Ok((bytes, report))
}
