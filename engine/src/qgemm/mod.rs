//! Int8 GEMM of the `QConv` layers: `C[M,N] = dequant(A[M,K] * B[K,N])`
//! with A the layer's i8 weights (row-major, as mapped), B u8 activations
//! (an im2col view of the layer's input, quantized once per layer,
//! [`pack::quantize`]), and C row-major f32 with row stride `ldc`.
//!
//! The loop nest is the float GEMM's (`crate::gemm`): `nc` columns x `4*kc`
//! K steps of B are packed once into `NR`-wide strips (`[k4][NR][4]` u8),
//! `MC` rows of A into `MR`-tall strips in the kernel's
//! [`QPackA`] layout (`[k4][MR][4]` i8 or i16; a `Rows` kernel reads whole
//! strips of the weights in place, unpacked), and the int8 micro-kernel
//! ([`crate::kernels::int8`]) sweeps the tiles, summing exactly in i32
//! straight into C's memory. The packed panels use the same workspace
//! (`Blocks::workspace_len` f32, read as bytes) as the float GEMM: a K
//! block of `4*kc` bytes fills what `kc` f32 would (`2*kc` steps for a
//! `WideGroups` kernel, whose A values take 2 bytes).
//!
//! Epilogue, fused after a tile's last K block while it is in cache
//! ([`Epilogue`]): `acc - zp * rowsum(w[o]) + bias[o]` (i64), times
//! `input_scale * weight_scale[o]` (f32), plus a fused residual, then ReLU.
//! The sums are exact, so every kernel and every thread split gives
//! bit-identical outputs.

pub(crate) mod pack;

use crate::ctx::{Blocks, Ctx, MC};
use crate::error::EngineError;
use crate::kernels::int8::{QPackA, QTile};
use crate::kernels::widest::widest;

/// A source of the u8 B operand (`K x N`), packed on demand.
pub(crate) trait QPackB {
    /// Pack rows `k0..k0+kc` and columns `n0..n0+nc` into `nr`-column
    /// strips of `[ceil(kc/4)][nr][4]` bytes (strip `s` starts at
    /// `s * ceil(kc/4) * nr * 4`); rows past `kc` and columns past `nc` are
    /// zero. `dst` holds at least `ceil(nc/nr) * ceil(kc/4) * nr * 4` bytes.
    fn pack(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [u8]);
}

/// Problem size and the per-row dequantization of the result.
#[derive(Clone, Copy)]
pub(crate) struct QSpec<'e> {
    /// Rows of A and C (output channels).
    pub m: usize,
    /// Columns of B and C.
    pub n: usize,
    /// Depth (`in_c * kh * kw`, at most 2^16: validated by the format).
    pub k: usize,
    /// Row stride of C (and of the residual).
    pub ldc: usize,
    /// `m * k` i8, row-major.
    pub w: &'e [i8],
    /// The epilogue.
    pub epi: Epilogue<'e>,
}

/// What turns a row's exact i32 sums into the layer's f32 output:
/// `out = input_scale * weight_scales[o] * (acc - zp * rowsum[o] + bias[o])
/// (+ res) (ReLU)`, with `rowsum[o]` the sum of row `o` of the weights
/// (taken per row block before its epilogue, and only for a nonzero `zp`).
#[derive(Clone, Copy)]
pub(crate) struct Epilogue<'e> {
    /// The input's scale.
    pub input_scale: f32,
    /// Per output channel, `m` values.
    pub weight_scales: &'e [f32],
    /// i32 bias in units of `input_scale * weight_scales[o]`, `m` values,
    /// or `None` for zero.
    pub bias: Option<&'e [i32]>,
    /// The input's zero point.
    pub zp: i32,
    /// A residual of C's shape and row stride, added after the dequantization.
    pub res: Option<&'e [f32]>,
    /// ReLU at the end.
    pub relu: bool,
}

