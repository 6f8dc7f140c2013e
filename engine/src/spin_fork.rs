//! A [`Fork`] for one sample on several threads: helper threads that spin
//! between layers instead of sleeping.
//!
//! Batch-1 inference splits every layer (about 70 for ResNet50, 0.05-0.5 ms
//! each) over the threads. A rayon pool put its idle workers to sleep after
//! each layer and woke them for the next through the kernel scheduler:
//! 12 % of the two-thread profile was `__schedule`/`sched_yield`, and two
//! threads gave 1.15x over one. Here the helpers watch an epoch counter
//! (spinning, then yielding) for the duration of one inference, as ONNX
//! Runtime's thread pool does.

use crate::gemm::Fork;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Spins before a waiting thread starts yielding its core.
const SPINS: u32 = 1 << 16;

/// The job of the current epoch: a part function with its lifetime erased
/// (see [`SpinFork::run`]) and the number of parts.
type Job = (&'static (dyn Fn(usize) + Sync), usize);

/// State shared by the calling thread and its helpers.
struct Shared {
    /// Incremented when a new job is published, or to stop the helpers.
    epoch: AtomicUsize,
    /// Helpers done with the current epoch's job.
    done: AtomicUsize,
    /// A part panicked on a helper.
    panicked: AtomicBool,
    stop: AtomicBool,
    /// Written only by the caller, between epochs (every helper finished
    /// the previous job); read by helpers after they see the new epoch.
    job: UnsafeCell<Option<Job>>,
}

// SAFETY: `job` is written only while no helper reads it (between epochs,
// ordered by the Release/Acquire pair on `epoch` and `done`); everything else
// is atomic.
unsafe impl Sync for Shared {}

/// Wait until `ready()`, spinning first, then yielding the core.
fn wait(ready: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !ready() {
        if spins < SPINS {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// A fork over the calling thread and `ways - 1` spinning helpers.
pub(crate) struct SpinFork<'s> {
    shared: &'s Shared,
    ways: usize,
}

impl SpinFork<'_> {
    /// Run `body` with a fork of `ways` threads (the caller and `ways - 1`
    /// helpers living for the call).
    pub fn with<R>(ways: usize, body: impl FnOnce(&dyn Fork) -> R) -> R {
        let shared = Shared {
            epoch: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            job: UnsafeCell::new(None),
        };
        let shared = &shared;
        std::thread::scope(|s| {
            for t in 1..ways {
                s.spawn(move || helper(shared, t));
            }
            let fork = SpinFork { shared, ways };
            // Stop the helpers however `body` ends (they would spin forever).
            struct Stop<'a>(&'a Shared);
            impl Drop for Stop<'_> {
                fn drop(&mut self) {
                    self.0.stop.store(true, Ordering::Release);
                    self.0.epoch.fetch_add(1, Ordering::Release);
                }
            }
            let _stop = Stop(shared);
            body(&fork)
        })
    }
}

/// Helper `t`: run part `t` of every published job until stopped.
fn helper(shared: &Shared, t: usize) {
    let mut seen = 0;
    loop {
        wait(|| shared.epoch.load(Ordering::Acquire) != seen);
        seen = shared.epoch.load(Ordering::Acquire);
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: the caller wrote the job before publishing this epoch
        // (Release on `epoch`, Acquire above) and does not touch it again
        // until every helper has counted itself done.
        if let Some((f, n)) = unsafe { *shared.job.get() } {
            if t < n && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(t))).is_err() {
                shared.panicked.store(true, Ordering::Release);
            }
        }
        shared.done.fetch_add(1, Ordering::Release);
    }
}

// SAFETY: `run` calls f(0) and f(ways..n) on this thread and f(1..ways) once
// each on the helpers (helper t runs part t only when t < n), and returns
// only after every helper counted itself done (`Join`).
unsafe impl Fork for SpinFork<'_> {
    fn ways(&self) -> usize {
        self.ways
    }

    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        if n <= 1 || self.ways <= 1 {
            (0..n).for_each(f);
            return;
        }
        // SAFETY: the erased lifetime is never outlived: this call returns
        // only after every helper has finished with the job (`done` below),
        // and the next job replaces it before any helper looks again.
        let f_static: &'static (dyn Fn(usize) + Sync) =
            unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(f) };
        // SAFETY: no helper reads `job` now: all counted themselves done
        // with the previous epoch before the previous `run` returned.
        unsafe { *self.shared.job.get() = Some((f_static, n)) };
        self.shared.done.store(0, Ordering::Relaxed);
        self.shared.epoch.fetch_add(1, Ordering::Release);
        // The helpers are waited for however this call ends, a panic of
        // `f` here included: they hold `f`, which lives in our caller's frame.
        struct Join<'a>(&'a Shared, usize);
        impl Drop for Join<'_> {
            fn drop(&mut self) {
                wait(|| self.0.done.load(Ordering::Acquire) == self.1);
            }
        }
        let join = Join(self.shared, self.ways - 1);
        // Parts past the helpers' count run here, after part 0.
        f(0);
        for t in self.ways..n {
            f(t);
        }
        drop(join);
        if self.shared.panicked.swap(false, Ordering::AcqRel) {
            // An engine bug on a helper thread surfaces on the caller's, as
            // it would with scoped threads.
            panic!("a part of a split layer panicked on a helper thread");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_part_runs_once_per_job_on_any_number_of_threads() {
        for ways in [1usize, 2, 3, 5] {
            SpinFork::with(ways, |fork| {
                assert_eq!(fork.ways(), ways);
                for n in [0usize, 1, 2, 3, 7] {
                    let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
                    for _ in 0..50 {
                        fork.run(n, &|i| {
                            hits[i].fetch_add(1, Ordering::Relaxed);
                        });
                    }
                    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 50), "{ways} ways, {n} parts");
                }
            });
        }
    }
}
