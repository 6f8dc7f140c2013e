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

use crate::act::{zero_run, Elem, Planes};
use crate::conv::{ConvJob, Geometry};
use crate::error::EngineError;
use crate::gemm::{for_row_parts, to_pairs, NextA};
use crate::kernels::widest::widest;
use crate::kernels::{convert, Isa, MicroKernel, PackFormat, Tile};
use half::f16;

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

/// Input transform of channels `pc..pc+kc` for tiles `t0..t0+tn` into 16
/// packed B panels (`panel = kc * ceil(tn/nr) * nr` values each, strips of
/// `[kc][nr]`, zero past `tn`). `rows` holds the padded input rows, their
/// even and odd columns, and the row-transformed even and odd columns.
///
/// Per channel and tile row, Bᵀ is applied to the four input rows across the
/// whole width and the results split into even and odd columns; B on the
/// columns of tile `tx` then reads columns `2tx..2tx+4`, i.e. even/odd
/// entries `tx` and `tx+1`, so each of the 16 outputs is one vector
/// operation over a run of tiles, stored contiguously into its panel.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn transform_input<P: Planes>(
    isa: Isa,
    src: &P,
    g: &Geometry,
    pc: usize,
    kc: usize,
    t0: usize,
    tn: usize,
    nr: usize,
    bpack: &mut [f32],
    rows: &mut [f32],
) {
    let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
    let per_sample = th * tw;
    let strips = tn.div_ceil(nr);
    let panel = kc * strips * nr;
    // Padded width: one zero column left, input, zeros to a whole tile right.
    let pw = 2 * tw + 2;
    let half = tw + 1;
    let (d, rest) = rows[..12 * pw].split_at_mut(4 * pw);
    let (split, eo) = rest.split_at_mut(4 * pw);
    let (ev, od) = eo.split_at_mut(4 * half);
    for kk in 0..kc {
        let c = pc + kk;
        let mut t = t0;
        while t < t0 + tn {
            let (b, r) = (t / per_sample, t % per_sample);
            let (ty, tx0) = (r / tw, r % tw);
            let tx1 = tw.min(tx0 + (t0 + tn - t));
            let plane = src.plane(c, b);
            for i in 0..4 {
                let row = &mut d[i * pw..(i + 1) * pw];
                let iy = (2 * ty + i) as isize - 1;
                if iy < 0 || iy >= g.h as isize {
                    zero_run(row);
                    continue;
                }
                let iy = iy as usize;
                row[0] = 0.0;
                P::E::widen(isa, &plane[iy * g.w..(iy + 1) * g.w], &mut row[1..1 + g.w]);
                zero_run(&mut row[1 + g.w..]);
            }
            // Split the rows into even and odd columns, then Bᵀ on the rows
            // (e0 = d0 - d2, e1 = d1 + d2, e2 = d2 - d1, e3 = d1 - d3) as
            // contiguous loops over each half: the row transform read every
            // other column of four rows and wrote eight arrays per step,
            // which LLVM left scalar.
            for (i, halves) in split.chunks_exact_mut(pw).enumerate() {
                let (even, odd) = halves.split_at_mut(half);
                for ((e, o), p) in even.iter_mut().zip(odd.iter_mut()).zip(d[i * pw..(i + 1) * pw].chunks_exact(2)) {
                    *e = p[0];
                    *o = p[1];
                }
            }
            for (parity, out) in [(0, &mut *ev), (1, &mut *od)] {
                let row = |i: usize| &split[i * pw + parity * half..i * pw + parity * half + half];
                let (x0, x1, x2, x3) = (row(0), row(1), row(2), row(3));
                let (e0, rest) = out.split_at_mut(half);
                let (e1, rest) = rest.split_at_mut(half);
                let (e2, e3) = rest.split_at_mut(half);
                for k in 0..half {
                    e0[k] = x0[k] - x2[k];
                    e1[k] = x1[k] + x2[k];
                    e2[k] = x2[k] - x1[k];
                    e3[k] = x1[k] - x3[k];
                }
            }
            // B on the columns, a run of tiles at a time (split at strips).
            let mut tx = tx0;
            while tx < tx1 {
                let j = t - t0 + (tx - tx0);
                let off = j % nr;
                let len = (tx1 - tx).min(nr - off);
                let at = (j / nr * kc + kk) * nr + off;
                for r in 0..4 {
                    let e0 = &ev[r * half + tx..r * half + tx + len];
                    let e1 = &ev[r * half + tx + 1..r * half + tx + 1 + len];
                    let o0 = &od[r * half + tx..r * half + tx + len];
                    let o1 = &od[r * half + tx + 1..r * half + tx + 1 + len];
                    let (p0, rest) = bpack[4 * r * panel..(4 * r + 4) * panel].split_at_mut(panel);
                    let (p1, rest) = rest.split_at_mut(panel);
                    let (p2, p3) = rest.split_at_mut(panel);
                    let (v0, v1, v2, v3) =
                        (&mut p0[at..at + len], &mut p1[at..at + len], &mut p2[at..at + len], &mut p3[at..at + len]);
                    for q in 0..len {
                        v0[q] = e0[q] - e1[q];
                        v1[q] = o0[q] + e1[q];
                        v2[q] = e1[q] - o0[q];
                        v3[q] = o0[q] - o1[q];
                    }
                }
                tx += len;
            }
            t += tx1 - tx0;
        }
        // Columns past the last tile of the last strip.
        if !tn.is_multiple_of(nr) {
            let s = strips - 1;
            for xi in 0..XI {
                let at = xi * panel + (s * kc + kk) * nr;
                zero_run(&mut bpack[at + tn % nr..at + nr]);
            }
        }
    }
}

