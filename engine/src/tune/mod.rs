//! Kernel choice by measurement (`std`).
//!
//! Which micro-kernel and convolution algorithm is fastest depends on the
//! CPU, not on its ISA rank: on an Intel Emerald Rapids core `vdpbf16ps` runs
//! slower than plain f32 FMA, on AMD Zen 5 faster. So when a model is opened
//! for a batch size and thread count, [`choose`] times the candidates
//! ([`candidates`]: every available kernel of the requested precision, with
//! Winograd on and off) on the model itself and keeps the fastest.
//!
//! What is timed: whole-model inference through the public [`Model`] API
//! (`infer_parallel`) on `min(batch, threads)` synthetic samples, i.e. one
//! sample per thread on the same code path the real batches take (a share
//! of the batch per thread, or layers split across threads for batches
//! smaller than the thread count). One untimed warm-up run, then rounds of
//! one run per candidate; a candidate's score is its fastest run; rounds
//! stop when the budget ([`Tuning::budget`], default [`DEFAULT_BUDGET`]) is
//! spent, and candidates more than [`DROP_RATIO`] slower than the leader
//! are not run again. The scalar kernel is not a candidate when a SIMD
//! kernel is available: it is the portable reference, an order of
//! magnitude slower, and one ResNet50 run with it would exceed the budget.
//!
//! The fast path never loses to exact: under [`Precision::Fast`] the exact
//! kernels are candidates too, and a reduced-precision kernel is kept only
//! when it beats the fastest exact one by [`FAST_MARGIN`]; otherwise the
//! model runs exact and [`Choice::fast_fell_back`] says so.
//!
//! Models with int8 layers (`QConv`) then time the int8 kernels
//! ([`int8_candidates`]) the same way, with the float choice applied, and
//! keep the fastest for those layers ([`Choice::int8`]); every int8 kernel
//! gives bit-identical results, so only speed decides. `BEMM_KERNEL` naming
//! an int8 kernel or level pins it ([`crate::kernels::int8::from_env`]).
//!
//! The result is cached per engine version, CPU, model checksum, batch,
//! threads and precision ([`cache`]); a user pins a kernel with
//! `BEMM_KERNEL` or [`Tuning::pin`] (no measurement, no cache).
//! Without `std` there is no measurement: [`Model::from_bytes`] takes the
//! deterministic [`crate::kernels::best`] (or `BEMM_KERNEL` under `std`),
//! overridden with [`Model::with_kernel`] / [`Model::with_kernel_name`].

pub mod cache;
pub mod cpu_id;

use crate::error::EngineError;
use crate::kernels::int8::{self, QKernel};
use crate::kernels::{self, Isa, MicroKernel};
use crate::model::{Model, Precision};
use half::f16;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Default time allowed for measuring (wall clock, excluding the cache).
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(400);

/// A reduced-precision kernel must be at least this much faster (fraction
/// of the exact time) than the fastest exact candidate to be chosen: below
/// that the difference is within run-to-run noise and not worth the accuracy.
pub const FAST_MARGIN: f64 = 0.05;

/// Candidates slower than the leader by this factor after a round are not
/// run again.
pub const DROP_RATIO: f64 = 1.3;

/// Timed runs per candidate at most (tiny models finish rounds fast).
const MAX_ROUNDS: usize = 5;

/// What a choice is made for.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Samples per engine call.
    pub batch: usize,
    /// Threads per engine call (`infer_parallel`).
    pub threads: usize,
    /// Requested precision.
    pub precision: Precision,
    /// Time allowed for measuring.
    pub budget: Duration,
    /// Cache folder (`None`: measure every time, store nothing).
    pub cache: Option<PathBuf>,
    /// A pinned kernel (no measurement) and where the pin came from (a
    /// command-line flag); without one, `BEMM_KERNEL` pins
    /// ([`kernels::from_env`]).
    pub pin: Option<(&'static MicroKernel, String)>,
    /// A pinned int8 kernel for `QConv` layers and where the pin came from;
    /// without one, `BEMM_KERNEL` pins ([`int8::from_env`]).
    pub int8_pin: Option<(&'static QKernel, String)>,
}

impl Tuning {
    /// Defaults: [`DEFAULT_BUDGET`], the default cache folder
    /// ([`cache::default_dir`]), no pin.
    pub fn new(batch: usize, threads: usize, precision: Precision) -> Self {
        Tuning {
            batch: batch.max(1),
            threads: threads.max(1),
            precision,
            budget: DEFAULT_BUDGET,
            cache: cache::default_dir(),
            pin: None,
            int8_pin: None,
        }
    }
}

/// One configuration to time.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// The GEMM micro-kernel.
    pub kernel: &'static MicroKernel,
    /// Whether Winograd is allowed ([`Model::with_winograd`]).
    pub winograd: bool,
}

