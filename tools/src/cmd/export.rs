//! `bemm export`: a trained run -> verified `.bemm` model file.

use crate::report::table;
use anyhow::Context;
use bemm_trainer::export::{export, ExportOptions};
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
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run `bemm export`.
pub fn run(a: Args) -> anyhow::Result<()> {
    crate::output_guard::not_a_folder("--out", &a.out)?;
    let checkpoint = bemm_trainer::checkpoint::resolve(&a.source);
    let mut inputs = vec![("SOURCE checkpoint", checkpoint.as_path())];
    if let Some(ar) = &a.archive {
        inputs.push(("--archive", ar.as_path()));
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
    let r = export(&opts).with_context(|| format!("exporting {}", a.source.display()))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
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
    print!("{}", table(&rows));
    Ok(())
}
