//! bemm-trainer: trains the bemm networks (ResNet, VGG, a tiny test CNN) on a
//! patch archive with burn, validates with the paper's metrics, checkpoints,
//! and exports to the engine's model file. See ARCHITECTURE.md.

pub mod checkpoint;
pub mod data;
pub mod device;
pub mod error;
pub mod evaluate;
pub mod export;
pub mod model;
pub mod plot;
pub mod rng;
pub mod state;
pub mod train;
pub mod weights;

pub use device::DeviceSpec;
pub use error::TrainError;
pub use state::{Bands, EpochLog, RunState, Scores};
pub use train::{train, Observer, Quiet, TrainConfig, TrainSummary};
