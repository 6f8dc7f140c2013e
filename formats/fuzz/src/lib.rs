//! Shared helpers of the fuzz targets: aligned copies of the input and
//! checksum "fixers" so the fuzzer gets past the checksums to the field
//! validation behind them (random bytes almost never carry a valid XXH64).

use bemm_formats::checksum::xxh64;

/// Copy `data` into 64-byte-aligned storage (as a memory map would be) and
/// return the storage; view it with [`bytes`].
pub fn aligned(data: &[u8]) -> (Vec<[u64; 8]>, usize) {
    let mut v = vec![[0u64; 8]; data.len().div_ceil(64)];
    bytemuck::cast_slice_mut::<[u64; 8], u8>(&mut v)[..data.len()].copy_from_slice(data);
    (v, data.len())
}

/// The bytes of an [`aligned`] copy.
pub fn bytes(a: &(Vec<[u64; 8]>, usize)) -> &[u8] {
    &bytemuck::cast_slice::<[u64; 8], u8>(&a.0)[..a.1]
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    b.get(off..off + 8).map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
}

/// Model file: rewrite the trailing XXH64 (at `file_len - 8`) to match.
pub fn fix_model(b: &mut [u8]) {
    let Some(file_len) = u64_at(b, 56) else { return };
    if file_len < 72 || file_len > b.len() as u64 {
        return;
    }
    let end = file_len as usize - 8;
    let sum = xxh64(&b[..end]);
    b[end..end + 8].copy_from_slice(&sum.to_le_bytes());
}

/// Patch shard: rewrite the record checksum (header bytes 456..464, over the
/// record table when it lies inside the input), the tensor checksum (448..456)
/// and the header checksum (504..512).
pub fn fix_shard(b: &mut [u8]) {
    if b.len() < 512 {
        return;
    }
    let count = u64_at(b, 16).unwrap_or(0);
    let stride = u64_at(b, 48).unwrap_or(0);
    let rec_off = u64_at(b, 56).unwrap_or(0);
    if let Some(rec_end) = count.checked_mul(144).and_then(|n| n.checked_add(rec_off)) {
        if rec_end <= b.len() as u64 {
            let s = xxh64(&b[rec_off as usize..rec_end as usize]);
            b[456..464].copy_from_slice(&s.to_le_bytes());
        }
    }
    if let Some(t_end) = count.checked_mul(stride).and_then(|n| n.checked_add(512)) {
        if t_end <= b.len() as u64 {
            let s = xxh64(&b[512..t_end as usize]);
            b[448..456].copy_from_slice(&s.to_le_bytes());
        }
    }
    let s = xxh64(&b[..504]);
    b[504..512].copy_from_slice(&s.to_le_bytes());
}

/// Feature archive: rewrite the trailing XXH64 where the header says it is.
pub fn fix_features(b: &mut [u8]) {
    let (Some(count), Some(rec_off)) = (u64_at(b, 16), u64_at(b, 48)) else { return };
    let Some(end) = count.checked_mul(144).and_then(|n| n.checked_add(rec_off)) else { return };
    if end.checked_add(8).is_some_and(|e| e <= b.len() as u64) {
        let e = end as usize;
        let s = xxh64(&b[..e]);
        b[e..e + 8].copy_from_slice(&s.to_le_bytes());
    }
}
