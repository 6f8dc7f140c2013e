//! Time one training step (forward, BCE, backward, Adam) per CPU backend:
//! burn-flex always, burn-ndarray with `--features ndarray`.
//!
//! `cargo run -p bemm-trainer --example step_bench --features ndarray [-- STEPS]`

use bemm_engine::arch::Arch;
use bemm_trainer::model::Net;
use bemm_trainer::train::bce_with_logits;
use burn::backend::Autodiff;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use std::time::Instant;

fn bench<B: AutodiffBackend>(backend: &str, arch: Arch, batch: usize, steps: usize) {
    let dev = B::Device::default();
    let mut net = Net::<B>::new(arch, 12, 120, 19, 1, &dev);
    let mut opt = AdamConfig::new().init::<B, Net<B>>();
    let x: Vec<f32> = (0..batch * 12 * 120 * 120).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let y: Vec<f32> = (0..batch * 19).map(|i| (i % 3 == 0) as u8 as f32).collect();
    let mut times = Vec::new();
    for s in 0..steps + 1 {
        let t = Instant::now();
        let xt = Tensor::<B, 4>::from_data(TensorData::new(x.clone(), [batch, 12, 120, 120]), &dev);
        let yt = Tensor::<B, 2>::from_data(TensorData::new(y.clone(), [batch, 19]), &dev);
        let loss = bce_with_logits(net.forward(xt, None), yt);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(1e-3, net, grads);
        let _ = B::sync(&dev);
        if s > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let med = times[times.len() / 2];
    println!(
        "{backend:8} {:9} batch {batch:3}: median step {:8.1} ms, {:7.1} patches/s ({steps} steps)",
        arch.name(),
        med * 1e3,
        batch as f64 / med
    );
}

fn main() {
    let steps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    for (arch, batch) in [(Arch::Tiny, 16), (Arch::ResNet18, 4)] {
        bench::<Autodiff<burn::backend::Flex>>("flex", arch, batch, steps);
        #[cfg(feature = "ndarray")]
        bench::<Autodiff<burn::backend::NdArray>>("ndarray", arch, batch, steps);
    }
}
