//! Every kernel this CPU runs against the scalar reference (per distance)
//! and against the exact f64 reference (same top-k order, ties aside). Run
//! on x86-64 and, under qemu, on AArch64 (`--target aarch64-unknown-linux-gnu
//! --lib retrieval`), so each instruction set's kernels are exercised by the
//! target that has them; kernels the running CPU lacks are listed loudly.

use super::*;
use alloc::vec;
use alloc::vec::Vec;

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32) / (1u64 << 24) as f32
}

/// The kernels to test here; prints those this CPU cannot run.
fn kernels_here() -> Vec<Kernel> {
    let missing: Vec<&str> = Kernel::ALL.iter().filter(|k| !k.available()).map(|k| k.name()).collect();
    if !missing.is_empty() {
        std::eprintln!(
            "NOT TESTED on this CPU/target (run the tests where they exist; NEON under qemu-aarch64): {}",
            missing.join(", ")
        );
    }
    let here: Vec<Kernel> = Kernel::available_kernels().collect();
    // The build target's own SIMD kernels must run where they are built for
    // the CPUs this project tests on (any x86-64 with AVX2; any AArch64).
    #[cfg(target_arch = "aarch64")]
    assert!(here.contains(&Kernel::NeonRcp) && here.contains(&Kernel::NeonDiv));
    here
}

/// Rows shaped like pooled post-ReLU features: a few hundred cluster
/// centres, about a third exact zeros, long-tailed values, row noise.
fn real_shaped(n: usize, dim: usize, stride: usize, seed: u64) -> Vec<f16> {
    let mut s = seed;
    let centres: Vec<f32> = (0..64 * dim)
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
        let c = (lcg(&mut s) * 64.0) as usize % 64;
        for j in 0..dim {
            let noise = if lcg(&mut s) < 0.2 { lcg(&mut s) * 0.5 } else { 0.0 };
            rows[r * stride + j] = f16::from_f32(centres[c * dim + j] * (0.6 + 0.8 * lcg(&mut s)) + noise);
        }
    }
    rows
}

/// Rows close to each other: 16 real-shaped bases, each copy with a few
/// values moved by one f16 step, so many exact distances differ by only
/// 1e-5..1e-3 relative and a sloppy reciprocal reorders them.
fn near_duplicates(n: usize, dim: usize, seed: u64) -> Vec<f16> {
    let bases = real_shaped(16, dim, dim, seed);
    let mut s = seed ^ 0x9e37;
    let mut rows = Vec::with_capacity(n * dim);
    for r in 0..n {
        let b = r % 16;
        rows.extend_from_slice(&bases[b * dim..(b + 1) * dim]);
        for _ in 0..3 {
            let j = r * dim + (lcg(&mut s) * dim as f32) as usize % dim;
            let bits = rows[j].to_bits();
            rows[j] = f16::from_bits(if lcg(&mut s) < 0.5 && bits > 0 { bits - 1 } else { bits + 1 });
        }
    }
    rows
}

/// Uniform rows with many zeros (many 0/0 chi-square terms).
fn sparse_uniform(n: usize, dim: usize, stride: usize, seed: u64) -> Vec<f16> {
    let mut s = seed;
    (0..n * stride)
        .map(|i| {
            let v = lcg(&mut s);
            f16::from_f32(if i % stride >= dim || v < 0.4 { 0.0 } else { v * 3.0 })
        })
        .collect()
}

