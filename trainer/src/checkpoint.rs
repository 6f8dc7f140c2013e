//! Checkpoint files: everything needed to resume a run exactly.
//!
//! One file, written atomically (temp name, fsync, rename):
//!
//! ```text
//! "BEMMCKP1" | u64 len | run state (JSON) | u64 len | model record (burn named
//! MessagePack, f32) | u64 len | optimiser record (same) | u64 XXH64 of all before
//! ```
//!
//! The run state holds the epoch counter, the seed (every random choice of
//! epoch `e` is derived from (seed, e), so the seed plus the epoch is the
//! complete generator state), the best score so far and the metric history.
//! Lengths are little-endian.

use crate::error::TrainError;
use crate::model::Net;
use crate::state::RunState;
use bemm_formats::checksum::xxh64;
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::Backend;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"BEMMCKP1";

/// Name of the resume checkpoint in a run directory.
pub const LAST_CHECKPOINT: &str = "last.ckpt";
/// Name of the best-validation checkpoint in a run directory.
pub const BEST_CHECKPOINT: &str = "best.ckpt";

/// The recorder of model and optimiser records (full f32 precision).
pub(crate) type Rec = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// Resolve a run dir (its [`BEST_CHECKPOINT`]) or checkpoint path to the checkpoint file.
pub fn resolve(source: &Path) -> PathBuf {
    if source.is_dir() {
        source.join(BEST_CHECKPOINT)
    } else {
        source.to_path_buf()
    }
}

/// The decoded sections of a checkpoint file.
pub struct CheckpointBytes {
    /// Run state.
    pub state: RunState,
    /// Model record bytes.
    pub model: Vec<u8>,
    /// Optimiser record bytes (empty in an exported-weights-only file).
    pub optim: Vec<u8>,
}

/// Encode and atomically write a checkpoint.
pub fn write(path: &Path, state: &RunState, model: &[u8], optim: &[u8]) -> Result<(), TrainError> {
    let json =
        serde_json::to_vec(state).map_err(|e| TrainError::Config(format!("cannot encode the run state: {e}")))?;
    let mut out = Vec::with_capacity(json.len() + model.len() + optim.len() + 40);
    out.extend_from_slice(MAGIC);
    for s in [&json[..], model, optim] {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s);
    }
    let h = xxh64(&out);
    out.extend_from_slice(&h.to_le_bytes());
    bemm_formats::fsutil::write_atomic(path, &out).map_err(TrainError::io(path))
}

/// Read and validate a checkpoint.
pub fn read(path: &Path) -> Result<CheckpointBytes, TrainError> {
    let bytes = std::fs::read(path).map_err(TrainError::io(path))?;
    let bad = |problem: &str| TrainError::Checkpoint { path: path.to_path_buf(), problem: problem.to_string() };
    if bytes.len() < MAGIC.len() + 8 || &bytes[..8] != MAGIC {
        return Err(bad("missing the BEMMCKP1 magic"));
    }
    let body = bytes.len() - 8;
    let stored = u64::from_le_bytes(bytes[body..].try_into().map_err(|_| bad("truncated"))?);
    if xxh64(&bytes[..body]) != stored {
        return Err(bad("checksum mismatch (truncated or corrupted file)"));
    }
    let mut pos = 8usize;
    let mut sections = Vec::with_capacity(3);
    for name in ["run state", "model", "optimiser"] {
        let len_bytes = bytes.get(pos..pos + 8).ok_or_else(|| bad(&format!("{name} section length missing")))?;
        let len = u64::from_le_bytes(len_bytes.try_into().map_err(|_| bad("truncated"))?) as usize;
        pos += 8;
        let end = pos
            .checked_add(len)
            .filter(|&e| e <= body)
            .ok_or_else(|| bad(&format!("{name} section runs past the end")))?;
        sections.push(bytes[pos..end].to_vec());
        pos = end;
    }
    let optim = sections.pop().unwrap_or_default();
    let model = sections.pop().unwrap_or_default();
    let json = sections.pop().unwrap_or_default();
    let state: RunState = serde_json::from_slice(&json).map_err(|e| bad(&format!("run state: {e}")))?;
    Ok(CheckpointBytes { state, model, optim })
}

/// Decode a model record saved by the trainer into `net`.
pub(crate) fn load_model<B: Backend>(
    net: Net<B>,
    bytes: Vec<u8>,
    device: &B::Device,
    path: &Path,
) -> Result<Net<B>, TrainError> {
    let record = Recorder::<B>::load(&Rec::new(), bytes, device)
        .map_err(|e| TrainError::Checkpoint { path: path.to_path_buf(), problem: format!("model weights: {e}") })?;
    Ok(net.load_record(record))
}

/// Load a checkpoint's network (weights only) onto `device`, with its run state.
pub fn load_net<B: Backend>(path: &Path, device: &B::Device) -> Result<(RunState, Net<B>), TrainError> {
    let ck = read(path)?;
    let s = &ck.state.settings;
    let arch = bemm_engine::arch::Arch::parse(&s.arch).ok_or_else(|| TrainError::Checkpoint {
        path: path.to_path_buf(),
        problem: format!("unknown architecture {:?}", s.arch),
    })?;
    let net = Net::<B>::new(arch, s.channels.len(), s.size, s.classes, 0, device);
    let net = load_model(net, ck.model, device, path)?;
    Ok((ck.state, net))
}
