//! The engine side of the ONNX Runtime comparison (`benches/onnx/run.sh`).
//!
//! `engine_bench make-model --arch resnet50 --out M.bemm` writes a model with
//! random weights (the same `bemm_engine::arch` graph the trainer exports);
//! `engine_bench run --model M.bemm --ort ORT.json` measures the engine
//! (exact and fast paths), the machine's f32 FMA peak and the peak heap, and
//! prints one table side by side with ONNX Runtime's figures from the JSON
//! that `ort_bench.py` wrote in the same run.

use anyhow::{bail, Context};
use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_engine::tune::{self, cpu_id::CpuId, Tuning};
use bemm_engine::{Model, OwnedModel, Precision};
use bemm_formats::f16;
use bemm_formats::model::{OwnedMeta, WeightBits};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Counts live heap bytes and their high-water mark.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only adds counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// The CPU model and its vector-ISA flags, for the top of every report:
/// `/proc/cpuinfo` where there is one, CPUID otherwise.
fn cpu_banner() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |k: &str| {
        info.lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(k))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    const WANTED: &[&str] = &[
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "avx_vnni",
        "amx_tile",
        "amx_bf16",
    ];
    let flags: Vec<String> = field("flags")
        .map(|f| f.split_whitespace().filter(|x| WANTED.contains(x)).map(str::to_string).collect())
        .unwrap_or_default();
    let id = CpuId::current();
    let kernels: Vec<&str> = bemm_engine::kernels::available().map(|k| k.name).collect();
    let int8: Vec<&str> = bemm_engine::kernels::int8::available().map(|k| k.name).collect();
    format!(
        "CPU: {} (family {} model {}); ISA flags: {}; engine kernels available: {}; int8: {}",
        field("model name").unwrap_or_else(|| id.brand.clone()),
        field("cpu family").unwrap_or_else(|| id.family.to_string()),
        field("model").unwrap_or_else(|| id.model.to_string()),
        if flags.is_empty() { "(no /proc/cpuinfo flags)".to_string() } else { flags.join(" ") },
        kernels.join(", "),
        int8.join(", ")
    )
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), Some("run" | "quick" | "int8")) {
        println!("{}", cpu_banner());
    }
    match args.first().map(String::as_str) {
        Some("make-model") => {
            let a = arg(&args, "--arch").unwrap_or_else(|| "resnet50".into());
            let arch = Arch::parse(&a).with_context(|| format!("unknown --arch {a}"))?;
            let out = arg(&args, "--out").context("--out FILE")?;
            let size: usize = arg(&args, "--size").map(|s| s.parse()).transpose()?.unwrap_or(120);
            let meta = OwnedMeta::bigearthnet(arch.name(), &(0..12).collect::<Vec<_>>());
            let b = arch::build(arch, 12, size, 19, &mut RandomWeights::new(42), meta).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            bemm_formats::fsutil::write_atomic(std::path::Path::new(&out), &b.to_bytes()?)?;
            println!("wrote {out}");
            Ok(())
        }
        Some("run") => run(&args),
        Some("quick") => quick(&args),
        Some("int8") => int8_row(&args),
        Some("patches") => {
            // Calibration patches for ort_bench.py's int8 model: synthetic inputs, raw f16.
            let m = OwnedModel::open(std::path::Path::new(&arg(&args, "--model").context("--model FILE")?))?;
            let count: usize = arg(&args, "--count").map(|s| s.parse()).transpose()?.unwrap_or(16);
            let x = tune::synthetic_input(count * m.model().input_len(), 11);
            let out = arg(&args, "--out").context("--out FILE")?;
            let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
            bemm_formats::fsutil::write_atomic(std::path::Path::new(&out), &bytes)?;
            Ok(())
        }
        Some("probe") => {
            // One input and bemm's probabilities, for ort_bench.py's parity check.
            let m = OwnedModel::open(std::path::Path::new(&arg(&args, "--model").context("--model FILE")?))?;
            let m = m.model();
            let x = tune::synthetic_input(m.input_len(), 99);
            let mut scratch = vec![0f32; m.scratch_len(1)];
            let mut probs = vec![0f32; m.num_classes()];
            let mut feats = vec![0f32; m.feature_len()];
            m.infer(&x, 1, &mut scratch, &mut probs, &mut feats)?;
            let mut out: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
            out.extend(probs.iter().flat_map(|v| v.to_le_bytes()));
            out.extend(feats.iter().flat_map(|v| v.to_le_bytes()));
            std::fs::write(arg(&args, "--out").context("--out FILE")?, out)?;
            Ok(())
        }
        _ => bail!("usage: engine_bench make-model --arch resnet50 --out M.bemm | run --model M.bemm [--ort ORT.json] [--seconds S] [--tune-budget-ms MS] | quick --model M.bemm [--seconds S] [--only exact|fast] [--what throughput|latency] [--winograd off] [--threads N] | int8 [--arch resnet50] [--size 120] [--seconds S] [--ort ORT.json] | patches --model M.bemm --count N --out F"),
    }
}

