//! One thread's share of an exact search: rows `start..end` for every query
//! of a batch, in blocks of [`BLOCK_ROWS`] rows that stay in L2 while every
//! query scans them.
//!
//! Chi-square queries that admit the lower bounds of [`super::bound`]
//! (finite, non-negative, with a SIMD bound kernel) are pruned: a bound
//! kernel marks the rows whose lower bound does not exceed the query's
//! current k-th distance, and only those are measured with the exact
//! distance kernel and offered to the query's [`TopK`], exactly as the
//! plain scan offers them. A skipped row's exact distance is above the k-th
//! distance, so it would not have entered: the results equal the exact
//! search's, hit for hit.
//! - Groups of up to 16 queries of one length (at least [`MIN_GROUP`]; a
//!   batch of 17 makes groups of 9 and 8) share one read of each row
//!   ([`BoundKernel::candidates`]).
//! - A query outside any group is bounded alone, row-parallel
//!   ([`BoundKernel::row_bounds`]): one division-free pass per block.
//!
//! Every other query (other metrics, negative or non-finite values, no
//! bound kernel) computes every row's exact distance.

use super::bound::{BoundKernel, QueryGroup, LANES};
use super::database::{Database, Query, SearchOptions, BLOCK_ROWS};
use super::distance::Metric;
use super::topk::TopK;
use half::f16;

/// Fewest queries of one length the multi-query bound serves: below this,
/// a pass of the bound kernel (16 lanes whatever the count) costs more than
/// bounding the queries one by one.
pub const MIN_GROUP: usize = 4;

/// Rows bounded between refreshes of the queries' k-th distances (a fresher
/// k-th distance skips more rows; a refresh costs 16 reads).
pub const SUB_ROWS: usize = 128;

/// How a batch is answered: groups for the bound kernel (query indices per
/// lane), the queries bounded alone and those measured on every row.
#[derive(Debug, Clone)]
pub struct Plan {
    groups: Vec<(QueryGroup, Vec<usize>)>,
    alone: Vec<usize>,
    single: Vec<usize>,
}

impl Plan {
    /// Group the eligible queries of a batch (see the module docs).
    pub fn new(queries: &[Query], opt: &SearchOptions) -> Plan {
        let mut plan = Plan { groups: Vec::new(), alone: Vec::new(), single: Vec::new() };
        if opt.metric != Metric::ChiSquare || opt.bound.is_none() {
            plan.single = (0..queries.len()).collect();
            return plan;
        }
        // Eligible queries by length, in order of first appearance.
        let mut by_len: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, q) in queries.iter().enumerate() {
            if q.vector.is_empty() || !super::bound::eligible(&q.vector) {
                plan.single.push(i);
            } else if let Some(b) = by_len.iter_mut().find(|(l, _)| *l == q.vector.len()) {
                b.1.push(i);
            } else {
                by_len.push((q.vector.len(), vec![i]));
            }
        }
        for (_, members) in by_len {
            if members.len() < MIN_GROUP {
                plan.alone.extend(members);
                continue;
            }
            let groups = members.len().div_ceil(LANES);
            let per = members.len().div_ceil(groups);
            for chunk in members.chunks(per) {
                let vs: Vec<&[f32]> = chunk.iter().map(|&i| queries[i].vector.as_slice()).collect();
                match QueryGroup::new(&vs) {
                    Some(g) if chunk.len() >= MIN_GROUP => plan.groups.push((g, chunk.to_vec())),
                    _ => plan.alone.extend_from_slice(chunk),
                }
            }
        }
        plan.alone.sort_unstable();
        plan
    }

    /// Queries served by the multi-query bound.
    pub fn grouped(&self) -> usize {
        self.groups.iter().map(|(_, m)| m.len()).sum()
    }

    /// Queries served by a bound kernel, grouped or alone.
    pub fn bounded(&self) -> usize {
        self.grouped() + self.alone.len()
    }
}

