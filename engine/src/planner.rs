//! Static memory planner (TensorFlow Lite Micro's greedy-by-size style).
//!
//! Every layer's output is one buffer of `out_len` f32 per sample, alive
//! from the layer that writes it to the last layer that reads it. Buffers
//! are placed largest first at the lowest offset that collides with no
//! already-placed buffer alive at the same time. Offsets are computed per
//! sample; since every buffer scales linearly with the batch, multiplying
//! all offsets by `batch` keeps the plan valid for any batch, so planning
//! happens once per model. Outputs needed by the caller (logits, features)
//! are copied out the moment they are produced and need no longer life.
//!
//! Fixed capacity ([`MAX_PLANNED_LAYERS`]), no allocation.

use crate::error::EngineError;
use bemm_formats::model::LayerRecord;
use heapless::Vec as HVec;

/// Most layers a plan holds (ResNet-152 has about 220).
pub const MAX_PLANNED_LAYERS: usize = 1024;

/// Offsets of every layer's output inside the activation arena.
#[derive(Debug, Clone)]
pub struct Plan {
    offsets: HVec<usize, MAX_PLANNED_LAYERS>,
    sizes: HVec<usize, MAX_PLANNED_LAYERS>,
    arena: usize,
}

/// `(start, end)` layer interval during which a layer's output is alive.
fn lifetimes(layers: &[LayerRecord], last: &mut [usize]) {
    for (i, l) in layers.iter().enumerate() {
        last[i] = i;
        for src in [l.input, l.input2] {
            if (src as usize) < i {
                last[src as usize] = last[src as usize].max(i);
            }
        }
    }
}

