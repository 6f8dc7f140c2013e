//! Exact chi-square top-k search speed over compact features (128 f16 per
//! row, 256 bytes) against its peers, in one run, with the CPU model and its
//! SIMD flags printed first:
//!
//! - `memory read floor`: one thread summing the rows as integers (the speed
//!   a search cannot beat), and each kernel alone on 1 MiB of rows hot in
//!   cache (its arithmetic speed, scaled to the database);
//! - `bound <bound> one query alone`: the single-query chi-square lower bound
//!   (`BoundKernel::row_bounds`) on the same hot rows;
//! - `bemm exact (<kernel>, 1 thr)`: `retrieval::search` with each distance
//!   kernel this CPU runs (AVX-512, AVX2, NEON; division or reciprocal)
//!   measuring every row, and `(<bound> + <kernel>, 1 thr)` the same behind
//!   the single-query bound (the default: only rows the bound does not rule
//!   out are measured);
//! - `bemm exact (chosen ...)`: the kernel `retrieval::select` times on the
//!   data (or `BEMM_KERNEL` pins), threads over rows; CPU seconds per query;
//! - `bemm exact, batch 16 (<bound> + <kernel>)`: 16 queries per pass, each row
//!   read once for all of them through the multi-query chi-square lower bound
//!   (`retrieval::bound`), exact checks of the rows it does not rule out;
//!   recall = fraction of the one-query search's top-k found (1 = same);
//!   `(<kernel>, one query at a time)`: the same batch without the bound;
//! - `scalar kernel`: the same threaded top-k with the scalar kernel and no bound (the SIMD gain);
//! - `naive`: scalar distances of every row then a full sort, one thread;
//! - `binary+rerank`: 128-bit sign codes, Hamming top-C, exact re-rank (recall@k
//!   vs exact), C = 10 k and the default `binary::DEFAULT_CANDIDATE_FACTOR` k;
//! - `numpy`: float32 vectorised chi-square + argpartition, when python3 and numpy exist.
//!
//! Usage: `search_bench [--sizes 10000,100000,590000] [--queries 40] [--threads 2] [--k 100] [--repeat 5] [--json]`.
//! Features are random but shaped like pooled post-ReLU activations (non-negative,
//! about a third exact zeros, long-tailed). Times are the median of `--repeat`
//! passes. Speed is printed, never asserted.

use anyhow::{bail, Context, Result};
use bemm_engine::retrieval::binary::{rerank, BinaryCodes, DEFAULT_CANDIDATE_FACTOR};
use bemm_engine::retrieval::search::thread_count;
use bemm_engine::retrieval::{search, search_batch, search_naive, Database, Kernel, Metric, Query, SearchOptions};
use half::f16;
use std::io::Write;
use std::time::Instant;

const DIM: usize = 128;

struct Opts {
    sizes: Vec<usize>,
    queries: usize,
    threads: usize,
    k: usize,
    repeat: usize,
    json: bool,
}

fn parse() -> Result<Opts> {
    let mut o = Opts { sizes: vec![10_000, 100_000, 590_000], queries: 40, threads: 2, k: 100, repeat: 5, json: false };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--sizes" => {
                o.sizes = val("--sizes")?
                    .split(',')
                    .map(|s| s.trim().parse().context("--sizes: comma-separated row counts"))
                    .collect::<Result<_>>()?
            }
            "--queries" => o.queries = val("--queries")?.parse().context("--queries: a count")?,
            "--threads" => o.threads = val("--threads")?.parse().context("--threads: a count")?,
            "--k" => o.k = val("--k")?.parse().context("--k: a count")?,
            "--repeat" => o.repeat = val("--repeat")?.parse().context("--repeat: a count")?,
            "--json" => o.json = true,
            "-h" | "--help" => {
                println!("search_bench [--sizes 10000,100000,590000] [--queries 40] [--threads 2] [--k 100] [--repeat 5] [--json]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if o.queries == 0 || o.k == 0 {
        bail!("--queries and --k must be at least 1");
    }
    Ok(o)
}

