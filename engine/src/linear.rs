//! Fully connected layer over the input flattened per sample in CHW order,
//! as a GEMM with `M = out`, `K = C*H*W`, `N = batch`: the output is the
//! `[out][batch]` activation of an `out x 1 x 1` layer.

use crate::act::{Elem, Planes};
use crate::ctx::Ctx;
use crate::error::EngineError;
use crate::gemm::{self, GemmSpec, PackB, WeightsF16};
use bemm_formats::model::LayerRecord;

/// The flattened input: row `k = (c, p)` with `p < hw`, column `n` = sample.
pub(crate) struct Flatten<'p, P: Planes> {
    /// Input planes.
    pub src: &'p P,
    /// Pixels per plane.
    pub hw: usize,
}

impl<P: Planes> PackB for Flatten<'_, P> {
    fn pack(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [f32]) {
        let strips = nc.div_ceil(nr);
        for s in 0..strips {
            for j in 0..nr {
                let n = s * nr + j;
                if n >= nc {
                    for kk in 0..kc {
                        dst[(s * kc + kk) * nr + j] = 0.0;
                    }
                    continue;
                }
                let mut kk = 0;
                while kk < kc {
                    let (c, p) = ((k0 + kk) / self.hw, (k0 + kk) % self.hw);
                    let plane = self.src.plane(c, n0 + n);
                    let run = (self.hw - p).min(kc - kk);
                    for (t, v) in plane[p..p + run].iter().enumerate() {
                        dst[(s * kc + kk + t) * nr + j] = v.f32();
                    }
                    kk += run;
                }
            }
        }
    }
}

/// `out[o][b] = sum_k W[o][k] x_b[k] + bias[o]` (optional ReLU) for layer
/// `l` (`out_c` outputs from `in_c` = C*H*W inputs), weights `a`
/// (`out_c x in_c` f16), over `batch` samples of `x` into `out` (`[out_c][batch]`).
pub(crate) fn linear<P: Planes>(
    ctx: &Ctx<'_>,
    l: &LayerRecord,
    a: WeightsF16<'_>,
    x: &Flatten<'_, P>,
    batch: usize,
    out: &mut [f32],
    ws: &mut [f32],
) -> Result<(), EngineError> {
    let spec = GemmSpec { m: l.out_c as usize, n: batch, k: l.in_c as usize, ldc: batch, relu: l.relu(), res: None };
    gemm::gemm_split(ctx, spec, a, x, out, ws)
}
