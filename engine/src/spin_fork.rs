//! A [`Fork`] for one sample on several threads: helper threads that spin
//! briefly between layers, then park.
//!
//! Batch-1 inference splits every layer (about 70 for ResNet50, 0.05-0.5 ms
//! each) over the threads. A rayon pool put its idle workers to sleep after
//! each layer and woke them for the next through the kernel scheduler:
//! 12 % of the two-thread profile was `__schedule`/`sched_yield`, and two
//! threads gave 1.15x over one. Here the helpers watch the job word
//! (spinning for [`SPIN`], as ONNX Runtime's thread pool does), so the next
//! layer usually finds them awake; only then do they park, so a helper
//! never holds a core for long while there is no work (between engine
//! calls, or while another process needs the core).
//!
//! Parts are claimed from a shared counter rather than assigned to threads:
//! whichever thread is running takes the next part, so a helper that the
//! kernel has descheduled delays nobody, and any number of helpers (even
//! none awake) completes the job.

use crate::gemm::Fork;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long a waiting thread spins before it parks. Longer than the gap
/// between two split layers on a busy thread, short enough that a parked
/// helper costs nothing measurable when the machine is shared.
const SPIN: Duration = Duration::from_micros(50);

/// The part function of the current job with its lifetime erased (see
/// [`SpinFork::run`]).
type Job = &'static (dyn Fn(usize) + Sync);

/// Bits of the job word that count parts; the rest is the generation.
const NEXT_BITS: u32 = 24;
/// The `next` of a closed job word (no part can be claimed): a job's part
/// count is below it.
const CLOSED: u64 = (1 << NEXT_BITS) - 1;

/// The job word: the generation above [`NEXT_BITS`], the next unclaimed
/// part below. One word, so that claiming a part (compare-exchange) also
/// proves the claim belongs to the current job. 40 generation bits do not
/// wrap in practice (two per job).
fn word(generation: u64, next: u64) -> u64 {
    generation << NEXT_BITS | next
}

/// The generation of a job word.
fn generation(w: u64) -> u64 {
    w >> NEXT_BITS
}

/// State shared by the calling thread and its helpers.
struct Shared {
    /// See [`word`].
    work: AtomicU64,
    /// Parts of the current job (written before its generation is published).
    parts: AtomicUsize,
    /// Parts of the current job finished (run or panicked).
    finished: AtomicUsize,
    /// Helpers parked or about to park.
    sleepers: AtomicUsize,
    /// The caller parked (or about to) until the last part finishes.
    caller_sleeps: AtomicBool,
    /// A part panicked on a helper.
    panicked: AtomicBool,
    stop: AtomicBool,
    /// The thread that runs jobs (unparked when the last part finishes).
    caller: Thread,
    /// Written only by the caller, while no part of the previous job is
    /// unfinished; read by a helper only after it claimed a part of the
    /// job (the claim's Acquire pairs with the publishing Release).
    job: UnsafeCell<Option<Job>>,
}

// SAFETY: `job` is written only while no thread can read it (every claimed
// part of the previous job has finished and no part of the new one can be
// claimed before it is published); everything else is atomic or `Sync`.
unsafe impl Sync for Shared {}

impl Shared {
    /// Claim the next part of the current job: its index, or `None` when
    /// every part is claimed (or no job is open).
    fn claim(&self) -> Option<usize> {
        let mut w = self.work.load(Ordering::Acquire);
        loop {
            let next = (w & CLOSED) as usize;
            // `parts` is at least as new as `w` (written before `w` was
            // published); if newer, the job was closed since `w` was read
            // (the word changed) and the exchange fails.
            if next >= self.parts.load(Ordering::Acquire) {
                return None;
            }
            match self.work.compare_exchange_weak(w, w + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(next),
                Err(now) => w = now,
            }
        }
    }

    /// Run claimed part `i` of the current job on a helper.
    fn run_part(&self, i: usize) {
        // SAFETY: this thread claimed part `i` of the current job, so the
        // caller wrote `job` before publishing it (Release, our claim's
        // Acquire) and will not replace it before this part is counted
        // finished below.
        if let Some(f) = unsafe { *self.job.get() } {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(i))).is_err() {
                self.panicked.store(true, Ordering::Release);
            }
        }
        self.finish_part();
    }

    /// Count a part finished; the last one wakes a parked caller.
    fn finish_part(&self) {
        let done = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        if done == self.parts.load(Ordering::Acquire) && self.caller_sleeps.load(Ordering::SeqCst) {
            self.caller.unpark();
        }
    }
}

/// Spin until `ready()` for at most [`SPIN`]; `false` when it is still not ready.
fn spin(ready: &impl Fn() -> bool) -> bool {
    let start = Instant::now();
    let mut k = 0u32;
    loop {
        if ready() {
            return true;
        }
        std::hint::spin_loop();
        k = k.wrapping_add(1);
        if k.is_multiple_of(64) && start.elapsed() >= SPIN {
            return ready();
        }
    }
}

/// Wait until `ready()`: spin, then park with `flag` raised while parked.
/// Whoever makes `ready()` true must afterwards check the flag (SeqCst) and
/// unpark this thread when it is raised: either it sees the flag or this
/// thread sees `ready()` (both sides SeqCst), so no wake-up is lost.
fn wait(ready: impl Fn() -> bool, raise: impl Fn(), lower: impl Fn()) {
    if spin(&ready) {
        return;
    }
    raise();
    while !ready() {
        std::thread::park();
    }
    lower();
}

