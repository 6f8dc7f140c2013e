//! `bemm features`: run a model over (a split of) a patch archive and write
//! the feature layer's vectors (f16) with the patches' records as a feature
//! archive for retrieval.

use crate::cmd::predict::{summary, Runner, Source};
use crate::cmd::run_args::RunArgs;
use anyhow::Context;
use bemm_formats::archive::PatchRecord;
use bemm_formats::f16;
use bemm_formats::features::encode_features;
use bemm_formats::fsutil::write_atomic;
use std::path::PathBuf;

/// Arguments of `bemm features`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub source: Source,
    /// Output feature archive (`.bemf`).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run `bemm features`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let runner = Runner::for_output(&a.source, &a.out, &a.run)?;
    let m = runner.model.model();
    let dim = m.feature_len();
    let mut vectors: Vec<f16> = Vec::with_capacity(runner.indices.len() * dim);
    let mut records: Vec<PatchRecord> = Vec::with_capacity(runner.indices.len());
    let (patches, secs, non_finite) = runner.run(&a.run, true, |idx, _, feats| {
        for (k, &i) in idx.iter().enumerate() {
            let v = &feats[k * dim..(k + 1) * dim];
            // A patch that was not run (non-finite input, reported) has no features.
            if v.iter().any(|x| x.is_nan()) {
                continue;
            }
            vectors.extend(v.iter().map(|&x| f16::from_f32(x)));
            records.push(*runner.archive.record(i).with_context(|| format!("record {i} is missing"))?);
        }
        Ok(())
    })?;
    let file = m.file();
    let bytes = file.bytes();
    // The file's own trailing XXH64 identifies the model.
    let checksum =
        u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().context("model file shorter than its checksum")?);
    let mut desc = format!("{} feature layer {}", m.meta().provenance.arch, file.header().feature_layer);
    while desc.len() > 48 {
        desc.pop();
    }
    let out = encode_features(dim as u32, &vectors, &records, &desc, checksum)
        .context("cannot encode the feature archive")?;
    write_atomic(&a.out, &out).with_context(|| format!("{}: cannot write the feature archive", a.out.display()))?;
    summary(a.json, "features", &runner, patches, secs, non_finite, &a.out)
}
