//! Streaming, atomic shard writer.

use super::record::PatchRecord;
use super::shard::{ShardHeader, SHARD_HEADER_SIZE, SHARD_MAGIC, SHARD_VERSION_MAJOR, SHARD_VERSION_MINOR};
use crate::checksum::Xxh64;
use crate::fsutil::{sync_dir, temp_path};
use half::f16;
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Writes one shard to `NAME.tmp`; [`ShardWriter::finish`] completes the
/// header, fsyncs and renames to `NAME`. Dropping it unfinished leaves only the
/// `.tmp` file, which no reader opens.
pub struct ShardWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    header: ShardHeader,
    records: Vec<PatchRecord>,
    tensors_hash: Xxh64,
    pad: Vec<u8>,
    buf: Vec<u8>,
}

impl ShardWriter {
    /// Start a shard at `path` for patches of the given geometry; `bands`,
    /// `mean` and `std` describe the normalisation (at most 16 bands).
    pub fn create(path: &Path, bands: &[&str], mean: &[f64], std: &[f64], height: u32, width: u32) -> io::Result<Self> {
        let channels = bands.len();
        if channels == 0 || channels > 16 || mean.len() != channels || std.len() != channels {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "1..=16 bands with one mean and std each"));
        }
        if height == 0 || height > 4096 || width == 0 || width > 4096 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("patch size {height}x{width}: height and width must be in 1..=4096"),
            ));
        }
        let mut header: ShardHeader = bytemuck::Zeroable::zeroed();
        header.magic = SHARD_MAGIC;
        header.version_major = SHARD_VERSION_MAJOR;
        header.version_minor = SHARD_VERSION_MINOR;
        header.header_size = SHARD_HEADER_SIZE as u32;
        header.channels = channels as u32;
        header.height = height;
        header.width = width;
        header.dtype = 1;
        header.tensors_offset = SHARD_HEADER_SIZE;
        header.patch_stride = ShardHeader::stride_for(channels as u32, height, width);
        for (i, b) in bands.iter().enumerate() {
            let n = b.len().min(8);
            header.band_names[i][..n].copy_from_slice(&b.as_bytes()[..n]);
            header.mean[i] = mean[i];
            header.std[i] = std[i];
        }
        let tmp = temp_path(path);
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        out.write_all(&[0u8; SHARD_HEADER_SIZE as usize])?;
        let pad = vec![0u8; (header.patch_stride - header.patch_bytes()) as usize];
        Ok(ShardWriter {
            path: path.to_path_buf(),
            tmp,
            out,
            header,
            records: Vec::new(),
            tensors_hash: Xxh64::new(),
            pad,
            buf: Vec::new(),
        })
    }

    /// Number of patches pushed so far.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Append one patch (CHW f16, exactly channels*height*width elements).
    pub fn push(&mut self, record: &PatchRecord, patch: &[f16]) -> io::Result<()> {
        if patch.len() as u64 * 2 != self.header.patch_bytes() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("patch has {} elements, the shard expects {}", patch.len(), self.header.patch_bytes() / 2),
            ));
        }
        self.buf.clear();
        for v in patch {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.buf.extend_from_slice(&self.pad);
        self.tensors_hash.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.records.push(*record);
        Ok(())
    }

    /// Finish: write records and header, fsync, rename into place. Returns the
    /// number of patches and the file size.
    pub fn finish(mut self) -> io::Result<(u64, u64)> {
        let count = self.records.len() as u64;
        let end = SHARD_HEADER_SIZE + count * self.header.patch_stride;
        let records_offset = end.div_ceil(64) * 64;
        self.out.write_all(&vec![0u8; (records_offset - end) as usize])?;
        let rec_bytes: &[u8] = bytemuck::cast_slice(&self.records);
        self.out.write_all(rec_bytes)?;
        self.header.count = count;
        self.header.records_offset = records_offset;
        self.header.tensors_checksum = self.tensors_hash.finish();
        self.header.records_checksum = crate::checksum::xxh64(rec_bytes);
        self.header.header_checksum = self.header.compute_checksum();
        let mut f = self.out.into_inner().map_err(|e| e.into_error())?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(bytemuck::bytes_of(&self.header))?;
        f.sync_all()?;
        let bytes = records_offset + rec_bytes.len() as u64;
        drop(f);
        fs::rename(&self.tmp, &self.path)?;
        sync_dir(&self.path);
        Ok((count, bytes))
    }
}
