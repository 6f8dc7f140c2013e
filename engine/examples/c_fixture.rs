//! Writes a model and a patch for running `examples/c/predict.c` on other
//! machines and comparing their outputs (`.ci/cross_check.sh`).
//!
//! `c_fixture OUTDIR [ARCH] [SIZE]` writes `OUTDIR/model.bemm` (ARCH,
//! default `resnet18`, with deterministic random weights over the 12 bands
//! at SIZE x SIZE, default 64, 19 classes) and `OUTDIR/patch.f32` (one
//! normalised input: 12 x SIZE x SIZE little-endian f32, CHW).

use bemm_engine::arch::{build, Arch, RandomWeights};
use bemm_formats::model::OwnedMeta;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: c_fixture OUTDIR [ARCH] [SIZE]");
        return ExitCode::from(2);
    };
    let arch_name = args.get(1).map_or("resnet18", String::as_str);
    let Some(arch) = Arch::parse(arch_name) else {
        eprintln!("c_fixture: unknown architecture {arch_name:?}");
        return ExitCode::from(2);
    };
    let size: usize = match args.get(2).map(|s| s.parse()) {
        None => 64,
        Some(Ok(s)) if (8..=1024).contains(&s) => s,
        Some(_) => {
            eprintln!("c_fixture: SIZE must be a number from 8 to 1024");
            return ExitCode::from(2);
        }
    };
    let channels: Vec<usize> = (0..12).collect();
    let model = build(arch, 12, size, 19, &mut RandomWeights::new(11), OwnedMeta::bigearthnet(arch.name(), &channels))
        .map_err(|e| e.to_string())
        .and_then(|b| b.to_bytes().map_err(|e| e.to_string()));
    let bytes = match model {
        Ok(b) => b,
        Err(e) => {
            eprintln!("c_fixture: building {arch_name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let patch: Vec<u8> =
        (0..12 * size * size).flat_map(|i| (((i * 37 % 997) as f32 / 498.5 - 1.0) * 1.5).to_le_bytes()).collect();
    for (name, data) in [("model.bemm", &bytes), ("patch.f32", &patch)] {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, data) {
            eprintln!("c_fixture: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
