//! The output folder of `bemm synth`: empty, or an earlier twin replaced on
//! request. Writing a twin over another would merge their pairs (the stale
//! ones then ingest as `unassigned`), so a non-empty folder is refused unless
//! it holds only what a twin consists of and `--force` asks to replace it.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Folders and files a twin (v1 or v2) writes directly under its output folder.
const TWIN_ENTRIES: [&str; 12] = [
    super::S2_DIR,
    super::S1_DIR,
    super::V1_LISTS[0],
    super::V1_LISTS[1],
    super::V1_LISTS[2],
    super::V1_LISTS[3],
    super::V1_LISTS[4],
    super::V1_LISTS[5],
    super::v2::S2_DIR,
    super::v2::S1_DIR,
    super::v2::METADATA,
    super::v2::SNOW_CLOUD_METADATA,
];

/// Make `out` ready for a twin: accept a missing or empty folder; with
/// `force`, empty a folder that holds only an earlier twin; refuse anything else.
pub fn prepare(out: &Path, force: bool) -> Result<()> {
    let entries: Vec<String> = match std::fs::read_dir(out) {
        Ok(rd) => rd
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("{}: cannot list", out.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("--out {}: cannot list", out.display())),
    };
    if entries.is_empty() {
        return Ok(());
    }
    let foreign: Vec<&String> = entries.iter().filter(|n| !TWIN_ENTRIES.contains(&n.as_str())).collect();
    let is_twin = foreign.is_empty()
        && (entries.iter().any(|n| n == super::S2_DIR) || entries.iter().any(|n| n == super::v2::S2_DIR));
    if !is_twin {
        bail!(
            "--out {}: the folder is not empty and does not hold a twin (found {:?}); choose an empty or new folder",
            out.display(),
            foreign.iter().take(5).collect::<Vec<_>>()
        );
    }
    if !force {
        bail!(
            "--out {}: already holds a twin; writing another into it would mix the two. \
             Pass --force to replace it, or choose an empty folder",
            out.display()
        );
    }
    for n in &entries {
        let p = out.join(n);
        let r = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        r.with_context(|| format!("{}: cannot remove the earlier twin's entry", p.display()))?;
    }
    Ok(())
}
