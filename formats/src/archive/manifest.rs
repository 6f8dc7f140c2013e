//! `manifest.json`: the list of finished shards of a patch archive.

use crate::bands::{BAND_MEAN, BAND_NAMES, BAND_STD, CHANNELS, SIZE};
use crate::fsutil::write_atomic;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the manifest inside an archive directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// One finished shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// File name relative to the archive directory.
    pub file: String,
    /// Chunk number of the writer that made it (ingest: which slice of its sorted input).
    pub chunk: u64,
    /// Patches in the shard.
    pub count: u64,
    /// File size in bytes.
    pub bytes: u64,
}

/// The archive manifest. Only shards listed here belong to the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `bemm-patch-archive`.
    pub format: String,
    /// Manifest version (1).
    pub version: u32,
    /// Channels per patch.
    pub channels: u32,
    /// Patch height.
    pub height: u32,
    /// Patch width.
    pub width: u32,
    /// Band names, channel order.
    pub bands: Vec<String>,
    /// Per-band normalisation mean.
    pub mean: Vec<f64>,
    /// Per-band normalisation std.
    pub std: Vec<f64>,
    /// Most patches per shard.
    pub shard_capacity: u64,
    /// Finished shards, in chunk order.
    pub shards: Vec<ShardEntry>,
    /// Free-form description of how the archive was made (writer-defined).
    #[serde(default)]
    pub source: serde_json::Value,
}

impl Manifest {
    /// An empty manifest for the project's 12x120x120 stack.
    pub fn new(shard_capacity: u64) -> Self {
        Manifest {
            format: "bemm-patch-archive".into(),
            version: 1,
            channels: CHANNELS as u32,
            height: SIZE as u32,
            width: SIZE as u32,
            bands: BAND_NAMES.iter().map(|s| s.to_string()).collect(),
            mean: BAND_MEAN.to_vec(),
            std: BAND_STD.to_vec(),
            shard_capacity,
            shards: Vec::new(),
            source: serde_json::Value::Null,
        }
    }

    /// Read `DIR/manifest.json`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let m: Manifest =
            serde_json::from_str(&text).map_err(|e| format!("{}: not a valid manifest: {e}", path.display()))?;
        if m.format != "bemm-patch-archive" {
            return Err(format!(
                "{}: field `format` is {:?}, expected \"bemm-patch-archive\"",
                path.display(),
                m.format
            ));
        }
        if m.version != 1 {
            return Err(format!("{}: field `version` is {}, expected 1", path.display(), m.version));
        }
        m.check().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(m)
    }

    /// Field checks that `load` applies after decoding (the same bounds as the
    /// shard header, so sizes derived from the manifest cannot overflow, and
    /// shard file names that cannot leave the archive directory).
    pub fn check(&self) -> Result<(), String> {
        if self.channels == 0 || self.channels > 16 {
            return Err(format!("field `channels` is {}, expected 1..=16", self.channels));
        }
        if self.height == 0 || self.height > 4096 || self.width == 0 || self.width > 4096 {
            return Err(format!(
                "fields `height`, `width` are {}, {}, expected 1..=4096 each",
                self.height, self.width
            ));
        }
        let c = self.channels as usize;
        if self.bands.len() != c || self.mean.len() != c || self.std.len() != c {
            return Err(format!(
                "fields `bands`, `mean`, `std` have {}, {}, {} entries, expected `channels` = {c} each",
                self.bands.len(),
                self.mean.len(),
                self.std.len()
            ));
        }
        for (k, e) in self.shards.iter().enumerate() {
            let plain = !e.file.is_empty()
                && !e.file.contains(['/', '\\'])
                && e.file != "."
                && e.file != ".."
                && !e.file.ends_with(".tmp");
            if !plain {
                return Err(format!("field `shards[{k}].file` is {:?}, expected a plain file name inside the archive directory, not ending in .tmp", e.file));
            }
            // A shard listed twice would double its patches everywhere.
            if let Some(j) = self.shards[..k].iter().position(|p| p.file == e.file || p.chunk == e.chunk) {
                let (what, value) = if self.shards[j].file == e.file {
                    ("file", e.file.clone())
                } else {
                    ("chunk", e.chunk.to_string())
                };
                return Err(format!(
                    "field `shards[{k}].{what}` is {value:?}, already listed as `shards[{j}]`; each shard must be listed once"
                ));
            }
        }
        Ok(())
    }

    /// Write `DIR/manifest.json` atomically.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        write_atomic(&dir.join(MANIFEST_FILE), text.as_bytes())
    }

    /// Total patches in finished shards (saturating: a manifest is untrusted input).
    pub fn total(&self) -> u64 {
        self.shards.iter().fold(0u64, |t, s| t.saturating_add(s.count))
    }
}
