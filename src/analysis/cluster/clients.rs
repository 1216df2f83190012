//! A capped count of distinct clients: how many addresses a cluster's requests came from.

use std::borrow::Cow;

/// Distinct client addresses counted exactly up to this many per cluster.
pub const MAX_DISTINCT_CLIENTS: usize = 10_000;

/// Distinct client hashes, up to [`MAX_DISTINCT_CLIENTS`]: the first is kept inline, so the many
/// clusters with one client (every path a scanner tries is one) allocate nothing for it.
///
/// The others are appended, and each batch (as long as the run so far, and at least 1,024) is
/// sorted and merged into a sorted, distinct run: a busy cluster's hashes then go through memory
/// in order. A hash set would take a cache miss per insert once a worker's sets outgrow its
/// cache, and each worker fills its own sets. A run of up to 64 is searched before appending, so
/// the few clients of most clusters are not appended again and again.
#[derive(Clone, Debug, Default)]
pub struct ClientSet {
    one: Option<u64>,
    /// `items[..sorted]`: distinct, ascending, without `one`; then the hashes appended since.
    items: Vec<u64>,
    sorted: u32,
    /// More distinct clients were seen than are counted; the set no longer changes.
    capped: bool,
}

/// Hashes appended to a [`ClientSet`] between two merges into its sorted run, at least.
const CLIENT_BATCH: usize = 1024;

/// A sorted run up to this long is searched before a hash is appended.
const SEARCHED_RUN: usize = 64;

impl ClientSet {
    /// Adds `h`.
    #[inline]
    pub fn insert(&mut self, h: u64) {
        if self.capped {
            return;
        }
        match self.one {
            None => self.one = Some(h),
            Some(one) if one == h => {}
            Some(_) => {
                let sorted = self.sorted as usize;
                // A short run is searched first, so that the few clients of most clusters are
                // not appended again and again.
                if sorted <= SEARCHED_RUN && self.items[..sorted].binary_search(&h).is_ok() {
                    return;
                }
                // Batches as long as the run (at least CLIENT_BATCH): merging a batch then costs
                // a few steps per new hash, however long the run.
                if self.items.len() - sorted >= sorted.max(CLIENT_BATCH) {
                    self.flush();
                    if self.capped {
                        return;
                    }
                }
                self.items.push(h);
            }
        }
    }

    /// Merges the appended hashes into the sorted run, and caps the set: done once a cluster
    /// is complete, so that [`ClientSet::len`] need not work on a copy.
    pub(crate) fn flush(&mut self) {
        let sorted = self.sorted as usize;
        if self.items.len() == sorted {
            return;
        }
        let (run, batch) = self.items.split_at_mut(sorted);
        batch.sort_unstable();
        // `one` counts too: at most MAX_DISTINCT_CLIENTS in all.
        let room = MAX_DISTINCT_CLIENTS - usize::from(self.one.is_some());
        let mut merged = Vec::with_capacity((run.len() + batch.len()).min(room + 1));
        let (mut i, mut j) = (0, 0);
        while merged.len() <= room {
            // The smaller head; a hash in both (or repeated in the batch) is taken once.
            let h = match (run.get(i), batch.get(j)) {
                (Some(&a), Some(&b)) if a <= b => {
                    i += 1;
                    a
                }
                (_, Some(&b)) => {
                    j += 1;
                    b
                }
                (Some(&a), None) => {
                    i += 1;
                    a
                }
                (None, None) => break,
            };
            if merged.last() != Some(&h) && self.one != Some(h) {
                merged.push(h);
            }
        }
        if merged.len() > room {
            merged = Vec::new();
            self.capped = true;
        }
        self.sorted = u32::try_from(merged.len()).unwrap_or(u32::MAX);
        self.items = merged;
    }

    /// Absorbs another set (a union, capped as one set would be). Its hashes are appended like
    /// inserted ones, and merged into the sorted run by the same rule: a busy cluster's set,
    /// merged with every piece's, is not copied whole for each.
    pub fn merge(&mut self, mut other: ClientSet) {
        if self.capped {
            return;
        }
        if other.capped {
            *self = other;
            return;
        }
        if self.one.is_none() {
            self.one = other.one.take();
        }
        self.items.extend(other.one);
        self.items.extend(other.items);
        let sorted = self.sorted as usize;
        if self.items.len() - sorted >= sorted.max(CLIENT_BATCH) {
            self.flush();
        }
    }

    /// This set with its appended hashes merged: itself once flushed (as `finish` leaves it),
    /// else a flushed copy.
    fn settled(&self) -> Cow<'_, ClientSet> {
        if self.items.len() == self.sorted as usize {
            return Cow::Borrowed(self);
        }
        let mut copy = self.clone();
        copy.flush();
        Cow::Owned(copy)
    }

    /// Distinct clients counted (at most [`MAX_DISTINCT_CLIENTS`]).
    #[must_use]
    pub fn len(&self) -> usize {
        let set = self.settled();
        if set.capped { MAX_DISTINCT_CLIENTS } else { usize::from(set.one.is_some()) + set.items.len() }
    }

    /// True when more distinct clients were seen than [`MAX_DISTINCT_CLIENTS`].
    #[must_use]
    pub fn capped(&self) -> bool {
        self.settled().capped
    }

    /// True when no client was logged.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.one.is_none() && !self.capped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Two workers' clients, with sizes on either side of a batch and of the cap, overlapping
        /// or not, repeated: the merged set counts what a plain set of all of them counts, up to
        /// the cap, whether or not a worker's last batch was merged into its sorted run.
        #[test]
        fn the_client_set_counts_like_a_hash_set(
            sizes in proptest::collection::vec(proptest::sample::select(vec![
                0u64, 1, 7, 1_023, 1_024, 1_025, 5_000, 9_999, 10_000, 10_001, 10_100, 10_239, 10_241, 11_000,
            ]), 2),
            overlap in proptest::sample::select(vec![0u64, 1, 500, 5_000, 20_000]),
            repeats in 1usize..3,
        ) {
            let mix = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
            let side = |from: u64, n: u64| -> Vec<u64> {
                (0..repeats).flat_map(|_| (from..from + n).map(mix)).collect()
            };
            let (ha, hb) = (side(0, sizes[0]), side(sizes[0].saturating_sub(overlap), sizes[1]));
            let (mut a, mut b) = (ClientSet::default(), ClientSet::default());
            ha.iter().for_each(|&h| a.insert(h));
            hb.iter().for_each(|&h| b.insert(h));
            a.merge(b);
            let distinct = ha.iter().chain(&hb).collect::<std::collections::HashSet<_>>().len();
            proptest::prop_assert_eq!(a.len(), distinct.min(MAX_DISTINCT_CLIENTS));
            proptest::prop_assert_eq!(a.capped(), distinct > MAX_DISTINCT_CLIENTS);
            proptest::prop_assert_eq!(a.is_empty(), distinct == 0);
        }
    }
}
