//! Content-based retrieval over compact feature rows: distances (chi-square,
//! squared L2, cosine; scalar reference, AVX2, AVX-512 and NEON kernels,
//! chosen by timing or pinned with `BEMM_KERNEL`), exact top-k,
//! multi-threaded exact search, a binary-code coarse pass with exact
//! re-ranking, and the multi-label retrieval metrics.
//!
//! Feature rows are the feature archive's (`bemm_formats::features`): f16,
//! row-major, `row_elems()` values per row with zero padding.
//!
//! Module map and feature flags:
//! - [`distance`] (no_std, no alloc): [`Metric`], [`Kernel`], per-row distances;
//! - [`select`] (`std`): which kernel a search uses (pinned or timed);
//! - [`topk`] (`alloc`): bounded k-smallest selection;
//! - [`binary`] (`alloc`): sign codes, Hamming pre-selection, exact re-rank;
//! - [`bound`] (`alloc`): multi-query chi-square lower bounds ([`BoundKernel`]);
//! - [`batch`] (`std`): one thread's scan of a batch (bound, then exact checks);
//! - [`search`] (`std`): threads over rows, batched queries;
//! - [`metrics`] (`std`): precision@k, recall@k, mAP@k, NDCG@k.

#[cfg(feature = "std")]
pub mod batch;
#[cfg(feature = "alloc")]
pub mod binary;
#[cfg(feature = "alloc")]
pub mod bound;
#[cfg(feature = "std")]
pub mod database;
pub mod distance;
#[cfg(feature = "std")]
pub mod metrics;
#[cfg(feature = "std")]
pub mod search;
#[cfg(feature = "std")]
pub mod select;
#[cfg(feature = "alloc")]
pub mod topk;

#[cfg(feature = "alloc")]
pub use bound::{BoundKernel, QueryGroup};
#[cfg(feature = "std")]
pub use database::{Database, Query, SearchError, SearchOptions};
pub use distance::{distance_f64, distance_scalar, Kernel, Metric};
#[cfg(feature = "std")]
pub use search::{search, search_batch, search_naive};
#[cfg(feature = "std")]
pub use select::{KernelChoiceError, Selection};
#[cfg(feature = "alloc")]
pub use topk::{Hit, TopK};
