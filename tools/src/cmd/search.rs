//! `bemm search`: the k nearest patches of a query in a feature archive by
//! chi-square (default), squared L2 or cosine distance — exact, SIMD,
//! multi-threaded (`bemm_engine::retrieval`). The query is a patch of the
//! feature archive (`--query NAME`) or any patch of a patch archive run
//! through the model that made the features (`--query-patch ARCHIVE:NAME
//! --model MODEL`).

use crate::cmd::predict::Runner;
use crate::cmd::run_args::RunArgs;
use crate::report::table;
use anyhow::{bail, Context};
use bemm_engine::retrieval::batch::Plan;
use bemm_engine::retrieval::{search_batch, Database, Hit, Metric, Query, SearchOptions, Selection};
use bemm_formats::archive::{PatchRecord, Split};
use bemm_formats::features::FeatureArchive;
use bemm_formats::labels::{mask_indices, CLASS_NAMES};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `bemm search`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Feature archive (`.bemf`, from `bemm features`).
    pub features: PathBuf,
    /// The query: the S2 (or S1) name of a patch in the feature archive.
    #[arg(long, conflicts_with = "query_patch", required_unless_present = "query_patch")]
    pub query: Option<String>,
    /// The query: `ARCHIVE:NAME`, a patch of a patch archive, run through `--model`.
    #[arg(long, requires = "model")]
    pub query_patch: Option<String>,
    /// The model that made the features (for `--query-patch`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Number of results.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Distance: `chi2` (the paper's), `l2` (squared Euclidean) or `cosine`.
    #[arg(long, default_value = "chi2")]
    pub metric: String,
    /// Only return patches of this split (`train`, `validation`, `test`).
    #[arg(long)]
    pub split: Option<String>,
    /// Worker threads (default: all cores; never more than the cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// More queries answered in the same pass over the rows: S2 (or S1)
    /// names of patches in the feature archive, comma-separated (chi-square
    /// batches read each row once for up to 16 queries).
    #[arg(long, value_delimiter = ',')]
    pub also: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A feature archive read into 8-byte-aligned memory and validated.
pub struct FeatureFile {
    words: Vec<u64>,
    len: usize,
    path: PathBuf,
}

impl FeatureFile {
    /// Read and verify `path` (magic, layout, checksum).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut f = std::fs::File::open(path)
            .with_context(|| format!("{}: cannot open the feature archive", path.display()))?;
        let len = f.metadata().with_context(|| format!("{}: cannot stat", path.display()))?.len() as usize;
        let mut words = vec![0u64; len.div_ceil(8)];
        f.read_exact(&mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..len])
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let me = FeatureFile { words, len, path: path.to_path_buf() };
        me.archive()?;
        Ok(me)
    }

    /// The parsed view.
    pub fn archive(&self) -> anyhow::Result<FeatureArchive<'_>> {
        FeatureArchive::parse(&bytemuck::cast_slice::<u64, u8>(&self.words)[..self.len])
            .with_context(|| format!("{}: not a valid feature archive", self.path.display()))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Parse `--metric`.
pub fn parse_metric(s: &str) -> anyhow::Result<Metric> {
    Metric::parse(s).with_context(|| format!("--metric {s}: expected chi2, l2 or cosine"))
}

/// Parse a split filter (`all` = none).
pub fn parse_split(s: Option<&str>, flag: &str) -> anyhow::Result<Option<Split>> {
    match s {
        None | Some("all") => Ok(None),
        Some(s) => Split::parse(s)
            .map(Some)
            .with_context(|| format!("{flag} {s}: expected train, validation, test, unassigned or all")),
    }
}

/// Chi-square needs non-negative features: fail clearly when they are not.
pub fn check_metric_fits(f: &FeatureArchive<'_>, metric: Metric, path: &Path) -> anyhow::Result<()> {
    if metric == Metric::ChiSquare {
        // Sign bit set on anything but -0.0 (and NaN payloads): an integer scan, ~20 ms per 590k rows.
        if let Some(pos) = f.rows().iter().position(|v| v.to_bits() > 0x8000 && !v.is_nan()) {
            let row = pos / f.row_elems().max(1);
            bail!(
                "{}: row {row} ({}) holds a negative feature; chi-square needs non-negative features (use --metric l2 or cosine)",
                path.display(),
                f.record(row).map_or("?", |r| r.s2())
            );
        }
    }
    Ok(())
}

/// Class names of a 19-class mask.
pub fn label_names(mask: u32) -> Vec<&'static str> {
    mask_indices(mask as u64).filter_map(|i| CLASS_NAMES.get(i).copied()).collect()
}

/// Find a patch by S2 or S1 name.
pub fn find_record(records: &[PatchRecord], name: &str) -> Option<usize> {
    records.iter().position(|r| r.s2() == name).or_else(|| records.iter().position(|r| r.s1() == name))
}