impl Plan {
    /// Plan the outputs of `layers` (topologically ordered, as validated by
    /// `ModelFile::parse`).
    pub fn new(layers: &[LayerRecord]) -> Result<Self, EngineError> {
        let n = layers.len();
        if n > MAX_PLANNED_LAYERS {
            return Err(EngineError::TooManyLayers { layers: n, max: MAX_PLANNED_LAYERS });
        }
        let mut last = [0usize; MAX_PLANNED_LAYERS];
        lifetimes(layers, &mut last[..n]);
        // Order: largest first, ties by layer index (insertion sort: n is small).
        let mut order = [0u16; MAX_PLANNED_LAYERS];
        for i in 0..n {
            let mut j = i;
            while j > 0 && layers[order[j - 1] as usize].out_len() < layers[i].out_len() {
                order[j] = order[j - 1];
                j -= 1;
            }
            order[j] = i as u16;
        }
        let mut offsets = [usize::MAX; MAX_PLANNED_LAYERS];
        let mut arena = 0usize;
        for (placed, &oi) in order[..n].iter().enumerate() {
            let i = oi as usize;
            let size = layers[i].out_len();
            let mut off = 0usize;
            // First fit: bump past any conflicting buffer until none conflicts.
            // Each bump moves strictly upward past one buffer's end, and every
            // offset skipped collides with that buffer, so the result is the
            // lowest free offset.
            'search: loop {
                for &oj in &order[..placed] {
                    let j = oj as usize;
                    let (oj_off, oj_size) = (offsets[j], layers[j].out_len());
                    let time = i.max(j) <= last[i].min(last[j]);
                    let space = off < oj_off + oj_size && oj_off < off + size;
                    if time && space {
                        off = oj_off + oj_size;
                        continue 'search;
                    }
                }
                break;
            }
            offsets[i] = off;
            arena = arena.max(off + size);
        }
        let mut p = Plan { offsets: HVec::new(), sizes: HVec::new(), arena };
        for (i, l) in layers.iter().enumerate() {
            // Capacity was checked above, so these pushes cannot fail.
            p.offsets.push(offsets[i]).map_err(|_| EngineError::Internal("plan capacity"))?;
            p.sizes.push(l.out_len()).map_err(|_| EngineError::Internal("plan capacity"))?;
        }
        Ok(p)
    }

    /// Arena length in f32 per sample.
    pub fn arena_per_sample(&self) -> usize {
        self.arena
    }

    /// Range of layer `i`'s output in an arena planned for `batch` samples.
    pub fn range(&self, i: usize, batch: usize) -> Option<core::ops::Range<usize>> {
        let (o, s) = (*self.offsets.get(i)?, *self.sizes.get(i)?);
        Some(o * batch..(o + s) * batch)
    }

    /// Sum of all outputs per sample: what a plan without reuse would need.
    pub fn unplanned_per_sample(&self) -> usize {
        self.sizes.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bemm_formats::model::{LayerKind, INPUT, NONE};

    fn layer(kind: LayerKind, input: u32, input2: u32, c: u32, hw: u32) -> LayerRecord {
        LayerRecord { kind: kind as u32, input, input2, out_c: c, out_h: hw, out_w: hw, ..bytemuck::Zeroable::zeroed() }
    }

    /// Checks the planner's one promise: no two buffers alive at the same
    /// time overlap, and every buffer lies inside the arena.
    fn assert_valid(layers: &[LayerRecord], p: &Plan) {
        let mut last = [0usize; MAX_PLANNED_LAYERS];
        lifetimes(layers, &mut last[..layers.len()]);
        for i in 0..layers.len() {
            let ri = p.range(i, 1).unwrap();
            assert!(ri.end <= p.arena_per_sample());
            for j in 0..i {
                let rj = p.range(j, 1).unwrap();
                let time = i.max(j) <= last[i].min(last[j]);
                let space = ri.start < rj.end && rj.start < ri.end;
                assert!(!(time && space), "layers {j} and {i} overlap: {rj:?} {ri:?}");
            }
        }
    }

    #[test]
    fn chain_reuses_two_buffers() {
        // A plain chain needs only the two largest neighbours at once.
        let ls: std::vec::Vec<_> = (0..6).map(|i| layer(LayerKind::Relu, if i == 0 { INPUT } else { i - 1 }, NONE, 4, 8)).collect();
        let p = Plan::new(&ls).unwrap();
        assert_valid(&ls, &p);
        assert_eq!(p.arena_per_sample(), 2 * 4 * 64);
        assert_eq!(p.unplanned_per_sample(), 6 * 4 * 64);
    }

    #[test]
    fn residual_keeps_skip_alive_and_scales_with_batch() {
        // 0 -> 1 -> 2, add(0, 2) -> 3: layer 0 must survive layers 1 and 2.
        let ls = [
            layer(LayerKind::Relu, INPUT, NONE, 8, 4),
            layer(LayerKind::Relu, 0, NONE, 8, 4),
            layer(LayerKind::Relu, 1, NONE, 8, 4),
            layer(LayerKind::Add, 0, 2, 8, 4),
        ];
        let p = Plan::new(&ls).unwrap();
        assert_valid(&ls, &p);
        assert_eq!(p.arena_per_sample(), 3 * 128);
        assert_eq!(p.range(3, 5).unwrap().len(), 5 * 128);
    }

    #[test]
    fn random_graphs_never_overlap() {
        let mut s = 12345u64;
        let mut rnd = |m: u32| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % m as u64) as u32
        };
        for _ in 0..200 {
            let n = 1 + rnd(40) as usize;
            let ls: std::vec::Vec<_> = (0..n as u32)
                .map(|i| {
                    let a = if i == 0 { INPUT } else { rnd(i) };
                    let b = if i > 1 && rnd(3) == 0 { rnd(i) } else { NONE };
                    layer(LayerKind::Add, a, b, 1 + rnd(16), 1 + rnd(6))
                })
                .collect();
            assert_valid(&ls, &Plan::new(&ls).unwrap());
        }
    }

    #[test]
    fn too_many_layers_is_an_error() {
        let ls = std::vec![layer(LayerKind::Relu, INPUT, NONE, 1, 1); MAX_PLANNED_LAYERS + 1];
        assert!(matches!(Plan::new(&ls), Err(EngineError::TooManyLayers { .. })));
    }
}
