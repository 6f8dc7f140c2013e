//! Speed of the engine on the machine it runs on, printed beside published
//! ncnn ResNet50 figures for Arm cores: the benchmark to run on a Raspberry
//! Pi 4/5, a Jetson or any edge computer (`benches/arm/run.sh`).
//!
//! `edge_bench [--arch resnet50] [--size 120] [--seconds 5] [--threads N]
//! [--batch B] [--only exact|fast|int8|int8w7] [--int8] [--kernels]` builds the
//! architecture with deterministic random
//! weights over the 12 bands (the same graph `bemm export` writes), then
//! for each precision prints the kernel, batch-1 latency (median) on 1 and
//! N threads and throughput in patches/s (batch B, default 4 x N, each
//! thread its own share). `--int8` adds the int8 paths: the same network with
//! every convolution but the stem int8 (`QConv`, fixed quantization
//! parameters: a speed measurement, not an accuracy one), of 8-bit weights
//! (`int8`) and of 7-bit weights (`int8w7`, which AVX2 without VNNI
//! multiplies faster), float layers on the exact kernel, the int8 layers on
//! the best int8 kernel that fits their weights (`--only int8` runs both).
//! `BEMM_KERNEL` pins a kernel (`scalar`, `neon`, `neon-fp16`, ...);
//! `--kernels` only prints the kernel each path would use (`kernel exact
//! NAME`, `kernel fast NAME`).
//! Numbers are only comparable within one run on one idle machine.

use bemm_engine::arch::{build, Arch, RandomWeights};
use bemm_engine::{Model, Precision};
use bemm_formats::model::{OwnedMeta, WeightBits};
use half::f16;
use std::process::ExitCode;
use std::time::Instant;

/// ncnn's published ResNet50 times on Arm cores, scaled by MACs to one
/// 12x120x120 patch (1.36 GMAC): (what, cores, milliseconds).
const NCNN: &[(&str, usize, f64)] = &[
    ("Cortex-A72 (Raspberry Pi 4 class), f32", 1, 177.0),
    ("Cortex-A72 (Raspberry Pi 4 class), f32", 4, 87.0),
    ("Cortex-A76 (Raspberry Pi 5 class), fp16", 1, 30.0),
    ("Cortex-A78AE (Jetson Orin)", 1, 30.0),
    ("Cortex-A78AE (Jetson Orin)", 4, 9.0),
    ("Cortex-A78AE (Jetson Orin)", 12, 5.0),
];

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// The CPU as /proc/cpuinfo and the device tree name it.
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |k: &str| {
        info.lines().find(|l| l.starts_with(k)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string())
    };
    let board = std::fs::read_to_string("/proc/device-tree/model").ok().map(|s| s.trim_end_matches('\0').to_string());
    let mut parts: Vec<String> = Vec::new();
    parts.extend(board);
    parts.extend(field("model name"));
    if let Some(p) = field("CPU part") {
        parts.push(format!("CPU part {p}"));
    }
    if let Some(f) = field("Features") {
        parts.push(format!("features: {f}"));
    }
    if parts.is_empty() {
        parts.push(std::env::consts::ARCH.to_string());
    }
    parts.join("; ")
}

