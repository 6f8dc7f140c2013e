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
use bemm_formats::model::{LayerKind, LayerRecord, INPUT};
use heapless::Vec as HVec;

/// Most layers a plan holds (ResNet-152 has about 220).
pub const MAX_PLANNED_LAYERS: usize = 1024;

/// Offsets of every layer's output inside the activation arena.
#[derive(Debug, Clone)]
pub struct Plan {
    offsets: HVec<usize, MAX_PLANNED_LAYERS>,
    sizes: HVec<usize, MAX_PLANNED_LAYERS>,
    fused: HVec<bool, MAX_PLANNED_LAYERS>,
    arena: usize,
    unplanned: usize,
}

/// `(start, end)` layer interval during which a layer's output is alive.
fn lifetimes(layers: &[LayerRecord], last: &mut [usize]) {
    for (i, l) in layers.iter().enumerate() {
        last[i] = i;
        for src in [Some(l.input), l.second_input()].into_iter().flatten() {
            if (src as usize) < i {
                last[src as usize] = last[src as usize].max(i);
            }
        }
    }
}

/// Whether convolution `i` (f16 or int8) is fused into the residual add right after it:
/// the conv has no ReLU of its own, the add (layer `i + 1`) is its only
/// reader, the add's other operand is an engine activation (not the f16
/// graph input), and the caller does not need the conv's output (`keep`:
/// the logits and feature layers). Then the conv's GEMM epilogue adds the
/// other operand and applies the add's ReLU, writing the add's output
/// directly: the add's pass over both operands disappears, with the same
/// f32 operations in the same order (bit-identical).
fn fusable(layers: &[LayerRecord], last: &[usize], keep: &[u32], i: usize) -> bool {
    let (Some(l), Some(a)) = (layers.get(i), layers.get(i + 1)) else { return false };
    if !matches!(l.layer_kind(), Some(LayerKind::Conv | LayerKind::QConv))
        || l.relu()
        || a.layer_kind() != Some(LayerKind::Add)
        || last[i] != i + 1
        || keep.contains(&(i as u32))
    {
        return false;
    }
    let other = if a.input as usize == i {
        a.input2
    } else if a.input2 as usize == i {
        a.input
    } else {
        return false;
    };
    other != INPUT && (other as usize) < i
}

/// Whether the graph can be cut after layer `s`: no later layer reads the
/// graph input or a layer before `s`, so layer `s`'s output is all the later
/// layers need.
pub fn cut_after(layers: &[LayerRecord], s: usize) -> bool {
    layers.iter().skip(s + 1).all(|l| {
        [Some(l.input), l.second_input()]
            .into_iter()
            .flatten()
            .all(|src| src == bemm_formats::model::NONE || (src != INPUT && src as usize >= s))
    })
}

impl Plan {
    /// Plan the outputs of `layers` (topologically ordered, as validated by
    /// `ModelFile::parse`); the outputs of the layers in `keep` (logits,
    /// features) are always materialised.
    ///
    /// A convolution fused into the add after it (see [`Plan::fused`]) gets
    /// no buffer, and that add's output is alive from the conv on: the conv
    /// writes it, so it must not share space with the conv's input.
    pub fn new(layers: &[LayerRecord], keep: &[u32]) -> Result<Self, EngineError> {
        Plan::new_from(layers, keep, 0)
    }

