//! Make the model the firmware embeds and size its scratch buffer.
//!
//! `BEMM_FIRMWARE_MODEL=path/to/model.bemm` embeds that file (e.g. one made
//! by `bemm export` or `bemm import`); otherwise a tiny 12-band network with
//! deterministic random weights is built here. Either way the model is
//! parsed with the engine at build time, so a bad file fails the build, and
//! the exact scratch size for one sample becomes a constant: the firmware's
//! static buffer is sized by the model, not guessed.

use bemm_engine::arch::{build, Arch, RandomWeights};
use bemm_engine::Model;
use bemm_formats::model::OwnedMeta;
use std::path::PathBuf;

// Small GEMM panels: a 40 KB workspace instead of 2.2 MB (see
// `Model::with_gemm_blocks`); the firmware uses the same values.
const GEMM_KC: usize = 64;
const GEMM_NC: usize = 64;

fn main() {
    println!("cargo:rerun-if-env-changed=BEMM_FIRMWARE_MODEL");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let bytes = match std::env::var("BEMM_FIRMWARE_MODEL") {
        Ok(path) => {
            println!("cargo:rerun-if-changed={path}");
            std::fs::read(&path).unwrap_or_else(|e| panic!("BEMM_FIRMWARE_MODEL={path}: {e}"))
        }
        Err(_) => {
            let channels: Vec<usize> = (0..12).collect();
            build(Arch::Tiny, 12, 120, 19, &mut RandomWeights::new(2024), OwnedMeta::bigearthnet("tiny", &channels))
                .expect("build the tiny model")
                .to_bytes()
                .expect("encode the tiny model")
        }
    };
    // Parse from u64 storage (the engine wants aligned bytes).
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    let aligned = &bytemuck::cast_slice::<u64, u8>(&words)[..bytes.len()];
    let model = Model::from_bytes(aligned)
        .and_then(|m| m.with_gemm_blocks(GEMM_KC, GEMM_NC))
        .unwrap_or_else(|e| panic!("the model to embed is invalid: {e}"));
    std::fs::write(out.join("model.bemm"), &bytes).expect("write model");
    std::fs::write(
        out.join("model_consts.rs"),
        format!(
            "/// GEMM panel depth and columns the scratch is sized for.\n\
             pub const GEMM_KC: usize = {GEMM_KC};\n\
             pub const GEMM_NC: usize = {GEMM_NC};\n\
             /// f32 values of scratch one inference needs (from `Model::scratch_len(1)`).\n\
             pub const SCRATCH_LEN: usize = {};\n\
             /// f16 values of one input sample (C*H*W).\n\
             pub const INPUT_LEN: usize = {};\n\
             /// Classes the model predicts.\n\
             pub const NUM_CLASSES: usize = {};\n",
            model.scratch_len(1),
            model.input_len(),
            model.num_classes()
        ),
    )
    .expect("write consts");
}
