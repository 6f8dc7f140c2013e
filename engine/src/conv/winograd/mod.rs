//! Winograd F(2x2, 3x3) convolution (Lavin & Gray, 2016) for 3x3, stride-1,
//! pad-1 layers: every 2x2 block of outputs (a "tile") comes from a 4x4
//! input patch through 16 products per channel pair instead of 36, so these
//! layers' multiply-adds fall 2.25x. For each block of tiles:
//!
//! ```text
//! V_ξ[c][t] = (Bᵀ d[c,t] B)_ξ    input transform, written as the GEMM's packed B panels
//! U_ξ[o][c] = (G g[o,c] Gᵀ)_ξ    weight transform of the f16 weights, written as packed A
//! M_ξ       = U_ξ · V_ξ          16 GEMMs (ξ = 0..16) on the registered micro-kernel
//! y[o,t]    = Aᵀ M[o,t] A        output transform, + bias, ReLU -> [Cout][batch][H*W]
//! ```
//!
//! Everything lives in the ordinary GEMM workspace; weights are transformed
//! block by block while they are packed, like the f16 widening of the
//! im2col path (no transformed copy of the model). Depth blocks are fixed
//! ([`KCW`] channels) and column blocks never change a sum, so results do
//! not depend on the batch size or the thread split. A workspace too small
//! for the smallest block (firmware panels) sends the layer to im2col.
//! The transforms add a few f32 roundings (coefficients 0, ±1, ±1/2): errors
//! stay at the f32 level of the direct path (tested against f64 in
//! `tests/layers.rs`).

use crate::act::Planes;
mod transform;

use super::{ConvJob, Geometry};
use crate::error::EngineError;
use crate::gemm::{for_row_parts, to_pairs, NextA};
use crate::kernels::widest::widest;
use crate::kernels::{MicroKernel, PackFormat, Tile};
use transform::{transform_input, transform_output, transform_weights};

/// Transformed positions per tile (4x4).
const XI: usize = 16;
/// Output rows (channels) per packed A block (a multiple of every kernel's MR).
const MCW: usize = 48;
/// Input channels per depth block (even, for bf16 pairs).
const KCW: usize = 128;
/// Tile columns per block are a multiple of this (every kernel's NR divides it).
const COL_QUANTUM: usize = 32;
/// At most this many tile columns per block.
const MAX_COLS: usize = 512;
/// Layers with fewer tiles per sample stay on im2col: their GEMMs would be
/// mostly padding at small batches (a 4x4 map has 4 tiles).
const MIN_TILES_PER_SAMPLE: usize = 16;

/// Whether a layer has the shape this algorithm computes.
pub fn applicable(g: &Geometry) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride == 1
        && g.pad == 1
        && g.oh == g.h
        && g.ow == g.w
        && g.oh.div_ceil(2) * g.ow.div_ceil(2) >= MIN_TILES_PER_SAMPLE
}

/// Fixed f32 workspace: transformed A blocks, one weight row, the input rows.
fn fixed_len(w: usize) -> usize {
    XI * MCW * KCW + KCW * 9 + XI * KCW + 12 * (2 * w.div_ceil(2) + 2)
}

/// Tile columns per block for `rows` output channels in `ws_len` f32 of
/// workspace, or `None` when even the smallest block does not fit (small
/// firmware workspaces then use im2col) or the kernel's tile does not divide
/// the blocks.
pub fn block_cols(kern: &MicroKernel, ws_len: usize, rows: usize, w: usize) -> Option<usize> {
    if !MCW.is_multiple_of(kern.mr) || !COL_QUANTUM.is_multiple_of(kern.nr) {
        return None;
    }
    let per_col = XI * KCW + XI * rows;
    let cols = ws_len.checked_sub(fixed_len(w))? / per_col;
    let cols = cols.min(MAX_COLS) / COL_QUANTUM * COL_QUANTUM;
    (cols >= COL_QUANTUM).then_some(cols)
}

/// Output rows of a layer padded block by block to whole `mr` strips (row
/// blocks are `MCW` rows, a multiple of `mr`, except the last).
fn padded_rows(cout: usize, mr: usize) -> usize {
    cout / MCW * MCW + (cout % MCW).div_ceil(mr) * mr
}

