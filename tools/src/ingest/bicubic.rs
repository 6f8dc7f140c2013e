//! Bicubic resampling that matches PyTorch's
//! `torch.nn.functional.interpolate(x, size=(oh, ow), mode="bicubic", align_corners=False)`
//! on float32 input: cubic convolution with A = -0.75, half-pixel centres
//! (`src = (dst + 0.5) * in / out - 0.5`, not clamped at 0 for cubic), taps
//! clamped to the image edge. Computed in f32 like PyTorch's CPU kernel, so
//! results agree to float rounding (far below f16 precision).

/// PyTorch's cubic convolution coefficient.
const A: f32 = -0.75;

/// The four tap weights for fractional offset `t` in [0, 1)
/// (PyTorch `get_cubic_upsample_coefficients`).
#[inline]
fn weights(t: f32) -> [f32; 4] {
    // |x| <= 1: ((A + 2)|x| - (A + 3))|x|^2 + 1; 1 < |x| < 2: ((A|x| - 5A)|x| + 8A)|x| - 4A
    let near = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let t2 = 1.0 - t;
    [far(t + 1.0), near(t), near(t2), far(t2 + 1.0)]
}

/// Per output index: the four clamped source indices and their weights.
fn plan(input: usize, output: usize) -> Vec<([usize; 4], [f32; 4])> {
    let scale = input as f32 / output as f32;
    let last = input as isize - 1;
    (0..output)
        .map(|o| {
            let real = scale * (o as f32 + 0.5) - 0.5;
            let base = real.floor();
            let t = (real - base).clamp(0.0, 1.0);
            let b = base as isize;
            let idx = [b - 1, b, b + 1, b + 2].map(|i| i.clamp(0, last) as usize);
            (idx, weights(t))
        })
        .collect()
}

/// A reusable resampler from `ih x iw` to `oh x ow` (row-major, one band).
pub struct Bicubic {
    iw: usize,
    ow: usize,
    rows: Vec<([usize; 4], [f32; 4])>,
    cols: Vec<([usize; 4], [f32; 4])>,
    /// Horizontal pass result, `ih x ow`.
    tmp: Vec<f32>,
}

impl Bicubic {
    /// Plan the resampling of an `ih x iw` band to `oh x ow`.
    pub fn new(ih: usize, iw: usize, oh: usize, ow: usize) -> Self {
        Bicubic { iw, ow, rows: plan(ih, oh), cols: plan(iw, ow), tmp: vec![0.0; ih * ow] }
    }

    /// Resample `src` (`ih*iw` values) into `dst` (`oh*ow` values).
    ///
    /// Separable: PyTorch interpolates the four rows along x first, then the
    /// four results along y, which is exactly this two-pass order.
    pub fn run(&mut self, src: &[f32], dst: &mut [f32]) {
        let (iw, ow) = (self.iw, self.ow);
        for (r, row) in src.chunks_exact(iw).enumerate() {
            let out = &mut self.tmp[r * ow..(r + 1) * ow];
            for (o, (idx, w)) in out.iter_mut().zip(&self.cols) {
                *o = row[idx[0]] * w[0] + row[idx[1]] * w[1] + row[idx[2]] * w[2] + row[idx[3]] * w[3];
            }
        }
        for (y, (idx, w)) in self.rows.iter().enumerate() {
            let out = &mut dst[y * ow..(y + 1) * ow];
            let r0 = &self.tmp[idx[0] * ow..(idx[0] + 1) * ow];
            let r1 = &self.tmp[idx[1] * ow..(idx[1] + 1) * ow];
            let r2 = &self.tmp[idx[2] * ow..(idx[2] + 1) * ow];
            let r3 = &self.tmp[idx[3] * ow..(idx[3] + 1) * ow];
            for x in 0..ow {
                out[x] = r0[x] * w[0] + r1[x] * w[1] + r2[x] * w[2] + r3[x] * w[3];
            }
        }
    }
}

/// One-shot convenience wrapper around [`Bicubic`].
pub fn resize(src: &[f32], ih: usize, iw: usize, oh: usize, ow: usize) -> Vec<f32> {
    let mut dst = vec![0.0; oh * ow];
    Bicubic::new(ih, iw, oh, ow).run(src, &mut dst);
    dst
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn weights_sum_to_one_and_constant_is_preserved() {
        for t in [0.0f32, 0.25, 0.5, 0.75, 0.99] {
            let s: f32 = weights(t).iter().sum();
            assert!((s - 1.0).abs() < 1e-6);
        }
        let out = resize(&[7.0; 36], 6, 6, 12, 12);
        assert!(out.iter().all(|v| (v - 7.0).abs() < 1e-5));
    }
}
