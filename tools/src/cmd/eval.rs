//! `bemm eval`: the paper's metrics (scikit-learn-exact, from
//! `bemm_engine::metrics`) of any model's predictions against the truth.
//!
//! Predictions: a CSV with a header, a `name` column (S2 patch name) and one
//! probability column per class named by its official name (the file
//! `bemm predict` writes; columns are matched by name, so any column order
//! works and extra columns such as `predicted` are ignored). Truth: the same
//! columns holding 0 or 1, or a patch archive (labels from its records).
//! Rows are matched by name; a name present in one file only is an error.

use crate::class_csv::{check_threshold, read_class_csv};
use crate::report::table;
use anyhow::{bail, Context};
use bemm_engine::metrics::{Metrics, MultiLabelAccumulator};
use bemm_formats::archive::Split;
use bemm_formats::fsutil::write_atomic;
use bemm_formats::labels::{CLASS_NAMES, NUM_CLASSES};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Arguments of `bemm eval`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The truth: a patch archive folder, or a CSV (`name` + 19 class columns of 0/1).
    #[arg(long)]
    pub truth: PathBuf,
    /// The predictions CSV (`name` + 19 class probability columns), as `bemm predict` writes it.
    #[arg(long)]
    pub predictions: PathBuf,
    /// A class is predicted when its probability is >= this.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// With an archive as truth: the predictions must cover exactly this split
    /// (`train`, `validation`, `test`). Without it they may be any subset.
    #[arg(long)]
    pub split: Option<String>,
    /// Write the per-class F2 bar chart here (SVG).
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// With an archive as truth: use the finished part of an interrupted ingest.
    #[arg(long)]
    pub allow_incomplete: bool,
}

fn list(names: &[&str]) -> String {
    const SHOW: usize = 10;
    let mut s = names.iter().take(SHOW).map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
    if names.len() > SHOW {
        s.push_str(&format!(" and {} more", names.len() - SHOW));
    }
    s
}

/// The evaluation of one predictions file.
pub struct Evaluation {
    /// The figures.
    pub metrics: Metrics,
    /// Patches evaluated.
    pub patches: usize,
}

/// Evaluate `predictions` against `truth` (archive folder or CSV) at `threshold`.
pub fn evaluate(truth: &Path, predictions: &Path, threshold: f32, split: Option<&str>) -> anyhow::Result<Evaluation> {
    evaluate_with(truth, predictions, threshold, split, false)
}

/// [`evaluate`], optionally accepting an incomplete archive as truth.
pub fn evaluate_with(
    truth: &Path,
    predictions: &Path,
    threshold: f32,
    split: Option<&str>,
    allow_incomplete: bool,
) -> anyhow::Result<Evaluation> {
    check_threshold(threshold)?;
    let preds = read_class_csv(predictions, false)?;
    let truth_masks: HashMap<String, u64> = if truth.is_dir() {
        let arch = crate::archive_input::open(truth, allow_incomplete)?;
        let split = match split {
            None | Some("all") => None,
            Some(s) => Some(
                Split::parse(s)
                    .with_context(|| format!("--split {s}: expected train, validation, test or unassigned"))?,
            ),
        };
        let mut m: HashMap<String, u64> = arch
            .indices(split)
            .into_iter()
            .filter_map(|i| arch.record(i))
            .map(|r| (r.s2().to_string(), r.labels19 as u64))
            .collect();
        if split.is_none() {
            // Any subset of the archive may be evaluated: keep the predicted names only.
            let want: std::collections::HashSet<&str> = preds.rows.iter().map(|(n, _)| n.as_str()).collect();
            m.retain(|n, _| want.contains(n.as_str()));
        }
        m
    } else {
        if split.is_some() {
            bail!("--split applies to an archive as truth; {} is a CSV", truth.display());
        }
        let t = read_class_csv(truth, true)?;
        t.rows
            .into_iter()
            .map(|(n, v)| (n, v.iter().enumerate().filter(|(_, &x)| x == 1.0).fold(0u64, |m, (c, _)| m | 1 << c)))
            .collect()
    };
    let pred_names: std::collections::HashSet<&str> = preds.rows.iter().map(|(n, _)| n.as_str()).collect();
    let mut only_pred: Vec<&str> =
        preds.rows.iter().map(|(n, _)| n.as_str()).filter(|n| !truth_masks.contains_key(*n)).collect();
    let mut only_truth: Vec<&str> =
        truth_masks.keys().map(String::as_str).filter(|n| !pred_names.contains(n)).collect();
    if !only_pred.is_empty() || !only_truth.is_empty() {
        only_pred.sort_unstable();
        only_truth.sort_unstable();
        let mut msg = String::from("the truth and the predictions do not name the same patches:");
        if !only_pred.is_empty() {
            msg.push_str(&format!("\n  {} only in {}: {}", only_pred.len(), predictions.display(), list(&only_pred)));
        }
        if !only_truth.is_empty() {
            msg.push_str(&format!("\n  {} only in {}: {}", only_truth.len(), truth.display(), list(&only_truth)));
        }
        bail!(msg);
    }
    if preds.rows.is_empty() {
        bail!("{}: no prediction rows", predictions.display());
    }
    let mut acc = MultiLabelAccumulator::new(NUM_CLASSES);
    for (name, p) in &preds.rows {
        acc.add_thresholded(truth_masks[name], p, &[threshold]);
    }
    Ok(Evaluation { metrics: acc.finish(), patches: preds.rows.len() })
}

