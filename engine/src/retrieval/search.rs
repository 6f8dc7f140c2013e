//! Exact multi-threaded k-nearest-neighbour search over feature rows.
//!
//! The rows are split into one contiguous range per thread; each thread
//! walks its range in blocks of [`BLOCK_ROWS`] rows (256 KiB of 128-d f16
//! rows, so a block stays in L2 while every query of a batch scans it) and
//! offers the rows that beat a query's current k-th distance to its
//! [`TopK`] ([`super::batch::scan`]: chi-square batches read each row once
//! per 16 queries through a lower bound, the other queries compute every
//! row's distance with the SIMD [`Kernel`]). Thread results are merged at
//! the end; the order is total (distance, then index), so results depend
//! neither on the thread count nor on the batching.

use super::batch::{scan, Plan};
use super::database::{Database, Query, SearchError, SearchOptions, BLOCK_ROWS};
use super::distance::Metric;
use super::select::{bound_for, choose, Selection};
use super::topk::{Hit, TopK};

impl SearchOptions {
    /// `metric`, `k`, all cores, the kernel `BEMM_KERNEL` pins or the
    /// fastest one timed on `db` ([`super::select::choose`]), the bound
    /// kernel [`bound_for`] gives it, and how the kernel was picked.
    pub fn chosen(metric: Metric, k: usize, db: &Database<'_>) -> Result<(Self, Selection), SearchError> {
        let (kernel, how) = choose(metric, db.rows(), db.stride())?;
        let bound = bound_for(kernel);
        Ok((SearchOptions { kernel, bound, ..SearchOptions::new(metric, k) }, how))
    }
}

/// Fewest rows worth a thread of their own (8 MiB of 128-d f16 rows): below
/// this, spawning and joining a thread costs more than scanning the rows.
pub const MIN_ROWS_PER_THREAD: usize = 32 * 1024;

/// Threads a search of `queries` queries over `rows` rows uses when asked
/// for `requested` (0 = all cores).
pub fn thread_count(requested: usize, rows: usize, queries: usize) -> usize {
    let t = if requested == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { requested };
    // Work is rows x queries: a batch of queries makes a small database worth splitting.
    let work = rows.saturating_mul(queries.max(1));
    t.clamp(1, work.div_ceil(MIN_ROWS_PER_THREAD).clamp(1, rows.div_ceil(BLOCK_ROWS).max(1)))
}

/// The k nearest rows of each query, closest first. Work is split over
/// rows; every query of the batch is answered in one pass over memory.
pub fn search_batch(db: &Database<'_>, queries: &[Query], opt: &SearchOptions) -> Result<Vec<Vec<Hit>>, SearchError> {
    if let Some(q) = queries.iter().find(|q| q.vector.len() > db.stride()) {
        return Err(SearchError::QueryTooLong { got: q.vector.len(), stride: db.stride() });
    }
    let threads = thread_count(opt.threads, db.len(), queries.len());
    let plan = Plan::new(queries, opt);
    let plan = &plan;
    let tops = if threads == 1 {
        scan(db, queries, plan, opt, 0, db.len())
    } else {
        let per = db.len().div_ceil(threads);
        let parts: Vec<Vec<TopK>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (a, b) = ((t * per).min(db.len()), ((t + 1) * per).min(db.len()));
                    s.spawn(move || scan(db, queries, plan, opt, a, b))
                })
                .collect();
            // A scan never panics on valid input; if a worker did, re-raise it here.
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
        let mut it = parts.into_iter();
        let mut acc = it.next().unwrap_or_default();
        for part in it {
            for (a, p) in acc.iter_mut().zip(part) {
                a.merge(p);
            }
        }
        acc
    };
    Ok(tops.into_iter().map(TopK::into_sorted).collect())
}

/// The k nearest rows of one query, closest first.
pub fn search(db: &Database<'_>, query: &Query, opt: &SearchOptions) -> Result<Vec<Hit>, SearchError> {
    Ok(search_batch(db, core::slice::from_ref(query), opt)?.pop().unwrap_or_default())
}

