//! Wall time of `infer_parallel` over a set of patches for `--threads` from
//! 1 to 1024, chunked as `bemm predict` chunks (`--batch` patches per thread
//! per call, threads capped at the cores): the check that no thread count is
//! much slower than the best. `--per-call K` instead hands the engine `K`
//! patches per call whatever the threads (1: every layer split over the
//! threads). Rounds go over every thread count in turn and each count keeps
//! its best round, so a load change on a shared machine hits all counts alike.
//!
//! `cargo run --release -p bemm-engine --example threads_sweep -- [--arch tiny]
//! [--patches 285] [--batch 16] [--per-call K] [--rounds 3] [--save-model PATH] [THREADS...]`
//!
//! Prints the CPU model, then a table: threads, seconds, ratio to the best.
//! `--save-model PATH` writes the random-weight model first (12 bands,
//! BigEarthNet normalisation: it runs on an ingested archive with `bemm predict`).

use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_engine::Model;
use bemm_formats::model::OwnedMeta;
use half::f16;
use std::time::Instant;

/// Command-line settings.
struct Opts {
    arch: String,
    patches: usize,
    batch: usize,
    per_call: Option<usize>,
    rounds: usize,
    save_model: Option<String>,
    threads: Vec<usize>,
}

fn parse() -> Opts {
    let mut o = Opts {
        arch: "tiny".into(),
        patches: 285,
        batch: 16,
        per_call: None,
        rounds: 3,
        save_model: None,
        threads: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    let num = |v: Option<String>, what: &str| -> usize {
        v.and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("{what} takes a positive number"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--arch" => o.arch = args.next().expect("--arch takes a name"),
            "--patches" => o.patches = num(args.next(), "--patches").max(1),
            "--batch" => o.batch = num(args.next(), "--batch").max(1),
            "--per-call" => o.per_call = Some(num(args.next(), "--per-call").max(1)),
            "--rounds" => o.rounds = num(args.next(), "--rounds").max(1),
            "--save-model" => o.save_model = Some(args.next().expect("--save-model takes a path")),
            t => o.threads.push(t.parse().unwrap_or_else(|_| panic!("{t}: expected a thread count or an option"))),
        }
    }
    if o.threads.is_empty() {
        o.threads = vec![1, 2, 3, 4, 8, 16, 17, 65, 66, 100, 300, 1024];
    }
    o
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let o = parse();
    let a = Arch::parse(&o.arch).expect("architecture");
    let meta = OwnedMeta::bigearthnet(&o.arch, &(0..12).collect::<Vec<_>>());
    let bytes = arch::build(a, 12, 120, 19, &mut RandomWeights::new(1), meta).unwrap().to_bytes().unwrap();
    if let Some(p) = &o.save_model {
        std::fs::write(p, &bytes).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    // 8-byte alignment for the parser.
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    let m = Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()]).unwrap();
    let len = m.input_len();
    let data: Vec<f16> =
        (0..o.patches * len).map(|i| f16::from_f32(((i * 7919) % 1000) as f32 / 500.0 - 1.0)).collect();
    let samples: Vec<&[f16]> = data.chunks(len).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = match o.per_call {
        Some(k) => format!("{k} patch(es) per call"),
        None => format!("batch {} per thread", o.batch),
    };
    println!("{}, {} patches, {per}, best of {} rounds", o.arch, o.patches, o.rounds);
    println!("CPU: {}; cores: {cores}", cpu_model());
    let mut best = vec![f64::INFINITY; o.threads.len()];
    for _ in 0..o.rounds {
        for (k, &threads) in o.threads.iter().enumerate() {
            let chunk = o.per_call.unwrap_or(o.batch * threads.clamp(1, cores));
            let start = Instant::now();
            for c in samples.chunks(chunk) {
                let mut probs = vec![0f32; c.len() * m.num_classes()];
                m.infer_parallel(c, threads, &mut probs, &mut []).unwrap();
            }
            best[k] = best[k].min(start.elapsed().as_secs_f64());
        }
    }
    let top = best.iter().copied().fold(f64::INFINITY, f64::min);
    println!("| threads | seconds | / best |");
    println!("|---:|---:|---:|");
    for (t, s) in o.threads.iter().zip(&best) {
        println!("| {t} | {s:.3} | {:.2} |", s / top);
    }
    let worst = best.iter().copied().fold(0.0, f64::max);
    println!("worst / best: {:.2}", worst / top);
}
