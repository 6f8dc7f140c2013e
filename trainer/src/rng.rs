//! A small seedable generator whose whole state is one `u64`, so the
//! trainer's randomness (shuffling, augmentation, dropout masks, initial
//! weights) is reproducible on every backend and trivially checkpointed.

/// SplitMix64 (Steele, Lea, Flood 2014): 64-bit state, passes BigCrush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// A generator for a sub-stream `(seed, a, b)`: e.g. (run seed, epoch, batch),
    /// so any batch's randomness can be recreated without replaying the others.
    pub fn derive(seed: u64, a: u64, b: u64) -> Self {
        let mut g = SplitMix64::new(seed ^ 0x5851_f42d_4c95_7f2d);
        let x = g.next_u64() ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut g = SplitMix64::new(x);
        let y = g.next_u64() ^ b.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        SplitMix64::new(y)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`; Lemire's multiply-shift, bias < 2^-32 for n < 2^32).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * core::f64::consts::PI * u2).cos()
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<usize> = (0..1000).collect();
        let mut b = a.clone();
        SplitMix64::derive(7, 3, 0).shuffle(&mut a);
        SplitMix64::derive(7, 3, 0).shuffle(&mut b);
        assert_eq!(a, b);
        let mut c = a.clone();
        c.sort_unstable();
        assert_eq!(c, (0..1000).collect::<Vec<_>>());
        let mut d: Vec<usize> = (0..1000).collect();
        SplitMix64::derive(7, 4, 0).shuffle(&mut d);
        assert_ne!(a, d, "another epoch gives another order");
    }

    #[test]
    fn normal_has_unit_variance() {
        let mut g = SplitMix64::new(1);
        let n = 20000;
        let xs: Vec<f64> = (0..n).map(|_| g.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
    }
}
