//! The training loop: the paper's protocol (BCE with logits, Adam, lr 1e-3,
//! validation every epoch with its metrics, best model by validation sample
//! F2), checkpoints that resume exactly, logs and curves in the run dir.
//!
//! Run directory:
//! - `last.ckpt`: state after the latest completed epoch (resume point);
//! - `best.ckpt`: the epoch with the best validation sample F2 (exported);
//! - `metrics.csv`, `metrics.jsonl`: one line per epoch;
//! - `loss.svg`, `scores.svg`: training loss and validation scores per epoch.
//!
//! [`train`] (`backend`) picks the burn backend for the device and hands it to
//! `run`, which starts the run (`start`: fresh, resumed or fine-tuned), then
//! per epoch trains one pass (`epoch`), validates, keeps the best and writes
//! the checkpoints and logs.

mod backend;
mod config;
mod epoch;
mod run;
mod start;

pub use backend::train;
pub use config::{Observer, Quiet, TrainConfig, TrainSummary};
pub use epoch::bce_with_logits;
