//! Running a model over patches with the engine, and how an int8 model's
//! label decisions and sample F2 compare with its float original's.

use anyhow::{Context, Result};
use bemm_engine::metrics::MultiLabelAccumulator;
use bemm_engine::observe::Observer;
use bemm_engine::Model;
use bemm_formats::f16;

/// Samples per engine call (bounds the scratch memory).
const CHUNK: usize = 32;

/// Probabilities `[samples][classes]` of `model` on `samples`, on `threads` threads.
pub fn probabilities(model: &Model<'_>, samples: &[&[f16]], threads: usize) -> Result<Vec<f32>> {
    let nc = model.num_classes();
    let mut probs = vec![0f32; samples.len() * nc];
    for (k, group) in samples.chunks(CHUNK * threads.max(1)).enumerate() {
        let at = k * CHUNK * threads.max(1) * nc;
        model
            .infer_parallel(group, threads, &mut probs[at..at + group.len() * nc], &mut [])
            .context("engine inference")?;
    }
    Ok(probs)
}

/// Run `model` on `samples` on one thread, every layer output going to `obs`.
pub fn observe(model: &Model<'_>, samples: &[&[f16]], obs: &mut dyn Observer) -> Result<()> {
    let nc = model.num_classes();
    let mut scratch = vec![0f32; model.scratch_len(CHUNK.min(samples.len()).max(1))];
    let mut probs = vec![0f32; CHUNK * nc];
    for group in samples.chunks(CHUNK) {
        model
            .infer_samples_observed(
                group,
                &mut scratch[..model.scratch_len(group.len())],
                &mut probs[..group.len() * nc],
                &mut [],
                obs,
            )
            .context("engine inference (calibration)")?;
    }
    Ok(())
}

/// An int8 model against its float original on the same patches.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// Patches compared.
    pub patches: usize,
    /// Label decisions compared (patches x classes).
    pub decisions: usize,
    /// Decisions (each model's own per-class thresholds) that differ.
    pub differing: usize,
    /// Sample F2 of the float model against the archive's labels (0..=1).
    pub f2_float: f64,
    /// Sample F2 of the int8 model.
    pub f2_int8: f64,
    /// Largest |p_int8 - p_float|.
    pub max_prob_diff: f32,
}

impl Comparison {
    /// Fraction of identical decisions.
    pub fn agreement(&self) -> f64 {
        if self.decisions == 0 {
            return 1.0;
        }
        1.0 - self.differing as f64 / self.decisions as f64
    }

    /// `f2_int8 - f2_float` (negative: the int8 model scores lower).
    pub fn f2_change(&self) -> f64 {
        self.f2_int8 - self.f2_float
    }
}

fn f2(model: &Model<'_>, probs: &[f32], truth: &[u64]) -> f64 {
    let nc = model.num_classes();
    let mut acc = MultiLabelAccumulator::new(nc);
    for (row, &t) in probs.chunks(nc).zip(truth) {
        acc.add(t, model.predicted(row), row);
    }
    acc.finish().sample_f2
}

/// Compare `int8`'s probabilities `pq` with `float`'s `pf` (both `[patches][classes]`) on patches with labels `truth`.
pub fn compare(float: &Model<'_>, pf: &[f32], int8: &Model<'_>, pq: &[f32], truth: &[u64]) -> Comparison {
    let nc = float.num_classes();
    let mut c = Comparison {
        patches: truth.len(),
        decisions: truth.len() * nc,
        differing: 0,
        f2_float: f2(float, pf, truth),
        f2_int8: f2(int8, pq, truth),
        max_prob_diff: 0.0,
    };
    for (rf, rq) in pf.chunks(nc).zip(pq.chunks(nc)) {
        c.differing += (float.predicted(rf) ^ int8.predicted(rq)).count_ones() as usize;
        for (a, b) in rf.iter().zip(rq) {
            let d = (a - b).abs();
            if d.is_nan() || d > c.max_prob_diff {
                c.max_prob_diff = d;
            }
        }
    }
    c
}
