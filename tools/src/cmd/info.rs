//! `bemm info`: summary of an existing patch archive.

use crate::ingest::summary::Summary;
use anyhow::Context;
use bemm_formats::archive::PatchArchive;
use std::path::PathBuf;

/// Arguments of `bemm info`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Patch archive folder.
    pub archive: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also verify every shard's tensor checksum (reads the whole archive).
    #[arg(long)]
    pub verify: bool,
}

/// Run `bemm info`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let archive = PatchArchive::open(&a.archive)
        .with_context(|| format!("{}: cannot open the patch archive", a.archive.display()))?;
    if a.verify {
        archive.verify()?;
    }
    let s = Summary::of(&archive);
    if a.json {
        let mut v = s.to_json();
        v["verified"] = serde_json::json!(a.verify);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", s.to_table());
        if a.verify {
            println!("checksums verified");
        }
    }
    Ok(())
}
