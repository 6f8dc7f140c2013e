//! The Winograd F(2x2, 3x3) transforms: the input transform into the
//! GEMM's packed B panels, the weight transform into packed A blocks and the
//! output transform with bias, residual and ReLU (see [`super`]).

use super::{Geometry, KCW, XI};
use crate::act::{zero_run, Elem, Planes};
use crate::kernels::{convert, Isa, PackFormat};
use half::f16;

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
pub(super) fn transform_input<P: Planes>(
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
pub(super) fn transform_weights(
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
pub(super) fn transform_output(
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
    use super::super::MCW;
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
