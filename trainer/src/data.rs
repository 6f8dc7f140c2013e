//! Batches straight from the memory-mapped patch archive.
//!
//! Each epoch visits a seeded permutation of the split's patches. Worker
//! threads convert patches (f16 CHW, normalised) to f32 batch tensors ahead of
//! the model, each worker owning every `workers`-th batch and its own
//! bounded channel, so the consumer takes batches in order (deterministic
//! results whatever the thread timing) while at most `depth` batches per
//! worker wait in memory. Augmentation (random flips and 90-degree rotations,
//! the 8 symmetries of the square) draws from a generator derived from
//! (seed, epoch, batch), so a resumed epoch sees the same batches.

use crate::rng::SplitMix64;
use bemm_formats::archive::PatchArchive;
use half::f16;
use std::sync::mpsc::{sync_channel, Receiver};

/// One batch: inputs `[n, channels, side, side]` row-major f32, targets
/// `[n, classes]` (0/1) and the 19-class truth masks.
pub struct Batch {
    /// Number of patches.
    pub n: usize,
    /// Input values, NCHW.
    pub x: Vec<f32>,
    /// Targets, `[n, classes]`, 0 or 1.
    pub y: Vec<i32>,
    /// Truth label masks (bit c = class c).
    pub truth: Vec<u64>,
}

/// What to read: which patches, which channels, whether to augment.
#[derive(Clone)]
pub struct BatchPlan<'a> {
    /// The archive.
    pub archive: &'a PatchArchive,
    /// Patch indices in visiting order.
    pub order: Vec<usize>,
    /// Archive channels to feed the model, in order.
    pub channels: Vec<usize>,
    /// Patches per batch (the last batch may be smaller).
    pub batch_size: usize,
    /// Random flips/rotations (training only).
    pub augment: bool,
    /// Run seed and epoch, for the augmentation generator.
    pub seed: u64,
    /// Epoch number (0-based).
    pub epoch: u64,
    /// Number of classes.
    pub classes: usize,
}

impl BatchPlan<'_> {
    /// Number of batches.
    pub fn batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size.max(1))
    }

    /// Assemble batch `b`.
    pub fn assemble(&self, b: usize) -> Batch {
        let start = b * self.batch_size;
        let idx = &self.order[start..(start + self.batch_size).min(self.order.len())];
        let side = self.archive.manifest().height as usize;
        let plane = side * self.archive.manifest().width as usize;
        let per = self.channels.len() * plane;
        let mut x = vec![0f32; idx.len() * per];
        let mut y = vec![0i32; idx.len() * self.classes];
        let mut truth = vec![0u64; idx.len()];
        let mut rng = SplitMix64::derive(self.seed, self.epoch, b as u64);
        for (k, &i) in idx.iter().enumerate() {
            let sym = if self.augment { rng.below(8) } else { 0 };
            if let (Some(p), Some(r)) = (self.archive.patch(i), self.archive.record(i)) {
                for (j, &c) in self.channels.iter().enumerate() {
                    let src = &p[c * plane..(c + 1) * plane];
                    let dst = &mut x[k * per + j * plane..k * per + (j + 1) * plane];
                    copy_plane(src, dst, side, sym);
                }
                let mask = u64::from(r.labels19);
                truth[k] = mask;
                for c in 0..self.classes {
                    y[k * self.classes + c] = (mask >> c & 1) as i32;
                }
            }
        }
        Batch { n: idx.len(), x, y, truth }
    }

    /// Batches in order, assembled by `workers` threads ahead of the consumer
    /// (`depth` batches queued per worker; capped by [`stream_workers`]).
    /// Runs `consume` on the calling thread for each batch; stops early when
    /// it returns `false`.
    pub fn stream(&self, workers: usize, depth: usize, mut consume: impl FnMut(usize, Batch) -> bool) {
        let total = self.batches();
        let workers = stream_workers(workers, total);
        std::thread::scope(|s| {
            let mut rxs: Vec<Receiver<Batch>> = Vec::with_capacity(workers);
            for w in 0..workers {
                let (tx, rx) = sync_channel::<Batch>(depth.max(1));
                rxs.push(rx);
                s.spawn(move || {
                    let mut b = w;
                    while b < total {
                        // A closed receiver means the consumer stopped early.
                        if tx.send(self.assemble(b)).is_err() {
                            return;
                        }
                        b += workers;
                    }
                });
            }
            for b in 0..total {
                let Ok(batch) = rxs[b % workers].recv() else { break };
                if !consume(b, batch) {
                    break;
                }
            }
            drop(rxs);
        });
    }
}

/// Batch-assembling threads for `total` batches when `requested` were asked
/// for: at least 1, at most the batches (a worker without a batch is an idle
/// thread) and the cores (each worker queues whole batches, so extra ones
/// only add memory and time-slicing).
pub fn stream_workers(requested: usize, total: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    requested.min(cores).min(total).max(1)
}

/// Copy one `side x side` plane applying symmetry `sym` (0 = identity; bit 2
/// transposes, bit 1 flips rows, bit 0 flips columns: all 8 symmetries of
/// the square, i.e. flips and 90-degree rotations).
fn copy_plane(src: &[f16], dst: &mut [f32], side: usize, sym: usize) {
    if sym == 0 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.to_f32();
        }
        return;
    }
    let (tr, fr, fc) = (sym & 4 != 0, sym & 2 != 0, sym & 1 != 0);
    for r in 0..side {
        for c in 0..side {
            let (mut sr, mut sc) = if tr { (c, r) } else { (r, c) };
            if fr {
                sr = side - 1 - sr;
            }
            if fc {
                sc = side - 1 - sc;
            }
            dst[r * side + c] = src[sr * side + sc].to_f32();
        }
    }
}

/// Seeded permutation of `indices` for `epoch`.
pub fn epoch_order(indices: &[usize], seed: u64, epoch: u64) -> Vec<usize> {
    let mut v = indices.to_vec();
    SplitMix64::derive(seed, epoch, u64::MAX).shuffle(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_workers_are_capped_at_the_batches_and_the_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(stream_workers(1024, 3), 3.min(cores));
        assert_eq!(stream_workers(1024, 100_000), cores);
        assert_eq!(stream_workers(0, 10), 1);
        assert_eq!(stream_workers(4, 0), 1);
        assert_eq!(stream_workers(1, 10), 1);
    }

    #[test]
    fn the_eight_symmetries_are_distinct_permutations() {
        let side = 3;
        let src: Vec<f16> = (0..9).map(|v| f16::from_f32(v as f32)).collect();
        let mut seen = Vec::new();
        for sym in 0..8 {
            let mut d = vec![0f32; 9];
            copy_plane(&src, &mut d, side, sym);
            let mut sorted = d.clone();
            sorted.sort_by(f32::total_cmp);
            assert_eq!(sorted, (0..9).map(|v| v as f32).collect::<Vec<_>>());
            assert_eq!(d[4], 4.0, "centre stays");
            assert!(!seen.contains(&d), "symmetry {sym} repeats another");
            seen.push(d);
        }
        // sym 5 = transpose + column flip = rotate 90 degrees counter-clockwise.
        assert_eq!(seen[5], [2.0, 5.0, 8.0, 1.0, 4.0, 7.0, 0.0, 3.0, 6.0]);
    }
}
