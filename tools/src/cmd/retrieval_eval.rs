//! `bemm retrieval-eval`: how well a feature archive retrieves patches with
//! the same labels — precision@k, recall@k, mAP@k and NDCG@k (graded by the
//! number of shared labels; relevant = at least one shared label), averaged
//! over the queries of a split. Exact search; optionally also the binary
//! coarse pass + exact re-ranking, with its recall against exact search.

use crate::cmd::search::{check_metric_fits, parse_metric, parse_split, FeatureFile};
use crate::report::{progress, table};
use anyhow::{bail, Context};
use bemm_engine::retrieval::batch::Plan;
use bemm_engine::retrieval::binary::{rerank, BinaryCodes};
use bemm_engine::retrieval::metrics::{LabelIndex, QueryScores, RetrievalAccumulator};
use bemm_engine::retrieval::{search_batch, Database, Query, SearchOptions, Selection};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `bemm retrieval-eval`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Feature archive (`.bemf`, from `bemm features`).
    pub features: PathBuf,
    /// Split whose patches are the queries (`train`, `validation`, `test`, `all`).
    #[arg(long, default_value = "test")]
    pub queries: String,
    /// Split searched (`all` = every patch but the query itself).
    #[arg(long, default_value = "all")]
    pub database: String,
    /// Cut-offs, comma-separated.
    #[arg(long, default_value = "10,100", value_delimiter = ',')]
    pub k: Vec<usize>,
    /// Distance: `chi2`, `l2` or `cosine`.
    #[arg(long, default_value = "chi2")]
    pub metric: String,
    /// Use at most this many queries (evenly spaced over the split).
    #[arg(long)]
    pub max_queries: Option<usize>,
    /// Also evaluate the binary-code coarse pass keeping FACTOR x max(k)
    /// candidates for exact re-ranking (`--coarse` alone: the default factor,
    /// 30), and its recall against exact search.
    #[arg(long, value_name = "FACTOR", num_args = 0..=1, default_missing_value = DEFAULT_FACTOR)]
    pub coarse: Option<usize>,
    /// Worker threads (default: all cores; never more than the cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Queries answered per pass over the features (they share the memory traffic).
const BATCH: usize = 64;

/// `--coarse` without a value: `binary::DEFAULT_CANDIDATE_FACTOR` (checked in a test).
const DEFAULT_FACTOR: &str = "30";

/// The figures of one run.
pub struct RetrievalReport {
    /// `(k, mean scores)` of exact search.
    pub exact: Vec<(usize, QueryScores)>,
    /// Same for the coarse pass, and its mean recall of the exact top max(k).
    pub coarse: Option<(Vec<(usize, QueryScores)>, f64)>,
    /// Queries evaluated.
    pub queries: usize,
    /// Database size.
    pub database: usize,
    /// Seconds of exact search (all queries).
    pub exact_seconds: f64,
    /// Seconds of coarse search (all queries).
    pub coarse_seconds: f64,
    /// Distance kernel of the exact search.
    pub kernel: &'static str,
    /// How it was picked.
    pub kernel_selection: Selection,
    /// The multi-query bound kernel of the batches (`None`: queries
    /// answered one by one).
    pub batch_kernel: Option<&'static str>,
}