/// Offer row `i` (its exact distance `d`) to `top`, as the exact scan does:
/// only a distance below the current k-th (or any, while not full) enters.
#[inline]
fn offer(top: &mut TopK, q: &Query, db: &Database<'_>, i: usize, d: f32) {
    let worst = top.worst();
    if (d < worst || worst == f32::INFINITY) && q.exclude != Some(i as u32) && db.allowed().is_none_or(|a| a[i]) {
        top.push(i as u32, d);
    }
}

/// Measure row `i` (`row`, `stride` values) exactly for a query the bound
/// did not rule it out for, and offer it.
#[inline]
fn check(opt: &SearchOptions, top: &mut TopK, q: &Query, db: &Database<'_>, i: usize, row: &[f16]) {
    let mut d = [0f32];
    opt.kernel.distances(opt.metric, &q.vector, row, db.stride(), &mut d);
    offer(top, q, db, i, d[0]);
}

/// Scan rows `start..end` for every query; returns one [`TopK`] per query.
pub fn scan(
    db: &Database<'_>,
    queries: &[Query],
    plan: &Plan,
    opt: &SearchOptions,
    start: usize,
    end: usize,
) -> Vec<TopK> {
    let stride = db.stride();
    let all = db.rows();
    let mut tops: Vec<TopK> = queries.iter().map(|_| TopK::new(opt.k)).collect();
    let mut buf = vec![0f32; BLOCK_ROWS];
    let mut masks = [0u16; SUB_ROWS];
    let bound = opt.bound.unwrap_or(BoundKernel::Scalar);
    let mut b0 = start;
    while b0 < end {
        let b1 = (b0 + BLOCK_ROWS).min(end);
        for (g, members) in &plan.groups {
            let mut s0 = b0;
            while s0 < b1 {
                let s1 = (s0 + SUB_ROWS).min(b1);
                // Unused lanes: -inf, and the kernel masks them out.
                let mut worst = [f32::NEG_INFINITY; LANES];
                for (w, &qi) in worst.iter_mut().zip(members) {
                    *w = tops[qi].worst();
                }
                let n = bound.candidates(g, &all[s0 * stride..s1 * stride], stride, &worst, &mut masks[..s1 - s0]);
                for (j, &m) in masks[..n].iter().enumerate() {
                    let mut bits = m;
                    let i = s0 + j;
                    let row = &all[i * stride..(i + 1) * stride];
                    while bits != 0 {
                        let lane = bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        let qi = members[lane];
                        check(opt, &mut tops[qi], &queries[qi], db, i, row);
                    }
                }
                s0 = s1;
            }
        }
        let rows = &all[b0 * stride..b1 * stride];
        for &qi in &plan.alone {
            let (q, top) = (&queries[qi], &mut tops[qi]);
            let len = b1 - b0;
            // A kernel that bounds fewer rows than asked (it never should) leaves them all to check.
            if bound.row_bounds(&q.vector, rows, stride, &mut buf[..len]) < len {
                buf[..len].fill(f32::NEG_INFINITY);
            }
            let mut worst = top.worst();
            for (j, &l) in buf[..len].iter().enumerate() {
                // NaN bounds and every row while the heap is not full (worst = +inf) are checked.
                if l.partial_cmp(&worst) != Some(core::cmp::Ordering::Greater) {
                    check(opt, top, q, db, b0 + j, &rows[j * stride..(j + 1) * stride]);
                    worst = top.worst();
                }
            }
        }
        for &qi in &plan.single {
            let (q, top) = (&queries[qi], &mut tops[qi]);
            let n = opt.kernel.distances(opt.metric, &q.vector, rows, stride, &mut buf[..b1 - b0]);
            let mut worst = top.worst();
            for (j, &d) in buf[..n].iter().enumerate() {
                // While the heap is not full (worst = +inf) everything enters, NaN included.
                if d < worst || worst == f32::INFINITY {
                    offer(top, q, db, b0 + j, d);
                    worst = top.worst();
                }
            }
        }
        b0 = b1;
    }
    tops
}
