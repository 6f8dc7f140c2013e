//! Opening a patch archive as a command's input. An archive whose ingest was
//! interrupted holds only its finished chunks: using it silently would train
//! or evaluate on a part of the data, so it is refused unless the user asks
//! for the finished part explicitly (`--allow-incomplete`).

use crate::ingest::resume::IngestSource;
use anyhow::{bail, Context, Result};
use bemm_formats::archive::PatchArchive;
use std::path::Path;

/// Open `dir` and check it is complete (see [`check_complete`]).
pub fn open(dir: &Path, allow_incomplete: bool) -> Result<PatchArchive> {
    let a = PatchArchive::open(dir).with_context(|| format!("{}: cannot open the patch archive", dir.display()))?;
    check_complete(&a, allow_incomplete)?;
    Ok(a)
}

/// Refuse an archive whose ingest has not finished every chunk, unless
/// `allow_incomplete` (then warn on stderr).
pub fn check_complete(a: &PatchArchive, allow_incomplete: bool) -> Result<()> {
    let Some(src) = IngestSource::from_manifest(a.manifest()) else { return Ok(()) };
    if src.complete {
        return Ok(());
    }
    let done = a.manifest().shards.len();
    let what = format!(
        "{}: incomplete archive: {done} of {} chunks ingested ({} patches), its `bemm ingest` was interrupted",
        a.dir().display(),
        src.chunks,
        a.len()
    );
    if allow_incomplete {
        eprintln!("warning: {what}; using the finished part as asked (--allow-incomplete)");
        return Ok(());
    }
    bail!("{what}; re-run the same `bemm ingest` command to finish it, or pass --allow-incomplete to use only the finished part")
}

/// [`check_complete`] of the archive in `dir` (for commands that open it elsewhere, e.g. training).
pub fn check_dir(dir: &Path, allow_incomplete: bool) -> Result<()> {
    open(dir, allow_incomplete).map(drop)
}