impl<'e> QSpec<'e> {
    /// Rows `r0..r1` of the problem (their weights, epilogue and residual).
    fn rows(&self, r0: usize, r1: usize) -> QSpec<'e> {
        let e = &self.epi;
        QSpec {
            m: r1 - r0,
            w: &self.w[r0 * self.k..r1 * self.k],
            epi: Epilogue {
                weight_scales: &e.weight_scales[r0..r1],
                bias: e.bias.map(|b| &b[r0..r1]),
                res: e.res.map(|r| &r[(r0 * self.ldc).min(r.len())..]),
                ..*e
            },
            ..*self
        }
    }

    /// Whether the operands hold the problem and `c_len` values hold C.
    fn fits(&self, c_len: usize) -> bool {
        let need = (self.m.saturating_sub(1)).checked_mul(self.ldc).and_then(|x| x.checked_add(self.n));
        let short = |len: usize| need.is_none_or(|need| len < need);
        let e = &self.epi;
        self.w.len() >= self.m * self.k
            && e.weight_scales.len() >= self.m
            && e.bias.is_none_or(|b| b.len() >= self.m)
            && e.res.is_none_or(|r| !short(r.len()))
            && !short(c_len)
            && self.ldc >= self.n
    }
}

/// [`qgemm`] split over `ctx`'s fork like the float GEMM: by columns when
/// `n >= m`, else by rows; each element of C is computed by one part exactly
/// as [`qgemm`] would. `ws` holds `ctx.ways()` parts of
/// `ctx.blocks.workspace_len()` values.
pub(crate) fn qgemm_split(
    ctx: &Ctx<'_>,
    spec: QSpec<'_>,
    b: &(impl QPackB + Sync),
    c: &mut [f32],
    ws: &mut [f32],
) -> Result<(), EngineError> {
    let kern = ctx.qkern;
    let by_cols = spec.n >= spec.m;
    let parts = if by_cols { spec.n.div_ceil(kern.nr) } else { spec.m.div_ceil(kern.mr) };
    let ways = ctx.ways().min(parts).max(1);
    let wlen = ctx.blocks.workspace_len();
    let (Some(fork), true) = (ctx.fork, ways > 1) else {
        return qgemm(ctx, spec, b, c, ws);
    };
    if !spec.fits(c.len()) || ws.len() < ways * wlen {
        return Err(EngineError::Internal("qgemm operand sizes"));
    }
    let alone = ctx.alone();
    if !by_cols {
        return crate::gemm::for_row_parts(fork, ways, spec.m, kern.mr, spec.ldc, c, ws, wlen, &|r0, r1, cp, wp| {
            qgemm(&alone, spec.rows(r0, r1), b, cp, wp)
        });
    }
    crate::gemm::for_col_parts(fork, ways, spec.n, kern.nr, c, ws, wlen, &|n0, n1, cpart, clen, wpart| {
        let part = QSpec {
            n: n1 - n0,
            epi: Epilogue { res: spec.epi.res.map(|r| &r[n0.min(r.len())..]), ..spec.epi },
            ..spec
        };
        // SAFETY: C (checked above by `fits`: m rows of ldc with n columns)
        // is mutably borrowed for the whole call; this part touches only
        // columns n0..n1, which no other part does (`for_col_parts`).
        unsafe { qgemm_raw(&alone, part, &Cols { inner: b, off: n0 }, cpart, clen, wpart) }
    })
}

/// Columns `off..` of a [`QPackB`] source, as columns `0..`.
struct Cols<'b, B> {
    inner: &'b B,
    off: usize,
}

impl<B: QPackB> QPackB for Cols<'_, B> {
    #[inline(always)]
    fn pack(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [u8]) {
        self.inner.pack(k0, kc, self.off + n0, nc, nr, dst);
    }
}

/// The int8 GEMM on one thread with `ctx`'s int8 kernel. `ws` needs
/// `ctx.blocks.workspace_len()` values.
pub(crate) fn qgemm(
    ctx: &Ctx<'_>,
    spec: QSpec<'_>,
    b: &impl QPackB,
    c: &mut [f32],
    ws: &mut [f32],
) -> Result<(), EngineError> {
    // SAFETY: `c` is exclusively borrowed for the call and holds c.len() values.
    unsafe { qgemm_raw(ctx, spec, b, c.as_mut_ptr(), c.len(), ws) }
}

/// K steps of one block, and the bytes of the packed A block and of the
/// packed B block, in a workspace of `blocks`: `4 * kc` steps of bytes fill
/// what `kc` f32 would; a `WideGroups` kernel's A values take 2 bytes, so its
/// blocks are `2 * kc` steps deep. The `MC` weight row sums of a row block
/// follow the B block (in the `kc + MC` f32 past the float GEMM's panels).
fn panel_bytes(blocks: Blocks, wide: bool) -> (usize, usize, usize) {
    let kq = if wide { 2 * blocks.kc() } else { 4 * blocks.kc() };
    (kq, MC * 4 * blocks.kc(), 4 * blocks.kc() * blocks.nc())
}