fn pct(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

/// The metrics as JSON (fractions, not percent).
pub fn metrics_json(m: &Metrics, threshold: f32) -> serde_json::Value {
    let per_class: Vec<serde_json::Value> = m
        .classes()
        .iter()
        .zip(CLASS_NAMES.iter())
        .map(|(c, name)| {
            serde_json::json!({"class": name, "support": c.support, "tp": c.tp, "fp": c.fp, "fn": c.fn_,
                "precision": c.precision, "recall": c.recall, "f1": c.f1, "f2": c.f2})
        })
        .collect();
    serde_json::json!({
        "samples": m.samples, "threshold": threshold,
        "hamming_loss": m.hamming_loss, "one_error": m.one_error,
        "sample": {"precision": m.sample_precision, "recall": m.sample_recall, "f1": m.sample_f1, "f2": m.sample_f2},
        "macro": {"precision": m.macro_precision, "recall": m.macro_recall, "f1": m.macro_f1, "f2": m.macro_f2},
        "micro": {"precision": m.micro_precision, "recall": m.micro_recall, "f1": m.micro_f1, "f2": m.micro_f2},
        "per_class": per_class,
    })
}

/// The paper's table, the averages table and the per-class table, as text.
pub fn metrics_tables(m: &Metrics) -> String {
    let mut out = String::new();
    out.push_str(&table(&[
        vec![
            "samples".into(),
            "HL".into(),
            "OE %".into(),
            "P %".into(),
            "R %".into(),
            "F1 %".into(),
            "F2 %".into(),
            "macro F2 %".into(),
        ],
        vec![
            m.samples.to_string(),
            format!("{:.4}", m.hamming_loss),
            pct(m.one_error),
            pct(m.sample_precision),
            pct(m.sample_recall),
            pct(m.sample_f1),
            pct(m.sample_f2),
            pct(m.macro_f2),
        ],
    ]));
    out.push('\n');
    out.push_str(&table(&[
        vec!["average".into(), "P %".into(), "R %".into(), "F1 %".into(), "F2 %".into()],
        vec!["sample-based".into(), pct(m.sample_precision), pct(m.sample_recall), pct(m.sample_f1), pct(m.sample_f2)],
        vec![
            "class-based (macro)".into(),
            pct(m.macro_precision),
            pct(m.macro_recall),
            pct(m.macro_f1),
            pct(m.macro_f2),
        ],
        vec!["micro".into(), pct(m.micro_precision), pct(m.micro_recall), pct(m.micro_f1), pct(m.micro_f2)],
    ]));
    out.push('\n');
    let mut rows = vec![["class", "support", "TP", "FP", "FN", "P %", "R %", "F1 %", "F2 %"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    for (c, name) in m.classes().iter().zip(CLASS_NAMES.iter()) {
        rows.push(vec![
            name.to_string(),
            c.support.to_string(),
            c.tp.to_string(),
            c.fp.to_string(),
            c.fn_.to_string(),
            pct(c.precision),
            pct(c.recall),
            pct(c.f1),
            pct(c.f2),
        ]);
    }
    out.push_str(&table(&rows));
    out
}

/// The per-class F2 bar chart (SVG), percent.
pub fn per_class_chart(m: &Metrics, title: &str) -> String {
    let values: Vec<f64> = m.classes().iter().map(|c| 100.0 * c.f2).collect();
    bemm_trainer::plot::bar_chart_svg(title, &CLASS_NAMES, &values, "F2 (%)")
}

/// Run `bemm eval`.
pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(chart) = &a.chart {
        crate::output_guard::check(
            "--chart",
            chart,
            &[("--truth", a.truth.as_path()), ("--predictions", a.predictions.as_path())],
        )?;
    }
    let ev = evaluate_with(&a.truth, &a.predictions, a.threshold, a.split.as_deref(), a.allow_incomplete)?;
    print_report(&a, &ev)
}

/// Write the `--chart` and print `ev` (computed by [`evaluate`] from `a`) as
/// `bemm eval` does: tables, or JSON with `--json`.
pub fn print_report(a: &Args, ev: &Evaluation) -> anyhow::Result<()> {
    let m = &ev.metrics;
    if let Some(path) = &a.chart {
        let title = format!("Per-class F2, {} patches (macro F2 {:.2} %)", ev.patches, 100.0 * m.macro_f2);
        write_atomic(path, per_class_chart(m, &title).as_bytes())
            .with_context(|| format!("{}: cannot write the chart", path.display()))?;
    }
    if a.json {
        let mut v = metrics_json(m, a.threshold);
        v["chart"] = a.chart.as_ref().map(|p| p.display().to_string()).into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", metrics_tables(m));
        if let Some(p) = &a.chart {
            println!("\nper-class F2 chart: {}", p.display());
        }
    }
    Ok(())
}
