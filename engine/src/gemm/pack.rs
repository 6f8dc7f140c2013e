//! Packing of the A operand (f16 weights -> f32 or bf16-pair strips) and the
//! in-place f32 -> bf16-pair conversion of packed B panels.

use crate::kernels::{convert, Isa, PackFormat};
use half::f16;

/// Pack rows `i0..i0+mc`, columns `k0..k0+kc` of the row-major `? x k` f16
/// matrix `w` into `mr`-tall strips of `format` (`[kc][mr]` f32,
/// `[mr][kc]` f32, or row-major `[mr][ceil(kc/2)]` bf16 pairs), zero rows
/// past `mc`.
/// `rowtmp` holds `kc` values.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn pack_a(
    isa: Isa,
    w: &[f16],
    k: usize,
    i0: usize,
    mc: usize,
    k0: usize,
    kc: usize,
    mr: usize,
    format: PackFormat,
    dst: &mut [f32],
    rowtmp: &mut [f32],
) {
    let pairs = format == PackFormat::Bf16Pairs;
    let depth = if pairs { kc.div_ceil(2) } else { kc };
    let strips = mc.div_ceil(mr);
    for s in 0..strips {
        let out = &mut dst[s * depth * mr..(s + 1) * depth * mr];
        if format == PackFormat::Bf16Pairs {
            // Row-major pair strips: a row's bf16 values in order are its
            // pairs (one conversion pass with AVX512-BF16).
            for r in 0..mr {
                let row = s * mr + r;
                let o = &mut out[r * depth..(r + 1) * depth];
                if row >= mc {
                    o.fill(0.0);
                    continue;
                }
                convert::f16_to_bf16_pairs(isa, &w[(i0 + row) * k + k0..(i0 + row) * k + k0 + kc], o, rowtmp);
            }
            continue;
        }
        if format == PackFormat::F32RowsA {
            // Row-major strips: each row is one contiguous widening, which
            // costs a fraction of the transposing scatter below (measured).
            for r in 0..mr {
                let row = s * mr + r;
                let o = &mut out[r * kc..(r + 1) * kc];
                if row < mc {
                    convert::f16_to_f32(isa, &w[(i0 + row) * k + k0..(i0 + row) * k + k0 + kc], o);
                } else {
                    o.fill(0.0);
                }
            }
            continue;
        }
        for r in 0..mr {
            let row = s * mr + r;
            if row >= mc {
                for d in 0..depth {
                    out[d * mr + r] = 0.0;
                }
                continue;
            }
            let src = &w[(i0 + row) * k + k0..(i0 + row) * k + k0 + kc];
            convert::f16_to_f32(isa, src, &mut rowtmp[..kc]);
            for (d, v) in rowtmp[..kc].iter().enumerate() {
                out[d * mr + r] = *v;
            }
        }
    }
}

/// Convert a packed f32 B panel (`strips` strips of `[kc][nr]`) in place to
/// bf16 pairs (`[ceil(kc/2)][nr]` per strip, strips `ceil(kc/2) * nr` apart).
/// Every write lands at or before the positions still to be read. Inlined
/// so that callers can compile it for wider vectors ([`crate::kernels::widest`]).
#[inline(always)]
pub(crate) fn to_pairs(panel: &mut [f32], kc: usize, strips: usize, nr: usize) {
    let depth = kc.div_ceil(2);
    // One row of pairs is built in `tmp` and copied down, so the rounding
    // loop reads and writes disjoint slices (vectorised); `nr` is at most 64
    // for every registered kernel, larger tiles take the element loop.
    let mut tmp = [0f32; 64];
    for s in 0..strips {
        let src = s * kc * nr;
        let dst = s * depth * nr;
        for d in 0..depth {
            if nr <= tmp.len() {
                let lo = &panel[src + 2 * d * nr..src + (2 * d + 1) * nr];
                if 2 * d + 1 < kc {
                    let hi = &panel[src + (2 * d + 1) * nr..src + (2 * d + 2) * nr];
                    for ((t, l), h) in tmp[..nr].iter_mut().zip(lo).zip(hi) {
                        *t = convert::bf16_pair(*l, *h);
                    }
                } else {
                    for (t, l) in tmp[..nr].iter_mut().zip(lo) {
                        *t = convert::bf16_pair(*l, 0.0);
                    }
                }
                crate::act::copy_run(&tmp[..nr], &mut panel[dst + d * nr..dst + (d + 1) * nr]);
                continue;
            }
            for j in 0..nr {
                let lo = panel[src + 2 * d * nr + j];
                let hi = if 2 * d + 1 < kc { panel[src + (2 * d + 1) * nr + j] } else { 0.0 };
                panel[dst + d * nr + j] = convert::bf16_pair(lo, hi);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    use crate::lcg::values;

    #[test]
    fn row_major_a_strips_hold_the_same_matrix() {
        // Odd kc and a partial last strip: every edge of the three formats.
        let (m, k, mr, kc, k0): (usize, usize, usize, usize, usize) = (29, 41, 12, 37, 3);
        let w: Vec<f16> = values(m * k, 1).into_iter().map(f16::from_f32).collect();
        let depth = kc.div_ceil(2);
        let strips = m.div_ceil(mr);
        let (mut t, mut r, mut p) =
            (vec![0f32; strips * mr * kc], vec![0f32; strips * mr * kc], vec![0f32; strips * mr * depth]);
        let mut tmp = vec![0f32; kc];
        pack_a(Isa::Scalar, &w, k, 0, m, k0, kc, mr, PackFormat::F32, &mut t, &mut tmp);
        pack_a(Isa::Scalar, &w, k, 0, m, k0, kc, mr, PackFormat::F32RowsA, &mut r, &mut tmp);
        pack_a(Isa::Scalar, &w, k, 0, m, k0, kc, mr, PackFormat::Bf16Pairs, &mut p, &mut tmp);
        for s in 0..strips {
            for row in 0..mr {
                for d in 0..kc {
                    let want = if s * mr + row < m { w[(s * mr + row) * k + k0 + d].to_f32() } else { 0.0 };
                    assert_eq!(t[(s * kc + d) * mr + row], want);
                    assert_eq!(r[s * mr * kc + row * kc + d], want);
                    let slot = p[s * mr * depth + row * depth + d / 2].to_bits();
                    let half = if d % 2 == 0 { slot & 0xFFFF } else { slot >> 16 };
                    assert_eq!(half as u16, convert::f32_to_bf16_bits(want));
                }
                if kc % 2 == 1 {
                    assert_eq!(p[s * mr * depth + row * depth + depth - 1].to_bits() >> 16, 0, "odd K pads with zero");
                }
            }
        }
    }
}
