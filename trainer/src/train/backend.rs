//! The burn backend each [`DeviceSpec`] trains on, behind the cargo features
//! that build it.

use super::config::{Observer, TrainConfig, TrainSummary};
use super::run::run;
use crate::device::{probe_cuda, DeviceSpec};
use crate::error::TrainError;
use bemm_formats::archive::PatchArchive;

/// Train as `cfg` says, resuming from `RUN_DIR/last.ckpt` when it exists.
pub fn train(cfg: &TrainConfig, obs: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    let archive =
        PatchArchive::open(&cfg.archive).map_err(|e| TrainError::Archive(format!("{}: {e}", cfg.archive.display())))?;
    match &cfg.device {
        DeviceSpec::Cpu => cpu_flex(cfg, &archive, obs),
        DeviceSpec::NdArray => cpu_ndarray(cfg, &archive, obs),
        DeviceSpec::Cuda(ids) => {
            probe_cuda(ids)?;
            cuda(cfg, &archive, ids, obs)
        }
    }
}

#[cfg(feature = "flex")]
fn cpu_flex(cfg: &TrainConfig, archive: &PatchArchive, obs: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    run::<burn::backend::Autodiff<burn::backend::Flex>>(
        cfg,
        archive,
        vec![Default::default(); cfg.cpu_shards.max(1)],
        obs,
    )
}
#[cfg(not(feature = "flex"))]
fn cpu_flex(_: &TrainConfig, _: &PatchArchive, _: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    Err(TrainError::Device("--device cpu needs bemm-trainer's `flex` feature (on by default)".into()))
}

#[cfg(feature = "ndarray")]
fn cpu_ndarray(cfg: &TrainConfig, archive: &PatchArchive, obs: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    run::<burn::backend::Autodiff<burn::backend::NdArray>>(
        cfg,
        archive,
        vec![Default::default(); cfg.cpu_shards.max(1)],
        obs,
    )
}
#[cfg(not(feature = "ndarray"))]
fn cpu_ndarray(_: &TrainConfig, _: &PatchArchive, _: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    Err(TrainError::Device(
        "--device ndarray needs the `ndarray` cargo feature (cargo build --features ndarray)".into(),
    ))
}

#[cfg(feature = "cuda-base")]
fn cuda(
    cfg: &TrainConfig,
    archive: &PatchArchive,
    ids: &[usize],
    obs: &mut dyn Observer,
) -> Result<TrainSummary, TrainError> {
    let devices = ids.iter().map(|&index| burn::backend::cuda::CudaDevice { index }).collect();
    // Measured on an H200 (README, "Benchmarks"): with fusion and autotuning
    // ResNet50 did not finish its first step in 535 s while the GPU sat
    // idle; without them the first step took 18 s and each after it 3 s.
    // Say which, or the run looks hung (or just slow).
    if cfg!(feature = "cuda") {
        obs.note("cuda: the first steps on a new machine compile and autotune burn-cuda's kernels (over 9 minutes for ResNet50 on an H200, GPU idle meanwhile); runs started inside the repository keep them under target/ (cubecl.toml) and start faster");
    } else {
        obs.note("cuda (no fusion, no autotuning): burn's direct convolution, about 3 s a ResNet50 step at batch 256 on an H200; BEMM_CUDA_CONV=implicit-gemm picks tensor-core kernels (not yet measured)");
    }
    run::<burn::backend::Autodiff<burn::backend::Cuda>>(cfg, archive, devices, obs)
}
#[cfg(not(feature = "cuda-base"))]
fn cuda(_: &TrainConfig, _: &PatchArchive, _: &[usize], _: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    // probe_cuda already failed without the feature; kept for completeness.
    Err(TrainError::Device("no usable CUDA GPU found: this build has no CUDA support".into()))
}
