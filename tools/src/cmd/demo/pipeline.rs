//! The demo pipeline: synth -> ingest -> train -> export -> predict (test
//! split) -> eval (+ per-class F2 chart) -> features -> retrieval-eval ->
//! one example query -> `report.md`.
//!
//! Each step runs the real subcommand in-process (the same code a user runs),
//! so the demo doubles as an end-to-end check of the command line.

mod report;
mod thumbnails;

use crate::cli::run_args;
use crate::cmd::demo::Args;
use crate::cmd::{eval, retrieval_eval};
use anyhow::Context;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use report::Report;

/// Paths of everything the demo writes, relative to `--out`.
pub struct Layout {
    /// Root folder.
    pub root: PathBuf,
    /// Synthetic raw archive (v1.0 folder trees and lists).
    pub raw: PathBuf,
    /// Patch archive.
    pub archive: PathBuf,
    /// Training run folder.
    pub run: PathBuf,
    /// Exported model file.
    pub model: PathBuf,
    /// Test-split predictions.
    pub predictions: PathBuf,
    /// Per-class F2 chart.
    pub chart: PathBuf,
    /// Feature archive.
    pub features: PathBuf,
    /// Example query contact sheet.
    pub query_png: PathBuf,
    /// The report.
    pub report: PathBuf,
}

impl Layout {
    /// The layout under `root`.
    pub fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
            raw: root.join("raw"),
            archive: root.join("archive"),
            run: root.join("run"),
            model: root.join("model.bemm"),
            predictions: root.join("predictions_test.csv"),
            chart: root.join("per_class_f2.svg"),
            features: root.join("features.bemf"),
            query_png: root.join("example_query.png"),
            report: root.join("report.md"),
        }
    }
}

fn os(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

struct Steps {
    n: usize,
    total: usize,
    timings: Vec<(String, f64)>,
}

impl Steps {
    fn run(&mut self, name: &str, args: Vec<OsString>) -> anyhow::Result<()> {
        self.n += 1;
        let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        eprintln!("\n== [{}/{}] {name}: bemm {}", self.n, self.total, shown.join(" "));
        let t = Instant::now();
        run_args(args).with_context(|| format!("demo step `{name}` failed"))?;
        self.timings.push((name.to_string(), t.elapsed().as_secs_f64()));
        Ok(())
    }

    /// Like [`Steps::run`], for a subcommand whose result the demo keeps:
    /// `args` (without the subcommand name) are parsed into its `Args`, and
    /// `f` computes, prints and returns the result.
    fn run_kept<A: clap::Args, T>(
        &mut self,
        name: &str,
        args: Vec<OsString>,
        f: impl FnOnce(A) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.n += 1;
        let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        eprintln!("\n== [{}/{}] {name}: bemm {name} {}", self.n, self.total, shown.join(" "));
        let t = Instant::now();
        let out = report::parse_args::<A>(&shown).and_then(f).with_context(|| format!("demo step `{name}` failed"))?;
        self.timings.push((name.to_string(), t.elapsed().as_secs_f64()));
        Ok(out)
    }
}

/// Run the whole pipeline and write the report.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let l = Layout::new(&a.out);
    std::fs::create_dir_all(&l.root).with_context(|| format!("cannot create {}", l.root.display()))?;
    let real = a.s1.is_some();
    let mut steps = Steps { n: 0, total: if real { 8 } else { 9 }, timings: Vec::new() };
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).to_string();

    let (s1, s2) = match (&a.s1, &a.s2) {
        (Some(s1), Some(s2)) => (s1.clone(), s2.clone()),
        _ => {
            let layout = if a.v2 { "v2" } else { "v1" };
            steps.run(
                "synth",
                os(&[
                    &"synth",
                    &"--pairs",
                    &a.pairs.to_string(),
                    &"--out",
                    &l.raw,
                    &"--seed",
                    &a.seed.to_string(),
                    &"--layout",
                    &layout,
                ]),
            )?;
            if a.v2 {
                (l.raw.join(crate::synth::v2::S1_DIR), l.raw.join(crate::synth::v2::S2_DIR))
            } else {
                (l.raw.join(crate::synth::S1_DIR), l.raw.join(crate::synth::S2_DIR))
            }
        }
    };
    let mut ingest = os(&[&"ingest", &"--s1", &s1, &"--s2", &s2, &"--out", &l.archive]);
    if real {
        if let Some(m) = &a.metadata {
            ingest.extend(os(&[&"--metadata", m]));
        }
        if let Some(s) = &a.splits {
            ingest.extend(os(&[&"--splits", s]));
        }
    } else if a.v2 {
        // The v2 twin ships the release's two metadata files.
        ingest.extend(os(&[
            &"--metadata",
            &l.raw.join(crate::synth::v2::METADATA),
            &"--snow-cloud-metadata",
            &l.raw.join(crate::synth::v2::SNOW_CLOUD_METADATA),
        ]));
    } else {
        // The twin ships the official list files beside its folders.
        ingest.extend(os(&[
            &"--splits",
            &l.raw,
            &"--snow",
            &l.raw.join("patches_with_seasonal_snow.csv"),
            &"--cloud",
            &l.raw.join("patches_with_cloud_and_shadow.csv"),
        ]));
    }
    steps.run("ingest", ingest)?;
    steps.run(
        "train",
        os(&[
            &"train",
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
    )?;
    steps.run("export", os(&[&"export", &l.run, &"--out", &l.model, &"--archive", &l.archive, &"--test"]))?;
    steps.run(
        "predict",
        os(&[&"predict", &l.model, &l.archive, &"--split", &"test", &"--out", &l.predictions, &"--threads", &threads]),
    )?;
    // eval and retrieval-eval run in-process so their figures go straight
    // into the report instead of being computed a second time.
    let test = steps.run_kept(
        "eval",
        os(&[&"--truth", &l.archive, &"--split", &"test", &"--predictions", &l.predictions, &"--chart", &l.chart]),
        |args: eval::Args| {
            let ev = eval::evaluate(&args.truth, &args.predictions, args.threshold, args.split.as_deref())?;
            eval::print_report(&args, &ev)?;
            Ok(ev.metrics)
        },
    )?;
    steps.run("features", os(&[&"features", &l.model, &l.archive, &"--out", &l.features]))?;
    let retrieval = steps.run_kept(
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
