//! Multi-label retrieval quality: precision@k, recall@k, mAP@k, NDCG@k.
//!
//! Labels are bit masks (bit c = class c). A retrieved item is relevant to
//! the query when they share at least one label; its graded relevance (for
//! NDCG) is the number of labels they share.
//!
//! Per query, for a ranked list `r_1..r_k` (missing positions are irrelevant):
//! - `P@k  = rel(k) / k`, with `rel(k)` the relevant items in the top k;
//! - `R@k  = rel(k) / R`, with `R` the relevant items in the whole database
//!   (0 when `R = 0`);
//! - `AP@k = (1 / rel(k)) * sum over relevant positions i <= k of P@i`
//!   (0 when `rel(k) = 0`; the convention of the hashing / remote-sensing
//!   retrieval literature);
//! - `NDCG@k = DCG@k / IDCG@k`, `DCG@k = sum_i (2^s_i - 1) / log2(i + 1)` with
//!   `s_i` the labels shared with item i, and `IDCG@k` the DCG of the best
//!   possible ranking of the database (0 when `IDCG = 0`).
//!
//! The figures are means over queries.

use std::collections::HashMap;

/// How many database items share exactly s labels with a query, s = 0..=64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelevanceProfile {
    /// `shared[s]` = items sharing exactly `s` labels.
    pub shared: [u64; 65],
}

impl RelevanceProfile {
    /// Items sharing at least one label.
    pub fn total_relevant(&self) -> u64 {
        self.shared[1..].iter().sum()
    }

    /// DCG of the ideal ranking's first `k` items.
    pub fn ideal_dcg(&self, k: usize) -> f64 {
        let mut dcg = 0.0;
        let mut pos = 0usize;
        for s in (1..=64usize).rev() {
            let mut c = self.shared[s];
            while c > 0 && pos < k {
                pos += 1;
                dcg += gain(s as u32) / discount(pos);
                c -= 1;
            }
            if pos >= k {
                break;
            }
        }
        dcg
    }
}

#[inline]
fn gain(shared: u32) -> f64 {
    (2f64).powi(shared as i32) - 1.0
}

#[inline]
fn discount(pos: usize) -> f64 {
    ((pos + 1) as f64).log2()
}

/// The database's labels, grouped by distinct label set so that a query's
/// [`RelevanceProfile`] costs one pass over distinct sets, not over items.
#[derive(Debug, Clone)]
pub struct LabelIndex {
    distinct: Vec<(u64, u64)>,
}

impl LabelIndex {
    /// Index the labels of every database item.
    pub fn new<I: IntoIterator<Item = u64>>(labels: I) -> Self {
        let mut m: HashMap<u64, u64> = HashMap::new();
        for l in labels {
            *m.entry(l).or_insert(0) += 1;
        }
        let mut distinct: Vec<(u64, u64)> = m.into_iter().collect();
        distinct.sort_unstable();
        LabelIndex { distinct }
    }

    /// Items indexed.
    pub fn len(&self) -> u64 {
        self.distinct.iter().map(|d| d.1).sum()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.distinct.is_empty()
    }

    /// The profile of `query`; `minus_self` removes one item with the query's
    /// own labels (the query itself, when it is part of the database).
    pub fn profile(&self, query: u64, minus_self: bool) -> RelevanceProfile {
        let mut shared = [0u64; 65];
        for &(l, c) in &self.distinct {
            shared[(l & query).count_ones() as usize] += c;
        }
        if minus_self {
            let s = query.count_ones() as usize;
            shared[s] = shared[s].saturating_sub(1);
        }
        RelevanceProfile { shared }
    }
}

/// One query's figures at one cut-off k.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QueryScores {
    /// P@k.
    pub precision: f64,
    /// R@k.
    pub recall: f64,
    /// AP@k.
    pub average_precision: f64,
    /// NDCG@k.
    pub ndcg: f64,
}

/// Score one ranked list: `ranked[i]` is the label mask of the i-th result.
pub fn score_query(query: u64, ranked: &[u64], k: usize, profile: &RelevanceProfile) -> QueryScores {
    if k == 0 {
        return QueryScores::default();
    }
    let (mut rel, mut ap, mut dcg) = (0u64, 0.0f64, 0.0f64);
    for (i, &l) in ranked.iter().take(k).enumerate() {
        let s = (l & query).count_ones();
        if s > 0 {
            rel += 1;
            ap += rel as f64 / (i + 1) as f64;
            dcg += gain(s) / discount(i + 1);
        }
    }
    let total = profile.total_relevant();
    let idcg = profile.ideal_dcg(k);
    QueryScores {
        precision: rel as f64 / k as f64,
        recall: if total == 0 { 0.0 } else { rel as f64 / total as f64 },
        average_precision: if rel == 0 { 0.0 } else { ap / rel as f64 },
        ndcg: if idcg == 0.0 { 0.0 } else { dcg / idcg },
    }
}

/// Means of [`QueryScores`] over queries, for several cut-offs.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievalAccumulator {
    ks: Vec<usize>,
    sums: Vec<QueryScores>,
    queries: u64,
}

