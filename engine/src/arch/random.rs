//! Deterministic random weights (He-initialised convs, near-identity batch
//! norm) for tests and benchmarks.

use super::{BatchNorm, WeightSource};
use alloc::vec::Vec;
use core::convert::Infallible;

/// A [`WeightSource`] that draws every tensor from a seeded xorshift generator.
#[derive(Debug, Clone)]
pub struct RandomWeights {
    state: u64,
}

impl RandomWeights {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        RandomWeights { state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1 }
    }

    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        ((self.state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next_f32() * scale).collect()
    }
}

impl WeightSource for RandomWeights {
    type Error = Infallible;

    fn conv(
        &mut self,
        _name: &str,
        out_c: usize,
        in_c: usize,
        k: usize,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), Infallible> {
        // Uniform with variance 2/fan_in (He), so activations neither explode nor vanish.
        let scale = super::sqrt_f32(6.0 / (in_c * k * k) as f32);
        Ok((self.vec(out_c * in_c * k * k, scale), None))
    }

    fn batch_norm(&mut self, _name: &str, c: usize) -> Result<BatchNorm, Infallible> {
        Ok(BatchNorm {
            gamma: (0..c).map(|_| 1.0 + 0.1 * self.next_f32()).collect(),
            beta: self.vec(c, 0.1),
            mean: self.vec(c, 0.1),
            var: (0..c).map(|_| 1.0 + 0.1 * self.next_f32().abs()).collect(),
            eps: 1e-5,
        })
    }

    fn linear(&mut self, _name: &str, out: usize, inp: usize) -> Result<(Vec<f32>, Vec<f32>), Infallible> {
        let scale = super::sqrt_f32(3.0 / inp as f32);
        Ok((self.vec(out * inp, scale), self.vec(out, 0.1)))
    }
}