/// CPU seconds consumed by this process (all threads), from /proc: robust
/// to other jobs sharing the cores, unlike wall time.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Patches per CPU-second at batch 16 on one thread (at least `budget` CPU seconds).
fn cpu_throughput(m: &Model<'_>, x: &[f16], budget: f64) -> f64 {
    let n = m.input_len();
    let mut scratch = vec![0f32; m.scratch_len(16)];
    let mut probs = vec![0f32; 16 * m.num_classes()];
    let start = cpu_seconds();
    let mut runs = 0;
    while runs < 2 || cpu_seconds() - start < budget {
        m.infer(&x[..16 * n], 16, &mut scratch, &mut probs, &mut []).expect("infer");
        runs += 1;
    }
    (16 * runs) as f64 / (cpu_seconds() - start)
}

/// Median seconds of `f` over repeated runs lasting about `budget` seconds.
fn time(budget: f64, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let mut v = Vec::new();
    let start = Instant::now();
    while v.len() < 3 || (start.elapsed().as_secs_f64() < budget && v.len() < 1000) {
        let t = Instant::now();
        f();
        v.push(t.elapsed().as_secs_f64());
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Batch-1 latency (s) on one thread, the caller's scratch.
fn latency(m: &Model<'_>, x: &[f16], budget: f64) -> f64 {
    let mut scratch = vec![0f32; m.scratch_len(1)];
    let mut probs = vec![0f32; m.num_classes()];
    let mut feats = vec![0f32; m.feature_len()];
    time(budget, || m.infer(&x[..m.input_len()], 1, &mut scratch, &mut probs, &mut feats).expect("infer"))
}

/// Patches/s at `batch` over `threads` threads (each thread a share of the batch).
fn throughput(m: &Model<'_>, x: &[f16], batch: usize, threads: usize, budget: f64) -> f64 {
    let n = m.input_len();
    let samples: Vec<&[f16]> = (0..batch).map(|b| &x[b * n..(b + 1) * n]).collect();
    let mut probs = vec![0f32; batch * m.num_classes()];
    let mut feats = vec![0f32; batch * m.feature_len()];
    batch as f64 / time(budget, || m.infer_parallel(&samples, threads, &mut probs, &mut feats).expect("infer"))
}

/// Measured f32 FMA peak (GFLOP/s) on `threads` threads.
fn fma_peak(threads: usize) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            let iters = 20_000_000u64;
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..threads {
                    // SAFETY: AVX-512F checked above.
                    s.spawn(move || std::hint::black_box(unsafe { fma_loop_avx512(iters) }));
                }
            });
            // 12 independent chains x 16 lanes x 2 flops per iteration per thread.
            return (iters * 12 * 16 * 2 * threads as u64) as f64 / start.elapsed().as_secs_f64() / 1e9;
        }
    }
    let _ = threads;
    f64::NAN
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop_avx512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); 12];
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    let mut s = _mm512_setzero_ps();
    for x in acc {
        s = _mm512_add_ps(s, x);
    }
    _mm512_reduce_add_ps(s)
}