/// A fork over the calling thread and up to `ways - 1` helpers.
pub(crate) struct SpinFork<'s> {
    shared: &'s Shared,
    helpers: Vec<Thread>,
    /// A job is running (a nested or concurrent `run` runs serially).
    busy: AtomicBool,
}

/// Cores this process may use (read once: it is a few syscalls).
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl SpinFork<'_> {
    /// Run `body` with a fork of `ways` threads: the caller and `ways - 1`
    /// helpers living for the call, never more threads than cores (helpers
    /// beyond the cores would spin while the threads with work wait for a
    /// time slice). [`Fork::ways`] gives the number actually used.
    pub fn with<R>(ways: usize, body: impl FnOnce(&dyn Fork) -> R) -> R {
        let ways = ways.clamp(1, cores());
        let shared = Shared {
            work: AtomicU64::new(0),
            parts: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            caller_sleeps: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            caller: std::thread::current(),
            job: UnsafeCell::new(None),
        };
        let shared = &shared;
        std::thread::scope(|s| {
            let helpers = (1..ways).map(|_| s.spawn(move || helper(shared)).thread().clone()).collect();
            let fork = SpinFork { shared, helpers, busy: AtomicBool::new(false) };
            // Stop the helpers however `body` ends (the scope joins them).
            struct Stop<'a, 'b>(&'a SpinFork<'b>);
            impl Drop for Stop<'_, '_> {
                fn drop(&mut self) {
                    let sh = self.0.shared;
                    sh.stop.store(true, Ordering::SeqCst);
                    let g = generation(sh.work.load(Ordering::SeqCst)) + 1;
                    sh.work.store(word(g, CLOSED), Ordering::SeqCst);
                    self.0.helpers.iter().for_each(Thread::unpark);
                }
            }
            let stop = Stop(&fork);
            body(stop.0)
        })
    }
}

/// A helper: run claimed parts of every published job until stopped.
fn helper(shared: &Shared) {
    // Generation whose parts are all claimed (0: the initial, empty one).
    let mut idle = 0u64;
    loop {
        let current = || generation(shared.work.load(Ordering::SeqCst));
        let new = || current() != idle || shared.stop.load(Ordering::SeqCst);
        wait(
            new,
            || {
                shared.sleepers.fetch_add(1, Ordering::SeqCst);
            },
            || {
                shared.sleepers.fetch_sub(1, Ordering::SeqCst);
            },
        );
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        idle = current();
        while let Some(i) = shared.claim() {
            shared.run_part(i);
        }
    }
}

// SAFETY: every part index `0..n` is claimed exactly once (the job word's
// compare-exchange), the claiming thread runs it once, and `run` returns
// only after `finished` counted all `n` (helpers count after their call
// returned or panicked).
unsafe impl Fork for SpinFork<'_> {
    fn ways(&self) -> usize {
        self.helpers.len() + 1
    }

    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        let sh = self.shared;
        if n <= 1
            || n as u64 >= CLOSED
            || self.helpers.is_empty()
            || std::thread::current().id() != sh.caller.id()
            || self.busy.swap(true, Ordering::Acquire)
        {
            // Nothing to share, more parts than the job word counts, a
            // thread the helpers cannot wake, or `run` entered again from a
            // part while a job is open: run here.
            (0..n).for_each(f);
            return;
        }
        struct Free<'a>(&'a AtomicBool);
        impl Drop for Free<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _free = Free(&self.busy);
        // Close the previous job's word first: a helper that read it and
        // then this job's part count must fail its claim (the word changed).
        let g = generation(sh.work.load(Ordering::SeqCst));
        sh.work.store(word(g + 1, CLOSED), Ordering::SeqCst);
        // SAFETY: the erased lifetime is never outlived: this call returns
        // only after every part has finished, and helpers read `job` only
        // after claiming a part of a job that is still unfinished.
        let f_static: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        // SAFETY: every part of the previous job finished before the
        // previous `run` returned, and nothing of this one is published yet.
        unsafe { *sh.job.get() = Some(f_static) };
        sh.parts.store(n, Ordering::Release);
        sh.finished.store(0, Ordering::Release);
        sh.work.store(word(g + 2, 0), Ordering::SeqCst);
        if sh.sleepers.load(Ordering::SeqCst) > 0 {
            self.helpers.iter().take(n - 1).for_each(Thread::unpark);
        }
        // This thread claims parts like any helper; a panic in one is
        // resumed only after every part finished (helpers still use `f`).
        let mut caught = None;
        while let Some(i) = sh.claim() {
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(i))) {
                caught.get_or_insert(p);
            }
            sh.finished.fetch_add(1, Ordering::SeqCst);
        }
        wait(
            || sh.finished.load(Ordering::SeqCst) == n,
            || sh.caller_sleeps.store(true, Ordering::SeqCst),
            || sh.caller_sleeps.store(false, Ordering::SeqCst),
        );
        if let Some(p) = caught {
            sh.panicked.store(false, Ordering::Release);
            std::panic::resume_unwind(p);
        }
        if sh.panicked.swap(false, Ordering::AcqRel) {
            // An engine bug on a helper thread surfaces on the caller's, as
            // it would with scoped threads.
            panic!("a part of a split layer panicked on a helper thread");
        }
    }
}

#[cfg(test)]
#[path = "spin_fork_tests.rs"]
mod tests;