/// Compute the feature vector of `archive:name` with `model`; checks the
/// model is the one that made the feature archive.
fn query_from_patch(spec: &str, model: &Path, f: &FeatureArchive<'_>) -> anyhow::Result<(Vec<f32>, String, u32)> {
    let (archive, name) =
        spec.rsplit_once(':').with_context(|| format!("--query-patch {spec}: expected ARCHIVE:NAME"))?;
    let ra = RunArgs { threads: Some(1), batch: 1, fast: false, kernel: None };
    let mut runner = Runner::open(model, Path::new(archive), None, &ra, false)?;
    let m = runner.model.model();
    let bytes = m.file().bytes();
    let checksum = bytes
        .len()
        .checked_sub(8)
        .and_then(|s| bytes.get(s..))
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    let fc = f.header().model_checksum;
    if fc != 0 && fc != checksum {
        bail!("{}: these features were made by another model (checksum {fc:016x}, {} has {checksum:016x}); distances would be meaningless", model.display(), model.display());
    }
    if m.feature_len() != f.dim() {
        bail!(
            "{} outputs {}-d features, the feature archive holds {}-d vectors",
            model.display(),
            m.feature_len(),
            f.dim()
        );
    }
    let i = runner.archive.find(name).with_context(|| format!("{archive}: no patch named {name:?}"))?;
    let labels = runner.archive.record(i).map_or(0, |r| r.labels19);
    runner.indices = vec![i];
    let mut v = Vec::new();
    runner.run(&ra, true, |_, _, feats| {
        v.extend_from_slice(feats);
        Ok(())
    })?;
    if v.iter().any(|x: &f32| !x.is_finite()) {
        bail!("{archive}: patch {name:?} holds non-finite input values (a damaged shard?); it cannot be a query");
    }
    // Round through f16 like the stored features, so an archive patch finds itself at distance 0.
    let v = v.iter().map(|&x| bemm_formats::f16::from_f32(x).to_f32()).collect();
    Ok((v, name.to_string(), labels))
}

/// One result of [`execute`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// Row in the feature archive.
    pub index: u32,
    /// S2 name.
    pub name: String,
    /// Distance to the query.
    pub distance: f32,
    /// 19-class label mask.
    pub labels: u32,
    /// Split.
    pub split: Split,
}

/// The results of one `--also` query.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsoHits {
    /// The query's name.
    pub query: String,
    /// The query's 19-class label mask.
    pub query_labels: u32,
    /// Results, closest first.
    pub hits: Vec<SearchHit>,
}

/// What [`execute`] found.
#[derive(Debug, Clone)]
pub struct SearchOutput {
    /// The query's name.
    pub query: String,
    /// The query's 19-class label mask.
    pub query_labels: u32,
    /// Results, closest first.
    pub hits: Vec<SearchHit>,
    /// The `--also` queries' results, in their order.
    pub also: Vec<AlsoHits>,
    /// The multi-query bound kernel the batch used
    /// (`bemm_engine::retrieval::BoundKernel::name`); `None` when every
    /// query was answered alone (one query, another metric, no SIMD).
    pub batch_kernel: Option<&'static str>,
    /// The chi-square lower-bound kernel that pruned rows before the exact
    /// kernel, for a batch or a query alone; `None` when every row was
    /// measured exactly (another metric, no SIMD bound kernel).
    pub bound_kernel: Option<&'static str>,
    /// Patches in the feature archive.
    pub searched: usize,
    /// Distance used.
    pub metric: Metric,
    /// Distance kernel used (`bemm_engine::retrieval::Kernel::name`).
    pub kernel: &'static str,
    /// How the kernel was picked: timed on the data, pinned by `BEMM_KERNEL`, or preferred (small data).
    pub kernel_selection: Selection,
    /// Search time (excluding loading).
    pub seconds: f64,
}