/// Weight transform of output rows `ic..ic+mc`, channels `pc..pc+kc`: 16 A
/// blocks (one per ξ, `xs` apart) in the kernel's `format`, rows past
/// `mc` zero up to a whole strip. `g9` holds `9 * kc` values (the row's
/// widened weights, then regrouped tap by tap so the transform is vector
/// arithmetic across channels), `urow` `16 * kc`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn transform_weights(
    isa: Isa,
    weight: &[f16],
    c: usize,
    ic: usize,
    mc: usize,
    pc: usize,
    kc: usize,
    mr: usize,
    format: PackFormat,
    apack: &mut [f32],
    xs: usize,
    g9: &mut [f32],
    urow: &mut [f32],
) {
    let padded = mc.div_ceil(mr) * mr;
    let mut taps = [[0f32; KCW]; 9];
    for r in 0..padded {
        if r < mc {
            let o = ic + r;
            let w = &weight[(o * c + pc) * 9..(o * c + pc + kc) * 9];
            convert::f16_to_f32(isa, w, &mut g9[..kc * 9]);
            for (kk, g) in g9[..kc * 9].chunks_exact(9).enumerate() {
                for (j, v) in g.iter().enumerate() {
                    taps[j][kk] = *v;
                }
            }
            // G g (4 x 3): rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2 of the kernel;
            // then (G g) Gᵀ on each of those rows: p0, (p0+p1+p2)/2, (p0-p1+p2)/2, p2.
            let (u, _) = urow.split_at_mut(XI * kc);
            for q in 0..4 {
                let mut p = [[0f32; KCW]; 3];
                for (jc, pj) in p.iter_mut().enumerate() {
                    let (a, b, cc) = (&taps[jc][..kc], &taps[3 + jc][..kc], &taps[6 + jc][..kc]);
                    for k in 0..kc {
                        pj[k] = match q {
                            0 => a[k],
                            1 => 0.5 * (a[k] + b[k] + cc[k]),
                            2 => 0.5 * (a[k] - b[k] + cc[k]),
                            _ => cc[k],
                        };
                    }
                }
                let (u0, rest) = u[4 * q * kc..(4 * q + 4) * kc].split_at_mut(kc);
                let (u1, rest) = rest.split_at_mut(kc);
                let (u2, u3) = rest.split_at_mut(kc);
                for k in 0..kc {
                    let (p0, p1, p2) = (p[0][k], p[1][k], p[2][k]);
                    u0[k] = p0;
                    u1[k] = 0.5 * (p0 + p1 + p2);
                    u2[k] = 0.5 * (p0 - p1 + p2);
                    u3[k] = p2;
                }
            }
        } else {
            urow[..XI * kc].fill(0.0);
        }
        for xi in 0..XI {
            store_a_row(isa, format, &mut apack[xi * xs..(xi + 1) * xs], r, mr, kc, &urow[xi * kc..(xi + 1) * kc]);
        }
    }
}

