//! Device selection: `cpu` (burn-flex, the default), `ndarray` (burn-ndarray,
//! cargo feature `ndarray`), `cuda` / `cuda:N` (burn-cuda, cargo feature
//! `cuda`). A CUDA device is probed through the driver library before burn
//! touches it, so a machine without a usable GPU gets a plain error instead
//! of a panic inside cubecl.

use crate::error::TrainError;

/// Where to train.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// CPU through burn-flex (pure Rust, SIMD GEMM, rayon).
    Cpu,
    /// CPU through burn-ndarray (needs the `ndarray` feature).
    NdArray,
    /// CUDA GPU(s) by index (needs the `cuda` feature).
    Cuda(Vec<usize>),
}

impl DeviceSpec {
    /// Parse `cpu`, `flex`, `ndarray`, `cuda`, `cuda:N` or `cuda:0,1,...`.
    pub fn parse(s: &str) -> Result<DeviceSpec, TrainError> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "cpu" | "flex" => return Ok(DeviceSpec::Cpu),
            "ndarray" => return Ok(DeviceSpec::NdArray),
            "cuda" | "gpu" => return Ok(DeviceSpec::Cuda(vec![0])),
            _ => {}
        }
        if let Some(list) = s.strip_prefix("cuda:") {
            let ids: Result<Vec<usize>, _> = list.split(',').map(|t| t.trim().parse::<usize>()).collect();
            return match ids {
                Ok(v) if !v.is_empty() => Ok(DeviceSpec::Cuda(v)),
                _ => Err(TrainError::Config(format!("--device {s}: expected cuda:N or cuda:N,M,... with GPU indices"))),
            };
        }
        Err(TrainError::Config(format!("--device {s}: expected cpu, ndarray, cuda or cuda:N")))
    }

    /// Display name.
    pub fn name(&self) -> String {
        match self {
            DeviceSpec::Cpu => "cpu (burn-flex)".into(),
            DeviceSpec::NdArray => "cpu (burn-ndarray)".into(),
            DeviceSpec::Cuda(ids) => {
                format!("cuda:{}", ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","))
            }
        }
    }
}

/// Check that the CUDA driver loads, initialises and has the requested
/// devices. Returns the device count.
#[cfg(feature = "cuda-base")]
pub fn probe_cuda(ids: &[usize]) -> Result<usize, TrainError> {
    let no = |why: String| TrainError::Device(format!("no usable CUDA GPU found: {why}"));
    // SAFETY: loading the system's CUDA driver library runs its initialisers;
    // this is the same library cubecl would load, and we only load it.
    let lib = unsafe { libloading::Library::new("libcuda.so.1") }
        .map_err(|e| no(format!("cannot load the CUDA driver libcuda.so.1 ({e})")))?;
    type CuInit = unsafe extern "C" fn(u32) -> i32;
    type CuCount = unsafe extern "C" fn(*mut i32) -> i32;
    // SAFETY: the symbol types are those of the CUDA driver API (`CUresult cuInit(unsigned)`,
    // `CUresult cuDeviceGetCount(int*)`), stable since CUDA 2.0.
    let (init, count) = unsafe {
        let init: libloading::Symbol<CuInit> =
            lib.get(b"cuInit\0").map_err(|e| no(format!("libcuda.so.1 lacks cuInit ({e})")))?;
        let count: libloading::Symbol<CuCount> =
            lib.get(b"cuDeviceGetCount\0").map_err(|e| no(format!("libcuda.so.1 lacks cuDeviceGetCount ({e})")))?;
        (*init, *count)
    };
    // SAFETY: plain C calls with valid arguments (flags 0; a pointer to a live i32).
    let rc = unsafe { init(0) };
    if rc != 0 {
        return Err(no(format!("cuInit failed with CUDA error {rc}")));
    }
    let mut n = 0i32;
    // SAFETY: as above.
    let rc = unsafe { count(&mut n) };
    if rc != 0 {
        return Err(no(format!("cuDeviceGetCount failed with CUDA error {rc}")));
    }
    let n = n.max(0) as usize;
    if let Some(bad) = ids.iter().find(|&&i| i >= n) {
        return Err(no(format!("cuda:{bad} requested but the driver reports {n} device(s)")));
    }
    Ok(n)
}

/// Without the `cuda` feature, `--device cuda` is a configuration error.
#[cfg(not(feature = "cuda-base"))]
pub fn probe_cuda(_ids: &[usize]) -> Result<usize, TrainError> {
    Err(TrainError::Device(
        "no usable CUDA GPU found: this build has no CUDA support (rebuild with `--features cuda`)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse() {
        assert_eq!(DeviceSpec::parse("cpu").ok(), Some(DeviceSpec::Cpu));
        assert_eq!(DeviceSpec::parse("CUDA").ok(), Some(DeviceSpec::Cuda(vec![0])));
        assert_eq!(DeviceSpec::parse("cuda:1,3").ok(), Some(DeviceSpec::Cuda(vec![1, 3])));
        let e = DeviceSpec::parse("cuda:x").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("cuda:N"), "{e}");
        assert!(DeviceSpec::parse("tpu").is_err());
    }
}
