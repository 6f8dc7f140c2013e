//! Packing of the A operand (f16 weights -> f32 or bf16-pair strips) and the
//! in-place f32 -> bf16-pair conversion of packed B panels.

use crate::kernels::{convert, Isa};
use half::f16;

/// Pack rows `i0..i0+mc`, columns `k0..k0+kc` of the row-major `? x k` f16
/// matrix `w` into `mr`-tall strips (`[kc][mr]` f32, or `[ceil(kc/2)][mr]`
/// bf16 pairs), zero rows past `mc`. `rowtmp` holds `kc` values.
#[allow(clippy::too_many_arguments)]
pub fn pack_a(isa: Isa, w: &[f16], k: usize, i0: usize, mc: usize, k0: usize, kc: usize, mr: usize, pairs: bool, dst: &mut [f32], rowtmp: &mut [f32]) {
    let depth = if pairs { kc.div_ceil(2) } else { kc };
    let strips = mc.div_ceil(mr);
    for s in 0..strips {
        let out = &mut dst[s * depth * mr..(s + 1) * depth * mr];
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
            if pairs {
                for d in 0..depth {
                    let lo = rowtmp[2 * d];
                    let hi = if 2 * d + 1 < kc { rowtmp[2 * d + 1] } else { 0.0 };
                    out[d * mr + r] = convert::bf16_pair(lo, hi);
                }
            } else {
                for (d, v) in rowtmp[..kc].iter().enumerate() {
                    out[d * mr + r] = *v;
                }
            }
        }
    }
}

/// Convert a packed f32 B panel (`strips` strips of `[kc][nr]`) in place to
/// bf16 pairs (`[ceil(kc/2)][nr]` per strip, strips `ceil(kc/2) * nr` apart).
/// Every write lands at or before the positions still to be read.
pub fn to_pairs(panel: &mut [f32], kc: usize, strips: usize, nr: usize) {
    let depth = kc.div_ceil(2);
    for s in 0..strips {
        let src = s * kc * nr;
        let dst = s * depth * nr;
        for d in 0..depth {
            for j in 0..nr {
                let lo = panel[src + 2 * d * nr + j];
                let hi = if 2 * d + 1 < kc { panel[src + (2 * d + 1) * nr + j] } else { 0.0 };
                panel[dst + d * nr + j] = convert::bf16_pair(lo, hi);
            }
        }
    }
}
