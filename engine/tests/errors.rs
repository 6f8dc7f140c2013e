//! Bad input gives errors, never panics: wrong lengths, short scratch, and
//! the formats crate's corruption corpus (its test model, truncated and
//! flipped at every byte, and flipped with the checksum re-sealed so the
//! structure validation is what stands between the bytes and the engine).

mod common;
#[path = "../../formats/tests/common/mod.rs"]
mod corpus;

use bemm_engine::{EngineError, Model};
use common::{Aligned, Rng};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn model() -> Vec<u8> {
    corpus::model_bytes()
}

#[test]
fn wrong_lengths_and_short_scratch_are_errors() {
    let bytes = model();
    let buf = Aligned::new(&bytes);
    let m = Model::from_bytes(buf.bytes()).unwrap();
    let n = m.input_len();
    let input = Rng(1).input(2 * n);
    let mut scratch = vec![0f32; m.scratch_len(2)];
    let mut probs = vec![0f32; 2 * m.num_classes()];
    let mut feats = vec![0f32; 2 * m.feature_len()];
    assert!(matches!(
        m.infer(&input[..2 * n - 1], 2, &mut scratch, &mut probs, &mut feats),
        Err(EngineError::InputLength { .. })
    ));
    assert!(matches!(m.infer(&input, 3, &mut scratch, &mut probs, &mut feats), Err(EngineError::InputLength { .. })));
    assert!(matches!(m.infer(&input[..0], 0, &mut scratch, &mut probs, &mut feats), Err(EngineError::EmptyBatch)));
    let short = m.scratch_len(2) - 1;
    assert!(matches!(
        m.infer(&input, 2, &mut scratch[..short], &mut probs, &mut feats),
        Err(EngineError::ScratchTooSmall { .. })
    ));
    assert!(matches!(
        m.infer(&input, 2, &mut scratch, &mut probs[1..], &mut feats),
        Err(EngineError::OutputLength { what: "probs", .. })
    ));
    assert!(matches!(
        m.infer(&input, 2, &mut scratch, &mut probs, &mut feats[1..]),
        Err(EngineError::OutputLength { what: "features", .. })
    ));
    assert!(matches!(
        m.infer(&input, usize::MAX / 2, &mut scratch, &mut probs, &mut feats),
        Err(EngineError::BatchTooLarge(_) | EngineError::InputLength { .. })
    ));
    let samples = [&input[..n], &input[n..2 * n - 3]];
    assert!(matches!(
        m.infer_samples(&samples, &mut scratch, &mut probs, &mut feats),
        Err(EngineError::SampleLength { index: 1, .. })
    ));
    // And the good call still works, with an error message that names things.
    m.infer(&input, 2, &mut scratch, &mut probs, &mut feats).unwrap();
    let msg = m.infer(&input, 2, &mut scratch[..10], &mut probs, &mut feats).unwrap_err().to_string();
    assert!(msg.contains("scratch") && msg.contains("10"), "{msg}");
}

/// Load and run one sample; `Some(probs)` when the bytes were accepted.
fn load_and_run(b: &[u8]) -> Option<Vec<f32>> {
    let buf = Aligned::new(b);
    let m = Model::from_bytes(buf.bytes()).ok()?;
    let input = Rng(2).input(m.input_len());
    let mut scratch = vec![0f32; m.scratch_len(1)];
    let mut probs = vec![0f32; m.num_classes()];
    let mut feats = vec![0f32; m.feature_len()];
    m.infer(&input, 1, &mut scratch, &mut probs, &mut feats).ok()?;
    Some(probs)
}

fn no_panic<T>(case: &str, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("engine panicked on {case}"))
}

#[test]
fn truncated_or_flipped_models_are_errors_or_equal() {
    let good = model();
    let want = load_and_run(&good).unwrap();
    for len in 0..good.len() {
        assert!(
            no_panic(&format!("truncated to {len}"), || load_and_run(&good[..len])).is_none(),
            "truncated to {len} was accepted"
        );
    }
    for pos in 0..good.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut c = good.clone();
            c[pos] ^= mask;
            if let Some(p) = no_panic(&format!("byte {pos} ^ {mask:#x}"), || load_and_run(&c)) {
                assert_eq!(p, want, "flip at {pos} accepted with different results");
            }
        }
    }
}

#[test]
fn resealed_flips_never_panic() {
    let good = model();
    let mut accepted = 0;
    let mut total = 0;
    for pos in 0..good.len() - 8 {
        if (56..64).contains(&pos) {
            continue; // file_len: resealing would write the checksum elsewhere
        }
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut c = good.clone();
            c[pos] ^= mask;
            corpus::reseal_model(&mut c);
            total += 1;
            if no_panic(&format!("resealed byte {pos} ^ {mask:#x}"), || load_and_run(&c)).is_some() {
                accepted += 1;
            }
        }
    }
    // Flipped weights legitimately load (other numbers, same structure).
    eprintln!("{accepted} of {total} resealed flips loaded and ran");
}

#[test]
fn open_names_the_file_on_io_and_format_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.bemm");
    let e = bemm_engine::OwnedModel::open(&missing).unwrap_err().to_string();
    assert!(e.contains("missing.bemm"), "{e}");
    let bad = dir.path().join("bad.bemm");
    let mut b = model();
    b[100] ^= 1;
    std::fs::write(&bad, &b).unwrap();
    let e = bemm_engine::OwnedModel::open(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.bemm") && e.contains("checksum"), "{e}");
    let good = dir.path().join("good.bemm");
    std::fs::write(&good, model()).unwrap();
    let m = bemm_engine::OwnedModel::open(&good).unwrap();
    assert_eq!(m.model().num_classes(), 19);
}
