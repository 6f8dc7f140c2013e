//! Activation statistics of the layers whose outputs feed quantized
//! convolutions, gathered in two passes over the calibration patches: the
//! range (min, max), then a histogram over that range for quantiles.

use bemm_engine::observe::Observer;

/// Histogram bins between a layer's min and max.
pub const BINS: usize = 4096;

/// One layer output's statistics.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Smallest value seen (+inf before any).
    pub min: f32,
    /// Largest value seen (-inf before any).
    pub max: f32,
    /// Values seen in the range pass.
    pub count: u64,
    /// Counts of [`BINS`] equal bins over `[min, max]` (second pass; empty before).
    pub hist: Vec<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats { min: f32::INFINITY, max: f32::NEG_INFINITY, count: 0, hist: Vec::new() }
    }
}

impl Stats {
    /// First pass: widen the range over `values` (non-finite values are skipped).
    pub fn observe_range(&mut self, values: &[f32]) {
        for &v in values.iter().filter(|v| v.is_finite()) {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += values.len() as u64;
    }

    /// Between the passes: an empty histogram over the range found.
    pub fn start_histogram(&mut self) {
        self.hist = vec![0; BINS];
    }

    fn bin_width(&self) -> f32 {
        (self.max - self.min) / BINS as f32
    }

    /// Second pass: count `values` into the histogram.
    pub fn observe_histogram(&mut self, values: &[f32]) {
        let w = self.bin_width();
        if self.hist.len() != BINS || !w.is_finite() || w <= 0.0 {
            return;
        }
        for &v in values.iter().filter(|v| v.is_finite()) {
            let b = ((v - self.min) / w) as usize;
            self.hist[b.min(BINS - 1)] += 1;
        }
    }

    /// The value below which a fraction `q` (0..=1) of the histogram lies,
    /// to a bin's width (upper edge of the bin reaching `q`); the min/max
    /// when there is no histogram.
    pub fn quantile(&self, q: f64) -> f32 {
        let total: u64 = self.hist.iter().sum();
        if total == 0 || !self.bin_width().is_finite() || self.bin_width() <= 0.0 {
            return if q < 0.5 { self.min } else { self.max };
        }
        let want = (q.clamp(0.0, 1.0) * total as f64).ceil() as u64;
        let mut seen = 0u64;
        for (b, &c) in self.hist.iter().enumerate() {
            seen += c;
            if seen >= want.max(1) {
                let edge = if q < 0.5 { b } else { b + 1 };
                return (self.min + edge as f32 * self.bin_width()).min(self.max);
            }
        }
        self.max
    }
}

/// Which pass an [`ActivationStats`] observer is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Min and max.
    Range,
    /// Histogram over the range.
    Histogram,
}

/// An engine observer keeping [`Stats`] of chosen layers' outputs.
#[derive(Debug, Clone)]
pub struct ActivationStats {
    /// Per layer index: `Some` for the layers watched.
    pub layers: Vec<Option<Stats>>,
    /// The pass running.
    pub pass: Pass,
}

impl ActivationStats {
    /// Watch `watched` (layer indices) of a model of `num_layers` layers.
    pub fn new(num_layers: usize, watched: &[usize]) -> Self {
        let mut layers = vec![None; num_layers];
        for &i in watched {
            if let Some(s) = layers.get_mut(i) {
                *s = Some(Stats::default());
            }
        }
        ActivationStats { layers, pass: Pass::Range }
    }

    /// Switch to the histogram pass.
    pub fn start_histograms(&mut self) {
        self.pass = Pass::Histogram;
        self.layers.iter_mut().flatten().for_each(Stats::start_histogram);
    }
}

impl Observer for ActivationStats {
    fn layer_output(&mut self, layer: usize, _batch: usize, values: &[f32]) {
        if let Some(Some(s)) = self.layers.get_mut(layer) {
            match self.pass {
                Pass::Range => s.observe_range(values),
                Pass::Histogram => s.observe_histogram(values),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_uniform_ramp_are_within_a_bin() {
        let vals: Vec<f32> = (0..=10_000).map(|i| i as f32 / 100.0).collect();
        let mut o = ActivationStats::new(3, &[1]);
        o.layer_output(1, 1, &vals);
        o.layer_output(0, 1, &[1e9]);
        o.start_histograms();
        o.layer_output(1, 1, &vals);
        let s = o.layers[1].as_ref().unwrap();
        assert_eq!((s.min, s.max, s.count), (0.0, 100.0, 10_001));
        assert!(o.layers[0].is_none() && o.layers[2].is_none());
        let w = 100.0 / BINS as f32;
        for q in [0.01, 0.5, 0.9, 0.999] {
            let v = s.quantile(q);
            assert!((v - 100.0 * q as f32).abs() <= 2.0 * w, "q {q}: {v}");
        }
        assert_eq!(s.quantile(1.0), 100.0);
        assert_eq!(s.quantile(0.0), 0.0);
    }

    #[test]
    fn non_finite_values_do_not_poison_the_range() {
        let mut s = Stats::default();
        s.observe_range(&[1.0, f32::NAN, f32::INFINITY, -2.0]);
        assert_eq!((s.min, s.max), (-2.0, 1.0));
    }
}
