//! Writes the small model the C tests run (`engine/tests/c/misuse.c`): a
//! tiny 3-band 32x32 network with deterministic random weights, 19 classes.
//!
//!   cargo run -p bemm-engine --example c_tiny_model -- OUT.bemm
use bemm_engine::arch::{build, Arch, RandomWeights};
use bemm_formats::model::OwnedMeta;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: c_tiny_model OUT.bemm")?;
    let meta = OwnedMeta::bigearthnet("tiny", &[0, 1, 2]);
    let bytes =
        build(Arch::Tiny, 3, 32, 19, &mut RandomWeights::new(3), meta).map_err(|e| e.to_string())?.to_bytes()?;
    std::fs::write(&out, &bytes).map_err(|e| format!("{out}: {e}"))?;
    println!("{out}: {} bytes", bytes.len());
    Ok(())
}
