//! From activation statistics to a layer's input quantization: the real
//! range each method keeps, and the u8 scale and zero point covering it.

use super::stats::Stats;

/// How the real range of a layer's input is chosen from calibration data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RangeMethod {
    /// The smallest and largest value seen.
    MinMax,
    /// Clip the tails: the range holding the given fraction of values at
    /// each end (0.9999 keeps all but the top and bottom 0.01 %).
    Percentile(f64),
}

impl RangeMethod {
    /// The methods tried by a calibrated export, in report order.
    pub const TRIED: [RangeMethod; 3] =
        [RangeMethod::MinMax, RangeMethod::Percentile(0.9999), RangeMethod::Percentile(0.999)];

    /// Name for tables and JSON (`minmax`, `p99.99`).
    pub fn name(self) -> String {
        match self {
            RangeMethod::MinMax => "minmax".into(),
            RangeMethod::Percentile(p) => format!("p{}", 100.0 * p),
        }
    }

    /// The real range `[lo, hi]` this method keeps from `s`; it always
    /// contains 0 (padding and ReLU zeros must be exact).
    pub fn range(self, s: &Stats) -> (f32, f32) {
        let (lo, hi) = match self {
            RangeMethod::MinMax => (s.min, s.max),
            RangeMethod::Percentile(p) => (s.quantile(1.0 - p), s.quantile(p)),
        };
        (lo.min(0.0), hi.max(0.0))
    }
}

/// Scale and zero point of a u8 input covering `[lo, hi]` (`lo <= 0 <=
/// hi`): `scale = (hi - lo) / 255`, `zero_point = round(-lo / scale)`, so a
/// real 0 is exactly representable. An all-zero range gets scale 1.
pub fn scale_zero_point(lo: f32, hi: f32) -> (f32, u8) {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return (1.0, 0);
    }
    let scale = span / 255.0;
    let zp = (-lo / scale).round().clamp(0.0, 255.0) as u8;
    (scale, zp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_negative_inputs_get_zero_point_0_and_signed_ones_cover_both_ends() {
        let (s, zp) = scale_zero_point(0.0, 2.55);
        assert_eq!(zp, 0);
        assert!((s - 0.01).abs() < 1e-7);
        let (s, zp) = scale_zero_point(-1.0, 3.0);
        assert!((s - 4.0 / 255.0).abs() < 1e-7);
        // -1.0 maps to 0, 3.0 to 255.
        assert_eq!(zp, 64);
        assert!(((0.0 - zp as f32) * s + 1.0).abs() < s);
        assert!(((255.0 - zp as f32) * s - 3.0).abs() < s);
    }

    #[test]
    fn an_empty_or_broken_range_still_gives_a_valid_scale() {
        assert_eq!(scale_zero_point(0.0, 0.0), (1.0, 0));
        assert_eq!(scale_zero_point(0.0, f32::INFINITY), (1.0, 0));
        assert_eq!(scale_zero_point(f32::NAN, 1.0), (1.0, 0));
    }

    #[test]
    fn percentile_clips_an_outlier_that_minmax_keeps() {
        let mut s = Stats::default();
        let mut vals: Vec<f32> = (0..100_000).map(|i| (i % 1000) as f32 / 1000.0).collect();
        vals.push(50.0);
        s.observe_range(&vals);
        s.start_histogram();
        s.observe_histogram(&vals);
        assert_eq!(RangeMethod::MinMax.range(&s), (0.0, 50.0));
        let (lo, hi) = RangeMethod::Percentile(0.9999).range(&s);
        assert_eq!(lo, 0.0);
        assert!(hi < 1.1 && hi > 0.9, "hi {hi}");
        assert_eq!(RangeMethod::Percentile(0.9999).name(), "p99.99");
    }
}
