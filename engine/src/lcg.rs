//! Deterministic pseudo-random operands for the unit tests: a 32-bit linear
//! congruential generator (Numerical Recipes' constants), so the tests need
//! no `rand` and a failure reproduces bit for bit on every machine.

use std::vec::Vec;

/// The generator's state.
pub struct Lcg(u32);

impl Lcg {
    /// A generator started at `seed`.
    pub fn new(seed: u32) -> Lcg {
        Lcg(seed)
    }

    /// The next 32 raw bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0
    }

    /// The next value, uniform in [-1, 1) on a 2^-23 grid (exact in f32).
    pub fn unit(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    }
}

/// `n` values uniform in [-2, 2), from `seed`.
pub fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut g = Lcg::new(seed);
    (0..n).map(|_| 2.0 * g.unit()).collect()
}
