//! One module per `bemm` subcommand.

pub mod demo;
pub mod eval;
pub mod export;
pub mod features;
pub mod fuse;
pub mod import;
pub mod info;
pub mod ingest;
pub mod kernel_choice;
pub mod predict;
pub mod retrieval_eval;
pub mod run_args;
pub mod search;
pub mod synth;
pub mod train;