/// `quick`: the two figures a kernel change moves (batch-16 patches per
/// CPU-second and batch-1 latency, one thread), for iterating on the engine
/// without the Python side; `--only exact|fast` measures one path (for a
/// profiler).
fn quick(args: &[String]) -> anyhow::Result<()> {
    let path = arg(args, "--model").context("--model FILE")?;
    let budget: f64 = arg(args, "--seconds").map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    let only = arg(args, "--only");
    // `--what throughput|latency` for profiling one of the two.
    let what = arg(args, "--what");
    let (only_throughput, only_latency) = (what.as_deref() == Some("throughput"), what.as_deref() == Some("latency"));
    let owned = OwnedModel::open(std::path::Path::new(&path))?;
    // `--winograd off`: every convolution direct (im2col + GEMM), for A/B runs.
    let winograd = arg(args, "--winograd").as_deref() != Some("off");
    let threads: Option<usize> = arg(args, "--threads").map(|t| t.parse()).transpose()?;
    let mut exact = owned.model().clone().with_winograd(winograd);
    // `--blocks KC,NC`: GEMM panel sizes (`Model::with_gemm_blocks`), for A/B runs.
    if let Some(b) = arg(args, "--blocks") {
        let (kc, nc) = b.split_once(',').context("--blocks KC,NC")?;
        exact = exact.with_gemm_blocks(kc.parse()?, nc.parse()?)?;
    }
    let x = tune::synthetic_input(16 * exact.input_len(), 7);
    let flops = 2.0 * exact.macs_per_sample() as f64;
    for (name, p) in [("exact", Precision::Exact), ("fast", Precision::Fast)] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let m = exact.clone().with_precision(p);
        let thr = if only_latency { f64::NAN } else { cpu_throughput(&m, &x, budget) };
        // `--threads N`: batch-1 latency split over N threads (infer_parallel).
        let lat = match (only_throughput, threads) {
            (true, _) => f64::NAN,
            (false, Some(t)) => 1.0 / throughput(&m, &x, 1, t, budget),
            (false, None) => latency(&m, &x, budget),
        };
        println!(
            "{name:5} ({}): batch 16 {thr:6.1} patches/cpu-s ({:5.1} GFLOP/s), batch-1 latency {:6.2} ms",
            m.kernel().name,
            thr * flops / 1e9,
            lat * 1e3
        );
    }
    Ok(())
}

