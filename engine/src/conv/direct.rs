//! Direct convolution over stride phases, for wide maps with few input
//! channels: ResNet's 7x7/2 stem over the 12-band input.
//!
//! Im2col packs a `K x N` panel for such a layer (K = 12*7*7 = 588, N =
//! 3,600 per sample) that is read once per 12-row strip of output
//! channels: packing cost as much as a third of the multiply-adds. Here the
//! input is split once per sample into its `s x s` stride phases (`P[a][b]
//! [y][x] = in[y*s + a - pad][x*s + b - pad]`, zero outside), so that for
//! tap `(c, ky, kx)` the inputs of 32 neighbouring outputs of one row are
//! 32 consecutive values of phase `(ky % s, kx % s)` of channel `c`, at
//! row `oy + ky / s`, column `ox + kx / s`. The micro-kernel reads them in
//! place through a table of per-tap offsets ([`crate::kernels::MicroKernel::taps`]).
//!
//! With a bf16 kernel (`Precision::Fast`) the phases hold bf16 pairs of
//! neighbouring input channels `(2j, 2j+1)` in each f32 slot and A the
//! weights paired the same way, so a step of the kernel is one tap of two
//! channels.
//!
//! Layout of the workspace: the phases (`groups * s * s` planes of `ph x
//! pw` slots, `groups` = channels or channel pairs), then the whole layer's
//! A (row-major strips over the full depth, in one K block: one summation
//! chain per output), then the f32 bias.

use super::{ConvJob, Geometry};
use crate::act::{Elem, Planes};
use crate::error::EngineError;
use crate::gemm::pack_a;
use crate::kernels::widest::widest;
use crate::kernels::{convert, Isa, PackFormat, Tile};
use half::f16;

/// Columns per kernel call (the taps kernels are 32 wide).
const COLS: usize = 32;
/// Most taps (`c * kh * kw`): the tap table lives on the stack, and a
/// 12-row A strip of this depth (48 KB) still stays in L1.
pub const MAX_TAPS: usize = 1024;
/// Rows of A per strip of the taps kernels.
const MR: usize = 12;

/// Whether a layer suits direct convolution with f32 or bf16-pair (`pairs`)
/// steps: windows of at least 3x3, at most [`MAX_TAPS`] steps, and output
/// rows that fill the kernel's 32-column calls to 85 % or more (30 or 60
/// columns do; 15 or 20 do not: on ResNet50's 15x15 maps direct was slower
/// than Winograd and im2col, measured). Like every algorithm choice it
/// depends on the layer alone, never on the batch.
pub fn applicable(g: &Geometry, pairs: bool) -> bool {
    let groups = if pairs { g.c.div_ceil(2) } else { g.c };
    g.kh * g.kw >= 9
        && groups * g.kh * g.kw <= MAX_TAPS
        && g.ow * 100 >= g.ow.div_ceil(COLS) * COLS * 85
        && g.w <= MAX_W
}

/// Widest input row (the row buffer of [`split_phases`] is on the stack).
const MAX_W: usize = 2048;

/// Sizes of the phase planes.
#[derive(Debug, Clone, Copy)]
struct Phases {
    /// Rows per phase plane.
    ph: usize,
    /// Row pitch: output columns rounded up to whole kernel calls, plus the
    /// window's reach, so every read of a call stays inside its row.
    pw: usize,
}

impl Phases {
    fn of(g: &Geometry) -> Phases {
        // (Zero strides and windows are refused by `conv`; here they only
        // must not divide by zero.)
        let s = g.stride.max(1);
        Phases { ph: g.oh + g.kh.saturating_sub(1) / s, pw: g.ow.div_ceil(COLS) * COLS + g.kw.saturating_sub(1) / s }
    }

    fn plane(&self) -> usize {
        self.ph * self.pw
    }

    /// Slots of all phases of one sample for `groups` channels or pairs.
    fn len(&self, g: &Geometry, groups: usize) -> usize {
        groups * g.stride * g.stride * self.plane()
    }
}

/// f32 of workspace direct convolution needs for `m` output channels (with
/// f32 kernels; bf16 pairs need less).
pub fn workspace_len(g: &Geometry, m: usize) -> usize {
    let k = g.c * g.kh * g.kw;
    Phases::of(g).len(g, g.c) + m.div_ceil(MR) * MR * k + m
}