impl PartialEq for Candidate {
    fn eq(&self, o: &Self) -> bool {
        core::ptr::eq(self.kernel, o.kernel) && self.winograd == o.winograd
    }
}
impl Eq for Candidate {}

impl Candidate {
    /// `kernel` or `kernel, no Winograd`.
    pub fn label(&self) -> String {
        format!("{}{}", self.kernel.name, if self.winograd { "" } else { " (no Winograd)" })
    }

    /// `model` configured to run this candidate; fails when the CPU lacks
    /// the kernel's instruction set.
    pub fn apply<'a>(&self, model: &Model<'a>) -> Result<Model<'a>, EngineError> {
        // `by_name` checks the CPU before the kernel can ever run.
        Ok(model.clone().with_kernel(kernels::by_name(self.kernel.name)?).with_winograd(self.winograd))
    }
}

/// One candidate's measurement.
#[derive(Debug, Clone)]
pub struct Trial {
    /// What was timed.
    pub candidate: Candidate,
    /// Fastest run (seconds), `None` when the budget ran out before it ran.
    pub seconds: Option<f64>,
    /// Timed runs.
    pub runs: usize,
}

/// Where a choice came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Measured now (and stored in the cache when there is one).
    Measured,
    /// Read from this cache entry.
    Cached(PathBuf),
    /// Pinned by the user (the pin's origin, e.g. `BEMM_KERNEL`).
    Pinned(String),
}

/// A kernel choice for one model, batch and thread count.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The kernel and algorithm chosen.
    pub chosen: Candidate,
    /// How it was chosen.
    pub source: Source,
    /// The precision asked for.
    pub requested: Precision,
    /// Measurements, fastest first (empty unless [`Source::Measured`]).
    pub trials: Vec<Trial>,
    /// Wall time spent choosing (measuring, cache reading and writing).
    pub cost: Duration,
    /// The int8 kernel of a model with `QConv` layers (`None` for float
    /// models), chosen after the float kernel: pinned, cached or measured.
    pub int8: Option<&'static QKernel>,
    /// The int8 kernels' measurements, fastest first (empty unless measured).
    pub int8_trials: Vec<QTrial>,
    /// Things the user may want to know (an invalid cache entry that was
    /// replaced, a cache that could not be written).
    pub notes: Vec<String>,
}

impl Choice {
    /// `Fast` was requested but no reduced-precision kernel beat exact, so
    /// the model runs exact.
    pub fn fast_fell_back(&self) -> bool {
        self.requested == Precision::Fast && self.chosen.kernel.exact
    }

    /// `model` configured as chosen.
    pub fn apply<'a>(&self, model: &Model<'a>) -> Result<Model<'a>, EngineError> {
        let m = self.chosen.apply(model)?;
        Ok(match self.int8 {
            // `by_name_on` checks the CPU before the kernel can ever run.
            Some(k) => m.with_int8_kernel(int8::by_name_on(k.name, crate::cpu::Cpu::detect())?),
            None => m,
        })
    }

    /// One line for logs: what was chosen, how and at what cost.
    pub fn describe(&self) -> String {
        let how = match &self.source {
            Source::Measured => {
                let ran = self.trials.iter().filter(|t| t.seconds.is_some()).count();
                format!("measured {ran} of {} candidates", self.trials.len())
            }
            Source::Cached(p) => format!("cached in {}", p.display()),
            Source::Pinned(by) => format!("pinned by {by}"),
        };
        let mut s = format!("kernel {} ({how}, {:.0} ms)", self.chosen.label(), self.cost.as_secs_f64() * 1e3);
        if let Some(k) = self.int8 {
            s.push_str(&format!("; int8 kernel {}", k.name));
            if !self.int8_trials.is_empty() {
                let ran = self.int8_trials.iter().filter(|t| t.seconds.is_some()).count();
                s.push_str(&format!(" (measured {ran} of {})", self.int8_trials.len()));
            }
        }
        if self.fast_fell_back() {
            let reduced_ran = self.trials.iter().any(|t| !t.candidate.kernel.exact && t.seconds.is_some());
            s.push_str(match (&self.source, reduced_ran) {
                (Source::Measured, true) | (Source::Cached(_), _) => {
                    "; --fast runs exact: no reduced-precision kernel beat exact on this CPU"
                }
                (Source::Measured, false) => "; --fast runs exact: no reduced-precision kernel ran within the budget",
                (Source::Pinned(_), _) => "; --fast runs exact: the pinned kernel is exact",
            });
        }
        s
    }
}