/// f32 values of every transformed weight block of a layer (`c` input
/// channels): per depth block, per row block, 16 slices of
/// `padded rows x depth`.
fn cache_len(cout: usize, mr: usize, c: usize) -> usize {
    XI * padded_rows(cout, mr) * c
}

/// Where block (ic, pc) starts in the weight cache: the earlier depth blocks
/// (all `KCW` deep), then the earlier row blocks (all `MCW` rows) of this one.
fn cache_offset(cout: usize, mr: usize, ic: usize, pc: usize, c: usize) -> usize {
    XI * (padded_rows(cout, mr) * pc + ic * KCW.min(c - pc))
}

/// The tile columns per block when every transformed weight block is kept
/// (see `conv_rows`), and the cache's length; `None` when one tile block
/// holds all `tiles` anyway (`nct` columns without the cache) or the cache
/// leaves no room for a column quantum.
fn weight_cache(
    kern: &MicroKernel,
    ws_len: usize,
    cout: usize,
    g: &Geometry,
    tiles: usize,
    nct: usize,
) -> Option<(usize, usize)> {
    if tiles <= nct {
        return None;
    }
    let len = cache_len(cout, kern.mr, g.c);
    let per_col = XI * KCW + XI * cout;
    let rest = ws_len.checked_sub(len + fixed_len(g.w) - XI * MCW * KCW)?;
    let cols = (rest / per_col).min(MAX_COLS) / COL_QUANTUM * COL_QUANTUM;
    (cols >= COL_QUANTUM).then_some((cols, len))
}

/// Convolve `job.batch` samples of `src` (geometry `job.g`, which
/// [`applicable`] accepts) into `out` (`[cout][batch][H*W]` f32). `ws` holds
/// `ways` parts of `job.ctx.blocks.workspace_len()` f32 (one per thread of
/// `job.ctx.fork`); output channels are split over the parts.
pub(crate) fn conv<P: Planes>(job: &ConvJob, src: &P, out: &mut [f32], ws: &mut [f32]) -> Result<(), EngineError> {
    if !job.operands_fit(out.len()) || job.g.kh != 3 || job.g.kw != 3 {
        return Err(EngineError::Internal("winograd operand sizes"));
    }
    let (cout, n) = (job.cout, job.n());
    let (fork, mr, part_len) = (job.ctx.fork, job.ctx.kern.mr, job.ctx.blocks.workspace_len());
    let ways = job.ctx.ways().min(cout.div_ceil(mr)).max(1);
    if ws.len() < ways * part_len {
        return Err(EngineError::Internal("winograd workspace"));
    }
    let (Some(fork), true) = (fork, ways > 1) else {
        return conv_rows(job, src, out, &mut ws[..part_len]);
    };
    for_row_parts(fork, ways, cout, mr, n, out, ws, part_len, &|r0, r1, opart, wpart| {
        conv_rows(&job.rows(r0, r1), src, opart, wpart)
    })
}

