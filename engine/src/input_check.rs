//! The finiteness check every inference entry makes on its input.
//!
//! A NaN or infinity in the input flows through every layer and comes out
//! as confident-looking probabilities (a NaN compares false with every
//! threshold, an infinity saturates the sigmoids), so it is reported as
//! [`EngineError::NonFiniteInput`] instead. One pass over the f16 bits,
//! branch-free per sample so it vectorises: small next to the first
//! convolution, which reads each value at least `kernel_h * kernel_w` times.

use crate::act::InputBatch;
use crate::error::EngineError;
use half::f16;

/// f16 exponent bits; all set means infinity or NaN.
const EXP: u16 = 0x7c00;

/// Index of the first NaN or infinite value of one sample, `None` when every
/// value is finite (the check inference makes; callers that want to leave
/// damaged samples out of a batch use it too).
pub fn first_non_finite(sample: &[f16]) -> Option<usize> {
    let any = sample.iter().fold(false, |any, v| any | (v.to_bits() & EXP == EXP));
    if any {
        sample.iter().position(|v| v.to_bits() & EXP == EXP)
    } else {
        None
    }
}

/// `Ok` when every value of the first `batch` samples is finite, else the
/// first non-finite value's position.
pub(crate) fn finite<I: InputBatch + ?Sized>(input: &I, batch: usize) -> Result<(), EngineError> {
    for sample in 0..batch {
        let s = input.sample(sample);
        if let Some(index) = first_non_finite(s) {
            return Err(EngineError::NonFiniteInput { sample, index, bits: s[index].to_bits() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::act::Contiguous;

    #[test]
    fn finds_the_first_nan_or_infinity_and_passes_every_finite_value() {
        let mut data: std::vec::Vec<f16> = (0..=u16::MAX).map(f16::from_bits).filter(|v| v.is_finite()).collect();
        let len = data.len() / 4;
        data.truncate(4 * len);
        let batch = Contiguous { data: &data, len };
        assert!(finite(&batch, 4).is_ok(), "every finite f16, subnormals and -0 included");
        for (at, bad) in [(3, f16::NAN), (len + 7, f16::INFINITY), (4 * len - 1, f16::NEG_INFINITY)] {
            let mut d = data.clone();
            d[4 * len - 1] = f16::from_bits(0xfe00); // a later NaN, not reported
            d[at] = bad;
            let e = finite(&Contiguous { data: &d, len }, 4).expect_err("non-finite");
            match e {
                EngineError::NonFiniteInput { sample, index, bits } => {
                    assert_eq!((sample, index, bits), (at / len, at % len, bad.to_bits()));
                }
                other => panic!("{other}"),
            }
        }
    }
}