/// Run the search `a` describes and return the results.
pub fn execute(a: &Args) -> anyhow::Result<SearchOutput> {
    let metric = parse_metric(&a.metric)?;
    if a.k == 0 {
        bail!("--k 0: expected at least 1 result");
    }
    let file = FeatureFile::open(&a.features)?;
    let f = file.archive()?;
    check_metric_fits(&f, metric, &a.features)?;
    let db = Database::from_features(&f);
    let split = parse_split(a.split.as_deref(), "--split")?;
    let allowed: Option<Vec<bool>> = split.map(|s| f.records().iter().map(|r| r.split() == s).collect());
    let db = match &allowed {
        Some(al) => db.with_filter(al)?,
        None => db,
    };
    let (query, qname, qlabels) = match (&a.query, &a.query_patch, &a.model) {
        (Some(name), _, _) => {
            let i = find_record(f.records(), name).with_context(|| {
                let eg: Vec<&str> = f.records().iter().take(3).map(|r| r.s2()).collect();
                format!("{}: no patch named {name:?} among its {} patches (e.g. {eg:?}); use --query-patch ARCHIVE:NAME --model MODEL for a patch outside it", a.features.display(), f.len())
            })?;
            let q = Query::from_row(&db, i).context("row out of range")?;
            (q, name.clone(), f.records()[i].labels19)
        }
        (None, Some(spec), Some(model)) => {
            let (v, n, l) = query_from_patch(spec, model, &f)?;
            (Query { vector: v, exclude: None }, n, l)
        }
        _ => bail!("give --query NAME, or --query-patch ARCHIVE:NAME with --model MODEL"),
    };
    let mut queries = vec![query];
    let mut also = Vec::new();
    for name in &a.also {
        let i = find_record(f.records(), name)
            .with_context(|| format!("--also {name}: no patch of that name in {}", a.features.display()))?;
        queries.push(Query::from_row(&db, i).context("row out of range")?);
        also.push((name.clone(), f.records()[i].labels19));
    }
    let (opt, kernel_selection) = SearchOptions::chosen(metric, a.k, &db)?;
    let opt = SearchOptions { threads: crate::threads::workers(a.threads, usize::MAX), ..opt };
    let plan = Plan::new(&queries, &opt);
    let batch_kernel = opt.bound.filter(|_| plan.grouped() > 0).map(|b| b.name());
    let bound_kernel = opt.bound.filter(|_| plan.bounded() > 0).map(|b| b.name());
    let t = Instant::now();
    let mut results = search_batch(&db, &queries, &opt)?.into_iter();
    let seconds = t.elapsed().as_secs_f64();
    let named = |hits: Vec<Hit>| -> Vec<SearchHit> {
        hits.iter()
            .filter_map(|h| {
                f.record(h.index as usize).map(|r| SearchHit {
                    index: h.index,
                    name: r.s2().to_string(),
                    distance: h.distance,
                    labels: r.labels19,
                    split: r.split(),
                })
            })
            .collect()
    };
    let hits = named(results.next().unwrap_or_default());
    let also = also
        .into_iter()
        .zip(results)
        .map(|((query, query_labels), h)| AlsoHits { query, query_labels, hits: named(h) })
        .collect();
    Ok(SearchOutput {
        query: qname,
        query_labels: qlabels,
        hits,
        also,
        batch_kernel,
        bound_kernel,
        searched: f.len(),
        metric,
        kernel: opt.kernel.name(),
        kernel_selection,
        seconds,
    })
}

/// Run `bemm search`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let o = execute(&a)?;
    let first = AlsoHits { query: o.query.clone(), query_labels: o.query_labels, hits: o.hits.clone() };
    let all: Vec<&AlsoHits> = std::iter::once(&first).chain(&o.also).collect();
    if a.json {
        let results = |q: &AlsoHits| -> Vec<serde_json::Value> {
            let ql = q.query_labels;
            q.hits
                .iter()
                .enumerate()
                .map(|(r, h)| {
                    serde_json::json!({"rank": r + 1, "index": h.index, "name": h.name, "distance": h.distance,
                        "split": h.split.name(), "shared_labels": (h.labels & ql).count_ones(), "labels": label_names(h.labels)})
                })
                .collect()
        };
        let also: Vec<serde_json::Value> = o
            .also
            .iter()
            .map(|q| serde_json::json!({"query": {"name": q.query, "labels": label_names(q.query_labels)}, "results": results(q)}))
            .collect();
        let v = serde_json::json!({"query": {"name": o.query, "labels": label_names(o.query_labels)}, "metric": o.metric.name(), "k": a.k,
            "searched": o.searched, "kernel": o.kernel, "kernel_selection": o.kernel_selection.name(),
            "batch_kernel": o.batch_kernel, "bound_kernel": o.bound_kernel, "queries": all.len(), "seconds": o.seconds, "results": results(&first), "also": also});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for q in &all {
            let ql = q.query_labels;
            println!("query {}: {}", q.query, label_names(ql).join("; "));
            let mut rows = vec![vec![
                "rank".to_string(),
                "name".into(),
                format!("{} distance", o.metric.name()),
                "shared".into(),
                "labels".into(),
            ]];
            for (r, h) in q.hits.iter().enumerate() {
                rows.push(vec![
                    (r + 1).to_string(),
                    h.name.clone(),
                    format!("{:.4}", h.distance),
                    (h.labels & ql).count_ones().to_string(),
                    label_names(h.labels).join("; "),
                ]);
            }
            print!("{}", table(&rows));
        }
        let batch = match (o.batch_kernel, o.bound_kernel) {
            (Some(b), _) => format!(", batch bound {b}"),
            (None, Some(b)) => format!(", bound {b}"),
            (None, None) => String::new(),
        };
        println!(
            "{} quer{} x {} of {} patches in {:.2} ms ({} kernel, {}{batch}, exact)",
            all.len(),
            if all.len() == 1 { "y" } else { "ies" },
            o.hits.len(),
            o.searched,
            o.seconds * 1e3,
            o.kernel,
            o.kernel_selection.name()
        );
    }
    Ok(())
}