/// One thread's share: all tiles, every output channel of `job`.
fn conv_rows<P: Planes>(job: &ConvJob, src: &P, out: &mut [f32], ws: &mut [f32]) -> Result<(), EngineError> {
    let ConvJob { ctx, ref g, weight, bias, cout, relu, res, batch } = *job;
    let (kern, isa) = (ctx.kern, ctx.isa());
    let nct = block_cols(kern, ws.len(), cout, g.w).ok_or(EngineError::Internal("winograd workspace too small"))?;
    let tiles = batch * g.oh.div_ceil(2) * g.ow.div_ceil(2);
    let (mr, nr) = (kern.mr, kern.nr);
    let pairs = kern.format == PackFormat::Bf16Pairs;
    // With several tile blocks, the weight transform would be repeated for
    // each: keep all transformed blocks instead when they fit beside at
    // least one column quantum (small layers: 64 or 128 channels). Same
    // values either way, so results do not change.
    let cache = weight_cache(kern, ws.len(), cout, g, tiles, nct);
    let (nct, a_len) = match cache {
        Some((cols, len)) => (cols, len),
        None => (nct, XI * MCW * KCW),
    };
    let (apack, rest) = ws.split_at_mut(a_len);
    let (bpack, rest) = rest.split_at_mut(XI * KCW * nct);
    let (macc, rest) = rest.split_at_mut(XI * cout * nct);
    let (g9, rest) = rest.split_at_mut(KCW * 9);
    let (urow, rows) = rest.split_at_mut(XI * KCW);
    let mptr = macc.as_mut_ptr();
    for t0 in (0..tiles).step_by(nct) {
        let tn = nct.min(tiles - t0);
        let strips = tn.div_ceil(nr);
        for pc in (0..g.c).step_by(KCW) {
            let kc = KCW.min(g.c - pc);
            let depth = if pairs { kc.div_ceil(2) } else { kc };
            let panel = kc * strips * nr;
            widest(
                isa,
                #[inline(always)]
                || transform_input(isa, src, g, pc, kc, t0, tn, nr, &mut bpack[..XI * panel], rows),
            );
            if pairs {
                widest(
                    isa,
                    #[inline(always)]
                    || {
                        for p in bpack[..XI * panel].chunks_exact_mut(panel) {
                            to_pairs(p, kc, strips, nr);
                        }
                    },
                );
            }
            for ic in (0..cout).step_by(MCW) {
                let mc = MCW.min(cout - ic);
                // This block's transformed weights: its slot of the cache
                // (ξ slices of `xs` values), else the one reused block.
                let (at, xs) = match cache {
                    Some(_) => (cache_offset(cout, mr, ic, pc, g.c), mc.div_ceil(mr) * mr * kc),
                    None => (0, MCW * KCW),
                };
                let ablock = &mut apack[at..at + XI * xs];
                let transform = cache.is_none() || t0 == 0;
                if transform {
                    widest(
                        isa,
                        #[inline(always)]
                        || transform_weights(isa, weight, g.c, ic, mc, pc, kc, mr, kern.format, ablock, xs, g9, urow),
                    );
                }
                // The weight rows of the next block, fetched while these tiles
                // run (batch 1: 8x8 maps give one strip of 16 tiles per GEMM).
                let (nic, npc) = if ic + MCW < cout { (ic + MCW, pc) } else { (0, pc + KCW) };
                let nrows = if npc < g.c && (cache.is_none() || t0 == 0) { MCW.min(cout - nic) } else { 0 };
                let nkc = KCW.min(g.c.saturating_sub(npc));
                let mut next =
                    NextA::rows(weight, (nic * g.c + npc) * 9, g.c * 9, nkc * 9, nrows, XI * strips * mc.div_ceil(mr));
                let ablock = &*ablock;
                for xi in 0..XI {
                    let a = &ablock[xi * xs..(xi + 1) * xs];
                    let b = &bpack[xi * panel..(xi + 1) * panel];
                    for jr in (0..tn).step_by(nr) {
                        let bstrip = b[(jr / nr) * depth * nr..].as_ptr();
                        for ir in (0..mc).step_by(mr) {
                            let tile = Tile {
                                kc,
                                a: a[(ir / mr) * depth * mr..].as_ptr(),
                                b: bstrip,
                                // SAFETY: xi < 16, ic + ir < cout, jr < tn <= nct:
                                // inside `macc` (16 * cout * nct values).
                                c: unsafe { mptr.add((xi * cout + ic + ir) * nct + jr) },
                                ldc: nct,
                                rows: mr.min(mc - ir),
                                cols: nr.min(tn - jr),
                                accumulate: pc > 0,
                                bias: core::ptr::null(),
                                relu: false,
                                res: core::ptr::null(),
                            };
                            next.step();
                            // SAFETY: `kern` is available (a `Ctx` holds only
                            // available kernels); the A block holds ceil(mc/mr)
                            // strips of depth*mr and the B panel ceil(tn/nr) strips
                            // of depth*nr values, zero-padded; the C tile lies in
                            // `macc` with row stride nct.
                            unsafe { kern.call(&tile) };
                        }
                    }
                }
            }
        }
        widest(
            isa,
            #[inline(always)]
            || transform_output(g, macc, cout, nct, t0, tn, bias, relu, res, batch, out),
        );
    }
    Ok(())
}