/// Deterministic non-negative, sparse-ish, long-tailed rows with a few
/// hundred cluster centres so neighbours are meaningful.
fn make_rows(n: usize, seed: u64) -> Vec<f16> {
    let mut s = seed;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let centres: Vec<f32> = (0..256 * DIM)
        .map(|_| {
            let u = next();
            if u < 0.35 {
                0.0
            } else {
                (-(1.0 - u).ln() * 0.8) as f32
            }
        })
        .collect();
    let mut rows = Vec::with_capacity(n * DIM);
    for _ in 0..n {
        let c = (next() * 256.0) as usize % 256;
        for j in 0..DIM {
            let v = centres[c * DIM + j] * (0.6 + 0.8 * next() as f32)
                + if next() < 0.2 { (next() * 0.5) as f32 } else { 0.0 };
            rows.push(f16::from_f32(v));
        }
    }
    rows
}

struct Row {
    size: usize,
    method: String,
    ms_per_query: f64,
    queries_per_s: f64,
    gb_per_s: f64,
    recall: Option<f64>,
}

/// Median wall time of `repeat` runs (the machine may be shared: the
/// median is robust to a disturbed run without picking the luckiest one).
fn time<F: FnMut()>(repeat: usize, mut f: F) -> f64 {
    let mut t: Vec<f64> = (0..repeat.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// The CPU model and the SIMD flags the search kernels care about, from
/// /proc/cpuinfo (Linux; "unknown" elsewhere).
fn cpu_description() -> (String, String) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let model = field("model name").or_else(|| field("CPU part").map(|p| format!("Arm CPU part {p}")));
    let flags = field("flags").or_else(|| field("Features")).unwrap_or_default();
    let wanted = [
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512dq",
        "avx512_bf16",
        "avx512_fp16",
        "avx512_vnni",
        "avx512_vpopcntdq",
        "amx_bf16",
        "asimd",
        "fphp",
        "asimdhp",
        "sve",
    ];
    let have: Vec<&str> = flags.split_whitespace().filter(|f| wanted.contains(f)).collect();
    (model.unwrap_or_else(|| "unknown".into()), have.join(" "))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// CPU seconds per call of `f`, calling it until at least `min_cpu` CPU
/// seconds (all threads of this process) are spent; `None` without /proc.
fn cpu_time<F: FnMut()>(min_cpu: f64, mut f: F) -> Option<f64> {
    let (c0, mut calls) = (cpu_seconds(), 0usize);
    if c0 <= 0.0 {
        return None;
    }
    // Reading the CPU clock (/proc/self/stat) costs about 10 us: check it only
    // between batches of calls that take at least 20 ms of wall time.
    let mut batch = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        calls += batch;
        if cpu_seconds() - c0 >= min_cpu {
            break;
        }
        if t.elapsed().as_secs_f64() < 0.02 {
            batch *= 2;
        }
    }
    Some((cpu_seconds() - c0) / calls as f64)
}

/// Seconds for one thread to read every byte of `rows` (summing u64 words):
/// the memory floor no search over them can beat.
fn read_floor(rows: &[f16]) -> impl FnMut() + '_ {
    let words: &[u64] = bytemuck::cast_slice(&rows[..rows.len() / 4 * 4]);
    move || {
        let mut acc = [0u64; 8];
        for c in words.chunks_exact(8) {
            for (a, w) in acc.iter_mut().zip(c) {
                *a = a.wrapping_add(*w);
            }
        }
        std::hint::black_box(acc);
    }
}

