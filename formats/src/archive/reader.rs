//! Memory-mapped reading of a whole patch archive.

use super::manifest::Manifest;
use super::record::{PatchRecord, Split};
use super::shard::{Shard, ShardHeader};
use crate::error::FormatError;
use half::f16;
use memmap2::Mmap;
use std::fs::File;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Failure to open an archive, naming the file.
#[derive(Debug, Error)]
pub enum ArchiveError {
    /// An I/O error on a file.
    // The cause is part of the message and deliberately not a `source`:
    // error chains (anyhow's `{:#}`) would print it twice.
    #[error("{path}: {cause}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        cause: std::io::Error,
    },
    /// A shard that does not parse.
    #[error("{path}: {cause}")]
    Format {
        /// File.
        path: PathBuf,
        /// Cause.
        cause: FormatError,
    },
    /// A bad or inconsistent manifest.
    #[error("{0}")]
    Manifest(String),
}

struct MappedShard {
    map: Mmap,
    header: ShardHeader,
}

/// A patch archive opened read-only: every listed shard memory-mapped and
/// validated (header and record checksums). Patch `i` across all shards is
/// reachable in O(1) as a zero-copy `&[f16]`.
pub struct PatchArchive {
    dir: PathBuf,
    manifest: Manifest,
    shards: Vec<MappedShard>,
    /// `starts[k]` = global index of shard k's first patch; last = total.
    starts: Vec<usize>,
}

impl PatchArchive {
    /// Open `dir` (its `manifest.json` and the shards it lists).
    pub fn open(dir: &Path) -> Result<Self, ArchiveError> {
        let manifest = Manifest::load(dir).map_err(ArchiveError::Manifest)?;
        let mut shards = Vec::with_capacity(manifest.shards.len());
        let mut starts = vec![0usize];
        for e in &manifest.shards {
            let path = dir.join(&e.file);
            let file = File::open(&path).map_err(|cause| ArchiveError::Io { path: path.clone(), cause })?;
            // SAFETY: the archive's shards are immutable once renamed into place
            // (writers never modify a finished shard); a concurrent external
            // truncation could still fault, as with any mmap-based reader.
            let map = unsafe { Mmap::map(&file) }.map_err(|cause| ArchiveError::Io { path: path.clone(), cause })?;
            let shard = Shard::parse(&map).map_err(|cause| ArchiveError::Format { path: path.clone(), cause })?;
            let h = *shard.header();
            if (h.channels, h.height, h.width) != (manifest.channels, manifest.height, manifest.width)
                || h.count != e.count
            {
                return Err(ArchiveError::Manifest(format!(
                    "{}: shard holds {} patches of {}x{}x{}, the manifest says {} of {}x{}x{}",
                    path.display(),
                    h.count,
                    h.channels,
                    h.height,
                    h.width,
                    e.count,
                    manifest.channels,
                    manifest.height,
                    manifest.width
                )));
            }
            // The normalisation is stored in each shard so a shard is
            // self-describing; it must be the one the manifest declares.
            for c in 0..h.channels as usize {
                let name = manifest.bands[c].as_bytes();
                let mut name8 = [0u8; 8];
                name8[..name.len().min(8)].copy_from_slice(&name[..name.len().min(8)]);
                // Relative tolerance: a hand-edited manifest may print fewer digits.
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
                if h.band_names[c] != name8 || !close(h.mean[c], manifest.mean[c]) || !close(h.std[c], manifest.std[c])
                {
                    return Err(ArchiveError::Manifest(format!(
                        "{}: channel {c} is {:?} normalised with mean {} std {}, the manifest says {:?} with mean {} std {}",
                        path.display(),
                        h.band_name(c),
                        h.mean[c],
                        h.std[c],
                        manifest.bands[c],
                        manifest.mean[c],
                        manifest.std[c]
                    )));
                }
            }
            starts.push(starts.last().copied().unwrap_or(0) + h.count as usize);
            shards.push(MappedShard { map, header: h });
        }
        Ok(PatchArchive { dir: dir.to_path_buf(), manifest, shards, starts })
    }

    /// The archive directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// Total patches.
    pub fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }
    /// Whether the archive is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Elements of one patch tensor (`channels * height * width`).
    pub fn patch_len(&self) -> usize {
        // Bounded by `Manifest::check` (16 x 4096 x 4096), so this cannot overflow.
        self.manifest.channels as usize * self.manifest.height as usize * self.manifest.width as usize
    }

    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len() {
            return None;
        }
        let k = self.starts.partition_point(|&s| s <= i) - 1;
        Some((k, i - self.starts[k]))
    }

    /// Patch `i` (CHW f16, normalised), zero-copy.
    pub fn patch(&self, i: usize) -> Option<&[f16]> {
        let (k, j) = self.locate(i)?;
        let s = &self.shards[k];
        let stride = s.header.patch_stride as usize;
        let start = s.header.tensors_offset as usize + j * stride;
        let bytes = s.map.get(start..start + s.header.patch_bytes() as usize)?;
        bytemuck::try_cast_slice(bytes).ok()
    }

    /// Record of patch `i`.
    pub fn record(&self, i: usize) -> Option<&PatchRecord> {
        let (k, j) = self.locate(i)?;
        let s = &self.shards[k];
        let start = s.header.records_offset as usize + j * core::mem::size_of::<PatchRecord>();
        let bytes = s.map.get(start..start + core::mem::size_of::<PatchRecord>())?;
        bytemuck::try_from_bytes(bytes).ok()
    }

    /// Iterate over all records in archive order.
    pub fn records(&self) -> impl Iterator<Item = &PatchRecord> + '_ {
        (0..self.len()).filter_map(move |i| self.record(i))
    }

    /// Indices of the patches of `split` (all patches for `None`), in archive order.
    pub fn indices(&self, split: Option<Split>) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| match (split, self.record(i)) {
                (None, Some(_)) => true,
                (Some(s), Some(r)) => r.split() == s,
                _ => false,
            })
            .collect()
    }

    /// Index of the patch whose S2 or S1 name is `name` (linear scan).
    pub fn find(&self, name: &str) -> Option<usize> {
        (0..self.len()).find(|&i| self.record(i).is_some_and(|r| r.s2() == name || r.s1() == name))
    }

    /// Verify every shard's tensor checksum (reads the whole archive).
    pub fn verify(&self) -> Result<(), ArchiveError> {
        for (k, e) in self.manifest.shards.iter().enumerate() {
            Shard::parse(&self.shards[k].map)
                .and_then(|s| s.verify_tensors())
                .map_err(|cause| ArchiveError::Format { path: self.dir.join(&e.file), cause })?;
        }
        Ok(())
    }
}