/// [`qgemm`] over C given as a pointer and length.
///
/// # Safety
/// `c` must be valid for reads and writes of `c_len` f32, and the elements
/// this call touches (rows `0..m`, columns `0..n`, rows `ldc` apart) must not
/// be accessed by anyone else during the call.
unsafe fn qgemm_raw(
    ctx: &Ctx<'_>,
    spec: QSpec<'_>,
    b: &impl QPackB,
    c: *mut f32,
    c_len: usize,
    ws: &mut [f32],
) -> Result<(), EngineError> {
    let QSpec { m, n, k, ldc, w, epi } = spec;
    let (kern, blocks) = (ctx.qkern, ctx.blocks);
    if m == 0 || n == 0 || k == 0 {
        return Ok(());
    }
    if !spec.fits(c_len) || ws.len() < blocks.workspace_len() {
        return Err(EngineError::Internal("qgemm operand sizes"));
    }
    let wide = kern.a == QPackA::WideGroups;
    let (kq, a_bytes, b_bytes) = panel_bytes(blocks, wide);
    let nq = blocks.nc();
    if !MC.is_multiple_of(kern.mr) || !nq.is_multiple_of(kern.nr) {
        return Err(EngineError::Internal("int8 kernel tile does not divide the block sizes"));
    }
    // Bytes per packed A value.
    let esz = if wide { 2 } else { 1 };
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(ws);
    let (apack, rest) = bytes.split_at_mut(a_bytes);
    let (bpack, rest) = rest.split_at_mut(b_bytes);
    let sums: &mut [i32] = bytemuck::cast_slice_mut(&mut rest[..4 * MC]);
    let (mr, nr) = (kern.mr, kern.nr);
    let isa = ctx.isa();
    for jc in (0..n).step_by(nq) {
        let nc = nq.min(n - jc);
        for pc in (0..k).step_by(kq) {
            let kc = kq.min(k - pc);
            let k4 = kc.div_ceil(4);
            let (first, last) = (pc == 0, pc + kc == k);
            widest(
                isa,
                #[inline(always)]
                || b.pack(pc, kc, jc, nc, nr, bpack),
            );
            // The tiles and their epilogue compiled for the widest ISA
            // (the epilogue's loops vectorize).
            widest(
                isa,
                #[inline(always)]
                || {
                    for ic in (0..m).step_by(MC) {
                        let mc = MC.min(m - ic);
                        pack::pack_a(w, k, ic, mc, pc, kc, mr, kern.a, apack);
                        if last {
                            // The zero-point term's weight sums, for this
                            // block's rows; none needed with a zero point of
                            // 0 (every input after a ReLU).
                            for (r, s) in sums[..mc].iter_mut().enumerate() {
                                let row = &w[(ic + r) * k..(ic + r + 1) * k];
                                *s = if epi.zp == 0 { 0 } else { row.iter().map(|&x| i32::from(x)).sum() };
                            }
                        }
                        // Columns of this block whose tiles are done but whose
                        // epilogue has not run yet: it runs over FINISH_COLS
                        // columns of all `mc` rows at once, so its per-row
                        // setup is paid once per 64 values, not once per 8.
                        let mut unfinished = 0;
                        for jr in (0..nc).step_by(nr) {
                            for ir in (0..mc).step_by(mr) {
                                let (rows, cols) = (mr.min(mc - ir), nr.min(nc - jr));
                                // SAFETY: (ic+ir) < m and jc+jr < n: inside C as checked by `fits`.
                                let ct = unsafe { c.add((ic + ir) * ldc + jc + jr) };
                                let (a, lda) = if pack::in_place(kern.a, mc, kc, mr, ir / mr) {
                                    (w[(ic + ir) * k + pc..].as_ptr(), k)
                                } else {
                                    (apack[(ir / mr) * k4 * mr * 4 * esz..].as_ptr() as *const i8, 4 * k4)
                                };
                                let tile = QTile {
                                    k4,
                                    a,
                                    lda,
                                    b: bpack[(jr / nr) * k4 * nr * 4..].as_ptr(),
                                    c: ct as *mut i32,
                                    ldc,
                                    rows,
                                    cols,
                                    accumulate: !first,
                                };
                                // SAFETY: `kern` is available (a `Ctx` holds only
                                // kernels from the checked constructors, and it fits
                                // the weights: `Ctx::for_int8_weights`); the panels
                                // hold k4 groups of mr / nr strips, zero-padded, or A
                                // is read in place: mr whole rows of the weights, k
                                // apart, with 4 * k4 = kc values from pc; C holds
                                // rows x cols at the tile origin.
                                unsafe { (kern.run)(&tile) };
                            }
                            let done = (jr + nr).min(nc);
                            if last && (done - unfinished >= FINISH_COLS || done == nc) {
                                let at = ic * ldc + jc + unfinished;
                                // SAFETY: rows ic..ic+mc, columns jc+unfinished..jc+done
                                // of C: inside C (`fits`), every tile of them complete,
                                // holding i32 sums; the residual has C's shape.
                                unsafe { finish(&epi, ic, &sums[..mc], c.add(at), ldc, done - unfinished, at, k) };
                                unfinished = done;
                            }
                        }
                    }
                },
            );
        }
    }
    Ok(())
}