/// The candidates for `precision`: every available kernel (exact ones only
/// for [`Precision::Exact`]; reduced-precision and exact for
/// [`Precision::Fast`]), each with Winograd on and off. The scalar kernel
/// only when nothing else is available. Order (what a short budget measures
/// first): the best-ranked exact kernel, then the best-ranked reduced one
/// (the comparison the fast path hinges on), then the other kernels in
/// registry order, all with Winograd on; then the same with it off.
pub fn candidates(precision: Precision) -> Vec<Candidate> {
    let simd = kernels::available().any(|k| k.isa != Isa::Scalar);
    let mut ks: Vec<&'static MicroKernel> = kernels::available()
        .filter(|k| k.exact || precision == Precision::Fast)
        .filter(|k| !(simd && k.isa == Isa::Scalar))
        .collect();
    // Stable: exact before reduced at the top, registry order otherwise.
    let first_exact = ks.iter().position(|k| k.exact);
    if let Some(i) = first_exact {
        let k = ks.remove(i);
        ks.insert(0, k);
    }
    [true, false].iter().flat_map(|&winograd| ks.iter().map(move |&kernel| Candidate { kernel, winograd })).collect()
}

/// One int8 kernel's measurement.
#[derive(Debug, Clone)]
pub struct QTrial {
    /// The int8 kernel timed.
    pub kernel: &'static QKernel,
    /// Fastest run (seconds), `None` when the budget ran out before it ran.
    pub seconds: Option<f64>,
    /// Timed runs.
    pub runs: usize,
}

/// The int8 kernels to time: every available one, the scalar reference only
/// when nothing else is available (as for the float kernels).
pub fn int8_candidates() -> Vec<&'static QKernel> {
    let simd = int8::available().any(|k| k.isa != Isa::Scalar);
    int8::available().filter(|k| !(simd && k.isa == Isa::Scalar)).collect()
}

/// Seed of the input the candidates are timed on.
const INPUT_SEED: u64 = 0x2545_f491_4f6c_dd1d;

/// Random normalised input for timing runs: `n` f16 values in [-2, 2) from
/// an xorshift64 stream started at `seed` (made odd, so never stuck at 0).
pub fn synthetic_input(n: usize, seed: u64) -> Vec<f16> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            f16::from_f32(((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0)
        })
        .collect()
}

/// Time `cands` on `model` at `min(batch, threads)` samples over `threads`
/// threads within about `budget` (see the module docs): a run is started
/// only when it is expected to end within the budget (the warm-up run's
/// time for the first). Trials come back in candidate order.
pub fn measure(
    model: &Model<'_>,
    cands: &[Candidate],
    batch: usize,
    threads: usize,
    budget: Duration,
) -> Result<Vec<Trial>, EngineError> {
    let models = cands.iter().map(|c| c.apply(model)).collect::<Result<Vec<_>, _>>()?;
    let timed = time_models(&models, batch, threads, budget)?;
    Ok(cands.iter().zip(timed).map(|(&candidate, (seconds, runs))| Trial { candidate, seconds, runs }).collect())
}

