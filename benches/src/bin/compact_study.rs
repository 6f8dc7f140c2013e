//! What the compact retrieval feature costs: retrieval quality of the full
//! pooled features of a model against fixed non-negative reductions of them
//! to 128 values (256 bytes in f16), on a patch archive.
//!
//! The model file's feature layer is `GraphBuilder::block_mean` over the
//! pooled (post-ReLU) features. This tool makes a copy of the model whose
//! feature layer is the pooled layer itself (header field + checksum), runs
//! the engine over every patch, and compares, with chi-square search
//! (queries: one split, database: another):
//!
//! - `full`: the pooled features (D values, f16);
//! - `block-mean`: the shipped reduction (contiguous channel blocks averaged);
//! - `scaled block-mean`: each channel divided by its database mean first
//!   (still one non-negative linear layer: weights 1 / (mean_c * block));
//! - `top-variance`: the 128 channels with the largest database variance;
//! - `corr-grouped mean`: channels greedily grouped by correlation, each group
//!   averaged after scaling (non-negative linear too).
//!
//! Usage: `compact_study --archive DIR (--model M.bemm | --random resnet50) [--queries test] [--database train] [--k 10,100] [--threads 2]`.

use anyhow::{bail, Context, Result};
use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_engine::retrieval::metrics::{LabelIndex, RetrievalAccumulator};
use bemm_engine::retrieval::{search_batch, Database, Metric, Query, SearchOptions};
use bemm_engine::OwnedModel;
use bemm_formats::archive::{PatchArchive, Split};
use bemm_formats::model::{FileHeader, OwnedMeta};
use half::f16;
use std::path::PathBuf;

const OUT: usize = 128;

struct Opts {
    archive: PathBuf,
    model: Option<PathBuf>,
    random: Option<String>,
    queries: Split,
    database: Option<Split>,
    ks: Vec<usize>,
    threads: usize,
}

fn parse() -> Result<Opts> {
    let mut o = Opts {
        archive: PathBuf::new(),
        model: None,
        random: None,
        queries: Split::Test,
        database: Some(Split::Train),
        ks: vec![10, 100],
        threads: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |n: &str| it.next().with_context(|| format!("{n} needs a value"));
        match a.as_str() {
            "--archive" => o.archive = val("--archive")?.into(),
            "--model" => o.model = Some(val("--model")?.into()),
            "--random" => o.random = Some(val("--random")?),
            "--queries" => o.queries = Split::parse(&val("--queries")?).context("--queries: a split")?,
            "--database" => {
                let v = val("--database")?;
                o.database =
                    if v == "all" { None } else { Some(Split::parse(&v).context("--database: a split or all")?) }
            }
            "--k" => {
                o.ks = val("--k")?
                    .split(',')
                    .map(|s| s.parse().context("--k: comma-separated counts"))
                    .collect::<Result<_>>()?
            }
            "--threads" => o.threads = val("--threads")?.parse()?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    if o.archive.as_os_str().is_empty() || (o.model.is_none() == o.random.is_none()) {
        bail!("usage: compact_study --archive DIR (--model M.bemm | --random resnet18|resnet50) [--queries test] [--database train|all] [--k 10,100]");
    }
    Ok(o)
}

/// The model bytes with the feature layer moved to the block mean's input.
fn pooled_variant(bytes: &[u8]) -> Result<Vec<u8>> {
    let words: Vec<u64> = bytes
        .chunks(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(a)
        })
        .collect();
    let aligned = &bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()];
    let m = bemm_formats::model::ModelFile::parse(aligned).context("model file")?;
    let fl = m.header().feature_layer as usize;
    let pooled = m.layers()[fl].input as usize;
    if pooled >= m.layers().len() {
        bail!("the feature layer's input is not a layer");
    }
    let mut h: FileHeader = *m.header();
    h.feature_layer = pooled as u32;
    let mut out = bytes[..h.file_len as usize].to_vec();
    out[..64].copy_from_slice(bytemuck::bytes_of(&h));
    let n = out.len() - 8;
    let sum = bemm_formats::checksum::xxh64(&out[..n]);
    out[n..].copy_from_slice(&sum.to_le_bytes());
    Ok(out)
}

/// A non-negative linear map `OUT x D` given as groups of (channel, weight).
type Reduction = Vec<Vec<(usize, f32)>>;

fn block_mean(d: usize, scale: &[f32]) -> Reduction {
    (0..OUT)
        .map(|j| {
            let (a, b) = (j * d / OUT, (j + 1) * d / OUT);
            (a..b).map(|i| (i, scale[i] / (b - a) as f32)).collect()
        })
        .collect()
}