#[test]
fn chi_square_by_hand() {
    let q = [1.0f32, 0.0, 2.0, 0.0];
    let x = [f16::from_f32(3.0), f16::from_f32(0.0), f16::from_f32(0.0), f16::from_f32(1.0)];
    // (3-1)^2/4 + 0 (0/0) + (0-2)^2/2 + (1-0)^2/1 = 1 + 2 + 1
    assert_eq!(distance_scalar(Metric::ChiSquare, &q, &x), 4.0);
    assert_eq!(distance_f64(Metric::ChiSquare, &q, &x), 4.0);
    assert_eq!(distance_scalar(Metric::SquaredL2, &q, &x), 4.0 + 0.0 + 4.0 + 1.0);
    let c = distance_scalar(Metric::Cosine, &q, &x);
    assert!((c - (1.0 - 3.0 / (5.0f32.sqrt() * 10.0f32.sqrt()))).abs() < 1e-6);
    assert!((distance_f64(Metric::Cosine, &q, &x) - f64::from(c)).abs() < 1e-6);
    assert_eq!(distance_scalar(Metric::Cosine, &[0.0; 4], &x), 1.0);
    assert_eq!(
        distance_scalar(Metric::ChiSquare, &q, &[f16::from_f32(1.0), f16::ZERO, f16::from_f32(2.0), f16::ZERO]),
        0.0
    );
}

#[test]
fn names_round_trip() {
    for k in Kernel::ALL {
        assert_eq!(Kernel::by_name(k.name()), Some(k));
        assert!(k.name().starts_with(k.isa_name()));
    }
    assert_eq!(Kernel::by_name("avx512"), None);
    assert!(Kernel::detect().available());
    assert_eq!(Kernel::available_kernels().last(), Some(Kernel::Scalar));
}

/// Every kernel equals the scalar reference on many shapes: dims that are
/// and are not multiples of 4/8/16/64, sparse rows (many 0/0 terms).
#[test]
fn every_kernel_matches_the_scalar_reference() {
    let mut seed = 7u64;
    let shapes = [(128usize, 128usize), (100, 128), (7, 32), (24, 32), (2048, 2048), (1, 32), (80, 96), (200, 256)];
    for kernel in kernels_here() {
        for &(dim, stride) in &shapes {
            let n = 37;
            let rows = sparse_uniform(n, dim, stride, seed);
            let q: Vec<f32> = (0..dim)
                .map(|_| {
                    let v = lcg(&mut seed);
                    if v < 0.3 {
                        0.0
                    } else {
                        v * 2.0
                    }
                })
                .collect();
            for metric in Metric::ALL {
                let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
                assert_eq!(Kernel::Scalar.distances(metric, &q, &rows, stride, &mut a), n);
                assert_eq!(kernel.distances(metric, &q, &rows, stride, &mut b), n);
                for r in 0..n {
                    let tol = 1e-5 * a[r].abs().max(1.0);
                    assert!(
                        (a[r] - b[r]).abs() <= tol,
                        "{} {metric:?} dim {dim} row {r}: scalar {} kernel {}",
                        kernel.name(),
                        a[r],
                        b[r]
                    );
                }
            }
        }
    }
}