/// `out[o][(b, y, x)]` for `job.batch` samples of `src` (`[m][batch][oh*ow]`,
/// row stride `batch*oh*ow`), like [`super::conv`]; `ws` holds at
/// least [`workspace_len`] values and `job.ctx.kern.taps` is `Some`. Output
/// rows are split over `job.ctx.fork`; every output is computed the same way
/// whatever the split.
pub(crate) fn conv<P: Planes>(job: &ConvJob, src: &P, out: &mut [f32], ws: &mut [f32]) -> Result<(), EngineError> {
    let ConvJob { ctx, ref g, weight, bias, cout: m, relu, res, batch } = *job;
    let (kern, isa, fork) = (ctx.kern, ctx.isa(), ctx.fork);
    let Some(taps_kernel) = kern.taps else {
        return Err(EngineError::Internal("direct convolution needs a taps kernel"));
    };
    if g.stride == 0 || g.kh == 0 || g.kw == 0 {
        return Err(EngineError::Internal("direct convolution geometry"));
    }
    let pairs = kern.format == PackFormat::Bf16Pairs;
    let groups = if pairs { g.c.div_ceil(2) } else { g.c };
    let khw = g.kh * g.kw;
    // Kernel steps: taps of one channel, or of a channel pair.
    let steps = groups * khw;
    let ohw = g.oh * g.ow;
    let ldc = batch * ohw;
    let ph = Phases::of(g);
    let strips = m.div_ceil(MR);
    // Tap offsets are u32 and the row buffers hold MAX_W values.
    if steps > MAX_TAPS
        || g.w > MAX_W
        || ph.len(g, groups) > u32::MAX as usize
        || !job.operands_fit(out.len())
        || ws.len() < workspace_len(g, m)
    {
        return Err(EngineError::Internal("direct convolution operand sizes"));
    }
    let (planes, rest) = ws.split_at_mut(ph.len(g, groups));
    let (apack, rest) = rest.split_at_mut(strips * MR * steps);
    let biasf = &mut rest[..m];
    pack_weights(isa, weight, g.c, khw, m, pairs, apack);
    if let Some(b) = bias {
        convert::f16_to_f32(isa, &b[..m], biasf);
    }
    let mut taps = [0u32; MAX_TAPS];
    let s = g.stride;
    for j in 0..groups {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let plane = (j * s + ky % s) * s + kx % s;
                taps[j * khw + ky * g.kw + kx] = (plane * ph.plane() + (ky / s) * ph.pw + kx / s) as u32;
            }
        }
    }
    let taps = &taps[..steps];
    let optr = out.as_mut_ptr() as usize;
    for b in 0..batch {
        widest(
            isa,
            #[inline(always)]
            || split_phases(isa, g, &ph, src, b, pairs, planes),
        );
        let planes: &[f32] = planes;
        let apack: &[f32] = apack;
        let biasf: &[f32] = biasf;
        // Output rows `y0..y1` of sample `b`, every channel.
        let rows = |y0: usize, y1: usize| {
            for strip in 0..strips {
                let r0 = strip * MR;
                for oy in y0..y1 {
                    for ox in (0..g.ow).step_by(COLS) {
                        let at = r0 * ldc + b * ohw + oy * g.ow + ox;
                        let tile = Tile {
                            kc: if pairs { 2 * steps } else { steps },
                            a: apack[strip * MR * steps..].as_ptr(),
                            b: planes[oy * ph.pw + ox..].as_ptr(),
                            // SAFETY: `at` is row r0, column (b, oy, ox) of `out`
                            // (checked: m rows of ldc); parts write disjoint rows oy.
                            c: unsafe { (optr as *mut f32).add(at) },
                            ldc,
                            rows: MR.min(m - r0),
                            cols: COLS.min(g.ow - ox),
                            accumulate: false,
                            bias: if bias.is_some() { biasf[r0..].as_ptr() } else { core::ptr::null() },
                            relu,
                            res: res.map_or(core::ptr::null(), |r| r[at..].as_ptr()),
                        };
                        // SAFETY: the kernel's ISA is available (a `Ctx` holds only
                        // checked kernels); A holds 12 * steps slots per strip; tap
                        // offsets stay inside the phases: plane + (ky/s) * pw + kx/s +
                        // oy * pw + ox + 32 <= plane + (ph - 1) * pw + pw, since
                        // oy + ky/s < ph and ox + 32 + kx/s <= pw (pw rounds ow up to
                        // 32 and adds (kw-1)/s); C holds rows x cols at `at`.
                        unsafe { taps_kernel(&tile, taps) };
                    }
                }
            }
        };
        let ways = ctx.ways().min(g.oh);
        match fork {
            Some(f) if ways > 1 => {
                let per = g.oh.div_ceil(ways);
                f.run(ways, &|t| rows((t * per).min(g.oh), ((t + 1) * per).min(g.oh)));
            }
            _ => rows(0, g.oh),
        }
    }
    Ok(())
}

