//! The trainer's error type: every failure names the file or setting at fault.

use std::path::PathBuf;
use thiserror::Error;

/// Anything that can stop training or export.
#[derive(Debug, Error)]
pub enum TrainError {
    /// I/O on a named file.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A checkpoint that does not decode.
    #[error("{path}: not a valid bemm checkpoint: {problem}")]
    Checkpoint {
        /// File.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The patch archive cannot be used.
    #[error("{0}")]
    Archive(String),
    /// A setting that cannot work (bad architecture, empty split, mismatched resume...).
    #[error("{0}")]
    Config(String),
    /// The requested device is missing.
    #[error("{0}")]
    Device(String),
    /// Export or its verification failed.
    #[error("{0}")]
    Export(String),
}

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
        let path = path.into();
        move |source| TrainError::Io { path, source }
    }
}
