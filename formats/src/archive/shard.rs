//! One shard file of a patch archive: header, tensors, records.

use super::record::PatchRecord;
use crate::checksum::xxh64;
use crate::error::{FormatError, Result};
use crate::pod::{align_up, declared_len, header, region, slice};
use crate::preamble::check_magic_and_version;
use bytemuck::{Pod, Zeroable};
use half::f16;

/// Magic bytes at offset 0 of a shard.
pub const SHARD_MAGIC: [u8; 8] = *b"BEMPATCH";
/// Major version of the shard layout.
pub const SHARD_VERSION_MAJOR: u16 = 1;
/// Minor version of the shard layout.
pub const SHARD_VERSION_MINOR: u16 = 0;
/// Size of the shard header; tensors start here.
pub const SHARD_HEADER_SIZE: u64 = 512;
const WHAT: &str = "patch shard";

/// The 512-byte shard header.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct ShardHeader {
    /// [`SHARD_MAGIC`].
    pub magic: [u8; 8],
    /// [`SHARD_VERSION_MAJOR`].
    pub version_major: u16,
    /// [`SHARD_VERSION_MINOR`].
    pub version_minor: u16,
    /// 512.
    pub header_size: u32,
    /// Number of patches.
    pub count: u64,
    /// Channels per patch (12).
    pub channels: u32,
    /// Patch height (120).
    pub height: u32,
    /// Patch width (120).
    pub width: u32,
    /// Element type, 1 = f16.
    pub dtype: u32,
    /// Offset of patch 0 (512).
    pub tensors_offset: u64,
    /// Bytes from one patch to the next: `channels*height*width*2` rounded up to 64.
    pub patch_stride: u64,
    /// Offset of the record table: end of tensors rounded up to 64.
    pub records_offset: u64,
    /// Band names, ASCII, NUL-padded, channel order; unused entries zero.
    pub band_names: [[u8; 8]; 16],
    /// Per-band mean used for normalisation; unused entries zero.
    pub mean: [f64; 16],
    /// Per-band std used for normalisation; unused entries zero.
    pub std: [f64; 16],
    /// XXH64 of the tensor bytes `tensors_offset .. tensors_offset + count*patch_stride`.
    pub tensors_checksum: u64,
    /// XXH64 of the record table.
    pub records_checksum: u64,
    /// Reserved, zero.
    pub reserved: [u8; 40],
    /// XXH64 of header bytes 0..504.
    pub header_checksum: u64,
}

const _: () = assert!(core::mem::size_of::<ShardHeader>() == 512);

impl ShardHeader {
    /// Bytes of one patch tensor without padding.
    pub fn patch_bytes(&self) -> u64 {
        self.channels as u64 * self.height as u64 * self.width as u64 * 2
    }
    /// Stride for the given patch geometry.
    pub fn stride_for(channels: u32, height: u32, width: u32) -> u64 {
        (channels as u64 * height as u64 * width as u64 * 2).div_ceil(64) * 64
    }
    /// Checksum of this header's bytes 0..504.
    pub fn compute_checksum(&self) -> u64 {
        xxh64(&bytemuck::bytes_of(self)[..504])
    }
    /// Band name `i` as a string.
    pub fn band_name(&self, i: usize) -> &str {
        let f = &self.band_names[i.min(15)];
        let end = f.iter().position(|b| *b == 0).unwrap_or(8);
        core::str::from_utf8(&f[..end]).unwrap_or("?")
    }
}

/// A validated, zero-copy view of one shard.
#[derive(Debug, Clone, Copy)]
pub struct Shard<'a> {
    header: ShardHeader,
    tensors: &'a [f16],
    tensor_bytes: &'a [u8],
    records: &'a [PatchRecord],
}

fn invalid(field: &'static str, value: u64, expected: &'static str) -> FormatError {
    FormatError::Invalid { what: WHAT, field, value, expected }
}

