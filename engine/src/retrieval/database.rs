//! What a search runs over and with: the feature rows ([`Database`]), a
//! [`Query`], the [`SearchOptions`], and why a search could not run
//! ([`SearchError`]).

use super::bound::BoundKernel;
use super::distance::{Kernel, Metric};
use super::select::KernelChoiceError;
use half::f16;

/// Rows per block (see the module docs).
pub const BLOCK_ROWS: usize = 1024;

/// Rows to search: `len` rows of `stride` f16 values each (the feature
/// archive layout), optionally restricted to rows where `allowed[i]` is true.
#[derive(Debug, Clone, Copy)]
pub struct Database<'a> {
    rows: &'a [f16],
    stride: usize,
    len: usize,
    allowed: Option<&'a [bool]>,
}

/// Why a search could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// The rows do not hold a whole number of `stride`-element rows.
    #[error("feature rows: {len} values is not a multiple of the row stride {stride}")]
    RaggedRows {
        /// Values given.
        len: usize,
        /// Row stride.
        stride: usize,
    },
    /// The filter does not have one entry per row.
    #[error("row filter has {got} entries, expected one per row ({expected})")]
    FilterLength {
        /// Entries given.
        got: usize,
        /// Rows.
        expected: usize,
    },
    /// A query is longer than a row.
    #[error("query has {got} values, more than the row stride {stride}")]
    QueryTooLong {
        /// Query length.
        got: usize,
        /// Row stride.
        stride: usize,
    },
    /// No distance kernel could be chosen (`BEMM_KERNEL`).
    #[error(transparent)]
    Kernel(#[from] KernelChoiceError),
}

impl<'a> Database<'a> {
    /// All `rows.len() / stride` rows.
    pub fn new(rows: &'a [f16], stride: usize) -> Result<Self, SearchError> {
        if stride == 0 || rows.len().checked_rem(stride) != Some(0) {
            return Err(SearchError::RaggedRows { len: rows.len(), stride });
        }
        Ok(Database { rows, stride, len: rows.len() / stride, allowed: None })
    }

    /// The rows of a feature archive.
    pub fn from_features(f: &bemm_formats::features::FeatureArchive<'a>) -> Self {
        Database { rows: f.rows(), stride: f.row_elems(), len: f.len(), allowed: None }
    }

    /// Only rows `i` with `allowed[i]` can be returned.
    pub fn with_filter(mut self, allowed: &'a [bool]) -> Result<Self, SearchError> {
        if allowed.len() != self.len {
            return Err(SearchError::FilterLength { got: allowed.len(), expected: self.len });
        }
        self.allowed = Some(allowed);
        Ok(self)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Elements per row.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The row filter, if any (`allowed[i]`: row `i` may be returned).
    pub fn allowed(&self) -> Option<&'a [bool]> {
        self.allowed
    }

    /// Every row's values, row-major (`len() * stride()`).
    pub fn rows(&self) -> &'a [f16] {
        self.rows
    }

    /// Row `i` (all `stride` elements).
    pub fn row(&self, i: usize) -> Option<&'a [f16]> {
        self.rows.get(i * self.stride..(i + 1) * self.stride)
    }
}

/// One query: a vector (f32, at most `stride` values; zero padding is
/// implied) and optionally a row to leave out (the query's own row).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The query vector.
    pub vector: Vec<f32>,
    /// A row index never returned.
    pub exclude: Option<u32>,
}

impl Query {
    /// A query made from row `i` of `db`, leaving row `i` out of its results.
    pub fn from_row(db: &Database<'_>, i: usize) -> Option<Query> {
        let row = db.row(i)?;
        Some(Query { vector: row.iter().map(|v| v.to_f32()).collect(), exclude: Some(i as u32) })
    }
}

/// Search settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchOptions {
    /// Distance.
    pub metric: Metric,
    /// Results per query.
    pub k: usize,
    /// Worker threads (0 = all available cores).
    pub threads: usize,
    /// Distance implementation.
    pub kernel: Kernel,
    /// Chi-square lower-bound kernel, for groups of queries and for single
    /// queries ([`super::batch`]; `None`: every query computes every row's
    /// exact distance). Results are the same either way.
    pub bound: Option<BoundKernel>,
}

impl SearchOptions {
    /// `metric`, `k`, all cores, the preferred kernels ([`Kernel::detect`],
    /// [`BoundKernel::detect`]; neither timed nor pinned: see
    /// [`SearchOptions::chosen`]).
    pub fn new(metric: Metric, k: usize) -> Self {
        SearchOptions { metric, k, threads: 0, kernel: Kernel::detect(), bound: BoundKernel::detect() }
    }
}