impl RetrievalAccumulator {
    /// Accumulate at cut-offs `ks`.
    pub fn new(ks: &[usize]) -> Self {
        RetrievalAccumulator { ks: ks.to_vec(), sums: vec![QueryScores::default(); ks.len()], queries: 0 }
    }

    /// Add one query's ranked list (at least `max(ks)` long when the
    /// database allows).
    pub fn add(&mut self, query: u64, ranked: &[u64], profile: &RelevanceProfile) {
        for (k, sum) in self.ks.iter().zip(self.sums.iter_mut()) {
            let s = score_query(query, ranked, *k, profile);
            sum.precision += s.precision;
            sum.recall += s.recall;
            sum.average_precision += s.average_precision;
            sum.ndcg += s.ndcg;
        }
        self.queries += 1;
    }

    /// Add everything `other` accumulated (same cut-offs).
    pub fn merge(&mut self, other: &RetrievalAccumulator) {
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a.precision += b.precision;
            a.recall += b.recall;
            a.average_precision += b.average_precision;
            a.ndcg += b.ndcg;
        }
        self.queries += other.queries;
    }

    /// Queries added.
    pub fn queries(&self) -> u64 {
        self.queries
    }

    /// `(k, mean scores)` per cut-off; P@k, R@k, mAP@k, NDCG@k.
    pub fn finish(&self) -> Vec<(usize, QueryScores)> {
        let n = self.queries.max(1) as f64;
        self.ks
            .iter()
            .zip(&self.sums)
            .map(|(&k, s)| {
                (
                    k,
                    QueryScores {
                        precision: s.precision / n,
                        recall: s.recall / n,
                        average_precision: s.average_precision / n,
                        ndcg: s.ndcg / n,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Query {A, B}; database: {A,B}, {C}, {A}, {B,C}, {C}, {A,B} (the last
    /// one never retrieved). Ranking: {C}, {A,B}, {A}, {C}, {B,C}.
    #[test]
    fn hand_worked_example() {
        let (a, b, c) = (1u64, 2u64, 4u64);
        let db = [a | b, c, a, b | c, c, a | b];
        let index = LabelIndex::new(db.iter().copied());
        let q = a | b;
        let prof = index.profile(q, false);
        assert_eq!(prof.total_relevant(), 4);
        assert_eq!(prof.shared[2], 2);
        assert_eq!(prof.shared[1], 2);
        let ranked = [c, a | b, a, c, b | c];
        // k = 3: relevant at 2 (s=2), 3 (s=1)
        let s = score_query(q, &ranked, 3, &prof);
        assert!(close(s.precision, 2.0 / 3.0));
        assert!(close(s.recall, 2.0 / 4.0));
        assert!(close(s.average_precision, (1.0 / 2.0 + 2.0 / 3.0) / 2.0));
        let dcg = 3.0 / 3f64.log2() + 1.0 / 4f64.log2();
        let idcg = 3.0 / 2f64.log2() + 3.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!(close(s.ndcg, dcg / idcg));
        // k = 5: relevant at 2, 3, 5
        let s = score_query(q, &ranked, 5, &prof);
        assert!(close(s.precision, 3.0 / 5.0));
        assert!(close(s.recall, 3.0 / 4.0));
        assert!(close(s.average_precision, (1.0 / 2.0 + 2.0 / 3.0 + 3.0 / 5.0) / 3.0));
        // A perfect ranking scores 1 on AP and NDCG.
        let s = score_query(q, &[a | b, a | b, a, b | c], 4, &prof);
        assert!(close(s.average_precision, 1.0) && close(s.ndcg, 1.0) && close(s.recall, 1.0));
    }

    #[test]
    fn short_lists_no_relevant_items_and_self_exclusion() {
        let index = LabelIndex::new([1u64, 2, 1]);
        let p = index.profile(1, true);
        assert_eq!(p.total_relevant(), 1);
        // One result for k = 4: the missing positions count as irrelevant.
        let s = score_query(1, &[1], 4, &p);
        assert!(
            close(s.precision, 0.25) && close(s.recall, 1.0) && close(s.average_precision, 1.0) && close(s.ndcg, 1.0)
        );
        let none = index.profile(8, false);
        let s = score_query(8, &[1, 2], 2, &none);
        assert_eq!(s, QueryScores::default());
    }

    #[test]
    fn accumulator_averages_queries() {
        let index = LabelIndex::new([1u64, 2]);
        let mut acc = RetrievalAccumulator::new(&[1, 2]);
        acc.add(1, &[1, 2], &index.profile(1, false)); // P@1 = 1
        acc.add(2, &[1, 2], &index.profile(2, false)); // P@1 = 0
        let f = acc.finish();
        assert_eq!(f[0].0, 1);
        assert!(close(f[0].1.precision, 0.5));
        assert!(close(f[1].1.precision, 0.5));
        assert!(close(f[1].1.average_precision, (1.0 + 0.5) / 2.0));
    }
}
