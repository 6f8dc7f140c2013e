//! The feature archive (`.bemf`): N f16 feature vectors of dimension D with
//! the same per-patch [`PatchRecord`]s as the patch archive, for retrieval.
//!
//! Layout: a 128-byte [`FeatureHeader`], `count` rows of `row_stride` bytes
//! (D f16 values, zero padding to a multiple of 64), the record table at the
//! next multiple of 64, then an 8-byte XXH64 of everything before it.

use crate::archive::PatchRecord;
use crate::checksum::xxh64;
use crate::error::{FormatError, Result};
use crate::pod::{align_up, declared_len, header, read, region, slice};
use crate::preamble::check_magic_and_version;
use bytemuck::{Pod, Zeroable};
use half::f16;

/// Magic bytes at offset 0.
pub const FEATURE_MAGIC: [u8; 8] = *b"BEMFEATS";
/// Major version.
pub const FEATURE_VERSION_MAJOR: u16 = 1;
/// Minor version.
pub const FEATURE_VERSION_MINOR: u16 = 0;
/// Header size; vectors start here.
pub const FEATURE_HEADER_SIZE: u64 = 128;
/// Largest feature dimension.
pub const MAX_FEATURE_DIM: u32 = 1 << 16;
const WHAT: &str = "feature archive";

/// The 128-byte header.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct FeatureHeader {
    /// [`FEATURE_MAGIC`].
    pub magic: [u8; 8],
    /// [`FEATURE_VERSION_MAJOR`].
    pub version_major: u16,
    /// [`FEATURE_VERSION_MINOR`].
    pub version_minor: u16,
    /// 128.
    pub header_size: u32,
    /// Number of vectors.
    pub count: u64,
    /// Elements per vector (D).
    pub dim: u32,
    /// Element type, 1 = f16.
    pub dtype: u32,
    /// Bytes per row: `dim * 2` rounded up to 64.
    pub row_stride: u64,
    /// Offset of row 0 (128).
    pub vectors_offset: u64,
    /// Offset of the record table: end of rows rounded up to 64.
    pub records_offset: u64,
    /// Stored checksum of the model file that produced the features
    /// ([`crate::model::ModelFile::checksum`]; 0 = unknown).
    pub model_checksum: u64,
    /// What the features are, UTF-8, NUL-padded (e.g. `resnet50 feature layer 171`).
    pub description: [u8; 48],
    /// Reserved, zero.
    pub reserved: [u8; 16],
}

const _: () = assert!(core::mem::size_of::<FeatureHeader>() == 128);

impl FeatureHeader {
    /// Row stride for dimension `dim`.
    pub fn stride_for(dim: u32) -> u64 {
        (dim as u64 * 2).div_ceil(64) * 64
    }
    /// The description as a string.
    pub fn description(&self) -> &str {
        let end = self.description.iter().position(|b| *b == 0).unwrap_or(48);
        core::str::from_utf8(&self.description[..end]).unwrap_or("")
    }
}

/// A validated, zero-copy view of a feature archive.
#[derive(Debug, Clone, Copy)]
pub struct FeatureArchive<'a> {
    header: FeatureHeader,
    rows: &'a [f16],
    records: &'a [PatchRecord],
}

fn invalid(field: &'static str, value: u64, expected: &'static str) -> FormatError {
    FormatError::Invalid { what: WHAT, field, value, expected }
}

