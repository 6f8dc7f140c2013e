//! `bemm ingest`: BigEarthNet-MM (v1.0 or v2.0) folder trees to a patch archive.

use crate::ingest::{self, Layout, Options};
use std::path::PathBuf;

/// Arguments of `bemm ingest`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Sentinel-2 root (v1: BigEarthNet-v1.0/, v2: BigEarthNet-S2/).
    #[arg(long)]
    pub s2: PathBuf,
    /// Sentinel-1 root (v1: BigEarthNet-S1-v1.0/, v2: BigEarthNet-S1/).
    #[arg(long)]
    pub s1: PathBuf,
    /// Output archive folder (created; an interrupted ingest into it resumes).
    #[arg(long)]
    pub out: PathBuf,
    /// v1: folder with the official train.csv, val.csv, test.csv. Without it
    /// each patch gets a split from a hash of its S2 name (52/24/24 %).
    #[arg(long)]
    pub splits: Option<PathBuf>,
    /// v1: patches_with_seasonal_snow.csv.
    #[arg(long)]
    pub snow: Option<PathBuf>,
    /// v1: patches_with_cloud_and_shadow.csv.
    #[arg(long)]
    pub cloud: Option<PathBuf>,
    /// v2: metadata.parquet (implies the v2 layout).
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// v2: metadata_for_patches_with_snow_cloud_or_shadow.parquet.
    #[arg(long)]
    pub snow_cloud_metadata: Option<PathBuf>,
    /// Force the layout instead of detecting it: v1 or v2.
    #[arg(long, value_parser = ["v1", "v2"])]
    pub layout: Option<String>,
    /// Keep snow/cloud patches in the archive, flagged, instead of leaving them out.
    #[arg(long)]
    pub keep_excluded: bool,
    /// Pairs per shard (one shard per chunk of the sorted pair list).
    #[arg(long, default_value_t = 8192)]
    pub shard_size: usize,
    /// Stop at the first bad pair instead of skipping and counting it.
    #[arg(long)]
    pub strict: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: all cores; never more than the cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Stop after writing N new shards, as if interrupted (for testing resume).
    #[arg(long, hide = true)]
    pub stop_after_shards: Option<usize>,
}

/// Run `bemm ingest`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let opts = Options {
        s2: a.s2,
        s1: a.s1,
        out: a.out,
        splits: a.splits,
        snow: a.snow,
        cloud: a.cloud,
        metadata: a.metadata,
        snow_cloud_metadata: a.snow_cloud_metadata,
        layout: a.layout.as_deref().map(|l| if l == "v2" { Layout::V2 } else { Layout::V1 }),
        keep_excluded: a.keep_excluded,
        shard_size: a.shard_size,
        strict: a.strict,
        progress: !a.json,
        stop_after_shards: a.stop_after_shards,
    };
    // Pairs are decoded and resampled on the CPU: no more workers than cores.
    let summary = match a.threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(crate::threads::workers(Some(n), usize::MAX))
            .build()?
            .install(|| ingest::run(&opts))?,
        None => ingest::run(&opts)?,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary.to_json())?);
    } else {
        print!("{}", summary.to_table());
    }
    Ok(())
}