/// The same search done the obvious way (scalar distances of every row,
/// full sort): the reference the fast path is tested and benchmarked against.
pub fn search_naive(db: &Database<'_>, query: &Query, metric: Metric, k: usize) -> Vec<Hit> {
    let mut all: Vec<Hit> = (0..db.len())
        .filter(|&i| query.exclude != Some(i as u32) && db.allowed().is_none_or(|a| a[i]))
        .filter_map(|i| {
            db.row(i)
                .map(|r| Hit { index: i as u32, distance: super::distance::distance_scalar(metric, &query.vector, r) })
        })
        .collect();
    all.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.index.cmp(&b.index)));
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    fn data(n: usize, dim: usize, stride: usize, seed: u64) -> Vec<f16> {
        let mut s = seed;
        (0..n * stride)
            .map(|i| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if i % stride < dim {
                    f16::from_f32(((s >> 40) % 1000) as f32 / 250.0)
                } else {
                    f16::ZERO
                }
            })
            .collect()
    }

    #[test]
    fn hand_made_nearest_neighbours() {
        // 1-d points 0, 10, 3, 4, 20: neighbours of 3.5 by L2 are rows 2, 3, then 0.
        let rows: Vec<f16> = [0.0f32, 10.0, 3.0, 4.0, 20.0]
            .iter()
            .flat_map(|&v| {
                let mut r = vec![f16::ZERO; 32];
                r[0] = f16::from_f32(v);
                r
            })
            .collect();
        let db = Database::new(&rows, 32).unwrap();
        let q = Query { vector: vec![3.5], exclude: None };
        let hits = search(&db, &q, &SearchOptions::new(Metric::SquaredL2, 3)).unwrap();
        let idx: Vec<u32> = hits.iter().map(|h| h.index).collect();
        assert_eq!(idx, vec![2, 3, 0]);
        assert_eq!(hits[0].distance, 0.25);
        // Excluding row 2 and filtering out row 0.
        let allowed = [false, true, true, true, true];
        let db = db.with_filter(&allowed).unwrap();
        let q = Query { vector: vec![3.5], exclude: Some(2) };
        let idx: Vec<u32> =
            search(&db, &q, &SearchOptions::new(Metric::SquaredL2, 3)).unwrap().iter().map(|h| h.index).collect();
        assert_eq!(idx, vec![3, 1, 4]);
    }

    #[test]
    fn threaded_simd_search_equals_naive_scalar_search() {
        let (n, dim, stride) = (5000, 128, 128);
        let rows = data(n, dim, stride, 3);
        let db = Database::new(&rows, stride).unwrap();
        // 20 queries x 5000 rows is enough work to be split over 3 threads.
        let queries: Vec<Query> = (0..20).map(|j| Query::from_row(&db, (j * 263 + 17) % n).unwrap()).collect();
        assert_eq!(thread_count(3, n, queries.len()), 3);
        for metric in [Metric::ChiSquare, Metric::SquaredL2, Metric::Cosine] {
            for threads in [1, 3] {
                let opt = SearchOptions { metric, k: 25, threads, ..SearchOptions::new(metric, 25) };
                let got = search_batch(&db, &queries, &opt).unwrap();
                for (q, hits) in queries.iter().zip(&got) {
                    let want = search_naive(&db, q, metric, 25);
                    assert_eq!(hits.len(), 25);
                    assert!(hits.iter().all(|h| Some(h.index) != q.exclude));
                    for (h, w) in hits.iter().zip(&want) {
                        // Same neighbour, or an exchange of near-equal distances
                        // (SIMD and scalar sum in different orders).
                        assert!(
                            h.index == w.index || (h.distance - w.distance).abs() <= 1e-5 * w.distance.max(1.0),
                            "{metric:?} {h:?} vs {w:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn small_work_stays_on_one_thread() {
        assert_eq!(thread_count(2, 10_000, 1), 1);
        assert_eq!(thread_count(2, 590_000, 1), 2);
        assert_eq!(thread_count(8, 100_000, 1), 4);
        assert_eq!(thread_count(2, 10_000, 64), 2);
        assert_eq!(thread_count(4, 10, 1000), 1);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let rows = vec![f16::ZERO; 33];
        assert!(matches!(Database::new(&rows, 32), Err(SearchError::RaggedRows { .. })));
        let rows = vec![f16::ZERO; 64];
        let db = Database::new(&rows, 32).unwrap();
        assert!(matches!(db.with_filter(&[true]), Err(SearchError::FilterLength { .. })));
        let q = Query { vector: vec![0.0; 33], exclude: None };
        assert!(matches!(
            search(&db, &q, &SearchOptions::new(Metric::ChiSquare, 1)),
            Err(SearchError::QueryTooLong { .. })
        ));
        // k larger than the database returns every row.
        let q = Query { vector: vec![0.0; 32], exclude: None };
        assert_eq!(search(&db, &q, &SearchOptions::new(Metric::ChiSquare, 10)).unwrap().len(), 2);
    }
}
