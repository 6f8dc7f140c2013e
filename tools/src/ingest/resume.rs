//! Resumable ingest state, kept in the archive manifest.
//!
//! The sorted pair list is cut into chunks of `shard_size` pairs; shard k
//! holds the successful pairs of chunk k. A shard is written to a temporary
//! name and renamed when complete (`ShardWriter`), then the manifest is
//! rewritten atomically listing it: so after any interrupt the manifest
//! lists only complete shards, and a re-run skips exactly those chunks.
//! `manifest.source` records a fingerprint of the pair list and options so a
//! re-run with different input refuses to mix the two.

use anyhow::{bail, Context, Result};
use bemm_formats::archive::{Manifest, ShardEntry, MANIFEST_FILE};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Counts of one chunk (or a whole run, summed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkStats {
    /// Pairs attempted.
    pub read: u64,
    /// Pairs written.
    pub written: u64,
    /// Pairs skipped, by [`super::problem::SkipReason::key`].
    pub skipped: BTreeMap<String, u64>,
}

impl ChunkStats {
    /// Add another chunk's counts.
    pub fn add(&mut self, o: &ChunkStats) {
        self.read += o.read;
        self.written += o.written;
        for (k, v) in &o.skipped {
            *self.skipped.entry(k.clone()).or_default() += v;
        }
    }
}

/// What ingest records in `manifest.source`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestSource {
    /// Always `bemm ingest`.
    pub tool: String,
    /// `v1` or `v2`.
    pub layout: String,
    /// S2 root as given.
    pub s2: String,
    /// S1 root as given.
    pub s1: String,
    /// XXH64 (hex) of the sorted pair keys and the options that change the output.
    pub fingerprint: String,
    /// Pairs in the input list.
    pub pairs: u64,
    /// Chunks (= shards when complete).
    pub chunks: u64,
    /// Whether every chunk has its shard.
    pub complete: bool,
    /// Per-chunk counts, keyed by chunk number.
    pub chunk_stats: BTreeMap<u64, ChunkStats>,
}

impl IngestSource {
    /// Sum of all finished chunks' counts.
    pub fn totals(&self) -> ChunkStats {
        let mut t = ChunkStats::default();
        for s in self.chunk_stats.values() {
            t.add(s);
        }
        t
    }

    /// Parse from a manifest's `source`, if it was written by ingest.
    pub fn from_manifest(m: &Manifest) -> Option<Self> {
        serde_json::from_value(m.source.clone()).ok()
    }
}

/// File name of shard `k`.
pub fn shard_file(k: u64) -> String {
    format!("shard-{k:06}.bemp")
}

/// An archive being written.
pub struct ArchiveState {
    dir: PathBuf,
    /// Manifest as on disk.
    pub manifest: Manifest,
    /// Its `source`.
    pub source: IngestSource,
}

impl ArchiveState {
    /// Open `dir` for ingest: resume it when its manifest has the same
    /// fingerprint and shard size, start it when there is none, refuse otherwise.
    pub fn open(dir: &Path, shard_size: u64, fresh: IngestSource) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the archive folder", dir.display()))?;
        if dir.join(MANIFEST_FILE).exists() {
            let manifest = Manifest::load(dir).map_err(anyhow::Error::msg)?;
            let Some(source) = IngestSource::from_manifest(&manifest) else {
                bail!("{}: holds an archive not written by `bemm ingest`; choose another --out", dir.display());
            };
            if source.fingerprint != fresh.fingerprint || manifest.shard_capacity != shard_size {
                bail!(
                    "{}: holds an ingest of other input or options (fingerprint {}, shard size {}; this run: {}, {}); \
                     choose another --out or delete it",
                    dir.display(),
                    source.fingerprint,
                    manifest.shard_capacity,
                    fresh.fingerprint,
                    shard_size
                );
            }
            return Ok(ArchiveState { dir: dir.to_path_buf(), manifest, source });
        }
        let mut manifest = Manifest::new(shard_size);
        manifest.source = serde_json::to_value(&fresh)?;
        manifest.save(dir).with_context(|| format!("{}: cannot write {MANIFEST_FILE}", dir.display()))?;
        Ok(ArchiveState { dir: dir.to_path_buf(), manifest, source: fresh })
    }

    /// Whether chunk `k` already has its shard.
    pub fn is_done(&self, k: u64) -> bool {
        self.manifest.shards.iter().any(|s| s.chunk == k)
    }

    /// Path of shard `k`.
    pub fn shard_path(&self, k: u64) -> PathBuf {
        self.dir.join(shard_file(k))
    }

    /// Record a finished shard and persist the manifest.
    pub fn finish_chunk(&mut self, k: u64, count: u64, bytes: u64, stats: ChunkStats) -> Result<()> {
        self.manifest.shards.push(ShardEntry { file: shard_file(k), chunk: k, count, bytes });
        self.manifest.shards.sort_by_key(|s| s.chunk);
        self.source.chunk_stats.insert(k, stats);
        self.source.complete = self.manifest.shards.len() as u64 == self.source.chunks;
        self.save()
    }

    fn save(&mut self) -> Result<()> {
        self.manifest.source = serde_json::to_value(&self.source)?;
        self.manifest.save(&self.dir).with_context(|| format!("{}: cannot write {MANIFEST_FILE}", self.dir.display()))
    }
}

/// Fingerprint of a pair list plus the options that change the output.
pub fn fingerprint<'a>(keys: impl Iterator<Item = &'a str>, options: &str) -> String {
    let mut h = bemm_formats::checksum::Xxh64::new();
    h.update(options.as_bytes());
    for k in keys {
        h.update(b"\n");
        h.update(k.as_bytes());
    }
    format!("{:016x}", h.finish())
}
