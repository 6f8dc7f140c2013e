//! The paper's multi-label classification metrics, computed exactly as
//! scikit-learn computes them (`hamming_loss`, `precision_score`,
//! `recall_score`, `fbeta_score` with `average="samples"`, `"macro"` and
//! `"micro"`, and the per-class figures of `average=None`), plus one-error.
//!
//! No allocation and no `std`: the accumulator is a fixed-size value (up to
//! [`MAX_CLASSES`] classes) so the trainer can validate every epoch with it,
//! shards can be accumulated in parallel and [`MultiLabelAccumulator::merge`]d,
//! and a microcontroller could run it.
//!
//! Label sets are bit masks: bit `c` of a `u64` is class `c`.
//!
//! Conventions (scikit-learn's defaults, `zero_division=0`):
//! - a ratio whose denominator is 0 is 0 (a sample with no predicted label
//!   has precision 0; a class never predicted has precision 0);
//! - F-beta is `(1 + b^2) tp / (b^2 (tp + fn) + (tp + fp))`, 0 when that
//!   denominator is 0 (a class absent from both truth and predictions scores
//!   F = 0 and still counts in the macro average);
//! - one-error: the single top-scored class is not a true label; ties go to
//!   the lowest class index (numpy's `argmax`).

/// Largest number of classes an accumulator can hold (one `u64` mask).
pub const MAX_CLASSES: usize = 64;

/// Per-class counts and scores (scikit-learn's `average=None` figures).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClassMetrics {
    /// Samples whose truth holds the class (tp + fn).
    pub support: u64,
    /// True positives.
    pub tp: u64,
    /// False positives.
    pub fp: u64,
    /// False negatives.
    pub fn_: u64,
    /// tp / (tp + fp), 0 if never predicted.
    pub precision: f64,
    /// tp / (tp + fn), 0 if never true.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// F2 (recall weighted four times as much as precision).
    pub f2: f64,
}

/// The finished figures. Ratios are fractions in 0..=1 (not percent).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Samples accumulated.
    pub samples: u64,
    /// Wrong (sample, class) decisions / (samples x classes).
    pub hamming_loss: f64,
    /// Fraction of samples whose top-scored class is not a true label.
    pub one_error: f64,
    /// Mean over samples of |T ∩ P| / |P|.
    pub sample_precision: f64,
    /// Mean over samples of |T ∩ P| / |T|.
    pub sample_recall: f64,
    /// Mean over samples of per-sample F1.
    pub sample_f1: f64,
    /// Mean over samples of per-sample F2.
    pub sample_f2: f64,
    /// Mean over classes of per-class precision.
    pub macro_precision: f64,
    /// Mean over classes of per-class recall.
    pub macro_recall: f64,
    /// Mean over classes of per-class F1.
    pub macro_f1: f64,
    /// Mean over classes of per-class F2 (the paper's class-based F2).
    pub macro_f2: f64,
    /// Precision of the pooled (sample, class) decisions.
    pub micro_precision: f64,
    /// Recall of the pooled decisions.
    pub micro_recall: f64,
    /// F1 of the pooled decisions.
    pub micro_f1: f64,
    /// F2 of the pooled decisions.
    pub micro_f2: f64,
    /// Per-class figures; entries `num_classes..` are zero.
    pub per_class: [ClassMetrics; MAX_CLASSES],
    /// Number of classes.
    pub num_classes: usize,
}

impl Metrics {
    /// The per-class figures of the real classes only.
    pub fn classes(&self) -> &[ClassMetrics] {
        &self.per_class[..self.num_classes]
    }
}

/// Accumulates multi-label decisions sample by sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultiLabelAccumulator {
    num_classes: usize,
    mask: u64,
    samples: u64,
    wrong_decisions: u64,
    one_errors: u64,
    sum_precision: f64,
    sum_recall: f64,
    sum_f1: f64,
    sum_f2: f64,
    tp: [u64; MAX_CLASSES],
    fp: [u64; MAX_CLASSES],
    fn_: [u64; MAX_CLASSES],
}

