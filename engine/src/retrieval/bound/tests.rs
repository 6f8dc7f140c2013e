//! Every bound kernel this CPU runs against the scalar reference bound, the
//! distance kernels and the exact f64 distance: the bound must never exceed
//! any kernel's distance (or the search would skip a true neighbour), must
//! stay within `2 EPS (Sx + Sy)` of the exact distance (or it would prune
//! nothing), and its masks must follow the bounds. The batched search built
//! on it is checked hit for hit against the one-by-one search and in order
//! against the f64 reference. Kernels the running CPU lacks are listed.

use super::*;
use crate::retrieval::database::{Database, Query, SearchOptions};
use crate::retrieval::distance::{distance_f64, Metric};
use crate::retrieval::search::search_batch;
use alloc::vec;

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32) / (1u64 << 24) as f32
}

/// The bound kernels to test here; prints those this CPU cannot run.
fn bound_kernels_here() -> Vec<BoundKernel> {
    let missing: Vec<&str> = BoundKernel::ALL.iter().filter(|k| !k.available()).map(|k| k.name()).collect();
    if !missing.is_empty() {
        std::eprintln!("NOT TESTED on this CPU/target (NEON under qemu-aarch64): {}", missing.join(", "));
    }
    #[cfg(target_arch = "aarch64")]
    assert!(BoundKernel::Neon.available());
    BoundKernel::available_kernels().collect()
}

/// Rows shaped like pooled post-ReLU features (clustered, a third zeros,
/// long-tailed), every 7th row a copy of an earlier one (exact ties), some
/// values tiny (f16 subnormals) and row 3 all zeros.
fn real_shaped(n: usize, dim: usize, stride: usize, seed: u64) -> Vec<f16> {
    let mut s = seed;
    let centres: Vec<f32> = (0..32 * dim)
        .map(|_| {
            let u = lcg(&mut s);
            if u < 0.35 {
                0.0
            } else {
                -libm::logf(1.0 - u * 0.999) * 0.8
            }
        })
        .collect();
    let mut rows = vec![f16::ZERO; n * stride];
    for r in 0..n {
        if r % 7 == 6 {
            let src = (r / 2) * stride;
            rows.copy_within(src..src + stride, r * stride);
            continue;
        }
        let c = (lcg(&mut s) * 32.0) as usize % 32;
        for j in 0..dim {
            let u = lcg(&mut s);
            let noise = if u < 0.2 {
                lcg(&mut s) * 0.5
            } else if u > 0.97 {
                3e-7
            } else {
                0.0
            };
            rows[r * stride + j] = f16::from_f32(centres[c * dim + j] * (0.6 + 0.8 * lcg(&mut s)) + noise);
        }
    }
    if n > 3 {
        rows[3 * stride..4 * stride].fill(f16::ZERO);
    }
    rows
}

fn row_vec(rows: &[f16], stride: usize, dim: usize, i: usize) -> Vec<f32> {
    rows[i * stride..i * stride + dim].iter().map(|v| v.to_f32()).collect()
}

/// Queries: rows of the data (one all-zero), a -0.0 and tiny f32 values.
fn queries_of(rows: &[f16], stride: usize, dim: usize, count: usize) -> Vec<Vec<f32>> {
    let n = rows.len() / stride;
    (0..count)
        .map(|q| {
            let mut v = row_vec(rows, stride, dim, (q * 37 + 3) % n);
            if q == 1 {
                v[0] = -0.0;
                v[dim - 1] = 1e-39;
            }
            v
        })
        .collect()
}