/// `bytes` in 8-byte aligned storage (what a memory map gives).
fn aligned_words(bytes: &[u8]) -> Vec<u64> {
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

/// Median seconds of `f` over repeated runs within about `budget` seconds.
fn median_time(budget: f64, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < 3 || (start.elapsed().as_secs_f64() < budget && times.len() < 1000) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The kernel a path runs on: the float kernel, or the int8 kernels of its
/// `QConv` layers (`a+b` when some layers' weights need a fallback).
fn kernel_label(m: &Model<'_>) -> String {
    if !m.is_quantized() {
        return m.kernel().name.to_string();
    }
    m.int8_kernels_used().iter().map(|(k, _)| k.name).collect::<Vec<_>>().join("+")
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arch_name = arg(&args, "--arch").unwrap_or_else(|| "resnet50".into());
    let arch = Arch::parse(&arch_name).ok_or(format!("unknown --arch {arch_name}"))?;
    let num = |name: &str, default: f64| -> Result<f64, String> {
        arg(&args, name).map_or(Ok(default), |s| s.parse().map_err(|_| format!("{name} {s}: not a number")))
    };
    let size = num("--size", 120.0)? as usize;
    let budget = num("--seconds", 5.0)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (num("--threads", cores as f64)? as usize).max(1);
    let only = arg(&args, "--only");
    let with_int8 = args.iter().any(|a| a == "--int8") || only.as_deref().is_some_and(|o| o.starts_with("int8"));
    if args.iter().any(|a| a == "--kernels") {
        // The kernels a model gets here (after BEMM_KERNEL), without timing.
        let pinned = bemm_engine::kernels::from_env().map_err(|e| e.to_string())?;
        for (label, exact) in [("exact", true), ("fast", false)] {
            println!("kernel {label} {}", pinned.unwrap_or_else(|| bemm_engine::kernels::best(exact)).name);
        }
        return Ok(());
    }

    println!("cpu: {}", cpu_model());
    println!("logical cores: {cores}; threads used: {threads}");
    let meta = OwnedMeta::bigearthnet(arch.name(), &(0..12).collect::<Vec<_>>());
    let builder = build(arch, 12, size, 19, &mut RandomWeights::new(42), meta).map_err(|e| format!("{e:?}"))?;
    let bytes = builder.to_bytes().map_err(|e| e.to_string())?;
    let words = aligned_words(&bytes);
    let base = Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()]).map_err(|e| e.to_string())?;
    // The int8 twins, of 8-bit and of 7-bit weights: every convolution that
    // does not read the f16 input.
    let mut twins = Vec::new();
    for (label, bits) in [("int8", WeightBits::Eight), ("int8w7", WeightBits::Seven)] {
        if !with_int8 || only.as_deref().is_some_and(|o| o != label && o != "int8") {
            continue;
        }
        let mut quant = builder.clone();
        for i in quant.graph.quantizable() {
            quant.graph.quantize(i, 0.05, 0, bits).map_err(|e| e.to_string())?;
        }
        let qbytes = quant.to_bytes().map_err(|e| e.to_string())?;
        twins.push((label, aligned_words(&qbytes), qbytes.len()));
    }
    let macs = base.macs_per_sample() as f64;
    println!("model: {arch_name} 12x{size}x{size}, 19 classes, {:.3} GMAC per patch", macs / 1e9);
    let small = base.clone().with_gemm_blocks(64, 64).map_err(|e| e.to_string())?;
    println!(
        "memory: model file {:.1} MB; scratch for one patch {:.2} MB (default GEMM panels), {:.2} MB (64x64 panels)",
        bytes.len() as f64 / 1e6,
        base.scratch_len(1) as f64 * 4.0 / 1e6,
        small.scratch_len(1) as f64 * 4.0 / 1e6
    );

    let n = base.input_len();
    let batch = (num("--batch", (4 * threads) as f64)? as usize).max(1);
    let input: Vec<f16> =
        (0..batch * n).map(|i| f16::from_f32(((i * 7919 % 1013) as f32 / 506.5 - 1.0) * 1.5)).collect();
    println!();
    println!(
        "{:<7} {:<16} {:>12} {:>12} {:>14} {:>9}",
        "path", "kernel", "b1 1 thr ms", "b1 N thr ms", "patches/s N", "GFLOP/s"
    );
    let mut paths = vec![("exact", base.clone().with_precision(Precision::Exact))];
    paths.push(("fast", base.clone().with_precision(Precision::Fast)));
    for (label, words, len) in &twins {
        let q = Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(words)[..*len]).map_err(|e| e.to_string())?;
        paths.push((label, q.with_precision(Precision::Exact)));
    }
    for (label, m) in paths {
        // `--only int8` runs both int8 twins.
        if only.as_deref().is_some_and(|o| o != label && !(o == "int8" && label.starts_with("int8"))) {
            continue;
        }
        let mut scratch = vec![0f32; m.scratch_len(1)];
        let mut probs = vec![0f32; batch * m.num_classes()];
        let one = &input[..n];
        let mut err = None;
        let lat1 = median_time(budget / 3.0, || {
            if let Err(e) = m.infer(one, 1, &mut scratch, &mut probs[..m.num_classes()], &mut []) {
                err = Some(e);
            }
        });
        let single: Vec<&[f16]> = vec![one];
        let latn = median_time(budget / 3.0, || {
            if let Err(e) = m.infer_parallel(&single, threads, &mut probs[..m.num_classes()], &mut []) {
                err = Some(e);
            }
        });
        let samples: Vec<&[f16]> = input.chunks(n).collect();
        let tput = batch as f64
            / median_time(budget / 3.0, || {
                if let Err(e) = m.infer_parallel(&samples, threads, &mut probs, &mut []) {
                    err = Some(e);
                }
            });
        if let Some(e) = err {
            return Err(e.to_string());
        }
        println!(
            "{:<7} {:<16} {:>12.1} {:>12.1} {:>14.2} {:>9.1}",
            label,
            kernel_label(&m),
            lat1 * 1e3,
            latn * 1e3,
            tput,
            2.0 * macs * tput / 1e9
        );
    }
    println!();
    println!("ncnn ResNet50 (published, scaled to 1.36 GMAC per patch), batch-1 latency:");
    for (what, c, ms) in NCNN {
        println!("  {what:<42} {c:>2} core(s) {ms:>6.0} ms");
    }
    Ok(())
}
