//! bemm-engine: no_std fp16 ResNet/VGG inference (being built).
#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(feature = "alloc")]
extern crate alloc;

/// Architectures as functions over a weight source (needs `alloc`).
#[cfg(feature = "alloc")]
pub mod arch;

/// The paper's multi-label metrics (scikit-learn-exact, no allocation).
pub mod metrics;
