//! VGG's adaptive average pool folded into the layer after it.
//!
//! torchvision's `vgg*_bn` keeps an adaptive 7x7 average pool before
//! `classifier.0` (25088 inputs); on our 120 px input the map is 512x3x3, so
//! the pool (a fixed linear map 3x3 -> 7x7) is folded into `classifier.0`'s
//! weights, giving the 4608-input layer our graph has.

/// `(channels, our side, source side)` when a layer taking `inp = c*s*s`
/// values can be fed from a source layer taking `src = c*p*p` (p != s).
pub(super) fn pool_fold_dims(inp: usize, src: usize) -> Option<(usize, usize, usize)> {
    for s in 1..=16usize {
        if (inp / (s * s)) * s * s != inp {
            continue;
        }
        let c = inp / (s * s);
        if c == 0 || (src / c) * c != src {
            continue;
        }
        let pp = src / c;
        let p = (pp as f64).sqrt().round() as usize;
        if p * p == pp && p != s && p > 0 {
            return Some((c, s, p));
        }
    }
    None
}

/// Averaging matrix of PyTorch's `adaptive_avg_pool` from `s` to `p`:
/// `a[q][i]` = weight of input `i` in output `q` (bins `[floor(q*s/p), ceil((q+1)*s/p))`).
fn adaptive_pool_matrix(s: usize, p: usize) -> Vec<Vec<f32>> {
    (0..p)
        .map(|q| {
            let start = q * s / p;
            let end = ((q + 1) * s).div_ceil(p);
            let n = (end - start) as f32;
            (0..s).map(|i| if i >= start && i < end { 1.0 / n } else { 0.0 }).collect()
        })
        .collect()
}

/// Fold `adaptive_avg_pool(s -> p)` into the weights `[out, c, p, p]` of the
/// layer after it: the result `[out, c, s, s]` applied to the unpooled map
/// gives the same outputs.
pub fn fold_adaptive_pool(w: &[f32], out: usize, c: usize, s: usize, p: usize) -> Vec<f32> {
    let a = adaptive_pool_matrix(s, p);
    let mut r = vec![0.0f32; out * c * s * s];
    for o in 0..out {
        for ch in 0..c {
            let src = &w[(o * c + ch) * p * p..(o * c + ch + 1) * p * p];
            let dst = &mut r[(o * c + ch) * s * s..(o * c + ch + 1) * s * s];
            for (y, ay) in a.iter().enumerate() {
                for (x, ax) in a.iter().enumerate() {
                    let v = src[y * p + x];
                    if v == 0.0 {
                        continue;
                    }
                    for i in 0..s {
                        if ay[i] == 0.0 {
                            continue;
                        }
                        for j in 0..s {
                            dst[i * s + j] += v * ay[i] * ax[j];
                        }
                    }
                }
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_adaptive_pool_equals_pool_then_linear() {
        // 2 channels, 3x3 map pooled adaptively to 7x7, then a linear with 2 outputs.
        let (c, s, p, out) = (2usize, 3usize, 7usize, 2usize);
        let x: Vec<f32> = (0..c * s * s).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..out * c * p * p).map(|i| (i as f32 * 0.11).cos()).collect();
        let a = adaptive_pool_matrix(s, p);
        let mut pooled = vec![0.0f32; c * p * p];
        for ch in 0..c {
            for y in 0..p {
                for z in 0..p {
                    for i in 0..s {
                        for j in 0..s {
                            pooled[ch * p * p + y * p + z] += a[y][i] * a[z][j] * x[ch * s * s + i * s + j];
                        }
                    }
                }
            }
        }
        // PyTorch's bins for 3 -> 7: rows 0,1 <- 0; 2 <- mean(0,1); 3 <- 1; 4 <- mean(1,2); 5,6 <- 2.
        assert_eq!(a[2], [0.5, 0.5, 0.0]);
        assert_eq!(a[6], [0.0, 0.0, 1.0]);
        let folded = fold_adaptive_pool(&w, out, c, s, p);
        for o in 0..out {
            let direct: f32 = (0..c * p * p).map(|i| w[o * c * p * p + i] * pooled[i]).sum();
            let via: f32 = (0..c * s * s).map(|i| folded[o * c * s * s + i] * x[i]).sum();
            assert!((direct - via).abs() < 1e-4, "{direct} vs {via}");
        }
        assert_eq!(pool_fold_dims(4608, 25088), Some((512, 3, 7)));
        assert_eq!(pool_fold_dims(4608, 4608), None);
    }
}