#[test]
fn bounds_never_exceed_any_kernel_and_stay_close_to_exact() {
    let here = bound_kernels_here();
    let dkernels: Vec<Kernel> = Kernel::available_kernels().collect();
    for (n, dim, stride, count) in [(300, 128, 128, 16), (200, 100, 112, 5), (150, 7, 8, 1), (150, 33, 40, 16)] {
        let rows = real_shaped(n, dim, stride, 7 + dim as u64);
        let qs = queries_of(&rows, stride, dim, count);
        let refs: Vec<&[f32]> = qs.iter().map(|q| q.as_slice()).collect();
        let g = QueryGroup::new(&refs).expect("eligible queries");
        let mut reference = vec![[0f32; LANES]; n];
        assert_eq!(BoundKernel::Scalar.bounds(&g, &rows, stride, &mut reference), n);
        let mut dist = vec![0f32; n];
        for &bk in &here {
            let mut b = vec![[0f32; LANES]; n];
            assert_eq!(bk.bounds(&g, &rows, stride, &mut b), n);
            for (q, y) in qs.iter().enumerate() {
                let sy: f64 = y.iter().map(|&v| f64::from(v)).sum();
                for r in 0..n {
                    let row = &rows[r * stride..(r + 1) * stride];
                    let exact = distance_f64(Metric::ChiSquare, y, row);
                    let sx: f64 = row[..dim].iter().map(|v| f64::from(v.to_f32())).sum();
                    let l = f64::from(b[r][q]);
                    let slack = 2.0 * f64::from(EPS) * (sx + sy) + 1e-30;
                    assert!(l <= exact, "{} n{n} d{dim} q{q} r{r}: bound {l} above exact {exact}", bk.name());
                    assert!(l >= exact - slack, "{} n{n} d{dim} q{q} r{r}: bound {l} far below {exact}", bk.name());
                    let s = f64::from(reference[r][q]);
                    assert!((l - s).abs() <= slack, "{} vs scalar bound r{r} q{q}: {l} vs {s}", bk.name());
                }
                for &k in &dkernels {
                    k.distances(Metric::ChiSquare, y, &rows, stride, &mut dist);
                    for r in 0..n {
                        assert!(
                            b[r][q] <= dist[r],
                            "{} above {} r{r} q{q}: {} > {}",
                            bk.name(),
                            k.name(),
                            b[r][q],
                            dist[r]
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn masks_follow_the_bounds_and_unused_lanes_stay_clear() {
    let (n, dim) = (130, 128);
    let rows = real_shaped(n, dim, dim, 11);
    let qs = queries_of(&rows, dim, dim, 6);
    let refs: Vec<&[f32]> = qs.iter().map(|q| q.as_slice()).collect();
    let g = QueryGroup::new(&refs).unwrap();
    assert_eq!(g.lane_mask(), 0b11_1111);
    for bk in bound_kernels_here() {
        let mut b = vec![[0f32; LANES]; n];
        bk.bounds(&g, &rows, dim, &mut b);
        // Thresholds around the bounds' median: some rows pass, some do not.
        let mut worst = [0f32; LANES];
        for (q, w) in worst.iter_mut().enumerate() {
            let mut col: Vec<f32> = b.iter().map(|r| r[q]).collect();
            col.sort_by(f32::total_cmp);
            *w = col[n / 2];
        }
        worst[2] = f32::INFINITY;
        let mut masks = vec![0u16; n];
        assert_eq!(bk.candidates(&g, &rows, dim, &worst, &mut masks), n);
        for r in 0..n {
            let want = (0..6)
                .filter(|&q| b[r][q].partial_cmp(&worst[q]) != Some(core::cmp::Ordering::Greater))
                .fold(0u16, |m, q| m | 1 << q);
            assert_eq!(masks[r], want, "{} row {r}", bk.name());
        }
        let set: usize = masks.iter().map(|m| m.count_ones() as usize).sum();
        assert!(set > n && set < 6 * n, "{}: {set} checks of {}", bk.name(), 6 * n);
    }
}

/// Eight real-shaped rows of `dim` (> 17) values, some damaged: row 1 holds
/// a negative value, row 2 a NaN (last value), row 4 an infinity, row 5 a
/// -0.0; rows 0, 3, 6 and 7 are intact.
fn damaged_rows(dim: usize) -> Vec<f16> {
    let mut rows = real_shaped(8, dim, dim, 5);
    rows[dim + 3] = f16::from_f32(-1.0);
    rows[3 * dim - 1] = f16::NAN;
    rows[4 * dim] = f16::INFINITY;
    rows[5 * dim + 17] = f16::NEG_ZERO;
    rows
}

#[test]
fn rows_without_a_bound_are_checked_by_every_query() {
    let dim = 40;
    let rows = damaged_rows(dim);
    let qs = queries_of(&rows[6 * dim..], dim, dim, 3);
    let refs: Vec<&[f32]> = qs.iter().map(|q| q.as_slice()).collect();
    let g = QueryGroup::new(&refs).unwrap();
    for bk in bound_kernels_here() {
        let mut masks = vec![0u16; 8];
        bk.candidates(&g, &rows, dim, &[-1.0; LANES], &mut masks);
        let mut b = vec![[0f32; LANES]; 8];
        bk.bounds(&g, &rows, dim, &mut b);
        for r in [1, 2, 4] {
            assert_eq!(masks[r], 0b111, "{} row {r}", bk.name());
            assert_eq!(b[r][0], f32::NEG_INFINITY, "{} row {r}", bk.name());
        }
        // -0.0 is a zero: the row has a bound, below the exact distance.
        for (q, y) in qs.iter().enumerate() {
            assert!(f64::from(b[5][q]) <= distance_f64(Metric::ChiSquare, y, &rows[5 * dim..6 * dim]), "{}", bk.name());
        }
    }
}

#[test]
fn query_groups_refuse_what_no_bound_covers() {
    let ok = [1.0f32, 0.0, -0.0, 1e-40];
    assert!(QueryGroup::new(&[&ok]).is_some());
    for bad in [[1.0f32, -1e-3, 0.0, 0.0], [f32::NAN, 0.0, 0.0, 0.0], [f32::INFINITY, 0.0, 0.0, 0.0]] {
        assert!(QueryGroup::new(&[&ok, &bad]).is_none(), "{bad:?}");
    }
    assert!(QueryGroup::new(&[]).is_none());
    assert!(QueryGroup::new(&[&ok[..3], &ok]).is_none());
    assert!(QueryGroup::new(&vec![&ok[..]; LANES + 1]).is_none());
    let g = QueryGroup::new(&vec![&ok[..]; LANES]).unwrap();
    assert_eq!((g.len(), g.dim(), g.lane_mask()), (LANES, 4, u16::MAX));
}

#[test]
fn batched_search_equals_one_by_one_hit_for_hit_and_the_f64_order() {
    let (n, dim) = (6000, 128);
    let mut rows = real_shaped(n, dim, dim, 3);
    // A row with a negative value (no bound) must still be found when close.
    rows[100 * dim + 5] = f16::from_f32(-0.5);
    let db0 = Database::new(&rows, dim).unwrap();
    let allowed: Vec<bool> = (0..n).map(|i| i % 11 != 4).collect();
    let mut queries: Vec<Query> = (0..20).map(|j| Query::from_row(&db0, (j * 263 + 17) % n).unwrap()).collect();
    queries[4] = Query::from_row(&db0, 100).unwrap(); // negative value: answered alone
    queries[7].vector.truncate(100); // another length: its own group size, answered alone
    queries[9].exclude = None;
    for db in [db0, db0.with_filter(&allowed).unwrap()] {
        for batch in [20, 16, 5, 3, 1] {
            let qs = &queries[..batch];
            for k in Kernel::available_kernels() {
                let plain = SearchOptions {
                    kernel: k,
                    k: 30,
                    threads: 1,
                    bound: None,
                    ..SearchOptions::new(Metric::ChiSquare, 30)
                };
                let want = search_batch(&db, qs, &plain).unwrap();
                for bk in bound_kernels_here() {
                    for threads in [1, 3] {
                        let opt = SearchOptions { bound: Some(bk), threads, ..plain };
                        let got = search_batch(&db, qs, &opt).unwrap();
                        assert_eq!(got, want, "{} + {} batch {batch} threads {threads}", k.name(), bk.name());
                    }
                }
                // Ties aside, the same order as the exact f64 distances.
                for (q, hits) in qs.iter().zip(&want) {
                    let exact: Vec<f64> = hits
                        .iter()
                        .map(|h| distance_f64(Metric::ChiSquare, &q.vector, db.row(h.index as usize).unwrap()))
                        .collect();
                    for w in exact.windows(2) {
                        assert!(w[0] <= w[1] + 1e-5 * w[1].abs() + 1e-12, "{}: f64 order {w:?}", k.name());
                    }
                }
            }
        }
    }
    let plan = crate::retrieval::batch::Plan::new(&queries, &SearchOptions::new(Metric::ChiSquare, 30));
    let bounded = BoundKernel::detect().is_some();
    assert_eq!((plan.grouped(), plan.bounded()), if bounded { (18, 19) } else { (0, 0) });
}

#[test]
fn single_query_bounds_never_exceed_any_kernel_and_stay_close_to_exact() {
    let dkernels: Vec<Kernel> = Kernel::available_kernels().collect();
    let shapes = [(300, 128, 128), (200, 100, 112), (150, 7, 8), (150, 33, 40), (90, 1, 1), (120, 79, 80)];
    for (n, dim, stride) in shapes {
        let rows = real_shaped(n, dim, stride, 19 + dim as u64);
        let mut dist = vec![0f32; n];
        for y in queries_of(&rows, stride, dim, 4) {
            let mut reference = vec![0f32; n];
            assert_eq!(BoundKernel::Scalar.row_bounds(&y, &rows, stride, &mut reference), n);
            for bk in bound_kernels_here() {
                let mut b = vec![0f32; n];
                assert_eq!(bk.row_bounds(&y, &rows, stride, &mut b), n);
                for r in 0..n {
                    let exact = distance_f64(Metric::ChiSquare, &y, &rows[r * stride..(r + 1) * stride]);
                    let (l, s) = (f64::from(b[r]), f64::from(reference[r]));
                    let slack = 2.0 * f64::from(EPS) * exact + f64::from(tiny(dim)) + 1e-30;
                    let at = || format!("{} n{n} d{dim} r{r}", bk.name());
                    assert!(l <= exact, "{}: bound {l} above exact {exact}", at());
                    assert!(l >= exact - slack, "{}: bound {l} far below {exact}", at());
                    assert!((l - s).abs() <= slack, "{}: {l} vs scalar bound {s}", at());
                }
                for &k in &dkernels {
                    k.distances(Metric::ChiSquare, &y, &rows, stride, &mut dist);
                    for r in 0..n {
                        assert!(b[r] <= dist[r], "{} above {} r{r}: {} > {}", bk.name(), k.name(), b[r], dist[r]);
                    }
                }
            }
        }
    }
}

#[test]
fn single_query_rows_without_a_bound_are_flagged_and_bad_queries_bound_nothing() {
    let dim = 40;
    let mut rows = damaged_rows(dim);
    rows[6 * dim + 38] = f16::from_f32(-2.0); // in the scalar tail of 8-lane kernels
    let y = row_vec(&rows, dim, dim, 7);
    for bk in bound_kernels_here() {
        let mut b = vec![0f32; 8];
        assert_eq!(bk.row_bounds(&y, &rows, dim, &mut b), 8);
        // A sign bit (negative, -0.0): no bound, so every k-th distance lets the row through.
        for r in [1, 5, 6] {
            assert_eq!(b[r], f32::NEG_INFINITY, "{} row {r}", bk.name());
        }
        // NaN and infinities: never above a distance a kernel computes (NaN terms count 0 there).
        let mut dist = vec![0f32; 8];
        for k in Kernel::available_kernels() {
            k.distances(Metric::ChiSquare, &y, &rows, dim, &mut dist);
            for r in 0..8 {
                assert!(
                    dist[r].is_nan() || b[r].partial_cmp(&dist[r]) != Some(core::cmp::Ordering::Greater),
                    "{} vs {} row {r}: {} > {}",
                    bk.name(),
                    k.name(),
                    b[r],
                    dist[r]
                );
            }
        }
        for r in [0, 3, 7] {
            let exact = distance_f64(Metric::ChiSquare, &y, &rows[r * dim..(r + 1) * dim]);
            assert!(b[r].is_finite() && f64::from(b[r]) <= exact, "{} row {r}", bk.name());
        }
        for bad in [vec![-1.0f32; dim], vec![f32::NAN; dim], vec![], vec![1.0; dim + 1]] {
            assert_eq!(bk.row_bounds(&bad, &rows, dim, &mut b), 0, "{} {bad:?}", bk.name());
        }
    }
}
