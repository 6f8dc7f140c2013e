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

/// Copy a file's fixed header `T` from the start of `bytes`. An input
/// shorter than the header is [`FormatError::TooShort`], unless its first
/// eight bytes already show another kind of file ([`FormatError::BadMagic`],
/// the more useful message).
pub(crate) fn header<T: Pod>(bytes: &[u8], what: &'static str, magic: [u8; 8]) -> Result<T> {
    let size = core::mem::size_of::<T>();
    if bytes.len() < size {
        if let Some(found) = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            if found != magic {
                return Err(FormatError::BadMagic { what, expected: magic, found });
            }
        }
        return Err(FormatError::TooShort { what, len: bytes.len() as u64, needed: size as u64 });
    }
    read(bytes, what, 0)
}

/// `Ok` when the input holds the `needed` bytes its header declares, else
/// [`FormatError::TooShort`].
pub(crate) fn declared_len(bytes: &[u8], what: &'static str, needed: u64) -> Result<()> {
    if (bytes.len() as u64) < needed {
        return Err(FormatError::TooShort { what, len: bytes.len() as u64, needed });
    }
    Ok(())
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