/// Columns the epilogue runs over at once (a multiple of every kernel's
/// `NR`): `MC` rows of them (24 KB of i32) are still in L1 from the tiles.
const FINISH_COLS: usize = 64;

/// The epilogue on one finished block of tiles: rows `row0..` of the
/// problem, one per value of `rowsum` (their weight sums), whose C values
/// (at `c`, rows `ldc` apart) hold i32 sums; `at` is the block's offset in
/// C (and in the residual).
///
/// # Safety
/// `c` must be valid for `rowsum.len()` rows of `cols` values `ldc` apart,
/// holding i32 sums; a residual must hold C's shape.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn finish(
    e: &Epilogue<'_>,
    row0: usize,
    rowsum: &[i32],
    c: *mut f32,
    ldc: usize,
    cols: usize,
    at: usize,
    k: usize,
) {
    // |acc| <= 32640 * k; when `acc + add` cannot leave i32 the sum is
    // formed in i32 (vectorized), else in i64. Both are the exact integer,
    // converted to f32 once, so the results are the same.
    let bound = 32640i64 * k as i64;
    for (r, &sum) in rowsum.iter().enumerate() {
        let o = row0 + r;
        let add = e.bias.map_or(0, |b| i64::from(b[o])) - i64::from(e.zp) * i64::from(sum);
        let scale = e.input_scale * e.weight_scales[o];
        // SAFETY: row r of the tile lies inside C (caller).
        let crow = unsafe { c.add(r * ldc) };
        let res = e.res.map(|res| &res[at + r * ldc..at + r * ldc + cols]);
        if add.abs() + bound <= i64::from(i32::MAX) {
            // SAFETY: the row's `cols` values lie inside C and hold i32 sums;
            // nothing else accesses them during the call (caller).
            let row = unsafe { core::slice::from_raw_parts_mut(crow as *mut i32, cols) };
            let add = add as i32;
            match res {
                Some(res) => {
                    for (x, &rv) in row.iter_mut().zip(res) {
                        let mut v = (*x + add) as f32 * scale + rv;
                        if e.relu && v < 0.0 {
                            v = 0.0;
                        }
                        *x = v.to_bits() as i32;
                    }
                }
                None => {
                    for x in row.iter_mut() {
                        let mut v = (*x + add) as f32 * scale;
                        if e.relu && v < 0.0 {
                            v = 0.0;
                        }
                        *x = v.to_bits() as i32;
                    }
                }
            }
            continue;
        }
        for j in 0..cols {
            // SAFETY: j < cols; the value was written as i32 by the kernel.
            let p = unsafe { crow.add(j) };
            // SAFETY: as above.
            let acc = unsafe { (p as *const i32).read() };
            let mut v = (i64::from(acc) + add) as f32 * scale;
            if let Some(res) = res {
                v += res[j];
            }
            if e.relu && v < 0.0 {
                v = 0.0;
            }
            // SAFETY: as above.
            unsafe { p.write(v) };
        }
    }
}
