//! Bounds-checked, alignment-checked views of fixed-size records in byte slices.

use crate::error::{FormatError, Result};
use bytemuck::Pod;

/// Round `x` up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn align_up(x: u64, align: u64) -> Option<u64> {
    x.checked_add(align - 1).map(|v| v & !(align - 1))
}

/// The sub-slice `bytes[offset..offset + len]`, or a `Truncated` error.
pub(crate) fn region<'a>(bytes: &'a [u8], what: &'static str, offset: u64, len: u64) -> Result<&'a [u8]> {
    let end = offset.checked_add(len);
    match end {
        Some(end) if end <= bytes.len() as u64 => Ok(&bytes[offset as usize..end as usize]),
        _ => Err(FormatError::Truncated { what, offset, needed: len, len: bytes.len() as u64 }),
    }
}

/// Copy a `T` out of `bytes` at `offset` (no alignment needed).
pub(crate) fn read<T: Pod>(bytes: &[u8], what: &'static str, offset: u64) -> Result<T> {
    let r = region(bytes, what, offset, core::mem::size_of::<T>() as u64)?;
    Ok(bytemuck::pod_read_unaligned(r))
}

/// Borrow `count` consecutive `T` records at `offset`, zero-copy.
pub(crate) fn slice<'a, T: Pod>(bytes: &'a [u8], what: &'static str, offset: u64, count: u64) -> Result<&'a [T]> {
    let size = core::mem::size_of::<T>() as u64;
    let len = count.checked_mul(size).ok_or(FormatError::Invalid {
        what,
        field: "count",
        value: count,
        expected: "a count whose byte size fits in 64 bits",
    })?;
    let r = region(bytes, what, offset, len)?;
    bytemuck::try_cast_slice(r).map_err(|_| FormatError::Misaligned {
        what,
        field: "records",
        offset,
        align: core::mem::align_of::<T>() as u64,
    })
}