    /// [`Plan::new`] for the layers from `from` on, which read no layer
    /// before `from - 1` (a cut of the graph, see [`cut_after`]): layer
    /// `from - 1`'s output is their input, placed and alive from the start;
    /// earlier layers get no buffer. The late stage of a batch runs on such
    /// a plan with more samples in flight than the early one.
    pub fn new_from(layers: &[LayerRecord], keep: &[u32], from: usize) -> Result<Self, EngineError> {
        let n = layers.len();
        if n > MAX_PLANNED_LAYERS {
            return Err(EngineError::TooManyLayers { layers: n, max: MAX_PLANNED_LAYERS });
        }
        let mut last = [0usize; MAX_PLANNED_LAYERS];
        lifetimes(layers, &mut last[..n]);
        let mut fused = [false; MAX_PLANNED_LAYERS];
        let mut first = [0usize; MAX_PLANNED_LAYERS];
        let mut size = [0usize; MAX_PLANNED_LAYERS];
        for i in 0..n {
            first[i] = i;
            size[i] = if i + 1 >= from { layers[i].out_len() } else { 0 };
        }
        for i in from..n {
            if fusable(layers, &last[..n], keep, i) {
                fused[i] = true;
                size[i] = 0;
                first[i + 1] = i;
            }
        }
        // Order: largest first, ties by layer index (insertion sort: n is small).
        let mut order = [0u16; MAX_PLANNED_LAYERS];
        for i in 0..n {
            let mut j = i;
            while j > 0 && size[order[j - 1] as usize] < size[i] {
                order[j] = order[j - 1];
                j -= 1;
            }
            order[j] = i as u16;
        }
        let mut offsets = [usize::MAX; MAX_PLANNED_LAYERS];
        let mut arena = 0usize;
        for (placed, &oi) in order[..n].iter().enumerate() {
            let i = oi as usize;
            let size_i = size[i];
            let mut off = 0usize;
            // First fit: bump past any conflicting buffer until none conflicts.
            // Each bump moves strictly upward past one buffer's end, and every
            // offset skipped collides with that buffer, so the result is the
            // lowest free offset.
            'search: loop {
                for &oj in &order[..placed] {
                    let j = oj as usize;
                    let (oj_off, oj_size) = (offsets[j], size[j]);
                    let time = first[i].max(first[j]) <= last[i].min(last[j]);
                    let space = off < oj_off + oj_size && oj_off < off + size_i;
                    if time && space {
                        off = oj_off + oj_size;
                        continue 'search;
                    }
                }
                break;
            }
            offsets[i] = off;
            arena = arena.max(off + size_i);
        }
        let unplanned = layers.iter().map(|l| l.out_len()).sum();
        let mut p = Plan { offsets: HVec::new(), sizes: HVec::new(), fused: HVec::new(), arena, unplanned };
        for i in 0..n {
            // Capacity was checked above, so these pushes cannot fail.
            p.offsets.push(offsets[i]).map_err(|_| EngineError::Internal("plan capacity"))?;
            p.sizes.push(size[i]).map_err(|_| EngineError::Internal("plan capacity"))?;
            p.fused.push(fused[i]).map_err(|_| EngineError::Internal("plan capacity"))?;
        }
        Ok(p)
    }

    /// Whether convolution `i` is fused into the add at `i + 1`: it writes
    /// that add's output range (epilogue: `+ bias + other operand`, then the
    /// add's ReLU), and the add itself does nothing. Its own range is empty.
    pub fn fused(&self, i: usize) -> bool {
        self.fused.get(i).copied().unwrap_or(false)
    }

    /// Start of the interval in which layer `i`'s output is alive (the
    /// layer itself, or the conv fused into it).
    #[cfg(test)]
    fn first(&self, i: usize) -> usize {
        if i > 0 && self.fused(i - 1) {
            i - 1
        } else {
            i
        }
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

    /// Sum of all outputs per sample: what running without a plan (no
    /// reuse, no fusion) would need.
    pub fn unplanned_per_sample(&self) -> usize {
        self.unplanned
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
                let time = p.first(i).max(p.first(j)) <= last[i].min(last[j]);
                let space = ri.start < rj.end && rj.start < ri.end;
                assert!(!(time && space), "layers {j} and {i} overlap: {rj:?} {ri:?}");
            }
        }
    }

    #[test]
    fn chain_reuses_two_buffers() {
        // A plain chain needs only the two largest neighbours at once.
        let ls: std::vec::Vec<_> =
            (0..6).map(|i| layer(LayerKind::Relu, if i == 0 { INPUT } else { i - 1 }, NONE, 4, 8)).collect();
        let p = Plan::new(&ls, &[]).unwrap();
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
        let p = Plan::new(&ls, &[]).unwrap();
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
            assert_valid(&ls, &Plan::new(&ls, &[]).unwrap());
        }
    }

    #[test]
    fn conv_then_add_fuses_unless_the_conv_output_is_needed() {
        let conv = |input: u32, relu: bool| {
            let mut l = layer(LayerKind::Conv, input, NONE, 8, 4);
            if relu {
                l.flags = bemm_formats::model::FLAG_RELU;
            }
            l
        };
        // 0 = relu(input), 1 = conv(0), 2 = add(1, 0).
        let ls = [layer(LayerKind::Relu, INPUT, NONE, 8, 4), conv(0, false), layer(LayerKind::Add, 1, 0, 8, 4)];
        let p = Plan::new(&ls, &[]).unwrap();
        assert_valid(&ls, &p);
        assert!(p.fused(1) && !p.fused(0) && !p.fused(2));
        assert!(p.range(1, 1).unwrap().is_empty());
        // The add's output is written while the conv reads layer 0.
        let (r0, r2) = (p.range(0, 3).unwrap(), p.range(2, 3).unwrap());
        assert!(r0.end <= r2.start || r2.end <= r0.start);
        // Not when the caller needs the conv's output, the conv has its own
        // ReLU, the other operand is the f16 input, or another layer reads the conv.
        assert!(!Plan::new(&ls, &[1]).unwrap().fused(1));
        assert!(!Plan::new(&[ls[0], conv(0, true), ls[2]], &[]).unwrap().fused(1));
        assert!(!Plan::new(&[conv(INPUT, false), layer(LayerKind::Add, 0, INPUT, 8, 4)], &[]).unwrap().fused(0));
        let shared = [ls[0], conv(0, false), layer(LayerKind::Add, 1, 0, 8, 4), layer(LayerKind::Add, 1, 2, 8, 4)];
        assert!(!Plan::new(&shared, &[]).unwrap().fused(1));
    }

    #[test]
    fn late_plans_place_the_cut_and_the_layers_after_it() {
        // 0 -> 1 -> 2 = add(0, 1) -> 3 -> 4 = add(2, 3) -> 5: cuts after 0,
        // 2 and 4 (everything after reads only them and later layers), not
        // after 1 (the add at 2 reads 0) or 3 (the add at 4 reads 2).
        let ls = [
            layer(LayerKind::Relu, INPUT, NONE, 8, 4),
            layer(LayerKind::Relu, 0, NONE, 8, 4),
            layer(LayerKind::Add, 0, 1, 8, 4),
            layer(LayerKind::Relu, 2, NONE, 4, 4),
            layer(LayerKind::Add, 2, 3, 4, 4),
            layer(LayerKind::Relu, 4, NONE, 2, 2),
        ];
        let cuts: std::vec::Vec<usize> = (0..ls.len()).filter(|&s| cut_after(&ls, s)).collect();
        assert_eq!(cuts, [0, 2, 4, 5]);
        let p = Plan::new_from(&ls, &[], 3).unwrap();
        assert_valid(&ls, &p);
        for i in 0..2 {
            assert!(p.range(i, 1).unwrap().is_empty(), "layer {i} is before the cut");
        }
        assert_eq!(p.range(2, 3).unwrap().len(), 3 * 128);
        // The cut's output lives until layer 4 reads it: 3 may not reuse it.
        let (r2, r3) = (p.range(2, 1).unwrap(), p.range(3, 1).unwrap());
        assert!(r2.end <= r3.start || r3.end <= r2.start);
    }

    #[test]
    fn too_many_layers_is_an_error() {
        let ls = std::vec![layer(LayerKind::Relu, INPUT, NONE, 1, 1); MAX_PLANNED_LAYERS + 1];
        assert!(matches!(Plan::new(&ls, &[]), Err(EngineError::TooManyLayers { .. })));
    }
}
