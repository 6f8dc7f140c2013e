//! Gathering the demo's figures and writing `report.md` and the terminal summary.

use super::args::Args;
use super::layout::Layout;
use super::steps::{os, parse_args};
use crate::cmd::retrieval_eval::RetrievalReport;
use crate::cmd::search;
use crate::cmd::search::{label_names, SearchOutput};
use anyhow::Context;
use bemm_engine::metrics::Metrics;
use bemm_engine::retrieval::metrics::QueryScores;
use bemm_formats::archive::{PatchArchive, Split};
use std::fmt::Write as _;

/// Everything the report shows.
pub struct Report {
    /// Patches per split.
    pub splits: Vec<(Split, usize)>,
    /// Test-split classification metrics of the exported model run by the engine.
    pub test: Metrics,
    /// Retrieval figures `(k, scores)` with test queries over the whole archive.
    pub retrieval: Vec<(usize, QueryScores)>,
    /// Retrieval queries evaluated.
    pub queries: usize,
    /// The example query and its results.
    pub query: SearchOutput,
}

impl Report {
    /// Complete the figures of the pipeline's test metrics and retrieval
    /// evaluation with the split counts and the example query.
    pub fn gather(l: &Layout, a: &Args, test: Metrics, r: RetrievalReport) -> anyhow::Result<Report> {
        let arch = PatchArchive::open(&l.archive)
            .with_context(|| format!("{}: cannot open the archive", l.archive.display()))?;
        let splits = Split::ALL.iter().map(|&s| (s, arch.indices(Some(s)).len())).filter(|(_, n)| *n > 0).collect();
        let first_test = arch
            .indices(Some(Split::Test))
            .first()
            .and_then(|&i| arch.record(i))
            .map(|r| r.s2().to_string())
            .context("the archive has no test patch to use as the example query")?;
        let query =
            search::execute(&parse_args(&os(&[&l.features, &"--query", &first_test, &"--k", &a.k.to_string()]))?)?;
        Ok(Report { splits, test, retrieval: r.exact, queries: r.queries, query })
    }

    /// The Markdown report.
    pub fn markdown(&self, l: &Layout, a: &Args, timings: &[(String, f64)], total: f64) -> String {
        let rel = |p: &std::path::Path| p.strip_prefix(&l.root).unwrap_or(p).display().to_string();
        let m = &self.test;
        let mut s = String::new();
        let _ = writeln!(s, "# bemm demo report\n");
        let source = if a.s1.is_some() {
            "the real BigEarthNet archive".to_string()
        } else {
            format!("a synthetic twin of {} pairs (seed {})", a.pairs, a.seed)
        };
        let _ = writeln!(
            s,
            "Model `{}` trained for {} epochs (Adam, lr {}, batch {}) on {} (device `{}`), exported to fp16 and run by \
             the bemm engine. Whole pipeline: {:.0} s.\n",
            a.arch, a.epochs, a.learning_rate(), a.batch_size, source, a.device, total
        );
        let _ = writeln!(s, "## Data\n\n| split | patches |\n|---|---:|");
        for (sp, n) in &self.splits {
            let _ = writeln!(s, "| {} | {} |", sp.name(), n);
        }
        let _ = writeln!(
            s,
            "\n## Training\n\n![training loss]({}) ![validation scores]({})\n",
            rel(&l.run.join("loss.svg")),
            rel(&l.run.join("scores.svg"))
        );
        let _ = writeln!(
            s,
            "Per-epoch figures: `{}` and `{}`.\n",
            rel(&l.run.join("metrics.csv")),
            rel(&l.run.join("metrics.jsonl"))
        );
        let _ = writeln!(s, "## Test-split classification (engine, fp16 weights)\n");
        let _ = writeln!(s, "| patches | HL | OE % | P % | R % | F1 % | F2 % | class-based F2 % |\n|---:|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            s,
            "| {} | {:.4} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            m.samples,
            m.hamming_loss,
            100.0 * m.one_error,
            100.0 * m.sample_precision,
            100.0 * m.sample_recall,
            100.0 * m.sample_f1,
            100.0 * m.sample_f2,
            100.0 * m.macro_f2
        );
        let _ = writeln!(s, "![per-class F2]({})\n", rel(&l.chart));
        let _ = writeln!(s, "## Retrieval (compact 128-d f16 features, chi-square distance)\n");
        let _ = writeln!(
            s,
            "{} test queries over the whole archive; relevant = at least one shared label.\n",
            self.queries
        );
        let _ = writeln!(s, "| k | P@k % | R@k % | mAP@k % | NDCG@k % |\n|---:|---:|---:|---:|---:|");
        for (k, q) in &self.retrieval {
            let _ = writeln!(
                s,
                "| {k} | {:.2} | {:.2} | {:.2} | {:.2} |",
                100.0 * q.precision,
                100.0 * q.recall,
                100.0 * q.average_precision,
                100.0 * q.ndcg
            );
        }
        let q = &self.query;
        let _ = writeln!(
            s,
            "\n## Example query\n\nQuery `{}` ({}), true colour (B04, B03, B02), then its {} nearest patches:\n",
            q.query,
            label_names(q.query_labels).join("; "),
            q.hits.len()
        );
        let _ = writeln!(s, "![example query]({})\n", rel(&l.query_png));
        let _ =
            writeln!(s, "| rank | patch | split | chi-square | shares a label | labels |\n|---:|---|---|---:|---|---|");
        for (i, h) in q.hits.iter().enumerate() {
            let shares = if h.labels & q.query_labels != 0 { "yes" } else { "no" };
            let _ = writeln!(
                s,
                "| {} | `{}` | {} | {:.4} | {} | {} |",
                i + 1,
                h.name,
                h.split.name(),
                h.distance,
                shares,
                label_names(h.labels).join("; ")
            );
        }
        let _ = writeln!(s, "\n## Timings\n\n| step | seconds |\n|---|---:|");
        for (name, t) in timings {
            let _ = writeln!(s, "| {name} | {t:.1} |");
        }
        let _ = writeln!(s, "| **total** | **{total:.1}** |");
        s
    }

    /// A few lines for the terminal.
    pub fn summary(&self, l: &Layout, total: f64) -> String {
        let m = &self.test;
        let mut rows = vec![vec!["result".to_string(), "value".to_string()]];
        rows.push(vec!["test patches".into(), m.samples.to_string()]);
        rows.push(vec!["sample F2 %".into(), format!("{:.2}", 100.0 * m.sample_f2)]);
        rows.push(vec!["class-based F2 %".into(), format!("{:.2}", 100.0 * m.macro_f2)]);
        rows.push(vec!["Hamming loss".into(), format!("{:.4}", m.hamming_loss)]);
        rows.push(vec!["one-error %".into(), format!("{:.2}", 100.0 * m.one_error)]);
        for (k, q) in &self.retrieval {
            rows.push(vec![format!("retrieval mAP@{k} %"), format!("{:.2}", 100.0 * q.average_precision)]);
        }
        let shared = self.query.hits.iter().filter(|h| h.labels & self.query.query_labels != 0).count();
        rows.push(vec!["example query: results sharing a label".into(), format!("{shared}/{}", self.query.hits.len())]);
        rows.push(vec!["total seconds".into(), format!("{total:.1}")]);
        format!("{}\nReport: {}\n", crate::report::table(&rows), l.report.display())
    }
}
