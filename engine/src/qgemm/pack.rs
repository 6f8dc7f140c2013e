//! Quantizing activations to u8 and packing the int8 GEMM's operands.

use super::QPackB;
use crate::act::{Elem, Planes};
use crate::conv::Geometry;
use crate::kernels::int8::QPackA;
use crate::kernels::Isa;

/// Widest `NR` of any int8 kernel (the im2col row buffers' size).
pub(crate) const MAX_NR: usize = 32;

/// Values widened at a time when quantizing an f16 plane.
const RUN: usize = 256;

/// Quantize `channels` planes of `batch` samples from `src` into `dst`
/// (`[channels][batch][hw]` u8): `q = clamp(x / scale + zp, 0, 255)`
/// rounded half up, computed as `x * (1 / scale) + zp` (a NaN gives 0).
/// Done once per layer, so the im2col packing moves bytes only. f32 planes
/// are read in place, f16 ones widened a run at a time. Inlined: callers run
/// it under `widest`, where the loop vectorizes.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn quantize<P: Planes>(
    isa: Isa,
    src: &P,
    channels: usize,
    batch: usize,
    hw: usize,
    scale: f32,
    zp: u8,
    dst: &mut [u8],
) {
    let (inv, zp) = (1.0 / scale, zp as f32);
    let mut tmp = [0f32; RUN];
    for c in 0..channels {
        for b in 0..batch {
            let plane = &src.plane(c, b)[..hw];
            let out = &mut dst[(c * batch + b) * hw..(c * batch + b + 1) * hw];
            if let Some(plane) = P::E::as_f32(plane) {
                quantize_run(plane, inv, zp, out);
                continue;
            }
            for (s, d) in plane.chunks(RUN).zip(out.chunks_mut(RUN)) {
                let t = &mut tmp[..s.len()];
                P::E::widen(isa, s, t);
                quantize_run(t, inv, zp, d);
            }
        }
    }
}

/// `dst[i] = clamp(src[i] * inv + zp, 0, 255)` rounded half up; 0 for NaN.
#[inline(always)]
fn quantize_run(src: &[f32], inv: f32, zp: f32, dst: &mut [u8]) {
    for (q, &x) in dst.iter_mut().zip(src) {
        // `max` and `min` return the other operand for a NaN, so `v` is a
        // number in [0.5, 255.5]; a plain truncation then vectorizes, where
        // the saturating `as i32` would not.
        #[allow(clippy::manual_clamp)] // `clamp` keeps a NaN
        let v = (x * inv + zp).max(0.0).min(255.0) + 0.5;
        // SAFETY: `v` is finite and in [0.5, 255.5], inside i32's range.
        *q = unsafe { v.to_int_unchecked::<i32>() } as u8;
    }
}

/// Whether strip `strip` (rows `strip*mr..`) of a block of `mc` rows and
/// `kc` K steps is read in place by a [`QPackA::Rows`] kernel: a whole
/// strip of whole K groups.
#[inline(always)]
pub(crate) fn in_place(layout: QPackA, mc: usize, kc: usize, mr: usize, strip: usize) -> bool {
    layout == QPackA::Rows && kc.is_multiple_of(4) && (strip + 1) * mr <= mc
}

