//! The fast path's decisions (a class predicted or not, per sample) against
//! the exact path's, on a whole network: they must agree on at least
//! 99.5 % of decisions. On CPUs without a reduced-precision kernel both
//! paths run the same kernel and agree everywhere.

mod common;

use bemm_engine::arch::{self, Arch, RandomWeights};
use bemm_engine::{Model, Precision};
use common::*;

#[test]
fn fast_path_decisions_agree_with_exact_on_at_least_99_5_percent() {
    // ResNet18 over 12 x 32 x 32, 32 samples x 19 classes = 608
    // decisions at the model's thresholds (`Model::predicted`).
    let bytes =
        arch::build(Arch::ResNet18, 12, 32, 19, &mut RandomWeights::new(31), meta(12, 19)).unwrap().to_bytes().unwrap();
    let buf = Aligned::new(&bytes);
    let exact = Model::from_bytes(buf.bytes()).unwrap().with_precision(Precision::Exact);
    let fast = exact.clone().with_precision(Precision::Fast);
    let batch = 32;
    let input = Rng(77).input(batch * exact.input_len());
    let (pe, _) = run(&exact, &input, batch);
    let (pf, _) = run(&fast, &input, batch);
    let classes = exact.num_classes();
    let (mut agree, mut close) = (0, 0);
    for b in 0..batch {
        let (e, f) = (&pe[b * classes..(b + 1) * classes], &pf[b * classes..(b + 1) * classes]);
        let differ = exact.predicted(e) ^ fast.predicted(f);
        agree += classes - differ.count_ones() as usize;
        close += e.iter().filter(|p| (**p - 0.5).abs() < 0.05).count();
    }
    let total = batch * classes;
    let rate = agree as f64 / total as f64;
    eprintln!(
        "{} vs {}: {agree} of {total} decisions agree ({:.2} %); {close} exact probabilities within 0.05 of the threshold",
        fast.kernel().name,
        exact.kernel().name,
        100.0 * rate
    );
    assert!(rate >= 0.995, "{}: {agree} of {total} decisions agree", fast.kernel().name);
}
