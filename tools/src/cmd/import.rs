//! `bemm import`: PyTorch/timm safetensors weights to a `.bemm` model file
//! (see `crate::import` for the name mapping and permutations).

use crate::import::{self, config::ClassOrderSpec, BandSet, ImportConfig};
use crate::quantize::{self, QuantArgs};
use anyhow::Context;
use bemm_engine::arch::Arch;
use std::path::PathBuf;

/// Arguments of `bemm import`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The weights: a safetensors state dict with torchvision/timm names.
    pub weights: PathBuf,
    /// Architecture: resnet18/34/50/101/152, vgg16, vgg19 (VGG with or without batch norm is detected).
    #[arg(long)]
    pub arch: String,
    /// Which of our bands the model reads: all (12), s1 (VV, VH) or s2 (10 bands).
    #[arg(long, default_value = "all")]
    pub bands: String,
    /// Output model file.
    #[arg(long)]
    pub out: PathBuf,
    /// JSON file describing the source (prefix, band_order, class_order, mean, std, preprocessing).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Class order of the source's classifier rows: official, alphabetical, or a file of names.
    #[arg(long)]
    pub class_order: Option<String>,
    /// The source's stem bands in its order, e.g. B02,B03,B04,B08,B05,B06,B07,B8A,B11,B12,VV,VH.
    #[arg(long)]
    pub band_order: Option<String>,
    /// Per-band means the source normalised with (comma-separated, source band order).
    #[arg(long)]
    pub mean: Option<String>,
    /// Per-band standard deviations the source normalised with (comma-separated).
    #[arg(long)]
    pub std: Option<String>,
    /// Tensor name prefix (e.g. `model.`); detected when absent.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Free text on the preprocessing the weights expect (recorded in the model file).
    #[arg(long)]
    pub preprocessing: Option<String>,
    /// Print the summary as JSON (with key `int8` when quantizing).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub quant: QuantArgs,
}

fn floats(opt: &str, s: &str) -> anyhow::Result<Vec<f32>> {
    s.split(',').map(|v| v.trim().parse::<f32>().with_context(|| format!("{opt}: `{v}` is not a number"))).collect()
}

/// Run `bemm import`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let arch = Arch::parse(&args.arch).with_context(|| {
        format!(
            "--arch: unknown architecture `{}` (expected one of {})",
            args.arch,
            Arch::ALL.map(|a| a.name()).join(", ")
        )
    })?;
    let bands = BandSet::parse(&args.bands)?;
    crate::output_guard::not_a_folder("--out", &args.out)?;
    let calibrate = args.quant.check()?;
    let mut inputs = vec![("WEIGHTS", args.weights.as_path())];
    if let Some(c) = calibrate {
        inputs.push(("--calibrate", c));
    }
    crate::output_guard::check("--out", &args.out, &inputs)?;
    let mut config = match &args.config {
        Some(p) => ImportConfig::load(p)?,
        None => ImportConfig::default(),
    };
    if let Some(p) = &args.prefix {
        config.prefix = Some(p.clone());
    }
    if let Some(c) = &args.class_order {
        config.class_order = Some(ClassOrderSpec::Word(c.clone()));
    }
    if let Some(b) = &args.band_order {
        config.band_order = Some(import::parse_band_list(b)?);
    }
    if let Some(m) = &args.mean {
        config.mean = Some(floats("--mean", m)?);
    }
    if let Some(s) = &args.std {
        config.std = Some(floats("--std", s)?);
    }
    if let Some(p) = &args.preprocessing {
        config.preprocessing = Some(p.clone());
    }
    let (model, summary) = import::import(&args.weights, arch, bands, &config)?;
    let mut bytes = model.to_bytes().with_context(|| format!("encoding the model for {}", args.out.display()))?;
    let int8 = match calibrate {
        Some(cal) => {
            let (q, rep) = quantize::quantize(&bytes, cal, &args.quant)
                .with_context(|| format!("refusing to write {}: int8 quantization", args.out.display()))?;
            bytes = q;
            Some(rep)
        }
        None => None,
    };
    bemm_formats::fsutil::write_atomic(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    if args.json {
        let mut j = serde_json::json!({
            "out": args.out,
            "arch": arch.name(),
            "bytes": bytes.len(),
            "bands": model.meta.bands,
            "source_bands": summary.source_bands,
            "widened": summary.widened,
            "class_order": summary.class_order,
            "prefix": summary.prefix,
            "mean": model.meta.mean,
            "std": model.meta.std,
            "preprocessing": model.meta.preprocessing,
        });
        if let (Some(rep), Some(o)) = (&int8, j.as_object_mut()) {
            o.insert("int8".into(), serde_json::to_value(rep)?);
        }
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        let rows = vec![
            vec!["import".into(), "result".into()],
            vec!["model".into(), args.out.display().to_string()],
            vec!["arch".into(), arch.name().into()],
            vec!["size".into(), format!("{:.1} MB", bytes.len() as f64 / 1e6)],
            vec!["bands (ours)".into(), model.meta.bands.join(",")],
            vec![
                "source bands".into(),
                summary.source_bands.join(",") + if summary.widened { " (widened)" } else { "" },
            ],
            vec!["source classes".into(), summary.class_order.clone()],
            vec![
                "tensor prefix".into(),
                if summary.prefix.is_empty() { "(none)".into() } else { summary.prefix.clone() },
            ],
        ];
        print!("{}", crate::report::table(&rows));
        if let Some(q) = &int8 {
            print!("{}", crate::report::table(&q.table()));
        }
    }
    Ok(())
}
