//! bemm-engine: `no_std` fp16 ResNet/VGG inference over `.bemm` model files.
//!
//! ```text
//! bytes ──ModelFile::parse──> Model (plan once) ──infer(input f16 CHW, scratch)──> probs, features
//! ```
//!
//! Layering (one concept per module):
//! - [`model`]: the public API ([`Model`], [`Precision`]); [`owned`] (std):
//!   [`OwnedModel`] over a memory map, multi-threaded batches;
//! - `graph`: the interpreter; [`planner`]: static activation memory plan;
//! - layers: [`conv`] (im2col and pointwise GEMM, direct convolution,
//!   Winograd F(2x2, 3x3)), `linear`, [`pool`], [`elementwise`]; `act`:
//!   activation layouts; `ctx`: the execution context (kernel, blocks, fork);
//! - [`gemm`]: the packed GEMM driver; [`kernels`]: micro-kernels per ISA
//!   (scalar, AVX2, AVX-512, AVX512-BF16) in one registry, f16 widening;
//!   [`cpu`]: CPU-feature detection, the one check before any kernel runs.
//!
//! Features: `alloc` (architectures in [`arch`]), `std` (memory maps,
//! threads, run-time CPU detection), `capi` (the C ABI in `capi`, declared in
//! `engine/include/bemm.h`).
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod act;
#[cfg(feature = "alloc")]
pub mod arch;
#[cfg(feature = "capi")]
pub mod capi;
pub mod conv;
pub mod cpu;
mod ctx;
pub mod elementwise;
pub mod error;
pub mod gemm;
mod graph;
mod input_check;
pub use input_check::first_non_finite;
pub mod kernels;
#[cfg(test)]
mod lcg;
mod linear;
pub mod metrics;
pub mod model;
pub mod observe;
#[cfg(feature = "std")]
pub mod owned;
pub mod planner;
pub mod pool;
mod qgemm;
pub mod retrieval;
#[cfg(feature = "std")]
mod spin_fork;
#[cfg(feature = "std")]
pub mod tune;

pub use cpu::Isa;
pub use error::EngineError;
pub use model::{Model, Precision};
#[cfg(feature = "std")]
pub use owned::OwnedModel;
