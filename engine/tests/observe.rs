//! `Model::infer_samples_observed`: every layer output it reports is the
//! layer's true output (against the f64 reference interpreter), every
//! layer is reported once per chunk except convolutions fused into their
//! residual add, and observing changes no result.

mod common;

use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_engine::observe::Observer;
use bemm_engine::Model;
use common::*;

/// Every report, in order: (layer, batch, values).
#[derive(Default)]
struct Record(Vec<(usize, usize, Vec<f32>)>);

impl Observer for Record {
    fn layer_output(&mut self, layer: usize, batch: usize, values: &[f32]) {
        self.0.push((layer, batch, values.to_vec()));
    }
}

#[test]
fn observed_outputs_are_the_layers_outputs_and_change_nothing() {
    let b = arch::build(Arch::ResNet18, 12, 32, 19, &mut RandomWeights::new(5), meta(12, 19)).unwrap();
    let bytes = b.to_bytes().unwrap();
    let buf = Aligned::new(&bytes);
    let m = Model::from_bytes(buf.bytes()).unwrap();
    let (n, nc, batch) = (m.input_len(), m.num_classes(), 3);
    let input = Rng(9).input(batch * n);
    let samples: Vec<&[half::f16]> = input.chunks(n).collect();
    let mut scratch = vec![0f32; m.scratch_len(batch)];
    let (mut p0, mut p1) = (vec![0f32; batch * nc], vec![0f32; batch * nc]);
    m.infer_samples(&samples, &mut scratch, &mut p0, &mut []).unwrap();
    let mut rec = Record::default();
    m.infer_samples_observed(&samples, &mut scratch, &mut p1, &mut [], &mut rec).unwrap();
    assert_eq!(p0, p1, "observing changed the probabilities");

    let refs: Vec<Vec<Vec<f64>>> = samples.iter().map(|x| reference(m.file(), x)).collect();
    let layers = m.file().layers();
    let seen: Vec<usize> = rec.0.iter().map(|r| r.0).collect();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "one report per layer, in file order (one chunk): {seen:?}");
    let mut fused = 0;
    for i in 0..layers.len() {
        if !seen.contains(&i) {
            // Only a conv whose output feeds the add right after it may be missing.
            let next = layers.get(i + 1).expect("the last layer is reported");
            assert!(
                next.input as usize == i || next.input2 as usize == i,
                "layer {i} unreported and not fused into layer {}",
                i + 1
            );
            fused += 1;
        }
    }
    assert!(seen.len() + fused == layers.len() && seen.len() > layers.len() / 2);
    for (layer, nb, values) in &rec.0 {
        assert_eq!(*nb, batch);
        let l = &layers[*layer];
        let hw = l.out_h as usize * l.out_w as usize;
        assert_eq!(values.len(), l.out_c as usize * batch * hw, "layer {layer}");
        // CNHW -> per sample CHW, against the reference.
        for (s, r) in refs.iter().enumerate() {
            let mut chw = Vec::with_capacity(l.out_c as usize * hw);
            for c in 0..l.out_c as usize {
                chw.extend_from_slice(&values[(c * batch + s) * hw..(c * batch + s + 1) * hw]);
            }
            let e = rel_err(&chw, &r[*layer]);
            assert!(e < 1e-3, "layer {layer} sample {s}: relative error {e:e}");
        }
    }
}