/// CPU seconds this process has consumed (all threads), from /proc (Linux;
/// 0 elsewhere). Unlike wall time it does not count time the scheduler gave
/// to other jobs, so it stays meaningful on a shared machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    // utime and stime are fields 14 and 15: the 12th and 13th after the name; 100 ticks/s.
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn numpy_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// numpy peer: f32 matrix in memory (conversion from f16 not timed), chi-square
/// with 0/0 -> 0, argpartition + sort of the top k. Returns seconds per query.
fn numpy_peer(rows: &[f16], queries: &[usize], k: usize) -> Result<f64> {
    let dir = std::env::temp_dir().join(format!("bemm-search-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let raw = dir.join("rows.f16");
    let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect();
    std::fs::write(&raw, &bytes)?;
    let script = format!(
        r#"
import numpy as np, time, sys
X = np.fromfile(r"{raw}", dtype="<f2").reshape(-1, {dim}).astype(np.float32)
qs = [{qs}]
def chi2(q):
    s = X + q
    d = X - q
    with np.errstate(invalid="ignore", divide="ignore"):
        t = d * d / s
    t[s == 0] = 0
    return t.sum(axis=1)
chi2(X[qs[0]])
t0 = time.perf_counter()
for i in qs:
    dist = chi2(X[i])
    dist[i] = np.inf
    top = np.argpartition(dist, {k})[:{k}]
    top = top[np.argsort(dist[top], kind="stable")]
print((time.perf_counter() - t0) / len(qs))
"#,
        raw = raw.display(),
        dim = DIM,
        qs = queries.iter().map(|q| q.to_string()).collect::<Vec<_>>().join(","),
        k = k.min(rows.len() / DIM - 1)
    );
    let out = std::process::Command::new("python3").args(["-c", &script]).output().context("running python3")?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        bail!("numpy peer failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().context("numpy peer output")
}

fn main() -> Result<()> {
    let o = parse()?;
    let have_numpy = numpy_available();
    let mut results: Vec<Row> = Vec::new();
    let (model, flags) = cpu_description();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("CPU: {model} ({cores} cores available)");
    println!("SIMD flags: {flags}");
    println!("load average at the start: {}", load_average());
    let kernels: Vec<Kernel> = Kernel::available_kernels().collect();
    eprintln!(
        "kernels here: {}; {} threads, k = {}, dim = {DIM} f16 (256 B/row){}",
        kernels.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
        o.threads,
        o.k,
        if have_numpy { ", numpy peer on" } else { ", numpy not found: peer skipped" }
    );
    let mut chosen_report = Vec::new();
    let mut multi = Vec::new();
    for &n in &o.sizes {
        if n < 2 {
            bail!("--sizes: each size must be at least 2 rows");
        }
        eprint!("{n} rows: generating...");
        let _ = std::io::stderr().flush();
        let rows = make_rows(n, 0x5eed ^ n as u64);
        let db = Database::new(&rows, DIM)?;
        let nq = o.queries.min(n);
        let qidx: Vec<usize> = (0..nq).map(|i| (i * 7919 + 13) % n).collect();
        let queries: Vec<Query> = qidx.iter().filter_map(|&i| Query::from_row(&db, i)).collect();
        let bytes = (n * DIM * 2) as f64;
        let mut push = |method: String, secs_per_q: f64, bytes_per_q: f64, recall: Option<f64>| {
            results.push(Row {
                size: n,
                method,
                ms_per_query: secs_per_q * 1e3,
                queries_per_s: 1.0 / secs_per_q,
                gb_per_s: bytes_per_q / secs_per_q / 1e9,
                recall,
            });
        };
        let (opt, how) = SearchOptions::chosen(Metric::ChiSquare, o.k, &db)?;
        let opt = SearchOptions { threads: o.threads, ..opt };
        let kernel = opt.kernel;
        chosen_report.push(format!("{n} rows: {} ({})", kernel.name(), how.name()));
        eprint!(" floor...");
        push("memory read floor (sum of the rows, 1 thr)".into(), time(o.repeat, read_floor(&rows)), bytes, None);
        if let Some(c) = cpu_time(1.0, read_floor(&rows)) {
            push("memory read floor, per CPU-second".into(), c, bytes, None);
        }
        // Each kernel's arithmetic alone: 4,096 rows (1 MiB) hot in cache, CPU time.
        if n == *o.sizes.iter().max().unwrap_or(&n) {
            let hot = &rows[..n.min(4096) * DIM];
            let q = &queries[0].vector;
            let mut out = vec![0f32; n.min(4096)];
            let rows_hot = out.len() as f64;
            let mut timed: Vec<(String, Option<f64>)> = kernels
                .iter()
                .map(|&k| {
                    let c = cpu_time(if k == Kernel::Scalar { 0.3 } else { 1.0 }, || {
                        k.distances(Metric::ChiSquare, q, hot, DIM, &mut out);
                    });
                    (format!("kernel {} alone", k.name()), c)
                })
                .collect();
            if let Some(b) = opt.bound {
                let c = cpu_time(1.0, || {
                    b.row_bounds(q, hot, DIM, &mut out);
                });
                timed.push((format!("bound {} one query alone", b.name()), c));
            }
            for (what, c) in timed {
                if let Some(c) = c {
                    push(format!("{what}, 1 MiB in cache, per CPU-second"), c * n as f64 / rows_hot, bytes, None);
                }
            }
        }
        eprint!(" exact...");
        let _ = search(&db, &queries[0], &opt)?; // warm the pages
        let mut exact: Vec<Vec<u32>> = Vec::new();
        for q in &queries {
            exact.push(search(&db, q, &opt)?.iter().map(|h| h.index).collect());
        }
        let t1 = SearchOptions { threads: 1, ..opt };
        // Each kernel measuring every row, then behind the single-query bound.
        for &k in kernels.iter().filter(|k| **k != Kernel::Scalar) {
            for bound in [None, opt.bound] {
                let kt = SearchOptions { kernel: k, bound, ..t1 };
                let mut same = true;
                let t = time(o.repeat, || {
                    for (q, e) in queries.iter().zip(&exact) {
                        let got = search(&db, q, &kt).map(|h| h.iter().map(|h| h.index).collect::<Vec<_>>());
                        same &= got.is_ok_and(|g| overlap(&g, e) >= 0.99);
                    }
                });
                let what = bound.map_or(k.name().to_string(), |b| format!("{} + {}", b.name(), k.name()));
                push(format!("bemm exact ({what}, 1 thr)"), t / nq as f64, bytes, Some(if same { 1.0 } else { 0.0 }));
            }
        }
        // The chosen kernel, one thread, in CPU seconds (at least 2 s of them).
        let (c0, mut done) = (cpu_seconds(), 0usize);
        while done < nq || (cpu_seconds() - c0 < 2.0 && c0 > 0.0) {
            let _ = search(&db, &queries[done % nq], &t1);
            done += 1;
        }
        let cpu = cpu_seconds() - c0;
        if cpu > 0.0 {
            push(
                format!("bemm exact (chosen {}, 1 thr), per CPU-second", kernel.name()),
                cpu / done as f64,
                bytes,
                None,
            );
        }
        let thr = thread_count(o.threads, n, 1);
        let t = time(o.repeat, || {
            for q in &queries {
                let _ = search(&db, q, &opt);
            }
        });
        push(format!("bemm exact (chosen {}, {thr} thr)", kernel.name()), t / nq as f64, bytes, None);
        // Batches of 16: the multi-query bound (the default) and the same batch one query at a time.
        let batch = 16.min(nq);
        for mq in [opt.bound, None] {
            let bo = SearchOptions { bound: mq, ..opt };
            let what = mq.map_or(format!("{}, one query at a time", kernel.name()), |b| {
                format!("{} + {}", b.name(), kernel.name())
            });
            let label = format!("bemm exact, batch {batch} ({what}, {} thr)", thread_count(o.threads, n, batch));
            let mut found = 0.0;
            let t = time(o.repeat, || {
                found = 0.0;
                for (chunk, e) in queries.chunks(batch).zip(exact.chunks(batch)) {
                    for (g, e) in search_batch(&db, chunk, &bo).unwrap_or_default().iter().zip(e) {
                        found += overlap(&g.iter().map(|h| h.index).collect::<Vec<_>>(), e);
                    }
                }
            });
            push(label.clone(), t / nq as f64, bytes / batch as f64, Some(found / nq as f64));
            if mq.is_some() {
                multi.push(format!("{n} rows: {:.3} ms/query, recall {:.3}", t / nq as f64 * 1e3, found / nq as f64));
            }
            if let Some(c) = cpu_time(2.0, || {
                let _ = search_batch(&db, &queries[..batch], &bo);
            }) {
                push(format!("{label}, per CPU-second"), c / batch as f64, bytes / batch as f64, None);
            }
        }
        eprint!(" scalar...");
        let sq = SearchOptions { kernel: Kernel::Scalar, bound: None, ..opt };
        let few = nq.min(if n > 200_000 { 5 } else { 10 });
        let t = time(o.repeat.min(3), || {
            for q in &queries[..few] {
                let _ = search(&db, q, &sq);
            }
        });
        push(format!("scalar kernel, same top-k ({thr} thr)"), t / few as f64, bytes, None);
        eprint!(" naive...");
        let mut naive_same = true;
        let t = time(1, || {
            for (q, e) in queries[..few].iter().zip(&exact) {
                let got: Vec<u32> = search_naive(&db, q, Metric::ChiSquare, o.k).iter().map(|h| h.index).collect();
                naive_same &= overlap(&got, e) >= 0.99;
            }
        });
        push(
            "naive scalar + full sort (1 thr)".into(),
            t / few as f64,
            bytes,
            Some(if naive_same { 1.0 } else { 0.0 }),
        );
        eprint!(" binary...");
        let codes = BinaryCodes::build(&rows, DIM, DIM);
        for factor in [10usize, DEFAULT_CANDIDATE_FACTOR] {
            let cands = (o.k * factor).min(n - 1);
            let mut recall = 0.0;
            let t = time(1, || {
                for (q, e) in queries.iter().zip(&exact) {
                    let code = codes.encode(&q.vector);
                    let c = codes.candidates(&code, cands, q.exclude, None);
                    let hits = rerank(kernel, Metric::ChiSquare, &q.vector, &rows, DIM, &c, o.k);
                    recall += overlap(&hits.iter().map(|h| h.index).collect::<Vec<_>>(), e);
                }
            });
            let bpq = (n * codes.bytes_per_row() + cands * DIM * 2) as f64;
            let default = if factor == DEFAULT_CANDIDATE_FACTOR { ", default" } else { "" };
            push(
                format!("binary codes top-{cands}{default} + exact rerank (1 thr)"),
                t / nq as f64,
                bpq,
                Some(recall / nq as f64),
            );
        }
        if have_numpy {
            eprint!(" numpy...");
            match numpy_peer(&rows, &qidx[..few], o.k) {
                Ok(s) => push("numpy f32 (vectorised)".into(), s, bytes, None),
                Err(e) => eprintln!("\n{e:#}"),
            }
        }
        eprintln!(" done");
    }
    if o.json {
        let v: Vec<serde_json::Value> = results
            .iter()
            .map(|r| serde_json::json!({"rows": r.size, "method": r.method, "ms_per_query": r.ms_per_query, "queries_per_s": r.queries_per_s, "gb_per_s": r.gb_per_s, "recall_vs_exact": r.recall}))
            .collect();
        let v = serde_json::json!({"cpu": model, "flags": flags, "chosen": chosen_report, "bound": multi, "load_average_end": load_average(), "rows": v});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("chosen kernel (retrieval::select, chi-square): {}", chosen_report.join("; "));
        println!(
            "{:>8}  {:<52} {:>10} {:>10} {:>8} {:>8}",
            "rows", "method", "ms/query", "queries/s", "GB/s", "recall"
        );
        for r in &results {
            let rec = r.recall.map_or(String::from("-"), |x| format!("{x:.3}"));
            println!(
                "{:>8}  {:<52} {:>10.3} {:>10.1} {:>8.2} {:>8}",
                r.size, r.method, r.ms_per_query, r.queries_per_s, r.gb_per_s, rec
            );
        }
        println!("multi-query batches of 16 on {} threads ({model}): {}", o.threads, multi.join("; "));
        println!("GB/s = feature bytes the method reads per query / time per query (batch: bytes / batch size).");
        println!("Wall times are medians of {} passes; \"per CPU-second\": CPU time, robust to other jobs.", o.repeat);
        println!(
            "load average at the end: {} ({cores} cores; wall-clock rows are unreliable above that)",
            load_average()
        );
        println!(
            "recall = fraction of the exact top-{} found (bemm exact per kernel and naive: 1 = same neighbours as the chosen kernel).",
            o.k
        );
    }
    Ok(())
}

/// Fraction of `truth` present in `got`.
fn overlap(got: &[u32], truth: &[u32]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let set: std::collections::HashSet<u32> = got.iter().copied().collect();
    truth.iter().filter(|t| set.contains(t)).count() as f64 / truth.len() as f64
}
