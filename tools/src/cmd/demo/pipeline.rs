//! The demo pipeline: synth -> ingest -> train -> export -> predict (test
//! split) -> eval (+ per-class F2 chart) -> features -> retrieval-eval ->
//! one example query -> `report.md`.
//!
//! Each step runs the real subcommand's `run` in-process (the same code a
//! user runs, from the same flags), so the demo doubles as an end-to-end
//! check of the command line.

use super::args::Args;
use super::layout::Layout;
use super::report::Report;
use super::steps::{os, Steps};
use super::thumbnails;
use crate::cmd::{eval, export, features, ingest, predict, retrieval_eval, synth, train};
use anyhow::Context;
use std::time::Instant;

/// Run the whole pipeline and write the report.
pub(super) fn run(a: &Args) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let l = Layout::new(&a.out);
    std::fs::create_dir_all(&l.root).with_context(|| format!("cannot create {}", l.root.display()))?;
    let real = a.s1.is_some();
    let mut steps = Steps::new(if real { 8 } else { 9 });
    let threads = crate::threads::cores().to_string();

    let (s1, s2) = match (&a.s1, &a.s2) {
        (Some(s1), Some(s2)) => (s1.clone(), s2.clone()),
        _ => {
            let layout = if a.v2 { "v2" } else { "v1" };
            steps.run(
                "synth",
                os(&[
                    &"--pairs",
                    &a.pairs.to_string(),
                    &"--out",
                    &l.raw,
                    &"--seed",
                    &a.seed.to_string(),
                    &"--layout",
                    &layout,
                    &"--force",
                ]),
                synth::run,
            )?;
            if a.v2 {
                (l.raw.join(crate::synth::v2::S1_DIR), l.raw.join(crate::synth::v2::S2_DIR))
            } else {
                (l.raw.join(crate::synth::S1_DIR), l.raw.join(crate::synth::S2_DIR))
            }
        }
    };
    let mut ingest_args = os(&[&"--s1", &s1, &"--s2", &s2, &"--out", &l.archive]);
    if real {
        if let Some(m) = &a.metadata {
            ingest_args.extend(os(&[&"--metadata", m]));
        }
        if let Some(s) = &a.splits {
            ingest_args.extend(os(&[&"--splits", s]));
        }
    } else if a.v2 {
        // The v2 twin ships the release's two metadata files.
        ingest_args.extend(os(&[
            &"--metadata",
            &l.raw.join(crate::synth::v2::METADATA),
            &"--snow-cloud-metadata",
            &l.raw.join(crate::synth::v2::SNOW_CLOUD_METADATA),
        ]));
    } else {
        // The twin ships the official list files beside its folders.
        ingest_args.extend(os(&[
            &"--splits",
            &l.raw,
            &"--snow",
            &l.raw.join("patches_with_seasonal_snow.csv"),
            &"--cloud",
            &l.raw.join("patches_with_cloud_and_shadow.csv"),
        ]));
    }
    steps.run("ingest", ingest_args, ingest::run)?;
    steps.run(
        "train",
        os(&[
            &l.archive,
            &"--arch",
            &a.arch,
            &"--out",
            &l.run,
            &"--epochs",
            &a.epochs.to_string(),
            &"--batch-size",
            &a.batch_size.to_string(),
            &"--device",
            &a.device,
            &"--seed",
            &a.seed.to_string(),
            &"--lr",
            &a.learning_rate().to_string(),
        ]),
        train::run,
    )?;
    steps.run("export", os(&[&l.run, &"--out", &l.model, &"--archive", &l.archive, &"--test"]), export::run)?;
    steps.run(
        "predict",
        os(&[&l.model, &l.archive, &"--split", &"test", &"--out", &l.predictions, &"--threads", &threads]),
        predict::run,
    )?;
    // eval and retrieval-eval keep their figures for the report instead of
    // having them computed a second time.
    let test = steps.run(
        "eval",
        os(&[&"--truth", &l.archive, &"--split", &"test", &"--predictions", &l.predictions, &"--chart", &l.chart]),
        |args: eval::Args| {
            let ev = eval::evaluate(&args.truth, &args.predictions, args.threshold, args.split.as_deref())?;
            eval::print_report(&args, &ev)?;
            Ok(ev.metrics)
        },
    )?;
    steps.run("features", os(&[&l.model, &l.archive, &"--out", &l.features]), features::run)?;
    let retrieval = steps.run(
        "retrieval-eval",
        os(&[&l.features, &"--queries", &"test", &"--k", &"10,100"]),
        |args: retrieval_eval::Args| {
            let r = retrieval_eval::evaluate(&args)?;
            retrieval_eval::print_report(&args, &r)?;
            Ok(r)
        },
    )?;

    // The example query: the first test patch, searched over the whole archive.
    let n = steps.n + 1;
    eprintln!("\n== [{n}/{}] example query", steps.total);
    let t = Instant::now();
    let report = Report::gather(&l, a, test, retrieval)?;
    thumbnails::contact_sheet(&l.archive, &report.query, &l.query_png)?;
    steps.timings.push(("example query".into(), t.elapsed().as_secs_f64()));
    let total = t0.elapsed().as_secs_f64();
    let md = report.markdown(&l, a, &steps.timings, total);
    bemm_formats::fsutil::write_atomic(&l.report, md.as_bytes())
        .with_context(|| format!("cannot write {}", l.report.display()))?;
    println!("\n{}", report.summary(&l, total));
    Ok(())
}
