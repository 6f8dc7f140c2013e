//! Training throughput of the bemm trainer's burn models, for the side-by-side
//! runs against PyTorch in `benches/train/gpu.sh` and `benches/train/cpu.sh`.
//!
//! One "step" is what `bemm train` does per batch: forward, BCE with logits,
//! backward, Adam update. The batch (`[B, 12, 120, 120]` inputs, `[B, 19]`
//! multi-hot targets) is made once and kept on the device, as the PyTorch
//! side does, so the figure is the model's step rate, not the data loader's
//! (`bemm train` reports its own end-to-end patches/s).
//!
//! ```text
//! train_bench [--device cpu|cuda[:N]] [--arch resnet50] [--batch 256]
//!             [--precision f32|bf16|f16] [--warmup 3] [--steps 20]
//!             [--max-seconds 120] [--exclusive FILE] [--json]
//! ```
//! `--exclusive FILE` lets several benchmarks share one GPU: each compiles its
//! kernels (the first step, minutes on burn-cuda) side by side with the
//! others, then holds an exclusive lock on FILE for its warm-up and timed
//! steps, so no two timed sections overlap (`flock FILE cmd` does the same
//! for a PyTorch run).
//! burn has no autocast: `bf16`/`f16` run the whole backend (weights,
//! activations, Adam moments) in that type, which is the closest burn gets
//! to PyTorch's mixed precision.

use anyhow::{bail, Context, Result};
use bemm_engine::arch::Arch;
use bemm_formats::bands::{CHANNELS, SIZE};
use bemm_formats::labels::NUM_CLASSES;
use bemm_trainer::model::conv::CudaConv;
use bemm_trainer::model::Net;
use bemm_trainer::train::bce_with_logits;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use std::time::Instant;

struct Opts {
    device: String,
    arch: Arch,
    batch: usize,
    precision: String,
    warmup: usize,
    steps: usize,
    max_seconds: f64,
    exclusive: Option<std::path::PathBuf>,
    json: bool,
}

const USAGE: &str = "usage: train_bench [--device cpu|cuda[:N]] [--arch resnet50] [--batch 256]
                   [--precision f32|bf16|f16] [--warmup 3] [--steps 20]
                   [--max-seconds 120] [--exclusive FILE] [--json]
One training step (forward, BCE with logits, backward, Adam) of the bemm trainer's
network on a batch made once and kept on the device; prints step time and patches/s.
--exclusive FILE: after the first step, hold an exclusive lock on FILE for the
warm-up and timed steps, so benchmarks sharing a GPU time their steps alone.";

fn parse() -> Result<Opts> {
    let mut o = Opts {
        device: "cpu".into(),
        arch: Arch::ResNet50,
        batch: 256,
        precision: "f32".into(),
        warmup: 3,
        steps: 20,
        max_seconds: 120.0,
        exclusive: None,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--device" => o.device = val()?,
            "--arch" => {
                let v = val()?;
                o.arch = Arch::parse(&v).with_context(|| format!("--arch {v}: unknown architecture"))?;
            }
            "--batch" => o.batch = val()?.parse().context("--batch: expected a count")?,
            "--precision" => o.precision = val()?,
            "--warmup" => o.warmup = val()?.parse().context("--warmup: expected a count")?,
            "--steps" => o.steps = val()?.parse().context("--steps: expected a count")?,
            "--max-seconds" => o.max_seconds = val()?.parse().context("--max-seconds: expected seconds")?,
            "--exclusive" => o.exclusive = Some(val()?.into()),
            "--json" => o.json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => bail!("unknown argument {a}\n{USAGE}"),
        }
    }
    if o.batch == 0 || o.steps == 0 {
        bail!("--batch and --steps must be at least 1");
    }
    Ok(o)
}

/// What one configuration measured.
struct Measured {
    first_step_s: f64,
    steps: usize,
    seconds: f64,
    final_loss: f32,
}

