//! Tests of [`SpinFork`]: every part exactly once, whatever the threads,
//! the part count, parked helpers, nested or foreign-thread calls and panics.

use super::*;
use std::sync::atomic::AtomicU64;

/// Run `rounds` jobs of `n` parts; every part must run exactly once per job.
fn each_part_once(fork: &dyn Fork, n: usize, rounds: u64) {
    let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
    for _ in 0..rounds {
        fork.run(n, &|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
    }
    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == rounds), "{n} parts: {hits:?}");
}

#[test]
fn every_part_runs_once_per_job_on_any_number_of_threads() {
    for ways in [1usize, 2, 3, 5, 1024] {
        SpinFork::with(ways, |fork| {
            assert_eq!(fork.ways(), ways.min(cores()), "never more threads than cores");
            for n in [0usize, 1, 2, 3, 7, 64] {
                each_part_once(fork, n, 50);
            }
        });
    }
}

#[test]
fn parked_helpers_are_woken_for_the_next_job() {
    SpinFork::with(2, |fork| {
        for _ in 0..5 {
            each_part_once(fork, 4, 3);
            // Longer than the spin: the helpers park.
            std::thread::sleep(Duration::from_millis(3));
        }
    });
}

#[test]
fn the_caller_finishes_the_job_when_a_helper_is_slow() {
    // Part 0 is slow; the other parts are claimed by whichever thread is free,
    // so the job finishes whatever thread took part 0.
    SpinFork::with(2, |fork| {
        let hits: Vec<AtomicU64> = (0..16).map(|_| AtomicU64::new(0)).collect();
        fork.run(16, &|i| {
            if i == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
    });
}

#[test]
fn nested_and_foreign_thread_calls_run_serially_and_completely() {
    SpinFork::with(2, |fork| {
        let inner: Vec<AtomicU64> = (0..12).map(|_| AtomicU64::new(0)).collect();
        fork.run(3, &|i| {
            fork.run(4, &|j| {
                inner[i * 4 + j].fetch_add(1, Ordering::Relaxed);
            });
        });
        assert!(inner.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        std::thread::scope(|s| {
            s.spawn(|| each_part_once(fork, 5, 10));
        });
    });
}

#[test]
fn a_panicking_part_surfaces_on_the_caller_after_every_part_finished() {
    for bad in [0usize, 1, 5] {
        let hits: Vec<AtomicU64> = (0..6).map(|_| AtomicU64::new(0)).collect();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            SpinFork::with(2, |fork| {
                fork.run(6, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                    assert!(i != bad, "part {i} fails");
                });
            })
        }));
        assert!(r.is_err(), "part {bad}'s panic was lost");
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "part {bad}: {hits:?}");
    }
    // The fork stays usable after a panic it reported.
    SpinFork::with(2, |fork| {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fork.run(4, &|i| assert!(i != 3))));
        assert!(r.is_err());
        each_part_once(fork, 4, 20);
    });
}