/// Indices of the k smallest distances, closest first (ties by index).
fn top_k<T: Copy + PartialOrd>(d: &[T], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..d.len()).collect();
    idx.sort_by(|&a, &b| d[a].partial_cmp(&d[b]).unwrap_or(core::cmp::Ordering::Equal).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Each kernel's top-100 is the exact f64 reference's, in the same order:
/// at every rank the same row, or two rows whose exact distances are equal
/// to 1e-6 relative (for cosine: 1e-6 absolute; a tie f32 rounding may
/// break either way).
#[test]
fn every_kernel_ranks_as_the_f64_reference() {
    let (n, k) = (4000usize, 100usize);
    let data = [
        ("real-shaped 128", 128usize, 128usize, real_shaped(n, 128, 128, 11)),
        ("real-shaped 100/128", 100, 128, real_shaped(n, 100, 128, 12)),
        ("sparse uniform 128", 128, 128, sparse_uniform(n, 128, 128, 13)),
        ("near duplicates 128", 128, 128, near_duplicates(n, 128, 15)),
        ("real-shaped 2048", 2048, 2048, real_shaped(600, 2048, 2048, 14)),
    ];
    let kernels = kernels_here();
    let mut compared = 0usize;
    for (what, dim, stride, rows) in &data {
        let n = rows.len() / stride;
        let mut seed = 99u64;
        for qi in 0..4 {
            // A database row (its own distance is 0), or one perturbed.
            let src = (qi * 977 + 5) % n;
            let q: Vec<f32> = rows[src * stride..src * stride + dim]
                .iter()
                .map(|v| if qi % 2 == 0 { v.to_f32() } else { v.to_f32() * (0.9 + 0.2 * lcg(&mut seed)) })
                .collect();
            for metric in Metric::ALL {
                // Chi-square and L2 sum non-negative terms: f32 rounding is relative to
                // the distance. Cosine's `1 - cos` cancels: its rounding is relative to 1.
                let scale = if metric == Metric::Cosine { 1.0 } else { 1e-30 };
                let exact: Vec<f64> = (0..n).map(|r| distance_f64(metric, &q, &rows[r * stride..][..*dim])).collect();
                let want = top_k(&exact, k);
                for &kernel in &kernels {
                    let mut d = vec![0f32; n];
                    kernel.distances(metric, &q, rows, *stride, &mut d);
                    let got = top_k(&d, k);
                    for (rank, (&g, &w)) in got.iter().zip(&want).enumerate() {
                        let tie = (exact[g] - exact[w]).abs() <= 1e-6 * exact[w].abs().max(scale);
                        assert!(
                            g == w || tie,
                            "{} {metric:?} {what} query {qi} rank {rank}: row {g} (exact {}) instead of {w} (exact {})",
                            kernel.name(),
                            exact[g],
                            exact[w]
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    assert_eq!(compared, data.len() * 4 * 3 * kernels.len() * k);
}

/// Zero, subnormal and negative values: no NaN, the same terms dropped.
#[test]
fn zeros_subnormals_and_signs_match_the_reference() {
    let sub = f32::MIN_POSITIVE / 8.0;
    let q = [0.0f32, sub, -sub, 1.0, -1.0, 0.0, 2.5, sub, 0.0, 3.0, 1e-3, 0.0, 7.0, 0.5, 0.0, 1.0, 0.25];
    let vals = [0.0f32, 0.0, 0.0, 1.0, 1.0, -0.0, 0.5, 1e-7, 2.0, -3.0, 0.0, 65504.0, 7.0, 0.5, 6e-8, 0.0, 0.25];
    let row: Vec<f16> = vals.iter().map(|&v| f16::from_f32(v)).collect();
    let rows: Vec<f16> = row.iter().chain(&row).copied().collect();
    for kernel in kernels_here() {
        for metric in Metric::ALL {
            let mut d = [0f32; 2];
            kernel.distances(metric, &q, &rows, row.len(), &mut d);
            let want = distance_scalar(metric, &q, &row);
            assert!(d[0].is_finite(), "{} {metric:?}: {}", kernel.name(), d[0]);
            assert!(
                (d[0] - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{} {metric:?}: {} vs {want}",
                kernel.name(),
                d[0]
            );
            assert_eq!(d[0], d[1]);
        }
    }
}

#[test]
fn padded_query_equals_unpadded() {
    let stride = 32;
    let rows: Vec<f16> =
        (0..2 * stride).map(|i| f16::from_f32(if i % stride < 20 { (i % 7) as f32 } else { 0.0 })).collect();
    let q: Vec<f32> = (0..20).map(|i| (i % 5) as f32).collect();
    let mut qp = q.clone();
    qp.resize(stride, 0.0);
    for k in kernels_here() {
        for m in Metric::ALL {
            let (mut a, mut b) = ([0f32; 2], [0f32; 2]);
            k.distances(m, &q, &rows, stride, &mut a);
            k.distances(m, &qp, &rows, stride, &mut b);
            assert!((a[0] - b[0]).abs() < 1e-5 && (a[1] - b[1]).abs() < 1e-5, "{m:?} {k:?}");
        }
    }
}