/// The weights (`m x (c, ky, kx)` f16) as row-major strips of `MR` rows
/// over the kernel's steps: f32 per tap, or bf16 pairs of channels
/// `(2j, 2j+1)` per tap (zero past the last channel), zero rows past `m`.
fn pack_weights(isa: Isa, weight: &[f16], c: usize, khw: usize, m: usize, pairs: bool, apack: &mut [f32]) {
    let k = c * khw;
    if !pairs {
        widest(
            isa,
            #[inline(always)]
            || pack_a(isa, weight, k, 0, m, 0, k, MR, PackFormat::F32RowsA, apack, &mut []),
        );
        return;
    }
    let steps = c.div_ceil(2) * khw;
    for (o, row) in apack.chunks_exact_mut(steps).enumerate() {
        if o >= m {
            row.fill(0.0);
            continue;
        }
        let w = &weight[o * k..(o + 1) * k];
        for (step, slot) in row.iter_mut().enumerate() {
            let (j, t) = (step / khw, step % khw);
            let lo = w[2 * j * khw + t].to_f32();
            let hi = if 2 * j + 1 < c { w[(2 * j + 1) * khw + t].to_f32() } else { 0.0 };
            *slot = convert::bf16_pair(lo, hi);
        }
    }
}

/// Sample `b`'s input split into stride phases (see the module doc), as
/// f32 or as bf16 pairs of channels.
#[inline(always)]
fn split_phases<P: Planes>(isa: Isa, g: &Geometry, ph: &Phases, src: &P, b: usize, pairs: bool, planes: &mut [f32]) {
    let s = g.stride;
    let mut row = [0f32; MAX_W];
    let mut odd = [0f32; MAX_W];
    let groups = if pairs { g.c.div_ceil(2) } else { g.c };
    for j in 0..groups {
        // Channel j, or channels 2j and 2j+1 (the latter may not exist).
        let (c0, c1) = if pairs { (2 * j, (2 * j + 1 < g.c).then_some(2 * j + 1)) } else { (j, None) };
        for a in 0..s {
            for y in 0..ph.ph {
                // Input row y*s + a - pad, or padding.
                let iy = (y * s + a) as isize - g.pad as isize;
                let valid = iy >= 0 && (iy as usize) < g.h;
                if valid {
                    let iy = iy as usize;
                    P::E::widen(isa, &src.plane(c0, b)[iy * g.w..(iy + 1) * g.w], &mut row[..g.w]);
                    match c1 {
                        Some(c1) => P::E::widen(isa, &src.plane(c1, b)[iy * g.w..(iy + 1) * g.w], &mut odd[..g.w]),
                        None => odd[..g.w].fill(0.0),
                    }
                }
                for bx in 0..s {
                    let o = ((j * s + a) * s + bx) * ph.plane() + y * ph.pw;
                    let dst = &mut planes[o..o + ph.pw];
                    if !valid {
                        dst.fill(0.0);
                        continue;
                    }
                    for (x, d) in dst.iter_mut().enumerate() {
                        let ix = (x * s + bx) as isize - g.pad as isize;
                        let inside = ix >= 0 && (ix as usize) < g.w;
                        *d = match (inside, pairs) {
                            (false, _) => 0.0,
                            (true, false) => row[ix as usize],
                            (true, true) => convert::bf16_pair(row[ix as usize], odd[ix as usize]),
                        };
                    }
                }
            }
        }
    }
}
