//! Wall time of `infer_parallel` over 285 patches for `--threads` from 1 to
//! 1024, chunked as `bemm predict` chunks (batch 16 per thread, threads
//! capped at the cores): the check that no thread count is much slower than
//! the best. Best of 3 runs per count (the machine may be shared).
//!
//! `cargo run --release -p bemm-engine --example threads_sweep [ARCH [THREADS...]]`
//! (ARCH: tiny (default), resnet18, ...).

use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_engine::Model;
use bemm_formats::model::OwnedMeta;
use half::f16;
use std::time::Instant;

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "tiny".into());
    let a = Arch::parse(&name).expect("architecture");
    let meta = OwnedMeta::bigearthnet(&name, &(0..12).collect::<Vec<_>>());
    let bytes = arch::build(a, 12, 120, 19, &mut RandomWeights::new(1), meta).unwrap().to_bytes().unwrap();
    // 8-byte alignment for the parser.
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    let m = Model::from_bytes(&bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()]).unwrap();
    let n = 285usize;
    let len = m.input_len();
    let data: Vec<f16> = (0..n * len).map(|i| f16::from_f32(((i * 7919) % 1000) as f32 / 500.0 - 1.0)).collect();
    let samples: Vec<&[f16]> = data.chunks(len).collect();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!("{name}, {n} patches, batch 16 per thread; CPU: {cpu}; cores: {:?}", std::thread::available_parallelism());
    let mut rows = Vec::new();
    let given: Vec<usize> = std::env::args().skip(2).map(|t| t.parse().expect("thread count")).collect();
    let list = if given.is_empty() { vec![1usize, 2, 3, 4, 8, 16, 17, 18, 65, 66, 100, 300, 1024] } else { given };
    for threads in list {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = 16 * threads.min(cores);
        let mut s = f64::INFINITY;
        for _ in 0..3 {
            let start = Instant::now();
            for c in samples.chunks(chunk) {
                let mut probs = vec![0f32; c.len() * m.num_classes()];
                m.infer_parallel(c, threads, &mut probs, &mut []).unwrap();
            }
            s = s.min(start.elapsed().as_secs_f64());
        }
        println!("threads {threads:5}: {s:8.3} s");
        rows.push((threads, s));
    }
    let best = rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    let worst = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    println!("worst / best: {:.2}", worst / best);
}
