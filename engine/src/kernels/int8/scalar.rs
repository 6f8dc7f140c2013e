//! The portable int8 reference kernel.

use super::QTile;

/// `C (+)= A * B` for one tile of any `MR` x `NR` packing, one product at a
/// time: the reference every int8 kernel must match bit for bit.
///
/// # Safety
/// As [`super::QKernel::run`] for a kernel of `MR` rows and `NR` columns.
pub(crate) unsafe fn qtile<const MR: usize, const NR: usize>(t: &QTile) {
    let mut acc = [[0i32; NR]; MR];
    for g in 0..t.k4 {
        for (r, row) in acc.iter_mut().enumerate() {
            for (c, sum) in row.iter_mut().enumerate() {
                for s in 0..4 {
                    // SAFETY: the caller guarantees `a` covers k4*MR*4 and `b` k4*NR*4 values.
                    let (a, b) = unsafe { (*t.a.add((g * MR + r) * 4 + s), *t.b.add((g * NR + c) * 4 + s)) };
                    *sum += i32::from(a) * i32::from(b);
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate().take(t.rows) {
        for (c, &v) in row.iter().enumerate().take(t.cols) {
            // SAFETY: the caller guarantees C covers rows x cols values ldc apart.
            let dst = unsafe { &mut *t.c.add(r * t.ldc + c) };
            *dst = if t.accumulate { dst.wrapping_add(v) } else { v };
        }
    }
}

/// [`qtile`] as the registered `scalar-4x8` kernel.
///
/// # Safety
/// As [`super::QKernel::run`] with `MR` = 4, `NR` = 8.
pub(crate) unsafe fn qtile_4x8(t: &QTile) {
    // SAFETY: forwarded.
    unsafe { qtile::<4, 8>(t) }
}
