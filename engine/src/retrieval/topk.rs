//! Exact top-k selection: the k smallest `(distance, index)` pairs.
//!
//! Order is total and deterministic: by distance (`f32::total_cmp`, so NaN
//! sorts last), then by index. The result therefore does not depend on how
//! the rows were split across threads.

use alloc::vec::Vec;
use core::cmp::Ordering;

/// One search result: a row index and its distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Row index in the searched feature archive.
    pub index: u32,
    /// Distance to the query (smaller is closer).
    pub distance: f32,
}

impl Hit {
    #[inline]
    fn cmp_key(&self, other: &Hit) -> Ordering {
        self.distance.total_cmp(&other.distance).then(self.index.cmp(&other.index))
    }
}

/// A bounded max-heap keeping the k best hits seen so far.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: Vec<Hit>,
}

impl TopK {
    /// An empty selection of at most `k` hits.
    pub fn new(k: usize) -> Self {
        TopK { k, heap: Vec::with_capacity(k.min(1 << 16)) }
    }

    /// Capacity k.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Hits held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no hit is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The distance a new hit must beat (strictly) to enter once full;
    /// +inf while not full. Callers scanning rows in increasing index order
    /// may skip any row with `distance >= worst()` (a tie loses on index).
    #[inline]
    pub fn worst(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::INFINITY
        } else {
            self.heap.first().map_or(f32::NEG_INFINITY, |h| h.distance)
        }
    }

    /// Offer one hit.
    #[inline]
    pub fn push(&mut self, index: u32, distance: f32) {
        let hit = Hit { index, distance };
        if self.heap.len() < self.k {
            self.heap.push(hit);
            self.sift_up(self.heap.len() - 1);
        } else if self.k > 0 && hit.cmp_key(&self.heap[0]) == Ordering::Less {
            self.heap[0] = hit;
            self.sift_down(0);
        }
    }

    /// Offer every hit of `other`.
    pub fn merge(&mut self, other: TopK) {
        for h in other.heap {
            self.push(h.index, h.distance);
        }
    }

    /// The hits, closest first.
    pub fn into_sorted(mut self) -> Vec<Hit> {
        self.heap.sort_unstable_by(Hit::cmp_key);
        self.heap
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if self.heap[i].cmp_key(&self.heap[p]) == Ordering::Greater {
                self.heap.swap(i, p);
                i = p;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && self.heap[l].cmp_key(&self.heap[m]) == Ordering::Greater {
                m = l;
            }
            if r < n && self.heap[r].cmp_key(&self.heap[m]) == Ordering::Greater {
                m = r;
            }
            if m == i {
                break;
            }
            self.heap.swap(i, m);
            i = m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_k_smallest_sorted_with_index_tiebreak() {
        let d = [5.0f32, 1.0, 3.0, 1.0, 9.0, 0.5, 3.0, f32::NAN, 2.0];
        let mut t = TopK::new(4);
        for (i, &x) in d.iter().enumerate() {
            t.push(i as u32, x);
        }
        let got: Vec<(u32, f32)> = t.into_sorted().iter().map(|h| (h.index, h.distance)).collect();
        assert_eq!(got, vec![(5, 0.5), (1, 1.0), (3, 1.0), (8, 2.0)]);
    }

    #[test]
    fn merge_of_parts_equals_whole_and_nan_sorts_last() {
        let d: Vec<f32> = (0..200).map(|i| ((i * 37) % 101) as f32).collect();
        let mut whole = TopK::new(10);
        let (mut a, mut b) = (TopK::new(10), TopK::new(10));
        for (i, &x) in d.iter().enumerate() {
            whole.push(i as u32, x);
            if i < 77 {
                a.push(i as u32, x)
            } else {
                b.push(i as u32, x)
            }
        }
        b.merge(a);
        assert_eq!(whole.into_sorted(), b.into_sorted());
        let mut t = TopK::new(3);
        t.push(0, f32::NAN);
        t.push(1, 7.0);
        assert!(t.into_sorted()[1].distance.is_nan());
        let mut z = TopK::new(0);
        z.push(0, 1.0);
        assert!(z.is_empty());
    }
}