fn bench<B: AutodiffBackend>(o: &Opts, dev: &B::Device) -> Result<Measured> {
    let (c, side, k) = (CHANNELS, SIZE, NUM_CLASSES);
    let mut net = Net::<B>::new(o.arch, c, side, k, 1, dev);
    let mut opt = AdamConfig::new().init::<B, Net<B>>();
    // Deterministic pseudo-random inputs in [-2, 2) and ~30 % positive labels.
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let x: Vec<f32> =
        (0..o.batch * c * side * side).map(|_| (next() >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0).collect();
    let y: Vec<f32> = (0..o.batch * k).map(|_| ((next() % 10) < 3) as u8 as f32).collect();
    let xt = Tensor::<B, 4>::from_data(TensorData::new(x, [o.batch, c, side, side]), dev);
    let yt = Tensor::<B, 2>::from_data(TensorData::new(y, [o.batch, k]), dev);
    let mut step = |net: Net<B>| -> (Net<B>, Tensor<B, 1>) {
        let loss = bce_with_logits(net.forward(xt.clone(), None), yt.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        (opt.step(1e-3, net, grads), loss)
    };
    // First step alone: kernel compilation and autotuning land here.
    eprintln!("{} batch {} on {} ({}): model ready, first step...", o.arch.name(), o.batch, o.device, o.precision);
    let t = Instant::now();
    let (n, _) = step(net);
    net = n;
    let _ = B::sync(dev);
    let first_step_s = t.elapsed().as_secs_f64();
    // Warm-up steps are timed one by one on stderr: on a GPU backend this is
    // where kernel compilation and autotuning show, and a run stopped by a
    // timeout still says how far it got.
    eprintln!("step 1 (first): {first_step_s:.2} s");
    // Held until the function returns: warm-up and timed steps run alone.
    let _lock = match &o.exclusive {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .with_context(|| format!("--exclusive {}: cannot open the lock file", path.display()))?;
            let t = Instant::now();
            f.lock().with_context(|| format!("--exclusive {}: cannot lock", path.display()))?;
            eprintln!("waited {:.1} s for {}", t.elapsed().as_secs_f64(), path.display());
            Some(f)
        }
        None => None,
    };
    for i in 1..o.warmup {
        let t = Instant::now();
        net = step(net).0;
        let _ = B::sync(dev);
        eprintln!("step {} (warm-up): {:.2} s", i + 1, t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let mut done = 0;
    let mut last = None;
    while done < o.steps {
        let (n, loss) = step(net);
        net = n;
        last = Some(loss);
        done += 1;
        // Sync every few steps so the time budget is checked against real work
        // while the device still has a queue to overlap with.
        if done % 5 == 0 {
            let _ = B::sync(dev);
            if t.elapsed().as_secs_f64() > o.max_seconds {
                break;
            }
        }
    }
    let final_loss = last
        .map(|l| {
            l.into_data().convert::<f32>().to_vec::<f32>().ok().and_then(|v| v.first().copied()).unwrap_or(f32::NAN)
        })
        .unwrap_or(f32::NAN);
    let _ = B::sync(dev);
    Ok(Measured { first_step_s, steps: done, seconds: t.elapsed().as_secs_f64(), final_loss })
}

fn run(o: &Opts) -> Result<Measured> {
    match o.device.as_str() {
        "cpu" | "flex" => match o.precision.as_str() {
            "f32" => bench::<burn::backend::Autodiff<burn::backend::Flex>>(o, &Default::default()),
            p => bail!("--precision {p}: the CPU backend benchmarks f32 only"),
        },
        d if d == "cuda" || d.starts_with("cuda:") => cuda(o, d),
        d => bail!("--device {d}: expected cpu, cuda or cuda:N"),
    }
}

// `cuda` adds burn's fusion and autotuning on top of `cuda-base`; a `cuda`
// that forgot `cuda-base` built a train_bench with no CUDA at all.
#[cfg(all(feature = "cuda", not(feature = "cuda-base")))]
compile_error!("the `cuda` feature must enable `cuda-base` (benches/Cargo.toml)");

#[cfg(feature = "cuda-base")]
fn cuda(o: &Opts, d: &str) -> Result<Measured> {
    use bemm_trainer::device::{probe_cuda, DeviceSpec};
    use burn::backend::{cuda::CudaDevice, Autodiff, Cuda};
    let index = match DeviceSpec::parse(d)? {
        DeviceSpec::Cuda(ids) => ids.first().copied().unwrap_or(0),
        _ => 0,
    };
    probe_cuda(&[index])?;
    let dev = CudaDevice { index };
    match o.precision.as_str() {
        "f32" => bench::<Autodiff<Cuda<f32>>>(o, &dev),
        "bf16" => bench::<Autodiff<Cuda<half::bf16>>>(o, &dev),
        "f16" => bench::<Autodiff<Cuda<half::f16>>>(o, &dev),
        p => bail!("--precision {p}: expected f32, bf16 or f16"),
    }
}

#[cfg(not(feature = "cuda-base"))]
fn cuda(_: &Opts, d: &str) -> Result<Measured> {
    bail!("--device {d}: this build has no CUDA support (build with `--features cuda`)")
}

/// Which kernels a run used: burn-flex on the CPU; on CUDA, burn's fused and
/// autotuned kernels (`--features cuda`) or neither (`--features cuda-base`),
/// there with the convolution `BEMM_CUDA_CONV` names.
fn kernels(device: &str) -> Result<String> {
    if !device.starts_with("cuda") {
        return Ok("flex".into());
    }
    let conv = CudaConv::from_env().map_err(anyhow::Error::msg)?;
    if cfg!(feature = "cuda") {
        if conv != CudaConv::Burn {
            bail!(
                "{}={}: only a `--features cuda-base` build chooses its convolution (this one fuses and autotunes)",
                CudaConv::ENV,
                conv.name()
            );
        }
        return Ok("fused+autotune".into());
    }
    Ok(match conv {
        CudaConv::Burn => "plain".into(),
        other => format!("plain, {} conv", other.name()),
    })
}

fn main() -> Result<()> {
    let o = parse()?;
    let kernels = kernels(&o.device)?;
    let m = run(&o)?;
    let rate = (m.steps * o.batch) as f64 / m.seconds.max(1e-12);
    let step_ms = m.seconds / m.steps.max(1) as f64 * 1e3;
    if o.json {
        println!(
            "{}",
            serde_json::json!({
                "system": "burn", "device": o.device, "arch": o.arch.name(), "batch": o.batch,
                "precision": o.precision, "kernels": kernels, "steps": m.steps, "seconds": m.seconds,
                "step_ms": step_ms, "patches_per_s": rate, "first_step_s": m.first_step_s,
                "final_loss": m.final_loss,
            })
        );
    } else {
        println!("system  device  arch       batch  precision  step ms  patches/s  first step s  loss");
        println!(
            "burn    {:7} {:10} {:5}  {:9}  {:7.1}  {:9.1}  {:12.1}  {:.4}",
            o.device,
            o.arch.name(),
            o.batch,
            o.precision,
            step_ms,
            rate,
            m.first_step_s,
            m.final_loss
        );
    }
    Ok(())
}