/// Pack rows `ic..ic+mc` and K steps `pc..pc+kc` of the `? x k` row-major
/// i8 weights into `mr`-row strips of `ceil(kc/4) * mr * 4` values each
/// (strip `s` at `s` times that), zero past `kc` and past `mc` rows, in
/// `layout`: `[ceil(kc/4)][mr][4]` bytes, or i16 (sign-extended, little
/// endian) for [`QPackA::WideGroups`], or `[mr][4 * ceil(kc/4)]` bytes for
/// [`QPackA::Rows`], whose strips read in place ([`in_place`]) are skipped.
/// `dst` holds `ceil(mc/mr) * ceil(kc/4) * mr * 4` values.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn pack_a(
    w: &[i8],
    k: usize,
    ic: usize,
    mc: usize,
    pc: usize,
    kc: usize,
    mr: usize,
    layout: QPackA,
    dst: &mut [u8],
) {
    let k4 = kc.div_ceil(4);
    if layout == QPackA::Rows {
        for strip in (0..mc.div_ceil(mr)).filter(|&s| !in_place(layout, mc, kc, mr, s)) {
            let sdst = &mut dst[strip * k4 * mr * 4..(strip + 1) * k4 * mr * 4];
            for (r, d) in sdst.chunks_exact_mut(4 * k4).enumerate() {
                let row = strip * mr + r;
                if row >= mc {
                    d.fill(0);
                    continue;
                }
                let src: &[u8] = bytemuck::cast_slice(&w[(ic + row) * k + pc..(ic + row) * k + pc + kc]);
                d[..kc].copy_from_slice(src);
                d[kc..].fill(0);
            }
        }
        return;
    }
    let wide = layout == QPackA::WideGroups;
    // Bytes of one row's group of 4 K steps.
    let group = if wide { 8 } else { 4 };
    for strip in 0..mc.div_ceil(mr) {
        let sdst = &mut dst[strip * k4 * mr * group..(strip + 1) * k4 * mr * group];
        for r in 0..mr {
            let row = strip * mr + r;
            if row >= mc {
                for g in 0..k4 {
                    sdst[(g * mr + r) * group..(g * mr + r + 1) * group].fill(0);
                }
                continue;
            }
            let src: &[u8] = bytemuck::cast_slice(&w[(ic + row) * k + pc..(ic + row) * k + pc + kc]);
            // Group g of this row lands at `(g * mr + r) * group`.
            let at = |g: usize| (g * mr + r) * group;
            let put = |d: &mut [u8], q: &[u8]| {
                if wide {
                    for (pair, &x) in d.chunks_exact_mut(2).zip(q) {
                        pair.copy_from_slice(&i16::from(x as i8).to_le_bytes());
                    }
                } else {
                    d[..4].copy_from_slice(q);
                }
            };
            let (whole, tail) = src.split_at(kc / 4 * 4);
            let done = if wide { widen_groups(whole, mr * group, &mut sdst[at(0)..]) } else { 0 };
            for (q, g) in whole[4 * done..].chunks_exact(4).zip(done..) {
                put(&mut sdst[at(g)..at(g) + group], q);
            }
            if !tail.is_empty() {
                let mut q = [0u8; 4];
                q[..tail.len()].copy_from_slice(tail);
                put(&mut sdst[at(kc / 4)..at(kc / 4) + group], &q);
            }
        }
    }
}

/// Sign-extend the whole 16-byte runs of `src` (4 groups of 4 i8) to i16,
/// group `g` to `dst[g * stride..][..8]`; returns the groups written.
#[inline(always)]
fn widen_groups(src: &[u8], stride: usize, dst: &mut [u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::*;
        let runs = src.len() / 16;
        // The last group written ends at (4 * runs - 1) * stride + 8.
        if runs == 0 || dst.len() < (4 * runs - 1) * stride + 8 {
            return 0;
        }
        for i in 0..runs {
            // SAFETY: SSE2 is part of x86-64; src holds 16 bytes at 16 * i
            // (i < runs) and dst 8 bytes at every (4 * i + j) * stride (checked
            // above); unaligned accesses.
            unsafe {
                let x = _mm_loadu_si128(src.as_ptr().add(16 * i) as *const __m128i);
                let sign = _mm_cmpgt_epi8(_mm_setzero_si128(), x);
                let (lo, hi) = (_mm_unpacklo_epi8(x, sign), _mm_unpackhi_epi8(x, sign));
                let d = dst.as_mut_ptr().add(4 * i * stride);
                _mm_storel_epi64(d as *mut __m128i, lo);
                _mm_storel_epi64(d.add(stride) as *mut __m128i, _mm_unpackhi_epi64(lo, lo));
                _mm_storel_epi64(d.add(2 * stride) as *mut __m128i, hi);
                _mm_storel_epi64(d.add(3 * stride) as *mut __m128i, _mm_unpackhi_epi64(hi, hi));
            }
        }
        4 * runs
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (src, stride, dst);
        0
    }
}

/// The implicit `K x N` im2col matrix of a quantized input
/// (`[C][batch][h*w]` u8): row `k = (c, ky, kx)`, column `n = (b, y, x)`;
/// the zero point where the window leaves the input (a real 0).
pub(crate) struct QIm2col<'q> {
    /// The quantized input.
    pub q: &'q [u8],
    /// Geometry.
    pub g: Geometry,
    /// Samples.
    pub batch: usize,
    /// The input's zero point (the padding value).
    pub zp: u8,
}

