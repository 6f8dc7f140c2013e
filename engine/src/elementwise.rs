//! Element-wise layers over planes: residual add, ReLU, sigmoid.

use crate::act::{Elem, Planes};

/// `out = f(a + b)` per element, `f` = ReLU when `relu`. Inlined so that
/// callers can compile it for wider vectors (`kernels::widest`).
#[inline(always)]
pub fn add<P: Planes, Q: Planes>(a: &P, b: &Q, channels: usize, hw: usize, batch: usize, relu: bool, out: &mut [f32]) {
    for c in 0..channels {
        for s in 0..batch {
            let o = &mut out[(c * batch + s) * hw..(c * batch + s + 1) * hw];
            for ((o, x), y) in o.iter_mut().zip(a.plane(c, s)).zip(b.plane(c, s)) {
                let v = x.f32() + y.f32();
                *o = if relu && v < 0.0 { 0.0 } else { v };
            }
        }
    }
}

/// Which unary function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
}

/// `out = f(a)` per element (then ReLU when `relu`).
pub fn unary<P: Planes>(f: Unary, a: &P, channels: usize, hw: usize, batch: usize, relu: bool, out: &mut [f32]) {
    for c in 0..channels {
        for s in 0..batch {
            let o = &mut out[(c * batch + s) * hw..(c * batch + s + 1) * hw];
            for (o, x) in o.iter_mut().zip(a.plane(c, s)) {
                let x = x.f32();
                let mut v = match f {
                    Unary::Relu => x.max(0.0),
                    Unary::Sigmoid => sigmoid(x),
                };
                if relu && v < 0.0 {
                    v = 0.0;
                }
                *o = v;
            }
        }
    }
}

/// Logistic sigmoid, accurate for all finite inputs (no overflow for large |x|).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}
