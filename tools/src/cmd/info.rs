//! `bemm info`: summary of an existing patch archive, model file or feature archive.

use crate::ingest::summary::Summary;
use anyhow::Context;
use bemm_formats::archive::PatchArchive;
use std::path::PathBuf;

/// Arguments of `bemm info`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Patch archive folder, model file (`.bemm`) or feature archive (`.bemf`).
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
    if a.archive.is_file() {
        // Model files and feature archives verify their checksum on every read.
        return crate::file_info::describe(&a.archive, a.json);
    }
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