impl QIm2col<'_> {
    /// Whether B's rows are the input planes themselves (1x1, stride 1, no padding).
    fn pointwise(&self) -> bool {
        let g = &self.g;
        g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0
    }

    /// Row `k`, columns `n..n+out.len()` (within one strip).
    #[inline(always)]
    fn row(&self, k: usize, n: usize, out: &mut [u8]) {
        let g = &self.g;
        let (khw, ohw, hw) = (g.kh * g.kw, g.oh * g.ow, g.h * g.w);
        let (c, ky, kx) = (k / khw, (k % khw) / g.kw, k % g.kw);
        let (s, pad) = (g.stride, g.pad as isize);
        let (mut b, mut oy, mut ox) = (n / ohw, (n % ohw) / g.ow, n % g.ow);
        let mut j = 0;
        while j < out.len() {
            let seg = (g.ow - ox).min(out.len() - j);
            let dst = &mut out[j..j + seg];
            let iy = (oy * s + ky) as isize - pad;
            if iy < 0 || iy >= g.h as isize {
                dst.fill(self.zp);
            } else {
                let plane = (c * self.batch + b) * hw;
                let row = &self.q[plane + iy as usize * g.w..plane + (iy as usize + 1) * g.w];
                let base = (ox * s + kx) as isize - pad;
                // Output t of the segment reads input column base + t*s.
                let (lo, hi) = g.inside(base, seg);
                fill_short(&mut dst[..lo], self.zp);
                fill_short(&mut dst[hi..], self.zp);
                let ix0 = (base + (lo * s) as isize) as usize;
                if s == 1 {
                    copy_short(&mut dst[lo..hi], &row[ix0..ix0 + (hi - lo)]);
                } else {
                    for (t, d) in dst[lo..hi].iter_mut().enumerate() {
                        *d = row[ix0 + t * s];
                    }
                }
            }
            j += seg;
            ox += seg;
            if ox == g.ow {
                ox = 0;
                oy += 1;
                if oy == g.oh {
                    oy = 0;
                    b += 1;
                }
            }
        }
    }
}

/// `dst.fill(v)` for the padding of one im2col segment, mostly 0 or 1
/// bytes: without a `memset` call for those.
#[inline(always)]
fn fill_short(dst: &mut [u8], v: u8) {
    match dst {
        [] => {}
        [d] => *d = v,
        _ => dst.fill(v),
    }
}