/// The int8 row: a random-weights network (ResNet50 at 120x120 by default)
/// and its int8 twins of 8-bit and of 7-bit weights (every convolution but
/// the stem a `QConv`), on one thread: batch-16 patches per CPU-second and
/// batch-1 latency of the exact float path, then of the int8 paths with each
/// int8 kernel [`tune::int8_candidates`] (the float layers on the exact
/// kernel): the 8-bit twin on the kernels for every weight, the 7-bit twin
/// on the kernels limited to 7-bit weights (`avx2-7bit-6x16`). The quantization parameters are
/// fixed, not calibrated: this row measures speed, not accuracy (the engine
/// tests check an int8 model's decisions against its float twin).
///
/// With `--ort ORT.json` (what `ort_bench.py` wrote in the same run, on the
/// same weights: `make-model` uses the same seed) it prints ONNX Runtime's f32
/// and int8 (QDQ, `quantize_static`) figures beside them and the fastest
/// int8 kernel's ratios to both.
fn int8_row(args: &[String]) -> anyhow::Result<()> {
    let a = arg(args, "--arch").unwrap_or_else(|| "resnet50".into());
    let arch = Arch::parse(&a).with_context(|| format!("unknown --arch {a}"))?;
    let size: usize = arg(args, "--size").map(|s| s.parse()).transpose()?.unwrap_or(120);
    let budget: f64 = arg(args, "--seconds").map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    let ort = read_ort(args)?;
    let meta = OwnedMeta::bigearthnet(arch.name(), &(0..12).collect::<Vec<_>>());
    let float =
        arch::build(arch, 12, size, 19, &mut RandomWeights::new(42), meta).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let convs = float.graph.quantizable();
    let dir = tempfile::tempdir()?;
    let fp = dir.path().join("float.bemm");
    std::fs::write(&fp, float.to_bytes()?)?;
    let fo = OwnedModel::open(&fp)?;
    // The int8 twins of 8-bit and of 7-bit weights.
    let mut twins = Vec::new();
    for bits in [WeightBits::Eight, WeightBits::Seven] {
        let mut quant = float.clone();
        for &i in &convs {
            quant.graph.quantize(i, 0.05, 0, bits)?;
        }
        let qp = dir.path().join(format!("int8-w{}.bemm", bits.bits()));
        std::fs::write(&qp, quant.to_bytes()?)?;
        twins.push((bits, OwnedModel::open(&qp)?));
    }
    let exact = fo.model().clone().with_precision(Precision::Exact);
    println!("{} {size}x{size}: {} of {} convolutions int8; 1 thread", arch.name(), convs.len(), convs.len() + 1);
    let x = tune::synthetic_input(16 * exact.input_len(), 7);
    let report = |name: &str, m: &Model<'_>| {
        let thr = cpu_throughput(m, &x, budget);
        let lat = latency(m, &x, budget);
        println!("{name:28}: batch 16 {thr:6.1} patches/cpu-s, batch-1 latency {:7.2} ms", lat * 1e3);
        (thr, lat)
    };
    let (base, _) = report(&format!("exact ({})", exact.kernel().name), &exact);
    // The scalar reference only where no SIMD kernel exists (as in tuning).
    // 8-bit weights on the kernels for every weight; 7-bit weights on the
    // kernels limited to them (on the others they run as 8-bit ones do).
    let mut best: Option<(String, f64, f64)> = None;
    for (bits, qo) in &twins {
        let q = qo.model().clone().with_precision(Precision::Exact);
        for k in tune::int8_candidates().into_iter().filter(|k| k.fits(127) == (*bits == WeightBits::Eight)) {
            let name = format!("int8 w{} ({})", bits.bits(), k.name);
            let (thr, lat) = report(&name, &q.clone().with_int8_kernel(k));
            println!("{:28}  {:.2}x exact", "", thr / base);
            if best.as_ref().is_none_or(|b| thr > b.1) {
                best = Some((name, thr, lat));
            }
        }
    }
    let (Some(ort), Some((kname, thr, lat))) = (ort, best) else { return Ok(()) };
    let o = |k: &str| ort[k].as_f64();
    let version = ort["version"].as_str().unwrap_or("?");
    for (what, tkey, lkey) in [
        ("f32", "cpu_throughput_b16_t1", "latency_b1_t1"),
        ("int8 QDQ", "int8_cpu_throughput_b16_t1", "int8_latency_b1_t1"),
    ] {
        let (Some(t), Some(l)) = (o(tkey), o(lkey)) else {
            println!("ONNX Runtime {version} {what}: not in the ORT file");
            continue;
        };
        println!(
            "{:28}: batch 16 {t:6.1} patches/cpu-s, batch-1 latency {:7.2} ms; bemm {kname} {:.2}x at batch 16, {:.2}x at batch 1",
            format!("ONNX Runtime {version} {what}"),
            l * 1e3,
            thr / t,
            l / lat
        );
    }
    Ok(())
}

