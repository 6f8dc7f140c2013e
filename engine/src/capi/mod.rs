//! The C ABI (feature `capi`), declared in `engine/include/bemm.h`.
//!
//! Design for firmware: no call allocates. The caller owns every buffer —
//! the model handle's storage (`bemm_model_storage_size` bytes, aligned to
//! `bemm_model_storage_align`), the model bytes (aligned to
//! [`BEMM_MODEL_ALIGN`], outliving the handle), scratch, inputs and
//! outputs. Every function that can fail returns a status code (`BEMM_OK`
//! = 0, failures negative); the last failure's code and a detailed message
//! are kept in a fixed buffer, per thread with `std` and process-wide
//! without it. Inputs are f16 bit patterns (`uint16_t`), CHW, normalised
//! as the model's metadata says.
//!
//! Files, each depending only on those above it:
//! - `codes`: status codes, limits, `bemm_status_name`;
//! - `bounds`: the check every length from C passes before a slice is made;
//! - `last_error`: the failure record and the `EngineError` -> code mapping;
//! - `handle`: the handle (a magic word, then the [`Model`](crate::Model)),
//!   open, close, configuration and description;
//! - `infer`: `bemm_predict`, `bemm_extract_features`;
//! - `convert`: `bemm_f32_to_f16`.
//!
//! `engine/include/bemm.h` is hand-written; `tests/tests/interop_capi.rs`
//! checks its prototypes and constants against the `extern "C"` functions
//! and `BEMM_*` constants of this folder.
//!
//! `unsafe`: required here — C hands us raw pointers. Each function checks
//! them for null, alignment and length before building slices.

mod bounds;
mod codes;
mod convert;
mod handle;
mod infer;
mod last_error;
#[cfg(all(test, feature = "std"))]
mod tests;

pub use codes::*;
pub use convert::bemm_f32_to_f16;
pub use handle::{
    bemm_model_close, bemm_model_info, bemm_model_kernel_name, bemm_model_open, bemm_model_set_gemm_blocks,
    bemm_model_set_kernel, bemm_model_storage_align, bemm_model_storage_size, bemm_scratch_len, BemmModel,
};
pub use infer::{bemm_extract_features, bemm_predict};
pub use last_error::{bemm_last_error, bemm_last_error_message};