/// `dst.copy_from_slice(src)` for one im2col segment (as short as one
/// output row, 4 to 30 bytes in ResNet50 at 120x120): up to 32 bytes as
/// two overlapping fixed-size copies instead of a `memcpy` call, whose
/// per-call cost showed in profiles.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    /// The first and last `N` bytes of `src` into `dst` (`N <= len <= 2N`).
    #[inline(always)]
    fn ends<const N: usize>(dst: &mut [u8], src: &[u8]) {
        let n = src.len();
        let (mut head, mut tail) = ([0u8; N], [0u8; N]);
        head.copy_from_slice(&src[..N]);
        tail.copy_from_slice(&src[n - N..]);
        dst[..N].copy_from_slice(&head);
        dst[n - N..].copy_from_slice(&tail);
    }
    let n = src.len().min(dst.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    match n {
        0 => {}
        1 => dst[0] = src[0],
        2..4 => ends::<2>(dst, src),
        4..8 => ends::<4>(dst, src),
        8..16 => ends::<8>(dst, src),
        16..=32 => ends::<16>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

/// Interleave four rows of `nr` bytes into `[nr][4]` (`dst` = `4 * nr` bytes).
#[inline(always)]
fn interleave(rows: [&[u8]; 4], nr: usize, dst: &mut [u8]) {
    let (r0, r1, r2, r3) = (&rows[0][..nr], &rows[1][..nr], &rows[2][..nr], &rows[3][..nr]);
    let dst = &mut dst[..4 * nr];
    #[cfg(target_arch = "x86_64")]
    if nr.is_multiple_of(16) {
        use core::arch::x86_64::*;
        for j in (0..nr).step_by(16) {
            // SAFETY: SSE2 is part of x86-64; rows hold nr bytes (j + 16 <= nr)
            // and dst 4 * nr (4 * j + 64 <= 4 * nr), all unaligned accesses.
            unsafe {
                let ld = |r: &[u8]| _mm_loadu_si128(r.as_ptr().add(j) as *const __m128i);
                let (a, b, c, d) = (ld(r0), ld(r1), ld(r2), ld(r3));
                let (ab_lo, ab_hi) = (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b));
                let (cd_lo, cd_hi) = (_mm_unpacklo_epi8(c, d), _mm_unpackhi_epi8(c, d));
                let out = dst.as_mut_ptr().add(4 * j) as *mut __m128i;
                _mm_storeu_si128(out, _mm_unpacklo_epi16(ab_lo, cd_lo));
                _mm_storeu_si128(out.add(1), _mm_unpackhi_epi16(ab_lo, cd_lo));
                _mm_storeu_si128(out.add(2), _mm_unpacklo_epi16(ab_hi, cd_hi));
                _mm_storeu_si128(out.add(3), _mm_unpackhi_epi16(ab_hi, cd_hi));
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if nr == 8 {
        use core::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86-64; rows hold 8 bytes and dst 32,
        // all unaligned accesses.
        unsafe {
            let ld = |r: &[u8]| _mm_loadl_epi64(r.as_ptr() as *const __m128i);
            let (ab, cd) = (_mm_unpacklo_epi8(ld(r0), ld(r1)), _mm_unpacklo_epi8(ld(r2), ld(r3)));
            let out = dst.as_mut_ptr() as *mut __m128i;
            _mm_storeu_si128(out, _mm_unpacklo_epi16(ab, cd));
            _mm_storeu_si128(out.add(1), _mm_unpackhi_epi16(ab, cd));
        }
        return;
    }
    #[cfg(target_arch = "aarch64")]
    if nr == 8 {
        use core::arch::aarch64::*;
        // SAFETY: NEON is part of aarch64; rows hold 8 bytes and dst 32,
        // all unaligned accesses.
        unsafe {
            let (ab, cd) = (
                vzip_u8(vld1_u8(r0.as_ptr()), vld1_u8(r1.as_ptr())),
                vzip_u8(vld1_u8(r2.as_ptr()), vld1_u8(r3.as_ptr())),
            );
            let zip = |x: uint8x8_t, y: uint8x8_t| vzip_u16(vreinterpret_u16_u8(x), vreinterpret_u16_u8(y));
            let (lo, hi) = (zip(ab.0, cd.0), zip(ab.1, cd.1));
            let out = dst.as_mut_ptr();
            vst1_u8(out, vreinterpret_u8_u16(lo.0));
            vst1_u8(out.add(8), vreinterpret_u8_u16(lo.1));
            vst1_u8(out.add(16), vreinterpret_u8_u16(hi.0));
            vst1_u8(out.add(24), vreinterpret_u8_u16(hi.1));
        }
        return;
    }
    for (j, d) in dst.chunks_exact_mut(4).enumerate() {
        d.copy_from_slice(&[r0[j], r1[j], r2[j], r3[j]]);
    }
}

/// Columns of im2col rows [`QIm2col::pack`] builds at a time (a multiple of
/// every kernel's `NR`): four rows of this many bytes stay in L1.
const ROW_RUN: usize = 1024;

impl QPackB for QIm2col<'_> {
    // Inlined into the caller's `widest` region, so it compiles for the widest ISA.
    #[inline(always)]
    fn pack(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [u8]) {
        if self.pointwise() {
            return self.pack_pointwise(k0, kc, n0, nc, nr, dst);
        }
        // Each im2col row is built `ROW_RUN` columns at a time (its index
        // arithmetic once per output row of the map, not once per strip),
        // then four rows are interleaved into every strip they cover.
        let k4 = kc.div_ceil(4);
        let mut rows = [[0u8; ROW_RUN]; 4];
        for r0 in (0..nc).step_by(ROW_RUN) {
            let run = ROW_RUN.min(nc - r0);
            let padded = run.div_ceil(nr) * nr;
            for gi in 0..k4 {
                for (s, row) in rows.iter_mut().enumerate() {
                    let kk = 4 * gi + s;
                    if kk >= kc {
                        row[..padded].fill(0);
                    } else {
                        self.row(k0 + kk, n0 + r0, &mut row[..run]);
                        row[run..padded].fill(0);
                    }
                }
                for strip in 0..padded / nr {
                    let at = (r0 / nr + strip) * k4 * nr * 4 + gi * nr * 4;
                    let c = strip * nr;
                    interleave([&rows[0][c..], &rows[1][c..], &rows[2][c..], &rows[3][c..]], nr, &mut dst[at..]);
                }
            }
        }
    }
}

impl QIm2col<'_> {
    /// [`QPackB::pack`] of a 1x1, stride-1, unpadded layer: B's rows are
    /// the quantized planes themselves.
    #[inline(always)]
    fn pack_pointwise(&self, k0: usize, kc: usize, n0: usize, nc: usize, nr: usize, dst: &mut [u8]) {
        let k4 = kc.div_ceil(4);
        let n_all = self.batch * self.g.oh * self.g.ow;
        let mut buf = [[0u8; MAX_NR]; 4];
        for strip in 0..nc.div_ceil(nr) {
            let cols = nr.min(nc - strip * nr);
            let n = n0 + strip * nr;
            let sdst = &mut dst[strip * k4 * nr * 4..(strip + 1) * k4 * nr * 4];
            for gi in 0..k4 {
                let d = &mut sdst[gi * nr * 4..(gi + 1) * nr * 4];
                if cols == nr && 4 * gi + 4 <= kc {
                    // Rows are the planes: read them in place.
                    let at = |s: usize| &self.q[(k0 + 4 * gi + s) * n_all + n..][..nr];
                    interleave([at(0), at(1), at(2), at(3)], nr, d);
                    continue;
                }
                for (s, row) in buf.iter_mut().enumerate() {
                    let kk = 4 * gi + s;
                    row[cols..nr].fill(0);
                    if kk >= kc {
                        row[..cols].fill(0);
                    } else {
                        row[..cols].copy_from_slice(&self.q[(k0 + kk) * n_all + n..][..cols]);
                    }
                }
                interleave([&buf[0], &buf[1], &buf[2], &buf[3]], nr, d);
            }
        }
    }
}

#[cfg(test)]
#[path = "pack_tests.rs"]
mod tests;