/// Row `r` of a packed A block (the layouts `gemm::pack_a` writes).
#[inline(always)]
fn store_a_row(isa: Isa, format: PackFormat, block: &mut [f32], r: usize, mr: usize, kc: usize, v: &[f32]) {
    let (s, rr) = (r / mr, r % mr);
    match format {
        PackFormat::F32 => {
            let strip = &mut block[s * kc * mr..(s + 1) * kc * mr];
            for (d, x) in v.iter().enumerate() {
                strip[d * mr + rr] = *x;
            }
        }
        PackFormat::F32RowsA => block[s * mr * kc + rr * kc..s * mr * kc + (rr + 1) * kc].copy_from_slice(v),
        PackFormat::Bf16Pairs => {
            let depth = kc.div_ceil(2);
            convert::f32_to_bf16_pairs(
                isa,
                &v[..kc],
                &mut block[s * mr * depth + rr * depth..s * mr * depth + (rr + 1) * depth],
            );
        }
    }
}

/// Output transform of tiles `t0..t0+tn` (`macc`: `[16][cout][nct]`), bias,
/// residual `res` (`out`'s layout), ReLU, into `out` (`[cout][batch][oh*ow]`); tiles overhanging an odd
/// border write only their inside outputs. Works on runs of tiles within
/// one tile row, so the transform is vector arithmetic over the run.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn transform_output(
    g: &Geometry,
    macc: &[f32],
    cout: usize,
    nct: usize,
    t0: usize,
    tn: usize,
    bias: Option<&[f16]>,
    relu: bool,
    res: Option<&[f32]>,
    batch: usize,
    out: &mut [f32],
) {
    const RUN: usize = 64;
    let tw = g.ow.div_ceil(2);
    let per_sample = g.oh.div_ceil(2) * tw;
    let ohw = g.oh * g.ow;
    let n = batch * ohw;
    // Scratch for one run, made once: zeroing it per run was a `memset` of
    // 3 KB per output channel and tile row (5 % of the profile).
    let mut y = [[0f32; RUN]; 4];
    let mut q = [[[0f32; RUN]; 4]; 2];
    for o in 0..cout {
        let bo = bias.map_or(0.0, |b| b[o].to_f32());
        let dst = &mut out[o * n..(o + 1) * n];
        // The arithmetic runs over up to RUN consecutive tiles of the block
        // at once (across tile rows: `macc` is contiguous in tiles), the
        // scatter into output rows one tile-row segment at a time. Per
        // tile-row runs were 4-15 tiles long on the 8x8-30x30 maps, too
        // short for the vector loops.
        let mut j = 0;
        while j < tn {
            let len = RUN.min(tn - j);
            let m = |xi: usize| &macc[(xi * cout + o) * nct + j..(xi * cout + o) * nct + j + len];
            // Aᵀ on the rows (q0 = m0 + m1 + m2, q1 = m1 - m2 - m3, per
            // column s), then on the columns.
            let [q0, q1] = &mut q;
            for (s, (q0s, q1s)) in q0.iter_mut().zip(q1.iter_mut()).enumerate() {
                let (m0, m1, m2, m3) = (m(s), m(4 + s), m(8 + s), m(12 + s));
                for k in 0..len {
                    q0s[k] = m0[k] + m1[k] + m2[k];
                    q1s[k] = m1[k] - m2[k] - m3[k];
                }
            }
            for i in 0..2 {
                let qi = &q[i];
                for k in 0..len {
                    let a = qi[0][k] + qi[1][k] + qi[2][k] + bo;
                    let c = qi[1][k] - qi[2][k] - qi[3][k] + bo;
                    // With a residual, the ReLU comes after adding it, below.
                    y[2 * i][k] = if relu && res.is_none() { a.max(0.0) } else { a };
                    y[2 * i + 1][k] = if relu && res.is_none() { c.max(0.0) } else { c };
                }
            }
            let mut u = 0;
            while u < len {
                let t = t0 + j + u;
                let (b, r) = (t / per_sample, t % per_sample);
                let (ty, tx0) = (r / tw, r % tw);
                let seg = (tw - tx0).min(len - u);
                let base = b * ohw;
                for i in 0..2 {
                    let row_y = 2 * ty + i;
                    if row_y >= g.oh {
                        break;
                    }
                    let at = base + row_y * g.ow;
                    let row = &mut dst[at..at + g.ow];
                    let (ya, yb) = (&y[2 * i][u..u + seg], &y[2 * i + 1][u..u + seg]);
                    let x0 = 2 * tx0;
                    // Whole tiles interleave the two output columns; a tile
                    // overhanging an odd right border writes its left column only.
                    let full = seg.min((g.ow - x0) / 2);
                    match res {
                        None => {
                            for (k, pair) in row[x0..x0 + 2 * full].chunks_exact_mut(2).enumerate() {
                                pair[0] = ya[k];
                                pair[1] = yb[k];
                            }
                            if full < seg {
                                row[x0 + 2 * full] = ya[full];
                            }
                        }
                        Some(r) => {
                            // The residual add's own arithmetic (elementwise::add).
                            let f = |v: f32| if relu && v < 0.0 { 0.0 } else { v };
                            let rrow = &r[o * n + at..o * n + at + g.ow];
                            for (k, (pair, rp)) in row[x0..x0 + 2 * full]
                                .chunks_exact_mut(2)
                                .zip(rrow[x0..x0 + 2 * full].chunks_exact(2))
                                .enumerate()
                            {
                                pair[0] = f(ya[k] + rp[0]);
                                pair[1] = f(yb[k] + rp[1]);
                            }
                            if full < seg {
                                row[x0 + 2 * full] = f(ya[full] + rrow[x0 + 2 * full]);
                            }
                        }
                    }
                }
                u += seg;
            }
            j += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::act::Cnhw;
    use crate::kernels::widest::widest;
    use std::vec::Vec;

    use crate::lcg::values;

    /// The transforms run compiled for AVX2 ([`widest`]) and for the
    /// baseline target: the auto-vectorised loops must give the same bits.
    #[test]
    fn transforms_are_bit_identical_with_wider_vectors() {
        let wide = Isa::Avx2;
        if !wide.available() {
            return;
        }
        let kern = crate::kernels::best(true);
        for (c, h, w, cout, batch) in [(5usize, 9usize, 7usize, 13usize, 2usize), (130, 8, 8, 20, 1), (3, 15, 15, 7, 3)]
        {
            let g = Geometry { c, h, w, kh: 3, kw: 3, stride: 1, pad: 1, oh: h, ow: w };
            let data = values(c * batch * h * w, 3);
            let src = Cnhw { data: &data, batch, hw: h * w };
            let tiles = batch * h.div_ceil(2) * w.div_ceil(2);
            let (nr, kc) = (kern.nr, c.min(KCW));
            let panel = kc * tiles.div_ceil(nr) * nr;
            let mut rows = std::vec![0f32; 12 * (2 * w.div_ceil(2) + 2)];
            let (mut narrow, mut wide_out) = (std::vec![0f32; XI * panel], std::vec![0f32; XI * panel]);
            transform_input(Isa::Scalar, &src, &g, 0, kc, 0, tiles, nr, &mut narrow, &mut rows);
            widest(wide, || transform_input(wide, &src, &g, 0, kc, 0, tiles, nr, &mut wide_out, &mut rows));
            assert!(
                narrow.iter().zip(&wide_out).all(|(a, b)| a.to_bits() == b.to_bits()),
                "input transform {c}x{h}x{w}"
            );

            let weight: Vec<f16> = values(cout * c * 9, 5).into_iter().map(f16::from_f32).collect();
            let mc = cout.min(MCW);
            let (mut g9, mut urow) = (std::vec![0f32; KCW * 9], std::vec![0f32; XI * KCW]);
            let (mut a0, mut a1) = (std::vec![0f32; XI * MCW * KCW], std::vec![0f32; XI * MCW * KCW]);
            transform_weights(
                Isa::Scalar,
                &weight,
                c,
                0,
                mc,
                0,
                kc,
                kern.mr,
                kern.format,
                &mut a0,
                MCW * KCW,
                &mut g9,
                &mut urow,
            );
            widest(wide, || {
                transform_weights(
                    wide,
                    &weight,
                    c,
                    0,
                    mc,
                    0,
                    kc,
                    kern.mr,
                    kern.format,
                    &mut a1,
                    MCW * KCW,
                    &mut g9,
                    &mut urow,
                )
            });
            assert!(a0.iter().zip(&a1).all(|(a, b)| a.to_bits() == b.to_bits()), "weight transform {c}x{cout}");

            let macc = values(XI * cout * tiles, 7);
            let bias: Vec<f16> = values(cout, 9).into_iter().map(f16::from_f32).collect();
            let (mut o0, mut o1) = (std::vec![0f32; cout * batch * h * w], std::vec![0f32; cout * batch * h * w]);
            transform_output(&g, &macc, cout, tiles, 0, tiles, Some(&bias), true, None, batch, &mut o0);
            widest(wide, || {
                transform_output(&g, &macc, cout, tiles, 0, tiles, Some(&bias), true, None, batch, &mut o1)
            });
            assert!(o0.iter().zip(&o1).all(|(a, b)| a.to_bits() == b.to_bits()), "output transform {c}x{cout}");
        }
    }
}
