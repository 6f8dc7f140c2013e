//! Views of activations as planes `(channel, sample) -> H*W values`.
//!
//! Inside the engine every intermediate activation of a batch is stored
//! channel-major, **`[C][batch][H*W]` ("CNHW") f32**, so that a convolution
//! over the whole batch is one GEMM whose output rows are channels and whose
//! columns run over (sample, pixel) contiguously. The graph input stays as
//! the caller gave it: per sample CHW f16 (straight from a memory-mapped
//! patch archive); it is read through the same [`Planes`] interface and
//! widened where it is consumed, never copied or converted as a whole.

use crate::kernels::{convert, Isa};
use half::f16;

/// An element type the kernels can read.
pub trait Elem: Copy {
    /// Widen to f32.
    fn f32(self) -> f32;
    /// Widen a run (`dst.len()` values) with the best instructions of `isa`.
    fn widen(isa: Isa, src: &[Self], dst: &mut [f32]);
    /// Whether strided gathers should widen a contiguous span first (a
    /// per-element decode costs more than widening the skipped values).
    const WIDEN_FIRST: bool;
    /// The run itself when it already holds f32 (nothing to widen).
    fn as_f32(src: &[Self]) -> Option<&[f32]>;
}
impl Elem for f32 {
    const WIDEN_FIRST: bool = false;
    #[inline(always)]
    fn f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn widen(_: Isa, src: &[f32], dst: &mut [f32]) {
        copy_run(&src[..dst.len()], dst);
    }
    #[inline(always)]
    fn as_f32(src: &[f32]) -> Option<&[f32]> {
        Some(src)
    }
}
impl Elem for f16 {
    const WIDEN_FIRST: bool = true;
    #[inline(always)]
    fn f32(self) -> f32 {
        convert::f16_bits_to_f32(self.to_bits())
    }
    #[inline(always)]
    fn widen(isa: Isa, src: &[f16], dst: &mut [f32]) {
        convert::f16_to_f32(isa, src, dst);
    }
    #[inline(always)]
    fn as_f32(_: &[f16]) -> Option<&[f32]> {
        None
    }
}

/// A batch of activations addressed by `(channel, sample)` planes of `hw` values.
pub trait Planes: Sync {
    /// Element type.
    type E: Elem;
    /// The `h*w` values of channel `c` of sample `b`.
    fn plane(&self, c: usize, b: usize) -> &[Self::E];
}

/// An engine-internal activation: `[C][batch][H*W]` f32.
#[derive(Debug, Clone, Copy)]
pub struct Cnhw<'t> {
    /// `c * batch * hw` values.
    pub data: &'t [f32],
    /// Samples.
    pub batch: usize,
    /// Pixels per plane.
    pub hw: usize,
}

impl Planes for Cnhw<'_> {
    type E = f32;
    #[inline(always)]
    fn plane(&self, c: usize, b: usize) -> &[f32] {
        let o = (c * self.batch + b) * self.hw;
        &self.data[o..o + self.hw]
    }
}

/// Where the samples of the graph input come from.
pub trait InputBatch: Sync {
    /// Sample `b`: `input_len` f16 values, CHW, normalised.
    fn sample(&self, b: usize) -> &[f16];
}

/// `batch` samples stored back to back.
#[derive(Debug, Clone, Copy)]
pub struct Contiguous<'t> {
    /// `batch * len` values.
    pub data: &'t [f16],
    /// Values per sample.
    pub len: usize,
}

impl InputBatch for Contiguous<'_> {
    fn sample(&self, b: usize) -> &[f16] {
        &self.data[b * self.len..(b + 1) * self.len]
    }
}

impl InputBatch for &[&[f16]] {
    fn sample(&self, b: usize) -> &[f16] {
        self[b]
    }
}

/// Samples `start..` of another batch.
#[derive(Debug, Clone, Copy)]
pub struct Window<'t, I: InputBatch> {
    /// The whole batch.
    pub inner: &'t I,
    /// First sample.
    pub start: usize,
}

impl<I: InputBatch> InputBatch for Window<'_, I> {
    fn sample(&self, b: usize) -> &[f16] {
        self.inner.sample(self.start + b)
    }
}

/// The graph input as planes: sample-major CHW f16, one slice per sample.
#[derive(Debug, Clone, Copy)]
pub struct InputPlanes<'t, I: InputBatch> {
    /// The samples.
    pub input: &'t I,
    /// Pixels per plane.
    pub hw: usize,
}

impl<I: InputBatch> Planes for InputPlanes<'_, I> {
    type E = f16;
    #[inline(always)]
    fn plane(&self, c: usize, b: usize) -> &[f16] {
        &self.input.sample(b)[c * self.hw..(c + 1) * self.hw]
    }
}

/// `dst.copy_from_slice(src)` for the short runs packing copies (one output
/// row of a small feature map, one 32-column strip): fixed 8-value chunks
/// compile to vector moves, where a variable-length copy is a `memmove`
/// call costing more than the copy itself (measured in the im2col profile).
#[inline(always)]
pub fn copy_run(src: &[f32], dst: &mut [f32]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let v: [f32; 8] = [s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]];
        d.copy_from_slice(&v);
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

/// `dst.fill(0.0)` for the short runs packing zeroes (padding borders of
/// one output row, the tail of a strip): like [`copy_run`], fixed chunks
/// instead of a `memset` call per border value.
#[inline(always)]
pub fn zero_run(dst: &mut [f32]) {
    let mut d = dst.chunks_exact_mut(8);
    for d in &mut d {
        d.copy_from_slice(&[0.0; 8]);
    }
    for v in d.into_remainder() {
        *v = 0.0;
    }
}