impl<'a> FeatureArchive<'a> {
    /// Parse and fully verify (checksum over all bytes). `bytes` must be 8-byte aligned.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let h: FeatureHeader = header(bytes, WHAT, FEATURE_MAGIC)?;
        check_magic_and_version(WHAT, h.magic, FEATURE_MAGIC, h.version_major, h.version_minor, FEATURE_VERSION_MAJOR)?;
        if h.header_size as u64 != FEATURE_HEADER_SIZE {
            return Err(invalid("header_size", h.header_size as u64, "128"));
        }
        if h.dim == 0 || h.dim > MAX_FEATURE_DIM {
            return Err(invalid("dim", h.dim as u64, "1..=65536"));
        }
        if h.dtype != 1 {
            return Err(invalid("dtype", h.dtype as u64, "1 (f16)"));
        }
        if h.row_stride != FeatureHeader::stride_for(h.dim) {
            return Err(invalid("row_stride", h.row_stride, "dim*2 rounded up to 64"));
        }
        if h.vectors_offset != FEATURE_HEADER_SIZE {
            return Err(invalid("vectors_offset", h.vectors_offset, "128"));
        }
        let rows_len = h.count.checked_mul(h.row_stride).ok_or(invalid("count", h.count, "a count that fits"))?;
        let rec_off = FEATURE_HEADER_SIZE.checked_add(rows_len).and_then(|e| align_up(e, 64)).ok_or(invalid(
            "count",
            h.count,
            "a count that fits",
        ))?;
        if h.records_offset != rec_off {
            return Err(invalid("records_offset", h.records_offset, "end of rows rounded up to 64"));
        }
        let rec_len = h.count.checked_mul(core::mem::size_of::<PatchRecord>() as u64).ok_or(invalid(
            "count",
            h.count,
            "a count that fits",
        ))?;
        let body_len = rec_off.checked_add(rec_len).ok_or(invalid("count", h.count, "a count that fits"))?;
        // The archive ends with the XXH64 of everything before it.
        declared_len(bytes, WHAT, body_len.saturating_add(8))?;
        let body = region(bytes, WHAT, 0, body_len)?;
        let stored: u64 = read(bytes, "feature archive checksum", body_len)?;
        let computed = xxh64(body);
        if stored != computed {
            return Err(FormatError::Checksum {
                what: WHAT,
                region: "all bytes before the checksum",
                stored,
                computed,
            });
        }
        let rows: &[f16] = slice(bytes, "feature rows", FEATURE_HEADER_SIZE, rows_len / 2)?;
        let records: &[PatchRecord] = slice(bytes, "feature records", rec_off, h.count)?;
        Ok(FeatureArchive { header: h, rows, records })
    }

    /// The header.
    pub fn header(&self) -> &FeatureHeader {
        &self.header
    }
    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// Whether there is no vector.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
    /// Feature dimension D.
    pub fn dim(&self) -> usize {
        self.header.dim as usize
    }
    /// Elements from one row to the next (D rounded up to 32).
    pub fn row_elems(&self) -> usize {
        self.header.row_stride as usize / 2
    }
    /// All rows, `len() * row_elems()` f16 values (padding zero).
    pub fn rows(&self) -> &'a [f16] {
        self.rows
    }
    /// Vector `i` (D values), zero-copy.
    pub fn vector(&self, i: usize) -> Option<&'a [f16]> {
        if i >= self.len() {
            return None;
        }
        let s = self.row_elems();
        self.rows.get(i * s..i * s + self.dim())
    }
    /// All records.
    pub fn records(&self) -> &'a [PatchRecord] {
        self.records
    }
    /// Record `i`.
    pub fn record(&self, i: usize) -> Option<&'a PatchRecord> {
        self.records.get(i)
    }
}

/// Serialise a feature archive: `vectors` holds `records.len() * dim` values, row-major.
#[cfg(feature = "alloc")]
pub fn encode_features(
    dim: u32,
    vectors: &[f16],
    records: &[PatchRecord],
    description: &str,
    model_checksum: u64,
) -> Result<alloc::vec::Vec<u8>> {
    let count = records.len() as u64;
    if dim == 0 || dim > MAX_FEATURE_DIM || vectors.len() as u64 != count * dim as u64 {
        return Err(invalid("dim", dim as u64, "1..=65536 with records.len()*dim vector values"));
    }
    let stride = FeatureHeader::stride_for(dim);
    let rec_off = (FEATURE_HEADER_SIZE + count * stride).div_ceil(64) * 64;
    let mut h: FeatureHeader = Zeroable::zeroed();
    h.magic = FEATURE_MAGIC;
    h.version_major = FEATURE_VERSION_MAJOR;
    h.version_minor = FEATURE_VERSION_MINOR;
    h.header_size = FEATURE_HEADER_SIZE as u32;
    h.count = count;
    h.dim = dim;
    h.dtype = 1;
    h.row_stride = stride;
    h.vectors_offset = FEATURE_HEADER_SIZE;
    h.records_offset = rec_off;
    h.model_checksum = model_checksum;
    let d = description.as_bytes();
    let mut n = d.len().min(48);
    while !description.is_char_boundary(n) {
        n -= 1;
    }
    h.description[..n].copy_from_slice(&d[..n]);
    let mut out = alloc::vec::Vec::with_capacity((rec_off + count * 144 + 8) as usize);
    out.extend_from_slice(bytemuck::bytes_of(&h));
    for row in vectors.chunks_exact(dim as usize) {
        let start = out.len();
        for v in row {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.resize(start + stride as usize, 0);
    }
    out.resize(rec_off as usize, 0);
    out.extend_from_slice(bytemuck::cast_slice(records));
    let sum = xxh64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    Ok(out)
}