/// Time `models` (one configuration each) as [`measure`] does: the fastest
/// run of each and the number of timed runs, in order.
fn time_models(
    models: &[Model<'_>],
    batch: usize,
    threads: usize,
    budget: Duration,
) -> Result<Vec<(Option<f64>, usize)>, EngineError> {
    let threads = threads.max(1);
    let Some(model) = models.first() else { return Ok(Vec::new()) };
    let n = batch.clamp(1, threads);
    let per = model.input_len();
    let x = synthetic_input(n * per, INPUT_SEED);
    let samples: Vec<&[f16]> = x.chunks(per).collect();
    let mut probs = vec![0f32; n * model.num_classes()];
    // (fastest run in seconds, timed runs) per model.
    let mut trials: Vec<(Option<f64>, usize)> = vec![(None, 0); models.len()];
    let start = Instant::now();
    // Warm-up: maps the weights in, grows the allocator's pools.
    model.infer_parallel(&samples, threads, &mut probs, &mut [])?;
    let warm = start.elapsed().as_secs_f64();
    for round in 0..MAX_ROUNDS {
        let mut ran = false;
        for (i, m) in models.iter().enumerate() {
            let leader = trials.iter().filter_map(|t| t.0).fold(f64::INFINITY, f64::min);
            if round > 0 && trials[i].0.is_none_or(|s| s > DROP_RATIO * leader) {
                continue;
            }
            // A run not yet made is expected to take the leader's time.
            let expect = trials[i].0.unwrap_or(if leader.is_finite() { leader } else { warm });
            if start.elapsed().as_secs_f64() + expect > budget.as_secs_f64() {
                continue;
            }
            let t = Instant::now();
            m.infer_parallel(&samples, threads, &mut probs, &mut [])?;
            let s = t.elapsed().as_secs_f64();
            let (best, runs) = &mut trials[i];
            *best = Some(best.map_or(s, |b| b.min(s)));
            *runs += 1;
            ran = true;
        }
        if !ran {
            break;
        }
    }
    Ok(trials)
}

/// The index of the trial to keep: the fastest exact one, unless
/// `precision` is `Fast` and a reduced-precision one beats it by
/// [`FAST_MARGIN`]. `None` when nothing was measured.
pub fn pick(trials: &[Trial], precision: Precision) -> Option<usize> {
    let fastest = |exact: bool| {
        trials
            .iter()
            .enumerate()
            .filter(|(_, t)| t.candidate.kernel.exact == exact)
            .filter_map(|(i, t)| t.seconds.map(|s| (i, s)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    match (fastest(true), fastest(false)) {
        (Some((i, _)), None) => Some(i),
        (None, Some((j, _))) if precision == Precision::Fast => Some(j),
        (Some((i, e)), Some((j, f))) if precision == Precision::Fast => {
            Some(if f < e * (1.0 - FAST_MARGIN) { j } else { i })
        }
        (Some((i, _)), Some(_)) => Some(i),
        _ => None,
    }
}

/// Choose the kernel and algorithm for `model` under `t`: the pin if any
/// ([`Tuning::pin`], else `BEMM_KERNEL`: an unknown name or a kernel the CPU
/// lacks is an error), else a valid cache entry, else a measurement (stored
/// in the cache).
///
/// For a model with int8 layers the int8 kernel is chosen next: the one
/// `BEMM_KERNEL` names if any, else the cached one, else the fastest
/// measured with the float choice applied (stored with it in the cache).
pub fn choose(model: &Model<'_>, t: &Tuning) -> Result<Choice, EngineError> {
    let start = Instant::now();
    let (mut c, cached, store) = choose_float(model, t)?;
    if !model.is_quantized() {
        return Ok(c);
    }
    if let Some((k, _)) = &t.int8_pin {
        c.int8 = Some(*k);
    } else if let Some(k) = int8::from_env()? {
        c.int8 = Some(k);
    } else if let Some(k) = cached.as_deref().and_then(|name| int8::available().find(|k| k.name == name)) {
        c.int8 = Some(k);
    } else {
        let cands = int8_candidates();
        let base = c.chosen.apply(model)?;
        let models: Vec<Model<'_>> = cands.iter().map(|&k| base.clone().with_int8_kernel(k)).collect();
        let budget = t.budget.saturating_sub(start.elapsed()).max(t.budget / 4);
        let timed = time_models(&models, t.batch, t.threads, budget)?;
        let mut trials: Vec<QTrial> =
            cands.iter().zip(timed).map(|(&kernel, (seconds, runs))| QTrial { kernel, seconds, runs }).collect();
        trials.sort_by(|a, b| a.seconds.unwrap_or(f64::INFINITY).total_cmp(&b.seconds.unwrap_or(f64::INFINITY)));
        let all_ran = trials.iter().all(|q| q.seconds.is_some());
        let k = trials.first().filter(|q| q.seconds.is_some()).map_or(int8::best(), |q| q.kernel);
        c.int8 = Some(k);
        c.int8_trials = trials;
        if let (Some((dir, key)), true) = (store, all_ran) {
            let entry = cache::Entry {
                kernel: c.chosen.kernel.name.to_string(),
                winograd: c.chosen.winograd,
                int8: Some(k.name.to_string()),
            };
            if let Err(e) = cache::write(&dir, &key, &entry) {
                c.notes.push(format!("could not store the kernel choice in {}: {e}", dir.display()));
            }
        }
    }
    c.cost = start.elapsed();
    Ok(c)
}

/// Where a complete choice is stored: the cache folder and key.
type Store = Option<(PathBuf, cache::Key)>;

/// The float part of [`choose`]: the choice, the int8 kernel name of a
/// cache hit, and where to store the completed choice (a cache hit without
/// an int8 kernel, or a complete measurement; `None` otherwise).
fn choose_float(model: &Model<'_>, t: &Tuning) -> Result<(Choice, Option<String>, Store), EngineError> {
    let start = Instant::now();
    let done = |chosen, source, trials, notes| Choice {
        chosen,
        source,
        requested: t.precision,
        trials,
        cost: start.elapsed(),
        notes,
        int8: None,
        int8_trials: Vec::new(),
    };
    let pin = match &t.pin {
        Some((k, by)) => Some((*k, by.clone())),
        None => kernels::from_env()?.map(|k| (k, "BEMM_KERNEL".to_string())),
    };
    if let Some((k, by)) = pin {
        let kernel = kernels::by_name(k.name)?;
        return Ok((
            done(Candidate { kernel, winograd: true }, Source::Pinned(by), Vec::new(), Vec::new()),
            None,
            None,
        ));
    }
    let mut notes = Vec::new();
    let key = cache::Key {
        cpu: cpu_id::CpuId::current().describe(),
        checksum: model.file().checksum(),
        batch: t.batch,
        threads: t.threads,
        precision: t.precision,
    };
    if let Some(dir) = &t.cache {
        match cache::read(dir, &key) {
            cache::Lookup::Hit(e) => {
                // An entry naming a kernel this build or CPU lacks is stale.
                match kernels::available().find(|k| k.name == e.kernel) {
                    Some(kernel) if kernel.exact || t.precision == Precision::Fast => {
                        let c = Candidate { kernel, winograd: e.winograd };
                        let store = e.int8.is_none().then(|| (dir.clone(), key.clone()));
                        return Ok((done(c, Source::Cached(key.path(dir)), Vec::new(), notes), e.int8, store));
                    }
                    _ => notes.push(format!(
                        "ignored the cached choice {}: kernel {} is not available here; measuring again",
                        key.path(dir).display(),
                        e.kernel
                    )),
                }
            }
            cache::Lookup::Miss => {}
            cache::Lookup::Invalid(why) => notes.push(format!("ignored the cached choice: {why}; measuring again")),
        }
    }
    let cands = candidates(t.precision);
    let mut trials = measure(model, &cands, t.batch, t.threads, t.budget)?;
    let measured = trials.iter().filter(|t| t.seconds.is_some()).count();
    // Nothing ran within the budget: the best-ranked kernel, as without `std`.
    let ranked = Candidate { kernel: kernels::best(t.precision == Precision::Exact), winograd: true };
    let chosen = pick(&trials, t.precision).map_or(ranked, |i| trials[i].candidate);
    if measured < trials.len() {
        // A partial measurement is not worth keeping: the next start measures again.
        notes.push(format!(
            "only {measured} of {} kernel candidates ran within the {} ms budget (a busy machine or a large model); \
             kept {}, not cached",
            trials.len(),
            t.budget.as_millis(),
            if measured == 0 { "the best-ranked kernel" } else { "the fastest of those" }
        ));
    } else if let Some(dir) = &t.cache {
        let entry = cache::Entry { kernel: chosen.kernel.name.to_string(), winograd: chosen.winograd, int8: None };
        if let Err(e) = cache::write(dir, &key, &entry) {
            notes.push(format!("could not store the kernel choice in {}: {e}", dir.display()));
        }
    }
    let store = (measured == trials.len()).then(|| t.cache.clone().map(|d| (d, key))).flatten();
    trials.sort_by(|a, b| a.seconds.unwrap_or(f64::INFINITY).total_cmp(&b.seconds.unwrap_or(f64::INFINITY)));
    Ok((done(chosen, Source::Measured, trials, notes), None, store))
}

#[cfg(test)]
mod tests;
