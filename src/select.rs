//! The first few of many items in a total order: what a report lists of a hundred thousand
//! callers.
//!
//! `select_nth_unstable_by` compares about three times as many pairs as there are items, each
//! between items anywhere in the list; the callers of a big log compare by keys scattered over
//! memory, so each comparison costs cache misses. Here each part of the list keeps its `k` least
//! items in a heap ([`BinaryHeap`], ordered by the caller's comparison): an item is compared
//! with the heap's greatest first (in cache), and most items stop there. The parts run in
//! parallel; their winners are sorted together and cut to `k`. The order is total, so the
//! result is the same whatever the parts.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

/// Items per part, at least: fewer are not worth a task.
const MIN_PART: usize = 1 << 14;

/// The positions in `items` of its `k` least items under `cmp`, a total order, least first.
pub(crate) fn least<T, F>(items: &[T], k: usize, cmp: F) -> Vec<usize>
where
    T: Sync,
    F: Fn(&T, &T) -> Ordering + Sync,
{
    if k >= items.len() {
        // All of them: a sort is the least work.
        let mut all: Vec<usize> = (0..items.len()).collect();
        all.par_sort_unstable_by(|&a, &b| cmp(&items[a], &items[b]));
        return all;
    }
    if k == 0 {
        return Vec::new();
    }
    let parts = (items.len() / MIN_PART).clamp(1, rayon::current_num_threads().max(1));
    let per_part = items.len().div_ceil(parts);
    let mut found: Vec<usize> = (0..parts)
        .into_par_iter()
        .flat_map_iter(|p| least_in(items, p * per_part..((p + 1) * per_part).min(items.len()), k, &cmp))
        .collect();
    found.sort_unstable_by(|&a, &b| cmp(&items[a], &items[b]));
    found.truncate(k);
    found
}

/// The positions of the `k` least items of `items[range]`, in no particular order: a max-heap
/// of them, whose greatest each further item is compared with first.
fn least_in<T, F>(items: &[T], range: std::ops::Range<usize>, k: usize, cmp: &F) -> Vec<usize>
where
    F: Fn(&T, &T) -> Ordering,
{
    let at = |i: usize| Ranked { items, cmp, i };
    let mut heap: BinaryHeap<Ranked<'_, T, F>> = BinaryHeap::with_capacity(k.min(range.len()));
    for i in range {
        if heap.len() < k {
            heap.push(at(i));
        } else if let Some(mut greatest) = heap.peek_mut().filter(|g| at(i) < **g) {
            *greatest = at(i);
        }
    }
    heap.into_iter().map(|r| r.i).collect()
}

/// An item's position, ordered as `cmp` orders the items (for [`BinaryHeap`]).
struct Ranked<'a, T, F> {
    items: &'a [T],
    cmp: &'a F,
    i: usize,
}

impl<T, F: Fn(&T, &T) -> Ordering> Ord for Ranked<'_, T, F> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.cmp)(&self.items[self.i], &self.items[other.i])
    }
}

impl<T, F: Fn(&T, &T) -> Ordering> PartialOrd for Ranked<'_, T, F> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T, F: Fn(&T, &T) -> Ordering> PartialEq for Ranked<'_, T, F> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T, F: Fn(&T, &T) -> Ordering> Eq for Ranked<'_, T, F> {}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The same positions, in the same order, as sorting everything and taking the first
        /// `k`: with many equal values (ties broken by position, so the order is total), any
        /// `k`, and lists long enough to be split into parts.
        #[test]
        fn the_least_k_are_those_a_full_sort_puts_first(
            values in proptest::collection::vec(0u8..20, 0..40_000),
            k in 0usize..2_000,
        ) {
            let cmp = |a: &(u8, usize), b: &(u8, usize)| a.cmp(b);
            let items: Vec<(u8, usize)> = values.iter().copied().zip(0..).collect();
            let mut sorted: Vec<usize> = (0..items.len()).collect();
            sorted.sort_by(|&a, &b| cmp(&items[a], &items[b]));
            sorted.truncate(k);
            proptest::prop_assert_eq!(least(&items, k, cmp), sorted);
        }
    }

    #[test]
    fn parts_are_used_and_agree() {
        // Descending values: every item replaces the greatest of its part's heap.
        let items: Vec<u64> = (0..100_000u64).rev().collect();
        let got = least(&items, 1000, u64::cmp);
        let want: Vec<usize> = (99_000..100_000).rev().collect();
        assert_eq!(got, want);
        assert!(items.len() / MIN_PART > 1, "split into parts");
    }
}