fn apply(red: &Reduction, x: &[f32]) -> Vec<f32> {
    red.iter().map(|g| g.iter().map(|&(i, w)| w * x[i]).sum()).collect()
}

/// Greedy correlation grouping: channels sorted by variance; each unassigned
/// channel seeds a group and pulls in its most correlated unassigned
/// channels until the group has d / OUT members.
fn corr_groups(feats: &[Vec<f32>], d: usize, scale: &[f32]) -> Reduction {
    let n = feats.len() as f64;
    let mean: Vec<f64> = (0..d).map(|c| feats.iter().map(|f| f[c] as f64).sum::<f64>() / n).collect();
    let sd: Vec<f64> = (0..d)
        .map(|c| (feats.iter().map(|f| (f[c] as f64 - mean[c]).powi(2)).sum::<f64>() / n).sqrt().max(1e-12))
        .collect();
    let z: Vec<Vec<f32>> =
        (0..d).map(|c| feats.iter().map(|f| ((f[c] as f64 - mean[c]) / sd[c]) as f32).collect()).collect();
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|a, b| sd[*b].total_cmp(&sd[*a]));
    let size = d.div_ceil(OUT);
    let mut used = vec![false; d];
    let mut groups: Reduction = Vec::new();
    for &seed in &order {
        if used[seed] || groups.len() == OUT {
            continue;
        }
        used[seed] = true;
        let mut corr: Vec<(f32, usize)> = (0..d)
            .filter(|c| !used[*c])
            .map(|c| (z[seed].iter().zip(&z[c]).map(|(a, b)| a * b).sum::<f32>(), c))
            .collect();
        corr.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut g = vec![seed];
        for &(_, c) in corr.iter().take(size - 1) {
            used[c] = true;
            g.push(c);
        }
        let k = g.len() as f32;
        groups.push(g.into_iter().map(|c| (c, scale[c] / k)).collect());
    }
    // Channels left over (when d is not a multiple of OUT) join the last group unweighted.
    groups
}