/// Evaluate retrieval on `a.features`.
pub fn evaluate(a: &Args) -> anyhow::Result<RetrievalReport> {
    let metric = parse_metric(&a.metric)?;
    let mut ks = a.k.clone();
    ks.sort_unstable();
    ks.dedup();
    if ks.is_empty() || ks[0] == 0 {
        bail!("--k {:?}: expected positive cut-offs such as 10,100", a.k);
    }
    let kmax = *ks.last().unwrap_or(&1);
    let file = FeatureFile::open(&a.features)?;
    let f = file.archive()?;
    check_metric_fits(&f, metric, &a.features)?;
    let qsplit = parse_split(Some(&a.queries), "--queries")?;
    let dsplit = parse_split(Some(&a.database), "--database")?;
    let recs = f.records();
    let mut qidx: Vec<usize> = (0..f.len()).filter(|&i| qsplit.is_none_or(|s| recs[i].split() == s)).collect();
    if qidx.is_empty() {
        bail!("{}: no patch in split {:?} to use as a query", a.features.display(), a.queries);
    }
    if let Some(m) = a.max_queries {
        if m == 0 {
            bail!("--max-queries 0: expected at least 1");
        }
        if qidx.len() > m {
            let step = qidx.len() as f64 / m as f64;
            qidx = (0..m).map(|j| qidx[(j as f64 * step) as usize]).collect();
        }
    }
    let allowed: Vec<bool> = recs.iter().map(|r| dsplit.is_none_or(|s| r.split() == s)).collect();
    let db_size = allowed.iter().filter(|a| **a).count();
    if db_size < 2 {
        bail!(
            "{}: the database (split {:?}) holds {db_size} patches; need at least 2",
            a.features.display(),
            a.database
        );
    }
    let db = Database::from_features(&f).with_filter(&allowed)?;
    let index = LabelIndex::new(recs.iter().zip(&allowed).filter(|(_, a)| **a).map(|(r, _)| r.labels19 as u64));
    let (opt, kernel_selection) = SearchOptions::chosen(metric, kmax, &db)?;
    let opt = SearchOptions { threads: crate::threads::workers(a.threads, usize::MAX), ..opt };
    let mut exact_acc = RetrievalAccumulator::new(&ks);
    let mut coarse_acc = RetrievalAccumulator::new(&ks);
    let codes = a.coarse.map(|_| BinaryCodes::build(f.rows(), f.row_elems(), f.dim()));
    let (mut exact_s, mut coarse_s, mut coarse_recall) = (0.0, 0.0, 0.0);
    let mut batch_kernel = None;
    let pb = progress(qidx.len() as u64, "queries");
    for chunk in qidx.chunks(BATCH) {
        let queries: Vec<Query> = chunk
            .iter()
            .map(|&i| Query::from_row(&db, i).context("query row out of range"))
            .collect::<anyhow::Result<_>>()?;
        let t = Instant::now();
        if Plan::new(&queries, &opt).grouped() > 0 {
            batch_kernel = opt.bound.map(|b| b.name());
        }
        let results = search_batch(&db, &queries, &opt)?;
        exact_s += t.elapsed().as_secs_f64();
        for ((&qi, q), hits) in chunk.iter().zip(&queries).zip(&results) {
            let ql = recs[qi].labels19 as u64;
            let profile = index.profile(ql, allowed[qi]);
            let ranked: Vec<u64> = hits.iter().map(|h| recs[h.index as usize].labels19 as u64).collect();
            exact_acc.add(ql, &ranked, &profile);
            if let (Some(codes), Some(factor)) = (&codes, a.coarse) {
                let t = Instant::now();
                let code = codes.encode(&q.vector);
                let cands = codes.candidates(&code, (factor.max(1) * kmax).min(db_size), q.exclude, Some(&allowed));
                let approx = rerank(opt.kernel, metric, &q.vector, f.rows(), f.row_elems(), &cands, kmax);
                coarse_s += t.elapsed().as_secs_f64();
                let exact_set: HashSet<u32> = hits.iter().map(|h| h.index).collect();
                coarse_recall += if hits.is_empty() {
                    1.0
                } else {
                    approx.iter().filter(|h| exact_set.contains(&h.index)).count() as f64 / hits.len() as f64
                };
                let ranked: Vec<u64> = approx.iter().map(|h| recs[h.index as usize].labels19 as u64).collect();
                coarse_acc.add(ql, &ranked, &profile);
            }
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    let n = qidx.len();
    Ok(RetrievalReport {
        exact: exact_acc.finish(),
        coarse: a.coarse.map(|_| (coarse_acc.finish(), coarse_recall / n as f64)),
        queries: n,
        database: db_size,
        exact_seconds: exact_s,
        coarse_seconds: coarse_s,
        kernel: opt.kernel.name(),
        kernel_selection,
        batch_kernel,
    })
}

fn scores_json(v: &[(usize, QueryScores)]) -> serde_json::Value {
    v.iter()
        .map(|(k, s)| serde_json::json!({"k": k, "precision": s.precision, "recall": s.recall, "map": s.average_precision, "ndcg": s.ndcg}))
        .collect::<Vec<_>>()
        .into()
}

/// Run `bemm retrieval-eval`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let r = evaluate(&a)?;
    print_report(&a, &r)
}

/// Print `r` (computed by [`evaluate`] from `a`) as `bemm retrieval-eval` does:
/// a table, or JSON with `--json`.
pub fn print_report(a: &Args, r: &RetrievalReport) -> anyhow::Result<()> {
    let metric = parse_metric(&a.metric)?;
    if a.json {
        let mut v = serde_json::json!({
            "features": a.features.display().to_string(), "metric": metric.name(), "queries": r.queries,
            "query_split": a.queries, "database_split": a.database, "database": r.database,
            "exact": scores_json(&r.exact), "exact_ms_per_query": 1e3 * r.exact_seconds / r.queries as f64,
            "batch": BATCH, "kernel": r.kernel, "kernel_selection": r.kernel_selection.name(), "batch_kernel": r.batch_kernel,
        });
        if let Some((c, recall)) = &r.coarse {
            v["coarse"] = serde_json::json!({"factor": a.coarse, "scores": scores_json(c), "recall_vs_exact": recall,
                "ms_per_query": 1e3 * r.coarse_seconds / r.queries as f64});
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{} queries ({}) against {} patches ({}), {} distance",
        r.queries,
        a.queries,
        r.database,
        a.database,
        metric.name()
    );
    let mut rows = vec![vec![
        "search".to_string(),
        "k".into(),
        "P@k %".into(),
        "R@k %".into(),
        "mAP@k %".into(),
        "NDCG@k %".into(),
    ]];
    let mut add = |name: &str, v: &[(usize, QueryScores)]| {
        for (k, s) in v {
            rows.push(vec![
                name.to_string(),
                k.to_string(),
                format!("{:.2}", 100.0 * s.precision),
                format!("{:.2}", 100.0 * s.recall),
                format!("{:.2}", 100.0 * s.average_precision),
                format!("{:.2}", 100.0 * s.ndcg),
            ]);
        }
    };
    add("exact", &r.exact);
    if let Some((c, _)) = &r.coarse {
        add(&format!("binary x{} + rerank", a.coarse.unwrap_or(0)), c);
    }
    print!("{}", table(&rows));
    println!(
        "exact search: {:.2} ms/query (batches of {BATCH}, {} kernel, {}{})",
        1e3 * r.exact_seconds / r.queries as f64,
        r.kernel,
        r.kernel_selection.name(),
        r.batch_kernel.map_or(String::new(), |b| format!(", batch bound {b}"))
    );
    if let Some((_, recall)) = &r.coarse {
        println!(
            "binary coarse pass + rerank: {:.2} ms/query (1 thread), recall of the exact top-{}: {:.3}",
            1e3 * r.coarse_seconds / r.queries as f64,
            a.k.iter().max().unwrap_or(&0),
            recall
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn coarse_default_is_the_engine_default() {
        assert_eq!(
            super::DEFAULT_FACTOR.parse::<usize>().ok(),
            Some(bemm_engine::retrieval::binary::DEFAULT_CANDIDATE_FACTOR)
        );
    }
}