#[inline]
fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// F-beta from counts, as scikit-learn (>= 1.3) computes it.
#[inline]
fn f_beta(beta2: f64, tp: u64, fp: u64, fn_: u64) -> f64 {
    let tp = tp as f64;
    ratio((1.0 + beta2) * tp, beta2 * (tp + fn_ as f64) + (tp + fp as f64))
}

/// Index of the largest score among the first `n`; ties -> lowest index; NaN never wins.
fn top_class(scores: &[f32], n: usize) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &s) in scores.iter().take(n).enumerate() {
        match best {
            None if !s.is_nan() => best = Some((i, s)),
            Some((_, b)) if s > b => best = Some((i, s)),
            _ => {}
        }
    }
    best.map(|(i, _)| i)
}

impl MultiLabelAccumulator {
    /// An empty accumulator for `num_classes` classes (clamped to 1..=64).
    pub fn new(num_classes: usize) -> Self {
        let n = num_classes.clamp(1, MAX_CLASSES);
        MultiLabelAccumulator {
            num_classes: n,
            mask: if n == 64 { u64::MAX } else { (1u64 << n) - 1 },
            samples: 0,
            wrong_decisions: 0,
            one_errors: 0,
            sum_precision: 0.0,
            sum_recall: 0.0,
            sum_f1: 0.0,
            sum_f2: 0.0,
            tp: [0; MAX_CLASSES],
            fp: [0; MAX_CLASSES],
            fn_: [0; MAX_CLASSES],
        }
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Samples added so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Add one sample: `truth` and `predicted` label masks (bits beyond the
    /// class count are ignored) and the class `scores` (any monotone score:
    /// logits or probabilities), used only for one-error. A sample whose
    /// scores are empty or all NaN counts as a one-error.
    pub fn add(&mut self, truth: u64, predicted: u64, scores: &[f32]) {
        let t = truth & self.mask;
        let p = predicted & self.mask;
        let tp = (t & p).count_ones() as u64;
        let nt = t.count_ones() as u64;
        let np = p.count_ones() as u64;
        self.samples += 1;
        self.wrong_decisions += (t ^ p).count_ones() as u64;
        self.sum_precision += ratio(tp as f64, np as f64);
        self.sum_recall += ratio(tp as f64, nt as f64);
        self.sum_f1 += f_beta(1.0, tp, np - tp, nt - tp);
        self.sum_f2 += f_beta(4.0, tp, np - tp, nt - tp);
        match top_class(scores, self.num_classes) {
            Some(c) if t & (1u64 << c) != 0 => {}
            _ => self.one_errors += 1,
        }
        let mut bits = t | p;
        while bits != 0 {
            let c = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let (in_t, in_p) = (t >> c & 1 == 1, p >> c & 1 == 1);
            match (in_t, in_p) {
                (true, true) => self.tp[c] += 1,
                (false, true) => self.fp[c] += 1,
                (true, false) => self.fn_[c] += 1,
                (false, false) => {}
            }
        }
    }

    /// Add one sample from scores: class `c` is predicted when
    /// `scores[c] >= thresholds[c]`. `thresholds` may hold one value for all
    /// classes; a missing entry uses the last one given (0.5 if none).
    pub fn add_thresholded(&mut self, truth: u64, scores: &[f32], thresholds: &[f32]) {
        let mut predicted = 0u64;
        let last = thresholds.last().copied().unwrap_or(0.5);
        for (c, &s) in scores.iter().take(self.num_classes).enumerate() {
            let th = thresholds.get(c).copied().unwrap_or(last);
            if s >= th {
                predicted |= 1u64 << c;
            }
        }
        self.add(truth, predicted, scores);
    }

    /// Add everything `other` accumulated (same class count expected; the
    /// smaller of the two is kept).
    pub fn merge(&mut self, other: &MultiLabelAccumulator) {
        self.samples += other.samples;
        self.wrong_decisions += other.wrong_decisions;
        self.one_errors += other.one_errors;
        self.sum_precision += other.sum_precision;
        self.sum_recall += other.sum_recall;
        self.sum_f1 += other.sum_f1;
        self.sum_f2 += other.sum_f2;
        for c in 0..MAX_CLASSES {
            self.tp[c] += other.tp[c];
            self.fp[c] += other.fp[c];
            self.fn_[c] += other.fn_[c];
        }
        if other.num_classes < self.num_classes {
            self.num_classes = other.num_classes;
            self.mask = other.mask;
        }
    }

    /// The figures so far (all zero when no sample was added).
    pub fn finish(&self) -> Metrics {
        let n = self.samples as f64;
        let nc = self.num_classes;
        let mut per_class = [ClassMetrics::default(); MAX_CLASSES];
        let (mut mp, mut mr, mut mf1, mut mf2) = (0.0, 0.0, 0.0, 0.0);
        let (mut tp_all, mut fp_all, mut fn_all) = (0u64, 0u64, 0u64);
        for (c, pc) in per_class.iter_mut().enumerate().take(nc) {
            let (tp, fp, fn_) = (self.tp[c], self.fp[c], self.fn_[c]);
            *pc = ClassMetrics {
                support: tp + fn_,
                tp,
                fp,
                fn_,
                precision: ratio(tp as f64, (tp + fp) as f64),
                recall: ratio(tp as f64, (tp + fn_) as f64),
                f1: f_beta(1.0, tp, fp, fn_),
                f2: f_beta(4.0, tp, fp, fn_),
            };
            mp += pc.precision;
            mr += pc.recall;
            mf1 += pc.f1;
            mf2 += pc.f2;
            tp_all += tp;
            fp_all += fp;
            fn_all += fn_;
        }
        let k = nc as f64;
        Metrics {
            samples: self.samples,
            hamming_loss: ratio(self.wrong_decisions as f64, n * k),
            one_error: ratio(self.one_errors as f64, n),
            sample_precision: ratio(self.sum_precision, n),
            sample_recall: ratio(self.sum_recall, n),
            sample_f1: ratio(self.sum_f1, n),
            sample_f2: ratio(self.sum_f2, n),
            macro_precision: mp / k,
            macro_recall: mr / k,
            macro_f1: mf1 / k,
            macro_f2: mf2 / k,
            micro_precision: ratio(tp_all as f64, (tp_all + fp_all) as f64),
            micro_recall: ratio(tp_all as f64, (tp_all + fn_all) as f64),
            micro_f1: f_beta(1.0, tp_all, fp_all, fn_all),
            micro_f2: f_beta(4.0, tp_all, fp_all, fn_all),
            per_class,
            num_classes: nc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Worked by hand: 3 classes, 3 samples.
    /// s0: T={0,1} P={0}     -> p=1, r=1/2, f1=2/3, f2=5/(4*2+1)=5/9, wrong=1
    /// s1: T={2}   P={}      -> p=0, r=0, f=0, wrong=1
    /// s2: T={1}   P={0,1,2} -> p=1/3, r=1, f1=2/4=1/2, f2=5/(4+3)=5/7, wrong=2
    #[test]
    fn hand_worked_example_matches_definitions() {
        let mut acc = MultiLabelAccumulator::new(3);
        acc.add(0b011, 0b001, &[0.9, 0.4, 0.1]); // top 0: true
        acc.add(0b100, 0b000, &[0.3, 0.3, 0.2]); // top 0 (tie -> lowest): false
        acc.add(0b010, 0b111, &[0.8, 0.9, 0.7]); // top 1: true
        let m = acc.finish();
        assert_eq!(m.samples, 3);
        assert!(close(m.hamming_loss, 4.0 / 9.0));
        assert!(close(m.one_error, 1.0 / 3.0));
        assert!(close(m.sample_precision, (1.0 + 0.0 + 1.0 / 3.0) / 3.0));
        assert!(close(m.sample_recall, (0.5 + 0.0 + 1.0) / 3.0));
        assert!(close(m.sample_f1, (2.0 / 3.0 + 0.0 + 0.5) / 3.0));
        assert!(close(m.sample_f2, (5.0 / 9.0 + 0.0 + 5.0 / 7.0) / 3.0));
        // class 0: tp=1 (s0), fp=1 (s2), fn=0; class 1: tp=1, fp=0, fn=1; class 2: tp=0 fp=1 fn=1
        let c = m.classes();
        assert_eq!((c[0].tp, c[0].fp, c[0].fn_, c[0].support), (1, 1, 0, 1));
        assert_eq!((c[1].tp, c[1].fp, c[1].fn_, c[1].support), (1, 0, 1, 2));
        assert_eq!((c[2].tp, c[2].fp, c[2].fn_, c[2].support), (0, 1, 1, 1));
        assert!(close(c[0].f2, 5.0 / (4.0 * 1.0 + 2.0)));
        assert!(close(c[2].f1, 0.0));
        assert!(close(m.micro_precision, 2.0 / 4.0));
        assert!(close(m.micro_recall, 2.0 / 4.0));
        assert!(close(m.macro_recall, (1.0 + 0.5 + 0.0) / 3.0));
    }

    #[test]
    fn absent_class_counts_as_zero_in_macro_average() {
        let mut acc = MultiLabelAccumulator::new(2);
        acc.add(0b01, 0b01, &[1.0, 0.0]);
        let m = acc.finish();
        assert!(close(m.classes()[0].f2, 1.0));
        assert!(close(m.classes()[1].f2, 0.0));
        assert!(close(m.macro_f2, 0.5));
        assert!(close(m.micro_f2, 1.0));
        assert!(close(m.one_error, 0.0));
    }

    #[test]
    fn merge_equals_sequential_accumulation() {
        let samples: [(u64, [f32; 4]); 5] = [
            (0b0011, [0.9, 0.6, 0.1, 0.2]),
            (0b1000, [0.2, 0.1, 0.7, 0.4]),
            (0b0110, [0.5, 0.5, 0.5, 0.5]),
            (0b0001, [0.0, 0.0, 0.0, 0.0]),
            (0b1111, [0.3, 0.8, 0.9, 0.1]),
        ];
        let th = [0.5f32];
        let mut all = MultiLabelAccumulator::new(4);
        let (mut a, mut b) = (MultiLabelAccumulator::new(4), MultiLabelAccumulator::new(4));
        for (i, (t, s)) in samples.iter().enumerate() {
            all.add_thresholded(*t, s, &th);
            if i % 2 == 0 {
                a.add_thresholded(*t, s, &th)
            } else {
                b.add_thresholded(*t, s, &th)
            }
        }
        a.merge(&b);
        let (x, y) = (all.finish(), a.finish());
        assert_eq!(x.samples, y.samples);
        assert!(close(x.sample_f2, y.sample_f2));
        assert!(close(x.hamming_loss, y.hamming_loss));
        assert_eq!(x.per_class, y.per_class);
    }

    #[test]
    fn threshold_is_inclusive_and_per_class() {
        let mut acc = MultiLabelAccumulator::new(3);
        // class 0 at exactly its threshold is predicted; class 1 below its own threshold is not.
        acc.add_thresholded(0b011, &[0.5, 0.6, 0.1], &[0.5, 0.7, 0.5]);
        let m = acc.finish();
        assert_eq!(m.classes()[0].tp, 1);
        assert_eq!(m.classes()[1].fn_, 1);
        assert_eq!(m.classes()[2].fp, 0);
    }

    #[test]
    fn empty_or_nan_scores_count_as_one_error_and_no_sample_is_all_zero() {
        let mut acc = MultiLabelAccumulator::new(2);
        assert_eq!(acc.finish().hamming_loss, 0.0);
        acc.add(0b01, 0b01, &[]);
        acc.add(0b01, 0b01, &[f32::NAN, f32::NAN]);
        acc.add(0b10, 0b10, &[f32::NAN, 2.0]);
        let m = acc.finish();
        assert!(close(m.one_error, 2.0 / 3.0));
    }
}
