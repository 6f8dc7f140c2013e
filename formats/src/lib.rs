//! Compact binary formats shared by the bemm engine and trainer.
//!
//! Three formats, all little-endian, versioned, and readable **zero-copy from a
//! `&[u8]`** (flash, `include_bytes!`, a memory map):
//!
//! - [`model`]: the `.bemm` model file (layer graph + fp16 weights),
//! - [`archive`]: the patch archive (shards of 12x120x120 f16 tensors + records),
//! - [`features`]: the feature archive (f16 vectors + the same records).
//!
//! The byte-level specification is `formats/SPEC.md`. Band order, class lists
//! and shapes live in [`bands`] and [`labels`], and nowhere else.
//!
//! Features: `alloc` adds the writers' in-memory builders, `std` adds file I/O
//! (memory maps, atomic temp-then-rename writes, the archive manifest).
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod archive;
pub mod bands;
pub mod checksum;
pub mod error;
pub mod features;
#[cfg(feature = "std")]
pub mod fsutil;
pub mod labels;
pub mod model;
mod pod;
mod preamble;

pub use error::FormatError;
pub use half::f16;