fn main() -> Result<()> {
    let o = parse()?;
    let archive = PatchArchive::open(&o.archive).with_context(|| format!("{}", o.archive.display()))?;
    let (bytes, name) = match (&o.model, &o.random) {
        (Some(p), _) => (std::fs::read(p).with_context(|| format!("{}", p.display()))?, p.display().to_string()),
        (None, Some(a)) => {
            let arch = match a.as_str() {
                "resnet18" => Arch::ResNet18,
                "resnet50" => Arch::ResNet50,
                "tiny" => Arch::Tiny,
                _ => bail!("--random: resnet18, resnet50 or tiny"),
            };
            let meta = OwnedMeta::bigearthnet(a, &(0..12).collect::<Vec<_>>());
            let b = arch::build(arch, 12, 120, 19, &mut RandomWeights::new(1), meta)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .to_bytes()?;
            (b, format!("random-weight {a}"))
        }
        _ => unreachable!("checked in parse"),
    };
    let tmp = std::env::temp_dir().join(format!("compact-study-{}.bemm", std::process::id()));
    std::fs::write(&tmp, pooled_variant(&bytes)?)?;
    let full_model = OwnedModel::open(&tmp)?;
    let _ = std::fs::remove_file(&tmp);
    let m = full_model.model();
    let d = m.feature_len();
    eprintln!("{name}: pooled features {d}-d, running {} patches...", archive.len());
    let idx: Vec<usize> = (0..archive.len()).collect();
    let mut feats: Vec<Vec<f32>> = Vec::with_capacity(idx.len());
    let t = std::time::Instant::now();
    for chunk in idx.chunks(32) {
        let samples: Vec<&[f16]> = chunk.iter().map(|&i| archive.patch(i).context("patch")).collect::<Result<_>>()?;
        let mut probs = vec![0f32; chunk.len() * m.num_classes()];
        let mut f = vec![0f32; chunk.len() * d];
        m.infer_parallel(&samples, o.threads, &mut probs, &mut f)?;
        feats.extend(f.chunks(d).map(|c| c.to_vec()));
    }
    eprintln!("inference {:.1} s", t.elapsed().as_secs_f64());
    if feats.iter().flatten().any(|v| *v < 0.0) {
        bail!("pooled features hold negative values: not post-ReLU");
    }
    let recs: Vec<_> = idx.iter().map(|&i| *archive.record(i).expect("record")).collect();
    let in_db: Vec<bool> = recs.iter().map(|r| o.database.is_none_or(|s| r.split() == s)).collect();
    let db_feats: Vec<Vec<f32>> = feats.iter().zip(&in_db).filter(|(_, a)| **a).map(|(f, _)| f.clone()).collect();
    let nd = db_feats.len() as f64;
    let mean: Vec<f32> = (0..d).map(|c| (db_feats.iter().map(|f| f[c] as f64).sum::<f64>() / nd) as f32).collect();
    let var: Vec<f64> =
        (0..d).map(|c| db_feats.iter().map(|f| (f[c] as f64 - mean[c] as f64).powi(2)).sum::<f64>() / nd).collect();
    let ones = vec![1f32; d];
    let inv_mean: Vec<f32> = mean.iter().map(|m| if *m > 1e-12 { 1.0 / m } else { 0.0 }).collect();
    let mut top: Vec<usize> = (0..d).collect();
    top.sort_by(|a, b| var[*b].total_cmp(&var[*a]));
    let topvar: Reduction = top.iter().take(OUT).map(|&c| vec![(c, 1.0)]).collect();

    let mut reps: Vec<(String, Vec<Vec<f32>>)> = vec![(format!("full pooled ({d}-d, {} B)", d * 2), feats.clone())];
    if d > OUT {
        for (label, red) in [
            ("block-mean 128 (shipped)", block_mean(d, &ones)),
            ("scaled block-mean 128 (x / mean_c)", block_mean(d, &inv_mean)),
            ("top-variance 128 channels", topvar),
            ("corr-grouped mean 128 (x / mean_c)", corr_groups(&db_feats, d, &inv_mean)),
        ] {
            reps.push((label.to_string(), feats.iter().map(|f| apply(&red, f)).collect()));
        }
    }
    let kmax = *o.ks.iter().max().unwrap_or(&10);
    let qidx: Vec<usize> = (0..recs.len()).filter(|&i| recs[i].split() == o.queries).collect();
    let index = LabelIndex::new(recs.iter().zip(&in_db).filter(|(_, a)| **a).map(|(r, _)| r.labels19 as u64));
    println!(
        "{name}; {} queries ({}), database {} patches ({}); chi-square, exact",
        qidx.len(),
        o.queries.name(),
        in_db.iter().filter(|a| **a).count(),
        o.database.map_or("all", |s| s.name())
    );
    let mut head = format!("{:<40}", "features");
    for k in &o.ks {
        head.push_str(&format!(" {:>8} {:>8} {:>8}", format!("P@{k}"), format!("mAP@{k}"), format!("NDCG@{k}")));
    }
    head.push_str(&format!(" {:>12}", format!("top{kmax}-overlap")));
    println!("{head}");
    let mut full_top: Vec<Vec<u32>> = Vec::new();
    for (label, vecs) in &reps {
        let dim = vecs[0].len();
        let stride = dim.div_ceil(32) * 32;
        let mut rows = vec![f16::ZERO; vecs.len() * stride];
        for (r, v) in vecs.iter().enumerate() {
            for (j, x) in v.iter().enumerate() {
                rows[r * stride + j] = f16::from_f32(*x);
            }
        }
        let db = Database::new(&rows, stride)?.with_filter(&in_db)?;
        let opt = SearchOptions { threads: o.threads, ..SearchOptions::new(Metric::ChiSquare, kmax) };
        let mut acc = RetrievalAccumulator::new(&o.ks);
        let mut overlap = 0.0;
        let mut tops = Vec::new();
        for chunk in qidx.chunks(64) {
            let qs: Vec<Query> =
                chunk.iter().map(|&i| Query::from_row(&db, i).context("row")).collect::<Result<_>>()?;
            let res = search_batch(&db, &qs, &opt)?;
            for (&qi, hits) in chunk.iter().zip(&res) {
                let ql = recs[qi].labels19 as u64;
                let ranked: Vec<u64> = hits.iter().map(|h| recs[h.index as usize].labels19 as u64).collect();
                acc.add(ql, &ranked, &index.profile(ql, in_db[qi]));
                tops.push(hits.iter().map(|h| h.index).collect::<Vec<u32>>());
            }
        }
        if full_top.is_empty() {
            full_top = tops.clone();
        }
        for (a, b) in tops.iter().zip(&full_top) {
            let s: std::collections::HashSet<&u32> = b.iter().collect();
            overlap += a.iter().filter(|x| s.contains(x)).count() as f64 / b.len().max(1) as f64;
        }
        let mut line = format!("{label:<40}");
        for (_, s) in acc.finish() {
            line.push_str(&format!(
                " {:>8.2} {:>8.2} {:>8.2}",
                100.0 * s.precision,
                100.0 * s.average_precision,
                100.0 * s.ndcg
            ));
        }
        line.push_str(&format!(" {:>12.3}", overlap / tops.len().max(1) as f64));
        println!("{line}");
    }
    Ok(())
}