/// The `--ort ORT.json` file `ort_bench.py` wrote, if given.
fn read_ort(args: &[String]) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(p) = arg(args, "--ort") else { return Ok(None) };
    let text = std::fs::read_to_string(&p).with_context(|| format!("{p}: cannot read"))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("{p}: not JSON"))?))
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let path = arg(args, "--model").context("--model FILE")?;
    let budget: f64 = arg(args, "--seconds").map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    let ort = read_ort(args)?;
    let owned = OwnedModel::open(std::path::Path::new(&path))?;
    let exact = owned.model().clone();
    let fast = exact.clone().with_precision(Precision::Fast);
    let x = tune::synthetic_input(16 * exact.input_len(), 7);
    let flops = 2.0 * exact.macs_per_sample() as f64;

    // Peak heap of one batch-1 inference: scratch + outputs (the mapped model is not heap).
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    {
        let mut scratch = vec![0f32; exact.scratch_len(1)];
        let mut probs = vec![0f32; exact.num_classes()];
        let mut feats = vec![0f32; exact.feature_len()];
        exact.infer(&x[..exact.input_len()], 1, &mut scratch, &mut probs, &mut feats)?;
    }
    let heap = PEAK.load(Ordering::Relaxed) - base;

    // Decision agreement of the fast path with the exact one on 16 inputs.
    let n = exact.input_len();
    let samples: Vec<&[f16]> = (0..16).map(|b| &x[b * n..(b + 1) * n]).collect();
    let (mut pe, mut pf) = (vec![0f32; 16 * 19], vec![0f32; 16 * 19]);
    exact.infer_parallel(&samples, 2, &mut pe, &mut [])?;
    fast.infer_parallel(&samples, 2, &mut pf, &mut [])?;
    let agree = (0..16)
        .map(|b| {
            19 - (exact.predicted(&pe[b * 19..(b + 1) * 19]) ^ fast.predicted(&pf[b * 19..(b + 1) * 19])).count_ones()
                as usize
        })
        .sum::<usize>();
    let max_dp = pe.iter().zip(&pf).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    // Features are not saturated like random-weight probabilities: compare them too.
    let (mut fe, mut ff) = (vec![0f32; 16 * exact.feature_len()], vec![0f32; 16 * exact.feature_len()]);
    exact.infer_parallel(&samples, 2, &mut pe, &mut fe)?;
    fast.infer_parallel(&samples, 2, &mut pf, &mut ff)?;
    let fscale = fe.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    let max_df = fe.iter().zip(&ff).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / fscale;

    eprintln!("measuring: exact kernel {}, fast kernel {}", exact.kernel().name, fast.kernel().name);
    // The measured choice (bemm_engine::tune, no cache) for each row's batch and threads;
    // `--tune-budget-ms` overrides the engine's default budget (a busy machine needs more).
    let tune_budget = match arg(args, "--tune-budget-ms") {
        Some(ms) => std::time::Duration::from_millis(ms.parse().context("--tune-budget-ms MILLISECONDS")?),
        None => tune::DEFAULT_BUDGET,
    };
    let mut choices = Vec::new();
    let mut tuned = |batch: usize, threads: usize| -> anyhow::Result<[Model<'_>; 2]> {
        let mut pair = Vec::new();
        for p in [Precision::Exact, Precision::Fast] {
            let t = Tuning { cache: None, budget: tune_budget, ..Tuning::new(batch, threads, p) };
            let c = tune::choose(&exact, &t)?;
            choices.push(format!("batch {batch}, {threads} thread(s), {p:?}: {}", c.describe()));
            for t in &c.trials {
                let ms = t.seconds.map_or("not run".to_string(), |s| format!("{:.1} ms", s * 1e3));
                choices.push(format!("    {}: {ms} ({} runs)", t.candidate.label(), t.runs));
            }
            pair.push(c.apply(&exact)?);
        }
        let [e, f]: [Model<'_>; 2] = pair.try_into().map_err(|_| anyhow::anyhow!("two models"))?;
        Ok([e, f])
    };
    let (t11, t12, t161, t162) = (tuned(1, 1)?, tuned(1, 2)?, tuned(16, 1)?, tuned(16, 2)?);
    let lat = [
        latency(&exact, &x, budget),
        latency(&fast, &x, budget),
        latency(&t11[0], &x, budget),
        latency(&t11[1], &x, budget),
    ];
    let lat2 = [&exact, &fast, &t12[0], &t12[1]].map(|m| 1.0 / throughput(m, &x, 1, 2, budget));
    let thr1 = [&exact, &fast, &t161[0], &t161[1]].map(|m| throughput(m, &x, 16, 1, budget));
    let thr2 = [&exact, &fast, &t162[0], &t162[1]].map(|m| throughput(m, &x, 16, 2, budget));
    let peak = [fma_peak(1), fma_peak(2)];
    let cpu = [&exact, &fast, &t161[0], &t161[1]].map(|m| cpu_throughput(m, &x, budget));

    let o = |k: &str| ort.as_ref().and_then(|v| v[k].as_f64());
    let ms = |s: f64| format!("{:.2} ms", s * 1e3);
    let ps = |p: f64| format!("{p:.1}/s");
    let rows: Vec<Vec<String>> = vec![
        [
            "measure",
            "bemm exact",
            "bemm fast",
            "measured exact",
            "measured fast",
            "ONNX Runtime",
            "exact/ORT",
            "fast/ORT",
            "m.exact/ORT",
            "m.fast/ORT",
        ]
        .map(String::from)
        .to_vec(),
        row("batch-1 latency, 1 thread", lat, o("latency_b1_t1"), ms, true),
        row("batch-1 latency, 2 threads", lat2, o("latency_b1_t2"), ms, true),
        row("batch-16 throughput, 1 thread", thr1, o("throughput_b16_t1"), ps, false),
        row("batch-16 throughput, 2 threads", thr2, o("throughput_b16_t2"), ps, false),
        row("batch-16 per CPU-second, 1 thread", cpu, o("cpu_throughput_b16_t1"), |p| format!("{p:.1}/cpu-s"), false),
    ];
    println!(
        "ResNet50-like model {path}: {:.2} GFLOP per patch, {}x{}x{} input",
        flops / 1e9,
        exact.input_shape().c,
        exact.input_shape().h,
        exact.input_shape().w
    );
    print!("{}", table(&rows));
    println!(
        "bemm GFLOP/s (batch 16, 1 thread): exact {:.0}, fast {:.0}, measured exact {:.0}, measured fast {:.0}; measured f32 FMA peak {:.0} (1 thread), {:.0} (2 threads): exact at {:.0}% of peak",
        thr1[0] * flops / 1e9,
        thr1[1] * flops / 1e9,
        thr1[2] * flops / 1e9,
        thr1[3] * flops / 1e9,
        peak[0],
        peak[1],
        100.0 * thr1[0] * flops / 1e9 / peak[0]
    );
    if let Some(g) = o("throughput_b16_t1") {
        println!(
            "ONNX Runtime GFLOP/s (batch 16, 1 thread): {:.0} ({:.0}% of peak), version {}",
            g * flops / 1e9,
            100.0 * g * flops / 1e9 / peak[0],
            ort.as_ref().map(|v| v["version"].to_string()).unwrap_or_default()
        );
    }
    if let (Some(d), Some(f)) = (o("parity_max_abs_diff"), o("parity_feature_rel_diff")) {
        println!("parity with ORT on one input (same graph, same weights): max |dp| = {d:.1e}, max feature difference {f:.1e} of the largest feature");
    }
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average during the run: {} (wall-clock rows are unreliable when it exceeds the core count; the CPU-second row is not)", l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    }
    println!(
        "bemm peak heap at batch 1 (scratch + outputs; mapped model excluded): {:.2} MiB",
        heap as f64 / (1 << 20) as f64
    );
    println!("measured choices (\"measured\" columns; bemm_engine::tune, no cache):");
    for c in &choices {
        println!("  {c}");
    }
    println!("fast vs exact: {agree} of {} label decisions agree, max |dp| = {max_dp:.4}, max feature difference {max_df:.1e} of the largest feature (16 random inputs)", 16 * 19);
    Ok(())
}

/// One table row: the four engine figures, ORT's, and each engine figure's
/// ratio to ORT (latency: ORT / bemm, so that > 1 means bemm is faster, like throughput).
fn row(name: &str, v: [f64; 4], ort: Option<f64>, f: impl Fn(f64) -> String, latency: bool) -> Vec<String> {
    let r = |a: f64| match ort {
        Some(o) => format!("{:.2}x", if latency { o / a } else { a / o }),
        None => "-".into(),
    };
    let mut out = vec![name.to_string()];
    out.extend(v.iter().map(|&a| f(a)));
    out.push(ort.map(&f).unwrap_or("-".into()));
    out.extend(v.iter().map(|&a| r(a)));
    out
}

fn table(rows: &[Vec<String>]) -> String {
    let mut w = vec![0usize; rows.first().map_or(0, |r| r.len())];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let mut s = String::new();
    for (n, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 0 { format!("{c:<0$}", w[i]) } else { format!("{c:>0$}", w[i]) })
            .collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
        if n == 0 {
            s.push_str(&w.iter().map(|k| "-".repeat(*k)).collect::<Vec<_>>().join("  "));
            s.push('\n');
        }
    }
    s
}