impl<'a> Shard<'a> {
    /// Parse a shard, checking the header and record checksums (cheap). The
    /// tensor checksum is checked by [`Shard::verify_tensors`] (reads every byte).
    /// `bytes` must be at least 8-byte aligned (memory maps are).
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let h: ShardHeader = header(bytes, WHAT, SHARD_MAGIC)?;
        check_magic_and_version(WHAT, h.magic, SHARD_MAGIC, h.version_major, h.version_minor, SHARD_VERSION_MAJOR)?;
        let computed = h.compute_checksum();
        if computed != h.header_checksum {
            return Err(FormatError::Checksum {
                what: WHAT,
                region: "header bytes 0..504",
                stored: h.header_checksum,
                computed,
            });
        }
        if h.header_size as u64 != SHARD_HEADER_SIZE {
            return Err(invalid("header_size", h.header_size as u64, "512"));
        }
        if h.channels == 0 || h.channels > 16 {
            return Err(invalid("channels", h.channels as u64, "1..=16"));
        }
        if h.height == 0 || h.height > 4096 || h.width == 0 || h.width > 4096 {
            return Err(invalid("height", h.height as u64, "height and width in 1..=4096"));
        }
        if h.dtype != 1 {
            return Err(invalid("dtype", h.dtype as u64, "1 (f16)"));
        }
        if h.tensors_offset != SHARD_HEADER_SIZE {
            return Err(invalid("tensors_offset", h.tensors_offset, "512"));
        }
        if h.patch_stride != ShardHeader::stride_for(h.channels, h.height, h.width) {
            return Err(invalid("patch_stride", h.patch_stride, "channels*height*width*2 rounded up to 64"));
        }
        if h.count > u32::MAX as u64 {
            return Err(invalid("count", h.count, "at most 2^32-1 patches"));
        }
        let tensors_len = h.count.checked_mul(h.patch_stride).ok_or(invalid(
            "count",
            h.count,
            "a count whose tensors fit in 64 bits",
        ))?;
        let expected_records = SHARD_HEADER_SIZE
            .checked_add(tensors_len)
            .and_then(|e| align_up(e, 64))
            .ok_or(invalid("count", h.count, "a count whose tensors fit in 64 bits"))?;
        if h.records_offset != expected_records {
            return Err(invalid("records_offset", h.records_offset, "end of tensors rounded up to 64"));
        }
        // The shard ends with the record table.
        let records_len = h.count.saturating_mul(core::mem::size_of::<PatchRecord>() as u64);
        declared_len(bytes, WHAT, h.records_offset.saturating_add(records_len))?;
        let records: &[PatchRecord] = slice(bytes, "patch records", h.records_offset, h.count)?;
        let computed = xxh64(bytemuck::cast_slice(records));
        if computed != h.records_checksum {
            return Err(FormatError::Checksum {
                what: WHAT,
                region: "record table",
                stored: h.records_checksum,
                computed,
            });
        }
        let tensor_bytes = region(bytes, "patch tensors", SHARD_HEADER_SIZE, tensors_len)?;
        let tensors: &[f16] = bytemuck::try_cast_slice(tensor_bytes).map_err(|_| FormatError::Misaligned {
            what: WHAT,
            field: "tensors",
            offset: SHARD_HEADER_SIZE,
            align: 2,
        })?;
        Ok(Shard { header: h, tensors, tensor_bytes, records })
    }

    /// Check the tensor checksum (reads every tensor byte).
    pub fn verify_tensors(&self) -> Result<()> {
        let computed = xxh64(self.tensor_bytes);
        if computed != self.header.tensors_checksum {
            return Err(FormatError::Checksum {
                what: WHAT,
                region: "tensors",
                stored: self.header.tensors_checksum,
                computed,
            });
        }
        Ok(())
    }

    /// The header.
    pub fn header(&self) -> &ShardHeader {
        &self.header
    }
    /// Number of patches.
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// Whether the shard holds no patch.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
    /// All records.
    pub fn records(&self) -> &'a [PatchRecord] {
        self.records
    }
    /// Record of patch `i`.
    pub fn record(&self, i: usize) -> Option<&'a PatchRecord> {
        self.records.get(i)
    }
    /// Patch `i` as `channels x height x width` f16 (CHW, normalised), zero-copy.
    pub fn patch(&self, i: usize) -> Option<&'a [f16]> {
        if i >= self.records.len() {
            return None;
        }
        let stride = self.header.patch_stride as usize / 2;
        let n = self.header.patch_bytes() as usize / 2;
        self.tensors.get(i * stride..i * stride + n)
    }
}
