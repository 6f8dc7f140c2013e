//! `bemm export`: a trained run -> verified `.bemm` model file.

use crate::quantize::{self, QuantArgs};
use crate::report::table;
use anyhow::Context;
use bemm_trainer::export::{export_bytes, ExportOptions};
use std::path::PathBuf;

/// Arguments of `bemm export`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A run directory (exports its best.ckpt) or a checkpoint file.
    pub source: PathBuf,
    /// Output model file.
    #[arg(long)]
    pub out: PathBuf,
    /// Patch archive to verify on (default: the one the run trained on).
    #[arg(long)]
    pub archive: Option<PathBuf>,
    /// Validation patches on which the engine must agree with burn.
    #[arg(long, default_value_t = 256)]
    pub verify: usize,
    /// Lowest acceptable agreement of label decisions (fraction).
    #[arg(long, default_value_t = 0.99)]
    pub min_agreement: f64,
    /// Also score the test split with the engine and record it in the provenance.
    #[arg(long)]
    pub test: bool,
    /// Print the report as JSON (with key `int8` when quantizing).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub quant: QuantArgs,
}

/// Run `bemm export`.
pub fn run(a: Args) -> anyhow::Result<()> {
    crate::output_guard::not_a_folder("--out", &a.out)?;
    let checkpoint = bemm_trainer::checkpoint::resolve(&a.source);
    let mut inputs = vec![("SOURCE checkpoint", checkpoint.as_path())];
    if let Some(ar) = &a.archive {
        inputs.push(("--archive", ar.as_path()));
    }
    let calibrate = a.quant.check()?;
    if let Some(c) = calibrate {
        inputs.push(("--calibrate", c));
    }
    crate::output_guard::check("--out", &a.out, &inputs)?;
    let opts = ExportOptions {
        source: a.source.clone(),
        out: a.out.clone(),
        archive: a.archive.clone(),
        verify: a.verify,
        test: a.test,
        min_agreement: a.min_agreement,
    };
    let (mut r, mut bytes) = export_bytes(&opts).with_context(|| format!("exporting {}", a.source.display()))?;
    let int8 = match calibrate {
        Some(cal) => {
            let (q, rep) = quantize::quantize(&bytes, cal, &a.quant)
                .with_context(|| format!("refusing to write {}: int8 quantization", a.out.display()))?;
            bytes = q;
            r.bytes = bytes.len();
            Some(rep)
        }
        None => None,
    };
    bemm_formats::fsutil::write_atomic(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
    if a.json {
        let mut j = serde_json::to_value(&r)?;
        if let (Some(rep), Some(o)) = (&int8, j.as_object_mut()) {
            o.insert("int8".into(), serde_json::to_value(rep)?);
        }
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    let ag = &r.agreement;
    let mut rows = vec![
        vec!["model".to_string(), r.out.display().to_string()],
        vec!["architecture".into(), r.arch.clone()],
        vec!["bands".into(), r.bands.join(" ")],
        vec!["epoch".into(), r.epoch.to_string()],
        vec!["bytes".into(), r.bytes.to_string()],
        vec![
            "engine vs burn".into(),
            format!(
                "{:.3} % of {} decisions on {} patches (max |dp| {:.4})",
                100.0 * ag.rate(),
                ag.decisions,
                ag.patches,
                ag.max_prob_diff
            ),
        ],
    ];
    if let Some(v) = &r.val {
        rows.push(vec!["val sample F2".into(), format!("{:.4}", v.f2)]);
    }
    if let Some(t) = &r.test {
        rows.push(vec!["test sample F2".into(), format!("{:.4}", t.f2)]);
        rows.push(vec!["test class-based F2".into(), format!("{:.4}", t.macro_f2)]);
    }
    if let Some(q) = &int8 {
        rows.push(vec![
            "int8".into(),
            format!(
                "{} convolutions int8 ({}-bit weights), {} f16; ranges from {} patches of {}; verified on {} {} patches",
                q.int8_layers,
                q.weight_bits,
                q.float_convs,
                q.calibration_patches,
                q.calibration_archive.display(),
                q.heldout_patches,
                q.heldout_split
            ),
        ]);
    }
    print!("{}", table(&rows));
    if let Some(q) = &int8 {
        print!("{}", table(&q.table()));
    }
    Ok(())
}
